"""A PostgreSQL server from the system's packages, in the project's own folder and port.

``initdb`` refuses to run as root, so when we are root the server runs as the ``postgres`` system
user (created by Debian's package). It listens on loopback only and trusts loopback connections:
a developer's and CI's server, never a production one (production uses a managed server and a
password from the environment).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from followback.infra.paths import InfraError, apt_install, infra_dir, is_root, pid_alive
from shared.settings import LOCAL_POSTGRES_PORT

SUPERUSER = "followback"
DATABASE = "followback"


def _home() -> Path:
    return infra_dir() / "postgres"


def dsn(database: str = DATABASE) -> str:
    return f"postgresql://{SUPERUSER}@127.0.0.1:{LOCAL_POSTGRES_PORT}/{database}"


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if not found and shutil.which("pg_config"):
        cand = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout  # noqa: S607
        if (Path(cand.strip()) / "initdb").exists():
            return Path(cand.strip())
    if not found:
        apt_install(["postgresql"], "PostgreSQL (initdb, pg_ctl)")
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if not found:
        raise InfraError("PostgreSQL's server programs were not found after installing them")
    return Path(found[-1]).parent


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


def _as_owner(cmd: list[str]) -> list[str]:
    # Root may not run the server; Debian's package made the 'postgres' user for it.
    return ["runuser", "-u", "postgres", "--", *cmd] if is_root() else cmd


def _run(cmd: list[str], what: str) -> str:
    done = subprocess.run(_as_owner(cmd), capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise InfraError(f"{what} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def _prepare(home: Path, bindir: Path) -> Path:
    data = home / "data"
    home.mkdir(parents=True, exist_ok=True)
    if is_root():
        # The server's user must reach its folder: make the path traversable and hand it over.
        for parent in [home, *home.parents]:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)
        shutil.chown(home, "postgres", "postgres")
    if not (data / "PG_VERSION").exists():
        _run(
            [
                str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
                "-E", "UTF8", "--locale=C.UTF-8",
            ],
            "initdb",
        )  # fmt: skip
    return data


def start() -> None:
    """Start the server unless it runs, and create the project's database; idempotent."""
    bindir = _bindir()
    home = _home()
    data = _prepare(home, bindir)
    if not running(bindir):
        options = f"-p {LOCAL_POSTGRES_PORT} -k {home} -c listen_addresses=127.0.0.1 -c max_connections=200"
        _run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(home / "postgres.log"),
             "-o", options, "-w", "-t", "60", "start"],
            f"starting PostgreSQL (see {home / 'postgres.log'})",
        )  # fmt: skip
    _ensure_database(bindir, DATABASE)


def _psql(bindir: Path, sql: str, database: str = "postgres") -> str:
    return _run(
        [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(LOCAL_POSTGRES_PORT), "-U", SUPERUSER,
         "-d", database, "-tAc", sql],
        "psql",
    )  # fmt: skip


def _ensure_database(bindir: Path, name: str) -> None:
    # The name is this module's constant, never user input.
    exists = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"  # noqa: S608
    if _psql(bindir, exists).strip() != "1":
        _psql(bindir, f'CREATE DATABASE "{name}"')


def running(bindir: Path | None = None) -> bool:
    data = _home() / "data"
    if not (data / "PG_VERSION").exists():
        return False
    bindir = bindir or _bindir()
    done = subprocess.run(  # noqa: S603
        _as_owner([str(bindir / "pg_ctl"), "-D", str(data), "status"]),
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def serves(dsn: str) -> bool:
    """Whether ``dsn`` names this launcher's server (loopback, its port)."""
    url = urlsplit(dsn)
    return url.hostname in ("127.0.0.1", "localhost", "::1") and url.port == LOCAL_POSTGRES_PORT


def server_pid() -> int | None:
    """The postmaster's pid, when this launcher's server runs."""
    return pid_alive(_home() / "data" / "postmaster.pid")


def stop() -> bool:
    """Stop the server this launcher started; False if it was not running."""
    if not running():
        return False
    bindir = _bindir()
    _run(
        [str(bindir / "pg_ctl"), "-D", str(_home() / "data"), "-m", "fast", "-w", "stop"],
        "pg_ctl stop",
    )
    return True
