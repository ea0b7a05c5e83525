"""The churn patterns of one relationship: one event stepped onto its totals, in event-time order.

Pure and small on purpose: :mod:`services.churn.timeline` decides *which* totals an event is
stepped onto (its event-time position); this module only says what the event does there.

- quick unfollow: an unfollow within ``quick_unfollow_window`` of the follow it ends;
- serial churn: the unfollow that makes ``serial_cycles`` follow/unfollow cycles within ``horizon``;
- unfollow after follow-back: an unfollow after the brand followed the follower back;
- a block by the brand ends the follow, but it is no unfollow of the follower's: no cycle, no churn,
  and the brand's own follow ends with it (X removes the follow both ways), so no later unfollow is
  one after a follow-back unless the brand follows back again; an unblock restores nothing, and a
  follow after a block is a new follow (X lets no one blocked follow: it ends the block too);
- the brand's unfollow of the follower (``unfollowed_back``) ends its follow-back, and nothing else:
  it is no unfollow of the follower's (no count, no cycle, no churn), and a later unfollow of theirs
  is one after a follow-back only after a new follow-back (the follower who unfollows a brand that
  unfollowed them first is no churner for that);
- X's suspension of the follower's account, and the follower's deactivation of it, end nothing: X
  hides the account's follows meanwhile and sends no unfollow, so the follow stands (no unfollow
  counted, no cycle, no churn; a ``retained`` notice still comes when its window passes); the
  relationship only says since when the account is suspended or deactivated, which the scorer reads,
  until the lifting event (``unsuspended``, ``reactivated``) or a new follow (only an active account
  follows);
- a follow shorter than ``min_dwell`` is a glitch (a mis-tap, a platform retry): no cycle, no churn;
  unless the brand followed the follower back during it (follow, follow-back, unfollow within the
  hour is the follow-for-follow hustle, not a mis-tap), or it is the ``serial_glitches``-th within
  ``horizon`` (a mis-tap is not repeated: following and unfollowing again and again within minutes
  is a pattern, and from then on each short follow is a cycle, like any other).

Cross-account churn needs the follower's other relationships, so the timeline adds it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import cached_property
from typing import NamedTuple

from shared.events import EventType
from shared.relationships import ChurnPattern
from shared.settings import ChurnSettings

# Patterns are kept in this canonical order, so the same history always serializes the same way.
ORDER = tuple(ChurnPattern)
# The events that move the follower's follow (whether they follow, whether the brand blocks them): a
# late one older than the newest of them settled changes nothing (services.churn.timeline). The
# brand's follow-back and unfollow are none: they move the brand's follow, not the follower's.
MOVES = frozenset({EventType.FOLLOW, EventType.UNFOLLOW, EventType.BLOCKED, EventType.UNBLOCKED})
# The events that move the account's state on X, each pair its own (a suspension and its lifting, a
# deactivation and its): a late one older than the newest of its pair settled, or than a new follow
# (which lifts both), changes nothing. They are no moves of the follow, nor it of them: a late
# unfollow older than a settled suspension still ends the follow, and a late suspension older than a
# settled unfollow or block still holds.
STATES = {
    EventType.SUSPENDED: EventType.UNSUSPENDED,
    EventType.UNSUSPENDED: EventType.UNSUSPENDED,
    EventType.DEACTIVATED: EventType.REACTIVATED,
    EventType.REACTIVATED: EventType.REACTIVATED,
}  # (each to its pair's lifting)


# The rules' meaning, in the fingerprint beside their values: raised when the same values decide
# otherwise, so a decision recorded before names other churn rules than a replay's (2: a follow the
# brand answered with a follow-back is no glitch, however short; 3: nor is the ``serial_glitches``-th
# short follow within the horizon, and the brand's follow of someone not following it is no follow-back).
# Not raised by the brand's blocks nor its unfollows (``unfollowed_back``): event types no earlier
# release accepted, so every log it could read is annotated exactly as before.
MEANING = 3
# The rules added with a meaning: an earlier meaning's digest was of the rules it had.
_ADDED_IN = {"serial_glitches": 3}


@dataclass(frozen=True)
class ChurnRules:
    quick_unfollow_window: timedelta = timedelta(days=7)
    # Follows shorter than this are glitches (double taps, platform retries), not churn.
    min_dwell: timedelta = timedelta(hours=1)
    serial_cycles: int = 2
    # The short follow (under min_dwell) that is the this-many-th within the horizon is no glitch.
    serial_glitches: int = 3
    horizon: timedelta = timedelta(days=90)
    cross_accounts: int = 2
    # How late an event may arrive and still be folded at its event-time position.
    grace: timedelta = timedelta(hours=1)

    @classmethod
    def from_settings(cls, settings: ChurnSettings) -> ChurnRules:
        return cls(
            quick_unfollow_window=timedelta(seconds=settings.quick_unfollow_window_s),
            min_dwell=timedelta(seconds=settings.min_dwell_s),
            serial_cycles=settings.serial_cycles,
            serial_glitches=settings.serial_glitches,
            horizon=timedelta(seconds=settings.horizon_s),
            cross_accounts=settings.cross_accounts,
            grace=timedelta(seconds=settings.grace_s),
        )

    @cached_property
    def fingerprint(self) -> str:
        """A digest of the rules' values and meaning (``MEANING``): every annotation carries it
        (``Annotation.churn_rules``), and the scorer records it in a decision's ``config_version``,
        so a decision names the churn rules it rests on."""
        return self._digest(MEANING)

    @cached_property
    def earlier_fingerprints(self) -> frozenset[str]:
        """The digests these same values had under each earlier meaning: what the churn detector of
        an earlier release stamped on its annotations (a replay's warning tells that apart from
        other ``FOLLOWBACK_CHURN__*`` values)."""
        return frozenset(self._digest(meaning) for meaning in range(1, MEANING))

    def _digest(self, meaning: int) -> str:
        canonical = tuple(
            (f.name, value // timedelta(microseconds=1) if isinstance(value, timedelta) else value)
            for f in fields(self)
            if _ADDED_IN.get(f.name, 1) <= meaning
            for value in (getattr(self, f.name),)
        )  # each rule by name, durations in microseconds: the same digest in every process and version
        if meaning > 1:  # (the first meaning's digest is the values' alone, as recorded before)
            canonical = (("meaning", meaning), *canonical)
        return hashlib.sha256(repr(canonical).encode()).hexdigest()[:8]


class Tally(NamedTuple):
    """A relationship's totals as of a point in event time (the working form of ``Settled``)."""

    following: bool = False
    follows: int = 0
    unfollows: int = 0
    interactions: int = 0
    last_follow_at: datetime | None = None
    last_unfollow_at: datetime | None = None
    last_interaction_at: datetime | None = None
    followed_back_at: datetime | None = None
    patterns: tuple[ChurnPattern, ...] = ()
    blocked_at: datetime | None = None  # since when the brand blocks the follower
    suspended_at: datetime | None = None  # since when X suspends the follower's account
    deactivated_at: datetime | None = None  # since when the follower's account is deactivated
    cycle_ends: tuple[datetime, ...] = ()
    churn_ends: tuple[datetime, ...] = ()
    retained_follow_at: datetime | None = None
    # The newest move of the follow (follow, unfollow, block, unblock: ``MOVES``) settled, whether or
    # not it changed anything (a repeated follow does not move last_follow_at): a late move older than
    # it changes nothing.
    last_move_at: datetime | None = None
    # Event times of the unfollows that ended short follows (glitches, and those too many to be):
    # the newest ``serial_glitches`` within the horizon, all that the rule reads.
    glitch_ends: tuple[datetime, ...] = ()
    # The newest of the brand's unfollows of the follower (``unfollowed_back``), whether or not a
    # follow-back stood: a late follow-back at or before it had ended by then (timeline._late_point).
    unfollowed_back_at: datetime | None = None
    # The newest suspension or lifting of it, and the newest deactivation or reactivation (``STATES``),
    # whether or not it changed anything: a late one of the pair older than it changes nothing.
    suspension_moved_at: datetime | None = None
    deactivation_moved_at: datetime | None = None
    # The newest unblock, whether or not it changed anything (an unblock of no block does not): a late
    # block at its second was lifted by it, and a move settled at another time is no unblock
    # (timeline._late_point).
    unblocked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """What one event did: the dwell of the follow an unfollow ended, the patterns it matched."""

    dwell: timedelta | None = None
    matched: tuple[ChurnPattern, ...] = ()


NOTHING = Facts()


def canonical(patterns: set[ChurnPattern] | tuple[ChurnPattern, ...]) -> tuple[ChurnPattern, ...]:
    return tuple(p for p in ORDER if p in patterns)


def _recent(times: tuple[datetime, ...], at: datetime, rules: ChurnRules) -> tuple[datetime, ...]:
    since = at - rules.horizon
    return tuple(t for t in times if t >= since)


def in_horizon(times: tuple[datetime, ...], at: datetime, rules: ChurnRules) -> int:
    """How many of ``times`` lie within the horizon ending at ``at``."""
    if not times:
        return 0
    since = at - rules.horizon
    return sum(1 for t in times if since <= t <= at)


def step(tally: Tally, kind: EventType, at: datetime, rules: ChurnRules) -> tuple[Tally, Facts]:
    """Step one event onto the totals just before it. Counts only grow; a repeated follow (or an
    unfollow of someone not following) changes nothing, so follows - unfollows is 0 or 1 (but for
    the follows a block by the brand ended, which no unfollow counts)."""
    if kind is EventType.FOLLOW:
        if tally.following:
            return tally, NOTHING
        # (X lets no one the brand blocks follow it, and only an active account follows: a follow says
        # the block, a suspension and a deactivation ended)
        return tally._replace(
            following=True,
            follows=tally.follows + 1,
            last_follow_at=at,
            blocked_at=None,
            suspended_at=None,
            deactivated_at=None,
        ), NOTHING
    if kind is EventType.UNFOLLOW:
        return _unfollow(tally, at, rules)
    if kind is EventType.INTERACTION:
        last = tally.last_interaction_at
        return tally._replace(
            interactions=tally.interactions + 1,
            last_interaction_at=at if last is None or at > last else last,
        ), NOTHING
    if kind is EventType.FOLLOWED_BACK:
        if not tally.following:  # the brand followed someone who does not follow it: no follow-back
            return tally, NOTHING
        last = tally.followed_back_at
        return tally._replace(followed_back_at=at if last is None or at > last else last), NOTHING
    if kind is EventType.UNFOLLOWED_BACK:
        return unfollowed_back(tally, at), NOTHING
    if kind is EventType.BLOCKED:
        return blocked(tally, at), NOTHING
    if kind is EventType.UNBLOCKED:  # (the follow the block ended stays ended)
        return tally._replace(blocked_at=None, unblocked_at=_newest(tally.unblocked_at, at)), NOTHING
    # X's suspension and the follower's deactivation: the follow stands (a repeated one changes nothing).
    if kind is EventType.SUSPENDED:
        moved = _newest(tally.suspension_moved_at, at)
        return tally._replace(suspended_at=tally.suspended_at or at, suspension_moved_at=moved), NOTHING
    if kind is EventType.UNSUSPENDED:
        moved = _newest(tally.suspension_moved_at, at)
        return tally._replace(suspended_at=None, suspension_moved_at=moved), NOTHING
    if kind is EventType.DEACTIVATED:
        moved = _newest(tally.deactivation_moved_at, at)
        return tally._replace(deactivated_at=tally.deactivated_at or at, deactivation_moved_at=moved), NOTHING
    if kind is EventType.REACTIVATED:
        moved = _newest(tally.deactivation_moved_at, at)
        return tally._replace(deactivated_at=None, deactivation_moved_at=moved), NOTHING
    return tally, NOTHING  # a "retained" notice is the detector's own output, never an input


def _newest(last: datetime | None, at: datetime) -> datetime:
    return at if last is None or at > last else last


def blocked(tally: Tally, at: datetime) -> Tally:
    """The brand blocked the follower at ``at``: the follow ends, but no unfollow of theirs is counted
    (no cycle, no churn), and the brand's follow-back ends with it (X removes both follows)."""
    first = tally.blocked_at if tally.blocked_at is not None else at  # (a repeated block changes nothing)
    return tally._replace(following=False, followed_back_at=None, blocked_at=first)


def unfollowed_back(tally: Tally, at: datetime) -> Tally:
    """The brand unfollowed the follower at ``at``: the follow-back standing at or before it ends
    (none standing, or a repeat: nothing the annotation shows changes); the follower's follow
    stands, and nothing is counted as theirs. ``at`` is remembered for a late follow-back."""
    last = tally.unfollowed_back_at
    ended = tally.followed_back_at is not None and tally.followed_back_at <= at
    return tally._replace(
        followed_back_at=None if ended else tally.followed_back_at,
        unfollowed_back_at=at if last is None or at > last else last,
    )


def _unfollow(tally: Tally, at: datetime, rules: ChurnRules) -> tuple[Tally, Facts]:
    if not tally.following:
        return tally, NOTHING
    ended = tally._replace(following=False, unfollows=tally.unfollows + 1, last_unfollow_at=at)
    if tally.last_follow_at is None:  # a state upcast from before follow times were kept
        return ended, NOTHING
    dwell = at - tally.last_follow_at
    # A follow the brand answered with a follow-back is no mis-tap, however short it was.
    answered = tally.followed_back_at is not None and tally.last_follow_at <= tally.followed_back_at <= at
    if dwell < rules.min_dwell and not answered:
        glitch_ends = _recent((*tally.glitch_ends, at), at, rules)[-rules.serial_glitches :]
        ended = ended._replace(glitch_ends=glitch_ends)
        if len(glitch_ends) < rules.serial_glitches:
            return ended, Facts(dwell=dwell)  # a glitch: no cycle, no churn
        # (else a mis-tap repeated too often to be one: a cycle, as a longer follow's)
    cycle_ends = _recent((*tally.cycle_ends, at), at, rules)
    matched = set()
    if dwell <= rules.quick_unfollow_window:
        matched.add(ChurnPattern.QUICK_UNFOLLOW)
    if len(cycle_ends) >= rules.serial_cycles:
        matched.add(ChurnPattern.SERIAL_CHURN)
    if tally.followed_back_at is not None and tally.followed_back_at <= at:
        matched.add(ChurnPattern.UNFOLLOW_AFTER_FOLLOW_BACK)
    churn_ends = _recent((*tally.churn_ends, at), at, rules) if matched else tally.churn_ends
    return ended._replace(
        cycle_ends=cycle_ends,
        churn_ends=churn_ends,
        patterns=canonical({*tally.patterns, *matched}),
    ), Facts(dwell=dwell, matched=canonical(matched))
