"""A follow-back made on X that a block of the brand's later ended (X removes the follow both ways)
does not decide the item of the follower who follows again after the block: the brand no longer
follows them, so they are open and pushed like any new follower worth a look."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from services.notifier import follow_backs
from shared.events import Event
from shared.settings import Settings
from tests.notifier_support import configure, decision, intake_now, record
from tests.support import T0, event

pytestmark = pytest.mark.integration


def brand_act(kind: str, follower: str, minutes: int) -> Event:
    return Event.model_validate(
        event(f"x-{kind}-{follower}-{minutes}", kind, follower, T0 + minutes * timedelta(minutes=1))
    )


async def x_events(pool: asyncpg.Pool, events: list[Event]) -> None:
    """What the notifier's events consumer takes from the topic (parse, then record), without Kafka."""
    found = follow_backs.parse([e.model_dump_json().encode() for e in events], [None] * len(events))
    async with pool.acquire() as conn, conn.transaction():
        await follow_backs.record(conn, [e for e, _ in found])


async def state(db: asyncpg.Connection, follower: str) -> str | None:
    return await db.fetchval(
        "SELECT state FROM review_items WHERE account_id = 'brand' AND follower_id = $1", follower
    )


@pytest.mark.parametrize("order", ["in_order", "block_first"])
async def test_a_follow_back_a_block_ended_does_not_decide_the_followers_next_item(
    settings: Settings, db: asyncpg.Connection, pool: asyncpg.Pool, order: str
) -> None:
    await configure(db, "brand", slack_webhook_url="http://slack.example/hook", daily_push_budget=5)
    # Follower 1: followed back on X before they were worth a look, then blocked (both follows end),
    # unblocked, and following again, now high value. Follower 2: followed back on X after the block.
    fb1, block1 = brand_act("followed_back", "1", 5), brand_act("blocked", "1", 10)
    block2, fb2 = brand_act("blocked", "2", 10), brand_act("followed_back", "2", 20)
    arrivals = [fb1, block1, block2, fb2] if order == "in_order" else [block1, fb1, block2, fb2]
    for e in arrivals:
        await x_events(pool, [e])
    one = decision("1", "high_value", 85, at=T0 + timedelta(hours=2))
    two = decision("2", "high_value", 85, at=T0 + timedelta(hours=2))
    await record(db, [(one, 1), (two, 1)])
    await intake_now(pool, settings, [one, two])
    assert await state(db, "1") == "open"  # the follow-back of minute 5 ended with the block
    assert await db.fetchval("SELECT count(*) FROM notifications WHERE follower_id = '1'") == 1
    assert await state(db, "2") == "followed_back"  # a follow-back after the block stands
