"""A record that parses but that a consumer's effect fails on every time is found, dead-lettered
alone with the error, and the rest of its batch is committed (``shared.consuming.isolating``), on
the real broker and database."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from services.churn import detector
from services.churn.app import create_app as churn_app
from services.notifier.app import create_app
from services.scorer import decider
from services.scorer.app import create_app as scorer_app
from shared.decisions import Decision
from shared.events import Event
from shared.relationships import AnnotatedEvent
from shared.settings import Settings
from tests.notifier_support import configure, decision, record, send
from tests.support import event, eventually, publish, read_topic

pytestmark = pytest.mark.integration


async def _items(db: asyncpg.Connection) -> list[str]:
    return [r["follower_id"] for r in await db.fetch("SELECT follower_id FROM review_items ORDER BY 1")]


async def test_a_decision_the_notifier_fails_on_is_dead_lettered_and_the_others_of_its_batch_recorded(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """Decision 2 on the topic carries a reason whose detail holds NUL (its recorded row does not:
    another producer wrote the record; the model leaves reasons' texts alone, on the scorer's hot
    path): PostgreSQL refuses it, on every delivery. Before, the notifier stalled on the batch, and
    1 and 3 never reached the queue (helper-41 found this one, beside others the models refuse
    now)."""
    first, odd, last = (decision(f, "high_value", score) for f, score in (("1", 80), ("2", 81), ("3", 82)))
    await record(db, [(first, 1), (odd, 1), (last, 1)])
    body = json.loads(odd.model_dump_json(by_alias=True))
    body["reasons"] = [{"signal": "engagement", "value": 3, "contribution": 20, "detail": "a\x00b"}]
    bodies = [first.model_dump_json(by_alias=True).encode(), json.dumps(body).encode()]
    bodies.append(last.model_dump_json(by_alias=True).encode())
    await publish(settings, settings.topic("decisions"), bodies, key=b"one-partition")  # one batch

    async with create_app(settings).start_lifespan_context():
        [dead] = await read_topic(settings, settings.topic("dead_letter"), 1)
        items = await eventually(lambda: _items(db), lambda found: len(found) >= 2)

    assert items == ["1", "3"]
    assert Decision.model_validate_json(dead.value).follower_id == "2"
    headers = dict(dead.headers)
    reason = headers["error"].decode()
    assert reason.startswith("the notifier failed on it alone: UntranslatableCharacterError: ")
    assert "unsupported Unicode escape sequence" in reason
    assert headers["topic"].decode() == settings.topic("decisions")
    assert int(headers["offset"]) == 1  # the second record of the three


async def test_a_brand_whose_daily_budget_is_beyond_what_postgresql_counts_gets_its_pushes(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A budget of 2**63 (the CLI took it) failed the notifier's LIMIT for every high-value follower
    of the brand; it is no limit now (and stays readable: not refused when read back)."""
    await configure(db, "brand", daily_push_budget=2**63)
    await send(settings, db, [(decision("1", "high_value", 80), 1), (decision("2", "high_value", 90), 1)])
    async with create_app(settings).start_lifespan_context():
        scheduled = await eventually(lambda: _scheduled(db), lambda found: len(found) >= 2)
    assert scheduled == ["1", "2"]


async def _scheduled(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch("SELECT follower_id FROM notifications WHERE push = 'scheduled' ORDER BY 1")
    return [r["follower_id"] for r in rows]


def _failing_on(follower: str, real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, failing as the core would on an impossible value, for one follower's event."""

    def step(*args: Any) -> Any:
        event = next(a for a in args if isinstance(a, Event | AnnotatedEvent))
        if (event.event if isinstance(event, AnnotatedEvent) else event).follower.id == follower:
            raise OverflowError("date value out of range")
        return real(*args)

    return step


async def test_the_churn_detector_dead_letters_the_event_its_fold_fails_on_and_annotates_the_rest(
    settings: Settings, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No event that the model accepts fails the fold today (the models refuse what did): the fold
    is made to fail on follower 666's, to check the detector's wiring on the real broker and
    database (which record goes to the dead-letter topic, what is committed). A retained notice in
    the batch is refused as before, and not taken for the failing record."""
    real = detector._Batch.fold
    monkeypatch.setattr(
        detector._Batch, "fold", lambda self, event, *rest: _failing_on("666", real)(self, event, *rest)
    )
    stream = [
        event("q1", "follow", "665", timedelta(0)),
        event("q2", "retained", "666", timedelta(minutes=1)),
        event("q3", "follow", "666", timedelta(minutes=2)),
        event("q4", "follow", "667", timedelta(minutes=3)),
    ]
    await publish(settings, settings.topic("events"), [json.dumps(e).encode() for e in stream], key=b"k")
    async with churn_app(settings).start_lifespan_context():
        dead = await read_topic(settings, settings.topic("dead_letter"), 2)
        annotated = await read_topic(settings, settings.topic("annotated"), 2)

    letters = {json.loads(r.value)["event_id"]: dict(r.headers) for r in dead}
    assert letters["q2"]["stage"] == b"refused"
    assert letters["q3"]["stage"] == b"effect"
    assert (
        letters["q3"]["error"]
        == b"the churn detector failed on it alone: OverflowError: date value out of range"
    )
    assert sorted(AnnotatedEvent.model_validate_json(r.value).event.event_id for r in annotated) == [
        "q1",
        "q4",
    ]
    assert await db.fetchval("SELECT array_agg(event_id ORDER BY event_id) FROM churn_processed") == [
        "q1",
        "q4",
    ]


async def test_the_scorer_dead_letters_the_annotated_event_it_fails_on_and_decides_the_rest(
    settings: Settings, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, for the scorer: scoring is made to fail on follower 666's annotated event."""
    monkeypatch.setattr(decider, "next_version", _failing_on("666", decider.next_version))
    note = {"follows": 1, "unfollows": 0, "interactions": 0, "following": True, "last_follow_at": None,
            "last_unfollow_at": None, "last_interaction_at": None}  # fmt: skip
    bodies = [
        json.dumps(
            {"event": event(f"s{n}", "follow", follower, timedelta(minutes=n)), "relationship": note}
        ).encode()
        for n, follower in enumerate(("665", "666", "667"))
    ]
    await publish(settings, settings.topic("annotated"), bodies, key=b"k")
    async with scorer_app(settings).start_lifespan_context():
        [dead] = await read_topic(settings, settings.topic("dead_letter"), 1)
        decided = await read_topic(settings, settings.topic("decisions"), 2)

    assert json.loads(dead.value)["event"]["event_id"] == "s1"
    assert dict(dead.headers)["stage"] == b"effect"
    assert sorted(Decision.model_validate_json(r.value).follower_id for r in decided) == ["665", "667"]
    rows = await db.fetch("SELECT follower_id FROM decisions ORDER BY 1")
    assert [r["follower_id"] for r in rows] == ["665", "667"]
