"""Migration 0023 keeps every follow-back made on X and every unfollow of the brand's there (one row
per relationship before); its rollback goes back to what an earlier release keeps."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from shared.db import migrate_sync
from tests.conftest import Infra
from tests.integration.migrations import deployed_before, roll_back, yoyo
from tests.support import T0

pytestmark = pytest.mark.integration
HISTORY = "0023.follow-back-history"


async def follow_back(conn: asyncpg.Connection, follower: str, event_id: str, minute: int) -> None:
    await conn.execute(
        "INSERT INTO platform_follow_backs (account_id, follower_id, platform, event_id, occurred_at) "
        "VALUES ('brand', $1, 'x', $2, $3)",
        follower, event_id, T0 + timedelta(minutes=minute),
    )  # fmt: skip


async def unfollow(conn: asyncpg.Connection, follower: str, minute: int) -> None:
    await conn.execute(
        "INSERT INTO platform_unfollows (account_id, follower_id, unfollowed_at) VALUES ('brand', $1, $2)",
        follower,
        T0 + timedelta(minutes=minute),
    )


async def test_the_history_is_kept_and_the_rollback_keeps_what_an_earlier_release_does(infra: Infra) -> None:
    async with deployed_before(infra, HISTORY) as (dsn, conn):
        await follow_back(conn, "1", "fb-1-20", 20)  # as the release before kept them
        await unfollow(conn, "1", 10)
        assert HISTORY in migrate_sync(dsn)
        # 1: followed back at 5, unfollowed at 10 (kept), and again at 20; 2: followed back at 5 and
        # 7 (standing), unfollowed at 1 and 3.
        await follow_back(conn, "1", "fb-1-5", 5)
        await follow_back(conn, "2", "fb-2-7", 7)
        await follow_back(conn, "2", "fb-2-5", 5)
        for minute in (1, 3):
            await unfollow(conn, "2", minute)
        assert await conn.fetchval("SELECT count(*) FROM platform_follow_backs") == 4

        yoyo(dsn, roll_back, lambda m: m.id == HISTORY)
        kept = await conn.fetch("SELECT follower_id, event_id FROM platform_follow_backs ORDER BY 1")
        assert [tuple(r) for r in kept] == [("1", "fb-1-20"), ("2", "fb-2-5")]
        ends = await conn.fetch("SELECT follower_id, unfollowed_at FROM platform_unfollows ORDER BY 1")
        assert [tuple(r) for r in ends] == [
            ("1", T0 + timedelta(minutes=10)),
            ("2", T0 + timedelta(minutes=3)),
        ]
        with pytest.raises(asyncpg.UniqueViolationError):  # one row per relationship again
            await follow_back(conn, "2", "fb-2-9", 9)
