"""Where a relationship's latest version stands (``scorer_positions``) only moves forward, in the
order Python compares events, whatever collation the database was created with."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from services.scorer import store
from services.scorer.scoring import Current
from shared.db import migrate_sync
from shared.decisions import DecisionClass
from shared.events import EventType
from tests.conftest import Infra

pytestmark = pytest.mark.integration
AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
KEY = ("brand", "9")


def at(event_id: str) -> Current:
    return Current(DecisionClass.WORTH_FOLLOWING, 67.36, 1, AT, EventType.FOLLOW, event_id)


async def test_a_position_moves_forward_in_pythons_order_under_a_linguistic_collation(infra: Infra) -> None:
    """Under en-US, 'a' sorts before 'B'; Python (and the detector's order) puts 'B' first. The
    upsert compares ids byte by byte, so the move from 'B' to 'a' is forward, and back is not."""
    database = f"fb_icu_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.admin_dsn)
    try:
        try:
            await admin.execute(
                f"CREATE DATABASE \"{database}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' "
                "LOCALE 'C.UTF-8'"
            )
        except (asyncpg.PostgresError, OSError) as unsupported:  # before PostgreSQL 15, or no ICU
            pytest.skip(f"this PostgreSQL cannot create an ICU en-US database: {unsupported}")
        migrate_sync(infra.dsn(database))
        conn = await asyncpg.connect(infra.dsn(database))
        try:
            assert await conn.fetchval("SELECT 'a' < 'B'")  # the database's own order is not Python's
            assert "B" < "a"
            await store.record_positions(conn, {KEY: at("B")})
            await store.record_positions(conn, {KEY: at("a")})
            assert await conn.fetchval("SELECT event_id FROM scorer_positions") == "a"
            await store.record_positions(conn, {KEY: at("B")})  # backwards: refused
            assert await conn.fetchval("SELECT event_id FROM scorer_positions") == "a"
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
        await admin.close()
