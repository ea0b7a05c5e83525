"""The notifier against real receivers: an HTTP server for Slack-compatible webhooks, aiosmtpd for mail.

Decisions are recorded and published as the scorer does; the notifier runs in process on the real
broker and database, and what arrives at the receivers is what a person would get.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest
from prometheus_client import REGISTRY

from services.notifier.actions import Action, perform
from services.notifier.app import create_app
from services.notifier.channels.email import message_id
from shared.db import create_pool
from shared.metrics import PUSHES_WAITING_FOR_BUDGET as PUSHES_WAITING
from shared.settings import NotifierSettings, Settings
from tests.notifier_support import configure, decision, send
from tests.receivers import SmtpReceiver, WebhookReceiver
from tests.support import T0, eventually

pytestmark = pytest.mark.integration
DAY = timedelta(days=1)


def with_notifier(settings: Settings, smtp: SmtpReceiver | None = None, **options: object) -> Settings:
    values: dict[str, object] = {
        "smtp_host": "127.0.0.1" if smtp else None,
        "smtp_port": smtp.port if smtp else 25,
        "retry_base_s": 0.1,
        "retry_cap_s": 0.5,
        "poll_interval_s": 0.1,
        "send_timeout_s": 3,
    }
    notifier = NotifierSettings.model_validate({**values, **options})
    return settings.model_copy(update={"notifier": notifier})


def counted(channel: str) -> dict[str, float]:
    """``followback_deliveries_total`` of a channel, by outcome (counters only grow: compare two)."""
    return {
        outcome: REGISTRY.get_sample_value(
            "followback_deliveries_total", {"channel": channel, "outcome": outcome}
        )
        or 0.0
        for outcome in ("sent", "retrying", "dead", "unknown")
    }


def since(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {
        outcome: after[outcome] - before[outcome] for outcome in after if after[outcome] != before[outcome]
    }


def waiting_for_budget(account: str) -> float | None:
    return REGISTRY.get_sample_value("followback_pushes_waiting_for_budget", {"account": account})


async def brand_figure() -> float | None:
    """The brand's pushes waiting for budget room as exported (for :func:`eventually`)."""
    return waiting_for_budget("brand")


async def waiting_pushes(db: asyncpg.Connection) -> int:
    """The pushes waiting for budget room, as the database holds them."""
    return int(await db.fetchval("SELECT count(*) FROM notifications WHERE push = 'waiting'"))


async def deliveries(db: asyncpg.Connection) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT follower_id, channel, kind, status, attempts, last_error FROM deliveries "
        "ORDER BY follower_id, channel, kind"
    )


async def test_only_high_value_followers_are_pushed_once_on_each_channel(
    settings: Settings, db: asyncpg.Connection
) -> None:
    with WebhookReceiver() as slack, SmtpReceiver() as smtp:
        await configure(db, "brand", slack_webhook_url=slack.url(), email_to=["social@brand.example"])
        config = with_notifier(settings, smtp)
        async with create_app(config).start_lifespan_context():
            await send(
                config,
                db,
                [
                    (decision("1", "worth_following", 60), 1),
                    (decision("1", "high_value", 78, version=2), 2),
                    (decision("1", "high_value", 88, version=3), 3),  # a new version: no second push
                    (decision("2", "spam", 5), 1),
                    (decision("3", "worth_following", 62), 1),
                    (decision("4", "high_value", 91), 1),
                ],
            )
            await eventually(lambda: _sent(db), lambda n: n >= 4)
            await eventually(lambda: _sent(db), lambda n: n > 4, timeout=1.5)  # nothing more comes

        pushed = sorted(p.body["text"].split(":")[1].split(",")[0].strip() for p in slack.delivered())
        assert pushed == ["@user1 (Ana Costa)", "@user4 (Ana Costa)"]
        assert len({p.key for p in slack.delivered()}) == 2
        assert sorted(m["Subject"] for m in smtp.mails) == [
            "[brand] worth following back: @user1 (Ana Costa)",
            "[brand] worth following back: @user4 (Ana Costa)",
        ]
        body = smtp.mails[0].get_payload(decode=True).decode()  # type: ignore[union-attr]
        assert "Why: engagement +35, topic_match +20, active +10." in body
        assert "http://127.0.0.1:" in body
    rows = await db.fetch("SELECT follower_id, status, push FROM notifications ORDER BY follower_id")
    assert [tuple(r) for r in rows] == [("1", "pending", "scheduled"), ("4", "pending", "scheduled")]
    queue = await db.fetch("SELECT follower_id, class, version FROM review_items ORDER BY follower_id")
    # The queue shows worth-following followers too (never pushed), with each one's current version.
    assert [tuple(r) for r in queue] == [
        ("1", "high_value", 3),
        ("3", "worth_following", 1),
        ("4", "high_value", 1),
    ]


async def _sent(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM deliveries WHERE status = 'sent'"))


async def test_the_daily_budget_pushes_the_highest_scores_and_the_rest_wait_with_a_reason(
    settings: Settings, db: asyncpg.Connection
) -> None:
    with WebhookReceiver() as slack:
        await configure(db, "brand", slack_webhook_url=slack.url(), daily_push_budget=2)
        config = with_notifier(settings)
        PUSHES_WAITING.clear()  # (no other test's figure: this one's allocations must set it)
        day_one = [
            (decision(f, "high_value", score, at=T0 + timedelta(minutes=i)), 1)
            for i, (f, score) in enumerate([("a", 75), ("b", 95), ("c", 80), ("d", 90)])
        ]
        await send(config, db, day_one)  # before the notifier starts: one batch
        async with create_app(config).start_lifespan_context():
            await eventually(lambda: _sent(db), lambda n: n >= 2)
            waiting = await db.fetch(
                "SELECT follower_id, suppressed_reason FROM notifications WHERE push = 'waiting' "
                "ORDER BY follower_id"
            )
            assert [r["follower_id"] for r in waiting] == ["a", "c"]
            assert all("daily push budget of 2 reached for brand on 2026-03-01" in r[1] for r in waiting)
            assert waiting_for_budget("brand") == 2  # (ops are told: deploy/prometheus/alerts.yml)

            # The next day has room for two: yesterday's best waiting one beats today's lower score.
            await send(config, db, [(decision("e", "high_value", 72, at=T0 + DAY), 1)])
            await eventually(lambda: _sent(db), lambda n: n >= 4)
            await eventually(lambda: _sent(db), lambda n: n > 4, timeout=1.5)

    order = [p.body["text"].split("@")[1].split(" ")[0] for p in slack.delivered()]
    assert sorted(order[:2]) == ["userb", "userd"]
    assert sorted(order[2:]) == ["usera", "userc"]
    per_day = await db.fetch(
        "SELECT push_day, count(*) FROM notifications WHERE push = 'scheduled' GROUP BY 1 ORDER BY 1"
    )
    assert [r["count"] for r in per_day] == [2, 2]
    still = await db.fetchrow("SELECT push, suppressed_reason FROM notifications WHERE follower_id = 'e'")
    assert still["push"] == "waiting"
    assert "on 2026-03-02" in still["suppressed_reason"]
    assert waiting_for_budget("brand") == 1


async def test_a_waiting_push_gets_the_next_days_room_when_that_day_brings_no_push_of_its_own(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A day's room was given out only when a push of that day was queued: a next day bringing only a
    worth-following follower left yesterday's waiting one waiting although the day had room."""

    with WebhookReceiver() as slack:
        await configure(db, "brand", slack_webhook_url=slack.url(), daily_push_budget=1)
        config = with_notifier(settings)
        PUSHES_WAITING.clear()
        async with create_app(config).start_lifespan_context():
            await send(
                config, db, [(decision(f, "high_value", score), 1) for f, score in [("a", 90), ("b", 80)]]
            )
            await eventually(lambda: _sent(db), lambda n: n >= 1)
            assert await eventually(lambda: waiting_pushes(db), lambda n: n == 1) == 1
            await send(config, db, [(decision("c", "worth_following", 60, at=T0 + DAY), 1)])
            assert await eventually(lambda: waiting_pushes(db), lambda n: n == 0, timeout=10) == 0
            await eventually(lambda: _sent(db), lambda n: n >= 2)
            assert await eventually(lambda: _sent(db), lambda n: n > 2, timeout=1.5) == 2
            assert waiting_for_budget("brand") == 0

    assert [p.body["text"].split("@")[1].split(" ")[0] for p in slack.delivered()] == ["usera", "userb"]
    b = await db.fetchrow("SELECT push, push_day::text FROM notifications WHERE follower_id = 'b'")
    assert tuple(b) == ("scheduled", "2026-03-02")


async def test_a_budget_set_to_0_reports_nothing_waiting_for_room_any_more(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A budget of 0 pushes nothing by choice, and nothing waits for room there: the figure of the
    budget it replaced (pushes waiting) was kept for ever, and the alert on it fired for ever."""

    async def queued() -> int:
        return int(await db.fetchval("SELECT count(*) FROM notifications WHERE follower_id = 'c'"))

    with WebhookReceiver() as slack:
        await configure(db, "brand", slack_webhook_url=slack.url(), daily_push_budget=1)
        config = with_notifier(settings)
        PUSHES_WAITING.clear()
        await send(config, db, [(decision(f, "high_value", 80, at=T0 + timedelta(minutes=i)), 1)
                                for i, f in enumerate("ab")])  # fmt: skip
        async with create_app(config).start_lifespan_context():
            assert await eventually(brand_figure, lambda n: n == 1) == 1
            await configure(db, "brand", slack_webhook_url=slack.url(), daily_push_budget=0)
            await send(config, db, [(decision("c", "high_value", 90, at=T0 + timedelta(minutes=5)), 1)])
            assert await eventually(queued, lambda n: n == 1) == 1
            assert await eventually(brand_figure, lambda n: n == 0, timeout=3) == 0


async def test_pushes_that_stop_waiting_for_room_without_a_new_push_leave_the_budget_figure(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """The figure of pushes waiting for budget room was set only when a decision queued a push: a
    person who dismissed a waiting follower, or a follower who left, stayed in it (and its alert
    fired on), and a restarted notifier reported nothing until its next push. The delivery worker
    reads it from the database every few seconds."""

    with WebhookReceiver() as slack:
        await configure(db, "brand", slack_webhook_url=slack.url(), daily_push_budget=1)
        config = with_notifier(settings)
        PUSHES_WAITING.clear()
        scores = [("a", 90), ("b", 80), ("c", 70), ("d", 60)]
        await send(config, db, [(decision(f, "high_value", score, at=T0 + timedelta(minutes=i)), 1)
                                for i, (f, score) in enumerate(scores)])  # fmt: skip
        async with create_app(config).start_lifespan_context():
            assert await eventually(brand_figure, lambda n: n == 3) == 3
            # A person dismisses b in the review queue: no decision comes.
            pool = await create_pool(config.postgres)
            try:
                async with pool.acquire() as conn:
                    done = await perform(conn, actor="ana", action=Action.DISMISS, account_id="brand",
                                         follower_id="b", events_topic=config.topic("events"))  # fmt: skip
            finally:
                await pool.close()
            assert done.done, done.message
            assert await waiting_pushes(db) == 2
            assert await eventually(brand_figure, lambda n: n == 2, timeout=10) == 2
            # c leaves: a decision that retracts, and queues no push of the account.
            await send(
                config, db, [(decision("c", "withdrawn", 0, version=2, at=T0 + timedelta(minutes=9)), 2)]
            )
            assert await eventually(lambda: waiting_pushes(db), lambda n: n == 1) == 1
            assert await eventually(brand_figure, lambda n: n == 1, timeout=10) == 1
        PUSHES_WAITING.clear()  # a restart: d still waits, and no decision comes
        async with create_app(config).start_lifespan_context():
            assert await eventually(brand_figure, lambda n: n == 1, timeout=10) == 1


async def test_a_pushed_follower_who_leaves_gets_a_retraction_on_each_channel(
    settings: Settings, db: asyncpg.Connection
) -> None:
    with WebhookReceiver() as slack, SmtpReceiver() as smtp:
        await configure(db, "brand", slack_webhook_url=slack.url(), email_to=["social@brand.example"])
        config = with_notifier(settings, smtp)
        async with create_app(config).start_lifespan_context():
            await send(
                config,
                db,
                [(decision("1", "high_value", 85), 1), (decision("2", "high_value", 80), 1)],
            )
            await eventually(lambda: _sent(db), lambda n: n >= 4)
            await send(
                config,
                db,
                [
                    (decision("1", "withdrawn", 0, version=2, at=T0 + DAY), 2),
                    (decision("2", "churner", 0, version=2, at=T0 + DAY), 2),
                ],
            )
            await eventually(lambda: _sent(db), lambda n: n >= 8)

    texts = [p.body["text"] for p in slack.delivered()]
    assert sorted(texts[2:]) == [
        "Retracted: @user1 (Ana Costa) unfollowed before anyone acted; removed from the review queue "
        "of brand. No action needed.",
        "Retracted: @user2 (Ana Costa) turned out to be a follow-then-unfollow churner before anyone acted; "
        "removed from the review queue of brand. No action needed.",
    ]
    retractions = [m for m in smtp.mails if m["Subject"].startswith("[brand] retracted")]
    pushes = {m["Message-ID"]: m for m in smtp.mails if "worth following back" in m["Subject"]}
    assert len(retractions) == 2
    assert all(m["In-Reply-To"] in pushes for m in retractions)
    assert {m["In-Reply-To"] for m in retractions} == {
        message_id(f"push:{decision(f, 'high_value', 0).decision_id}:email") for f in ("1", "2")
    }
    statuses = await db.fetch("SELECT follower_id, status FROM notifications ORDER BY follower_id")
    assert [tuple(r) for r in statuses] == [("1", "retracted"), ("2", "retracted")]


async def test_a_receiver_that_fails_is_retried_with_back_off_until_it_answers(
    settings: Settings, db: asyncpg.Connection
) -> None:
    with WebhookReceiver(failures=2) as slack, SmtpReceiver(failures=1) as smtp:
        await configure(db, "brand", slack_webhook_url=slack.url(), email_to=["social@brand.example"])
        config = with_notifier(settings, smtp)
        slack_before, email_before = counted("slack"), counted("email")
        async with create_app(config).start_lifespan_context():
            await send(config, db, [(decision("1", "high_value", 85), 1)])
            await eventually(lambda: _sent(db), lambda n: n >= 2)

    # Each attempt counted by its outcome (the alert on failing channels reads them).
    assert since(slack_before, counted("slack")) == {"retrying": 2, "sent": 1}
    assert since(email_before, counted("email")) == {"retrying": 1, "sent": 1}
    assert [p.status for p in slack.posts] == [500, 500, 200]
    assert len({p.key for p in slack.posts}) == 1  # the same message, with its idempotency key
    assert len(smtp.mails) == 1
    rows = await deliveries(db)
    assert [(r["channel"], r["status"], r["attempts"]) for r in rows] == [
        ("email", "sent", 2),
        ("slack", "sent", 3),
    ]


async def test_a_channel_that_keeps_failing_goes_dead_and_a_refusal_is_not_retried(
    settings: Settings, db: asyncpg.Connection
) -> None:
    with WebhookReceiver(failures=100) as broken, WebhookReceiver(failures=100, fail_status=404) as gone:
        await configure(db, "brand", slack_webhook_url=broken.url())
        await configure(db, "other", slack_webhook_url=gone.url())
        config = with_notifier(settings, max_attempts=3)
        before = counted("slack")
        async with create_app(config).start_lifespan_context():
            await send(
                config,
                db,
                [(decision("1", "high_value", 85), 1), (decision("2", "high_value", 85, account="other"), 1)],
            )

            async def dead() -> int:
                return int(await db.fetchval("SELECT count(*) FROM deliveries WHERE status = 'dead'"))

            await eventually(dead, lambda n: n >= 2)

    assert since(before, counted("slack")) == {"retrying": 2, "dead": 2}
    rows = await db.fetch("SELECT account_id, attempts, last_error FROM deliveries ORDER BY account_id")
    assert [(r["account_id"], r["attempts"]) for r in rows] == [("brand", 3), ("other", 1)]
    assert "HTTP 500" in rows[0]["last_error"]
    assert "HTTP 404" in rows[1]["last_error"]
    assert len(broken.posts) == 3
    assert len(gone.posts) == 1


async def test_a_push_not_sent_yet_is_cancelled_when_the_follower_leaves(
    settings: Settings, db: asyncpg.Connection
) -> None:
    with WebhookReceiver(failures=1000) as down:
        await configure(db, "brand", slack_webhook_url=down.url())
        config = with_notifier(settings, retry_base_s=0.5)
        async with create_app(config).start_lifespan_context():
            await send(config, db, [(decision("1", "high_value", 85), 1)])
            await eventually(lambda: asyncio.sleep(0, len(down.posts)), lambda n: n >= 1)
            await send(config, db, [(decision("1", "withdrawn", 0, version=2, at=T0 + DAY), 2)])

            async def kinds() -> list[tuple[str, str]]:
                rows = await db.fetch("SELECT kind, status FROM deliveries ORDER BY delivery_id")
                return [(r["kind"], r["status"]) for r in rows]

            assert await eventually(kinds, lambda k: k == [("push", "cancelled")]) == [("push", "cancelled")]
            tried = len(down.posts)
            await asyncio.sleep(1.0)
        assert len(down.posts) == tried  # no more tries, and no retraction of a push nobody got


async def test_never_notify_silences_a_follower_and_always_notify_pushes_one_worth_following(
    settings: Settings, db: asyncpg.Connection
) -> None:
    with WebhookReceiver() as slack:
        await configure(db, "brand", slack_webhook_url=slack.url())
        config = with_notifier(settings)
        pool = await create_pool(config.postgres)
        try:
            async with create_app(config).start_lifespan_context():
                await send(
                    config,
                    db,
                    [(decision("1", "worth_following", 60), 1), (decision("2", "worth_following", 61), 1)],
                )
                await eventually(lambda: db.fetchval("SELECT count(*) FROM review_items"), lambda n: n == 2)
                for follower, action in (("1", Action.NEVER_NOTIFY), ("2", Action.ALWAYS_NOTIFY)):
                    async with pool.acquire() as conn:
                        done = await perform(
                            conn, actor="ana", action=action, account_id="brand", follower_id=follower,
                            events_topic=config.topic("events"),
                        )  # fmt: skip
                    assert done.done, done.message
                await send(
                    config,
                    db,
                    [
                        (decision("1", "high_value", 90, version=2), 2),  # never: not pushed
                        (decision("2", "worth_following", 64, version=2), 2),  # always: pushed
                    ],
                )
                await eventually(lambda: _sent(db), lambda n: n >= 1)
                await eventually(lambda: _sent(db), lambda n: n > 1, timeout=1.5)
        finally:
            await pool.close()
    assert [p.body["text"].split("@")[1].split(" ")[0] for p in slack.delivered()] == ["user2"]
    audit = await db.fetch("SELECT actor, action, follower_id FROM review_audit ORDER BY at")
    assert [tuple(r) for r in audit] == [("ana", "never_notify", "1"), ("ana", "always_notify", "2")]
