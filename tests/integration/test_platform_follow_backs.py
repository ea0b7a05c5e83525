"""Follow-backs made on X itself (not with the queue's button) reach the review queue: the item is
decided "on X", a push not sent yet is not sent and frees its room in the budget, whatever the
arrival order, once however often it is delivered, and never on top of a person's own Follow back."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from followback.explain import SECTIONS
from services.ingest.webhook import map_payload
from services.notifier import follow_backs
from services.notifier.actions import Action, Outcome, perform
from services.notifier.app import create_app
from services.notifier.web import listing
from shared.events import Event
from shared.settings import NotifierSettings, Settings
from tests.notifier_support import configure, decision, intake_now, record, send
from tests.receivers import WebhookReceiver
from tests.support import T0, event, eventually, publish_events

pytestmark = pytest.mark.integration
DATA = Path(__file__).resolve().parents[1] / "data" / "x"


async def follow_back(pool: asyncpg.Pool, settings: Settings, actor: str, follower: str) -> Outcome:
    """A person's Follow back in the review queue."""
    async with pool.acquire() as conn:
        return await perform(
            conn, actor=actor, action=Action.FOLLOW_BACK, account_id="brand", follower_id=follower,
            events_topic=settings.topic("events"),
        )  # fmt: skip


def on_x(follower: str, at: datetime, account: str = "brand", n: int = 1) -> Event:
    """The brand's follow of ``follower`` on X, as the ingest maps it (a ``followed_back`` event)."""
    return Event.model_validate(
        event(f"x-fb-{account}-{follower}-{n}", "followed_back", follower, at, account=account)
    )


async def x_events(pool: asyncpg.Pool, events: list[Event]) -> None:
    """What the notifier does with follow-backs it read from the events topic, without Kafka."""
    async with pool.acquire() as conn, conn.transaction():
        await follow_backs.record(conn, events)


async def item(db: asyncpg.Connection, follower: str) -> dict[str, Any]:
    row = await db.fetchrow(
        "SELECT state, decided_by, decided_via, decided_at, class FROM review_items "
        "WHERE account_id = 'brand' AND follower_id = $1",
        follower,
    )
    return dict(row) if row else {}


async def audit(db: asyncpg.Connection, follower: str) -> list[tuple[Any, ...]]:
    rows = await db.fetch(
        "SELECT actor, action, at, detail::text FROM review_audit WHERE follower_id = $1 ORDER BY at",
        follower,
    )
    return [(r["actor"], r["action"], r["at"], {**json.loads(r["detail"]), "event_id": None}) for r in rows]


async def pushes(db: asyncpg.Connection, follower: str) -> list[tuple[str, str]]:
    rows = await db.fetch(
        "SELECT kind, status FROM deliveries WHERE follower_id = $1 ORDER BY delivery_id", follower
    )
    return [(r["kind"], r["status"]) for r in rows]


async def used_budget(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM notifications WHERE push = 'scheduled'"))


async def test_a_follow_back_on_x_decides_the_item_and_its_unsent_push_is_not_sent(
    settings: Settings, db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    await configure(db, "brand", slack_webhook_url="http://slack.example/hook", daily_push_budget=1)
    first, second = decision("1", "high_value", 85), decision("2", "high_value", 80)
    await record(db, [(first, 1), (second, 1)])
    await intake_now(pool, settings, [first])
    assert await pushes(db, "1") == [("push", "pending")]
    assert await used_budget(db) == 1

    followed = on_x("1", T0 + timedelta(minutes=5))
    await x_events(pool, [followed])
    assert await item(db, "1") == {
        "state": "followed_back", "decided_by": "x", "decided_via": "x", "decided_at": followed.occurred_at,
        "class": "high_value",
    }  # fmt: skip
    assert await pushes(db, "1") == [("push", "cancelled")]
    assert await used_budget(db) == 0  # its room went back to the day
    [(actor, action, at, detail)] = await audit(db, "1")
    assert (actor, action, at) == ("x", "platform_follow_back", followed.occurred_at)
    assert detail == {"class": "high_value", "score": 85.0, "platform": "x", "event_id": None}

    # Delivered again (and an older X follow of the same person): nothing more.
    await x_events(pool, [followed])
    await x_events(pool, [followed])
    assert len(await audit(db, "1")) == 1

    # The day's one push now goes to the next follower worth it.
    await intake_now(pool, settings, [second])
    assert await pushes(db, "2") == [("push", "pending")]

    # A person on a page older than that: refused, saying where it was done.
    outcome = await follow_back(pool, settings, "ana", "1")
    assert (outcome.done, outcome.message) == (False, "@user1 was already followed back on X")

    # The auditor's trail shows it like a person's action.
    actions = await db.fetch(SECTIONS["actions"], "brand", "1")
    assert [(a["actor"], a["action"]) for a in actions] == [("x", "platform_follow_back")]
    [review] = await db.fetch(SECTIONS["review"], "brand", "1")
    assert (review["state"], review["decided_by"], review["decided_via"]) == ("followed_back", "x", "x")
    # And the queue's page says where.
    async with pool.acquire() as conn:
        page = await listing.queue_page(conn, listing.Filters(state="any", q="1"), 10)
    assert [row["decided"] for row in page.rows] == ["on X"]


async def test_the_follow_back_and_the_decision_end_the_same_in_either_order(
    settings: Settings, db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    """Follower 1: X's event first (they were not in the queue yet); follower 2: the decision first."""
    await configure(db, "brand", slack_webhook_url="http://slack.example/hook", daily_push_budget=5)
    one, two = decision("1", "high_value", 85), decision("2", "high_value", 85)
    await record(db, [(one, 1), (two, 1)])
    at = T0 + timedelta(minutes=5)

    await x_events(pool, [on_x("1", at)])
    assert await item(db, "1") == {}  # remembered until they are worth a look
    await intake_now(pool, settings, [one])

    await intake_now(pool, settings, [two])
    await x_events(pool, [on_x("2", at)])

    assert await item(db, "1") == await item(db, "2") != {}
    assert (await item(db, "1"))["decided_via"] == "x"
    assert await audit(db, "1") == await audit(db, "2") != []
    # Nothing sent or to be sent for either, nothing counted against the budget.
    assert await pushes(db, "1") == []
    assert await pushes(db, "2") == [("push", "cancelled")]
    assert await used_budget(db) == 0
    # Redelivered, both ways: nothing changes.
    await intake_now(pool, settings, [one, two])
    await x_events(pool, [on_x("1", at), on_x("2", at)])
    assert len(await audit(db, "1")) == len(await audit(db, "2")) == 1
    # A later version of the decision leaves the follow-back standing.
    later = decision("1", "high_value", 95, version=2, at=T0 + timedelta(days=1))
    await record(db, [(later, 2)])
    await intake_now(pool, settings, [later])
    assert (await item(db, "1"))["state"] == "followed_back"
    assert await pushes(db, "1") == []


async def test_the_queues_own_follow_back_and_its_echo_from_x_record_one_action(
    settings: Settings, db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    decided = decision("1", "high_value", 85)
    await record(db, [(decided, 1)])
    await intake_now(pool, settings, [decided])
    outcome = await follow_back(pool, settings, "ana", "1")
    assert outcome.done
    # The queue's event comes back on the topic (left out), then X's follow made by the brand's tooling.
    published = await db.fetchval("SELECT payload::text FROM deliveries WHERE kind = 'event'")
    own = follow_backs.parse([published.encode()], [None])
    assert own == []
    await x_events(pool, [on_x("1", T0 + timedelta(minutes=1))])
    found = await item(db, "1")
    assert (found["state"], found["decided_by"], found["decided_via"]) == ("followed_back", "ana", None)
    assert [(actor, action) for actor, action, _, _ in await audit(db, "1")] == [("ana", "follow_back")]


def _x_follow_of(person: dict[str, Any], brand: dict[str, Any]) -> dict[str, Any]:
    payload = json.loads((DATA / "follow_events.json").read_text())
    payload["follow_events"] = [{**payload["follow_events"][0], "source": brand, "target": person}]
    [mapped] = map_payload(payload).events
    return mapped


async def test_the_notifier_reads_follow_backs_made_on_x_from_the_events_topic(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """On the real broker: X's webhook mapped by the ingest, the notifier running. Follower 4242's
    follow-back on X comes before their decision, follower 77's after it; follower 78's only
    follow-back is the queue's own event (someone else's item, open: it stays open)."""
    brand = {"id": "3001969357", "id_str": "3001969357", "screen_name": "brand"}
    mapped = _x_follow_of({"id": "4242", "id_str": "4242", "screen_name": "ana"}, brand)
    at = datetime.fromisoformat(mapped["occurred_at"])
    with WebhookReceiver() as slack:
        await configure(db, "3001969357", slack_webhook_url=slack.url())
        config = settings.model_copy(
            update={"notifier": NotifierSettings(poll_interval_s=0.1, retry_base_s=0.1, send_timeout_s=3)}
        )
        async with create_app(config).start_lifespan_context():
            await publish_events(config, [mapped])
            remembered = "SELECT count(*) FROM platform_follow_backs WHERE follower_id = '4242'"
            assert await eventually(lambda: db.fetchval(remembered), lambda n: n == 1) == 1
            first = decision("4242", "high_value", 90, at=at, account="3001969357")
            await send(config, db, [(first, 1)])
            state = "SELECT state FROM review_items WHERE follower_id = $1"
            await eventually(lambda: db.fetchval(state, "4242"), lambda s: s is not None)

            # Follower 77: pushed first (a slow receiver), then followed back on X.
            later = decision("77", "high_value", 88, at=at, account="3001969357")
            await send(config, db, [(later, 1)])
            await eventually(lambda: db.fetchval(state, "77"), lambda s: s == "open")
            await publish_events(config, [{**mapped, "event_id": "x-77", "follower": {"id": "77"}}])
            await eventually(lambda: db.fetchval(state, "77"), lambda s: s == "followed_back")

            # Follower 78: the queue's own event (a person's action id), with no action behind it here.
            other = decision("78", "worth_following", 60, at=at, account="3001969357")
            await send(config, db, [(other, 1)])
            await eventually(lambda: db.fetchval(state, "78"), lambda s: s == "open")
            own = {**mapped, "event_id": "followed-back:2b7e9f0c-3a1d-4c6e-9f80-1d2c3b4a5e6f",
                   "follower": {"id": "78"}}  # fmt: skip
            await publish_events(config, [own, {**mapped, "event_id": "x-77", "follower": {"id": "77"}}])
            await eventually(lambda: _audited(db), lambda n: n >= 2)
            await eventually(lambda: _audited(db), lambda n: n > 2, timeout=2)  # nothing more comes

        rows = await db.fetch(
            "SELECT follower_id, state, decided_by, decided_via FROM review_items ORDER BY follower_id"
        )
        assert [tuple(r) for r in rows] == [
            ("4242", "followed_back", "x", "x"),
            ("77", "followed_back", "x", "x"),
            ("78", "open", None, None),
        ]
        assert await _audited(db) == 2
        # 4242 was never pushed; 77's push may have gone out before X's event came (then it stands).
        texts = [p.body["text"] for p in slack.delivered()]
        assert not any("4242" in t or "ana" in t for t in texts), texts
        assert await db.fetchval("SELECT count(*) FROM notifications WHERE follower_id = '4242'") == 0
        # 77's push, sent or not, is never retracted: a follow-back is no reason to take it back.
        assert await db.fetchval("SELECT count(*) FROM deliveries WHERE kind = 'retraction'") == 0
        assert await db.fetchval("SELECT count(*) FROM deliveries WHERE kind = 'push' AND status IN "
                                 "('pending', 'retrying')") == 0  # fmt: skip


async def _audited(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM review_audit WHERE action = 'platform_follow_back'"))
