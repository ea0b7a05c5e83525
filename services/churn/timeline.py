"""One follower's relationships in event time: events folded at their event-time position.

Each relationship keeps a *settled* tally (the events that were older than the watermark when it
last moved, folded in event-time order) and the *pending* events since then, sorted by
``(occurred_at, type, event_id)``. The watermark is the stream's event time (the newest
``occurred_at`` seen on the follower's partition) minus the grace period. So:

- an event within the grace period is inserted among the pending events at its event-time position,
  and every annotation is computed from the settled tally plus the pending events up to it: the
  result depends on ``occurred_at`` only, never on the arrival order;
- an event already published whose annotation changes because an earlier one arrived after it is
  published again (``revision`` + 1), and so is a churn alert whose matching event changes;
- an event older than the watermark is *late*: it is still folded (after everything settled, where
  it can no longer reorder anything) and flagged; the caller counts it;
- pending events older than the watermark settle, which bounds the state: the settled tally keeps
  counts, last times and the cycle and churn times within the horizon, nothing per event;
- when the watermark passes ``follow + quick_unfollow_window`` of a follow still standing there, a
  ``retained`` notice is due (the detector publishes it as an event of type ``retained``).

The pieces: :mod:`services.churn.history` (the types and the annotated view),
:mod:`services.churn.alerts`, :mod:`services.churn.retention` (settling and ``retained``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from services.churn import alerts
from services.churn.history import (
    CROSS,
    TICK,
    Follower,
    Item,
    Notice,
    Outcome,
    Point,
    Rel,
    View,
    annotation,
    count_churned,
    key,
    view,
    with_cross,
)
from services.churn.patterns import MOVES, STATES, ChurnRules, Facts, Tally, canonical, in_horizon, step
from services.churn.retention import next_due, settle
from shared.events import EventType, after_all
from shared.relationships import Annotation

__all__ = ["Item", "Notice", "Outcome", "Rel", "advance", "fold", "next_due"]


_NEW = Rel()  # a relationship without any event yet (one instance: a fold looks one up for every event)


def _late_point(follower: Follower, account: str, item: Item, rules: ChurnRules) -> Point:
    """A late event folded onto the settled tally, after everything there: where it can no longer
    reorder anything. A move of the follow (``MOVES``: a follow, unfollow, block or unblock) older
    than the last one settled changes nothing (but a block still ends the follow standing since
    before it, :func:`_late_block`), and so does a follow stamped with the settled unfollow's or
    block's second (in event time it comes first); a block stamped with a settled unblock's second
    is lifted by it. A suspension, deactivation or their
    lifting (``STATES``) older than the last of its pair settled, or than a new follow, changes
    nothing (:func:`_state_settled_after`); a follow older than a settled suspension or deactivation
    leaves it standing (in event time it came after the follow, and ends nothing). A follow-back at
    or before the brand's newest settled unfollow had ended by then: nothing; a brand's unfollow ends
    the settled follow-back unless that is newer (patterns.unfollowed_back)."""
    rel = follower.get(account, _NEW)
    tally = rel.settled
    last_move = max(
        (t for t in (tally.last_follow_at, tally.last_unfollow_at, tally.last_move_at) if t is not None),
        default=None,
    )
    moves = item.kind in MOVES
    at_move = last_move is not None and item.at == last_move
    before_it = last_move is not None and (
        item.at < last_move
        or (
            at_move
            and item.kind is EventType.FOLLOW
            and last_move in (tally.last_unfollow_at, tally.blocked_at)
        )
        # (at one second an unblock ranks after a block: the instant ends unblocked)
        or (at_move and item.kind is EventType.BLOCKED and last_move == tally.unblocked_at)
    )
    if item.kind is EventType.BLOCKED and before_it:
        after, facts = _late_block(tally, item.at), Facts()
    elif (moves and before_it) or (item.kind in STATES and _state_settled_after(tally, item)):
        after, facts = tally, Facts()
    elif item.kind is EventType.FOLLOWED_BACK and _ended(item.at, tally.unfollowed_back_at):
        after, facts = tally, Facts()  # (at the unfollow's instant too: a follow-back comes first)
    elif (
        item.kind is EventType.FOLLOWED_BACK
        and last_move is not None
        and (item.at < last_move or (at_move and last_move == tally.last_unfollow_at))
    ):
        # Older than a settled follow or unfollow, or at the unfollow's second (where it ranks
        # first): a follow-back if the follower followed then (in the follow that settled last), not
        # now; one from before it tells nothing (a brand that followed first, before the follower
        # did, was no follow-back in event time either). The settled unfollow is not judged again.
        start, end = tally.last_follow_at, tally.last_unfollow_at
        then = (
            start is not None
            and start <= item.at
            and (tally.following or (end is not None and start <= end and item.at <= end))
        )
        last = tally.followed_back_at
        newer = then and (last is None or item.at > last)
        after, facts = (tally._replace(followed_back_at=item.at) if newer else tally), Facts()
    else:
        after, facts = step(tally, item.kind, item.at, rules)
        if moves:
            after = after._replace(last_move_at=item.at)
        if item.kind is EventType.FOLLOW:
            after = _states_standing(after, tally, item.at)
    ends = {a: tuple((t, -1, "") for t in r.settled.churn_ends) for a, r in follower.items()}
    ends[account] = tuple((t, -1, "") for t in after.churn_ends)
    churned = count_churned(ends, after_all(item.at), rules)
    new = tuple(p for p in facts.matched if p not in tally.patterns)
    if churned >= rules.cross_accounts and CROSS not in after.patterns:
        after, new = with_cross(after), canonical({*new, CROSS})
    return Point(item, after, facts.dwell, new, churned, in_horizon(after.cycle_ends, item.at, rules))


def _late_block(tally: Tally, at: datetime) -> Tally:
    """A block older than a settled move (or at a settled unblock's second): it still ended the
    follow standing then, if that is the one standing now; it blocks no more (what moved since
    lifted it, or is a newer block). It ended the brand's follow-back standing then too, also when a
    re-follow has settled since."""
    start, back = tally.last_follow_at, tally.followed_back_at
    if tally.following and start is not None and start <= at:
        return tally._replace(following=False, followed_back_at=None)
    return tally._replace(followed_back_at=None) if back is not None and back <= at else tally


def _state_settled_after(tally: Tally, item: Item) -> bool:
    """Whether the settled tally already holds what came after this late suspension, deactivation or
    lifting of either, in event time: a newer one of its pair (or at its second, when it is the
    suspension or deactivation: its lifting ranks after it), or a newer new follow (only an active
    account follows, and a follow ranks before them at its second)."""
    follow = tally.last_follow_at
    if follow is not None and item.at < follow:
        return True
    suspension = STATES[item.kind] is EventType.UNSUSPENDED
    moved = tally.suspension_moved_at if suspension else tally.deactivation_moved_at
    return moved is not None and (
        item.at < moved or (item.at == moved and STATES[item.kind] is not item.kind)
    )


def _states_standing(after: Tally, settled: Tally, follow: datetime) -> Tally:
    """A late follow lifts no suspension or deactivation that settled at or after its time (in event
    time it came first: they end nothing, and stand)."""
    suspended, deactivated = settled.suspended_at, settled.deactivated_at
    keep_suspended = suspended is not None and (settled.suspension_moved_at or suspended) >= follow
    keep_deactivated = deactivated is not None and (settled.deactivation_moved_at or deactivated) >= follow
    if not keep_suspended and not keep_deactivated:
        return after
    return after._replace(
        suspended_at=suspended if keep_suspended else after.suspended_at,
        deactivated_at=deactivated if keep_deactivated else after.deactivated_at,
    )


def _ended(follow_back: datetime, unfollowed_back: datetime | None) -> bool:
    """Whether a follow-back of this time had ended by the brand's unfollow of that time."""
    return unfollowed_back is not None and follow_back <= unfollowed_back


def fold(
    follower_id: str,
    follower: Follower,
    account: str,
    item: Item,
    watermark: datetime | None,
    rules: ChurnRules,
    *,
    alerts_too: bool = True,
    views: Mapping[str, View] | None = None,
) -> Outcome:
    """Fold one event into its follower's relationships; ``watermark`` is the stream's event time
    minus the grace period (None: no clock yet, nothing is late). ``alerts_too=False`` leaves the
    churn alerts out (nothing else reads them or the marks they keep: ``followback replay``).
    ``views``: the follower's views as the previous fold of ``follower`` left them
    (``Outcome.views``), if the caller kept them; an event after every pending one is then stepped
    onto them alone (:func:`_fold_last`) instead of stepping every pending event again."""
    rel = follower.get(account, _NEW)
    if item.kind is EventType.RETAINED or any(p.event_id == item.event_id for p in rel.pending):
        return _unchanged(follower, account, item, rules)
    behind = watermark is not None and item.at < watermark
    if behind or (rel.through is not None and item.at <= rel.through):  # it cannot go before what settled
        return _fold_late(follower_id, follower, account, item, watermark, rules, alerts_too)
    if views is None and not follower:
        views = {}  # a new follower: no pending event to step again (most events of a stream)
    reorders = any(r.pending and r.pending[-1].order > item.order for r in follower.values())  # (sorted)
    if not reorders and views is not None and views.keys() == follower.keys():
        return _fold_last(follower_id, follower, views, account, item, watermark, rules, alerts_too)
    before = view(follower, rules) if reorders else {}
    pending = tuple(sorted((*rel.pending, item), key=lambda p: p.order))
    changed = {**follower, account: rel._replace(pending=pending)}
    after = view(changed, rules)
    point = next(p for p in after[account].points if p.item.event_id == item.event_id)
    changed, revised = _revise(changed, before, after, rules)
    outcome = Outcome(changed, after, annotation(point, rules), False, revised)
    if alerts_too:
        alerts.publish(follower_id, outcome, late=None)
    settle(outcome, watermark, rules)
    return outcome


def _fold_last(
    follower_id: str,
    follower: Follower,
    views: Mapping[str, View],
    account: str,
    item: Item,
    watermark: datetime | None,
    rules: ChurnRules,
    alerts_too: bool,
) -> Outcome:
    """An event after every pending event of the follower (the usual case): what :func:`view` of
    the relationships with it would say, from the views without it. Its point is its relationship's
    newest tally stepped over it; no other point moves (every one is before it, and cross-account
    churn counts churns up to a point only), so nothing is revised. Stepping every pending event
    again instead cost a burst of a follower's events within the grace period time in proportion to
    their number, each: 3,000 likes in an hour took the detector about two minutes, stalling the
    partition (helper-50)."""
    rel = follower.get(account, _NEW)
    current = views[account] if account in views else View((), rel.settled)
    before = current.now
    tally, facts = step(before, item.kind, item.at, rules)
    # The churn times every relationship knows up to here (the newest tally of each keeps them all
    # within the horizon): as count_churned counts them for this, the newest point.
    since = item.at - rules.horizon
    ends = [tally.churn_ends, *(v.now.churn_ends for a, v in views.items() if a != account)]
    churned = sum(1 for times in ends if any(since <= t <= item.at for t in times)) if any(ends) else 0
    new = tuple(p for p in facts.matched if p not in before.patterns) if facts.matched else ()
    cross = CROSS in before.patterns  # (the settled tally's, or an earlier point's: each later one has it)
    if not cross and churned >= rules.cross_accounts:
        cross, new = True, canonical({*new, CROSS})
    after = with_cross(tally) if cross else tally
    point = Point(item, after, facts.dwell, new, churned, in_horizon(after.cycle_ends, item.at, rules))
    changed = {**follower, account: rel._replace(pending=(*rel.pending, item))}
    outcome = Outcome(
        changed, {**views, account: View((*current.points, point), after)}, annotation(point, rules)
    )
    if alerts_too:
        alerts.publish(follower_id, outcome, late=None)
    settle(outcome, watermark, rules)
    return outcome


def _fold_late(
    follower_id: str,
    follower: Follower,
    account: str,
    item: Item,
    watermark: datetime | None,
    rules: ChurnRules,
    alerts_too: bool,
) -> Outcome:
    # Everything older than the watermark settles first, so the late event goes after all of it.
    # Otherwise it would go before events still pending only because nothing (no event of this
    # follower, no sweep) happened to settle them yet: the result would depend on timing.
    ahead = Outcome(dict(follower), view(follower, rules))
    settle(ahead, watermark, rules)
    follower = ahead.follower
    before = view(follower, rules)
    point = _late_point(follower, account, item, rules)
    rel = follower.get(account, _NEW)
    through = item.at if rel.through is None else max(rel.through, item.at)
    changed = {**follower, account: rel._replace(settled=point.tally, through=through)}
    after = view(changed, rules)
    changed, revised = _revise(changed, before, after, rules)
    outcome = Outcome(
        changed,
        after,
        annotation(point, rules, late=True, as_of=through),
        True,
        revised,
        retained=list(ahead.retained),
    )
    if alerts_too:
        alerts.publish(follower_id, outcome, late=(account, point))
    settle(outcome, watermark, rules)
    return outcome


def advance(follower: Follower, watermark: datetime, rules: ChurnRules) -> Outcome:
    """Emit the ``retained`` notices due before ``watermark`` (the sweep, for followers with no event
    of their own to move them on).

    The relationships move from one due time to the next, never straight to the watermark: the
    sweep runs whenever it runs, so where it leaves a state must not depend on when that was.
    """
    outcome = Outcome(dict(follower), view(follower, rules))
    while True:
        dues = [d for rel in outcome.follower.values() if (d := next_due(rel, rules)) is not None]
        if not dues or min(dues) >= watermark:
            return outcome
        settle(outcome, min(dues) + TICK, rules)
        outcome.views = view(outcome.follower, rules)


def _unchanged(follower: Follower, account: str, item: Item, rules: ChurnRules) -> Outcome:
    """A duplicate of a pending event (or a ``retained`` notice fed back in): nothing changes; its
    annotation is the one it has (a notice gets the relationship as of now)."""
    views = view(follower, rules)
    current = views.get(account, View((), Tally()))
    found = next((p for p in current.points if p.item.event_id == item.event_id), None)
    if found is None:
        found = Point(item, current.now, None, (), 0, in_horizon(current.now.cycle_ends, item.at, rules))
    return Outcome(dict(follower), views, annotation(found, rules))


def _revise(
    follower: dict[str, Rel], before: Mapping[str, View], after: Mapping[str, View], rules: ChurnRules
) -> tuple[dict[str, Rel], list[tuple[str, Annotation]]]:
    """Bump the revision of every pending event whose annotation the fold changed."""
    if not before:
        return follower, []
    old = {p.item.event_id: key(p) for v in before.values() for p in v.points}
    revised: list[tuple[str, Annotation]] = []
    changed = dict(follower)
    # The views keep the old revision numbers: only their tallies are read after this.
    for account, current in after.items():
        bumped = {
            p.item.event_id
            for p in current.points
            if p.item.event_id in old and old[p.item.event_id] != key(p)
        }
        if not bumped:
            continue
        rel = changed[account]
        pending = tuple(
            i._replace(revision=i.revision + 1) if i.event_id in bumped else i for i in rel.pending
        )
        changed[account] = rel._replace(pending=pending)
        for p in current.points:
            if p.item.event_id in bumped:
                again = p.item._replace(revision=p.item.revision + 1)
                revised.append((again.event_id, annotation(p._replace(item=again), rules)))
    return changed, revised
