"""The notifier's pure digest and login-limit parts: periods in event time, the digest text, the throttle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.notifier import messages, periods
from services.notifier.channels import Outgoing
from services.notifier.channels.email import compose
from services.notifier.channels.slack import escape
from services.notifier.web.throttle import LoginThrottle, wait_text
from shared.accounts import AccountConfig

AT = datetime(2026, 3, 1, 9, 42, 17, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def test_a_period_is_the_hour_or_utc_day_of_the_decision() -> None:
    nine = datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert periods.period_for(AT, "hourly", None) == (nine, nine + HOUR)
    midnight = datetime(2026, 3, 1, tzinfo=UTC)
    assert periods.period_for(AT, "daily", None) == (midnight, midnight + DAY)
    # An offset changes nothing: 06:42 at UTC-3 is the same instant, in the 09:00 UTC hour.
    elsewhere = AT.astimezone(timezone(timedelta(hours=-3)))
    assert periods.period_for(elsewhere, "hourly", None) == (nine, nine + HOUR)
    with pytest.raises(ValueError, match="not a digest period"):
        periods.floor(AT, "weekly")


def test_an_entry_never_joins_a_closed_period() -> None:
    nine, ten = datetime(2026, 3, 1, 9, tzinfo=UTC), datetime(2026, 3, 1, 10, tzinfo=UTC)
    # 09:00-10:00 closed (late, or flushed): a 09:42 entry starts the next hour.
    assert periods.period_for(AT, "hourly", ten) == (ten, ten + HOUR)
    # An older closed period changes nothing.
    assert periods.period_for(AT, "hourly", nine) == (nine, ten)
    # Hours closed, then the brand switched to daily: the rest of the day, from the last close.
    assert periods.period_for(AT, "daily", ten) == (ten, datetime(2026, 3, 2, tzinfo=UTC))


def test_a_period_closes_when_the_stream_time_has_passed_its_end_by_the_grace() -> None:
    end = datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert not periods.due(end, end + timedelta(minutes=4, seconds=59), 300)
    assert periods.due(end, end + timedelta(minutes=5), 300)
    assert periods.due(end, end, 0)
    assert not periods.due(end, end - timedelta(microseconds=1), 0)


def test_period_labels_for_people() -> None:
    nine = datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert periods.label(nine, nine + HOUR) == "2026-03-01 09:00-10:00 UTC"
    assert periods.label(nine.replace(hour=23), nine.replace(hour=23) + HOUR) == "2026-03-01 23:00-24:00 UTC"
    assert periods.label(nine.replace(hour=0), nine.replace(hour=0) + DAY) == "2026-03-01 UTC"
    assert periods.label(nine, nine.replace(hour=0) + DAY) == "2026-03-01 09:00-24:00 UTC"


FOLLOWER = {
    "decision_id": "d1",
    "account_id": "brand",
    "follower_id": "42",
    "screen_name": "ana_roasts",
    "name": "Ana <b>Costa</b>",
    "score": 87.4,
    "reasons": [
        {"signal": "engagement", "contribution": 30.2},
        {"signal": "topic_match", "contribution": 12},
    ],
    "url": "http://queue.example/?account=brand&q=42",
}
DIGEST = {
    "account_id": "brand",
    "period": "2026-03-01 09:00-10:00 UTC",
    "url": "http://queue.example/?account=brand",
    "followers": [FOLLOWER, {**FOLLOWER, "follower_id": "7", "screen_name": "", "name": "", "score": 71,
                             "reasons": [], "url": ""}],
}  # fmt: skip


def test_a_digest_lists_each_follower_with_score_reasons_and_link() -> None:
    assert messages.text("digest", DIGEST) == (
        "2 followers worth following back for brand, 2026-03-01 09:00-10:00 UTC:\n"
        "- @ana_roasts (Ana <b>Costa</b>), score 87. Why: engagement +30, topic_match +12. "
        "http://queue.example/?account=brand&q=42\n"
        "- follower 7, score 71.\n"  # no handle (erased): named by id, never as a handle
        "Decide in the review queue: http://queue.example/?account=brand"
    )
    one = {**DIGEST, "followers": [FOLLOWER]}
    subject = "[brand] 1 follower worth following back, 2026-03-01 09:00-10:00 UTC"
    assert messages.subject("digest", one) == subject
    # Slack's escaping applies to the whole digest: a name cannot become a mention.
    assert "&lt;b&gt;" in escape(messages.text("digest", one))
    mail = compose(Outgoing(5, "digest:brand:email:20260301T0900Z", "email", "digest", "a@b.example", one, 1),
                   "followback@brand.example")  # fmt: skip
    assert mail["Subject"] == subject
    assert mail["In-Reply-To"] is None


def test_digest_mode_is_off_unless_a_brand_turns_it_on() -> None:
    assert AccountConfig().digest == "off"
    assert AccountConfig(digest="daily").digest == "daily"
    with pytest.raises(ValueError, match="digest"):
        AccountConfig(digest="weekly")  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_logins_are_refused_after_n_failures_for_a_name_until_the_window_has_passed() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_per_name=3, max_per_address=10, window_s=60, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("ana", "10.0.0.1") == 0
        throttle.failed("ana", "10.0.0.1")
        clock.now += 5
    assert throttle.retry_after("ana", "10.0.0.1") == 45  # the first failure leaves the window at 1060
    assert throttle.retry_after("Ana", "10.0.0.9") == 45  # per name, from anywhere, in any case
    assert throttle.retry_after("bruno", "10.0.0.1") == 0  # the address has room
    clock.now = 1060
    assert throttle.retry_after("ana", "10.0.0.1") == 0  # one more try
    throttle.failed("ana", "10.0.0.1")
    assert throttle.retry_after("ana", "10.0.0.1") == 5  # until the second failure leaves too
    throttle.succeeded("ana")
    assert throttle.retry_after("ana", "10.0.0.1") == 0


def test_one_address_guessing_many_names_is_refused_too() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_per_name=3, max_per_address=4, window_s=60, clock=clock)
    for name in ("a", "b", "c", "d"):
        throttle.failed(name, "10.0.0.1")
    assert throttle.retry_after("e", "10.0.0.1") == 60
    assert throttle.retry_after("e", "10.0.0.2") == 0
    throttle.succeeded("d")  # a valid login does not reset the address
    assert throttle.retry_after("e", "10.0.0.1") == 60
    assert (wait_text(0.2), wait_text(1), wait_text(59.5), wait_text(61), wait_text(900)) == (
        "1 second", "1 second", "60 seconds", "2 minutes", "15 minutes",
    )  # fmt: skip


def test_a_refused_login_is_recorded_once_per_blocked_name_or_address_a_window() -> None:
    """Refused attempts cost no password check, so a client can send them as fast as the notifier
    answers: recording each one in the append-only audit grew it without bound."""
    clock = Clock()
    throttle = LoginThrottle(max_per_name=3, max_per_address=5, window_s=60, clock=clock)
    assert not throttle.refusal_to_record("ana", "10.0.0.1")  # nothing blocked: not a refusal
    for _ in range(3):
        throttle.failed("ana", "10.0.0.1")
    recorded = [throttle.refusal_to_record("ana", "10.0.0.1") for _ in range(10_000)]
    assert recorded == [True] + [False] * 9_999
    assert not throttle.refusal_to_record("ANA", "10.0.0.9")  # the same blocked name, in this window
    for name in ("b", "c"):
        throttle.failed(name, "10.0.0.1")
    assert throttle.refusal_to_record("zed", "10.0.0.1")  # the address is blocked now: its first
    assert not throttle.refusal_to_record("yves", "10.0.0.1")
    clock.now += 30
    assert not throttle.refusal_to_record("ana", "10.0.0.1")
    clock.now += 31  # a window after the name's first recorded refusal (and its failures gone)
    assert not throttle.refusal_to_record("ana", "10.0.0.1")  # not blocked any more
    for _ in range(3):
        throttle.failed("ana", "10.0.0.2")
    assert throttle.refusal_to_record("ana", "10.0.0.2")  # blocked again, in a new window


def test_an_hourly_and_a_daily_period_starting_together_are_two_digests() -> None:
    midnight = datetime(2026, 3, 1, tzinfo=UTC)
    hourly = periods.key("brand", "slack", midnight, midnight + timedelta(hours=1))
    daily = periods.key("brand", "slack", midnight, midnight + timedelta(days=1))
    assert hourly == "digest:brand:slack:20260301T0000Z"
    assert daily == "digest:brand:slack:20260301T0000Z-20260302T0000Z"
