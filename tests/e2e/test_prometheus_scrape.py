"""A real Prometheus (Debian's package) scrapes the running services with the shipped configuration.

Only the targets of ``deploy/prometheus/prometheus.yml`` are rewritten (each Compose address to this
test's port), so the jobs and labels checked are the shipped ones; every PromQL expression of the
Grafana dashboard is run through Prometheus' HTTP API as well, and the alerting rules
(``alerts.yml``) are loaded and evaluated on the live series.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml

from followback.infra.prometheus import find_prometheus
from followback.runner import SERVICES, port_of
from shared.decisions import DecisionClass
from shared.settings import Settings
from tests.e2e.conftest import free_port
from tests.support import REAL_PERSON, SPAM_ACCOUNT, event, eventually, required_tool

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "followback.json"
# What Grafana puts in for its variables when it sends a dashboard's query.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h"}
PER_STAGE_RATE = "Messages per second, per stage"

Result = list[dict[str, Any]]


def local_scrape_config(settings: Settings) -> dict[str, Any]:
    """The shipped configuration with every target (``service:port``) moved to the service's local port,
    and its rule files named by their place in the repository (the copy is written elsewhere)."""
    config: dict[str, Any] = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    config["rule_files"] = [str(SCRAPE_CONFIG.parent / name) for name in config["rule_files"]]
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            hosts = [target.rsplit(":", 1)[0] for target in static["targets"]]
            static["targets"] = [f"127.0.0.1:{port_of(settings, host)}" for host in hosts]
    return config


def alert_names() -> set[str]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"]}


def dashboard_queries() -> dict[str, list[str]]:
    """Each dashboard panel's expressions by title, with Grafana's variables filled in."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = {}
    for panel in dashboard["panels"]:
        exprs = [target["expr"] for target in panel.get("targets", [])]
        for variable, value in GRAFANA_VARIABLES.items():
            exprs = [expr.replace(variable, value) for expr in exprs]
        if exprs:
            queries[panel["title"]] = exprs
    return queries


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"Prometheus did not get ready:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """Debian's Prometheus; skipped without it on a developer's machine, a failure in CI."""
    return required_tool(
        find_prometheus(), "no Prometheus: run `make prometheus` (installs Debian's prometheus)"
    )


@pytest.fixture
def prometheus(prometheus_binary: str, pipeline: Settings, tmp_path: Path) -> Iterator[str]:
    """Prometheus scraping the pipeline's services; yields its base URL and stops it afterwards."""
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(local_scrape_config(pipeline)), encoding="utf-8")
    url = f"http://127.0.0.1:{free_port()}"
    log = tmp_path / "prometheus.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                prometheus_binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address={url.removeprefix('http://')}",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def query(client: httpx.AsyncClient, url: str, expr: str) -> Result:
    """An instant query; fails with Prometheus' own message when the expression is refused."""
    response = await client.get(f"{url}/api/v1/query", params={"query": expr})
    body = response.json()
    assert body["status"] == "success", (expr, body)
    result: Result = body["data"]["result"]
    return result


def by_label(result: Result, label: str) -> dict[str, float]:
    return {series["metric"].get(label, ""): float(series["value"][1]) for series in result}


async def test_prometheus_scrapes_the_pipeline_with_the_shipped_configuration(
    prometheus: str, pipeline: Settings, db: asyncpg.Connection
) -> None:
    stream = [
        event("p1", "follow", "4001", timedelta(0), REAL_PERSON),
        event("p2", "follow", "4002", timedelta(0), SPAM_ACCOUNT),
        event("p3", "interaction", "4001", timedelta(hours=1), interaction="reply"),
    ]
    ingest = f"http://127.0.0.1:{port_of(pipeline, 'ingest')}"
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.post(f"{ingest}/v1/events", json=stream)).status_code == 202
        await eventually(lambda: db.fetchval("SELECT count(*) FROM decisions"), lambda n: n == 3)

        def ask(expr: str, done: Any, timeout: float = 45.0) -> Any:
            return eventually(lambda: query(client, prometheus, expr), done, timeout=timeout)

        up = await ask("up", lambda r: by_label(r, "job") == dict.fromkeys(SERVICES, 1.0))
        assert by_label(up, "job") == dict.fromkeys(SERVICES, 1.0)
        assert {(s["metric"]["job"], s["metric"]["service"]) for s in up} == {(s, s) for s in SERVICES}

        # The alerting rules are loaded, and each evaluates on the live series without an error.
        async def rule_health() -> dict[str, str]:
            groups = (await client.get(f"{prometheus}/api/v1/rules")).json()["data"]["groups"]
            return {rule["name"]: rule["health"] for group in groups for rule in group["rules"]}

        health = await eventually(rule_health, lambda h: bool(h) and set(h.values()) == {"ok"})
        assert set(health) == alert_names()

        received = await ask("sum(followback_events_received_total)", lambda r: by_label(r, "") == {"": 3})
        assert by_label(received, "") == {"": 3.0}

        decisions = await ask("followback_decisions_total", lambda r: sum(by_label(r, "class").values()) == 3)
        # The real person is worth following, then high value once they replied; the bot is spam.
        counted = by_label(decisions, "class")  # (every class exported from 0: the alert needs it)
        assert {c: n for c, n in counted.items() if n} == {"worth_following": 1, "high_value": 1, "spam": 1}
        assert set(counted) == {c.value for c in DecisionClass}
        assert {s["metric"]["service"] for s in decisions} == {"scorer"}

        dashboard = dashboard_queries()
        for exprs in dashboard.values():
            for expr in exprs:
                await query(client, prometheus, expr)  # every panel's PromQL runs on this Prometheus

        async def per_stage_rate() -> set[str]:
            results = [await query(client, prometheus, expr) for expr in dashboard[PER_STAGE_RATE]]
            return {series["metric"]["service"] for result in results for series in result}

        stages = await eventually(per_stage_rate, lambda found: found == set(SERVICES), 45)
        assert stages == set(SERVICES)
