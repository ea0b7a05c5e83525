"""The churn detector's throughput beside a bare aiokafka consume loop, measured in the same run.

- Baseline: a bare aiokafka consumer reading the N events from the events topic.
- The detector: ``followback run churn`` as a real process over the same N events already in Kafka,
  from its first committed batch until the group has committed every offset (so every state,
  processed event and annotation is in PostgreSQL and published).
- The core: the same events folded in memory by the pure rules (``InMemory``, one clock), no I/O.

Also reported: the size of the relationship states (jsonb, as PostgreSQL stores it) per tracked
relationship, and the detector's peak memory. Everything runs in throwaway topics and a throwaway
database of this run (``bench_pipeline.scratch``).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import asyncpg

from followback import runner
from followback.bench import Figure
from followback.bench_pipeline import bare_consume, env_for, peak_rss_mb, produce, scratch
from followback.lag import stage_lag
from services.churn.patterns import ChurnRules
from services.churn.rules import InMemory
from shared.events import Event
from shared.settings import Settings

CONSUME = "bare aiokafka consume loop"


def run(
    settings: Settings, events: list[Event], timeout: float = 600
) -> tuple[list[Figure], dict[str, object]]:
    """Measure the detector and its baseline on the running infrastructure."""
    with scratch(settings) as config:
        asyncio.run(produce(config, events))
        consume_s = asyncio.run(bare_consume(config, len(events)))
        env = {**env_for(config, secrets.token_urlsafe(16)), **_kafka_env(config)}
        [process] = runner.spawn(["churn"], env=env)
        try:
            runner.wait_healthy(config, ["churn"], timeout=90)
            counted, detector_s = asyncio.run(_detector(config, len(events), timeout))
            memory = round(peak_rss_mb(process), 1)
        finally:
            runner.stop([process])
        sizes = asyncio.run(_state_sizes(config))
    core_s = _core(events, ChurnRules.from_settings(settings.churn))
    figures = [
        Figure(CONSUME, len(events), consume_s, ""),
        Figure(
            "churn detector: events in Kafka to state committed (1 process)", counted, detector_s, CONSUME
        ),
        Figure("churn core: events folded in memory (no I/O)", len(events), core_s, ""),
    ]
    return figures, {"churn_state_bytes": sizes, "churn_peak_rss_mb": memory}


def _kafka_env(settings: Settings) -> dict[str, str]:
    return {
        "FOLLOWBACK_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "FOLLOWBACK_KAFKA__PARTITIONS": str(settings.kafka.partitions),
    }


async def _detector(settings: Settings, count: int, timeout: float) -> tuple[int, float]:
    """Events processed and seconds, from the first batch committed to the last offset committed."""
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        deadline = time.monotonic() + timeout
        first = 0
        while (first := await _processed(conn)) == 0:
            assert time.monotonic() < deadline, "the churn detector processed nothing"
            await asyncio.sleep(0.02)
        began = time.perf_counter()
        while (await stage_lag(settings))["churn"] or await _processed(conn) < count:
            assert time.monotonic() < deadline, "the churn detector did not finish"
            await asyncio.sleep(0.05)
        return count - first, time.perf_counter() - began
    finally:
        await conn.close()


async def _processed(conn: asyncpg.Connection) -> int:
    found: int = await conn.fetchval("SELECT count(*) FROM churn_processed")
    return found


async def _state_sizes(settings: Settings) -> dict[str, Any]:
    """Bytes of the relationship states as stored (``pg_column_size``: jsonb, maybe compressed)."""
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        row = await conn.fetchrow(
            """
            SELECT count(*) AS relationships,
                   avg(pg_column_size(state))::float8 AS mean,
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY pg_column_size(state))::float8 AS p99,
                   max(pg_column_size(state)) AS max,
                   avg(octet_length(state::text))::float8 AS mean_text
            FROM relationships
            """
        )
        processed = await conn.fetchval("SELECT avg(pg_column_size(annotated))::float8 FROM churn_processed")
    finally:
        await conn.close()
    return {
        "relationships": row["relationships"],
        "mean": round(row["mean"] or 0, 1),
        "p99": round(row["p99"] or 0, 1),
        "max": row["max"],
        "mean_as_text": round(row["mean_text"] or 0, 1),
        "processed_row_annotated_mean": round(processed or 0, 1),
    }


def _core(events: list[Event], rules: ChurnRules) -> float:
    """Seconds to fold every event in memory, one partition's clock, as the detector does."""
    churn = InMemory(rules)
    began = time.perf_counter()
    for event in events:
        churn.outcome(event)
    return time.perf_counter() - began
