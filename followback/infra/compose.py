"""Kafka and PostgreSQL through Docker Compose, for machines where a Docker engine answers."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

from followback.infra.paths import PROJECT_ROOT, InfraError, infra_dir
from shared.settings import LOCAL_POSTGRES_PORT

SERVICES = ["kafka", "postgres"]
# What docker-compose.yml names its PostgreSQL user, database and password variable.
USER = DATABASE = "followback"
PASSWORD_VARIABLE = "FOLLOWBACK_POSTGRES_PASSWORD"  # noqa: S105 - its name


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "info"], capture_output=True, check=False)  # noqa: S607
    return done.returncode == 0


def password_file() -> Path:
    return infra_dir() / "compose-postgres-password"


def postgres_password(*, create: bool = False) -> str | None:
    """The password of the Compose PostgreSQL: ``FOLLOWBACK_POSTGRES_PASSWORD``, else the one made
    for this checkout by its first ``infra up`` (``.infra/compose-postgres-password``; None before
    that unless ``create``).

    docker-compose.yml requires the variable (it has no default), and the server asks the host's
    connections for it: without one, ``infra up`` failed at Compose's interpolation, and with one
    exported the host's DSN (no password) was refused, so `make demo` and `make test` never got
    past the infrastructure on a machine with Docker. The server keeps the password of its first
    start in its volume, hence a made one is kept, not made anew each time.
    """
    given = os.environ.get(PASSWORD_VARIABLE)
    if given:
        return given
    path = password_file()
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    made = secrets.token_hex(24)  # (no URL-reserved characters: the Compose file puts it in a DSN)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(made + "\n")
    return made


def dsn(database: str = DATABASE) -> str:
    """The DSN of the Compose PostgreSQL from the host (its port is published on loopback)."""
    password = postgres_password()
    secret = f":{quote(password, safe='')}" if password else ""
    return f"postgresql://{USER}{secret}@127.0.0.1:{LOCAL_POSTGRES_PORT}/{database}"


def compose_env() -> dict[str, str]:
    """The environment for Compose: the PostgreSQL password (see :func:`postgres_password`) and a
    throwaway Grafana password when none is set.

    Compose interpolates the whole file before it picks services, so the monitoring profile's
    required ``GRAFANA_ADMIN_PASSWORD`` would stop Kafka and PostgreSQL from starting; Grafana is
    never started from here, so the random value is never used.
    """
    env = dict(os.environ)
    env[PASSWORD_VARIABLE] = postgres_password(create=True) or ""
    env.setdefault("GRAFANA_ADMIN_PASSWORD", secrets.token_urlsafe(24))
    return env


def _compose(*args: str) -> None:
    cmd = ["docker", "compose", "-f", str(PROJECT_ROOT / "docker-compose.yml"), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=compose_env())  # noqa: S603
    if done.returncode != 0:
        raise InfraError(f"`{' '.join(cmd)}` failed:\n{done.stderr[-3000:]}")


async def _refused_password(address: str) -> bool:
    """Whether the server turns the password down (anything else ``infra status`` reports)."""
    import asyncpg

    try:
        conn = await asyncio.wait_for(asyncpg.connect(address), 10)
    except asyncpg.InvalidPasswordError:
        return True
    except Exception:
        return False
    await conn.close()
    return False


def up() -> None:
    _compose("up", "-d", "--wait", *SERVICES)
    if asyncio.run(_refused_password(dsn())):
        source = PASSWORD_VARIABLE if os.environ.get(PASSWORD_VARIABLE) else str(password_file())
        raise InfraError(
            f"PostgreSQL (Compose) refuses the password of {source}: its volume keeps the password "
            f"of its first start. Export that one as {PASSWORD_VARIABLE}, or remove the volume "
            "(`docker compose down -v`, which deletes its data)."
        )


def down() -> None:
    _compose("stop", *SERVICES)
