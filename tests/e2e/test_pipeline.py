"""End to end over HTTP: follows, unfollows and interactions in; decisions and pushes in PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import httpx
import pytest

from shared.settings import Settings
from tests.support import REAL_PERSON, SPAM_ACCOUNT, end_offsets, event, eventually

pytestmark = pytest.mark.e2e

INFLUENCER = {
    **REAL_PERSON,
    "screen_name": "dataviz_daily",
    "followers_count": 85_000,
    "listed_count": 900,
    "verified": True,
}


async def current_classes(conn: asyncpg.Connection) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT DISTINCT ON (follower_id) follower_id, class FROM decisions "
        "ORDER BY follower_id, version DESC"
    )
    return {row["follower_id"]: row["class"] for row in rows}


async def test_events_posted_over_http_become_decisions_and_pushes(
    pipeline: Settings, db: asyncpg.Connection
) -> None:
    url = f"http://127.0.0.1:{pipeline.http.ingest_port}/v1/events"
    h = timedelta(hours=1)
    stream = [
        event("h1", "follow", "1001", 0 * h),  # a customer who then engages
        event("h2", "follow", "1002", 0 * h, SPAM_ACCOUNT),
        event("h3", "follow", "1003", 1 * h),  # a follow-then-unfollow churner
        event("h4", "follow", "1004", 1 * h, INFLUENCER),
        event("h5", "follow", "1005", 2 * h),  # someone who just follows
        event("h6", "interaction", "1001", 3 * h, interaction="mention"),
        event("h7", "interaction", "1001", 5 * h, interaction="direct_message"),
        event("h8", "unfollow", "1003", 30 * h),
        event("h9", "unfollow", "1004", 200 * h),  # a pushed follower who leaves after 8 days
    ]
    async with httpx.AsyncClient() as client:
        first = await client.post(url, json=stream[:5])
        assert first.status_code == 202, first.text
        assert first.json() == {"accepted": 5}
        for one in stream[5:]:
            response = await client.post(url, json=one)  # single events too
            assert response.status_code == 202, response.text

    expected = {
        "1001": "high_value",
        "1002": "spam",
        "1003": "churner",
        "1004": "withdrawn",
        "1005": "worth_following",
    }
    classes = await eventually(lambda: current_classes(db), lambda got: got == expected)
    assert classes == expected

    notifications = await eventually(
        lambda: db.fetch("SELECT follower_id, status FROM notifications ORDER BY follower_id"),
        lambda rows: (
            [(r["follower_id"], r["status"]) for r in rows] == [("1001", "pending"), ("1004", "retracted")]
        ),
    )
    assert [(r["follower_id"], r["status"]) for r in notifications] == [
        ("1001", "pending"),
        ("1004", "retracted"),
    ]
    engaged = await db.fetch(
        "SELECT version, class, event_ids FROM decisions WHERE follower_id = '1001' ORDER BY version"
    )
    assert engaged[0]["class"] == "worth_following"
    assert engaged[-1]["class"] == "high_value"
    assert engaged[-1]["event_ids"][0] in {"h6", "h7"}


async def test_bad_input_gets_a_4xx_naming_the_field_and_publishes_nothing(
    pipeline: Settings,
) -> None:
    url = f"http://127.0.0.1:{pipeline.http.ingest_port}/v1/events"
    good = event("b1", "follow", "2001", timedelta(0))
    bad = event("b2", "follow", "2002", timedelta(0))
    bad["follower"]["followers_count"] = "many"
    before = await end_offsets(pipeline, pipeline.topic("events"))
    async with httpx.AsyncClient() as client:
        rejected = await client.post(url, json=[good, bad])
        not_json = await client.post(url, content=b"{not json")
        wrong_type = await client.post(url, json={**good, "type": "retweet"})

    assert rejected.status_code == 422
    assert rejected.json()["errors"] == [
        {
            "index": 1,
            "field": "follower.followers_count",
            "message": "Input should be a valid integer, unable to parse string as an integer",
        }
    ]
    assert not_json.status_code == 400
    assert wrong_type.status_code == 422
    assert wrong_type.json()["errors"][0]["field"] == "type"
    assert await end_offsets(pipeline, pipeline.topic("events")) == before
