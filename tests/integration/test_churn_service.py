"""The churn detector on a real broker and database: annotations, durable state, exactly once."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg
import pytest

from services.churn.app import create_app
from shared.relationships import AnnotatedEvent, ChurnAlert
from shared.settings import Settings
from tests.support import event, publish, publish_events, read_topic

pytestmark = pytest.mark.integration


async def test_annotates_each_event_with_its_relationship_and_alerts_on_churn(
    settings: Settings, db: asyncpg.Connection
) -> None:
    app = create_app(settings)
    history = [
        event("c1", "follow", "100", timedelta(0)),
        event("c2", "interaction", "100", timedelta(hours=3), interaction="mention"),
        event("c3", "unfollow", "100", timedelta(days=2)),
        event("c4", "follow", "200", timedelta(hours=1)),
    ]
    async with app.start_lifespan_context():
        await publish_events(settings, history)
        records = await read_topic(settings, settings.topic("annotated"), 4)
        alerts = await read_topic(settings, settings.topic("churn_alerts"), 1)

    annotated = {a.event.event_id: a for a in (AnnotatedEvent.model_validate_json(r.value) for r in records)}
    assert set(annotated) == {"c1", "c2", "c3", "c4"}
    assert annotated["c2"].relationship.interactions == 1
    churned = annotated["c3"].relationship
    assert (churned.follows, churned.unfollows, churned.following) == (1, 1, False)
    assert churned.dwell_seconds == timedelta(days=2).total_seconds()
    assert churned.patterns == ("quick_unfollow",)
    assert [r.key for r in records if AnnotatedEvent.model_validate_json(r.value).event.follower.id == "100"]
    assert {r.key for r in records} == {b"100", b"200"}  # keyed by follower id

    [alert] = [ChurnAlert.model_validate_json(r.value) for r in alerts]
    assert (alert.follower_id, alert.pattern, alert.event_id) == ("100", "quick_unfollow", "c3")

    state = await db.fetchval(
        "SELECT state FROM relationships WHERE account_id = 'brand' AND follower_id = '100'"
    )
    assert '"unfollows": 1' in state


async def test_state_survives_a_restart_and_a_redelivered_event_counts_once(
    settings: Settings, db: asyncpg.Connection
) -> None:
    first = [event("r1", "follow", "300", timedelta(0))]
    async with create_app(settings).start_lifespan_context():
        await publish_events(settings, first)
        await read_topic(settings, settings.topic("annotated"), 1)

    # A new instance (a restart): the same event delivered again, then the unfollow.
    again = [*first, event("r2", "unfollow", "300", timedelta(days=1))]
    async with create_app(settings).start_lifespan_context():
        await publish_events(settings, again)
        records = await read_topic(settings, settings.topic("annotated"), 4)

    by_id: dict[str, list[AnnotatedEvent]] = {}
    for record in records:
        item = AnnotatedEvent.model_validate_json(record.value)
        by_id.setdefault(item.event.event_id, []).append(item)
    # r1 is re-published with the same annotation (downstream dedups by event id), not refolded.
    assert [a.relationship.follows for a in by_id["r1"]] == [1, 1]
    assert by_id["r2"][0].relationship.follows == 1
    assert by_id["r2"][0].relationship.unfollows == 1
    assert await db.fetchval("SELECT count(*) FROM churn_processed") == 2


async def test_a_poison_message_is_dead_lettered_and_the_consumer_carries_on(
    settings: Settings,
) -> None:
    good = event("p2", "follow", "400", timedelta(0))
    async with create_app(settings).start_lifespan_context():
        await publish(settings, settings.topic("events"), [b"\x00not json", b'{"event_id": "x"}'])
        await publish_events(settings, [good])
        dead = await read_topic(settings, settings.topic("dead_letter"), 2)
        annotated = await read_topic(settings, settings.topic("annotated"), 1)

    assert [AnnotatedEvent.model_validate_json(r.value).event.event_id for r in annotated] == ["p2"]
    assert len(dead) == 2
    headers = [dict(r.headers) for r in dead]
    assert {h["topic"] for h in headers} == {settings.topic("events").encode()}
    assert {"partition", "offset", "error"} <= set(headers[0])
    errors = sorted(h["error"].decode() for h in headers)
    assert any("Invalid JSON" in e for e in errors)
    assert any(e.startswith("type: Field required") or "Field required" in e for e in errors)
    assert sorted(r.value for r in dead) == sorted([b"\x00not json", b'{"event_id": "x"}'])


async def test_an_event_an_earlier_ingest_let_in_that_the_database_cannot_hold_is_dead_lettered(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """Events on the topic from before ingest refused them: a time in year 0 in UTC (the detector's
    grace period before it overflowed) and a description holding NUL (PostgreSQL refused the
    insert). Each failed its batch on every delivery, and the detector processed nothing after
    them. Now each is dead-lettered, naming its field, and the next event is processed."""
    year_zero = event("z1", "follow", "600", timedelta(0))
    year_zero["occurred_at"] = "0001-01-01T00:30:00+01:00"
    nul = event("z2", "follow", "601", timedelta(0), profile={"description": "a\x00b"})
    good = event("z3", "follow", "602", timedelta(0))
    await publish(settings, settings.topic("events"), [json.dumps(e).encode() for e in (year_zero, nul)])
    await publish_events(settings, [good])
    async with create_app(settings).start_lifespan_context():
        annotated = await read_topic(settings, settings.topic("annotated"), 1)
        dead = await read_topic(settings, settings.topic("dead_letter"), 2)

    assert [AnnotatedEvent.model_validate_json(r.value).event.event_id for r in annotated] == ["z3"]
    reasons = {json.loads(r.value)["event_id"]: dict(r.headers)["error"].decode() for r in dead}
    assert set(reasons) == {"z1", "z2"}
    assert reasons["z1"].startswith("occurred_at: ")
    assert reasons["z2"].startswith("follower.description: ")
    assert "NUL" in reasons["z2"]
    assert await db.fetchval("SELECT array_agg(event_id) FROM churn_processed") == ["z3"]


async def test_a_retained_record_is_dead_lettered_alone_and_an_event_under_its_id_is_processed(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A ``retained`` record is the detector's own output: on the events topic it is refused. An
    event that shares its id, in the same batch, is an event: processed, and not dead-lettered too
    (it was: every record under a refused id went to the dead-letter topic)."""
    follow = event("r1", "follow", "500", timedelta(0))
    notice = event("r1", "retained", "500", timedelta(minutes=1))
    await publish_events(settings, [follow, notice])  # one follower: one partition, one batch
    async with create_app(settings).start_lifespan_context():
        annotated = await read_topic(settings, settings.topic("annotated"), 1)
        dead = await read_topic(settings, settings.topic("dead_letter"), 2, timeout=5)

    assert [AnnotatedEvent.model_validate_json(r.value).event.type for r in annotated] == ["follow"]
    assert [(json.loads(r.value)["type"], dict(r.headers)["error"].decode()) for r in dead] == [
        ("retained", "type: 'retained' is emitted by the churn detector, never accepted as input")
    ]
    assert await db.fetchval("SELECT count(*) FROM churn_processed WHERE event_id = 'r1'") == 1
