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

# Where a service reads more than one topic, the one whose messages are its stage's work: the
# notifier also reads the events topic, for follow-backs made on X (services/notifier/follow_backs.py).
WORK_TOPIC = {"notifier": "decisions"}

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
    """One stage's figures; None for each while its service does not answer (unknown, not zero:
    a stage that is down is exactly when its lag grows)."""

    service: str
    up: bool
    per_second: float | None = None
    processed: float | None = None
    lag: float | None = None
    lag_seconds: float | None = None
    errors: float | None = None

    @classmethod
    def of(
        cls,
        service: str,
        now: Samples | None,
        before: Samples | None,
        interval: float,
        topic: str | None = None,
    ) -> StageStatus:
        """The stage from two scrapes ``interval`` seconds apart (``now`` None: it did not answer);
        ``topic``: count only the messages of that topic (see :data:`WORK_TOPIC`)."""
        if now is None:
            return cls(service=service, up=False)
        name = THROUGHPUT[service] + "_total"
        only = {"handler": topic} if topic else {}
        processed = total(now, name, **only)
        lag_seconds = [v for _, v in now.get("followback_consumer_lag_seconds", [])]
        return cls(
            service=service,
            up=True,
            # (no first scrape, as for a service that came up in between: its rate is unknown, not
            # its whole count per interval)
            per_second=None
            if before is None
            else round(max(0.0, processed - total(before, name, **only)) / interval, 1),
            processed=processed,
            lag=total(now, "followback_consumer_lag"),
            lag_seconds=max(lag_seconds, default=0.0),
            errors=total(now, "faststream_received_processed_messages_exceptions_total")
            + total(now, "followback_ingest_rejected_total"),
        )


@dataclass
class Status:
    stages: list[StageStatus] = field(default_factory=list)
    decisions: dict[str, float] = field(default_factory=dict)

    @property
    def all_up(self) -> bool:
        return all(stage.up for stage in self.stages)

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
        topic = settings.topic(WORK_TOPIC[service]) if service in WORK_TOPIC else None
        status.stages.append(StageStatus.of(service, second[service], first[service], interval, topic))
    for labels, value in (second["scorer"] or {}).get("followback_decisions_total", []):
        if value:  # (the scorer exports every class from 0: "none yet" still says none was made)
            status.decisions[labels["class"]] = value
    return status
