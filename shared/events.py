"""The event contract (schema version 2): what ingest accepts and publishes to the events topic.

One model for the wire and for the pure core. Ids are strings: platform ids are 64-bit snowflakes
that JSON numbers in many clients cannot hold exactly, so numeric ids are accepted and kept as text.
Payloads of an older version (1, or no ``schema_version`` at all) are upcast on every read by
:mod:`shared.upcasting`; producers write version 2.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from shared.upcasting import CURRENT, V1_PLATFORM, supported, upcast_event

SCHEMA_VERSION: Literal[2] = CURRENT
# The platform version 1 implied when none was given (version 2 requires it).
DEFAULT_PLATFORM = V1_PLATFORM
# The networks whose events ingest accepts. Relationships, cross-account churn, the review queue and
# forget know a follower by id alone, so another network's ids would be taken for x's people.
READ_PLATFORMS = (DEFAULT_PLATFORM,)

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
# What the platforms' 64-bit counters (and PostgreSQL's bigint) hold: a count of 10**400 failed the
# scorer's logarithms on every delivery.
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]
# The times an event can carry: every time the services derive from one (a grace period before it, a
# window after it) must exist too, and Python's, asyncpg's and so the services' dates end at the
# years 1 and 9999 *in UTC* (0001-01-01T00:30:00+01:00 is in year 0 there). A time before the Unix
# epoch (the platforms' epoch-millisecond timestamps start there) or after the year 9000 is no
# event's: refused with the field's name, at ingest and by every consumer, instead of stalling the
# consumer that computes with it.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # (excluded)
Instant = Annotated[AwareDatetime, Field(ge=EARLIEST, lt=LATEST)]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("holds a NUL character (\\u0000), which no text in PostgreSQL can hold")
    return value


# Free text of an event: anything but NUL (an id's pattern refuses it already).
Text = Annotated[str, AfterValidator(_no_nul)]


class EventType(StrEnum):
    FOLLOW = "follow"
    UNFOLLOW = "unfollow"
    INTERACTION = "interaction"
    # The brand followed this follower back (account_id is the brand, follower the person).
    FOLLOWED_BACK = "followed_back"
    # The brand unfollowed this follower (the same way round): its follow-back, if one stood, ended
    # without being the follower's unfollow (see services/churn/patterns.py).
    UNFOLLOWED_BACK = "unfollowed_back"
    # The brand blocked / unblocked this follower (account_id is the brand, follower the person): a
    # block ends the follow without being the follower's unfollow (see services/churn/patterns.py).
    BLOCKED = "blocked"
    UNBLOCKED = "unblocked"
    # X suspended the follower's account / lifted the suspension, and the follower deactivated their
    # account / reactivated it within X's window (account_id is the brand, follower the person; from
    # X's compliance data, posted by the brand's tooling). None ends the follow: X hides a suspended or
    # deactivated account's follows and sends no unfollow (see services/churn/patterns.py).
    SUSPENDED = "suspended"
    UNSUSPENDED = "unsuspended"
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    # Emitted by the churn detector, never accepted as input: a follow lasted the quick-unfollow
    # window without an unfollow (see services/churn/timeline.py).
    RETAINED = "retained"
    # The follower deleted the post an interaction event (``deletes``) was: its text is erased
    # wherever it is stored (services/churn/deletions.py); nothing is folded or decided on it.
    DELETED = "deleted"


# At one instant, a follow comes before anything else and an unfollow after: a follow and an
# unfollow stamped with the same second are a zero-length follow (a glitch), whatever their ids.
# The ranks are stored (scorer_positions.event_rank): a type added later takes a free one or shares
# one, and never renumbers the others.
EVENT_TIME_RANK = {
    EventType.FOLLOW: 0,
    EventType.FOLLOWED_BACK: 1,
    EventType.INTERACTION: 2,
    # The brand's unfollow comes after its follow-back of the instant (the two are a zero-length
    # follow-back, as a follow and an unfollow are a zero-length follow) and before the follower's
    # unfollow: when X stamps both unfollows with one second, which came first cannot be told, and
    # the brand's first never makes the follower's an unfollow after a follow-back (never a false
    # churner). It shares the interactions' rank (no integer is free between 1 and 3): the two
    # commute (one counts interactions, the other ends the follow-back), so by id among them, as
    # two interactions are.
    EventType.UNFOLLOWED_BACK: 2,
    EventType.UNFOLLOW: 3,
    EventType.RETAINED: 4,
    # After the follower's own acts of the instant: a block stamped with a follow's second ends it.
    EventType.BLOCKED: 5,
    EventType.UNBLOCKED: 6,
    EventType.DELETED: 7,
    # Appended, the ranks above unchanged (the scorer's positions store them, and every log that
    # existed keeps its order). After the follower's own acts of the instant: only an active account
    # follows, so a follow stamped with a suspension's or deactivation's second came before it (the
    # instant ends with the account suspended or deactivated, not lifted by that follow); each lifting
    # after its state, so a state and its lifting stamped with one second end lifted.
    EventType.SUSPENDED: 8,
    EventType.UNSUSPENDED: 9,
    EventType.DEACTIVATED: 10,
    EventType.REACTIVATED: 11,
}
_AFTER_ALL = max(EVENT_TIME_RANK.values()) + 1  # (ranks may be shared: not their number)
Order = tuple[datetime, int, str]  # where an event falls in event time: (occurred_at, type's rank, event id)


def order_of(occurred_at: datetime, kind: EventType, event_id: str) -> Order:
    """The order the churn detector folds a follower's events in, and the scorer decides them in."""
    return (occurred_at, EVENT_TIME_RANK[kind], event_id)


def after_all(at: datetime) -> Order:
    """After every event of the instant ``at`` (and before any later one)."""
    return (at, _AFTER_ALL, "")


class InteractionKind(StrEnum):
    MENTION = "mention"
    REPLY = "reply"
    REPOST = "repost"
    QUOTE = "quote"
    LIKE = "like"
    DIRECT_MESSAGE = "direct_message"


class Profile(BaseModel):
    """A snapshot of the follower's public profile, in the platform's user-object fields."""

    model_config = ConfigDict(coerce_numbers_to_str=True, extra="ignore", frozen=True)

    id: Id
    screen_name: Text = Field(default="", max_length=50)
    name: Text = Field(default="", max_length=100)
    description: Text = Field(default="", max_length=1000)
    url: Text | None = Field(default=None, max_length=500)
    location: Text = Field(default="", max_length=200)
    created_at: Instant | None = None
    followers_count: Count = 0
    friends_count: Count = 0
    statuses_count: Count = 0
    # None: unknown, never 0. X's direct-message user objects carry neither; read as 0, a DM (the
    # strongest engagement) made its sender "never liked a post", a strong sign of a bot. Unknown
    # is left out when written (no null on the wire: a reader of before reads its default).
    favourites_count: Count | None = Field(default=None, exclude_if=lambda v: v is None)
    listed_count: Count | None = Field(default=None, exclude_if=lambda v: v is None)
    verified: bool = False
    protected: bool = False
    default_profile: bool = False
    default_profile_image: bool = False
    last_status_at: Instant | None = None


# The longest interaction text an event holds (the webhook cuts a longer one).
TEXT_LIMIT = 10_000


class Interaction(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: InteractionKind
    text: Text = Field(default="", max_length=TEXT_LIMIT)


# The fields one event type alone carries, and needs: (type, field, what its absence is called).
_TYPE_FIELDS = (
    (EventType.INTERACTION, "interaction", "an interaction event needs the 'interaction' field"),
    (
        EventType.DELETED,
        "deletes",
        "a deleted event needs the 'deletes' field (the deleted interaction's event id)",
    ),
)


class Event(BaseModel):
    """One follow, unfollow or interaction of a follower with a brand account (or the brand's act
    on that follower: a follow-back, an unfollow, a block), in event time."""

    model_config = ConfigDict(coerce_numbers_to_str=True, frozen=True)

    schema_version: Literal[2] = SCHEMA_VERSION
    event_id: Id = Field(description="Idempotency key: a repeated id is already done.")
    type: EventType
    platform: Text = Field(
        min_length=1, max_length=20, description="The network, e.g. x (version 1 implied x when absent)."
    )
    account_id: Id = Field(description="The brand account that was followed or engaged.")
    follower: Profile
    interaction: Interaction | None = None
    # Only a ``deleted`` event's (left out of the others' JSON).
    deletes: Id | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="For a deleted event: the event id of the interaction whose post was deleted.",
    )
    occurred_at: Instant = Field(description="Event time, RFC 3339 with an offset.")

    @model_validator(mode="before")
    @classmethod
    def _upcast(cls, data: Any) -> Any:
        """An older version's payload in this version's shape (see :mod:`shared.upcasting`)."""
        return upcast_event(data)

    @field_validator("schema_version", mode="before")
    @classmethod
    def _known_version(cls, value: Any) -> Any:
        return supported(value)

    @model_validator(mode="after")
    def _fields_match_type(self) -> Event:
        """``interaction`` and ``deletes`` belong to one type each: it needs its field, and no other
        type carries it."""
        for kind, name, needed in _TYPE_FIELDS:
            if self.type is kind and getattr(self, name) is None:
                raise ValueError(needed)
            if self.type is not kind and getattr(self, name) is not None:
                raise ValueError(f"a {self.type.value} event carries no {name!r}")
        return self

    @property
    def key(self) -> bytes:
        """The partition key: the follower id keeps one follower's events in order."""
        return self.follower.id.encode()


def event_order(event: Event) -> Order:
    """Where an event falls in event time: the order the churn detector folds a follower's events
    in, the scorer decides them in, and ``followback replay`` sorts the log by."""
    return (event.occurred_at, EVENT_TIME_RANK[event.type], event.event_id)


def occurred_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)
