"""Migration 0011 keeps every no-op the scorer remembered, each under its (event, revision) key."""

from __future__ import annotations

import asyncpg
import pytest

from shared.db import migrate_sync
from tests.conftest import Infra
from tests.integration.migrations import deployed_before, roll_back, yoyo

pytestmark = pytest.mark.integration
REVISIONS = "0011.scorer-unchanged-revisions"


async def rows(conn: asyncpg.Connection) -> list[tuple[object, ...]]:
    return [tuple(r) for r in await conn.fetch("SELECT * FROM scorer_unchanged ORDER BY event_id")]


async def test_no_op_rows_keep_their_revisions_through_the_migration_and_its_rollback(infra: Infra) -> None:
    async with deployed_before(infra, REVISIONS) as (dsn, conn):
        # As the scorer wrote them before: a first answer, and a revision's as 'id#revision'.
        await conn.execute("INSERT INTO scorer_unchanged (event_id) VALUES ('e1'), ('e2#1')")
        assert REVISIONS in migrate_sync(dsn)
        found = await conn.fetch("SELECT event_id, revision, config_version FROM scorer_unchanged ORDER BY 1")
        assert [tuple(r) for r in found] == [("e1", 0, None), ("e2", 1, None)]

        yoyo(dsn, roll_back, lambda m: m.id == REVISIONS)
        assert [r[0] for r in await rows(conn)] == ["e1", "e2#1"]
