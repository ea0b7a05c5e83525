"""Digest periods in event time: which period a follower's entry joins, and when a period closes.

Pure functions over UTC datetimes, so the notifier and the tests share them. A period is an hour
or a UTC day, from a decision's ``occurred_at``; it closes once the account's stream time (the
newest ``occurred_at`` of its decisions) has passed its end by the grace, or on an explicit flush.
An entry never joins a period that already closed: it starts the first one still open.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

LENGTHS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}


def floor(at: datetime, mode: str) -> datetime:
    """The start of the hour or UTC day holding ``at``."""
    at = at.astimezone(UTC)
    if mode == "hourly":
        return at.replace(minute=0, second=0, microsecond=0)
    if mode == "daily":
        return at.replace(hour=0, minute=0, second=0, microsecond=0)
    raise ValueError(f"not a digest period: {mode!r}")


def period_for(at: datetime, mode: str, closed_until: datetime | None) -> tuple[datetime, datetime]:
    """The ``[start, end)`` of the period an entry made at ``at`` joins.

    ``closed_until`` is the end of the latest closed period of the account and channel: an entry
    whose own period has closed (it arrived late, or after a flush) starts there instead, until the
    next period boundary.
    """
    start = floor(at, mode)
    if closed_until is not None and start < closed_until:
        start = closed_until.astimezone(UTC)
    return start, floor(start, mode) + LENGTHS[mode]


def due(period_end: datetime, stream_time: datetime, grace_s: float) -> bool:
    """Whether a period ending at ``period_end`` closes at ``stream_time``."""
    return period_end + timedelta(seconds=grace_s) <= stream_time


def label(start: datetime, end: datetime) -> str:
    """A period for people: ``2026-03-01 09:00-10:00 UTC`` or ``2026-03-01 UTC`` for a whole day."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start == floor(start, "daily") and end - start == LENGTHS["daily"]:
        return f"{start:%Y-%m-%d} UTC"
    last = end - timedelta(microseconds=1)
    if start.date() == last.date():
        stop = "24:00" if end.date() != start.date() else f"{end:%H:%M}"
        return f"{start:%Y-%m-%d %H:%M}-{stop} UTC"
    return f"{start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M} UTC"


def key(account: str, channel: str, start: datetime, end: datetime) -> str:
    """The digest's idempotency key (and its e-mail's Message-ID): ``digest:brand:slack:20260301T0900Z``
    for an hour; any other period also names its end, so an hourly and a daily period that start
    together (the brand switched modes) are two digests."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    name = f"digest:{account}:{channel}:{start:%Y%m%dT%H%MZ}"
    return name if end - start == LENGTHS["hourly"] else f"{name}-{end:%Y%m%dT%H%MZ}"
