"""Migration 0015 marks the churn detector's events erased before it, and only those."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.db import migrate_sync
from shared.events import Event, EventType, Profile
from shared.relationships import AnnotatedEvent, Annotation
from tests.conftest import Infra
from tests.integration.migrations import deployed_before, roll_back, yoyo
from tests.support import REAL_PERSON

pytestmark = pytest.mark.integration
ERASED = "0015.erased-annotations"


def stored(event_id: str, follower: str) -> str:
    """An annotated event as the detector stores it (every profile key present)."""
    event = Event(
        event_id=event_id,
        type=EventType.FOLLOW,
        platform="x",
        account_id="brand",
        follower={**REAL_PERSON, "id": follower},
        occurred_at=datetime(2026, 1, 5, tzinfo=UTC),
    )
    at = event.occurred_at
    note = Annotation(follows=1, unfollows=0, interactions=0, following=True, last_follow_at=at,
                      last_unfollow_at=None, last_interaction_at=None)  # fmt: skip
    return AnnotatedEvent(event=event, relationship=note).model_dump_json()


async def test_the_rows_erased_before_are_marked_and_decide_nothing_and_later_ones_are_left(
    infra: Infra,
) -> None:
    async with deployed_before(infra, ERASED) as (dsn, conn):
        blank = json.loads(stored("e1", "5001"))
        blank["event"]["follower"] = {"id": "5001"}  # as forget left it before the mark
        # An erased row a revision wrote back (the detector dumps every profile key, empty).
        rewritten = json.loads(stored("e4", "5001"))
        rewritten["event"]["follower"] = json.loads(Profile(id="5001").model_dump_json())
        rows = [
            ("e1", "5001", json.dumps(blank)),  # erased
            ("e4", "5001", json.dumps(rewritten)),  # erased, then revised
            ("e2", "5001", stored("e2", "5001")),  # came after the erasure: the profile again
            ("e3", "6001", stored("e3", "6001")),  # somebody never erased
        ]
        await conn.executemany(
            "INSERT INTO churn_processed (event_id, account_id, follower_id, occurred_at, annotated) "
            "VALUES ($1, 'brand', $2, '2026-01-05T00:00:00Z', $3::jsonb)",
            rows,
        )
        await conn.execute(
            "INSERT INTO erasures (follower_id, erased_by, rows_changed) VALUES ('5001', 'dpo', '{}')"
        )
        assert ERASED in migrate_sync(dsn)
        found = {
            r["event_id"]: AnnotatedEvent.model_validate_json(r["annotated"])
            for r in await conn.fetch("SELECT event_id, annotated::text FROM churn_processed")
        }
        erased = {"e1": True, "e2": False, "e3": False, "e4": True}
        assert {event_id: a.erased for event_id, a in found.items()} == erased
        assert {event_id: a.decides for event_id, a in found.items()} == {e: not v for e, v in erased.items()}

        yoyo(dsn, roll_back, lambda m: m.id == ERASED)
        marked = await conn.fetchval("SELECT count(*) FROM churn_processed WHERE annotated ? 'erased'")
        assert marked == 0  # as before the migration: no row says either way
