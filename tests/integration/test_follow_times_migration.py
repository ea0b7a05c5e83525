"""Migration 0024 gives decisions and review items the time of the follow they are about: the rows
recorded before keep none (NULL: the item's event stands in for it), and its rollback drops both."""

from __future__ import annotations

import pytest

from shared.db import migrate_sync
from tests.conftest import Infra
from tests.integration.migrations import deployed_before, roll_back, yoyo
from tests.notifier_support import REASONS, decision
from tests.support import T0

pytestmark = pytest.mark.integration
FOLLOW_TIMES = "0024.follow-times"
COLUMNS = """
    SELECT table_name || '.' || column_name || ' ' || is_nullable FROM information_schema.columns
    WHERE column_name = 'followed_at' AND table_name IN ('decisions', 'review_items') ORDER BY 1
"""


async def test_rows_from_before_have_no_follow_time_and_the_rollback_drops_it(infra: Infra) -> None:
    async with deployed_before(infra, FOLLOW_TIMES) as (dsn, conn):
        # What the scorer and the notifier recorded before.
        d = decision("1", "high_value", 85)
        await conn.execute(
            "INSERT INTO decisions (decision_id, account_id, follower_id, version, class, score, reasons, "
            "scorer_version, config_version, event_ids, occurred_at) "
            "VALUES ($1, 'brand', '1', 1, 'high_value', 85, '[]', 'test', 'test', '{e1}', $2)",
            d.decision_id,
            T0,
        )
        await conn.execute(
            "INSERT INTO review_items (account_id, follower_id, decision_id, version, class, score, reasons, "
            "occurred_at) VALUES ('brand', '1', $1, 1, 'high_value', 85, $2::text::jsonb, $3)",
            d.decision_id,
            "[" + ",".join(r.model_dump_json() for r in REASONS) + "]",
            T0,
        )
        assert await conn.fetch(COLUMNS) == []
        assert FOLLOW_TIMES in migrate_sync(dsn)
        assert [r[0] for r in await conn.fetch(COLUMNS)] == [
            "decisions.followed_at YES",
            "review_items.followed_at YES",
        ]
        assert await conn.fetchval("SELECT followed_at FROM decisions") is None
        assert await conn.fetchval("SELECT followed_at FROM review_items") is None

        yoyo(dsn, roll_back, lambda m: m.id == FOLLOW_TIMES)
        assert await conn.fetch(COLUMNS) == []
        assert await conn.fetchval("SELECT count(*) FROM review_items") == 1
