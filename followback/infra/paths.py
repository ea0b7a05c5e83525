"""Where the local infrastructure keeps its files: an ignored folder of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = PROJECT_ROOT / "deploy"


class InfraError(RuntimeError):
    """Something the infrastructure needs is missing or failed; the message says what to do."""


def infra_dir() -> Path:
    """``FOLLOWBACK_INFRA_DIR`` or ``.infra`` in the project root."""
    return Path(os.environ.get("FOLLOWBACK_INFRA_DIR", PROJECT_ROOT / ".infra")).resolve()


def is_root() -> bool:
    return os.geteuid() == 0


def apt_install(packages: list[str], why: str) -> None:
    """Install Debian packages when we may (root with apt-get), else explain what is missing."""
    if not (is_root() and shutil.which("apt-get")):
        raise InfraError(
            f"{why} is missing. Install the packages {' '.join(packages)} "
            "(for example with apt-get as root), or use Docker (docker compose up)."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run = [["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *packages]]
    for cmd in run:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            raise InfraError(f"{why} is missing and `{' '.join(cmd)}` failed:\n{done.stderr[-2000:]}")


def pid_alive(pid_file: Path) -> int | None:
    """The pid on the first line of ``pid_file`` (ours, or PostgreSQL's ``postmaster.pid``) if that
    process still runs."""
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, IndexError, ProcessLookupError, PermissionError):
        return None
    return pid
