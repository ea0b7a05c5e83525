"""`followback explain` shows a relationship's whole trail; `followback forget` erases the person."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from services.notifier.actions import Action, perform
from shared.db import create_pool
from shared.settings import Settings
from tests.e2e.conftest import as_env
from tests.support import REAL_PERSON, event, eventually

pytestmark = pytest.mark.e2e

INFLUENCER = {**REAL_PERSON, "screen_name": "dataviz_daily", "followers_count": 85_000, "listed_count": 900}
H = timedelta(hours=1)
# What a follower wrote, with what a terminal library would read as markup and emoji codes.
MARKUP = "deal [bold]50% off[/bold] today [/i] :fire:"


async def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "followback", *args],
        env={**os.environ, **as_env(settings), "COLUMNS": "240"},  # tables wide enough not to wrap
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def explain(settings: Settings, follower: str) -> dict[str, Any]:
    done = await cli(settings, "explain", "brand", follower, "--json")
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


async def test_explain_shows_the_trail_of_a_churner_a_followed_back_customer_and_a_leaver(
    pipeline: Settings, db: asyncpg.Connection
) -> None:
    marked = event("x5", "interaction", "4002", 2 * H, interaction="direct_message")
    marked["interaction"]["text"] = MARKUP
    stream = [
        event("x1", "follow", "4001", 0 * H),
        event("x2", "follow", "4002", 0 * H),
        event("x3", "follow", "4003", 0 * H, INFLUENCER),
        event("x4", "interaction", "4002", 1 * H, interaction="mention"),
        marked,
        event("x6", "unfollow", "4001", 20 * H),
    ]
    url = f"http://127.0.0.1:{pipeline.http.ingest_port}/v1/events"
    async with httpx.AsyncClient() as client:
        assert (await client.post(url, json=stream)).status_code == 202
        await eventually(
            lambda: db.fetchval("SELECT count(*) FROM review_items WHERE follower_id IN ('4002', '4003')"),
            lambda n: n == 2,
        )
        pool = await create_pool(pipeline.postgres)
        try:
            async with pool.acquire() as conn:
                for action in (Action.FOLLOW_BACK, Action.ALWAYS_NOTIFY):
                    on = {
                        "account_id": "brand",
                        "follower_id": "4002",
                        "events_topic": pipeline.topic("events"),
                    }
                    done = await perform(conn, actor="rita", action=action, **on)
                    assert done.done, done.message
        finally:
            await pool.close()
        leave = event("x7", "unfollow", "4003", 200 * H, INFLUENCER)  # after 8 days: not churn
        assert (await client.post(url, json=leave)).status_code == 202
    await eventually(
        lambda: db.fetchval("SELECT count(*) FROM notifications WHERE status = 'retracted'"), lambda n: n == 1
    )

    churner = await explain(pipeline, "4001")
    assert [e["type"] for e in churner["events"]] == ["follow", "unfollow"]
    assert churner["events"][1]["relationship"]["patterns"] == ["quick_unfollow"]
    assert [d["class"] for d in churner["decisions"]] == ["worth_following", "churner"]
    assert churner["decisions"][1]["event_ids"] == ["x6"]
    assert [d["event_type"] for d in churner["decisions"]] == ["follow", "unfollow"]

    customer = await explain(pipeline, "4002")
    assert [e["event_id"] for e in customer["events"]][:3] == ["x2", "x4", "x5"]
    assert customer["events"][2]["interaction"]["text"] == MARKUP  # as written: not markup, no crash
    assert customer["decisions"][-1]["class"] == "high_value"
    assert customer["decisions"][-1]["scorer_version"]
    assert customer["notifications"][0]["status"] == "acted"  # pushed, then a person acted
    assert [(a["actor"], a["action"]) for a in customer["actions"]] == [
        ("rita", "follow_back"),
        ("rita", "always_notify"),
    ]
    assert customer["review"][0]["state"] == "followed_back"
    assert (customer["preferences"][0]["preference"], customer["preferences"][0]["set_by"]) == (
        "always",
        "rita",
    )

    # Without --json: every section the JSON has, the review and the preference among them.
    table = await cli(pipeline, "explain", "brand", "4002")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    for title in ("events and churn annotations", "decisions", "notifications", "review", "actions",
                  "preferences"):  # fmt: skip
        assert any(line.strip() == title for line in lines), f"no {title!r} section in:\n{table.stdout}"
    assert any({"followed_back", "rita"} <= set(line.split()) for line in lines)  # the review item's row
    assert any({"always", "rita"} <= set(line.split()) for line in lines)  # the preference's row

    leaver = await explain(pipeline, "4003")
    assert [d["class"] for d in leaver["decisions"]] == ["high_value", "withdrawn"]
    # The follow lasted the quick-unfollow window (7 days) before the unfollow: the detector's notice.
    assert [(e["type"], e["origin"]) for e in leaver["events"]] == [
        ("follow", "received"),
        ("retained", "detector"),
        ("unfollow", "received"),
    ]
    assert leaver["notifications"][0]["status"] == "retracted"


async def test_forget_erases_profiles_and_texts_but_keeps_the_decisions(
    pipeline: Settings, db: asyncpg.Connection
) -> None:
    stream = [
        event("f1", "follow", "5001", 0 * H),
        event("f2", "interaction", "5001", H, interaction="reply"),
    ]
    url = f"http://127.0.0.1:{pipeline.http.ingest_port}/v1/events"
    async with httpx.AsyncClient() as client:
        assert (await client.post(url, json=stream)).status_code == 202
    await eventually(lambda: db.fetchval("SELECT count(*) FROM decisions"), lambda n: n == 2)
    await eventually(lambda: db.fetchval("SELECT count(*) FROM review_items"), lambda n: n == 1)

    done = await cli(pipeline, "forget", "5001")
    assert done.returncode == 0, done.stderr
    changed = json.loads(done.stdout.strip().splitlines()[-1])["rows_changed"]
    assert changed["churn_processed"] == 2
    assert changed["decisions"] == 2

    # Again: nothing is left to change, and the request is recorded with what it changed.
    again = await cli(pipeline, "forget", "5001")
    assert again.returncode == 0, again.stderr
    assert set(json.loads(again.stdout.strip().splitlines()[-1])["rows_changed"].values()) == {0}
    # A handle, or an id nobody has: an error, and nothing recorded.
    for wrong in ("ana_roasts", "9999", " "):
        refused = await cli(pipeline, "forget", wrong)
        assert refused.returncode != 0
        assert "check the id" in refused.stderr or "give the follower's id" in refused.stderr
    assert await db.fetchval("SELECT array_agg(follower_id) FROM erasures") == ["5001", "5001"]

    trail = await explain(pipeline, "5001")
    assert len(trail["decisions"]) == 2  # the decisions and their classes stay
    assert {e["screen_name"] for e in trail["events"]} == {""}
    assert trail["events"][1]["interaction"] == {"kind": "reply", "text": ""}
    assert all(r["value"] is None for d in trail["decisions"] for r in d["reasons"])
    assert len(trail["erasures"]) == 2
    texts = await db.fetchval("SELECT string_agg(annotated::text, ' ') FROM churn_processed")
    assert "ana_roasts" not in texts
    assert "Coffee roaster" not in texts

    # A like from a minute before the follow, delivered now, revises both erased events'
    # annotations: nothing is decided on their blank profiles (an erasure never changes a
    # decision). A later event of the follower brings its profile again and is decided on it.
    scores = await db.fetch("SELECT decision_id, score FROM decisions ORDER BY decision_id")
    async with httpx.AsyncClient() as client:
        early = event("f0", "interaction", "5001", -timedelta(minutes=1), interaction="like")
        assert (await client.post(url, json=[early])).status_code == 202
        await eventually(lambda: db.fetchval("SELECT count(*) FROM churn_processed"), lambda n: n == 3)
        later = event("f3", "interaction", "5001", 2 * H, interaction="mention")
        assert (await client.post(url, json=[later])).status_code == 202
    await eventually(lambda: db.fetchval("SELECT count(*) FROM decisions"), lambda n: n >= 3)
    rows = await db.fetch("SELECT event_ids[1] AS event_id, revision FROM decisions ORDER BY event_ids[1]")
    assert [(r["event_id"], r["revision"]) for r in rows] == [("f1", 0), ("f2", 0), ("f3", 0)]
    assert (
        await db.fetch(
            "SELECT decision_id, score FROM decisions WHERE event_ids[1] <> 'f3' ORDER BY decision_id"
        )
        == scores
    )
    revised = await db.fetch("SELECT annotated FROM churn_processed WHERE event_id IN ('f1', 'f2')")
    assert all(json.loads(r["annotated"])["relationship"]["revision"] == 1 for r in revised)
    # Replay decides them on the log's original events, with the like: it says the differences
    # are of an erased follower.
    replayed = await cli(pipeline, "replay", "--follower", "5001", "--json")
    assert replayed.returncode == 0, replayed.stderr
    report = json.loads(replayed.stdout.strip().splitlines()[-1])
    assert report["differences"] >= 1
    assert all(d["erased"] for d in report["changed"])
    assert any("followers erased by followback forget" in w for w in report["warnings"])
