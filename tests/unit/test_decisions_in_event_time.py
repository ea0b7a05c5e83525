"""The live path decides in arrival order, replay in event time; within the grace period they end
at the same decision for every relationship, whatever order the events arrived in.

The live path here is the services' pure code in the order the pipeline runs it: the churn
detector folds each event as it arrives against the stream's watermark and publishes its
annotation with the revised annotations of the newer events, in event-time order (as
``services/churn/outputs.py`` does), and the scorer decides each (event, revision) once against
the relationship's latest version (``next_version``, as ``services/scorer/decider.py`` does).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

import pytest

from services.churn.rules import ChurnRules, InMemory
from services.scorer.scoring import Current, next_version
from shared.events import Event, event_order
from shared.relationships import AnnotatedEvent
from tests.support import REAL_PERSON, event

RULES = ChurnRules()
Final = dict[str, tuple[str, float]]
Key = tuple[str, str]


def _decide(
    current: dict[Key, Current], annotated: AnnotatedEvent, versions: list[str] | None = None
) -> None:
    key = (annotated.event.account_id, annotated.event.follower.id)
    decision, version = next_version(current.get(key), annotated)
    if version is not None:
        current[key] = version
    if decision is not None and versions is not None:
        versions.append(decision.decision_class.value)


def _final(current: dict[Key, Current]) -> Final:
    """Follower 9's latest decision on each account (other followers only move the clock)."""
    return {account: (c.decision_class.value, c.score) for (account, f), c in current.items() if f == "9"}


def live(arrivals: list[Event], versions: list[str] | None = None) -> Final:
    churn = InMemory(RULES)
    published: dict[str, AnnotatedEvent] = {}
    current: dict[Key, Current] = {}
    for e in arrivals:
        outcome = churn.outcome(e)
        assert outcome.annotation is not None
        out = [AnnotatedEvent(event=e, relationship=outcome.annotation)]
        out += [published[i].model_copy(update={"relationship": note}) for i, note in outcome.revised]
        published.update({a.event.event_id: a for a in out})
        for annotated in sorted(out, key=lambda a: event_order(a.event)):
            _decide(current, annotated, versions if e.follower.id == "9" else None)
    return _final(current)


def replay(events: list[Event]) -> Final:
    churn = InMemory(RULES)
    current: dict[Key, Current] = {}
    for e in sorted(events, key=event_order):
        _decide(current, AnnotatedEvent(event=e, relationship=churn.fold(e)))
    return _final(current)


FOLLOWERS_ACTS = ["follow", "follow", "interaction", "unfollow"]


def history(
    seed: int,
    spread: timedelta,
    instants: int | None = None,
    snapshots: bool = False,
    acts: list[str] = FOLLOWERS_ACTS,
) -> list[Event]:
    """A few follows, likes and unfollows of one follower on two accounts within ``spread`` (or
    ``acts``, drawn from with repeats); with ``instants``, all stamped with one of that many seconds
    (many share one, as second-granular platform timestamps do); with ``snapshots``, each event
    carries its own profile snapshot (the follower's audience changes between them, and with it the
    score)."""
    rng = random.Random(seed)
    count = rng.randint(2, 7)
    kinds = [rng.choice(acts) for _ in range(count)]
    seconds = int(spread.total_seconds())
    if instants is None:
        times = sorted(rng.randint(0, seconds) for _ in range(count))
    else:
        times = sorted(rng.randrange(instants) * seconds // instants for _ in range(count))
    accounts = [rng.choice(["brand", "brand_eu"]) for _ in range(count)]
    audiences = [rng.choice([1_800, 180_000]) if snapshots else None for _ in range(count)]
    return [
        one(f"e{n}", kind, timedelta(seconds=t), account, audience=audience)
        for n, (kind, t, account, audience) in enumerate(zip(kinds, times, accounts, audiences, strict=True))
    ]


def one(
    event_id: str,
    kind: str,
    at: timedelta,
    account: str = "brand",
    follower: str = "9",
    audience: int | None = None,
) -> Event:
    """One event of ``follower``; ``audience``: its profile snapshot's followers_count."""
    like = "like" if kind == "interaction" else None
    profile = REAL_PERSON if audience is None else {**REAL_PERSON, "followers_count": audience}
    return Event.model_validate(
        event(event_id, kind, follower, at, profile, account=account, interaction=like)
    )


WITHIN = RULES.grace - timedelta(minutes=5)  # every history's spread: nothing is late


def shuffled_within_grace(block: int, histories: Callable[[int], list[Event]]) -> None:
    """Block ``block`` of 60 seeded histories, each delivered shuffled: the live path ends where
    event time (replay) does for every one."""
    for seed in range(block * 60, (block + 1) * 60):
        events = histories(seed)
        arrivals = events[:]
        random.Random(seed).shuffle(arrivals)
        assert live(arrivals) == replay(events), f"seed {seed}: arrived {[e.event_id for e in arrivals]}"


@pytest.mark.parametrize("block", range(4))
def test_whatever_the_arrival_order_within_the_grace_period_the_latest_decision_is_event_times(
    block: int,
) -> None:
    shuffled_within_grace(block, lambda seed: history(seed, WITHIN))


# The brand's blocks and unblocks too: a block makes the follower harmful, an unblock lifts that.
WITH_BLOCKS = [*FOLLOWERS_ACTS, "blocked", "unblocked"]


@pytest.mark.parametrize("block", range(4))
def test_whatever_the_arrival_order_of_the_brands_blocks_the_latest_decision_is_event_times(
    block: int,
) -> None:
    shuffled_within_grace(block, lambda seed: history(seed, WITHIN, acts=WITH_BLOCKS))
    shuffled_within_grace(block, lambda seed: history(seed, WITHIN, instants=3, acts=WITH_BLOCKS))


# The brand's follow-backs and unfollows: they decide nothing, but an unfollow of the follower's after
# a follow-back is churn unless the brand's unfollow ended that follow-back first.
WITH_BRANDS_FOLLOWS = [*FOLLOWERS_ACTS, "followed_back", "unfollowed_back"]


@pytest.mark.parametrize("block", range(4))
def test_whatever_the_arrival_order_of_the_brands_follows_and_unfollows_the_latest_decision_is_event_times(
    block: int,
) -> None:
    shuffled_within_grace(block, lambda seed: history(seed, WITHIN, acts=WITH_BRANDS_FOLLOWS))
    shuffled_within_grace(block, lambda seed: history(seed, WITHIN, instants=3, acts=WITH_BRANDS_FOLLOWS))


# X's suspensions and the follower's deactivations too (ignore and withdrawn while they hold), beside
# the brand's blocks.
WITH_ACCOUNT_STATES = [*WITH_BLOCKS, "suspended", "unsuspended", "deactivated", "reactivated"]


@pytest.mark.parametrize("block", range(4))
def test_whatever_the_arrival_order_of_suspensions_and_deactivations_the_latest_decision_is_event_times(
    block: int,
) -> None:
    shuffled_within_grace(block, lambda seed: history(seed, WITHIN, acts=WITH_ACCOUNT_STATES))
    shuffled_within_grace(block, lambda seed: history(seed, WITHIN, instants=3, acts=WITH_ACCOUNT_STATES))


def test_a_suspension_delivered_after_the_like_it_came_before_leaves_the_follower_ignored() -> None:
    follow, suspension, like = (
        one("f", "follow", timedelta(0)),
        one("s", "suspended", timedelta(minutes=5)),
        one("l", "interaction", timedelta(minutes=10)),
    )
    versions: list[str] = []
    assert live([follow, like, suspension], versions) == replay([follow, suspension, like])
    assert live([follow, like, suspension])["brand"][0] == "ignore"
    assert versions[-1] == "ignore"


def test_a_block_delivered_after_the_like_it_came_before_leaves_the_follower_harmful() -> None:
    follow, block, like = (
        one("f", "follow", timedelta(0)),
        one("b", "blocked", timedelta(minutes=5)),
        one("l", "interaction", timedelta(minutes=10)),
    )
    versions: list[str] = []
    assert live([follow, like, block], versions) == replay([follow, block, like])
    assert live([follow, like, block])["brand"][0] == "harmful"
    assert versions[-1] == "harmful"


@pytest.mark.parametrize("block", range(4))
def test_whatever_the_arrival_order_of_events_sharing_a_second_the_latest_decision_is_event_times(
    block: int,
) -> None:
    """Within one second the detector's order is the type's (follow, interaction, unfollow), then
    the event id: an event before the latest decision's in that order decides nothing on top."""
    shuffled_within_grace(block, lambda seed: history(seed, WITHIN, instants=3))


@pytest.mark.parametrize("block", range(4))
def test_whatever_the_arrival_order_of_events_with_their_own_snapshots_the_latest_decision_is_event_times(
    block: int,
) -> None:
    """The newest event scored stands for the relationship even when it recorded no version (it
    scored the same): an older snapshot arriving after it must not decide on top."""
    shuffled_within_grace(
        block, lambda seed: history(seed, WITHIN, instants=None if seed % 2 else 3, snapshots=True)
    )


def test_an_older_snapshot_arriving_after_a_newer_one_that_scored_the_same_decides_nothing() -> None:
    """A follow, then two duplicates of it with the profile as it was at each: a large audience ten
    minutes in, the small one again twenty minutes in. The twenty-minute one arrives second and
    scores as the first (no version); the ten-minute one arrives last. Event time's latest
    snapshot is the small audience: the follower stays worth following, not high value."""
    small, large, small_again = (
        one("a", "follow", timedelta(0), audience=1_800),
        one("c", "follow", timedelta(minutes=10), audience=180_000),
        one("b", "follow", timedelta(minutes=20), audience=1_800),
    )
    versions: list[str] = []
    assert live([small, small_again, large], versions) == replay([small, large, small_again])
    assert versions == ["worth_following"]


def test_a_repeated_follow_of_the_unfollows_second_arriving_after_it_leaves_the_follower_withdrawn() -> None:
    """A follow, the platform's duplicate of it under another id, and an unfollow, all stamped with
    one second; the unfollow arrives before the duplicate. The duplicate changes nothing in the
    unfollow's annotation (a follow while following), so nothing revises it: deciding the
    duplicate on top of the withdrawal would leave a follower who left as worth following."""
    follow, again, unfollow = (
        one(i, kind, timedelta(0)) for i, kind in [("a", "follow"), ("b", "follow"), ("c", "unfollow")]
    )
    versions: list[str] = []
    assert live([follow, unfollow, again], versions) == replay([follow, again, unfollow])
    assert versions == ["worth_following", "withdrawn"]


def test_a_like_before_the_follow_arriving_after_it_leaves_the_follower_high_value_not_withdrawn() -> None:
    follow, like = one("f", "follow", timedelta(minutes=1)), one("l", "interaction", timedelta(0))
    versions: list[str] = []
    assert live([follow, like], versions) == replay([like, follow])
    assert versions == ["worth_following", "high_value"]  # never withdrawn on the way


DAY, HOUR, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)


@pytest.mark.parametrize(
    "arrivals",
    [
        # A late unfollow (past the grace period) that changes nothing: the follower had left long
        # ago and follows again now (pending, decided high value); it must not make them withdrawn.
        [one("F", "follow", -10 * DAY), one("U", "unfollow", -10 * DAY + 30 * MINUTE),
         one("clock0", "follow", -2 * HOUR, follower="x"), one("F2", "follow", timedelta(0)),
         one("L3", "interaction", 5 * MINUTE), one("clock", "follow", 30 * MINUTE, follower="x2"),
         one("U9", "unfollow", -3 * HOUR)],
        # A late unfollow older than the settled follow changes nothing (the follower still
        # follows): it is no withdrawal, though the latest decision's event is older than its as_of.
        [one("F", "follow", 10 * HOUR), one("clock", "follow", 12 * HOUR, follower="x"),
         one("U", "unfollow", timedelta(0))],
        # A late duplicate of a follow stamped with the settled unfollow's second: in event time it
        # comes before the unfollow, so it must not bring back a follower who left.
        [one("F", "follow", -30 * DAY), one("L", "interaction", -29 * DAY),
         one("U", "unfollow", timedelta(0)), one("clock", "follow", 2 * HOUR, follower="x"),
         one("F2", "follow", timedelta(0))],
        # A late repeated follow while an unfollow is pending: it must not bring the follower back.
        [one("F", "follow", -10 * DAY), one("L0", "interaction", -9 * DAY),
         one("clock0", "follow", -2 * HOUR, follower="x"), one("U", "unfollow", timedelta(0)),
         one("clock", "follow", 30 * MINUTE, follower="x2"), one("F2", "follow", -3 * HOUR)],
    ],
)  # fmt: skip
def test_a_late_event_decides_only_when_its_annotation_is_newer_than_the_latest_decision(
    arrivals: list[Event],
) -> None:
    """A late event is folded after what settled, without the events still pending: its
    annotation is as of the settled time (``as_of``). When a pending event made the latest
    decision, the late one decides nothing, and the relationship ends where event time has it."""
    assert live(arrivals) == replay(arrivals)


@pytest.mark.parametrize(
    "arrivals",
    [
        # An unfollow re-delivered late, older than a suspension (or a deactivation) that settled and
        # was lifted: the follower left; they were scored as following again once it lifted.
        [one("F", "follow", -60 * DAY), one("S", kind, 5 * HOUR),
         one("clock", "follow", 10 * HOUR, follower="x"), one("X", "unfollow", 2 * HOUR),
         one("U", lifting, 11 * HOUR), one("clock2", "follow", 20 * HOUR, follower="x2")]
        for kind, lifting in [("suspended", "unsuspended"), ("deactivated", "reactivated")]
    ]
    + [
        # A follow (a new one, after the follower left) arriving late, older than a suspension that
        # settled, or stamped with its second: they follow; they were withdrawn once it lifted.
        [one("F", "follow", -120 * DAY), one("X", "unfollow", -60 * DAY), one("S", "suspended", 5 * HOUR),
         one("clock", "follow", 10 * HOUR, follower="x"), one("F2", "follow", at),
         one("U", "unsuspended", 11 * HOUR), one("clock2", "follow", 20 * HOUR, follower="x2")]
        for at in (2 * HOUR, 5 * HOUR)
    ]
    + [
        # The brand's block re-delivered late, older than a deactivation and its lifting: harmful.
        [one("F", "follow", -60 * DAY), one("D", "deactivated", 5 * HOUR), one("R", "reactivated", 6 * HOUR),
         one("clock", "follow", 10 * HOUR, follower="x"), one("B", "blocked", 2 * HOUR),
         one("clock2", "follow", 20 * HOUR, follower="x2")],
    ],
)  # fmt: skip
def test_a_late_move_of_the_follow_older_than_a_settled_account_state_decides_as_event_time(
    arrivals: list[Event],
) -> None:
    """A suspension or deactivation (and their lifting) move the account's state, not the follow: a
    follow, unfollow or block older than them, arriving late, still moves it."""
    assert live(arrivals) == replay(arrivals)
