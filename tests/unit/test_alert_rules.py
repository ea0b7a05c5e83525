"""deploy/prometheus/alerts.yml: promtool accepts the rules and their unit tests, every alert says how
bad it is and what to do, and every metric it reads is one the services export.

``promtool`` is Debian's (``make prometheus``, run by ``make test``); without it the promtool checks
skip on a developer's machine and fail in CI, like the scrape configuration's check.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, cast

import asyncpg
import pytest
import yaml
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY, CollectorRegistry

from followback.infra.prometheus import find_promtool
from services.ingest.app import create_app as ingest_app
from services.notifier.channels import Channel
from services.notifier.delivery import OUTCOMES, DeliveryWorker
from services.scorer.app import create_app as scorer_app
from shared.decisions import DecisionClass
from shared.events import EventType
from shared.settings import KafkaSettings, NotifierSettings, Settings
from tests.support import required_tool
from tests.unit.test_monitoring_files import METRIC_NAME, SCRAPE_CONFIG, exported_series

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "tests" / "data" / "prometheus" / "alerts_test.yml"
SEVERITIES = {"critical", "warning", "info"}


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


@pytest.fixture(scope="module")
def promtool() -> str:
    return required_tool(find_promtool(), "no promtool: run `make prometheus` (installs Debian's prometheus)")


def run(promtool: str, *args: str) -> None:
    done = subprocess.run([promtool, *args], capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_accepts_the_rules(promtool: str) -> None:
    run(promtool, "check", "rules", str(RULES))


def test_the_rules_pass_their_unit_tests(promtool: str) -> None:
    run(promtool, "test", "rules", str(RULE_TESTS))


def test_every_alert_has_a_case_that_fires_it_and_one_where_it_must_not() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    assert cases["rule_files"] == [os.path.relpath(RULES, RULE_TESTS.parent)]
    checks = [check for case in cases["tests"] for check in case["alert_rule_test"]]
    fired = {check["alertname"] for check in checks if check["exp_alerts"]}
    quiet = {check["alertname"] for check in checks if not check["exp_alerts"]}
    names = {rule["alert"] for rule in alerts()}
    assert fired == names, f"never fired: {sorted(names - fired)}; unknown: {sorted(fired - names)}"
    assert quiet == names, f"never shown quiet: {sorted(names - quiet)}"


def test_every_alert_says_how_bad_it_is_and_what_to_do() -> None:
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in alerts():
        assert rule["alert"].startswith("Followback"), rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert set(rule["annotations"]) == {"summary", "description"}, rule["alert"]
        # What to do: a followback command, or where to look.
        assert "`" in rule["annotations"]["description"], f"{rule['alert']} says nothing to do"


def test_the_rules_read_only_metrics_the_services_export() -> None:
    faststream = CollectorRegistry()
    KafkaPrometheusMiddleware(registry=faststream)  # registers FastStream's metrics eagerly
    known = exported_series(REGISTRY) | exported_series(faststream)
    used = {name for rule in alerts() for name in METRIC_NAME.findall(rule["expr"])}
    assert used, "the rules read none of our metrics"
    assert used <= known, f"unknown metrics: {sorted(used - known)}"


def test_prometheus_loads_the_rules() -> None:
    config = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    assert [SCRAPE_CONFIG.parent / name for name in config["rule_files"]] == [RULES]


def test_a_consumer_exports_its_topics_dead_letter_count_from_the_start() -> None:
    # Else its first letter after a start is the series' first sample, which increase() never counts.
    settings = Settings(kafka=KafkaSettings(topic_prefix="alert-rules-test."))
    scorer_app(settings)
    topic = settings.topic("annotated")
    assert REGISTRY.get_sample_value("followback_dead_letters_total", {"topic": topic}) == 0.0


def test_the_delivery_worker_exports_every_outcome_of_its_channels_from_the_start() -> None:
    channel = cast(Channel, object())  # (never sent on: only its name is exported)
    DeliveryWorker(cast(asyncpg.Pool, None), {"alert-rules-test": channel}, NotifierSettings())
    for outcome in OUTCOMES:
        labels = {"channel": "alert-rules-test", "outcome": outcome}
        assert REGISTRY.get_sample_value("followback_deliveries_total", labels) == 0.0, outcome


def test_the_scorer_exports_every_class_of_its_decision_count_from_the_start() -> None:
    """A class's first decision after a (re)start was its series' first sample, which increase()
    never counts: a restarted scorer of a quiet brand, deciding each class once, was "deciding
    nothing" to FollowbackNoDecisions (critical) while follows arrived."""
    scorer_app(Settings(kafka=KafkaSettings(topic_prefix="alert-rules-test.")))
    for cls in DecisionClass:
        assert REGISTRY.get_sample_value("followback_decisions_total", {"class": cls.value}) is not None, cls


def test_ingest_exports_every_type_it_accepts_from_the_start() -> None:
    """The same for ingest's count of events received: the first follow after a restart went
    uncounted by increase(), so FollowbackNoDecisions could miss a stuck pipeline."""
    ingest_app(Settings(kafka=KafkaSettings(topic_prefix="alert-rules-test.")))
    for kind in EventType:
        found = REGISTRY.get_sample_value("followback_events_received_total", {"type": kind.value})
        assert (found is None) is (kind is EventType.RETAINED), kind


def test_ingest_exports_the_refusals_its_alerts_read_from_the_start() -> None:
    """A wrong webhook secret's first 401 after a restart would be its series' first sample, which
    rate() cannot tell from nothing: FollowbackIngestUnauthorized reads 401 per path, and
    FollowbackIngestErrors the 503s."""
    ingest_app(Settings(kafka=KafkaSettings(topic_prefix="alert-rules-test.")))
    for status in ("401", "503"):
        for path in ("/v1/events", "/v1/webhooks/x"):
            labels = {"status": status, "path": path}
            # (present: at 0 from the start; other tests in the process may have counted since)
            assert REGISTRY.get_sample_value("followback_ingest_rejected_total", labels) is not None, labels
