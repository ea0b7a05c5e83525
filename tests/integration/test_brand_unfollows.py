"""The brand's unfollow of a follower on X (``unfollowed_back``) through the live churn detector and
scorer on the real broker and database: the follower who unfollows the brand after it ended its
follow-back is withdrawn, not a churner; one followed back again is; ``explain`` shows the brand's
unfollow, and a replay of the log finds zero differences."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg
import pytest

from followback.eventlog import Window
from followback.explain import trail
from shared.accounts import AccountConfig
from shared.events import Event
from shared.settings import Settings
from tests.integration.test_brand_blocks import BO, decisions_of
from tests.integration.test_replay import live_run, run_replay
from tests.support import REAL_PERSON, event

pytestmark = pytest.mark.integration

M = timedelta(minutes=1)
DAY = 24 * 60  # minutes: the follows last longer than the quick-unfollow window (7 days)
CY = {**REAL_PERSON, "screen_name": "cy_cafe"}
CONFIG = AccountConfig(vips=["ana_roasts", "bo_brews", "cy_cafe"])


def ev(
    event_id: str, kind: str, follower: str, minute: int, profile: dict[str, object] | None = None
) -> Event:
    return Event.model_validate(event(event_id, kind, follower, minute * M, profile))


IN_EVENT_TIME = sorted(
    [
        # 7 (ana): followed back, the brand unfollows her on X, she unfollows in return.
        ev("a-follow", "follow", "7", 0),
        ev("a-back", "followed_back", "7", 10),
        ev("a-unback", "unfollowed_back", "7", 8 * DAY),
        ev("a-leave", "unfollow", "7", 8 * DAY + 60),
        # 8 (bo): followed back, unfollowed by the brand, followed back again, then leaves: a churner.
        ev("b-follow", "follow", "8", 0, BO),
        ev("b-back", "followed_back", "8", 10, BO),
        ev("b-unback", "unfollowed_back", "8", 2 * DAY, BO),
        ev("b-back2", "followed_back", "8", 3 * DAY, BO),
        ev("b-leave", "unfollow", "8", 8 * DAY + 60, BO),
        # 9 (cy): as ana, but the brand's unfollow reaches the detector after hers (within the grace period).
        ev("c-follow", "follow", "9", 0, CY),
        ev("c-back", "followed_back", "9", 10, CY),
        ev("c-leave", "unfollow", "9", 8 * DAY + 40, CY),
    ],
    key=lambda e: e.occurred_at,
)
STREAM = [*IN_EVENT_TIME, ev("c-unback", "unfollowed_back", "9", 8 * DAY + 30, CY)]


async def test_a_follower_leaving_after_the_brands_unfollow_is_withdrawn_not_a_churner_and_replays_exactly(
    settings: Settings, db: asyncpg.Connection
) -> None:
    records = await live_run(settings, db, events=STREAM, config=CONFIG)

    ana, bo, cy = [await decisions_of(db, f) for f in ("7", "8", "9")]
    # The brand's follow-backs and unfollows decide nothing; the follower's unfollow does.
    assert [(d.event_ids[0], d.decision_class.value) for d in ana] == [("a-follow", "high_value"),
                                                                        ("a-leave", "withdrawn")]  # fmt: skip
    assert [(d.event_ids[0], d.decision_class.value) for d in bo] == [("b-follow", "high_value"),
                                                                       ("b-leave", "churner")]  # fmt: skip
    assert next(r.value for r in bo[-1].reasons if r.signal == "churn") == "unfollow_after_follow_back"
    assert [d.decision_class.value for d in cy][-1] == "withdrawn"  # the unfollow was revised
    note = json.loads(
        await db.fetchval("SELECT annotated::text FROM churn_processed WHERE event_id = 'a-unback'")
    )["relationship"]
    shown = (note["following"], note["unfollows"], note["followed_back_at"], note["patterns"])
    assert shown == (True, 0, None, [])
    rows = await db.fetch(
        "SELECT event_id, emitted::text FROM churn_processed"
        " WHERE emitted -> 'alerts' <> '[]' ORDER BY event_id"
    )
    alerts = [
        (r["event_id"], a["pattern"], a["withdrawn"])
        for r in rows
        for a in json.loads(r["emitted"])["alerts"]
    ]
    # Ana raised none; cy's, raised by her unfollow, is withdrawn by the brand's arriving after it.
    assert alerts == [
        ("b-leave", "unfollow_after_follow_back", False),
        ("c-leave", "unfollow_after_follow_back", False),
        ("c-unback", "unfollow_after_follow_back", True),
    ]

    # explain shows the brand's unfollow in the trail, in event time.
    found = await trail(db, "brand", "8")
    assert [e["type"] for e in found["events"]] == [
        "follow", "followed_back", "unfollowed_back", "followed_back", "retained", "unfollow",
    ]  # fmt: skip

    # A replay of the log (in event time) decides exactly what was recorded live; cy's unfollow
    # was revised (the brand's came late), so her versions may rest on other events than replay's,
    # marked as such, her latest decision the same.
    replayed = await run_replay(settings, db, records, Window())
    assert [d for d in replayed.differences if d.follower_id != "9"] == []
    assert all(d.arrived_out_of_order for d in replayed.differences)
    assert replayed.decisions_recomputed >= len(ana) + len(bo)
