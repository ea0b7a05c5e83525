"""The relationship-history contract: what the churn detector publishes for every event."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.events import Event


class ChurnPattern(StrEnum):
    QUICK_UNFOLLOW = "quick_unfollow"
    SERIAL_CHURN = "serial_churn"


class RelationshipState(BaseModel):
    """Everything the churn detector remembers of one (account, follower) relationship."""

    model_config = ConfigDict(frozen=True)

    following: bool = False
    follows: int = 0
    unfollows: int = 0
    interactions: int = 0
    last_follow_at: AwareDatetime | None = None
    last_unfollow_at: AwareDatetime | None = None
    last_interaction_at: AwareDatetime | None = None
    # Event times of the unfollows that closed a follow (a cycle), newest last; trimmed to the
    # churn horizon so the state stays small however long the relationship lives.
    cycle_ends: tuple[AwareDatetime, ...] = ()
    patterns: tuple[ChurnPattern, ...] = ()


class Annotation(BaseModel):
    """What one event tells about its relationship, as of that event."""

    model_config = ConfigDict(frozen=True)

    follows: int
    unfollows: int
    interactions: int
    following: bool
    last_follow_at: AwareDatetime | None
    last_unfollow_at: AwareDatetime | None
    last_interaction_at: AwareDatetime | None
    dwell_seconds: float | None = Field(
        default=None, description="How long the follow that this unfollow ended had lasted."
    )
    cycles_in_horizon: int = 0
    patterns: tuple[ChurnPattern, ...] = Field(
        default=(), description="Churn patterns this relationship has matched so far."
    )
    new_patterns: tuple[ChurnPattern, ...] = Field(
        default=(), description="Patterns first matched by this event (each raises an alert)."
    )


class AnnotatedEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    event: Event
    relationship: Annotation

    @property
    def key(self) -> bytes:
        return self.event.key


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

    @property
    def key(self) -> bytes:
        return self.follower_id.encode()
