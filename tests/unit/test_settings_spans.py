"""Settings that give a span in event time are bounded: a longer one took the times the services
derive from events out of Python's dates."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import LONGEST_S, load_settings


@pytest.mark.parametrize(
    "variable",
    [
        "FOLLOWBACK_CHURN__QUICK_UNFOLLOW_WINDOW_S",
        "FOLLOWBACK_CHURN__MIN_DWELL_S",
        "FOLLOWBACK_CHURN__HORIZON_S",
        "FOLLOWBACK_CHURN__GRACE_S",
        "FOLLOWBACK_INGEST__MAX_AHEAD_S",
        "FOLLOWBACK_NOTIFIER__DIGEST_GRACE_S",
        "FOLLOWBACK_NOTIFIER__BUDGET_CARRY_OVER_DAYS",
    ],
)
def test_a_span_in_event_time_longer_than_a_century_is_refused_by_name(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A grace period of 3,000 years put every event's derived time before the year 1: the detector
    failed on each one (and, now that it isolates such records, would dead-letter them all)."""
    unit = 86_400 if variable.endswith("_DAYS") else 1
    monkeypatch.setenv(variable, str(LONGEST_S // unit))
    load_settings()  # a century itself is allowed
    monkeypatch.setenv(variable, str(3_000 * 366 * 86_400 // unit))
    with pytest.raises(ValidationError) as refused:
        load_settings()
    [error] = refused.value.errors()
    assert error["type"] == "less_than_equal"
    assert "__".join(str(part) for part in error["loc"]).upper() == variable.removeprefix("FOLLOWBACK_")
