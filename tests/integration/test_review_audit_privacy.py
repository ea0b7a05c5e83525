"""The append-only review audit keeps no follower handle, which `followback forget` could not erase."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from services.notifier.actions import Action, perform
from shared.db import create_pool, migrate_sync
from shared.settings import Settings
from tests.conftest import Infra
from tests.integration.migrations import deployed_before
from tests.notifier_support import decision, intake_now, record

pytestmark = pytest.mark.integration
STRIPPING = "0010.review-audit-without-handles"


async def test_a_review_action_records_no_handle_in_the_audit(
    settings: Settings, db: asyncpg.Connection
) -> None:
    queued = decision("9", "high_value", 88)
    await record(db, [(queued, 1)])
    pool = await create_pool(settings.postgres)
    try:
        await intake_now(pool, settings, [queued])
        async with pool.acquire() as conn:
            done = await perform(conn, actor="rita", action=Action.DISMISS, account_id="brand",
                                 follower_id="9", events_topic=settings.topic("events"))  # fmt: skip
        assert done.done, done.message
    finally:
        await pool.close()
    row = await db.fetchrow("SELECT follower_id, detail::text FROM review_audit")
    assert row["follower_id"] == "9"
    assert json.loads(row["detail"]) == {"class": "high_value", "score": 88.0}


async def test_the_migration_strips_the_handles_recorded_before_and_keeps_the_audit_append_only(
    infra: Infra,
) -> None:
    async with deployed_before(infra, STRIPPING) as (dsn, conn):
        old = {"class": "high_value", "score": 88.0, "screen_name": "ana_roasts"}
        await conn.execute(
            "INSERT INTO review_audit (action_id, actor, action, follower_id, detail) "
            "VALUES ($1, 'rita', 'dismiss', '9', $2::text::jsonb), "
            "($3, 'rita', 'retry_delivery', NULL, '{\"delivery_id\": 5}')",
            uuid.uuid4(), json.dumps(old), uuid.uuid4(),
        )  # fmt: skip
        assert migrate_sync(dsn)[0] == STRIPPING  # (the later ones after it)
        rows = await conn.fetch("SELECT action, detail::text FROM review_audit ORDER BY action")
        assert [(r["action"], json.loads(r["detail"])) for r in rows] == [
            ("dismiss", {"class": "high_value", "score": 88.0}),
            ("retry_delivery", {"delivery_id": 5}),
        ]
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE review_audit SET actor = 'someone else'")
