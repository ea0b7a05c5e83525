"""A login that comes without the review queue's cookie says why. In production the cookie is
Secure: a browser keeps it from a queue served over plain HTTP, and every login said "The form
expired. Please try again." (helper-64), which no retry fixes."""

from __future__ import annotations

import re

import httpx
from pydantic import SecretStr

from services.notifier.web.app import WebState, create_web_app
from shared.settings import NotifierSettings, Settings

PRODUCTION = Settings(env="production", notifier=NotifierSettings(session_secret=SecretStr("s" * 32)))


async def _log_in(base_url: str, csrf: str | None = None) -> httpx.Response:
    """The login page, then its form posted back (with ``csrf`` instead of the page's when given),
    by a client that keeps cookies as a browser does: a Secure one is not sent over http."""
    transport = httpx.ASGITransport(app=create_web_app(PRODUCTION, WebState()))
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        page = (await client.get("/login")).text
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token is not None
        form = {"csrf": csrf or token.group(1), "username": "ana", "password": "a-long-password"}
        return await client.post("/login", data=form)


async def test_a_login_over_plain_http_in_production_says_to_use_https() -> None:
    answer = await _log_in("http://queue.brand.example")
    assert answer.status_code == 403
    assert "Your browser sent no session cookie: open the review queue over HTTPS" in answer.text
    assert "The form expired" not in answer.text


async def test_a_login_whose_form_expired_still_says_so() -> None:
    """The cookie came, the form's token is not its own (a form from before a restart, say)."""
    answer = await _log_in("https://queue.brand.example", csrf="from-an-older-page")
    assert answer.status_code == 403
    assert "The form expired. Please try again." in answer.text
