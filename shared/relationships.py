"""The relationship-history contract: what the churn detector keeps and publishes for every event.

Outputs are upserts with stable ids, so a consumer keeps the latest version of each: an
:class:`AnnotatedEvent` per ``event.event_id`` (``relationship.revision`` counts its versions) and a
:class:`ChurnAlert` per ``(account_id, follower_id, pattern)`` (``revision``, ``withdrawn``). A new
version appears only when an event arrives out of order, within the grace period, before events
already annotated; the latest versions depend only on the events' ``occurred_at``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.events import Count, Event, EventType, Text

# An annotation's revision, as the decisions and the scorer's tables keep it (an int column): one
# of 2**31 failed the scorer's insert on every delivery.
Revision = Annotated[int, Field(ge=0, le=2**31 - 1)]


class ChurnPattern(StrEnum):
    QUICK_UNFOLLOW = "quick_unfollow"
    SERIAL_CHURN = "serial_churn"
    UNFOLLOW_AFTER_FOLLOW_BACK = "unfollow_after_follow_back"
    CROSS_ACCOUNT_CHURN = "cross_account_churn"


class Totals(BaseModel):
    """One relationship's counts and times as of a point in event time."""

    model_config = ConfigDict(frozen=True)

    following: bool = False
    follows: int = 0
    unfollows: int = 0
    interactions: int = 0
    last_follow_at: AwareDatetime | None = None
    last_unfollow_at: AwareDatetime | None = None
    last_interaction_at: AwareDatetime | None = None
    followed_back_at: AwareDatetime | None = None
    patterns: tuple[ChurnPattern, ...] = ()
    # Since when the brand blocks the follower (None: it does not); left out of the JSON when None.
    blocked_at: AwareDatetime | None = Field(default=None, exclude_if=lambda v: v is None)
    # Since when X suspends the follower's account, and since when the follower has deactivated it
    # (None: it does not, they have not); left out of the JSON when None, so a relationship that
    # never saw either is stored as before.
    suspended_at: AwareDatetime | None = Field(default=None, exclude_if=lambda v: v is None)
    deactivated_at: AwareDatetime | None = Field(default=None, exclude_if=lambda v: v is None)


class Settled(Totals):
    """The part of a relationship no in-order event can change any more: the events older than the
    watermark (the stream's event time minus the grace period) when they were last settled, folded
    in event-time order; ``through`` is the newest of them."""

    through: AwareDatetime | None = None
    # Event times of the unfollows that closed a follow of at least the minimum dwell (cycles), and of
    # those that matched a churn pattern; both trimmed to the horizon, so the state stays small.
    cycle_ends: tuple[AwareDatetime, ...] = ()
    churn_ends: tuple[AwareDatetime, ...] = ()
    # The follow whose "retained" event was emitted (one per follow).
    retained_follow_at: AwareDatetime | None = None
    # The newest move of the follow among them (a follow, an unfollow, a block or an unblock:
    # services.churn.patterns.MOVES), whether or not it changed the tally (a follow while following
    # does not): a late move older than it changes nothing.
    last_move_at: AwareDatetime | None = None
    # Event times of the unfollows that ended follows shorter than the minimum dwell (the newest
    # ``serial_glitches`` within the horizon): a mis-tap repeated that often is no glitch.
    glitch_ends: tuple[AwareDatetime, ...] = ()
    # The newest of the brand's unfollows of the follower among them ('unfollowed_back'): a late
    # follow-back at or before it had ended by then, and is not taken for one standing.
    unfollowed_back_at: AwareDatetime | None = None
    # The newest suspension or lifting of it among them, and the newest deactivation or reactivation
    # (services.churn.patterns.STATES): a late one of the pair older than it changes nothing, and
    # neither is a move of the follow (a late unfollow older than them still ends it).
    suspension_moved_at: AwareDatetime | None = None
    deactivation_moved_at: AwareDatetime | None = None
    # The newest unblock among them, whether or not it changed anything: a late block at its second
    # was lifted by it (an unblock ranks after a block), and tells which move the newest settled one
    # was (services.churn.timeline._late_point).
    unblocked_at: AwareDatetime | None = None


# An event not yet settled: (occurred_at, type, event_id, revision of its published annotation).
Pending = tuple[AwareDatetime, EventType, str, int]
# The latest alert published for a pattern of this relationship: (pattern, revision, event_id,
# occurred_at, dwell_seconds, cycles_in_horizon, withdrawn).
AlertMark = tuple[ChurnPattern, int, str, AwareDatetime, float | None, int, bool]


class RelationshipState(Totals):
    """Everything the churn detector remembers of one (account, follower) relationship.

    The top-level totals describe the relationship as of its newest event (what readers want);
    ``settled`` plus ``pending`` is what the detector computes from: events within the grace
    period stay in ``pending``, so one arriving out of order is folded at its event-time position.
    """

    settled: Settled = Settled()
    pending: tuple[Pending, ...] = ()
    alerts: tuple[AlertMark, ...] = ()


class Annotation(BaseModel):
    """What one event tells about its relationship, as of that event in event time (a late event's:
    as of ``as_of``, the newest settled time it was folded after)."""

    model_config = ConfigDict(frozen=True)

    follows: Count
    unfollows: Count
    interactions: Count
    following: bool
    last_follow_at: AwareDatetime | None
    last_unfollow_at: AwareDatetime | None
    last_interaction_at: AwareDatetime | None
    dwell_seconds: float | None = Field(
        default=None, description="How long the follow that this unfollow ended had lasted."
    )
    cycles_in_horizon: Count = 0
    patterns: tuple[ChurnPattern, ...] = Field(
        default=(), description="Churn patterns this relationship has matched so far."
    )
    new_patterns: tuple[ChurnPattern, ...] = Field(
        default=(), description="Patterns first matched by this event (each raises an alert)."
    )
    followed_back_at: AwareDatetime | None = Field(
        default=None,
        description="When the brand followed back (None: it did not, or that follow-back ended: the "
        "brand unfollowed or blocked the follower since).",
    )
    accounts_churned: Count = Field(
        default=0, description="Brand accounts this follower churned on within the horizon, as of this event."
    )
    blocked_at: AwareDatetime | None = Field(
        default=None,
        # Left out when None: the annotation of a relationship never blocked is what it was before.
        exclude_if=lambda v: v is None,
        description="Since when the brand blocks the follower (a 'blocked' event, until an 'unblocked' "
        "event or a new follow); None: it does not.",
    )
    # Left out when None, as blocked_at: a relationship that never saw these annotates as before.
    suspended_at: AwareDatetime | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="Since when X suspends the follower's account (a 'suspended' event, until an "
        "'unsuspended' event or a new follow); None: it does not. The follow stands.",
    )
    deactivated_at: AwareDatetime | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="Since when the follower's account is deactivated (a 'deactivated' event, until a "
        "'reactivated' event or a new follow); None: it is not. The follow stands.",
    )
    late: bool = Field(
        default=False,
        description="Arrived after the grace period: folded after what settled, not at its event-time place.",
    )
    revision: Revision = Field(
        default=0, description="0 when first published; higher when an earlier event arrived afterwards."
    )
    as_of: AwareDatetime | None = Field(
        default=None,
        description="For a late event: the newest event time its annotation includes (it was folded "
        "after everything settled, not at its own time); None: the event's own time.",
    )
    churn_rules: Text | None = Field(
        default=None,
        description="The fingerprint of the churn rules applied (None: from before they were named).",
    )


DECIDES_NOTHING = frozenset({EventType.RETAINED, EventType.FOLLOWED_BACK, EventType.UNFOLLOWED_BACK})


class AnnotatedEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    # The event in the current event schema: one written under an older version (a stored row from
    # before version 2) is upcast when read, so this envelope's own version did not change.
    event: Event
    relationship: Annotation
    erased: bool = Field(
        default=False,
        description="The event's profile and texts were erased (followback forget) before the detector "
        "published this annotation (a revision, or a re-publication): nothing to decide on.",
    )

    @property
    def key(self) -> bytes:
        return self.event.key

    @property
    def decides(self) -> bool:
        """Whether a decision may rest on the event: the follower's own act, the brand's block or
        unblock of the follower, or X's suspension or the follower's deactivation of their account
        and its lifting, each of which changes its class (a ``retained``, ``followed_back`` or
        ``unfollowed_back`` event decides nothing: the brand's follow and unfollow say nothing of
        the follower's worth), with its profile (not erased: an erasure never changes a
        decision, and a revision of an erased event leaves the latest one standing)."""
        return not self.erased and self.event.type not in DECIDES_NOTHING


class ChurnAlert(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    event_id: str
    account_id: str
    follower_id: str
    pattern: ChurnPattern
    occurred_at: datetime
    dwell_seconds: float | None
    cycles_in_horizon: int
    revision: int = Field(
        default=0, description="Versions of the alert of this (account, follower, pattern)."
    )
    withdrawn: bool = Field(
        default=False, description="An earlier event arrived afterwards and the pattern no longer holds."
    )

    @property
    def key(self) -> bytes:
        return self.follower_id.encode()

    @property
    def alert_id(self) -> str:
        return f"{self.account_id}/{self.follower_id}/{self.pattern}"
