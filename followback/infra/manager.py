"""``followback infra up | down | status``: one place that picks Docker Compose or local processes."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from followback.infra import compose, kafka, postgres


@dataclass(frozen=True)
class Status:
    mode: str
    kafka_address: str
    kafka_ready: bool
    postgres_dsn: str
    postgres_ready: bool


@dataclass(frozen=True)
class Started:
    mode: str
    kafka_seconds: float
    postgres_seconds: float


def mode() -> str:
    """``compose`` where a Docker engine answers (unless FOLLOWBACK_INFRA=local), else ``local``."""
    chosen = os.environ.get("FOLLOWBACK_INFRA", "auto")
    if chosen in {"local", "compose"}:
        return chosen
    return "compose" if compose.engine_answers() else "local"


def up() -> Started:
    """Start Kafka and PostgreSQL and wait until both answer; idempotent."""
    chosen = mode()
    if chosen == "compose":
        began = time.monotonic()
        compose.up()
        took = time.monotonic() - began
        return Started(chosen, took, took)
    began = time.monotonic()
    postgres.start()
    pg_seconds = time.monotonic() - began
    return Started(chosen, kafka.start(), pg_seconds)


def down() -> list[str]:
    """Stop what ``up`` started and nothing else; returns what was stopped."""
    if mode() == "compose":
        compose.down()
        return ["kafka", "postgres"]
    stopped = []
    if kafka.stop():
        stopped.append("kafka")
    if postgres.stop():
        stopped.append("postgres")
    return stopped


async def _postgres_ready(dsn: str) -> bool:
    import asyncpg

    try:
        conn = await asyncio.wait_for(asyncpg.connect(dsn), 3)
    except Exception:
        return False
    await conn.close()
    return True


def postgres_dsn(database: str = postgres.DATABASE, chosen: str | None = None) -> str:
    """The DSN of the PostgreSQL that ``up`` starts: the local server's trusts loopback, the
    Compose one's needs its password."""
    if (chosen or mode()) == "compose":
        return compose.dsn(database)
    return postgres.dsn(database)


def shown(dsn: str) -> str:
    """A DSN to print: its password (the Compose server's) as ``***``."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def status() -> Status:
    chosen = mode()
    address = kafka.bootstrap()
    dsn = postgres_dsn(chosen=chosen)
    return Status(
        mode=chosen,
        kafka_address=address,
        kafka_ready=asyncio.run(kafka.ready(address)),
        postgres_dsn=dsn,
        postgres_ready=asyncio.run(_postgres_ready(dsn)),
    )
