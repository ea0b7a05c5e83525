"""An annotated event on its way to the scorer when ``followback forget`` erased its follower (the
detector had processed it, the scorer lagged): before, the scorer recorded its decision with the
handle and the profile's values, back in ``decisions`` (and from there in the review queue) after
the erasure said they were gone. It is decided as before, and recorded as forget leaves decisions."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from followback.forget import forget
from services.churn import outputs
from services.churn import store as churn_store
from services.churn.rules import InMemory
from services.scorer import decider, store
from services.scorer.scoring import DEFAULT_RULES, score
from shared.db import create_pool
from shared.events import Event
from shared.relationships import AnnotatedEvent
from shared.settings import Settings
from tests.support import event

pytestmark = pytest.mark.integration


async def test_a_decision_of_an_event_in_flight_during_forget_is_recorded_without_the_profile(
    settings: Settings, db: asyncpg.Connection
) -> None:
    churn = InMemory()
    follow = Event.model_validate(event("e-follow", "follow", "4001", timedelta(0)))
    annotated = AnnotatedEvent(event=follow, relationship=churn.fold(follow))
    pool = await create_pool(settings.postgres)  # as the services' app role
    try:
        async with pool.acquire() as conn:
            await churn_store.record(conn, [outputs.record(annotated)])  # processed by the detector ...
        await forget(db, "4001", "test")  # ... erased ...
        outcome = await decider.process(pool, [annotated], DEFAULT_RULES)  # ... then scored
    finally:
        await pool.close()
    expected = score(annotated, DEFAULT_RULES)
    assert expected.screen_name == "ana_roasts"
    [decided] = outcome.recorded
    assert (decided.decision_class, decided.score) == (expected.decision_class, expected.score)
    assert decided.screen_name == ""
    assert [r.signal for r in decided.reasons] == [r.signal for r in expected.reasons]
    assert all(r.value is None for r in decided.reasons)
    row = await db.fetchrow(
        "SELECT screen_name, reasons::text AS reasons FROM decisions WHERE follower_id = '4001'"
    )
    assert row is not None
    assert row["screen_name"] == ""
    assert "ana_roasts" not in row["reasons"]
    assert "Porto" not in row["reasons"]
    assert '"value": null' in row["reasons"]


async def test_an_erasure_committed_while_a_batch_is_being_decided_still_erases_its_decision(
    settings: Settings, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """helper-47: the scorer read the erasures, ``forget`` committed, and the scorer then recorded
    its decision with the handle: forget's UPDATE could not see the row yet, and the scorer had
    already looked."""
    churn = InMemory()
    follow = Event.model_validate(event("e-follow", "follow", "4001", timedelta(0)))
    annotated = AnnotatedEvent(event=follow, relationship=churn.fold(follow))
    looked = store.erased
    erasing: list[asyncio.Task[dict[str, int]]] = []
    connections: list[asyncpg.Connection] = []

    async def erased_then_forget(conn: asyncpg.Connection, events: list[tuple[str, str]]) -> set[str]:
        found = await looked(conn, events)  # nothing erased yet ...
        other = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        connections.append(other)
        erasing.append(asyncio.create_task(forget(other, "4001", "test")))  # ... forget starts now
        await asyncio.sleep(1.0)  # (room for it to commit, had nothing held it back)
        return found

    pool = await create_pool(settings.postgres)
    try:
        async with pool.acquire() as conn:
            await churn_store.record(conn, [outputs.record(annotated)])
        monkeypatch.setattr(store, "erased", erased_then_forget)
        await decider.process(pool, [annotated], DEFAULT_RULES)
        await asyncio.wait_for(erasing[0], 10)
    finally:
        await pool.close()
        for other in connections:
            await other.close()
    row = await db.fetchrow(
        "SELECT screen_name, reasons::text AS reasons FROM decisions WHERE follower_id = '4001'"
    )
    assert row is not None
    assert row["screen_name"] == ""
    assert "ana_roasts" not in row["reasons"]
