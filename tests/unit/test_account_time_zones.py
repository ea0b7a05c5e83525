"""A brand's own time zone: its push budget's day and its digest periods, across clock changes."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from pydantic import ValidationError

from services.notifier import periods
from services.notifier.budget import day_of
from shared import accounts
from shared.accounts import AccountConfig

PARIS, NEW_YORK = ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_a_decision_counts_against_its_date_where_the_brand_is() -> None:
    # 2026-03-02 03:00 UTC is still the evening of March 1st in New York, already March 2nd in Paris.
    at = utc(2026, 3, 2, 3)
    assert day_of(at, UTC) == date(2026, 3, 2)
    assert day_of(at, NEW_YORK) == date(2026, 3, 1)
    assert day_of(at, PARIS) == date(2026, 3, 2)
    # New York's day turns at 05:00 UTC in winter, at 04:00 UTC once clocks went forward (March 8th).
    assert day_of(utc(2026, 3, 2, 4, 59), NEW_YORK) == date(2026, 3, 1)
    assert day_of(utc(2026, 3, 2, 5), NEW_YORK) == date(2026, 3, 2)
    assert day_of(utc(2026, 3, 10, 3, 59), NEW_YORK) == date(2026, 3, 9)
    assert day_of(utc(2026, 3, 10, 4), NEW_YORK) == date(2026, 3, 10)
    # Any offset of the same instant: the same day (event time, not how it was written).
    assert day_of(at.astimezone(PARIS), NEW_YORK) == date(2026, 3, 1)


@pytest.mark.parametrize(
    ("zone", "day", "start", "hours"),
    [
        # Clocks go forward: a 23-hour day; back: a 25-hour one; an ordinary day between.
        ("Europe/Paris", date(2026, 3, 29), utc(2026, 3, 28, 23), 23),
        ("Europe/Paris", date(2026, 10, 25), utc(2026, 10, 24, 22), 25),
        ("Europe/Paris", date(2026, 6, 1), utc(2026, 5, 31, 22), 24),
        ("America/New_York", date(2026, 3, 8), utc(2026, 3, 8, 5), 23),
        ("America/New_York", date(2026, 11, 1), utc(2026, 11, 1, 4), 25),
        ("America/New_York", date(2026, 1, 15), utc(2026, 1, 15, 5), 24),
    ],
)
def test_a_daily_period_runs_from_local_midnight_to_local_midnight(
    zone: str, day: date, start: datetime, hours: int
) -> None:
    tz = ZoneInfo(zone)
    end = start + timedelta(hours=hours)
    # Every instant of the local day joins that day's period, and no other.
    for at in (start, start + HOUR * (hours // 2), end - timedelta(microseconds=1)):
        assert periods.period_for(at, "daily", None, tz) == (start, end)
        assert at.astimezone(tz).date() == day
    assert periods.period_for(end, "daily", None, tz)[0] == end  # the next day starts where it ends
    assert periods.label(start, end, tz) == f"{day:%Y-%m-%d} {zone}"
    assert periods.key("b", "slack", start, end) == f"digest:b:slack:{start:%Y%m%dT%H%MZ}-{end:%Y%m%dT%H%MZ}"


def test_hours_are_local_hours_and_the_repeated_hour_is_two_periods() -> None:
    # Paris, 2026-10-25: 02:00-03:00 happens twice (CEST, then CET), two periods, two labels, two keys.
    first, second = utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)
    assert periods.period_for(first, "hourly", None, PARIS) == (utc(2026, 10, 25, 0), utc(2026, 10, 25, 1))
    assert periods.period_for(second, "hourly", None, PARIS) == (utc(2026, 10, 25, 1), utc(2026, 10, 25, 2))
    assert periods.label(utc(2026, 10, 25, 0), utc(2026, 10, 25, 1), PARIS) == "2026-10-25 02:00-03:00 CEST"
    assert periods.label(utc(2026, 10, 25, 1), utc(2026, 10, 25, 2), PARIS) == "2026-10-25 02:00-03:00 CET"
    assert periods.key("b", "slack", utc(2026, 10, 25, 0), utc(2026, 10, 25, 1)) != periods.key(
        "b", "slack", utc(2026, 10, 25, 1), utc(2026, 10, 25, 2)
    )
    # New York, 2026-03-08: 02:00-03:00 never happens; 01:59 EST is followed by 03:00 EDT.
    one, three = utc(2026, 3, 8, 6), utc(2026, 3, 8, 7)
    assert periods.period_for(utc(2026, 3, 8, 6, 59), "hourly", None, NEW_YORK) == (one, three)
    assert periods.label(one, three, NEW_YORK) == "2026-03-08 01:00-02:00 EST"
    assert periods.label(three, three + HOUR, NEW_YORK) == "2026-03-08 03:00-04:00 EDT"
    assert periods.label(utc(2026, 3, 2, 4), utc(2026, 3, 2, 5), NEW_YORK) == "2026-03-01 23:00-24:00 EST"
    # A half-hour zone: its hours start at half past in UTC.
    kolkata = ZoneInfo("Asia/Kolkata")
    assert periods.period_for(utc(2026, 3, 1, 4, 10), "hourly", None, kolkata) == (
        utc(2026, 3, 1, 3, 30),
        utc(2026, 3, 1, 4, 30),
    )
    assert (
        periods.label(utc(2026, 3, 1, 3, 30), utc(2026, 3, 1, 4, 30), kolkata) == "2026-03-01 09:00-10:00 IST"
    )


def test_where_clocks_move_by_half_an_hour_the_hour_they_move_in_is_cut_there() -> None:
    # Lord Howe Island, 2026-10-04: 02:00 (+10:30) becomes 02:30 (+11) at 15:30 UTC. Every instant
    # is in exactly one period, and no period is longer than an hour.
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    ten = timedelta(minutes=10)
    instants = [utc(2026, 10, 3, 14, 30) + m * ten for m in range(15)]
    spans = {periods.period_for(at, "hourly", None, lord_howe) for at in instants}
    assert sorted(spans) == [
        (utc(2026, 10, 3, 14, 30), utc(2026, 10, 3, 15, 30)),
        (utc(2026, 10, 3, 15, 30), utc(2026, 10, 3, 16)),
        (utc(2026, 10, 3, 16), utc(2026, 10, 3, 17)),
    ]
    assert (
        periods.label(utc(2026, 10, 3, 15, 30), utc(2026, 10, 3, 16), lord_howe)
        == "2026-10-04 02:30-03:00 +11"
    )


def test_after_a_change_of_zone_periods_neither_overlap_a_closed_one_nor_leave_a_gap() -> None:
    # Daily in UTC, March 1st closed at 2026-03-02 00:00 UTC; the brand moves to New York, whose
    # March 1st runs to 05:00 UTC: the rest of it is a period of its own, then New York's days.
    closed = utc(2026, 3, 2)
    rest = periods.period_for(utc(2026, 3, 2, 3), "daily", closed, NEW_YORK)
    assert rest == (closed, utc(2026, 3, 2, 5))
    assert periods.label(*rest, NEW_YORK) == "2026-03-01 19:00-24:00 EST"
    assert periods.period_for(utc(2026, 3, 1, 20), "daily", closed, NEW_YORK) == rest  # a late one too
    assert periods.period_for(utc(2026, 3, 2, 5), "daily", closed, NEW_YORK) == (
        utc(2026, 3, 2, 5),
        utc(2026, 3, 3, 5),
    )
    # To Paris, whose March 2nd began at 23:00 UTC: from the close to Paris's next midnight.
    assert periods.period_for(utc(2026, 3, 2, 3), "daily", closed, PARIS) == (closed, utc(2026, 3, 2, 23))
    # A period labelled in a zone it is not a whole day of says both ends.
    # A part of a day the clocks change in names each end's offset.
    dst_day = periods.label(utc(2026, 3, 29), utc(2026, 3, 29, 22), PARIS)
    assert dst_day == "2026-03-29 01:00 CET-24:00 CEST"
    assert (
        periods.label(utc(2026, 3, 2), utc(2026, 3, 3), PARIS)
        == "2026-03-02 01:00 CET - 2026-03-03 01:00 CET"
    )


def test_utc_labels_and_keys_are_unchanged() -> None:
    nine = utc(2026, 3, 1, 9)
    assert periods.label(nine, nine + HOUR, ZoneInfo("UTC")) == "2026-03-01 09:00-10:00 UTC"
    assert periods.label(utc(2026, 3, 1), utc(2026, 3, 2), ZoneInfo("UTC")) == "2026-03-01 UTC"
    assert periods.key("b", "slack", nine, nine + HOUR) == "digest:b:slack:20260301T0900Z"


def test_the_time_zone_is_an_iana_name_the_tz_database_knows() -> None:
    assert AccountConfig().timezone == "UTC"
    assert AccountConfig(timezone=" Europe/Paris ").timezone == "Europe/Paris"
    assert accounts.zone_of(AccountConfig(timezone="America/New_York")) == NEW_YORK
    assert accounts.zone_of(None) == UTC
    assert (
        AccountConfig(timezone="america/new_york").timezone == "America/New_York"
    )  # as the database spells it
    for bad in (
        "Mars/Olympus_Mons",
        "../../etc/passwd",
        "",
        "EST5EDT,M3.2.0,M11.1.0",
        "localtime",
        "/etc/localtime",
    ):
        with pytest.raises(ValidationError, match="time zone"):
            AccountConfig(timezone=bad)
    # A stored configuration stays readable where the zone is unknown (an older tz database): UTC.
    stored = accounts._config('{"timezone": "Mars/Olympus_Mons"}')
    assert accounts.zone_of(stored) == UTC


def test_a_zone_unknown_here_is_warned_of_once_per_account_and_zone(caplog: pytest.LogCaptureFixture) -> None:
    """Each batch of decisions and each review queue page looks the brand's zone up: an account whose
    stored zone this machine's tz database does not know (after an upgrade of it) logged the same
    warning on every one. Once per account and zone now; each use still stands for UTC."""
    lost = accounts._config('{"timezone": "Mars/Jezero_Crater"}')
    other = accounts._config('{"timezone": "Mars/Gale_Crater"}')
    with caplog.at_level(logging.WARNING, logger=accounts.log.name):
        for _ in range(3):
            assert accounts.zone_of(lost, "jezero-brand") == UTC
            assert accounts.zone_of(lost, "jezero-other") == UTC
            assert accounts.zone_of(other, "jezero-brand") == UTC
    assert [r.getMessage() for r in caplog.records if r.name == accounts.log.name] == [
        "jezero-brand's time zone 'Mars/Jezero_Crater' is unknown here (its tz database); using UTC",
        "jezero-other's time zone 'Mars/Jezero_Crater' is unknown here (its tz database); using UTC",
        "jezero-brand's time zone 'Mars/Gale_Crater' is unknown here (its tz database); using UTC",
    ]


def test_a_decision_names_the_configuration_version_it_was_made_under() -> None:
    assert accounts.brand_version("1+ab12cd34/brand@v3", "brand") == 3
    assert accounts.brand_version("1+ab12cd34+churn:9f8e7d6c/brand/eu@v12", "brand/eu") == 12
    assert accounts.brand_version("1+ab12cd34/default", "brand") is None
    assert accounts.brand_version("1/other@v3", "brand") is None
    assert accounts.brand_version("test", "brand") is None


def test_a_zone_in_other_capitals_is_stored_as_the_database_spells_it_on_any_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where zone files are found whatever the capitals (macOS, Windows: ``account set`` is often run
    from a laptop), ``europe/paris`` loads as it is: stored so, the notifier on Linux would not know
    it and the brand's days would silently be UTC's."""
    spelled = {name.lower(): name for name in ("Europe/Paris", "UTC")}

    def case_insensitive(name: str) -> ZoneInfo:
        if name.lower() not in spelled:
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(spelled[name.lower()])

    monkeypatch.setattr(accounts, "_zone", case_insensitive)
    assert AccountConfig(timezone="europe/paris").timezone == "Europe/Paris"
    assert AccountConfig(timezone="utc").timezone == "UTC"
    assert AccountConfig(timezone="Europe/Paris").timezone == "Europe/Paris"


def test_a_region_of_the_tz_database_is_refused_as_no_time_zone() -> None:
    """``--timezone America`` names a directory of zone files: a usage error (exit 2), not a
    traceback; a stored one stands for UTC as any unknown zone does."""
    for region in ("America", "Europe", "Etc"):
        with pytest.raises(ValidationError, match="time zone"):
            AccountConfig(timezone=region)
        assert accounts.zone_named(region) == UTC
