"""Push channels: each sends one claimed outbox row, or says how it failed.

A channel raises :class:`RetryableError` when nothing was delivered and a later attempt may work (refused
connection, 5xx, 429, a temporary SMTP reply), :class:`PermanentError` when no attempt will work (4xx,
5xx SMTP reply), and :class:`InDoubtError` when the message may have arrived (a timeout after the request
was sent): those are not sent again unless the channel's receiver deduplicates by idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Outgoing:
    """One claimed outbox row."""

    delivery_id: int
    idempotency_key: str
    channel: str
    kind: str
    target: str
    payload: dict[str, Any]
    attempts: int


class ChannelError(Exception):
    """A send that did not succeed."""


class RetryableError(ChannelError):
    """Nothing was delivered; try again after a back-off."""


class PermanentError(ChannelError):
    """The receiver refused the message for good."""


class InDoubtError(ChannelError):
    """The message may or may not have arrived."""


class Channel(Protocol):
    name: str
    # True when a resend of the same idempotency key cannot show twice (the receiver deduplicates).
    deduplicates: bool

    async def send(self, message: Outgoing) -> None: ...
