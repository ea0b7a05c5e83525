"""deploy/: the Prometheus scrape configuration and the Grafana dashboard and provisioning.

The e2e test ``tests/e2e/test_prometheus_scrape.py`` runs both against a real Prometheus; these
checks need none (``promtool`` is Debian's, installed by ``make test``).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY, CollectorRegistry

import shared.metrics  # noqa: F401 - registers followback's metrics
from followback.infra.prometheus import find_promtool
from followback.runner import SERVICES
from tests.support import required_tool

ROOT = Path(__file__).resolve().parents[2]
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "followback.json"
PORTS = {"ingest": 8081, "churn": 8082, "scorer": 8083, "notifier": 8084}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
METRIC_NAME = re.compile(r"\b(?:followback|faststream)_[a-z_]+\b")


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def exported_series(registry: CollectorRegistry) -> set[str]:
    """The series names a registry's metrics export, labelled or not."""
    return {
        family.name + suffix for family in registry.collect() for suffix in SUFFIXES.get(family.type, ("",))
    }


@pytest.fixture(scope="module")
def scrape_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def test_promtool_accepts_the_scrape_configuration() -> None:
    promtool = required_tool(
        find_promtool(), "no promtool: run `make prometheus` (installs Debian's prometheus)"
    )
    done = subprocess.run(
        [promtool, "check", "config", str(SCRAPE_CONFIG)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_one_job_per_service_at_its_compose_address(scrape_config: dict[str, Any]) -> None:
    assert scrape_config["global"]["scrape_interval"] == "5s"
    jobs = {job["job_name"]: job for job in scrape_config["scrape_configs"]}
    assert set(jobs) == set(SERVICES)
    for name, job in jobs.items():
        [static] = job["static_configs"]
        assert static["targets"] == [f"{name}:{PORTS[name]}"]
        assert static["labels"] == {"service": name}


def test_the_dashboard_is_a_grafana_dashboard(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "followback"
    assert dashboard["schemaVersion"] >= 39
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
    [variable] = dashboard["templating"]["list"]
    assert (variable["name"], variable["type"]) == ("datasource", "datasource")
    assert variable["query"] == "prometheus"
    for panel in panels(dashboard):
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]


def test_the_dashboard_reads_only_metrics_the_services_export(dashboard: dict[str, Any]) -> None:
    faststream = CollectorRegistry()
    KafkaPrometheusMiddleware(registry=faststream)  # registers FastStream's metrics eagerly
    known = exported_series(REGISTRY) | exported_series(faststream)
    used = {name for p in panels(dashboard) for t in p["targets"] for name in METRIC_NAME.findall(t["expr"])}
    assert used, "the dashboard reads none of our metrics"
    assert used <= known, f"unknown metrics: {sorted(used - known)}"


def test_the_dashboard_covers_rate_errors_duration_lag_and_decisions(dashboard: dict[str, Any]) -> None:
    exprs = " ".join(t["expr"] for p in panels(dashboard) for t in p["targets"])
    for metric in (
        "followback_events_received_total",
        "faststream_received_processed_messages_exceptions_total",
        "faststream_received_processed_messages_duration_seconds_bucket",
        "faststream_received_messages_in_process",
        "followback_consumer_lag",
        "followback_consumer_lag_seconds",
        "followback_decisions_total",
        "followback_churn_alerts_total",
        "followback_late_events_total",
        "followback_dead_letters_total",
        "followback_decision_latency_seconds_bucket",
    ):
        assert re.search(rf"\b{metric}\b", exprs), metric
    assert "histogram_quantile(0.99" in exprs


def test_grafana_provisions_prometheus_and_the_dashboards() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    [source] = datasources["datasources"]
    assert (source["type"], source["url"]) == ("prometheus", "http://prometheus:9090")
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "followback.yml").read_text())
    [provider] = providers["providers"]
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
