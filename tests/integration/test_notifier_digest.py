"""Digest mode against real receivers: one message per channel and event-time period, listing the followers.

The notifier runs in process on the real broker and database; the Slack-compatible webhook is a real
HTTP server and the mail goes to a real aiosmtpd server. Periods close by the account's stream time
(the decisions' ``occurred_at``), never by the wall clock.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import asyncpg
import pytest

from followback.forget import forget
from services.notifier import digest
from services.notifier.actions import Action, perform
from services.notifier.app import create_app
from services.notifier.channels.email import message_id
from shared.db import create_pool
from shared.decisions import Decision
from shared.settings import Settings
from tests.integration.test_notifier_delivery import with_notifier
from tests.notifier_support import configure, decision, send
from tests.receivers import SmtpReceiver, WebhookReceiver
from tests.support import T0, eventually, publish

pytestmark = pytest.mark.integration
MINUTE = timedelta(minutes=1)
DAY_AND_HOUR = timedelta(days=1, hours=1)


async def redeliver(settings: Settings, decisions: list[tuple[Decision, int]]) -> None:
    """Publish decisions already recorded again, as a redelivery or a scorer's re-publish does."""
    body = [d.model_dump_json(by_alias=True).encode() for d, _ in decisions]
    await publish(settings, settings.topic("decisions"), body, key=b"one-partition")


def listed(text: str) -> list[str]:
    """The handles a digest lists, in its order."""
    return [line.split(" ")[1] for line in text.splitlines() if line.startswith("- @")]


async def digest_rows(db: asyncpg.Connection) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT channel, status, idempotency_key, payload::text AS payload FROM deliveries "
        "WHERE kind = 'digest' ORDER BY channel, delivery_id"
    )


async def sent(db: asyncpg.Connection, kind: str = "digest") -> int:
    return int(await db.fetchval("SELECT count(*) FROM deliveries WHERE kind = $1 AND status = 'sent'", kind))


async def test_one_digest_per_channel_and_period_lists_exactly_its_followers(
    settings: Settings, db: asyncpg.Connection
) -> None:
    with WebhookReceiver() as slack, SmtpReceiver() as smtp:
        await configure(
            db, "brand", slack_webhook_url=slack.url(), email_to=["social@brand.example"], digest="hourly"
        )
        config = with_notifier(settings, smtp)  # grace: the default five minutes
        hour_one = [
            (decision("a", "high_value", 81, at=T0 + 5 * MINUTE), 1),
            (decision("b", "high_value", 95, at=T0 + 10 * MINUTE), 1),
            (decision("c", "high_value", 88, at=T0 + 20 * MINUTE), 1),
            (decision("d", "worth_following", 60, at=T0 + 25 * MINUTE), 1),  # queued, never pushed
            (decision("e", "spam", 4, at=T0 + 26 * MINUTE), 1),
            (decision("f", "high_value", 77, at=T0 + 50 * MINUTE), 1),
        ]
        leaver = [(decision("b", "withdrawn", 0, version=2, at=T0 + 30 * MINUTE), 2)]

        async def entries() -> list[tuple[str, str]]:
            rows = await db.fetch("SELECT follower_id, status FROM digest_entries WHERE channel = 'slack'")
            return sorted((r["follower_id"], r["status"]) for r in rows)

        async with create_app(config).start_lifespan_context():
            await send(config, db, hour_one)
            await eventually(entries, lambda found: len(found) == 4)  # a, b, c, f on each channel
            await send(config, db, leaver)  # b leaves before the digest goes out
            # 10:04 is within the grace after 10:00: the 09:00 period stays open, nothing is sent.
            await send(config, db, [(decision("g", "high_value", 90, at=T0 + 64 * MINUTE), 1)])
            await eventually(entries, lambda found: len(found) == 5)
            await asyncio.sleep(1.0)
            assert slack.posts == []
            assert smtp.mails == []

            # 10:06: the stream time has passed 10:00 by the grace, so 09:00-10:00 closes.
            await send(config, db, [(decision("h", "ignore", 20, at=T0 + 66 * MINUTE), 1)])
            await eventually(lambda: sent(db), lambda n: n >= 2)
            # The same decisions again (a redelivery): no second digest.
            await redeliver(config, hour_one + leaver)
            await eventually(lambda: sent(db), lambda n: n > 2, timeout=1.5)

        [post] = slack.delivered()
        assert listed(post.body["text"]) == ["@userc", "@usera", "@userf"]  # highest score first
        assert post.body["text"].startswith(
            "3 followers worth following back for brand, 2026-03-01 09:00-10:00 UTC:\n"
            "- @userc (Ana Costa), score 88. Why: engagement +35, topic_match +20, active +10. http://"
        )
        assert post.key == "digest:brand:slack:20260301T0900Z"
        [mail] = smtp.mails
        assert mail["Subject"] == "[brand] 3 followers worth following back, 2026-03-01 09:00-10:00 UTC"
        body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
        assert listed(body) == ["@userc", "@usera", "@userf"]
        assert "Decide in the review queue: http://" in body

    rows = await digest_rows(db)
    assert [(r["channel"], r["status"]) for r in rows] == [("email", "sent"), ("slack", "sent")]
    assert await db.fetchval("SELECT count(*) FROM deliveries WHERE kind = 'push'") == 0
    # The budget counted each follower; g waits in the open 10:00 period, b was retracted.
    entries = await db.fetch(
        "SELECT follower_id, status, to_char(period_start AT TIME ZONE 'UTC', 'HH24:MI') AS period "
        "FROM digest_entries WHERE channel = 'slack' ORDER BY follower_id"
    )
    assert [tuple(r) for r in entries] == [
        ("a", "included", "09:00"),
        ("b", "retracted", "09:00"),
        ("c", "included", "09:00"),
        ("f", "included", "09:00"),
        ("g", "open", "10:00"),
    ]
    pushes = await db.fetch("SELECT follower_id, push, status FROM notifications ORDER BY follower_id")
    assert [tuple(r) for r in pushes] == [
        ("a", "scheduled", "pending"),
        ("b", "scheduled", "retracted"),  # counted against the day's budget when it was scheduled
        ("c", "scheduled", "pending"),
        ("f", "scheduled", "pending"),
        ("g", "scheduled", "pending"),
    ]


async def test_a_flush_closes_the_open_period_and_a_later_leaver_gets_a_retraction(
    settings: Settings, db: asyncpg.Connection
) -> None:
    with WebhookReceiver() as slack, SmtpReceiver() as smtp:
        await configure(
            db, "brand", slack_webhook_url=slack.url(), email_to=["social@brand.example"], digest="daily"
        )
        config = with_notifier(settings, smtp)
        pool = await create_pool(config.postgres)
        try:
            async with create_app(config).start_lifespan_context():
                await send(
                    config,
                    db,
                    [
                        (decision("a", "high_value", 81, at=T0), 1),
                        (decision("b", "high_value", 91, at=T0 + 3 * timedelta(hours=1)), 1),
                    ],
                )
                await eventually(lambda: db.fetchval("SELECT count(*) FROM digest_entries"), lambda n: n == 4)
                # A quiet account: its day would wait for the next day's decisions; a flush sends it now.
                async with pool.acquire() as conn:
                    assert len(await digest.flush(conn, "brand", "http://queue.example")) == 2
                    assert await digest.flush(conn, "brand", "http://queue.example") == []  # nothing left
                await eventually(lambda: sent(db), lambda n: n >= 2)
                # A follower in a digest that went out leaves: each channel gets a retraction.
                await send(config, db, [(decision("a", "withdrawn", 0, version=2, at=T0 + DAY_AND_HOUR), 2)])
                await eventually(lambda: sent(db, "retraction"), lambda n: n >= 2)
        finally:
            await pool.close()

    [post, retraction] = slack.delivered()
    assert post.body["text"].startswith("2 followers worth following back for brand, 2026-03-01 UTC:")
    assert listed(post.body["text"]) == ["@userb", "@usera"]
    assert retraction.body["text"].startswith("Retracted: @usera (Ana Costa) unfollowed before anyone acted")
    digest_mail, retraction_mail = smtp.mails
    assert (
        retraction_mail["In-Reply-To"]
        == digest_mail["Message-ID"]
        == message_id("digest:brand:email:20260301T0000Z-20260302T0000Z")
    )
    assert await db.fetchval("SELECT closed_by FROM digests WHERE channel = 'slack'") == "flush"
    # Erasing b takes b's profile out of both digests (its score and signals stay) and keeps a's line whole.
    changed = await forget(db, "b", "test")
    assert (changed["digests"], changed["digest_entries"]) == (2, 2)
    for row in await digest_rows(db):
        erased, kept = json.loads(row["payload"])["followers"]
        assert erased["decision_id"] == decision("b", "high_value", 0).decision_id
        assert (erased["follower_id"], erased["score"]) == ("b", 91)
        assert not {"screen_name", "name"} & erased.keys()
        signals = [(r["signal"], r["value"]) for r in erased["reasons"]]
        assert signals == [("engagement", None), ("topic_match", None), ("active", None)]
        assert kept["screen_name"] == "usera"
    entry = json.loads(await db.fetchval("SELECT payload::text FROM digest_entries WHERE follower_id = 'b'"))
    assert (entry["score"], "screen_name" in entry) == (91, False)
    # Again: nothing is left to erase, in the digests either.
    assert set((await forget(db, "b", "test")).values()) == {0}


async def test_a_follower_who_leaves_while_the_digest_waits_for_a_retry_is_taken_out_of_it(
    settings: Settings, db: asyncpg.Connection
) -> None:
    with WebhookReceiver(failures=1) as slack:
        await configure(db, "brand", slack_webhook_url=slack.url(), digest="hourly")
        # The first send fails; the retry waits 2.5 to 5 s, time for the leaver's decision to land.
        config = with_notifier(settings, retry_base_s=5, retry_cap_s=5, digest_grace_s=0)
        async with create_app(config).start_lifespan_context():
            await send(
                config,
                db,
                [
                    (decision("a", "high_value", 81, at=T0 + 5 * MINUTE), 1),
                    (decision("b", "high_value", 91, at=T0 + 6 * MINUTE), 1),
                    (decision("c", "high_value", 71, at=T0 + 7 * MINUTE), 1),
                    (decision("x", "ignore", 10, at=T0 + 61 * MINUTE), 1),  # closes 09:00-10:00
                ],
            )
            await eventually(
                lambda: digest_rows(db), lambda rows: [r["status"] for r in rows] == ["retrying"]
            )
            await send(config, db, [(decision("b", "churner", 0, version=2, at=T0 + 62 * MINUTE), 2)])
            await eventually(lambda: sent(db), lambda n: n >= 1)

    first, second = slack.posts
    assert (first.status, second.status) == (500, 200)
    assert listed(first.body["text"]) == ["@userb", "@usera", "@userc"]
    assert listed(second.body["text"]) == ["@usera", "@userc"]  # b left before it went out
    assert first.key == second.key  # the same message, with its idempotency key
    assert await db.fetchval("SELECT count(*) FROM deliveries WHERE kind = 'retraction'") == 0


async def test_a_digest_cut_off_by_a_stop_mid_send_is_never_sent_twice(
    settings: Settings, db: asyncpg.Connection
) -> None:
    with WebhookReceiver(delay_s=3.0) as slack:
        await configure(db, "brand", slack_webhook_url=slack.url(), digest="hourly")
        config = with_notifier(settings, send_timeout_s=10, lease_s=0.5, digest_grace_s=0)
        batch = [
            (decision("a", "high_value", 81, at=T0 + 5 * MINUTE), 1),
            (decision("b", "high_value", 91, at=T0 + 6 * MINUTE), 1),
            (decision("x", "ignore", 10, at=T0 + 61 * MINUTE), 1),
        ]
        async with create_app(config).start_lifespan_context():
            await send(config, db, batch)
            # The receiver has the request; the notifier stops before it hears the answer.
            await eventually(lambda: asyncio.sleep(0, len(slack.posts)), lambda n: n == 1)
        assert [r["status"] for r in await digest_rows(db)] == ["sending"]

        async with create_app(config).start_lifespan_context():
            # The restarted notifier finds it in flight past the lease: it may have arrived.
            await eventually(lambda: digest_rows(db), lambda rows: [r["status"] for r in rows] == ["unknown"])
            await redeliver(config, batch)  # and the same decisions redelivered make no new digest
            await asyncio.sleep(1.5)

    assert len(slack.posts) == 1
    rows = await digest_rows(db)
    assert [(r["status"], r["idempotency_key"]) for r in rows] == [
        ("unknown", "digest:brand:slack:20260301T0900Z")
    ]
    assert await db.fetchval("SELECT count(*) FROM digests") == 1


async def test_a_follower_a_person_acted_on_is_left_out_of_the_digest(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """Dismissed in the queue, or "never notify", before the period closes: not in the digest."""
    with WebhookReceiver() as slack:
        await configure(db, "brand", slack_webhook_url=slack.url(), digest="hourly")
        config = with_notifier(settings)
        scheduled = [
            (decision("a", "high_value", 81, at=T0 + 5 * MINUTE), 1),
            (decision("b", "high_value", 95, at=T0 + 10 * MINUTE), 1),
            (decision("c", "high_value", 88, at=T0 + 20 * MINUTE), 1),
        ]
        async with create_app(config).start_lifespan_context():
            await send(config, db, scheduled)
            await eventually(
                lambda: db.fetchval("SELECT count(*) FROM digest_entries WHERE status = 'open'"),
                lambda n: n == 3,
            )
            pool = await create_pool(config.postgres)  # the service's connections, as the queue uses
            try:
                async with pool.acquire() as conn:
                    for follower, action in (("b", Action.DISMISS), ("c", Action.NEVER_NOTIFY)):
                        done = await perform(
                            conn, actor="rita", action=action, account_id="brand", follower_id=follower,
                            events_topic=config.topic("events"),
                        )  # fmt: skip
                        assert done.done, done.message
            finally:
                await pool.close()
            await send(config, db, [(decision("h", "ignore", 20, at=T0 + 66 * MINUTE), 1)])  # closes 09:00
            await eventually(lambda: sent(db), lambda n: n >= 1)

        [post] = slack.delivered()
        assert listed(post.body["text"]) == ["@usera"]
    statuses = await db.fetch("SELECT follower_id, status FROM digest_entries ORDER BY follower_id")
    assert [tuple(r) for r in statuses] == [("a", "included"), ("b", "retracted"), ("c", "retracted")]


async def test_switching_from_hourly_to_daily_keeps_the_two_periods_apart(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """An hour and a day that start together (at midnight): the hour that closes takes only its own
    entries; the day's entry waits for the day (or a flush)."""
    midnight = T0.replace(hour=0)
    with WebhookReceiver() as slack:
        await configure(db, "brand", slack_webhook_url=slack.url(), digest="hourly")
        config = with_notifier(settings)
        pool = await create_pool(config.postgres)
        try:
            async with create_app(config).start_lifespan_context():
                await send(config, db, [(decision("a", "high_value", 81, at=midnight + 10 * MINUTE), 1)])
                await eventually(lambda: db.fetchval("SELECT count(*) FROM digest_entries"), lambda n: n == 1)
                await configure(db, "brand", slack_webhook_url=slack.url(), digest="daily")
                await send(config, db, [(decision("b", "high_value", 91, at=midnight + 20 * MINUTE), 1)])
                await eventually(lambda: db.fetchval("SELECT count(*) FROM digest_entries"), lambda n: n == 2)
                await send(
                    config, db, [(decision("h", "ignore", 20, at=midnight + 66 * MINUTE), 1)]
                )  # hour ends
                await eventually(lambda: sent(db), lambda n: n >= 1)
                assert [listed(p.body["text"]) for p in slack.delivered()] == [["@usera"]]
                async with pool.acquire() as conn:
                    assert len(await digest.flush(conn, "brand", "http://queue.example")) == 1
                await eventually(lambda: sent(db), lambda n: n >= 2)
        finally:
            await pool.close()
    assert [listed(p.body["text"]) for p in slack.delivered()] == [["@usera"], ["@userb"]]
    keys = [r["idempotency_key"] for r in await digest_rows(db)]
    assert keys == ["digest:brand:slack:20260301T0000Z", "digest:brand:slack:20260301T0000Z-20260302T0000Z"]
