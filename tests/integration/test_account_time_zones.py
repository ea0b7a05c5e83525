"""A brand's own time zone on the real database: its push budget resets at its midnight, not UTC's,
and its daily digest runs midnight to midnight there; `account set --timezone` records or refuses it.

The notifier's intake runs in process on the test's database (as the service does, one transaction
a batch); nothing here reads the wall clock.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import asyncpg
import pytest
from typer.testing import CliRunner

from followback.accounts_cli import app as accounts_app
from services.notifier import intake
from shared import accounts
from shared.decisions import Decision
from shared.settings import NotifierSettings, Settings
from tests.notifier_support import configure, decision, record

pytestmark = pytest.mark.integration
CONFIG = intake.IntakeSettings(notifier=NotifierSettings(), queue_url="http://queue")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def made_under(d: Decision, version: int, account: str = "brand") -> Decision:
    """The decision as the scorer labels one made under the account's configuration ``version``."""
    return d.model_copy(update={"config_version": f"1+ab12cd34/{account}@v{version}"})


async def take(
    conn: asyncpg.Connection,
    db: asyncpg.Connection,
    follower: str,
    score: float,
    at: datetime,
    version: int = 1,
) -> None:
    """A high-value follower's decision made under the account's configuration ``version``: the
    scorer records it, then the notifier takes it in (a batch of its own)."""
    d = made_under(decision(follower, "high_value", score, at=at), version)
    await record(db, [(d, 1)])
    async with conn.transaction():
        await intake.record(conn, [d], CONFIG)


async def pushes(db: asyncpg.Connection) -> dict[str, tuple[str, date | None, str | None]]:
    rows = await db.fetch("SELECT follower_id, push, push_day, suppressed_reason FROM notifications")
    return {r["follower_id"]: (r["push"], r["push_day"], r["suppressed_reason"]) for r in rows}


async def test_the_budget_resets_at_the_brands_midnight_not_utcs(
    db: asyncpg.Connection, conn: asyncpg.Connection
) -> None:
    await configure(db, "brand", daily_push_budget=1, timezone="America/New_York")
    # A later change of zone does not move the days of decisions made under version 1.
    await configure(db, "brand", daily_push_budget=1, timezone="Asia/Tokyo")

    # 18:30 in New York on March 1st (23:30 UTC): the day's one push.
    await take(conn, db, "z", 70, utc(2026, 3, 1, 23, 30))
    # 22:00 in New York, already March 2nd in UTC: still New York's March 1st, whose push is spent.
    await take(conn, db, "a", 90, utc(2026, 3, 2, 3))
    found = await pushes(db)
    assert found["z"][:2] == ("scheduled", date(2026, 3, 1))
    assert found["a"][:2] == ("waiting", None)
    assert "daily push budget of 1 reached for brand on 2026-03-01 (America/New_York)" in str(found["a"][2])

    # 00:10 in New York on March 2nd: a new day, the waiting best score gets its push.
    await take(conn, db, "c", 80, utc(2026, 3, 2, 5, 10))
    found = await pushes(db)
    assert found["a"][:2] == ("scheduled", date(2026, 3, 2))
    assert found["c"][0] == "waiting"
    assert "on 2026-03-02 (America/New_York)" in str(found["c"][2])
    # Under version 2, 00:10 UTC on March 2nd is 09:10 in Tokyo: March 2nd, whose one push is
    # spent: a date's budget is one, whichever zone named the pushes counted against it.
    await take(conn, db, "t", 60, utc(2026, 3, 2, 0, 10), 2)
    assert (await pushes(db))["t"][0] == "waiting"
    assert "on 2026-03-02 (Asia/Tokyo)" in str((await pushes(db))["t"][2])
    days = await db.fetch(
        "SELECT push_day, count(*) FROM notifications WHERE push = 'scheduled' GROUP BY 1 ORDER BY 1"
    )
    assert [(r["push_day"], r["count"]) for r in days] == [(date(2026, 3, 1), 1), (date(2026, 3, 2), 1)]


async def test_a_daily_digest_runs_from_the_brands_midnight_and_says_its_day(
    db: asyncpg.Connection, conn: asyncpg.Connection
) -> None:
    await configure(db, "brand", slack_webhook_url="https://hooks.example/T1", digest="daily",
                    timezone="America/New_York")  # fmt: skip
    # 20:00 and 23:00 on March 1st in New York (01:00 and 04:00 UTC on March 2nd): one day, one digest.
    await take(conn, db, "a", 90, utc(2026, 3, 2, 1))
    await take(conn, db, "b", 80, utc(2026, 3, 2, 4))
    assert await db.fetchval("SELECT count(*) FROM deliveries WHERE kind = 'digest'") == 0
    # 00:06 on March 2nd there: New York's March 1st has ended (plus the 5-minute grace).
    await take(conn, db, "c", 85, utc(2026, 3, 2, 5, 6))
    rows = await db.fetch(
        "SELECT idempotency_key, payload::text AS payload FROM deliveries WHERE kind = 'digest'"
    )
    assert [r["idempotency_key"] for r in rows] == ["digest:brand:slack:20260301T0500Z-20260302T0500Z"]
    payload = json.loads(rows[0]["payload"])
    assert payload["period"] == "2026-03-01 America/New_York"
    assert [f["follower_id"] for f in payload["followers"]] == ["a", "b"]
    entry = await db.fetchrow("SELECT period_start, period_end FROM digest_entries WHERE follower_id = 'c'")
    assert (entry["period_start"], entry["period_end"]) == (utc(2026, 3, 2, 5), utc(2026, 3, 3, 5))


def test_account_set_records_a_time_zone_and_refuses_an_unknown_one(settings: Settings) -> None:
    dsn = settings.postgres.dsn.get_secret_value()
    runner = CliRunner(env={"FOLLOWBACK_POSTGRES__DSN": dsn})
    bad = runner.invoke(accounts_app, ["set", "brand", "--timezone", "Europe/Pariss"])
    assert bad.exit_code == 2
    assert "--timezone" in bad.output
    assert "Europe/Pariss" in bad.output
    good = runner.invoke(accounts_app, ["set", "brand", "--timezone", "Europe/Paris"])
    assert good.exit_code == 0, good.output
    shown = runner.invoke(accounts_app, ["show", "brand"])
    assert json.loads(shown.output)["timezone"] == "Europe/Paris"
    # Another change keeps it.
    assert runner.invoke(accounts_app, ["set", "brand", "--daily-push-budget", "9"]).exit_code == 0
    assert json.loads(runner.invoke(accounts_app, ["show", "brand"]).output)["timezone"] == "Europe/Paris"
    assert accounts.zone_named("Europe/Paris") is accounts.zone_named("Europe/Paris")
