"""followback's own metrics, beside FastStream's transport metrics, in Prometheus' text format.

One set per process (each service runs as its own process); counters only grow, so tests assert
differences. Names follow the Prometheus conventions: ``_total`` counters, ``_seconds`` histograms.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400)

EVENTS_RECEIVED = Counter(
    "followback_events_received_total", "Events accepted by ingest and acknowledged by Kafka", ["type"]
)
REQUESTS_REJECTED = Counter(
    "followback_ingest_rejected_total",
    "Requests ingest refused, by HTTP status and path (/v1/events, /v1/webhooks/x, or other)",
    ["status", "path"],
)
ANNOTATED = Counter("followback_annotated_events_total", "Events annotated by the churn detector", ["type"])
CHURN_ALERTS = Counter("followback_churn_alerts_total", "Churn pattern matches", ["pattern"])
LATE_EVENTS = Counter(
    "followback_late_events_total", "Events that arrived after the grace period (still recorded)"
)
DUPLICATES = Counter(
    "followback_duplicate_events_total", "Events delivered again and recognised by id", ["service"]
)
DECISIONS = Counter("followback_decisions_total", "Decision versions recorded, by class", ["class"])
DEAD_LETTERS = Counter(
    "followback_dead_letters_total",
    "Messages sent to the dead-letter topic, by their source topic",
    ["topic"],
)
DECISION_LATENCY = Histogram(
    "followback_decision_latency_seconds",
    "From an event's time (event) or from its arrival in Kafka (ingest) to its decision's commit",
    ["since"],
    buckets=LATENCY_BUCKETS,
)
CONSUMER_LAG = Gauge(
    "followback_consumer_lag", "Messages not yet committed by the group", ["group", "topic", "partition"]
)
CONSUMER_LAG_SECONDS = Gauge(
    "followback_consumer_lag_seconds",
    "Age of the oldest message not yet committed by the group (0 when caught up)",
    ["group", "topic", "partition"],
)
DELIVERIES = Counter(
    "followback_deliveries_total",
    "The notifier's send attempts, by channel and outcome (sent, retrying, dead, unknown)",
    ["channel", "outcome"],
)
PUSHES_WAITING_FOR_BUDGET = Gauge(
    "followback_pushes_waiting_for_budget",
    "Pushes waiting for room in the account's daily push budget (its newest day and the carry-over days)",
    ["account"],
)


def count_dead_letters_from(topics: Iterable[str]) -> None:
    """Export each consumed topic's dead-letter count from the start, at 0.

    A labelled counter appears only at its first increment, and Prometheus' ``increase()`` takes a
    series' first sample as its start: the first letter after a (re)start would never fire the
    dead-letter alert (deploy/prometheus/alerts.yml).
    """
    for topic in topics:
        DEAD_LETTERS.labels(topic)
