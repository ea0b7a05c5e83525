"""Helpers for tests on the real broker: build events, publish them, read topics, wait for rows."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.events import Event
from shared.settings import Settings

T = TypeVar("T")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

REAL_PERSON = {
    "screen_name": "ana_roasts",
    "name": "Ana Costa",
    "description": "Coffee roaster, cyclist, runs a small cafe in Porto.",
    "followers_count": 1800,
    "friends_count": 420,
    "statuses_count": 5200,
    "favourites_count": 3100,
    "listed_count": 24,
    "created_at": "2014-05-01T00:00:00Z",
    "last_status_at": "2026-02-28T18:00:00Z",
}

SPAM_ACCOUNT = {
    "screen_name": "gain_followers_4u",
    "name": "Follow Back 100%",
    "description": "I follow back everyone #TeamFollowBack F4F",
    "followers_count": 3,
    "friends_count": 2001,
    "statuses_count": 4,
    "favourites_count": 0,
    "listed_count": 0,
    "default_profile_image": True,
    "created_at": "2026-02-20T00:00:00Z",
}


def event(
    event_id: str,
    kind: str,
    follower_id: str,
    at: datetime | timedelta,
    profile: dict[str, Any] | None = None,
    account: str = "brand",
    interaction: str | None = None,
) -> dict[str, Any]:
    """An event as a JSON-ready dict (what a client would post)."""
    when = T0 + at if isinstance(at, timedelta) else at
    body: dict[str, Any] = {
        "event_id": event_id,
        "type": kind,
        "account_id": account,
        "follower": {"id": follower_id, **(profile or REAL_PERSON)},
        "occurred_at": when.isoformat(),
    }
    if interaction:
        body["interaction"] = {"kind": interaction, "text": "@brand great coffee"}
    return body


async def publish(settings: Settings, topic: str, values: list[bytes], key: bytes = b"k") -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def publish_events(settings: Settings, events: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        for body in events:
            parsed = Event.model_validate(body)
            await producer.send_and_wait(
                settings.topic("events"), parsed.model_dump_json().encode(), key=parsed.key
            )
    finally:
        await producer.stop()


async def read_topic(settings: Settings, topic: str, count: int, timeout: float = 20.0) -> list[Any]:
    """The first ``count`` records of a topic (all partitions, from the start)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


async def read_to_end(settings: Settings, topic: str, timeout: float = 60.0) -> list[Any]:
    """Every record of a topic up to its end offsets as of the call (all partitions): for tests that
    must see everything that was published, not whatever arrives before a timeout."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()  # no group: every partition is assigned at once
    try:
        parts = sorted(consumer.assignment())
        assert parts, f"no partitions of {topic}"
        ends = await consumer.end_offsets(parts)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while [p for p in parts if await consumer.position(p) < ends[p]]:
            assert time.monotonic() < deadline, f"could not read {topic} to its end in {timeout} s"
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def end_offsets(settings: Settings, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum((await consumer.end_offsets(parts)).values())
    finally:
        await consumer.stop()


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    timeout: float = 30.0,
) -> T:
    """Poll ``probe`` until ``done`` holds for its value; returns the last value either way."""
    deadline = time.monotonic() + timeout
    value = await probe()
    while not done(value) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        value = await probe()
    return value


def required_tool(found: str | None, reason: str) -> str:
    """The path of a tool a test needs (Chromium, Prometheus, promtool): without it the test is
    skipped on a developer's machine, and fails in CI and under ``make test``, which install it."""
    if found is None:
        if os.environ.get("CI") or os.environ.get("FOLLOWBACK_REQUIRE_INFRA"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found
