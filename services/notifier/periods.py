"""Digest periods in event time: which period a follower's entry joins, and when a period closes.

Pure functions over aware datetimes, so the notifier and the tests share them. A period is an hour
or a day *of the account's time zone* (``AccountConfig.timezone``, UTC by default), from a
decision's ``occurred_at``: a day runs from local midnight to local midnight (23 or 25 hours on a
day clocks change), an hour from one local full hour to the next (cut where clocks move by half an
hour within it). Periods are stored as UTC instants. A period closes once the account's stream
time (the newest ``occurred_at`` of its decisions) has passed its end by the grace, or on an
explicit flush. An entry never joins a period that already closed: it starts the first one still
open.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo

from shared.accounts import zone_name

LENGTHS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}
_TICK = timedelta(microseconds=1)


def _midnight(at: datetime, zone: tzinfo) -> datetime:
    """The first instant of ``at``'s local date in ``zone``, in UTC (where midnight is skipped,
    the instant the clocks jump; where it repeats, the first one)."""
    return datetime.combine(at.astimezone(zone).date(), time(), tzinfo=zone).astimezone(UTC)


def _offset(at: datetime, zone: tzinfo) -> timedelta | None:
    return at.astimezone(zone).utcoffset()


def _change(after: datetime, by: datetime, zone: tzinfo) -> datetime:
    """The first instant in ``(after, by]`` whose UTC offset in ``zone`` differs from ``after``'s
    (the clocks changed in between: there is one)."""
    before, low, high = _offset(after, zone), after, by
    while high - low > _TICK:
        middle = low + (high - low) / 2
        if _offset(middle, zone) == before:
            low = middle
        else:
            high = middle
    return high


def _full_hour(at: datetime, zone: tzinfo) -> datetime:
    local = at.astimezone(zone)
    return at.astimezone(UTC) - timedelta(
        minutes=local.minute, seconds=local.second, microseconds=local.microsecond
    )


def floor(at: datetime, mode: str, zone: tzinfo = UTC) -> datetime:
    """The start (in UTC) of the local hour or local day of ``zone`` holding ``at``.

    An hour starts at a full hour of the local clock, or where the clocks changed within it (a
    zone whose clocks move by half an hour has a half-hour period then)."""
    if mode == "hourly":
        start = _full_hour(at, zone)
        return start if _offset(start, zone) == _offset(at, zone) else _change(start, at, zone)
    if mode == "daily":
        return _midnight(at, zone)
    raise ValueError(f"not a digest period: {mode!r}")


def _next(start: datetime, mode: str, zone: tzinfo) -> datetime:
    """The end of the local hour or day holding ``start``: the next boundary after it."""
    if mode == "hourly":
        end = _full_hour(start, zone) + LENGTHS["hourly"]
        return end if _offset(end, zone) == _offset(start, zone) else _change(start, end, zone)
    # Noon of the next local date is always on that date whatever the clocks do around midnight.
    local = start.astimezone(zone)
    noon = datetime.combine(local.date() + timedelta(days=1), time(12), tzinfo=zone)
    return _midnight(noon, zone)


def period_for(
    at: datetime, mode: str, closed_until: datetime | None, zone: tzinfo = UTC
) -> tuple[datetime, datetime]:
    """The ``[start, end)`` (UTC) of the period an entry made at ``at`` joins, in ``zone``.

    ``closed_until`` is the end of the latest closed period of the account and channel: an entry
    whose own period has closed (it arrived late, or after a flush) starts there instead, until the
    next period boundary (of ``zone``: after a change of zone, the first open period may be a
    part of a local day or hour).
    """
    start = floor(at, mode, zone)
    if closed_until is not None and start < closed_until:
        start = closed_until.astimezone(UTC)
    return start, _next(start, mode, zone)


def due(period_end: datetime, stream_time: datetime, grace_s: float) -> bool:
    """Whether a period ending at ``period_end`` closes at ``stream_time``."""
    return period_end + timedelta(seconds=grace_s) <= stream_time


def label(start: datetime, end: datetime, zone: tzinfo = UTC) -> str:
    """A period for people, in local time of ``zone``: ``2026-03-01 Europe/Paris`` for a whole
    local day; ``2026-03-01 09:00-10:00 CET`` for an hour, read on the clock of its start (the two
    hours of the night clocks go back are ``02:00-03:00 CEST`` and ``02:00-03:00 CET``); another
    part of a day ``2026-03-01 19:00-24:00 EST`` (each end with its own abbreviation where they
    differ); ``2026-03-01 23:00 CET - 2026-03-02 01:00 CET`` otherwise. In UTC: ``2026-03-01 UTC``
    and ``2026-03-01 09:00-10:00 UTC``."""
    first, after = start.astimezone(zone), end.astimezone(zone)
    if start == floor(start, "daily", zone) and end == _next(start, "daily", zone):
        return f"{first:%Y-%m-%d} {zone_name(zone)}"
    if end - start == LENGTHS["hourly"]:
        stop = first.replace(tzinfo=None) + LENGTHS["hourly"]
        until = "24:00" if stop.date() != first.date() else f"{stop:%H:%M}"
        return f"{first:%Y-%m-%d %H:%M}-{until} {first:%Z}"
    last = (end - _TICK).astimezone(zone)
    if first.date() == last.date():
        until = "24:00" if after.date() != first.date() else f"{after:%H:%M}"
        if first.tzname() == after.tzname():
            return f"{first:%Y-%m-%d %H:%M}-{until} {first:%Z}"
        return f"{first:%Y-%m-%d %H:%M %Z}-{until} {after:%Z}"
    return f"{first:%Y-%m-%d %H:%M %Z} - {after:%Y-%m-%d %H:%M %Z}"


def key(account: str, channel: str, start: datetime, end: datetime) -> str:
    """The digest's idempotency key (and its e-mail's Message-ID): ``digest:brand:slack:20260301T0900Z``
    for an hour; any other period (a local day of 23, 24 or 25 hours, a part of one) also names its
    end, so an hourly and a daily period that start together (the brand switched modes) are two
    digests. The instants are UTC whatever the account's zone: one interval, one key."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    name = f"digest:{account}:{channel}:{start:%Y%m%dT%H%MZ}"
    return name if end - start == LENGTHS["hourly"] else f"{name}-{end:%Y%m%dT%H%MZ}"
