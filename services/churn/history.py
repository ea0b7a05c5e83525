"""A follower's history in event time: the working types and the view that annotates every pending
event as of its event-time position.

Each relationship keeps a *settled* tally (the events that were older than the watermark when it
last moved, folded in event-time order) and the *pending* events since then, sorted by
``(occurred_at, type, event_id)``. An event's annotation is the settled tally stepped over the
pending events up to it, so it depends on ``occurred_at`` only, never on the arrival order.
Cross-account churn is read here from the churn times of all the follower's relationships (one
follower's events share a partition, so the detector loads them together).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from services.churn.patterns import ChurnRules, Facts, Tally, canonical, in_horizon, step
from shared.events import EVENT_TIME_RANK, EventType, Order
from shared.relationships import AlertMark, Annotation, ChurnAlert, ChurnPattern

CROSS = ChurnPattern.CROSS_ACCOUNT_CHURN


class Item(NamedTuple):
    """A pending event: when, what, which, and how often its annotation was published again."""

    at: datetime
    kind: EventType
    event_id: str
    revision: int = 0

    @property
    def order(self) -> Order:
        return (self.at, EVENT_TIME_RANK[self.kind], self.event_id)


class Rel(NamedTuple):
    """One relationship: settled tally, pending events, the alerts last published."""

    settled: Tally = Tally()
    through: datetime | None = None  # the newest settled event's time: nothing new goes before it
    pending: tuple[Item, ...] = ()
    alerts: tuple[AlertMark, ...] = ()


Follower = Mapping[str, Rel]  # account id -> relationship, all of one follower


class Point(NamedTuple):
    """A pending event's place: the tally just after it and what it did."""

    item: Item
    tally: Tally
    dwell: timedelta | None
    new: tuple[ChurnPattern, ...]
    accounts_churned: int
    cycles: int


@dataclass(frozen=True, slots=True)
class View:
    points: tuple[Point, ...]
    now: Tally  # the relationship as of its newest event


@dataclass(frozen=True, slots=True)
class Notice:
    """A follow that lasted the window: a ``retained`` event to emit at ``due``."""

    account_id: str
    follow_at: datetime
    due: datetime
    annotation: Annotation


@dataclass
class Outcome:
    """A fold's or an advance's results: new states and everything to publish."""

    follower: dict[str, Rel]
    views: dict[str, View]
    annotation: Annotation | None = None
    late: bool = False
    revised: list[tuple[str, Annotation]] = field(default_factory=list)
    alerts: list[ChurnAlert] = field(default_factory=list)
    retained: list[Notice] = field(default_factory=list)


TICK = timedelta(microseconds=1)  # the finest step of event time


def count_churned(ends: Mapping[str, tuple[Order, ...]], upto: Order, rules: ChurnRules) -> int:
    """Accounts with a churn at or before ``upto`` and within the horizon before it."""
    if not any(ends.values()):
        return 0  # most followers never churned anywhere
    since = upto[0] - rules.horizon
    return sum(1 for keys in ends.values() if any(since <= k[0] and k <= upto for k in keys))


def _ends(rel: Rel, steps: list[tuple[Item, Tally, Tally, Facts]]) -> tuple[Order, ...]:
    """Where the relationship churned: settled churns come before every pending event."""
    settled = tuple((t, -1, "") for t in rel.settled.churn_ends)
    return settled + tuple(item.order for item, _, _, facts in steps if facts.matched)


def with_cross(tally: Tally) -> Tally:
    return tally if CROSS in tally.patterns else tally._replace(patterns=canonical({*tally.patterns, CROSS}))


def view(follower: Follower, rules: ChurnRules) -> dict[str, View]:
    """Every pending event of the follower annotated as of its event-time position."""
    replays = {}
    for account, rel in follower.items():
        tally, steps = rel.settled, []
        for item in rel.pending:
            before = tally
            tally, facts = step(tally, item.kind, item.at, rules)
            steps.append((item, before, tally, facts))
        replays[account] = steps
    # Cross-account churn is read from the churn times of all the follower's relationships.
    ends = {account: _ends(follower[account], steps) for account, steps in replays.items()}
    views = {}
    for account, steps in replays.items():
        rel = follower[account]
        cross = CROSS in rel.settled.patterns
        points = []
        for item, before, tally, facts in steps:
            churned = count_churned(ends, item.order, rules)
            new = tuple(p for p in facts.matched if p not in before.patterns)
            if not cross and churned >= rules.cross_accounts:
                cross, new = True, canonical({*new, CROSS})
            after = with_cross(tally) if cross else tally
            cycles = in_horizon(after.cycle_ends, item.at, rules)
            points.append(Point(item, after, facts.dwell, new, churned, cycles))
        views[account] = View(tuple(points), points[-1].tally if points else rel.settled)
    return views


def annotation(
    point: Point, rules: ChurnRules, *, late: bool = False, as_of: datetime | None = None
) -> Annotation:
    """What ``point`` tells about its relationship, naming the rules it was folded under; a late
    event's is as of ``as_of``, the newest settled time it was folded after."""
    t = point.tally
    return Annotation(
        follows=t.follows,
        unfollows=t.unfollows,
        interactions=t.interactions,
        following=t.following,
        last_follow_at=t.last_follow_at,
        last_unfollow_at=t.last_unfollow_at,
        last_interaction_at=t.last_interaction_at,
        dwell_seconds=point.dwell.total_seconds() if point.dwell is not None else None,
        cycles_in_horizon=point.cycles,
        patterns=t.patterns,
        new_patterns=point.new,
        followed_back_at=t.followed_back_at,
        accounts_churned=point.accounts_churned,
        blocked_at=t.blocked_at,
        suspended_at=t.suspended_at,
        deactivated_at=t.deactivated_at,
        late=late,
        revision=point.item.revision,
        as_of=as_of,
        churn_rules=rules.fingerprint,
    )


def key(point: Point) -> tuple[object, ...]:
    """What an annotation says, without its revision: a change means publishing it again."""
    t = point.tally
    return (
        t.follows, t.unfollows, t.interactions, t.following, t.last_follow_at, t.last_unfollow_at,
        t.last_interaction_at, t.followed_back_at, t.patterns, point.dwell, point.new,
        point.accounts_churned, point.cycles, t.blocked_at, t.suspended_at, t.deactivated_at,
    )  # fmt: skip
