"""A follow-back made on X that the brand's later unfollow on X ended (an ``unfollowed_back`` event)
does not decide the item of the follower who is decided worth a look afterwards: the brand no longer
follows them, so they are open and pushed like any new follower worth a look. The same holds within
one batch of the events topic (the pass over the topic from its start on upgrade reads a follower's
whole history at once), for the brand's unfollows and blocks alike."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.ingest.webhook import map_payload
from services.notifier.app import create_app
from shared.db import create_pool
from shared.settings import NotifierSettings, Settings
from tests.integration.test_follow_back_ended_by_block import brand_act, state, x_events
from tests.notifier_support import configure, decision, intake_now, record, send
from tests.receivers import WebhookReceiver
from tests.support import T0, eventually, publish_events

pytestmark = pytest.mark.integration
DATA = Path(__file__).resolve().parents[1] / "data" / "x"


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    found = await create_pool(settings.postgres)
    yield found
    await found.close()


@pytest.mark.parametrize("order", ["in_order", "unfollow_first", "one_batch"])
async def test_a_follow_back_the_brands_unfollow_ended_does_not_decide_the_followers_next_item(
    settings: Settings, db: asyncpg.Connection, pool: asyncpg.Pool, order: str
) -> None:
    await configure(db, "brand", slack_webhook_url="http://slack.example/hook", daily_push_budget=5)
    # Follower 1: followed back on X before they were worth a look, then unfollowed by the brand on X.
    # Follower 2: followed back on X after the brand's unfollow. Follower 3: followed back, unfollowed
    # and followed back again (the second follow-back stands).
    fb1, ub1 = brand_act("followed_back", "1", 5), brand_act("unfollowed_back", "1", 10)
    ub2, fb2 = brand_act("unfollowed_back", "2", 10), brand_act("followed_back", "2", 20)
    three = [brand_act(kind, "3", m) for kind, m in (("followed_back", 5), ("unfollowed_back", 10),
                                                    ("followed_back", 20))]  # fmt: skip
    if order == "one_batch":
        await x_events(pool, [fb1, ub1, ub2, fb2, *three])
    else:
        first = [fb1, ub1] if order == "in_order" else [ub1, fb1]
        for e in [*first, ub2, fb2, *three]:
            await x_events(pool, [e])
    decisions = [decision(f, "high_value", 85, at=T0 + timedelta(hours=2)) for f in ("1", "2", "3")]
    await record(db, [(d, 1) for d in decisions])
    await intake_now(pool, settings, decisions)
    assert await state(db, "1") == "open"  # the follow-back of minute 5 ended with the unfollow
    assert await db.fetchval("SELECT count(*) FROM notifications WHERE follower_id = '1'") == 1
    assert await state(db, "2") == "followed_back"  # a follow-back after the unfollow stands
    assert await state(db, "3") == "followed_back"
    assert await db.fetchval("SELECT occurred_at FROM platform_follow_backs WHERE follower_id = '3'") == (
        T0 + timedelta(minutes=20)
    )
    assert await db.fetchval("SELECT unfollowed_at FROM platform_unfollows WHERE follower_id = '1'") == (
        T0 + timedelta(minutes=10)
    )


async def test_a_follow_back_a_block_of_the_same_batch_ended_gives_way_to_the_one_after_it(
    settings: Settings, db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    """Only each follower's earliest follow-back of a batch was considered: the block of the batch
    ended it, and the follow-back after the block was lost with it (the item stayed open)."""
    await configure(db, "brand", slack_webhook_url="http://slack.example/hook", daily_push_budget=5)
    await x_events(pool, [brand_act(kind, "4", m) for kind, m in (("followed_back", 5), ("blocked", 10),
                                                                  ("followed_back", 20))])  # fmt: skip
    four = decision("4", "high_value", 85, at=T0 + timedelta(hours=2))
    await record(db, [(four, 1)])
    await intake_now(pool, settings, [four])
    assert await state(db, "4") == "followed_back"


def _x_follow_event(kind: str, person: dict[str, Any], at_ms: int) -> dict[str, Any]:
    """X's follow event of the brand's follow or unfollow of ``person``, as the ingest maps it."""
    payload = json.loads((DATA / "follow_events.json").read_text())
    brand = {"id": "3001969357", "id_str": "3001969357", "screen_name": "brand"}
    item = {"type": kind, "created_timestamp": str(at_ms), "source": brand, "target": person}
    [mapped] = map_payload({**payload, "follow_events": [item]}).events
    return mapped


async def test_the_notifier_reads_the_brands_unfollows_on_x_from_the_events_topic(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """On the real broker: X's webhook mapped by the ingest, the notifier running. The brand follows
    4242 back on X and later unfollows them there; a decision that brings 4242 into the queue after
    both finds no follow-back standing: open, and pushed."""
    person = {"id": "4242", "id_str": "4242", "screen_name": "ana"}
    start = int(T0.timestamp() * 1000)
    followed = _x_follow_event("follow", person, start)
    unfollowed = _x_follow_event("unfollow", person, start + 3_600_000)
    assert (followed["type"], unfollowed["type"]) == ("followed_back", "unfollowed_back")
    with WebhookReceiver() as slack:
        await configure(db, "3001969357", slack_webhook_url=slack.url())
        config = settings.model_copy(
            update={"notifier": NotifierSettings(poll_interval_s=0.1, retry_base_s=0.1, send_timeout_s=3)}
        )
        async with create_app(config).start_lifespan_context():
            await publish_events(config, [followed])
            remembered = "SELECT count(*) FROM platform_follow_backs WHERE follower_id = '4242'"
            assert await eventually(lambda: db.fetchval(remembered), lambda n: n == 1) == 1
            await publish_events(config, [unfollowed])
            ended = "SELECT count(*) FROM platform_unfollows WHERE follower_id = '4242'"
            assert await eventually(lambda: db.fetchval(ended), lambda n: n == 1) == 1
            assert await db.fetchval(remembered) == 0
            at = datetime.fromisoformat(unfollowed["occurred_at"]) + timedelta(hours=1)
            later = decision("4242", "high_value", 90, at=at, account="3001969357")
            await send(config, db, [(later, 1)])
            state_of = "SELECT state FROM review_items WHERE follower_id = '4242'"
            assert await eventually(lambda: db.fetchval(state_of), lambda s: s is not None) == "open"
            await eventually(lambda: _pushed(slack), lambda n: n == 1)
        assert len(slack.delivered()) == 1
        assert "4242" in slack.delivered()[0].body["text"]
        assert (
            await db.fetchval("SELECT count(*) FROM review_audit WHERE action = 'platform_follow_back'") == 0
        )


async def _pushed(slack: WebhookReceiver) -> int:
    return len(slack.delivered())
