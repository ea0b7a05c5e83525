"""The brand's block of a follower through the live churn detector and scorer on the real broker and
database: the follower is harmful while blocked (and again scored as before once unblocked and
following again), a push already sent is retracted as "blocked by the brand", Follow back is
refused, ``explain`` shows the blocks, and a replay of the log finds zero differences."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg
import pytest

from followback.eventlog import Window
from followback.explain import trail
from services.notifier import messages
from services.notifier.actions import Action, perform
from shared.accounts import AccountConfig
from shared.db import create_pool
from shared.decisions import Decision
from shared.events import Event
from shared.settings import Settings
from tests.integration.test_replay import live_run, run_replay
from tests.notifier_support import intake_now
from tests.support import REAL_PERSON, event

pytestmark = pytest.mark.integration

M = timedelta(minutes=1)
BO = {**REAL_PERSON, "screen_name": "bo_brews", "name": "Bo"}
CONFIG = AccountConfig(
    vips=["ana_roasts", "bo_brews", "cy_cafe"], slack_webhook_url="http://127.0.0.1:9/hook"
)


def ev(
    event_id: str, kind: str, follower: str, minute: int, profile: dict[str, object] | None = None
) -> Event:
    like = "like" if kind == "interaction" else None
    return Event.model_validate(event(event_id, kind, follower, minute * M, profile, interaction=like))


STREAM = [
    # 7 (ana, a VIP: high value) is blocked, and likes a post while blocked.
    ev("a-follow", "follow", "7", 0),
    ev("a-like", "interaction", "7", 10),
    ev("a-block", "blocked", "7", 60),
    ev("a-like2", "interaction", "7", 120),
    # 8 (bo) is blocked, unblocked, and follows again: a new follow, high value again.
    ev("b-follow", "follow", "8", 0, BO),
    ev("b-block", "blocked", "8", 60, BO),
    ev("b-unblock", "unblocked", "8", 120, BO),
    ev("b-follow2", "follow", "8", 180, BO),
    # 9 (cy): the block reaches the detector after the like it came before (within the grace period).
    ev("c-follow", "follow", "9", 0, {**REAL_PERSON, "screen_name": "cy_cafe"}),
    ev("c-like", "interaction", "9", 50, {**REAL_PERSON, "screen_name": "cy_cafe"}),
    ev("c-block", "blocked", "9", 40, {**REAL_PERSON, "screen_name": "cy_cafe"}),
    # 6: a stranger the brand blocks: nothing to decide.
    ev("d-block", "blocked", "6", 30),
]


async def decisions_of(db: asyncpg.Connection, follower: str) -> list[Decision]:
    rows = await db.fetch(
        "SELECT decision_id::text, account_id, follower_id, screen_name, class, score::float8 AS score, "
        "reasons::text AS reasons, scorer_version, config_version, event_ids, occurred_at, revision, "
        "event_type FROM decisions WHERE follower_id = $1 ORDER BY version",
        follower,
    )
    return [
        Decision.model_validate(
            {**dict(r), "reasons": json.loads(r["reasons"]), "event_ids": tuple(r["event_ids"])}
        )
        for r in rows
    ]


async def test_a_blocked_follower_is_harmful_retracted_not_followed_back_and_replays_exactly(
    settings: Settings, db: asyncpg.Connection
) -> None:
    records = await live_run(settings, db, events=STREAM, config=CONFIG)

    ana, bo, cy = [await decisions_of(db, f) for f in ("7", "8", "9")]
    # (the first like moves the score: a version of its own; the second, at 100 already, does not)
    assert [d.decision_class.value for d in ana] == ["high_value", "high_value", "harmful"]
    assert [r.signal for r in ana[2].reasons if r.contribution == 0][:1] == ["blocked_by_brand"]
    assert [d.decision_class.value for d in bo] == ["high_value", "harmful", "withdrawn", "high_value"]
    assert [d.decision_class.value for d in cy][-1] == "harmful"  # the like was revised: blocked before it
    assert await db.fetchval("SELECT count(*) FROM decisions WHERE follower_id = '6'") == 0
    note = json.loads(
        await db.fetchval("SELECT annotated::text FROM churn_processed WHERE event_id = 'a-block'")
    )["relationship"]
    assert (note["following"], note["unfollows"], note["patterns"]) == (False, 0, [])
    assert await db.fetchval("SELECT count(*) FROM churn_processed WHERE emitted -> 'alerts' <> '[]'") == 0

    # explain shows the brand's blocks in the trail, in event time.
    found = await trail(db, "brand", "8")
    assert [e["type"] for e in found["events"]] == ["follow", "blocked", "unblocked", "follow"]

    # A replay of the log (in event time) decides exactly what was recorded live; cy's block arrived
    # out of order, so its versions may rest on other events than replay's (the README's "one
    # difference stays possible by design", marked as such), its latest decision the same.
    replayed = await run_replay(settings, db, records, Window())
    assert [d for d in replayed.differences if d.follower_id != "9"] == []
    assert all(d.arrived_out_of_order for d in replayed.differences)
    assert replayed.decisions_recomputed >= len(ana) + len(bo)

    # The notifier: ana's push went out, then the brand blocked her before anyone acted.
    pool = await create_pool(settings.postgres)
    try:
        await intake_now(pool, settings, ana[:1])
        pushed = await db.fetchval(
            "SELECT count(*) FROM deliveries WHERE follower_id = '7' AND kind = 'push'"
        )
        assert pushed == 1
        await db.execute("UPDATE deliveries SET status = 'sent', sent_at = now() WHERE kind = 'push'")
        await intake_now(pool, settings, ana[1:])
    finally:
        await pool.close()
    status = await db.fetchval("SELECT status FROM notifications WHERE follower_id = '7'")
    assert status == "retracted"
    retraction = await db.fetchval(
        "SELECT payload::text FROM deliveries WHERE follower_id = '7' AND kind = 'retraction'"
    )
    assert retraction is not None
    assert messages.retraction_text(json.loads(retraction)).startswith(
        "Retracted: @ana_roasts (Ana Costa) was blocked by the brand before anyone acted"
    )
    item = await db.fetchrow("SELECT state, class FROM review_items WHERE follower_id = '7'")
    assert tuple(item) == ("open", "harmful")
    done = await perform(db, actor="rita", action=Action.FOLLOW_BACK, account_id="brand", follower_id="7",
                         events_topic=settings.topic("events"))  # fmt: skip
    assert (done.done, done.message) == (False, "@ana_roasts was not followed back: the brand blocked them")
    assert await db.fetchval("SELECT count(*) FROM deliveries WHERE kind IN ('event', 'follow_back')") == 0
