"""A follow-back made on X that the brand's later unfollow on X ended (an ``unfollowed_back`` event)
does not decide the item of an event after the unfollow (the follower followed again): the brand no
longer follows them, so they are open and pushed like any new follower worth a look. It still decides
the item of an event at or before the unfollow (the follow it answered), which a backfill brings in
after the notifier learned of both. The same holds within
one batch of the events topic (the pass over the topic from its start on upgrade reads a follower's
whole history at once), for the brand's unfollows and blocks alike."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from followback.summary import summarize
from services.ingest.webhook import map_payload
from services.notifier.app import create_app
from shared.decisions import Decision
from shared.events import Event
from shared.settings import NotifierSettings, Settings
from tests.integration.test_follow_back_ended_by_block import brand_act, state, x_events
from tests.notifier_support import configure, decision, intake_now, record, send
from tests.receivers import WebhookReceiver
from tests.support import T0, eventually, publish_events

pytestmark = pytest.mark.integration
DATA = Path(__file__).resolve().parents[1] / "data" / "x"


@pytest.mark.parametrize("order", ["in_order", "unfollow_first", "one_batch"])
async def test_a_follow_back_the_brands_unfollow_ended_does_not_decide_the_followers_next_item(
    settings: Settings, db: asyncpg.Connection, pool: asyncpg.Pool, order: str
) -> None:
    await configure(db, "brand", slack_webhook_url="http://slack.example/hook", daily_push_budget=5)
    # Follower 1: followed back on X before they were worth a look, then unfollowed by the brand on X.
    # Follower 2: followed back on X after the brand's unfollow. Follower 3: followed back, unfollowed
    # and followed back again (the second follow-back stands).
    fb1, ub1 = brand_act("followed_back", "1", 5), brand_act("unfollowed_back", "1", 10)
    ub2, fb2 = brand_act("unfollowed_back", "2", 10), brand_act("followed_back", "2", 20)
    three = [brand_act(kind, "3", m) for kind, m in (("followed_back", 5), ("unfollowed_back", 10),
                                                    ("followed_back", 20))]  # fmt: skip
    if order == "one_batch":
        await x_events(pool, [fb1, ub1, ub2, fb2, *three])
    else:
        first = [fb1, ub1] if order == "in_order" else [ub1, fb1]
        for e in [*first, ub2, fb2, *three]:
            await x_events(pool, [e])
    decisions = [decision(f, "high_value", 85, at=T0 + timedelta(hours=2)) for f in ("1", "2", "3")]
    await record(db, [(d, 1) for d in decisions])
    await intake_now(pool, settings, decisions)
    assert await state(db, "1") == "open"  # the follow-back of minute 5 ended with the unfollow
    assert await db.fetchval("SELECT count(*) FROM notifications WHERE follower_id = '1'") == 1
    assert await state(db, "2") == "followed_back"  # a follow-back after the unfollow stands
    assert await state(db, "3") == "followed_back"
    assert await db.fetchval("SELECT decided_at FROM review_items WHERE follower_id = '3'") == (
        T0 + timedelta(minutes=20)  # the follow-back of minute 5 ended before the item's event
    )
    assert await db.fetchval("SELECT unfollowed_at FROM platform_unfollows WHERE follower_id = '1'") == (
        T0 + timedelta(minutes=10)
    )


@pytest.mark.parametrize("order", ["in_order", "unfollow_first", "one_batch", "decision_between"])
async def test_a_follow_back_the_brands_unfollow_ended_still_decides_the_item_of_the_follow_it_answered(
    settings: Settings, db: asyncpg.Connection, pool: asyncpg.Pool, order: str
) -> None:
    """A backfill: the brand followed 1, 2 and 3 back on X at minute 5 and unfollowed them at minute
    60, and the notifier learns of both before their decisions (or, ``decision_between``, the
    unfollow before the follow-back, both after the decisions). The items of events at or before the
    unfollow are of the follow the brand answered: decided followed back on X, never pushed. Before,
    the unfollow forgot the follow-back and they were pushed although the brand had handled them. The
    item of an event after the unfollow (4: the follower followed again) is open and pushed."""
    await configure(db, "brand", slack_webhook_url="http://slack.example/hook", daily_push_budget=5)
    followers = ("1", "2", "3", "4")
    acts = {f: (brand_act("followed_back", f, 5), brand_act("unfollowed_back", f, 60)) for f in followers}
    # 1: its follow (before the follow-back), 2: between, 3: at the unfollow's instant, 4: after it.
    when = {"1": T0, "2": T0 + timedelta(minutes=30), "3": T0 + timedelta(minutes=60),
            "4": T0 + timedelta(minutes=61)}  # fmt: skip
    decisions = [decision(f, "high_value", 85, at=when[f]) for f in followers]
    await record(db, [(d, 1) for d in decisions])
    if order == "decision_between":
        await intake_now(pool, settings, decisions)
    if order == "one_batch":
        await x_events(pool, [e for f in followers for e in acts[f]])
    else:
        for f in followers:
            fb, ub = acts[f]
            for e in [fb, ub] if order == "in_order" else [ub, fb]:
                await x_events(pool, [e])
    if order != "decision_between":
        await intake_now(pool, settings, decisions)
    for f in ("1", "2", "3"):
        assert await state(db, f) == "followed_back", f
        assert await db.fetchval(
            "SELECT decided_at FROM review_items WHERE follower_id = $1", f
        ) == T0 + timedelta(minutes=5)
    assert await state(db, "4") == "open"
    pushed = "SELECT follower_id FROM notifications WHERE push <> 'cancelled' ORDER BY follower_id"
    assert [r["follower_id"] for r in await db.fetch(pushed)] == ["4"]  # (1-3's cancelled, if any)
    audited = "SELECT follower_id FROM review_audit WHERE action = 'platform_follow_back' ORDER BY 1"
    assert [r["follower_id"] for r in await db.fetch(audited)] == ["1", "2", "3"]


async def _arrive(
    pool: asyncpg.Pool, settings: Settings, order: str, acts: list[Event], decisions: list[Decision]
) -> None:
    """The brand's follow-back and unfollow on X (``acts``, in that order) and the decisions, in one
    of these arrival orders: ``backfill`` (both acts, one by one, then the decisions), ``one_batch``
    (the decisions, then both acts in one batch), ``unfollow_first`` (the decisions, then the
    unfollow, then the follow-back), ``in_order`` (the decisions, then the follow-back, then the
    unfollow), ``decision_between`` (the follow-back, the decisions, the unfollow)."""
    follow_back, unfollow = acts
    steps: dict[str, list[list[Event] | None]] = {
        "backfill": [[follow_back], [unfollow], None],
        "one_batch": [None, [follow_back, unfollow]],
        "unfollow_first": [None, [unfollow], [follow_back]],
        "in_order": [None, [follow_back], [unfollow]],
        "decision_between": [[follow_back], None, [unfollow]],
    }
    for step in steps[order]:
        if step is None:
            await intake_now(pool, settings, decisions)
        else:
            await x_events(pool, step)


@pytest.mark.parametrize("order", ["backfill", "one_batch", "unfollow_first", "in_order", "decision_between"])
async def test_a_like_after_the_brands_unfollow_is_still_of_the_follow_the_brand_followed_back(
    settings: Settings, db: asyncpg.Connection, pool: asyncpg.Pool, order: str
) -> None:
    """1 followed the brand at T0, the brand followed them back on X at minute 5 and unfollowed them
    there at 60, and 1 liked a post at 90 (the like moved the score: the decision the item rests on).
    The like's decision reaches the queue before the follow-back and the unfollow are applied (or
    after both: a backfill). The item is of the follow the brand followed back: decided followed
    back on X, never pushed. Before, the item's event (the like, after the unfollow) was taken for a
    follow after it, and 1 was open and pushed in every order but ``in_order`` and
    ``decision_between`` (where the follow-back was applied before the unfollow was read). 2 is the
    same with two versions (the follow's, the like's) reaching the queue at once."""
    await configure(db, "brand", slack_webhook_url="http://slack.example/hook", daily_push_budget=5)
    like = decision("1", "high_value", 85, at=T0 + timedelta(minutes=90), followed=T0)
    two = [
        decision("2", "worth_following", 60, at=T0, followed=T0),
        decision("2", "high_value", 85, version=2, at=T0 + timedelta(minutes=90), followed=T0),
    ]
    await record(db, [(like, 1), (two[0], 1), (two[1], 2)])
    for follower in ("1", "2"):
        acts = [brand_act("followed_back", follower, 5), brand_act("unfollowed_back", follower, 60)]
        await _arrive(pool, settings, order, acts, [like] if follower == "1" else two)
    for follower in ("1", "2"):
        assert await state(db, follower) == "followed_back", follower
        decided = "SELECT decided_at, decided_via, followed_at FROM review_items WHERE follower_id = $1"
        assert tuple(await db.fetchrow(decided, follower)) == (T0 + timedelta(minutes=5), "x", T0)
    pushed = "SELECT count(*) FROM notifications WHERE push <> 'cancelled'"
    assert await db.fetchval(pushed) == 0  # (one the decision made before the follow-back: cancelled)
    audited = "SELECT follower_id FROM review_audit WHERE action = 'platform_follow_back' ORDER BY 1"
    assert [r["follower_id"] for r in await db.fetch(audited)] == ["1", "2"]


@pytest.mark.parametrize("order", ["backfill", "one_batch", "unfollow_first"])
async def test_a_follow_after_the_brands_unfollow_is_open_and_pushed_whatever_its_decisions_event(
    settings: Settings, db: asyncpg.Connection, pool: asyncpg.Pool, order: str
) -> None:
    """3 followed at T0, was followed back on X at minute 5 and unfollowed there at 60, unfollowed
    the brand at 70 and followed again at 80, then liked a post at 90: the item is of the follow at
    80, which no follow-back answered: open and pushed, in every order where the unfollow is read
    no later than the follow-back is applied (an unfollow reopens nothing: see
    ``services.notifier.follow_backs``). 4, a follower the brand still follows (it unfollowed them
    before following back, at minute 1): its follow at 80 is answered by the follow-back of 5."""
    await configure(db, "brand", slack_webhook_url="http://slack.example/hook", daily_push_budget=5)
    after = T0 + timedelta(minutes=80)
    again = decision("3", "high_value", 85, at=T0 + timedelta(minutes=90), followed=after)
    kept = decision("4", "high_value", 85, at=T0 + timedelta(minutes=90), followed=after)
    await record(db, [(again, 1), (kept, 1)])
    for follower, unfollowed, made in (("3", 60, again), ("4", 1, kept)):
        acts = [brand_act("followed_back", follower, 5), brand_act("unfollowed_back", follower, unfollowed)]
        await _arrive(pool, settings, order, acts, [made])
    assert await state(db, "3") == "open"
    assert await db.fetchval("SELECT followed_at FROM review_items WHERE follower_id = '3'") == after
    assert await state(db, "4") == "followed_back"
    pushed = "SELECT follower_id FROM notifications WHERE push <> 'cancelled' ORDER BY follower_id"
    assert [r["follower_id"] for r in await db.fetch(pushed)] == ["3"]
    assert await db.fetchval("SELECT count(*) FROM review_audit WHERE action = 'platform_follow_back'") == 1


async def test_a_follow_back_a_block_of_the_same_batch_ended_gives_way_to_the_one_after_it(
    settings: Settings, db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    """Only each follower's earliest follow-back of a batch was considered: the block of the batch
    ended it, and the follow-back after the block was lost with it (the item stayed open)."""
    await configure(db, "brand", slack_webhook_url="http://slack.example/hook", daily_push_budget=5)
    await x_events(pool, [brand_act(kind, "4", m) for kind, m in (("followed_back", 5), ("blocked", 10),
                                                                  ("followed_back", 20))])  # fmt: skip
    four = decision("4", "high_value", 85, at=T0 + timedelta(hours=2))
    await record(db, [(four, 1)])
    await intake_now(pool, settings, [four])
    assert await state(db, "4") == "followed_back"


def _x_follow_event(kind: str, person: dict[str, Any], at_ms: int) -> dict[str, Any]:
    """X's follow event of the brand's follow or unfollow of ``person``, as the ingest maps it."""
    payload = json.loads((DATA / "follow_events.json").read_text())
    brand = {"id": "3001969357", "id_str": "3001969357", "screen_name": "brand"}
    item = {"type": kind, "created_timestamp": str(at_ms), "source": brand, "target": person}
    [mapped] = map_payload({**payload, "follow_events": [item]}).events
    return mapped


async def test_the_notifier_reads_the_brands_unfollows_on_x_from_the_events_topic(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """On the real broker: X's webhook mapped by the ingest, the notifier running. The brand follows
    4242 back on X and later unfollows them there; a decision that brings 4242 into the queue after
    both (an event an hour after the unfollow: the follower followed again) finds no follow-back
    standing: open, and pushed."""
    person = {"id": "4242", "id_str": "4242", "screen_name": "ana"}
    start = int(T0.timestamp() * 1000)
    followed = _x_follow_event("follow", person, start)
    unfollowed = _x_follow_event("unfollow", person, start + 3_600_000)
    assert (followed["type"], unfollowed["type"]) == ("followed_back", "unfollowed_back")
    with WebhookReceiver() as slack:
        await configure(db, "3001969357", slack_webhook_url=slack.url())
        config = settings.model_copy(
            update={"notifier": NotifierSettings(poll_interval_s=0.1, retry_base_s=0.1, send_timeout_s=3)}
        )
        async with create_app(config).start_lifespan_context():
            await publish_events(config, [followed])
            remembered = "SELECT count(*) FROM platform_follow_backs WHERE follower_id = '4242'"
            assert await eventually(lambda: db.fetchval(remembered), lambda n: n == 1) == 1
            await publish_events(config, [unfollowed])
            ended = "SELECT count(*) FROM platform_unfollows WHERE follower_id = '4242'"
            assert await eventually(lambda: db.fetchval(ended), lambda n: n == 1) == 1
            assert await db.fetchval(remembered) == 1  # kept: it decides no item of a later event
            at = datetime.fromisoformat(unfollowed["occurred_at"]) + timedelta(hours=1)
            later = decision("4242", "high_value", 90, at=at, account="3001969357")
            await send(config, db, [(later, 1)])
            state_of = "SELECT state FROM review_items WHERE follower_id = '4242'"
            assert await eventually(lambda: db.fetchval(state_of), lambda s: s is not None) == "open"
            await eventually(lambda: _pushed(slack), lambda n: n == 1)
        assert len(slack.delivered()) == 1
        assert "4242" in slack.delivered()[0].body["text"]
        assert (
            await db.fetchval("SELECT count(*) FROM review_audit WHERE action = 'platform_follow_back'") == 0
        )


async def _pushed(slack: WebhookReceiver) -> int:
    return len(slack.delivered())


async def test_follow_backs_and_unfollows_decide_the_same_in_any_arrival_order(
    settings: Settings, db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    """Followed back at minute 5, unfollowed at 10, followed back at 20, unfollowed at 30, in every
    arrival order (then all redelivered), before the decisions of three followers per order: an event
    at minute 3 is answered by the follow-back of minute 5, one at 15 by the one of 20 (the brand
    followed back after it), one at 40 by none (the follower followed again after both ended).
    Before, the earliest follow-back after the newest end was all that was kept."""
    await configure(db, "brand", slack_webhook_url="http://slack.example/hook", daily_push_budget=0)
    acts = [("followed_back", 5), ("unfollowed_back", 10), ("followed_back", 20), ("unfollowed_back", 30)]
    five, twenty = ("followed_back", T0 + timedelta(minutes=5)), ("followed_back", T0 + timedelta(minutes=20))
    wanted = {3: five, 15: twenty, 40: ("open", None)}  # the item's event's minute: its state, decided_at
    orders = list(itertools.permutations(range(4)))
    decisions = []
    for n, order in enumerate(orders):
        for i in [*order, *order]:  # then all redelivered
            await x_events(pool, [brand_act(acts[i][0], f"{n}-{minute}", acts[i][1]) for minute in wanted])
        decisions += [decision(f"{n}-{m}", "high_value", 85, at=T0 + timedelta(minutes=m)) for m in wanted]
    await record(db, [(d, 1) for d in decisions])
    await intake_now(pool, settings, decisions)
    got = {}
    for row in await db.fetch("SELECT follower_id, state, decided_at FROM review_items"):
        n, minute = map(int, row["follower_id"].split("-"))
        got[(orders[n], minute)] = (row["state"], row["decided_at"])
    assert got == {(order, minute): wanted[minute] for order in orders for minute in wanted}


async def test_the_summary_counts_a_follower_the_brand_unfollowed_twice_once(
    settings: Settings, db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    """Every unfollow is kept now: the summary still counts the followers the brand unfollowed."""
    await x_events(pool, [brand_act("unfollowed_back", f, m) for f, m in (("1", 10), ("1", 30), ("2", 10))])
    summary = await summarize(settings.postgres.dsn.get_secret_value())
    assert summary.unfollowed_back_on_x == 2
