"""PostgreSQL: the asyncpg pool factory and the schema migrations (yoyo, plain SQL files)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from shared.settings import PostgresSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def _encode_jsonb(value: Any) -> bytes:
    # The binary jsonb format is a version byte (1) and the JSON text; binary works for COPY too.
    # orjson: a jsonb column is written for every event in every stage, and json.dumps was 4-7 % of
    # each service's CPU.
    if isinstance(value, bytes):  # JSON text already (e.g. pydantic's dump_json)
        return b"\x01" + value
    try:
        return b"\x01" + orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits (a count no validator bounds)
        return b"\x01" + json.dumps(value, separators=(",", ":")).encode()


def _decode_jsonb(data: bytes) -> Any:
    # Not orjson: it reads an integer beyond 64 bits as a float, and jsonb holds numbers of any size.
    return json.loads(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog", format="binary"
    )


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _connection_init(settings: PostgresSettings) -> Callable[[asyncpg.Connection], Awaitable[None]]:
    set_role = f"SET ROLE {_quote_identifier(settings.app_role)}" if settings.app_role else None

    async def init(conn: asyncpg.Connection) -> None:
        await _init_connection(conn)
        if set_role:
            # For the whole session: the pool's reset on release (RESET ALL) leaves the role alone.
            await conn.execute(set_role)

    return init


async def create_pool(settings: PostgresSettings) -> asyncpg.Pool:
    """A pool whose connections encode and decode jsonb as Python objects and act as the app role.

    The DSN's user owns the schema and runs the migrations; the pooled connections take on
    ``settings.app_role`` (see migration 0007), which reads and writes rows and cannot drop,
    truncate or alter tables. PostgreSQL's JIT is off unless ``settings.jit``.
    """
    pool = await asyncpg.create_pool(
        settings.dsn.get_secret_value(),
        min_size=settings.min_pool,
        max_size=settings.max_pool,
        init=_connection_init(settings),
        # A startup parameter: the pool's RESET ALL on release returns to it.
        server_settings={"jit": "on" if settings.jit else "off"},
    )
    assert pool is not None
    return pool


def _yoyo_url(dsn: str) -> str:
    scheme, _, rest = dsn.partition("://")
    return f"postgresql+psycopg://{rest}" if scheme in {"postgresql", "postgres"} else dsn


# Serialises followback's migrators per database (any constant; "fbmg" in ASCII).
MIGRATION_LOCK = 0x66626D67


def migrate_sync(dsn: str) -> list[str]:
    """Apply every pending migration under a lock; returns the ids applied.

    yoyo's own lock is a row in ``yoyo_lock``: a process killed while holding it (every service
    migrates as it starts) leaves the row behind, and every later start then fails after 10 s
    with ``LockTimeout`` until someone runs ``yoyo break-lock``. So migrators first take a session
    advisory lock, which PostgreSQL releases when the holder's connection ends, SIGKILL included;
    whoever holds it is the only live migrator, so any yoyo lock row it finds is stale.
    """
    from yoyo import get_backend, read_migrations

    backend = get_backend(_yoyo_url(dsn))
    try:
        migrations = read_migrations(str(MIGRATIONS))
        with backend.transaction():
            backend.execute(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")  # held past the commit
        backend.break_lock()
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
    finally:
        backend.connection.close()
    return [m.id for m in pending]


async def migrate(settings: PostgresSettings) -> list[str]:
    return await asyncio.to_thread(migrate_sync, settings.dsn.get_secret_value())


def jsonable(value: Any) -> Any:
    """A pydantic model dumped for a jsonb column."""
    return value.model_dump(mode="json", by_alias=True)
