"""Pushes waiting for the daily budget get a new day's room when the brand's event time reaches that
day, whatever decision brings it there (not only one that queues a push of that day).

The notifier's intake runs in process on the test's database (as the service does, one transaction
a batch); nothing here reads the wall clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from services.notifier import intake
from shared.decisions import Decision
from shared.settings import NotifierSettings
from tests.notifier_support import configure, decision, record

pytestmark = pytest.mark.integration
CONFIG = intake.IntakeSettings(notifier=NotifierSettings(), queue_url="http://queue")  # 1 carry-over day
D = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


async def take(conn: asyncpg.Connection, db: asyncpg.Connection, batch: list[Decision]) -> intake.Intake:
    """The scorer records the decisions, then the notifier takes them in as one batch."""
    await record(db, [(d, 1) for d in batch])
    return await take_again(conn, batch)


async def take_again(conn: asyncpg.Connection, batch: list[Decision]) -> intake.Intake:
    """The notifier takes a batch in (again: a redelivery)."""
    async with conn.transaction():
        return await intake.record(conn, batch, CONFIG)


async def pushes(db: asyncpg.Connection) -> dict[str, tuple[str, date | None, str | None]]:
    rows = await db.fetch("SELECT follower_id, push, push_day, suppressed_reason FROM notifications")
    return {r["follower_id"]: (r["push"], r["push_day"], r["suppressed_reason"]) for r in rows}


async def pushed(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch("SELECT follower_id FROM deliveries WHERE kind = 'push' ORDER BY delivery_id")
    return [r["follower_id"] for r in rows]


async def a_day_over_budget(conn: asyncpg.Connection, db: asyncpg.Connection) -> None:
    """Budget 1: on day D, a is pushed and b waits for room."""
    await configure(db, "brand", slack_webhook_url="https://hooks.example/T1", daily_push_budget=1)
    await take(conn, db, [decision("a", "high_value", 90, at=D), decision("b", "high_value", 80, at=D)])
    found = await pushes(db)
    assert found["a"][:2] == ("scheduled", date(2026, 3, 1))
    assert found["b"][:2] == ("waiting", None)
    assert await pushed(db) == ["a"]


async def test_a_new_day_with_no_push_of_its_own_gives_the_waiting_push_its_room(
    db: asyncpg.Connection, conn: asyncpg.Connection
) -> None:
    """The next day's room was allocated only when a push of that day was queued: a day bringing only
    decisions that queue none (here a worth-following follower) left b waiting although it had room."""
    await a_day_over_budget(conn, db)

    next_day = [decision("c", "worth_following", 60, at=D + DAY)]
    taken = await take(conn, db, next_day)
    assert (taken.queued, taken.scheduled) == (0, 1)
    found = await pushes(db)
    assert found["b"][:3] == ("scheduled", date(2026, 3, 2), None)
    assert await pushed(db) == ["a", "b"]

    # A redelivery, and more decisions of the same day: the day's one budget is spent, once.
    assert (await take_again(conn, next_day)).scheduled == 0
    more = await take(conn, db, [decision("d", "ignore", 10, at=D + DAY + timedelta(hours=3))])
    assert more.scheduled == 0
    assert await pushed(db) == ["a", "b"]
    days = await db.fetch(
        "SELECT push_day, count(*) FROM notifications WHERE push = 'scheduled' GROUP BY 1 ORDER BY 1"
    )
    assert [(r["push_day"], r["count"]) for r in days] == [(date(2026, 3, 1), 1), (date(2026, 3, 2), 1)]


async def test_a_day_beyond_the_carry_over_days_gives_the_waiting_push_no_room(
    db: asyncpg.Connection, conn: asyncpg.Connection
) -> None:
    """b competes for the room of D and the one day after it: D + 2 has none for b."""
    await a_day_over_budget(conn, db)

    taken = await take(conn, db, [decision("c", "worth_following", 60, at=D + 2 * DAY)])
    assert taken.scheduled == 0
    found = await pushes(db)
    assert found["b"][:2] == ("waiting", None)
    assert "daily push budget of 1 reached for brand on 2026-03-01 (UTC)" in str(found["b"][2])
    assert await pushed(db) == ["a"]


async def test_the_new_day_is_the_brands_date_of_the_decision(
    db: asyncpg.Connection, conn: asyncpg.Connection
) -> None:
    """A decision at 03:00 UTC on March 2nd is still March 1st in New York: no new day there. The
    reason b keeps waiting then names the brand's new day and its zone."""
    await configure(db, "brand", slack_webhook_url="https://hooks.example/T1", daily_push_budget=1,
                    timezone="America/New_York")  # fmt: skip
    await take(conn, db, [decision("a", "high_value", 90, at=D), decision("b", "high_value", 80, at=D),
                          decision("z", "high_value", 70, at=D)])  # fmt: skip
    taken = await take(conn, db, [decision("c", "spam", 5, at=datetime(2026, 3, 2, 3, tzinfo=UTC))])
    assert taken.scheduled == 0
    assert (await pushes(db))["b"][:2] == ("waiting", None)

    # 00:30 on March 2nd in New York: b (the higher score) gets the new day's one push, z waits on.
    taken = await take(conn, db, [decision("d", "ignore", 5, at=datetime(2026, 3, 2, 5, 30, tzinfo=UTC))])
    assert taken.scheduled == 1
    found = await pushes(db)
    assert found["b"][:2] == ("scheduled", date(2026, 3, 2))
    assert found["z"][:2] == ("waiting", None)
    assert "daily push budget of 1 reached for brand on 2026-03-02 (America/New_York)" in str(found["z"][2])
