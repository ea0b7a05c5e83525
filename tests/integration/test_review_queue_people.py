"""The review queue as its people use it, over HTTP (ASGI) against the real database: whose session
still counts, what a page older than the decision may still do, and what an auditor reads of it."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import httpx
import pytest

from followback.explain import SECTIONS
from services.notifier import messages, users
from services.notifier.web.app import WebState, create_web_app
from shared.settings import Settings
from tests.notifier_support import configure, decision, intake_now, record
from tests.support import T0

pytestmark = pytest.mark.integration
PASSWORD = "a long passphrase for ana"


@pytest.fixture
async def client(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    app = create_web_app(settings, WebState(pool=pool))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://queue.test") as c:
        yield c


async def log_in(client: httpx.AsyncClient, username: str, password: str) -> str:
    """Log in; returns the session's CSRF token, read from the queue page as a browser would."""
    form = await client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    credentials = {"csrf": token.group(1), "username": username, "password": password}
    done = await client.post("/login", data=credentials)
    assert done.status_code == 303, done.text
    page = await client.get("/")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def press(client: httpx.AsyncClient, token: str, action: str, follower: str) -> httpx.Response:
    return await client.post(
        "/actions",
        data={"csrf": token, "action": action, "account_id": "brand", "follower_id": follower, "back": "/"},
    )


@pytest.mark.parametrize("change", ["removed", "new password"])
async def test_a_removed_user_or_one_given_a_new_password_is_logged_out_at_once(
    client: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, db: asyncpg.Connection, change: str
) -> None:
    await users.add(db, "ana", PASSWORD, "test")
    await record(db, [(decision("1", "high_value", 80), 1)])
    await intake_now(pool, settings, [decision("1", "high_value", 80)])
    token = await log_in(client, "ana", PASSWORD)
    if change == "removed":
        await users.remove(db, "ana")
    else:
        await users.add(db, "ana", "another long passphrase", "admin")  # e.g. after a leaked password

    page = await client.get("/")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
    refused = await press(client, token, "mark_spam", "1")
    assert refused.status_code == 401
    assert await db.fetchval("SELECT state FROM review_items WHERE follower_id = '1'") == "open"
    assert await db.fetchval("SELECT count(*) FROM review_audit WHERE action = 'mark_spam'") == 0


async def test_a_user_who_stays_keeps_their_session(
    client: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, db: asyncpg.Connection
) -> None:
    await users.add(db, "ana", PASSWORD, "test")
    await users.add(db, "bo", "bo's own long passphrase", "test")
    await record(db, [(decision("1", "high_value", 80), 1)])
    await intake_now(pool, settings, [decision("1", "high_value", 80)])
    token = await log_in(client, "ana", PASSWORD)
    await users.remove(db, "bo")  # someone else leaves
    done = await press(client, token, "dismiss", "1")
    assert done.status_code == 303
    assert await db.fetchval("SELECT decided_by FROM review_items WHERE follower_id = '1'") == "ana"


@pytest.mark.parametrize("now", ["withdrawn", "churner"])
async def test_follow_back_from_a_page_older_than_the_follower_leaving_is_refused_and_says_why(
    client: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, db: asyncpg.Connection, now: str
) -> None:
    await configure(db, "brand", follow_back_webhook_url="http://127.0.0.1:9/follow")
    await users.add(db, "ana", PASSWORD, "test")
    pushed = decision("1", "high_value", 80)
    left = decision("1", now, 80, version=2, at=T0 + timedelta(hours=1))
    await record(db, [(pushed, 1)])
    await intake_now(pool, settings, [pushed])
    token = await log_in(client, "ana", PASSWORD)  # the page shows Follow back for @user1
    await record(db, [(left, 2)])
    await intake_now(pool, settings, [left])  # meanwhile they left: the push is retracted

    refused = await press(client, token, "follow_back", "1")
    assert refused.status_code == 303
    page = await client.get("/", params={"class": "any"})
    assert f"@user1 was not followed back: their decision is now {now}" in page.text
    assert 'value="follow_back"' not in page.text  # no such button on the fresh page
    item = await db.fetchrow("SELECT state, decided_by FROM review_items WHERE follower_id = '1'")
    assert tuple(item) == ("open", None)
    assert await db.fetchval("SELECT count(*) FROM review_audit WHERE action = 'follow_back'") == 0
    assert await db.fetchval("SELECT count(*) FROM deliveries WHERE kind IN ('event', 'follow_back')") == 0

    dismissed = await press(client, token, "dismiss", "1")  # taking them off the list still works
    assert dismissed.status_code == 303
    assert await db.fetchval("SELECT state FROM review_items WHERE follower_id = '1'") == "dismissed"


async def test_a_pushed_follower_whose_score_fell_below_the_thresholds_can_still_be_followed_back(
    client: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, db: asyncpg.Connection
) -> None:
    """helper-47: a decision of class ignore retracts no push (the person was asked to decide and
    still is), yet Follow back was refused for every class but high value and worth following."""
    await users.add(db, "ana", PASSWORD, "test")
    pushed = decision("1", "high_value", 80)
    lower = decision("1", "ignore", 40, version=2, at=T0 + timedelta(hours=1))
    await record(db, [(pushed, 1)])
    await intake_now(pool, settings, [pushed])
    token = await log_in(client, "ana", PASSWORD)
    await record(db, [(lower, 2)])
    await intake_now(pool, settings, [lower])
    page = await client.get("/", params={"class": "any"})
    assert 'value="follow_back"' in page.text
    done = await press(client, token, "follow_back", "1")
    assert done.status_code == 303
    assert await db.fetchval("SELECT state FROM review_items WHERE follower_id = '1'") == "followed_back"


async def test_always_notify_puts_a_follower_waiting_for_the_budget_first_and_explain_says_why(
    client: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, db: asyncpg.Connection
) -> None:
    await configure(db, "brand", daily_push_budget=1)
    await users.add(db, "ana", PASSWORD, "test")
    day_one = [decision("a", "high_value", 90), decision("b", "high_value", 75, at=T0 + timedelta(minutes=1))]
    await record(db, [(d, 1) for d in day_one])
    await intake_now(pool, settings, day_one)  # a is pushed, b waits for room
    token = await log_in(client, "ana", PASSWORD)
    assert (await press(client, token, "always_notify", "b")).status_code == 303

    day_two = decision("c", "high_value", 95, at=T0 + timedelta(days=1))
    await record(db, [(day_two, 1)])
    await intake_now(pool, settings, [day_two])  # one slot on day two: b's, whom a person asked for
    rows = await db.fetch("SELECT follower_id, push FROM notifications ORDER BY follower_id")
    assert [tuple(r) for r in rows] == [("a", "scheduled"), ("b", "scheduled"), ("c", "waiting")]

    # (the rows the support module stores hold no churn annotation, which the whole trail reads)
    (notification,) = await db.fetch(SECTIONS["notifications"], "brand", "c")
    assert notification["push"] == "waiting"
    assert notification["suppressed_reason"].startswith("daily push budget of 1 reached for brand on ")


async def test_retry_of_a_dead_push_goes_to_the_webhook_the_brand_has_now(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """The webhook died; someone set the brand's new one and pressed Retry on the queue page."""
    await configure(db, "brand", slack_webhook_url="http://127.0.0.1:9/gone")
    await users.add(db, "ana", PASSWORD, "test")
    await db.execute(
        """
        INSERT INTO deliveries (idempotency_key, account_id, follower_id, channel, kind, target, payload)
        VALUES ('push:x:slack', 'brand', '1', 'slack', 'push', 'http://127.0.0.1:9/gone', '{}'),
               ('event:y', 'brand', '1', 'events', 'event', 't.events', '{}')
        """
    )
    await db.execute("UPDATE deliveries SET status = 'dead', attempts = 8")
    await configure(db, "brand", slack_webhook_url="http://127.0.0.1:9/new")
    token = await log_in(client, "ana", PASSWORD)
    for delivery_id in await db.fetch("SELECT delivery_id FROM deliveries ORDER BY delivery_id"):
        done = await client.post(
            "/deliveries/retry", data={"csrf": token, "delivery_id": str(delivery_id[0]), "back": "/"}
        )
        assert done.status_code == 303
    found = await db.fetch("SELECT channel, status, attempts, target FROM deliveries ORDER BY delivery_id")
    assert [tuple(r) for r in found] == [
        ("slack", "retrying", 0, "http://127.0.0.1:9/new"),
        ("events", "retrying", 0, "t.events"),
    ]
    audit = await db.fetch(
        "SELECT actor, account_id, follower_id FROM review_audit WHERE action = 'retry_delivery'"
    )
    assert [tuple(r) for r in audit] == [
        ("ana", "brand", "1")
    ] * 2  # under the relationship: explain shows it


async def test_the_push_of_an_always_notify_follower_says_what_they_are_and_its_link_shows_them(
    client: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, db: asyncpg.Connection
) -> None:
    await configure(db, "brand", slack_webhook_url="http://127.0.0.1:9/hook")
    await users.add(db, "ana", PASSWORD, "test")
    first = decision("1", "worth_following", 60)
    await record(db, [(first, 1)])
    await intake_now(pool, settings, [first])  # worth following: queued, not pushed
    token = await log_in(client, "ana", PASSWORD)
    assert (await press(client, token, "always_notify", "1")).status_code == 303
    again = decision("1", "worth_following", 64, version=2, at=T0 + timedelta(hours=1))
    await record(db, [(again, 2)])
    await intake_now(pool, settings, [again])  # now pushed: a person asked to hear of them

    payload = await db.fetchval("SELECT payload::text FROM deliveries WHERE kind = 'push'")
    text = messages.push_text(json.loads(payload))
    assert text.startswith(
        "Follower of brand you always want to hear about: @user1 (Ana Costa), worth following"
    )
    link = re.search(r"Decide in the review queue: http://queue\.example(/\S*)", text)
    assert link, text
    page = await client.get(link.group(1))  # what the person sees when they follow the link
    assert 'data-follower="1"' in page.text


async def test_an_erased_follower_is_shown_as_erased_not_as_an_empty_profile(
    client: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, db: asyncpg.Connection
) -> None:
    """helper-44: after forget the row read "0 followers 0 following 0 posts 0 lists" and every
    reason's value "None", as if the follower had those."""
    from followback.forget import forget

    await users.add(db, "ana", PASSWORD, "test")
    kept, gone = decision("1", "high_value", 80), decision("2", "high_value", 81)
    await record(db, [(kept, 1), (gone, 1)], followers_count=1234)
    await intake_now(pool, settings, [kept, gone])
    await log_in(client, "ana", PASSWORD)
    await forget(db, "2", "test")

    page = (await client.get("/?class=any&state=any")).text
    items = dict(re.findall(r'data-follower="(\d+)">(.*?)</li>', page, flags=re.S))
    assert "1,234" in items["1"]
    assert "profile erased" not in items["1"]
    assert "profile erased" in items["2"]
    assert "followers</span>" not in items["2"]
    assert "<td>None</td>" not in page
