"""Schema evolution on the real broker and database: a version-1 and a version-2 event published to
the events topic both end as decisions; a version-3 one (newer than this code) is dead-lettered with
its reason, and the consumers carry on."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg
import pytest

from services.churn.app import create_app as create_churn
from services.scorer.app import create_app as create_scorer
from shared.decisions import Decision
from shared.events import Event
from shared.relationships import AnnotatedEvent
from shared.settings import Settings
from tests.support import event, publish, read_topic

pytestmark = pytest.mark.integration


async def test_version_1_and_2_events_become_decisions_and_version_3_is_dead_lettered(
    settings: Settings, db: asyncpg.Connection
) -> None:
    v1 = {**event("sv1", "follow", "301", timedelta(0)), "schema_version": 1}  # no platform: x
    unversioned = event("sv0", "follow", "300", timedelta(0))  # what clients sent before v2
    v2 = {**event("sv2", "follow", "302", timedelta(0)), "schema_version": 2, "platform": "bsky"}
    v3 = {**event("sv3", "follow", "303", timedelta(0)), "schema_version": 3, "platform": "x",
          "source": {"kind": "api"}}  # fmt: skip
    churn, scorer = create_churn(settings), create_scorer(settings)
    async with churn.start_lifespan_context(), scorer.start_lifespan_context():
        for body in (v1, unversioned, v2, v3):
            await publish(settings, settings.topic("events"), [json.dumps(body).encode()],
                          key=body["follower"]["id"].encode())  # fmt: skip
        decisions = [Decision.model_validate_json(r.value)
                     for r in await read_topic(settings, settings.topic("decisions"), 3)]  # fmt: skip
        [letter] = await read_topic(settings, settings.topic("dead_letter"), 1)
        annotated = await read_topic(settings, settings.topic("annotated"), 3)

    assert sorted(d.event_ids for d in decisions) == [("sv0",), ("sv1",), ("sv2",)]
    rows = await db.fetch("SELECT follower_id, class FROM decisions ORDER BY follower_id")
    assert [r["follower_id"] for r in rows] == ["300", "301", "302"]

    # What the churn detector wrote on (topic and stored row) is version 2, whatever it read.
    written = [AnnotatedEvent.model_validate_json(r.value).event for r in annotated]
    assert {(e.event_id, e.schema_version, e.platform) for e in written} == {
        ("sv0", 2, "x"), ("sv1", 2, "x"), ("sv2", 2, "bsky"),
    }  # fmt: skip
    assert all(json.loads(r.value)["event"]["schema_version"] == 2 for r in annotated)
    stored = await db.fetch("SELECT annotated->'event' AS event FROM churn_processed ORDER BY event_id")
    assert [json.loads(r["event"])["schema_version"] for r in stored] == [2, 2, 2]

    headers = {k: v.decode() for k, v in letter.headers}
    assert headers["topic"] == settings.topic("events")
    assert headers["error"].startswith("schema_version: Value error, unknown schema_version 3")
    assert json.loads(letter.value)["event_id"] == "sv3"  # the bytes as they arrived
    with pytest.raises(ValueError, match="unknown schema_version 3"):
        Event.model_validate_json(letter.value)
