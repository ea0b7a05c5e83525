"""X's suspension of a follower's account and the follower's deactivation of it (X's compliance data,
posted to ingest as events) through the live churn detector, scorer and notifier on the real broker
and database: the follow stands (no unfollow counted), the follower is ignore while suspended and
withdrawn while deactivated (high value again once lifted), a push already sent is retracted as
"is no longer available on X", Follow back is refused, ``explain`` shows the
events, the decision rows and the scorer's positions name the new types (migration 0022), and a
replay of the log finds zero differences."""

from __future__ import annotations

import json

import asyncpg
import pytest

from followback.eventlog import Window
from followback.explain import trail
from services.notifier import messages
from services.notifier.actions import Action, perform
from services.scorer import store
from shared.accounts import AccountConfig
from shared.db import create_pool
from shared.settings import Settings
from tests.integration.test_brand_blocks import BO, decisions_of, ev
from tests.integration.test_replay import live_run, run_replay
from tests.notifier_support import intake_now
from tests.support import REAL_PERSON

pytestmark = pytest.mark.integration

CONFIG = AccountConfig(vips=["ana_roasts", "bo_brews"], slack_webhook_url="http://127.0.0.1:9/hook")


STREAM = [
    # 7 (ana, a VIP: high value) likes a post, then X suspends her account (and says so twice).
    ev("a-follow", "follow", "7", 0),
    ev("a-like", "interaction", "7", 10),
    ev("a-suspend", "suspended", "7", 60),
    ev("a-suspend2", "suspended", "7", 90),
    # 8 (bo, a VIP) deactivates his account and reactivates it: high value again.
    ev("b-follow", "follow", "8", 0, BO),
    ev("b-deactivate", "deactivated", "8", 60, BO),
    ev("b-reactivate", "reactivated", "8", 120, BO),
    # 9 (cy, worth following): suspended, then the suspension lifted: as before, the follow never ended.
    ev("c-follow", "follow", "9", 0, {**REAL_PERSON, "screen_name": "cy_cafe"}),
    ev("c-suspend", "suspended", "9", 30, {**REAL_PERSON, "screen_name": "cy_cafe"}),
    ev("c-lift", "unsuspended", "9", 45, {**REAL_PERSON, "screen_name": "cy_cafe"}),
    # 6: a stranger whose account X suspends: nothing to decide.
    ev("d-suspend", "suspended", "6", 30),
]


async def test_a_suspended_follower_is_ignored_retracted_not_followed_back_and_replays_exactly(
    settings: Settings, db: asyncpg.Connection, conn: asyncpg.Connection
) -> None:
    records = await live_run(settings, db, events=STREAM, config=CONFIG)

    ana, bo, cy = [await decisions_of(db, f) for f in ("7", "8", "9")]
    # (the like moves the score: a version of its own; X's second message about the suspension none)
    assert [(d.decision_class.value, d.event_type.value if d.event_type else None) for d in ana] == [
        ("high_value", "follow"), ("high_value", "interaction"), ("ignore", "suspended"),
    ]  # fmt: skip
    assert "suspended_by_platform" in {r.signal for r in ana[2].reasons}
    assert ana[2].score == ana[1].score  # a rule, no points
    assert [d.decision_class.value for d in bo] == ["high_value", "withdrawn", "high_value"]
    assert "account_deactivated" in {r.signal for r in bo[1].reasons}
    assert [d.decision_class.value for d in cy] == ["worth_following", "ignore", "worth_following"]
    assert await db.fetchval("SELECT count(*) FROM decisions WHERE follower_id = '6'") == 0
    # X's second message scored the same: the version now stands for it (a scorer position naming the
    # new type), and the version read back says the account is suspended.
    position = await db.fetchrow("SELECT event_type, event_id FROM scorer_positions WHERE follower_id = '7'")
    assert tuple(position) == ("suspended", "a-suspend2")
    latest = await store.current(db, [("brand", "7"), ("brand", "8")])
    assert (latest[("brand", "7")].account_state, latest[("brand", "8")].account_state) == ("suspended", None)
    # The follow stands: no unfollow counted, no churn.
    note = json.loads(
        await db.fetchval("SELECT annotated::text FROM churn_processed WHERE event_id = 'a-suspend'")
    )["relationship"]
    assert (note["following"], note["unfollows"], note["patterns"]) == (True, 0, [])
    assert note["suspended_at"].startswith(STREAM[2].occurred_at.strftime("%Y-%m-%dT%H:%M"))
    assert await db.fetchval("SELECT count(*) FROM churn_processed WHERE emitted -> 'alerts' <> '[]'") == 0

    # explain shows the deactivation and the reactivation in the trail, in event time.
    found = await trail(db, "brand", "8")
    assert [e["type"] for e in found["events"]] == ["follow", "deactivated", "reactivated"]
    assert found["events"][1]["relationship"]["deactivated_at"] is not None

    # A replay of the log (in event time) decides exactly what was recorded live.
    replayed = await run_replay(settings, db, records, Window())
    assert replayed.differences == []
    assert replayed.decisions_recomputed >= len(ana) + len(bo) + len(cy)

    # The notifier: ana's and bo's pushes went out, then X suspended her, and he deactivated his
    # account, before anyone acted.
    pool = await create_pool(settings.postgres)
    try:
        await intake_now(pool, settings, [ana[0], bo[0]])
        pushed = await db.fetchval("SELECT count(*) FROM deliveries WHERE kind = 'push'")
        assert pushed == 2
        await db.execute("UPDATE deliveries SET status = 'sent', sent_at = now() WHERE kind = 'push'")
        await intake_now(pool, settings, [*ana[1:], bo[1]])
    finally:
        await pool.close()
    statuses = await db.fetch("SELECT follower_id, status FROM notifications ORDER BY follower_id")
    assert [tuple(s) for s in statuses] == [("7", "retracted"), ("8", "retracted")]
    retractions = {
        row["follower_id"]: messages.retraction_text(json.loads(row["payload"]))
        for row in await db.fetch(
            "SELECT follower_id, payload::text FROM deliveries WHERE kind = 'retraction' ORDER BY follower_id"
        )
    }
    assert retractions["7"].startswith(
        "Retracted: @ana_roasts (Ana Costa) is no longer available on X before anyone acted"
    )
    assert retractions["8"].startswith(
        "Retracted: @bo_brews (Bo) is no longer available on X before anyone acted"
    )
    item = await db.fetchrow("SELECT state, class FROM review_items WHERE follower_id = '7'")
    assert tuple(item) == ("open", "ignore")
    done = await perform(db, actor="rita", action=Action.FOLLOW_BACK, account_id="brand", follower_id="7",
                         events_topic=settings.topic("events"))  # fmt: skip
    assert (done.done, done.message) == (
        False,
        "@ana_roasts was not followed back: their account is not available on X",
    )
    done = await perform(db, actor="rita", action=Action.FOLLOW_BACK, account_id="brand", follower_id="8",
                         events_topic=settings.topic("events"))  # fmt: skip
    assert (done.done, done.message) == (
        False,
        "@bo_brews was not followed back: their account is not available on X",
    )
    assert await db.fetchval("SELECT count(*) FROM deliveries WHERE kind IN ('event', 'follow_back')") == 0
    # Dismiss still works (on a connection of the services' pool: the audit row's jsonb).
    done = await perform(conn, actor="rita", action=Action.DISMISS, account_id="brand", follower_id="7",
                         events_topic=settings.topic("events"))  # fmt: skip
    assert done.done
