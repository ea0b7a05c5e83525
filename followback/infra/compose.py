"""Kafka and PostgreSQL through Docker Compose, for machines where a Docker engine answers."""

from __future__ import annotations

import shutil
import subprocess

from followback.infra.paths import PROJECT_ROOT, InfraError

SERVICES = ["kafka", "postgres"]


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "info"], capture_output=True, check=False)  # noqa: S607
    return done.returncode == 0


def _compose(*args: str) -> None:
    cmd = ["docker", "compose", "-f", str(PROJECT_ROOT / "docker-compose.yml"), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise InfraError(f"`{' '.join(cmd)}` failed:\n{done.stderr[-3000:]}")


def up() -> None:
    _compose("up", "-d", "--wait", *SERVICES)


def down() -> None:
    _compose("stop", *SERVICES)
