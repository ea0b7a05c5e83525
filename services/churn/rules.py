"""Churn rules: the pure core's entry points. No I/O and no wall clock: the live detector, replay
and the tests run the same code.

- :func:`apply` folds one event into one relationship (its own event time is the clock), for callers
  that replay a log in event-time order one relationship at a time (``followback replay``,
  ``evaluate``, the tests).
- :func:`fold_event` folds one event into all of a follower's relationships against the stream's
  watermark, with cross-account churn, revisions, alerts and ``retained`` notices: what the detector
  runs. :class:`InMemory` runs it over a whole log with one clock, cross-account churn included (for
  replaying a log of several brand accounts).

The patterns are in :mod:`services.churn.patterns`, the event-time bookkeeping in
:mod:`services.churn.timeline`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from services.churn import codec
from services.churn.history import View
from services.churn.patterns import ChurnRules
from services.churn.timeline import Item, Outcome, Rel, fold
from shared.events import Event, EventType
from shared.relationships import Annotation, RelationshipState

__all__ = ["ChurnRules", "InMemory", "apply", "fold_event", "moves_clock"]


# The events that do not move the stream's event time (:func:`moves_clock`).
_OFF_CLOCK = frozenset({
    EventType.FOLLOWED_BACK, EventType.UNFOLLOWED_BACK, EventType.BLOCKED, EventType.UNBLOCKED,
    EventType.RETAINED,
    EventType.SUSPENDED, EventType.UNSUSPENDED, EventType.DEACTIVATED, EventType.REACTIVATED,
})  # fmt: skip


def moves_clock(event: Event) -> bool:
    """Whether the event advances the stream's event time. A follow-back, an unfollow, a block and an
    unblock by the brand are the brand's acts, stamped when the brand (a person) acted: in an import
    or a replay that can be far ahead of the followers' stream. A suspension, a deactivation and
    their liftings come from another source (X's compliance data, which the brand's tooling posts
    when it has it: a batch compliance job's results cover whatever span the job was run over), so
    neither may move it."""
    return event.type not in _OFF_CLOCK


def fold_event(
    follower: Mapping[str, RelationshipState] | Mapping[str, Rel],
    event: Event,
    watermark: datetime | None,
    rules: ChurnRules,
    *,
    alerts_too: bool = True,
    views: Mapping[str, View] | None = None,
) -> Outcome:
    """Fold ``event`` into its follower's relationships (account id -> state, absent: new);
    ``alerts_too=False``: without the churn alerts; ``views``: the views the previous fold of these
    relationships left (``Outcome.views``), when kept (see :func:`services.churn.timeline.fold`)."""
    rels = {k: v if isinstance(v, Rel) else codec.to_rel(v) for k, v in follower.items()}
    item = Item(event.occurred_at, event.type, event.event_id)
    return fold(
        event.follower.id, rels, event.account_id, item, watermark, rules, alerts_too=alerts_too, views=views
    )


DEFAULT_RULES = ChurnRules()


def apply(
    state: RelationshipState, event: Event, rules: ChurnRules = DEFAULT_RULES
) -> tuple[RelationshipState, Annotation]:
    """Fold one event into one relationship and describe the relationship as of that event.

    The clock is the relationship's own newest event: what arrives more than the grace period
    behind it is late. Cross-account churn needs the follower's other relationships: see
    :func:`fold_event`.
    """
    rel = codec.to_rel(state)
    newest = [i.at for i in rel.pending if i.kind not in _OFF_CLOCK]
    if moves_clock(event):
        newest.append(event.occurred_at)
    clock = max(newest, default=None)
    marks = [t for t in (rel.through, None if clock is None else clock - rules.grace) if t is not None]
    watermark = max(marks, default=None)
    item = Item(event.occurred_at, event.type, event.event_id)
    outcome = fold(event.follower.id, {event.account_id: rel}, event.account_id, item, watermark, rules)
    assert outcome.annotation is not None
    changed = outcome.follower[event.account_id]
    return codec.to_state(changed, outcome.views[event.account_id].now), outcome.annotation


class InMemory:
    """The detector's fold without I/O: every follower's relationships in memory, one clock (the
    newest ``occurred_at`` folded). Fed a log in event-time order, it annotates each event as the
    live detector does, cross-account churn included. ``alerts_too=False`` folds without the churn
    alerts, which nothing of an annotation depends on (replay reads annotations only)."""

    def __init__(self, rules: ChurnRules = DEFAULT_RULES, *, alerts_too: bool = True) -> None:
        self.rules = rules
        self.alerts_too = alerts_too
        self.followers: dict[str, dict[str, Rel]] = {}
        self.views: dict[str, dict[str, View]] = {}  # each follower's, as its last fold left them
        self.clock: datetime | None = None

    def fold(self, event: Event) -> Annotation:
        """The event's annotation (a repeated ``event_id`` is the caller's to skip)."""
        annotation = self.outcome(event).annotation
        assert annotation is not None
        return annotation

    def outcome(self, event: Event) -> Outcome:
        """Everything folding the event did (its annotation, the revised ones, alerts): events fed
        in arrival order rather than event time are folded as the detector folds them."""
        if moves_clock(event):
            self.clock = event.occurred_at if self.clock is None else max(self.clock, event.occurred_at)
        watermark = None if self.clock is None else self.clock - self.rules.grace
        follower = self.followers.get(event.follower.id, {})
        views = self.views.get(event.follower.id)
        outcome = fold_event(follower, event, watermark, self.rules, alerts_too=self.alerts_too, views=views)
        self.followers[event.follower.id] = outcome.follower
        self.views[event.follower.id] = outcome.views
        return outcome
