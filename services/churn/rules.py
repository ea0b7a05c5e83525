"""Churn rules: pure functions from a relationship's state and one event to the new state.

No I/O and no wall clock: the live detector, replay and the tests all call :func:`apply`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from shared.events import Event, EventType
from shared.relationships import Annotation, ChurnPattern, RelationshipState


@dataclass(frozen=True)
class ChurnRules:
    quick_unfollow_window: timedelta = timedelta(days=7)
    # Follows shorter than this are glitches (double taps, platform retries), not churn.
    min_dwell: timedelta = timedelta(hours=1)
    serial_cycles: int = 2
    serial_horizon: timedelta = timedelta(days=90)


def apply(
    state: RelationshipState, event: Event, rules: ChurnRules = ChurnRules()
) -> tuple[RelationshipState, Annotation]:
    """Fold one event into a relationship and describe the relationship as of that event."""
    at = event.occurred_at
    following = state.following
    follows, unfollows, interactions = state.follows, state.unfollows, state.interactions
    last_follow, last_unfollow, last_interaction = (
        state.last_follow_at,
        state.last_unfollow_at,
        state.last_interaction_at,
    )
    cycle_ends = state.cycle_ends
    dwell: timedelta | None = None
    matched: list[ChurnPattern] = []

    if event.type is EventType.FOLLOW:
        if not following:
            follows += 1
            last_follow = at
        following = True
    elif event.type is EventType.UNFOLLOW:
        if following:
            unfollows += 1
            last_unfollow = at
            if last_follow is not None:
                dwell = at - last_follow
                if dwell >= rules.min_dwell:
                    cycle_ends = (*cycle_ends, at)
                    if dwell <= rules.quick_unfollow_window:
                        matched.append(ChurnPattern.QUICK_UNFOLLOW)
        following = False
    else:
        interactions += 1
        if last_interaction is None or at > last_interaction:
            last_interaction = at

    horizon_start = at - rules.serial_horizon
    cycle_ends = tuple(t for t in cycle_ends if t >= horizon_start)
    if len(cycle_ends) >= rules.serial_cycles and event.type is EventType.UNFOLLOW and dwell:
        matched.append(ChurnPattern.SERIAL_CHURN)

    new_patterns = tuple(p for p in matched if p not in state.patterns)
    patterns = state.patterns + new_patterns
    new_state = RelationshipState(
        following=following,
        follows=follows,
        unfollows=unfollows,
        interactions=interactions,
        last_follow_at=last_follow,
        last_unfollow_at=last_unfollow,
        last_interaction_at=last_interaction,
        cycle_ends=cycle_ends,
        patterns=patterns,
    )
    annotation = Annotation(
        follows=follows,
        unfollows=unfollows,
        interactions=interactions,
        following=following,
        last_follow_at=last_follow,
        last_unfollow_at=last_unfollow,
        last_interaction_at=last_interaction,
        dwell_seconds=dwell.total_seconds() if dwell is not None else None,
        cycles_in_horizon=len(cycle_ends),
        patterns=patterns,
        new_patterns=new_patterns,
    )
    return new_state, annotation
