"""The bench's lines below its table: latency, memory, CPU per event and the memory curve."""

from __future__ import annotations

from followback.bench import summary_lines

EXTRA = {
    "latency_ms_ingest_ack_to_decision": {"p50": 117.2, "p95": 152.7, "p99": 175.8},
    "peak_rss_mb": {"churn": 104.7},
    "pipeline_cpu": {
        "cpu_us_per_event": {"churn": 124.5, "kafka": 50.0, "postgres": 102.5, "other": 26.5},
        "cpu_us_per_event_pipeline": 277.0,
        "cores": 2,
        "cpu_bound_ceiling_events_per_s": 7220,
    },
    "memory_by_relationships": [
        {"relationships": 100_000, "peak_rss_mb": {"churn": 104.2}, "events_per_s": 2856},
        {"relationships": 1_000_000, "peak_rss_mb": {"churn": 104.5}, "events_per_s": 2784},
    ],
}


def test_every_measurement_gets_its_line() -> None:
    lines = summary_lines(EXTRA, rate=2000)
    assert lines[0] == (
        "latency, ingest 202 to decision committed, at 2000 events/s: "
        "{'p50': 117.2, 'p95': 152.7, 'p99': 175.8} ms"
    )
    assert lines[1] == "peak memory per service (MB): {'churn': 104.7}"
    assert "277.0 µs without 'other', so at most 7,220 events/s on 2 cores" in lines[2]
    assert (
        lines[3]
        .strip()
        .startswith("100,000 relationships: peak memory (MB) {'churn': 104.2}, 2,856 events/s")
    )
    assert lines[4].strip().startswith("1,000,000 relationships")
    assert len(lines) == 5


def test_no_ceiling_is_claimed_when_parts_went_unmeasured() -> None:
    cpu = {
        "cpu_us_per_event": {"churn": 124.5, "other": 200.0},
        "cpu_us_per_event_pipeline": 124.5,
        "cores": 2,
        "unmeasured": ["kafka", "postgres"],
    }
    lines = summary_lines({**EXTRA, "pipeline_cpu": cpu, "memory_by_relationships": []}, rate=5000)
    assert len(lines) == 3
    assert "at most" not in lines[2]
    assert lines[2].endswith("not measured: kafka, postgres")


def test_the_latency_line_says_how_many_batches_were_sent_again_after_a_503() -> None:
    lines = summary_lines({**EXTRA, "latency_busy_answers": 142}, rate=5000)
    assert lines[0].endswith("ms (142 batches answered 503, Kafka behind, and sent again)")
