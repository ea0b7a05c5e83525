"""Migration 0011 keeps every no-op the scorer remembered, each under its (event, revision) key."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import asyncpg
import pytest
from yoyo import get_backend, read_migrations

from shared.db import MIGRATIONS, _yoyo_url, migrate_sync
from tests.conftest import Infra

pytestmark = pytest.mark.integration
REVISIONS = "0011.scorer-unchanged-revisions"


def yoyo(dsn: str, step: Callable[..., None], which: Callable[..., bool]) -> None:
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


async def rows(conn: asyncpg.Connection) -> list[tuple[object, ...]]:
    return [tuple(r) for r in await conn.fetch("SELECT * FROM scorer_unchanged ORDER BY event_id")]


async def test_no_op_rows_keep_their_revisions_through_the_migration_and_its_rollback(infra: Infra) -> None:
    name = f"fb_noop_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = infra.dsn(name)
        yoyo(dsn, apply, lambda m: m.id < REVISIONS)
        conn = await asyncpg.connect(dsn)
        try:
            # As the scorer wrote them before: a first answer, and a revision's as 'id#revision'.
            await conn.execute("INSERT INTO scorer_unchanged (event_id) VALUES ('e1'), ('e2#1')")
            assert REVISIONS in migrate_sync(dsn)
            found = await conn.fetch(
                "SELECT event_id, revision, config_version FROM scorer_unchanged ORDER BY 1"
            )
            assert [tuple(r) for r in found] == [("e1", 0, None), ("e2", 1, None)]

            yoyo(dsn, roll_back, lambda m: m.id == REVISIONS)
            assert [r[0] for r in await rows(conn)] == ["e1", "e2#1"]
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
