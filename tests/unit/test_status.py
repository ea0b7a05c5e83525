"""`followback status`: a stage whose service does not answer is unknown, not idle (helper-45: it
showed lag 0 beside up false, and exited 0)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from followback import status as status_module
from followback.cli import app
from followback.status import StageStatus


def test_a_stage_that_answers_has_its_figures_and_one_that_does_not_has_none() -> None:
    before = {"faststream_received_processed_messages_total": [({}, 100.0)]}
    now = {
        "faststream_received_processed_messages_total": [({}, 150.0)],
        "followback_consumer_lag": [({"partition": "0"}, 7.0), ({"partition": "1"}, 5.0)],
        "followback_consumer_lag_seconds": [({"partition": "0"}, 2.5), ({"partition": "1"}, 4.0)],
    }
    up = StageStatus.of("churn", now, before, interval=2.0)
    assert (up.up, up.per_second, up.processed, up.lag, up.lag_seconds) == (True, 25.0, 150.0, 12.0, 4.0)
    down = StageStatus.of("churn", None, before, interval=2.0)
    assert (down.up, down.per_second, down.processed, down.lag, down.lag_seconds, down.errors) == (
        False, None, None, None, None, None
    )  # fmt: skip


def test_status_once_exits_1_and_says_unknown_when_a_service_does_not_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(status_module, "scrape", lambda settings, service: None)  # nothing answers
    monkeypatch.setattr(status_module.time, "sleep", lambda seconds: None)
    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code == 1
    assert '"lag": null' in result.output


def test_a_stage_that_answered_only_the_second_scrape_has_no_rate() -> None:
    """A service that came up between the two scrapes: its whole count was taken for one second's."""
    now = {"faststream_received_processed_messages_total": [({}, 50_000.0)]}
    stage = StageStatus.of("churn", now, None, interval=1.0)
    assert stage.up
    assert stage.processed == 50_000.0
    assert stage.per_second is None


def test_the_notifiers_throughput_counts_its_decisions_not_the_events_it_reads_for_follow_backs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The notifier also reads the events topic (follow-backs made on X): counting those made its
    throughput that of the whole event stream."""
    from shared.settings import load_settings

    settings = load_settings()
    counted = "faststream_received_processed_messages_total"
    samples = {
        counted: [
            ({"handler": settings.topic("decisions")}, 40.0),
            ({"handler": settings.topic("events")}, 9_000.0),
        ]
    }
    monkeypatch.setattr(status_module, "scrape", lambda settings, service: samples)
    monkeypatch.setattr(status_module.time, "sleep", lambda seconds: None)
    stages = {s.service: s for s in status_module.measure(settings).stages}
    assert stages["notifier"].processed == 40.0
    assert stages["churn"].processed == 9_040.0  # (one service reading one topic: everything it reads)


def test_decisions_per_class_leave_out_the_classes_exported_at_0(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scorer exports every class from 0 (for the alert on no decisions): none decided yet is
    still "none yet", not a list of zeros."""
    from shared.settings import load_settings

    counted = "followback_decisions_total"
    samples = {counted: [({"class": "spam"}, 0.0), ({"class": "high_value"}, 3.0)]}
    monkeypatch.setattr(status_module, "scrape", lambda settings, service: samples)
    monkeypatch.setattr(status_module.time, "sleep", lambda seconds: None)
    assert status_module.measure(load_settings()).decisions == {"high_value": 3.0}
