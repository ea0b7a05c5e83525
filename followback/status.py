"""``followback status``: per-stage throughput, lag and decisions, read from the services' metrics."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from followback.runner import SERVICES, port_of
from shared.settings import Settings

# What counts as one stage's work: ingest counts events accepted; consumers count messages handled.
THROUGHPUT = {
    "ingest": "followback_events_received",
    "churn": "faststream_received_processed_messages",
    "scorer": "faststream_received_processed_messages",
    "notifier": "faststream_received_processed_messages",
}

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(settings: Settings, service: str, timeout: float = 2.0) -> Samples | None:
    """The service's metrics as {name: [(labels, value)]}, or None when it does not answer."""
    url = f"http://{settings.http.host}:{port_of(settings, service)}/metrics"
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    samples: Samples = defaultdict(list)
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name].append((sample.labels, sample.value))
    return samples


def total(samples: Samples | None, name: str, **match: str) -> float:
    if not samples:
        return 0.0
    return sum(v for labels, v in samples.get(name, []) if all(labels.get(k) == w for k, w in match.items()))


@dataclass
class StageStatus:
    service: str
    up: bool
    per_second: float = 0.0
    processed: float = 0.0
    lag: float = 0.0
    lag_seconds: float = 0.0
    errors: float = 0.0


@dataclass
class Status:
    stages: list[StageStatus] = field(default_factory=list)
    decisions: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "stages": [vars(stage) for stage in self.stages],
            "decisions_per_class": self.decisions,
        }


def measure(settings: Settings, interval: float = 1.0) -> Status:
    """Two scrapes ``interval`` seconds apart: rates from their difference, the rest from the second."""
    first = {s: scrape(settings, s) for s in SERVICES}
    time.sleep(interval)
    second = {s: scrape(settings, s) for s in SERVICES}
    status = Status()
    for service in SERVICES:
        now, before = second[service], first[service]
        name = THROUGHPUT[service] + "_total"
        processed = total(now, name)
        lag_seconds = [v for _, v in (now or {}).get("followback_consumer_lag_seconds", [])]
        status.stages.append(
            StageStatus(
                service=service,
                up=now is not None,
                per_second=round(max(0.0, processed - total(before, name)) / interval, 1),
                processed=processed,
                lag=total(now, "followback_consumer_lag"),
                lag_seconds=max(lag_seconds, default=0.0),
                errors=total(now, "faststream_received_processed_messages_exceptions_total")
                + total(now, "followback_ingest_rejected_total"),
            )
        )
    for labels, value in (second["scorer"] or {}).get("followback_decisions_total", []):
        status.decisions[labels["class"]] = value
    return status
