"""`followback explain`'s trail as the churn detector left it in PostgreSQL: its ``retained`` notices
and alerts are in it, and events of one second come out in the detector's order, not by id."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from datetime import timedelta

import asyncpg
import pytest
from rich.console import Console

from followback.explain import TITLES, render, trail
from services.churn.app import create_app
from shared.settings import Settings
from tests.e2e.conftest import as_env
from tests.support import T0, event, eventually, publish_events

pytestmark = pytest.mark.integration

H = timedelta(hours=1)
WEEK = timedelta(days=7)  # the default quick-unfollow window: a follow standing this long is retained


async def detect(
    settings: Settings, db: asyncpg.Connection, stream: list[dict[str, object]], retained: int
) -> None:
    """Run the real churn detector over ``stream`` until it has processed it and emitted ``retained``."""
    async with create_app(settings).start_lifespan_context():
        await publish_events(settings, stream)
        done = await eventually(
            lambda: db.fetchrow(
                "SELECT (SELECT count(*) FROM churn_processed) AS processed, "
                "(SELECT count(*) FROM churn_retained) AS retained"
            ),
            lambda row: row["processed"] == len(stream) and row["retained"] >= retained,
            60,
        )
    assert (done["processed"], done["retained"]) == (len(stream), retained)


async def test_events_of_one_second_come_out_in_the_detector_order_not_by_id(
    settings: Settings, db: asyncpg.Connection
) -> None:
    stream = [  # one second, ids in the opposite order of what happened: a zero-length follow
        event("s4", "follow", "701", 0 * H),
        event("s3", "followed_back", "701", 0 * H),
        event("s2", "interaction", "701", 0 * H, interaction="like"),
        event("s1", "unfollow", "701", 0 * H),
    ]
    await detect(settings, db, stream, retained=0)

    glitch = await trail(db, "brand", "701")
    assert [e["event_id"] for e in glitch["events"]] == ["s4", "s3", "s2", "s1"]
    assert [e["type"] for e in glitch["events"]] == ["follow", "followed_back", "interaction", "unfollow"]
    assert {e["origin"] for e in glitch["events"]} == {"received"}


async def test_the_retained_notice_is_in_the_trail_after_the_events_of_its_second(
    settings: Settings, db: asyncpg.Connection
) -> None:
    due = T0 + WEEK
    stream = [  # a follow that stands a week: its retained notice falls on the second of a like
        event("r1", "follow", "702", 0 * H),
        event("zz", "interaction", "702", due, interaction="like"),
        event("r2", "interaction", "702", due + 2 * H, interaction="like"),  # moves the clock past it
    ]
    await detect(settings, db, stream, retained=1)

    loyal = await trail(db, "brand", "702")
    kinds = [(e["type"], e["occurred_at"], e["origin"]) for e in loyal["events"]]
    assert kinds == [
        ("follow", T0, "received"),
        ("interaction", due, "received"),
        ("retained", due, "detector"),  # same second as "zz", whose id sorts after "retained:..."
        ("interaction", due + 2 * H, "received"),
    ]
    notice = loyal["events"][2]
    assert notice["event_id"].startswith("retained:")
    assert notice["relationship"]["following"] is True
    assert loyal["alerts"] == []


async def test_a_quick_unfollow_shows_its_alert_beside_the_annotation_that_raised_it(
    settings: Settings, db: asyncpg.Connection
) -> None:
    stream = [event("q1", "follow", "703", 0 * H), event("q2", "unfollow", "703", 2 * H)]
    await detect(settings, db, stream, retained=0)

    found = await trail(db, "brand", "703")
    assert found["events"][1]["relationship"]["new_patterns"] == ["quick_unfollow"]
    [alert] = found["alerts"]
    assert alert["pattern"] == "quick_unfollow"
    assert (alert["event_id"], alert["raised_by_event"]) == ("q2", "q2")
    assert (alert["occurred_at"], alert["revision"], alert["withdrawn"]) == (T0 + 2 * H, 0, False)
    assert alert["dwell_seconds"] == 2 * 3600

    out = io.StringIO()
    render(found, Console(file=out, width=200))
    table = out.getvalue()
    for title in TITLES.values():  # every section, the empty ones as "none"
        assert title in table
    assert "review: none" in table
    assert "quick_unfollow" in table


async def test_explain_of_a_relationship_nothing_is_held_of_names_the_accounts_the_follower_has_one_with(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """It said "no events or decisions for F on A" alike for a follower of another brand account and
    for an id nobody has (a handle, a typo) (helper-75)."""
    await detect(settings, db, [event("o1", "follow", "702", 0 * H, account="brand_eu")], retained=0)

    def explain(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "followback", "explain", *args],
            env={**os.environ, **as_env(settings)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    elsewhere = await asyncio.to_thread(explain, "brand", "702")
    assert elsewhere.returncode == 1
    assert " ".join(elsewhere.stderr.split()) == (
        "error: no events or decisions for 702 on brand; 702 has some on: brand_eu"
    )
    nobody = await asyncio.to_thread(explain, "brand", "ana_roasts")
    assert nobody.returncode == 1
    assert " ".join(nobody.stderr.split()) == (
        "error: no events or decisions for ana_roasts on brand, nor on any account: check the id (the "
        "platform's user id, not the handle)"
    )
    assert (await asyncio.to_thread(explain, "brand_eu", "702")).returncode == 0
