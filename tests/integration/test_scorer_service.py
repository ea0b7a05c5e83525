"""The scorer on a real broker and database: decision rows, versions, and the decisions topic."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg
import pytest

from services.churn.rules import apply
from services.scorer.app import create_app
from shared.decisions import Decision
from shared.events import Event
from shared.relationships import AnnotatedEvent, RelationshipState
from shared.settings import Settings
from tests.support import SPAM_ACCOUNT, event, publish, read_topic

pytestmark = pytest.mark.integration


def annotate(bodies: list[dict]) -> list[bytes]:  # type: ignore[type-arg]
    states: dict[str, RelationshipState] = {}
    out = []
    for body in bodies:
        ev = Event.model_validate(body)
        states[ev.follower.id], note = apply(states.get(ev.follower.id, RelationshipState()), ev)
        out.append(AnnotatedEvent(event=ev, relationship=note).model_dump_json().encode())
    return out


async def test_decisions_are_versioned_recorded_once_and_published(
    settings: Settings, db: asyncpg.Connection
) -> None:
    stream = annotate(
        [
            event("s1", "follow", "10", timedelta(0)),
            event("s2", "interaction", "10", timedelta(hours=1), interaction="reply"),
            event("s3", "follow", "11", timedelta(0), SPAM_ACCOUNT),
        ]
    )
    async with create_app(settings).start_lifespan_context():
        await publish(settings, settings.topic("annotated"), stream)
        assert len(await read_topic(settings, settings.topic("decisions"), 3)) == 3
        # s1 delivered again after it was recorded (as after a crash before the offset commit).
        await publish(settings, settings.topic("annotated"), stream[:1])
        records = await read_topic(settings, settings.topic("decisions"), 4)

    rows = await db.fetch(
        "SELECT follower_id, version, class, event_ids, scorer_version, reasons "
        "FROM decisions ORDER BY follower_id, version"
    )
    assert [(r["follower_id"], r["version"], r["class"]) for r in rows] == [
        ("10", 1, "worth_following"),
        ("10", 2, "high_value"),
        ("11", 1, "spam"),
    ]
    assert [list(r["event_ids"]) for r in rows] == [["s1"], ["s2"], ["s3"]]
    assert rows[0]["scorer_version"]
    assert "follow_back_begging" in {r["signal"] for r in json.loads(rows[2]["reasons"])}

    published = [Decision.model_validate_json(r.value) for r in records]
    # The redelivered s1 is published again with the same decision id, never recorded twice.
    assert sorted(d.event_ids[0] for d in published) == ["s1", "s1", "s2", "s3"]
    assert len({d.decision_id for d in published}) == 3
