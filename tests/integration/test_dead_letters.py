"""`followback dlq list / replay`: poison messages are shown with their reason, fixed ones re-published."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from followback import dlq
from services.churn.app import create_app
from shared.events import Event
from shared.settings import Settings
from tests.support import end_offsets, event, publish, read_to_end, read_topic

pytestmark = pytest.mark.integration


async def test_dead_letters_are_listed_with_their_source_and_valid_ones_republished(
    settings: Settings,
) -> None:
    good = event("d1", "follow", "777", timedelta(0))
    future = {**good, "event_id": "d2", "schema_version": 99}  # a version this code cannot read yet
    huge = {**good, "event_id": "d3", "follower": {**good["follower"], "description": "x" * 5000}}
    poison = [b"\xff\xfe not json", json.dumps(future).encode(), json.dumps(huge).encode()]
    async with create_app(settings).start_lifespan_context():
        await publish(settings, settings.topic("events"), poison)
        await read_topic(settings, settings.topic("dead_letter"), 3)

        letters = await dlq.read(settings)
        assert len(letters) == 3
        assert {letter.source_topic for letter in letters} == {settings.topic("events")}
        errors = " | ".join(sorted(letter.error for letter in letters))
        assert "Invalid JSON" in errors
        assert "schema_version" in errors
        assert "follower.description" in errors
        assert all(letter.source_offset.isdigit() for letter in letters)

        # Nothing parses yet, so nothing is re-published.
        assert await dlq.replay(settings) == dlq.Replayed(sent=0, left=3, held=0)

        # A fixed message (here: one put on the dead-letter topic by hand, as an operator would).
        fixed = json.dumps(good).encode()
        await publish(settings, settings.topic("dead_letter"), [fixed])
        letters = await dlq.read(settings)
        assert len(letters) == 4
    # Headers name the source for letters the consumers write; a hand-made one has none: left alone.
    assert await dlq.replay(settings) == dlq.Replayed(sent=0, left=4, held=0)


async def test_a_letter_that_parses_now_goes_back_to_its_source_topic(settings: Settings) -> None:
    from aiokafka import AIOKafkaProducer

    good = json.dumps(event("d9", "follow", "778", timedelta(0))).encode()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        headers = [("error", b"was broken"), ("topic", settings.topic("events").encode()),
                   ("partition", b"0"), ("offset", b"12")]  # fmt: skip
        await producer.send_and_wait(settings.topic("dead_letter"), good, key=b"778", headers=headers)
    finally:
        await producer.stop()

    assert await dlq.replay(settings) == dlq.Replayed(sent=1, left=0, held=0)
    [record] = await read_topic(settings, settings.topic("events"), 1)
    assert Event.model_validate_json(record.value).event_id == "d9"
    assert record.key == b"778"


async def test_a_letter_a_consumer_failed_on_alone_is_held_back_unless_asked_for_and_sent_once(
    settings: Settings,
) -> None:
    """It parses, so every replay re-published it, and the consumer dead-lettered it again while its
    cause lasted; the dead-letter topic keeps every copy, so each run doubled them (helper-41)."""
    from aiokafka import AIOKafkaProducer

    value = json.dumps(event("d7", "follow", "779", timedelta(0))).encode()
    headers = [
        ("error", b"the churn detector failed on it alone: OverflowError: date value out of range"),
        ("stage", b"effect"),
        ("topic", settings.topic("events").encode()),
        ("partition", b"0"),
        ("offset", b"3"),
    ]
    notice = json.dumps(event("d8", "retained", "779", timedelta(0))).encode()  # refused: never input
    refused = [("error", b"type: 'retained' is ..."), ("stage", b"refused"), *headers[2:]]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        for _ in range(2):  # dead-lettered twice (a replay before the fix)
            await producer.send_and_wait(settings.topic("dead_letter"), value, key=b"779", headers=headers)
        await producer.send_and_wait(settings.topic("dead_letter"), notice, key=b"779", headers=refused)
    finally:
        await producer.stop()

    assert await dlq.replay(settings) == dlq.Replayed(sent=0, left=1, held=2)
    assert await end_offsets(settings, settings.topic("events")) == 0
    assert await dlq.replay(settings, failed_alone=True) == dlq.Replayed(sent=1, left=1, held=0)
    [record] = await read_to_end(settings, settings.topic("events"))  # once, of the two copies
    assert record.value == value
