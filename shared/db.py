"""PostgreSQL: the asyncpg pool factory and the schema migrations (yoyo, plain SQL files)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg

from shared.settings import PostgresSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def _encode_jsonb(value: Any) -> bytes:
    # The binary jsonb format is a version byte (1) and the JSON text; binary works for COPY too.
    return b"\x01" + json.dumps(value, separators=(",", ":")).encode()


def _decode_jsonb(data: bytes) -> Any:
    return json.loads(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog", format="binary"
    )


async def create_pool(settings: PostgresSettings) -> asyncpg.Pool:
    """A pool whose connections encode and decode jsonb as Python objects."""
    pool = await asyncpg.create_pool(
        settings.dsn.get_secret_value(),
        min_size=settings.min_pool,
        max_size=settings.max_pool,
        init=_init_connection,
    )
    assert pool is not None
    return pool


def _yoyo_url(dsn: str) -> str:
    scheme, _, rest = dsn.partition("://")
    return f"postgresql+psycopg://{rest}" if scheme in {"postgresql", "postgres"} else dsn


def migrate_sync(dsn: str) -> list[str]:
    """Apply every pending migration under a lock; returns the ids applied."""
    from yoyo import get_backend, read_migrations

    backend = get_backend(_yoyo_url(dsn))
    try:
        migrations = read_migrations(str(MIGRATIONS))
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
