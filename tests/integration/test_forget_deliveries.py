"""`followback forget` on a follower whose messages are still to go out: they go, without the person.

The notifier's intake writes the outbox rows; after forget, its delivery worker sends them to a real
webhook receiver and to the real broker.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from followback.forget import forget
from services.notifier.actions import Action, perform
from services.notifier.channels import Channel
from services.notifier.channels.events import EventsChannel
from services.notifier.channels.slack import SlackChannel
from services.notifier.channels.webhook import FollowBackWebhook
from services.notifier.delivery import DeliveryWorker
from shared.db import create_pool
from shared.events import Event, EventType
from shared.settings import Settings
from tests.notifier_support import configure, decision, intake_now, record
from tests.receivers import WebhookReceiver
from tests.support import read_topic

pytestmark = pytest.mark.integration


def personal(follower: str) -> list[str]:
    """What the outbox carried of the person (tests.notifier_support.record's profile)."""
    return [f"user{follower}", "Ana Costa", "Coffee roaster", "Porto"]


@asynccontextmanager
async def notifier(settings: Settings) -> AsyncIterator[tuple[asyncpg.Pool, DeliveryWorker]]:
    """The notifier's pool and its delivery worker on real channels, stepped by the test."""
    pool = await create_pool(settings.postgres)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            channels: dict[str, Channel] = {
                "slack": SlackChannel(client),
                "follow_back_webhook": FollowBackWebhook(client),
                "events": EventsChannel(producer, 10),
            }
            yield pool, DeliveryWorker(pool, channels, settings.notifier)
    finally:
        await producer.stop()
        await pool.close()


async def statuses(db: asyncpg.Connection) -> dict[str, str]:
    rows = await db.fetch("SELECT kind, status FROM deliveries")
    return {row["kind"]: row["status"] for row in rows}


async def test_a_pending_push_goes_out_after_forget_naming_the_follower_by_id(
    settings: Settings, db: asyncpg.Connection
) -> None:
    with WebhookReceiver() as slack:
        await configure(db, "brand", slack_webhook_url=slack.url())
        pushed = decision("7", "high_value", 91)
        await record(db, [(pushed, 1)])
        async with notifier(settings) as (pool, worker):
            await intake_now(pool, settings, [pushed])
            assert await statuses(db) == {"push": "pending"}
            await forget(db, "7", "test")
            assert await worker.step()
    assert await statuses(db) == {"push": "sent"}
    [post] = slack.delivered()
    text = post.body["text"]
    assert text.startswith("New high-value follower of brand: follower 7, score 91.\n")
    assert "Why: engagement +35, topic_match +20, active +10." in text
    assert "q=7" in text  # the review queue's link to the follower
    assert not [word for word in personal("7") if word in text]
    payload = json.loads(await db.fetchval("SELECT payload::text FROM deliveries"))
    assert [r["value"] for r in payload["reasons"]] == [None, None, None]  # values may quote the profile


async def test_a_pending_follow_back_publishes_a_valid_event_after_forget(
    settings: Settings, db: asyncpg.Connection
) -> None:
    with WebhookReceiver() as tooling:
        await configure(db, "brand", follow_back_webhook_url=tooling.url())
        queued = decision("8", "high_value", 88)
        await record(db, [(queued, 1)])
        async with notifier(settings) as (pool, worker):
            await intake_now(pool, settings, [queued])
            async with pool.acquire() as conn:
                done = await perform(conn, actor="rita", action=Action.FOLLOW_BACK, account_id="brand",
                                     follower_id="8", events_topic=settings.topic("events"))  # fmt: skip
            assert done.done, done.message
            assert await statuses(db) == {"event": "pending", "follow_back": "pending"}
            await forget(db, "8", "test")
            assert await worker.step()
    assert await statuses(db) == {"event": "sent", "follow_back": "sent"}
    [published] = await read_topic(settings, settings.topic("events"), 1)
    assert not [word for word in personal("8") if word in published.value.decode()]
    event = Event.model_validate_json(published.value)
    assert event.event_id == f"followed-back:{done.action_id}"
    assert (event.type, event.account_id) == (EventType.FOLLOWED_BACK, "brand")
    assert (published.key, event.follower.id, event.follower.screen_name) == (b"8", "8", "")
    [post] = tooling.delivered()
    assert not [word for word in personal("8") if word in json.dumps(post.body)]
    assert (post.body["follower_id"], post.body["decision_id"]) == ("8", queued.decision_id)
