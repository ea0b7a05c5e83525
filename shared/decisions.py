"""The decision contract: what the scorer records in PostgreSQL and publishes to the notifier."""

from __future__ import annotations

import hashlib
import uuid
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.events import EventType, Id, Instant, Text
from shared.relationships import Revision

# Decision ids are derived from the event they rest on and its annotation's revision, so a redelivered
# annotation maps to the same id.
_DECISION_NAMESPACE = uuid.UUID("7a1f7e52-3c1b-4d8e-9a53-0c6f4e1d2b90")
_NAMESPACE_BYTES = _DECISION_NAMESPACE.bytes
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class DecisionClass(StrEnum):
    HIGH_VALUE = "high_value"  # push to a person
    WORTH_FOLLOWING = "worth_following"  # in the queue, never pushed
    IGNORE = "ignore"
    SPAM = "spam"
    CHURNER = "churner"
    HARMFUL = "harmful"
    WITHDRAWN = "withdrawn"  # the follower left before a person acted


class Reason(BaseModel):
    """One signal: its observed value and how many points it added to (or took off) the score."""

    model_config = ConfigDict(frozen=True)

    signal: str
    value: float | int | str | bool | None
    contribution: float
    detail: str = ""


class Decision(BaseModel):
    schema_version: Literal[1] = 1
    decision_id: str = Field(pattern=_UUID)  # (the notifier's tables key it as a uuid)
    account_id: Id
    follower_id: Id
    screen_name: Text = Field(default="", max_length=50)
    decision_class: DecisionClass = Field(alias="class")
    score: float = Field(ge=0, le=100)
    reasons: tuple[Reason, ...]
    scorer_version: Text
    config_version: Text
    event_ids: tuple[Id, ...]
    occurred_at: Instant
    revision: Revision = Field(default=0, description="The revision of the event's annotation it answers.")
    event_type: EventType | None = Field(
        default=None,
        description="The type of the event it was decided on (its place in event time, with "
        "occurred_at and the event id); None: recorded before decisions kept it.",
    )
    # Left out when None (as the annotation's blocked_at): a decision without it is what it was before.
    followed_at: Instant | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="When the follow the decision is about began (the annotation's last_follow_at: the "
        "follower's newest follow as of the event, which a like after it does not move); None: never "
        "followed, or decided by a scorer from before decisions carried it.",
    )

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    @property
    def key(self) -> bytes:
        return self.follower_id.encode()


_REASONS = TypeAdapter(tuple[Reason, ...])


def reasons_json(reasons: tuple[Reason, ...]) -> bytes:
    """A decision's reasons as one JSON array (for a jsonb column), serialized in one call."""
    return _REASONS.dump_json(reasons)


def decision_id_for(event_id: str, revision: int = 0) -> str:
    """``str(uuid.uuid5(namespace, event_id))`` for the event's first annotation, and of
    ``"<event_id>#<revision>"`` for a revised one (event ids never hold ``#``), without building a
    ``UUID`` (a hot path: one per decision, in the scorer and in replay)."""
    name = event_id if not revision else f"{event_id}#{revision}"
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])  # noqa: S324
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
