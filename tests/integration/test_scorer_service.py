"""The scorer on a real broker and database: decision rows, versions, and the decisions topic."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg
import pytest

from services.churn.rules import DEFAULT_RULES, apply
from services.scorer.app import create_app, rules_from
from services.scorer.scoring import config_label
from shared.decisions import Decision
from shared.events import Event
from shared.relationships import AnnotatedEvent, RelationshipState
from shared.settings import Settings
from tests.support import SPAM_ACCOUNT, event, eventually, publish, read_topic

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


async def test_a_redelivered_event_that_changed_nothing_stays_a_no_op_after_a_later_version(
    settings: Settings, db: asyncpg.Connection
) -> None:
    h = timedelta(hours=1)
    stream = annotate(
        [
            event("r1", "follow", "20", 0 * h),  # v1 worth_following
            event("r2", "unfollow", "20", 3 * h),  # v2 churner (quick unfollow)
            event("r3", "follow", "20", 5 * h),  # still a churner, same score: no new version
            event("r4", "interaction", "20", 8 * h, interaction="reply"),  # v3: engagement moves the score
        ]
    )
    async with create_app(settings).start_lifespan_context():
        await publish(settings, settings.topic("annotated"), stream)
        assert len(await read_topic(settings, settings.topic("decisions"), 3)) == 3
        # r3 and r4 delivered again (a crash before the offset commit; the churn detector re-publishes
        # what it already annotated): r3 scored against v3 would record v2's stale score as v4.
        await publish(settings, settings.topic("annotated"), stream[2:])
        assert len(await read_topic(settings, settings.topic("decisions"), 4)) == 4  # r4 published again

    rows = await db.fetch(
        "SELECT version, class, score::float8 AS s, event_ids FROM decisions ORDER BY version"
    )
    assert [(r["version"], r["class"], r["event_ids"]) for r in rows] == [
        (1, "worth_following", ["r1"]),
        (2, "churner", ["r2"]),
        (3, "churner", ["r4"]),
    ]
    assert rows[2]["s"] > rows[1]["s"]


async def test_only_the_followers_own_acts_are_remembered_as_no_ops(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A ``retained`` notice never decides anything, so it needs no no-op row (one per notice would
    grow the table with every lasting follow); a follower's repeated follow that changed nothing does."""
    h = timedelta(hours=1)
    stream = annotate(
        [
            event("n1", "follow", "30", 0 * h),  # v1
            event("n2", "retained", "30", 7 * 24 * h),  # the detector's notice: never decides
            event("n3", "follow", "30", 1 * h),  # a repeated follow an hour on: nothing changes
        ]
    )
    async with create_app(settings).start_lifespan_context():
        await publish(settings, settings.topic("annotated"), stream)
        found = await eventually(
            lambda: db.fetch("SELECT event_id FROM scorer_unchanged"), lambda rows: len(rows) >= 1, 30
        )
    assert [r["event_id"] for r in found] == ["n3"]  # n2 came before n3 on the one partition
    assert await db.fetchval("SELECT count(*) FROM decisions") == 1


def revised(raw: bytes, note_from: bytes) -> bytes:
    """``raw``'s event with the annotation of ``note_from``, published again (revision 1)."""
    note = AnnotatedEvent.model_validate_json(note_from).relationship.model_copy(update={"revision": 1})
    event = AnnotatedEvent.model_validate_json(raw)
    return event.model_copy(update={"relationship": note}).model_dump_json().encode()


async def test_an_event_that_decided_nothing_is_decided_again_when_its_annotation_is_revised(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A like that arrived before its follow (the same second) was a stranger's: nothing to decide.
    When the follow comes, the detector revises the like's annotation: now a follower's like, it
    decides, once, however often the revision is delivered."""
    like = event("v1", "interaction", "40", timedelta(0), interaction="like")
    follow = event("v2", "follow", "40", timedelta(0))
    [stranger] = annotate([like])
    followed, liked = annotate([follow, like])
    stream = [stranger, followed, revised(stranger, liked), revised(stranger, liked)]
    async with create_app(settings).start_lifespan_context():
        await publish(settings, settings.topic("annotated"), stream)
        rows = await eventually(
            lambda: db.fetch("SELECT version, event_ids, class FROM decisions ORDER BY version"),
            lambda rows: len(rows) >= 2,
            30,
        )
        await eventually(lambda: db.fetchval("SELECT count(*) FROM scorer_unchanged"), lambda n: n >= 1, 30)
        await publish(settings, settings.topic("annotated"), stream[-1:])  # once more, after it decided
        await eventually(
            lambda: read_topic(settings, settings.topic("decisions"), 3), lambda r: len(r) >= 3, 30
        )
    assert [(r["version"], list(r["event_ids"])) for r in rows] == [(1, ["v2"]), (2, ["v1"])]
    assert await db.fetchval("SELECT count(*) FROM decisions") == 2
    # The stranger's like was a no-op, remembered with the configuration it was scored under (the
    # churn rules its annotation was folded under included: ``apply``'s defaults).
    label = config_label(rules_from(settings), None, DEFAULT_RULES.fingerprint)
    assert [
        tuple(r)
        for r in await db.fetch(
            "SELECT event_id, revision, account_id, follower_id, config_version FROM scorer_unchanged"
        )
    ] == [("v1", 0, "brand", "40", label)]
