"""Kafka and PostgreSQL through Docker Compose, for machines where a Docker engine answers."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess

from followback.infra.paths import PROJECT_ROOT, InfraError

SERVICES = ["kafka", "postgres"]


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "info"], capture_output=True, check=False)  # noqa: S607
    return done.returncode == 0


def compose_env() -> dict[str, str]:
    """The environment for Compose, with a throwaway Grafana password when none is set.

    Compose interpolates the whole file before it picks services, so the monitoring profile's
    required ``GRAFANA_ADMIN_PASSWORD`` would stop Kafka and PostgreSQL from starting; Grafana is
    never started from here, so the random value is never used.
    """
    env = dict(os.environ)
    env.setdefault("GRAFANA_ADMIN_PASSWORD", secrets.token_urlsafe(24))
    return env


def _compose(*args: str) -> None:
    cmd = ["docker", "compose", "-f", str(PROJECT_ROOT / "docker-compose.yml"), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=compose_env())  # noqa: S603
    if done.returncode != 0:
        raise InfraError(f"`{' '.join(cmd)}` failed:\n{done.stderr[-3000:]}")


def up() -> None:
    _compose("up", "-d", "--wait", *SERVICES)


def down() -> None:
    _compose("stop", *SERVICES)
