"""A throwaway database deployed as it was before a migration, for the tests of that migration."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg
from yoyo import get_backend, read_migrations

from shared.db import MIGRATIONS, _yoyo_url
from tests.conftest import Infra


def yoyo(dsn: str, step: Callable[..., None], which: Callable[..., bool]) -> None:
    """``step`` (:func:`apply` or :func:`roll_back`) the migrations ``which`` selects, under yoyo's lock."""
    backend = get_backend(_yoyo_url(dsn))
    try:
        with backend.lock():
            step(backend, read_migrations(str(MIGRATIONS)).filter(which))
    finally:
        backend.connection.close()


def apply(backend: object, migrations: object) -> None:
    backend.apply_migrations(backend.to_apply(migrations))  # type: ignore[attr-defined]


def roll_back(backend: object, migrations: object) -> None:
    backend.rollback_migrations(backend.to_rollback(migrations))  # type: ignore[attr-defined]


@asynccontextmanager
async def deployed_before(infra: Infra, migration: str) -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    """A new database with every migration before ``migration`` (its DSN, and a connection to it),
    dropped afterwards."""
    name = f"fb_before_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = infra.dsn(name)
        yoyo(dsn, apply, lambda m: m.id < migration)
        conn = await asyncpg.connect(dsn)
        try:
            yield dsn, conn
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
