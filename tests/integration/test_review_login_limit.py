"""The review queue's login limit, over HTTP (ASGI) against the real database: 429 after N failures."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from services.notifier.passwords import hash_password
from services.notifier.web.app import WebState, create_web_app
from shared.db import create_pool
from shared.settings import NotifierSettings, Settings

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def queue(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    notifier = NotifierSettings(
        users={"ana": SecretStr(hash_password(PASSWORD))},
        login_max_failures=3,
        login_max_failures_per_address=100,
        login_window_s=3.0,
    )
    config = settings.model_copy(update={"notifier": notifier})
    pool = await create_pool(config.postgres)
    app = create_web_app(config, WebState(pool=pool))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://queue.test"
        ) as client:
            yield client
    finally:
        await pool.close()


async def log_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    form = await client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert found, form.text
    return await client.post(
        "/login", data={"csrf": found.group(1), "username": username, "password": password, "back": "/"}
    )


async def test_repeated_wrong_passwords_get_429_and_the_right_one_works_after_the_window(
    queue: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    for _ in range(3):
        assert (await log_in(queue, "ana", "guess")).status_code == 401

    refused = await log_in(queue, "ana", PASSWORD)  # even the right password: not checked now
    assert refused.status_code == 429
    assert re.search(r"Too many failed logins\. Try again in [123] seconds?\.", refused.text)
    assert refused.headers["Retry-After"] in {"1", "2", "3"}
    assert (await log_in(queue, "ANA", "guess")).status_code == 429  # the same name in other letters
    # Another name from the same address is still counted on its own.
    assert (await log_in(queue, "bruno", "guess")).status_code == 401

    await asyncio.sleep(3.1)
    welcome = await log_in(queue, "ana", PASSWORD)
    assert welcome.status_code == 303
    assert welcome.headers["location"] == "/"
    assert (await queue.get("/")).status_code == 200  # logged in

    audit = await db.fetch("SELECT actor, action FROM review_audit ORDER BY at")
    assert [tuple(r) for r in audit] == [
        ("ana", "login_failed"),
        ("ana", "login_failed"),
        ("ana", "login_failed"),
        ("ana", "login_throttled"),  # "ANA" refused too, in the same window: recorded once
        ("bruno", "login_failed"),
        ("ana", "login"),
    ]


async def test_a_burst_of_parallel_guesses_gets_no_more_tries_than_the_limit(
    queue: httpx.AsyncClient,
) -> None:
    """Each attempt counts from the moment it passes the check, not after its password was hashed:
    twelve guesses sent at once get three answers of 401 and nine of 429."""
    form = await queue.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert found, form.text
    guesses = [
        queue.post("/login", data={"csrf": found.group(1), "username": "ana", "password": f"guess {n}"})
        for n in range(12)
    ]
    answers = sorted(r.status_code for r in await asyncio.gather(*guesses))
    assert answers == [401] * 3 + [429] * 9


async def test_refused_logins_are_audited_once_a_window_not_once_a_request(
    queue: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """A refused attempt costs no password check: a client can send thousands a minute, and the
    audit is append-only. One row per blocked name a window says as much as one per request."""
    for _ in range(3):
        assert (await log_in(queue, "ana", "guess")).status_code == 401
    for _ in range(40):
        assert (await log_in(queue, "ana", "guess")).status_code == 429
    await asyncio.sleep(3.1)
    for _ in range(3):
        assert (await log_in(queue, "ana", "guess")).status_code == 401
    assert (await log_in(queue, "ana", "guess")).status_code == 429
    rows = await db.fetch("SELECT action, count(*) AS n FROM review_audit GROUP BY action ORDER BY action")
    assert {r["action"]: r["n"] for r in rows} == {"login_failed": 6, "login_throttled": 2}
