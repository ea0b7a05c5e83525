"""The review queue in headless Chromium: log in, review, act, and find the actions in PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, Page, expect

from shared.events import EventType
from tests.browser.conftest import PASSWORD, Served
from tests.notifier_support import configure, decision, interaction, record
from tests.receivers import WebhookReceiver
from tests.support import T0, eventually, publish, read_topic

pytestmark = pytest.mark.browser
DOCS = Path(__file__).resolve().parents[2] / "docs"
INJECTION = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> roaster'


async def seed(served: Served, db: asyncpg.Connection) -> None:
    """Three high-value followers (one with a hostile bio), one worth following, as the scorer sends them."""
    people = [
        ("101", "high_value", 92, {"name": "Ana Costa", "description": INJECTION}),
        ("102", "high_value", 85, {"name": "Bruno Lima", "description": "Espresso nerd, Lisbon."}),
        ("103", "high_value", 77, {"name": "Carla Dias", "description": "Barista and cyclist."}),
        ("104", "worth_following", 60, {"name": "Dora Reis", "description": "Tea, mostly."}),
    ]
    decisions = []
    for follower, cls, score, profile in people:
        made = decision(follower, cls, score, at=T0 + timedelta(minutes=int(follower) - 100))
        await record(db, [(made, 1)], **profile)
        decisions.append(made)
    await interaction(db, "101", "mention", "@brand the new roast is great", T0 + timedelta(hours=2))
    await interaction(db, "101", "direct_message", "Do you ship to Porto?", T0 + timedelta(hours=3))
    settings = served.settings
    await publish(
        settings, settings.topic("decisions"), [d.model_dump_json(by_alias=True).encode() for d in decisions]
    )
    await eventually(lambda: db.fetchval("SELECT count(*) FROM review_items"), lambda n: n == 4, timeout=30)


async def log_in(page: Page, served: Served, password: str = PASSWORD) -> None:
    await page.goto(served.url + "/")
    await expect(page).to_have_url(f"{served.url}/login?back=%2F")
    await page.fill("input[name=username]", "ana")
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


async def test_log_in_review_the_reasons_follow_back_and_dismiss(
    served: Served, db: asyncpg.Connection, browser: Browser
) -> None:
    with WebhookReceiver() as tooling:
        await configure(db, "brand", follow_back_webhook_url=tooling.url("/follow"))
        await seed(served, db)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})

        await log_in(page, served, password="not the password")
        await expect(page.locator(".error")).to_have_text("Wrong user name or password.")
        await log_in(page, served)
        await expect(page).to_have_url(served.url + "/")

        items = page.locator("li.item")
        await expect(items).to_have_count(3)  # high value only; the worth-following one waits under a filter
        handles = await page.locator("li.item .handle").all_inner_texts()
        assert handles == ["@user101", "@user102", "@user103"]  # highest score first

        first = page.locator('li.item[data-follower="101"]')
        # The hostile bio is shown as text and never runs.
        await expect(first.locator(".bio")).to_contain_text("<script>window.__pwned = 1</script>")
        assert await page.evaluate("window.__pwned") is None
        await expect(first.locator(".interactions")).to_contain_text("2 interactions with the brand")
        await expect(first.locator(".interactions")).to_contain_text("Do you ship to Porto?")

        reasons = first.locator("details.reasons")
        await expect(reasons.locator("table")).to_be_hidden()
        await reasons.locator("summary").click()
        await expect(reasons.locator("table")).to_be_visible()
        await expect(reasons.locator("tbody tr")).to_have_count(4)
        await expect(reasons.locator("tbody tr").first).to_contain_text("engagement")
        await page.screenshot(path=str(DOCS / "review-queue-desktop.png"), full_page=True)

        await first.locator("button[value=follow_back]").click()
        await expect(page.locator(".notice")).to_have_text("@user101: follow back recorded")
        await page.locator('li.item[data-follower="103"] button[value=dismiss]').click()
        await expect(page.locator(".notice")).to_have_text("@user103: dismiss recorded")
        await expect(page.locator("li.item .handle")).to_have_text(["@user102"])

        await page.select_option("select[name=class]", "worth_following")
        await page.click(".filters button[type=submit]")
        await expect(page.locator("li.item .handle")).to_have_text(["@user104"])

        await page.goto(served.url + "/?state=any&class=any")
        await expect(page.locator('li.item[data-follower="101"] .decided')).to_contain_text(
            "followed back by ana"
        )

        audit = await db.fetch(
            "SELECT actor, action, follower_id FROM review_audit WHERE action NOT LIKE 'login%' ORDER BY at"
        )
        assert [tuple(r) for r in audit] == [("ana", "follow_back", "101"), ("ana", "dismiss", "103")]
        logins = await db.fetch(
            "SELECT actor, action FROM review_audit WHERE action LIKE 'login%' ORDER BY at"
        )
        assert [tuple(r) for r in logins] == [("ana", "login_failed"), ("ana", "login")]
        states = await db.fetch(
            "SELECT follower_id, state, decided_by FROM review_items ORDER BY follower_id"
        )
        assert [tuple(r) for r in states] == [
            ("101", "followed_back", "ana"),
            ("102", "open", None),
            ("103", "dismissed", "ana"),
            ("104", "open", None),
        ]
        # The brand's own tooling is told (followback never follows anyone itself).
        await eventually(lambda: _count(tooling), lambda n: n >= 1)
        assert [p.body["follower_id"] for p in tooling.delivered("/follow")] == ["101"]
        assert tooling.delivered("/follow")[0].body["decided_by"] == "ana"

    if hasattr(EventType, "FOLLOWED_BACK"):
        records = await read_topic(served.settings, served.settings.topic("events"), 1)
        event = json.loads(records[0].value)
        assert (event["type"], event["account_id"], event["follower"]["id"]) == (
            "followed_back",
            "brand",
            "101",
        )
        assert event["follower"]["name"] == "Ana Costa"


async def _count(receiver: WebhookReceiver) -> int:
    return len(receiver.delivered("/follow"))


async def test_the_queue_fits_a_phone_screen(
    served: Served, db: asyncpg.Connection, browser: Browser
) -> None:
    await seed(served, db)
    page = await browser.new_page(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    await log_in(page, served)
    await expect(page.locator("li.item")).to_have_count(3)
    await page.locator('li.item[data-follower="101"] details.reasons summary').click()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    box = await page.locator('li.item[data-follower="101"] button[value=follow_back]').bounding_box()
    assert box is not None
    assert box["height"] >= 32  # big enough for a thumb
    await page.screenshot(path=str(DOCS / "review-queue-phone.png"), full_page=False)


async def test_missing_session_and_forged_forms_are_refused(
    served: Served, db: asyncpg.Connection, browser: Browser
) -> None:
    await seed(served, db)
    form = {"account_id": "brand", "follower_id": "102", "action": "follow_back"}
    anonymous = await browser.new_context()
    no_session = await anonymous.request.post(served.url + "/actions", form=form, max_redirects=0)
    assert no_session.status == 401
    page_anon = await anonymous.new_page()
    await page_anon.goto(served.url + "/?class=any")
    await expect(page_anon).to_have_url(served.url + "/login?back=%2F%3Fclass%3Dany")
    no_token = await anonymous.request.post(
        served.url + "/login", form={"username": "ana", "password": PASSWORD}, max_redirects=0
    )
    assert no_token.status == 403  # a login form needs its token too

    context = await browser.new_context()
    page = await context.new_page()
    await log_in(page, served)
    await expect(page.locator("li.item")).to_have_count(3)
    missing = await page.request.post(served.url + "/actions", form=form, max_redirects=0)
    assert missing.status == 403
    wrong = await page.request.post(served.url + "/actions", form={**form, "csrf": "guess"}, max_redirects=0)
    assert wrong.status == 403

    # A page on another site posting a hidden form at the queue while ana is logged in.
    forged = await context.new_page()
    await forged.set_content(
        f'<form method="post" action="{served.url}/actions">'
        + "".join(f'<input name="{k}" value="{v}">' for k, v in form.items())
        + "</form>"
    )
    async with forged.expect_response(f"{served.url}/actions") as answer:
        await forged.evaluate("document.forms[0].submit()")
    assert (await answer.value).status in {401, 403}

    assert await db.fetchval("SELECT count(*) FROM review_audit WHERE action = 'follow_back'") == 0
    assert await db.fetchval("SELECT state FROM review_items WHERE follower_id = '102'") == "open"
