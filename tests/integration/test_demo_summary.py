"""The demo's summary (``followback.summary``) on what the live churn detector, scorer and notifier
wrote: the followers held back as "not available on X" now (suspended by X, deactivated, not those
whose suspension was lifted) and the brand's unfollows on X (its clean-up, a follower's block)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from followback.summary import summarize
from shared.events import Event, EventType
from shared.settings import Settings
from tests.integration.test_follow_back_ended_by_block import x_events
from tests.integration.test_replay import live_run
from tests.support import event

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)
STREAM = [
    Event.model_validate(event(f"{follower}-{n}", kind, follower, at))
    for follower, moves in {
        "1": [("follow", 0 * DAY), ("suspended", 3 * DAY)],
        "2": [("follow", 0 * DAY), ("deactivated", 2 * DAY)],
        "3": [("follow", 0 * DAY), ("suspended", 1 * DAY), ("unsuspended", 4 * DAY)],
        "4": [("follow", 0 * DAY), ("followed_back", DAY / 8), ("unfollowed_back", 8 * DAY)],  # clean-up
        "5": [("follow", 0 * DAY), ("unfollow", 9 * DAY), ("unfollowed_back", 9 * DAY)],  # blocked the brand
        "6": [("follow", 0 * DAY)],
    }.items()
    for n, (kind, at) in enumerate(moves)
]


async def test_the_summary_counts_who_is_not_available_on_x_and_the_brands_unfollows(
    settings: Settings, db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    await live_run(settings, db, events=sorted(STREAM, key=lambda e: e.occurred_at))
    # (what the notifier's consumer of the events topic records of the brand's acts on X)
    await x_events(
        pool, [e for e in STREAM if e.type in (EventType.FOLLOWED_BACK, EventType.UNFOLLOWED_BACK)]
    )

    summary = await summarize(settings.postgres.dsn.get_secret_value())

    assert (summary.suspended_on_x, summary.deactivated_on_x, summary.unfollowed_back_on_x) == (1, 1, 2)
    assert {f: summary.current[f] for f in ("1", "2", "5")} == {
        "1": "ignore",
        "2": "withdrawn",
        "5": "withdrawn",
    }
    shown = summary.as_dict()
    assert (shown["suspended_on_x"], shown["deactivated_on_x"], shown["unfollowed_back_on_x"]) == (1, 1, 2)
    assert shown["relationships"] == 6
