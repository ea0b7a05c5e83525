"""Replay of one account: every account's events are folded, only the account's are decided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from followback.eventlog import Record, Window
from followback.replay import recompute
from services.churn.patterns import ChurnRules
from services.scorer.scoring import ScoringRules
from shared.decisions import DecisionClass
from shared.events import Event, EventType, Profile
from shared.relationships import ChurnPattern

START = datetime(2026, 1, 5, tzinfo=UTC)
PROFILE = Profile(
    id="f1", screen_name="beans", description="coffee lover", followers_count=500, friends_count=100,
    statuses_count=300, favourites_count=5, listed_count=10,
)  # fmt: skip


def event(event_id: str, kind: EventType, account: str, at: datetime) -> Event:
    return Event(
        event_id=event_id, type=kind, platform="x", account_id=account, follower=PROFILE, occurred_at=at
    )


def cross_account_churner() -> list[Record]:
    """Quick unfollows on two brand accounts, then a follow of a third."""
    steps = [
        (EventType.FOLLOW, "brand_eu", 0), (EventType.UNFOLLOW, "brand_eu", 1),
        (EventType.FOLLOW, "brand_us", 2), (EventType.UNFOLLOW, "brand_us", 3),
        (EventType.FOLLOW, "brand", 4),
    ]  # fmt: skip
    return [
        Record(event(f"e{n}", kind, account, START + timedelta(days=day)), b"")
        for n, (kind, account, day) in enumerate(steps, 1)
    ]


def test_one_accounts_replay_counts_the_followers_churn_on_the_other_accounts() -> None:
    records = cross_account_churner()
    _, _, whole = recompute(records, Window(), ScoringRules(), {}, ChurnRules())
    read, in_window, alone = recompute(records, Window(account="brand"), ScoringRules(), {}, ChurnRules())
    assert read == len(records)
    assert in_window == ["e5"]  # only the account's events are decided and compared
    assert list(alone) == ["e5"]
    assert alone["e5"].decision_class is DecisionClass.CHURNER
    churn = next(r for r in alone["e5"].reasons if r.signal == "churn")
    assert ChurnPattern.CROSS_ACCOUNT_CHURN in str(churn.value).split(",")
    assert alone["e5"] == whole["e5"]
