"""Churn alerts: the first match of each pattern per relationship, published again when it moves.

An alert is an upsert keyed by ``(account_id, follower_id, pattern)``: published when the pattern is
first matched, again (``revision`` + 1) when an earlier event arriving within the grace period moves
the first matching event or changes what it says, and ``withdrawn`` when the pattern no longer
holds. Once its matching event has settled, an alert is final.
"""

from __future__ import annotations

from services.churn.history import Outcome, Point
from services.churn.patterns import canonical
from shared.relationships import AlertMark, ChurnAlert, ChurnPattern


def publish(follower_id: str, outcome: Outcome, late: tuple[str, Point] | None) -> None:
    """Add to ``outcome.alerts`` what changed in the follower's alerts (and mark it in the states);
    ``late`` is a late event's point, folded after everything settled."""
    for account, rel in list(outcome.follower.items()):
        candidates = list(outcome.views[account].points)
        if late is not None and late[0] == account:
            candidates.insert(0, late[1])  # folded after everything settled, before anything pending
        if not rel.alerts and not any(c.new for c in candidates):
            continue  # never matched anything: nothing to say
        first: dict[ChurnPattern, Point] = {}
        for candidate in candidates:
            for pattern in candidate.new:
                first.setdefault(pattern, candidate)
        marks = {m[0]: m for m in rel.alerts}
        updated = dict(marks)
        for pattern in canonical({*first, *marks}):
            mark = _next_mark(
                pattern, marks.get(pattern), first.get(pattern), pattern in rel.settled.patterns
            )
            if mark is not None:
                updated[pattern] = mark
                outcome.alerts.append(_alert_of(follower_id, account, mark))
        if updated != marks:
            alerts = tuple(updated[p] for p in canonical(set(updated)))
            outcome.follower[account] = rel._replace(alerts=alerts)


def _next_mark(
    pattern: ChurnPattern, mark: AlertMark | None, point: Point | None, settled: bool
) -> AlertMark | None:
    """The alert to publish for a pattern of one relationship, or None when nothing changed."""
    withdrawn = mark is not None and mark[6]
    if settled and mark is not None and not withdrawn:
        return None  # its matching event settled: final
    revision = 0 if mark is None else mark[1] + 1
    if point is None:
        if mark is None or withdrawn or settled:
            return None  # nothing to say (or a state from before alerts were tracked)
        return (pattern, revision, mark[2], mark[3], mark[4], mark[5], True)
    dwell = point.dwell.total_seconds() if point.dwell is not None else None
    content = (point.item.event_id, point.item.at, dwell, point.cycles)
    if mark is not None and not withdrawn and mark[2:6] == content:
        return None
    return (pattern, revision, *content, False)


def _alert_of(follower_id: str, account: str, mark: AlertMark) -> ChurnAlert:
    pattern, revision, event_id, at, dwell, cycles, withdrawn = mark
    return ChurnAlert(
        event_id=event_id,
        account_id=account,
        follower_id=follower_id,
        pattern=pattern,
        occurred_at=at,
        dwell_seconds=dwell,
        cycles_in_horizon=cycles,
        revision=revision,
        withdrawn=withdrawn,
    )
