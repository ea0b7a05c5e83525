"""Settling and ``retained``: pending events older than the watermark fold into the settled tally,
and a follow still standing when the watermark passes ``follow + quick_unfollow_window`` gets a
``retained`` notice (everything up to then has arrived, so the notice is final).

Settling bounds the state: the settled tally keeps counts, last times, and the cycle and churn times
within the horizon, nothing per event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from itertools import takewhile

from services.churn.history import (
    Follower,
    Item,
    Notice,
    Outcome,
    Point,
    Rel,
    View,
    annotation,
    count_churned,
)
from services.churn.patterns import MOVES, ChurnRules, Tally, in_horizon
from shared.events import EventType, Order, after_all


def due(tally: Tally, rules: ChurnRules) -> datetime | None:
    """When the standing follow will have lasted the window (None: no follow, or already retained)."""
    if (
        not tally.following
        or tally.last_follow_at is None
        or tally.retained_follow_at == tally.last_follow_at
    ):
        return None
    return tally.last_follow_at + rules.quick_unfollow_window


def next_due(rel: Rel, rules: ChurnRules) -> datetime | None:
    """The earliest watermark at which advancing this relationship may emit a ``retained`` notice."""
    first_follow = next((item.at for item in rel.pending if item.kind is EventType.FOLLOW), None)
    times = [
        due(rel.settled, rules),
        None if first_follow is None else first_follow + rules.quick_unfollow_window,
    ]
    return min((t for t in times if t is not None), default=None)


def settle(outcome: Outcome, watermark: datetime | None, rules: ChurnRules) -> None:
    """Fold the pending events older than the watermark into the settled tallies, emitting the
    ``retained`` notices whose time the watermark passed on the way."""
    if watermark is None or not any(
        _moves(rel, outcome.views[account], watermark, rules) for account, rel in outcome.follower.items()
    ):
        return  # (the common case: the newest events are all pending; nothing to copy or settle)
    # A notice reads the churn times as they were before anything settled here (not the trims).
    before, views = dict(outcome.follower), dict(outcome.views)
    found: dict[str, tuple[Order, ...]] = {}

    def ends() -> dict[str, tuple[Order, ...]]:
        if not found:
            found.update(_all_ends(before, views))
        return found

    for account, rel in list(outcome.follower.items()):
        points = views[account].points
        settling = list(takewhile(lambda p: p.item.at < watermark, points))  # (in event-time order)
        current = rel.settled
        when = due(current, rules)
        if not settling and (when is None or when >= watermark):
            continue  # nothing moves (the common case: the newest events are all pending)
        for point in [*settling, None]:
            until = point.item.at if point is not None else watermark
            when = due(current, rules)
            if when is not None and when < until:
                outcome.retained.append(_notice(account, current, when, ends(), rules))
                current = current._replace(retained_follow_at=current.last_follow_at)
            if point is not None:
                # The settled-only marks carry over from what settled before (the point's tally
                # was computed from the settled tally as it was when this fold began).
                mark, moved = current.retained_follow_at, current.last_move_at
                if point.item.kind in MOVES:
                    moved = point.item.at  # points settle in event-time order
                current = point.tally
                if (current.retained_follow_at, current.last_move_at) != (mark, moved):
                    current = current._replace(retained_follow_at=mark, last_move_at=moved)
        # Where the watermark stood is a matter of arrival order; which events settled is not.
        newest = settling[-1].item.at if settling else None
        through = max((t for t in (rel.through, newest) if t is not None), default=None)
        settled = current if through is None else _trimmed(current, through, rules)
        outcome.follower[account] = rel._replace(
            settled=settled, through=through, pending=rel.pending[len(settling) :]
        )
        # The view without what settled (a next fold may step onto it: timeline._fold_last).
        remaining = points[len(settling) :]
        outcome.views[account] = View(remaining, remaining[-1].tally if remaining else settled)


def _moves(rel: Rel, view: View, watermark: datetime, rules: ChurnRules) -> bool:
    """Whether settling to ``watermark`` moves the relationship: a pending event older than it, or a
    ``retained`` notice due before it (as :func:`settle` tells, for each relationship)."""
    if view.points and view.points[0].item.at < watermark:
        return True
    when = due(rel.settled, rules)
    return when is not None and when < watermark


def _trimmed(tally: Tally, through: datetime, rules: ChurnRules) -> Tally:
    """No event at or after the watermark looks further back than the horizon: forget the rest."""
    since = through - rules.horizon
    if all(t >= since for t in (*tally.cycle_ends, *tally.churn_ends)):
        return tally
    return tally._replace(
        cycle_ends=tuple(t for t in tally.cycle_ends if t >= since),
        churn_ends=tuple(t for t in tally.churn_ends if t >= since),
    )


def _all_ends(follower: Follower, views: Mapping[str, View]) -> dict[str, tuple[Order, ...]]:
    """Every churn time the follower's relationships know, settled or pending."""
    found = {}
    for account, current in views.items():
        times = {*follower[account].settled.churn_ends}
        for point in current.points:
            times.update(point.tally.churn_ends)
        found[account] = tuple((t, -1, "") for t in times)
    return found


def _notice(
    account: str, tally: Tally, when: datetime, ends: Mapping[str, tuple[Order, ...]], rules: ChurnRules
) -> Notice:
    assert tally.last_follow_at is not None
    item = Item(when, EventType.RETAINED, "")
    point = Point(
        item, tally, when - tally.last_follow_at, (), count_churned(ends, after_all(when), rules),
        in_horizon(tally.cycle_ends, when, rules),
    )  # fmt: skip
    return Notice(account, tally.last_follow_at, when, annotation(point, rules))
