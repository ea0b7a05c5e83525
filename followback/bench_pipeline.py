"""The pipeline's end-to-end figures, each beside a raw baseline from the same run.

- Throughput: the churn detector, scorer and notifier run as real processes; N events are put on
  the events topic and the clock stops when every stage has committed everything (consumer lag 0).
  Baselines: a bare aiokafka consume loop over the same N records, and a bare asyncpg COPY of N
  decision-sized rows.
- Latency: events posted to a real ingest process at a fixed rate in small batches; for each event
  that yields a decision, the time from ingest's 202 to the decision arriving on the decisions
  topic (the scorer publishes only after its database commit, so this bounds "committed").
- Memory: peak resident set (VmHWM) of each service process at the end.
- CPU: what each service process, the broker and PostgreSQL spent per event during the throughput
  run (:mod:`followback.cpu_meter`), and the throughput that CPU alone would allow on this machine.
- Replay: ``followback replay``'s path over the same events topic, compared with the decisions the
  pipeline recorded, on one worker process and on one per CPU.
"""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from subprocess import Popen
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from followback import cpu_meter, runner
from followback.lag import stage_lag
from followback.replay_workers import available_cpus
from shared.db import migrate
from shared.decisions import Decision
from shared.events import Event
from shared.kafka import ensure_topics
from shared.settings import HttpSettings, KafkaSettings, PostgresSettings, Settings


@dataclass
class PipelineFigures:
    events: int
    pipeline_s: float
    consume_s: float
    copy_s: float
    decisions: int = 0
    decide_s: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    latency_rate: int = 0
    latency_events: int = 0
    latency_busy_answers: int = 0  # 503s from ingest (Kafka behind), each batch sent again
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    replays: list[ReplayRun] = field(default_factory=list)
    cpu: cpu_meter.Usage | None = None


@dataclass(frozen=True)
class ReplayRun:
    workers: int
    events: int
    seconds: float
    differences: int
    follower: str | None = None  # ``--follower``: one follower's shard (``events``: the whole log read)
    last_day: bool = False  # ``--since`` a day before the log's last event (``events``: the whole log read)


# A follower the pipeline decided on (the one with the most decision versions), and the event
# time of the newest decision: what the replays of one follower and of the last day ask about.
DECIDED_FOLLOWER = (
    "SELECT follower_id FROM decisions GROUP BY follower_id ORDER BY count(*) DESC, follower_id LIMIT 1"
)
NEWEST_DECIDED = "SELECT max(occurred_at) FROM decisions"


async def _fetchval(settings: Settings, sql: str) -> Any:
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def replay_runs(settings: Settings, workers: tuple[int, ...]) -> list[ReplayRun]:
    """``followback replay``'s path over the events topic, on each number of worker processes: the
    raw records read from Kafka, dealt by follower, parsed, folded, scored and compared with the
    decisions the pipeline recorded. One worker is one worker process too (the same path; the
    command's ``--workers 1`` runs it in its own process instead), so the runs differ only in how
    many processes share the shards."""
    from followback.eventlog import Window
    from followback.replay import brand_configs_at
    from followback.replay_workers import pool, replay_log

    configs = asyncio.run(brand_configs_at(settings.postgres.dsn.get_secret_value()))  # as recorded
    runs = []
    for count in workers:
        with pool(count, settings.gc_threshold, always=True) as processes:
            report, _ = replay_log(settings, Window(), configs, processes)
        runs.append(ReplayRun(count, report.events_read, report.seconds, len(report.differences)))
    # An auditor's question about a day: the whole topic read, only the day's followers replayed.
    newest: datetime | None = asyncio.run(_fetchval(settings, NEWEST_DECIDED))
    if newest is not None:
        with pool(max(workers), settings.gc_threshold, always=True) as processes:
            window = Window(since=newest - timedelta(days=1))
            report, _ = replay_log(settings, window, configs, processes)
        runs.append(
            ReplayRun(
                max(workers), report.events_read, report.seconds, len(report.differences), last_day=True
            )
        )
    # An auditor's question about one follower: the whole topic read and dealt, its shard replayed.
    follower = asyncio.run(_fetchval(settings, DECIDED_FOLLOWER))
    if follower is not None:
        report, replayed = replay_log(settings, Window(follower=follower), configs, None)
        runs.append(ReplayRun(1, replayed.dealt, report.seconds, len(report.differences), follower))
    return runs


async def _admin_execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def scratch(settings: Settings) -> Iterator[Settings]:
    """Settings for throwaway topics and a throwaway database, dropped afterwards."""
    run_id = uuid.uuid4().hex[:8]
    server, _, _ = settings.postgres.dsn.get_secret_value().rpartition("/")
    database = f"bench_{run_id}"
    asyncio.run(_admin_execute(f"{server}/postgres", f'CREATE DATABASE "{database}"'))
    config = settings.model_copy(
        update={
            "kafka": KafkaSettings(
                bootstrap_servers=settings.kafka.bootstrap_servers,
                topic_prefix=f"bench-{run_id}.",
                group_prefix=f"bench-{run_id}.",
                partitions=settings.kafka.partitions,
            ),
            "postgres": PostgresSettings(dsn=f"{server}/{database}"),
            "http": HttpSettings(**{f"{s}_port": runner.free_port() for s in runner.SERVICES}),
        }
    )
    asyncio.run(ensure_topics(config))
    asyncio.run(migrate(config.postgres))
    try:
        yield config
    finally:
        from followback.bench import drop_topics

        asyncio.run(drop_topics(config))
        asyncio.run(
            _admin_execute(f"{server}/postgres", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        )


def env_for(settings: Settings, token: str) -> dict[str, str]:
    http = settings.http
    return {
        "FOLLOWBACK_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "FOLLOWBACK_KAFKA__GROUP_PREFIX": settings.kafka.group_prefix,
        "FOLLOWBACK_POSTGRES__DSN": settings.postgres.dsn.get_secret_value(),
        "FOLLOWBACK_INGEST__TOKENS": json.dumps([token]),
        **{f"FOLLOWBACK_HTTP__{s.upper()}_PORT": str(getattr(http, f"{s}_port")) for s in runner.SERVICES},
    }


async def produce(settings: Settings, events: list[Event]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, linger_ms=5, max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        topic = settings.topic("events")
        futures = [await producer.send(topic, e.model_dump_json().encode(), key=e.key) for e in events]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def bare_consume(settings: Settings, count: int) -> float:
    """Seconds for a bare consumer to read ``count`` records of the events topic."""
    consumer = AIOKafkaConsumer(
        settings.topic("events"),
        bootstrap_servers=settings.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        max_poll_records=500,
    )
    await consumer.start()
    try:
        began, seen = time.perf_counter(), 0
        while seen < count:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            seen += sum(len(records) for records in batch.values())
        return time.perf_counter() - began
    finally:
        await consumer.stop()


async def bare_copy(settings: Settings, events: list[Event]) -> float:
    """Seconds for a bare asyncpg COPY of one decision-sized row per event."""
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        await conn.execute(
            "CREATE TEMP TABLE bench_rows (id text, account_id text, follower_id text, class text, "
            "score numeric(5,2), reasons jsonb, occurred_at timestamptz)"
        )
        reasons = json.dumps([{"signal": "engagement", "value": 2, "contribution": 20.0}] * 6)
        rows = [
            (e.event_id, e.account_id, e.follower.id, "ignore", 50, reasons, e.occurred_at) for e in events
        ]
        began = time.perf_counter()
        await conn.copy_records_to_table("bench_rows", records=rows)
        return time.perf_counter() - began
    finally:
        await conn.close()


async def scorer_writes(settings: Settings, events: list[Event], batch: int = 500) -> tuple[int, float]:
    """Decisions recorded per second by the scorer's own batch step (no Kafka), from annotated events.

    The events are annotated up front by the pure churn rules, so only scoring and the database
    writes are timed; the count is of decision rows written.
    """
    from services.churn.rules import apply
    from services.scorer.app import rules_from
    from services.scorer.decider import process
    from shared.db import create_pool
    from shared.relationships import AnnotatedEvent, RelationshipState

    states: dict[tuple[str, str], RelationshipState] = {}
    annotated = []
    for event in events:
        key = (event.account_id, event.follower.id)
        states[key], note = apply(states.get(key, RelationshipState()), event)
        annotated.append(AnnotatedEvent(event=event, relationship=note))
    pool = await create_pool(settings.postgres)
    try:
        rules = rules_from(settings)
        began, written = time.perf_counter(), 0
        for start in range(0, len(annotated), batch):
            written += len((await process(pool, annotated[start : start + batch], rules)).recorded)
        return written, time.perf_counter() - began
    finally:
        await pool.close()


async def wait_drained(settings: Settings, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any((await stage_lag(settings)).values()):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the pipeline did not drain within {timeout:.0f}s")


async def fixed_rate_latency(
    settings: Settings, token: str, events: list[Event], rate: int, batch: int = 50
) -> tuple[list[float], int]:
    """Milliseconds from ingest's 202 to the decision on the decisions topic, per decided event
    (a batch answered 503, Kafka behind, is sent again after its Retry-After, as a client does:
    counted from its 202); and how many 503 answers there were."""
    arrived: dict[str, float] = {}
    busy = 0  # 503 answers
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await consumer.start()
    topic = settings.topic("decisions")
    partitions = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for partition in partitions:
        await consumer.position(partition)  # resolve "the end" now, before any load is offered

    async def collect() -> None:
        while True:
            records = await consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for part in records.values():
                for record in part:
                    for event_id in Decision.model_validate_json(record.value).event_ids:
                        arrived.setdefault(event_id, now)

    collector = asyncio.create_task(collect())
    acked: dict[str, float] = {}
    url = f"http://{settings.http.host}:{settings.http.ingest_port}/v1/events"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    interval = batch / rate
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            began = time.perf_counter()

            async def post(chunk: list[Event]) -> None:
                nonlocal busy
                body = "[" + ",".join(e.model_dump_json() for e in chunk) + "]"
                response = await client.post(url, content=body, headers=headers)
                while response.status_code == 503:  # Kafka is behind: send it again, as a client must
                    busy += 1
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                    response = await client.post(url, content=body, headers=headers)
                response.raise_for_status()
                done = time.perf_counter()
                for event in chunk:
                    acked[event.event_id] = done

            pending = []
            for n, start in enumerate(range(0, len(events), batch)):
                # Offer load on a fixed schedule, whatever the answers' timing (an open loop).
                await asyncio.sleep(max(0.0, began + n * interval - time.perf_counter()))
                pending.append(asyncio.create_task(post(events[start : start + batch])))
            await asyncio.gather(*pending)
        await wait_drained(settings, timeout=120)
        await asyncio.sleep(0.5)
    finally:
        collector.cancel()
        await consumer.stop()
    # An event of a batch answered 503 may have reached Kafka anyway, and be decided before the
    # resend's 202: its latency is unknown, and left out.
    known = [i for i in acked if i in arrived and arrived[i] >= acked[i]]
    return [(arrived[i] - acked[i]) * 1000 for i in known], busy


CONSUMERS = ["churn", "scorer", "notifier"]


def through_consumers(
    config: Settings, env: dict[str, str], events: list[Event], instances: int = 1, timeout: float = 600
) -> tuple[float, dict[str, float]]:
    """Start ``instances`` processes of each consuming service (one consumer group each), put the
    events on the events topic and wait until every stage has committed them; returns the seconds
    that took and the peak memory (MB) of each service's first process."""
    processes = runner.spawn(CONSUMERS, env=env)
    for _ in range(instances - 1):  # the same groups, other HTTP ports
        for service in CONSUMERS:
            port = {f"FOLLOWBACK_HTTP__{service.upper()}_PORT": str(runner.free_port())}
            processes += runner.spawn([service], env={**env, **port})
    try:
        runner.wait_healthy(config, CONSUMERS)
        if instances > 1:
            time.sleep(3)  # let the groups settle their assignments before the clock starts
        began = time.perf_counter()
        asyncio.run(produce(config, events))
        asyncio.run(wait_drained(config, timeout=timeout))
        took = time.perf_counter() - began
        return took, {s: round(peak_rss_mb(p), 1) for s, p in zip(CONSUMERS, processes, strict=False)}
    finally:
        runner.stop(processes)


def scale_out(settings: Settings, events: list[Event], instances: int) -> float:
    """Seconds from the events in Kafka to every decision committed with ``instances`` processes of
    each consuming service in one consumer group (a fresh database and topics)."""
    with scratch(settings) as config:
        return through_consumers(config, env_for(config, secrets.token_urlsafe(16)), events, instances)[0]


def _renamed(events: list[Event]) -> list[Event]:
    """The same events under another account, so they are new to the database the pipeline filled."""
    return [
        e.model_copy(update={"account_id": f"{e.account_id}-direct", "event_id": f"{e.event_id}-direct"})
        for e in events
    ]


def peak_rss_mb(process: Popen[bytes]) -> float:
    try:
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "p99": round(cuts[98], 1)}


def meter(settings: Settings, services: dict[str, Popen[bytes]]) -> cpu_meter.Meter:
    """The service processes, and the broker and PostgreSQL where ``followback infra up`` runs them
    here and ``settings`` point at them (elsewhere their CPU is part of the machine's ``other``)."""
    from followback.infra import kafka, postgres

    parts: dict[str, cpu_meter.Reading] = {
        name: functools.partial(cpu_meter.process_seconds, process.pid) for name, process in services.items()
    }
    broker = kafka.broker_pid()
    if broker is not None and kafka.bootstrap() in settings.kafka.bootstrap_servers.split(","):
        parts["kafka"] = functools.partial(cpu_meter.process_seconds, broker)
    server = postgres.server_pid()
    if server is not None and postgres.serves(settings.postgres.dsn.get_secret_value()):
        parts["postgres"] = functools.partial(cpu_meter.tree_seconds, server)
    return cpu_meter.Meter(parts)


def run(settings: Settings, events: list[Event], latency_events: list[Event], rate: int) -> PipelineFigures:
    token = secrets.token_urlsafe(16)
    with scratch(settings) as config:
        processes = runner.spawn(runner.SERVICES, env=env_for(config, token))
        try:
            runner.wait_healthy(config, runner.SERVICES)
            cpu = meter(config, dict(zip(runner.SERVICES, processes, strict=True)))
            cpu.start()
            began = time.perf_counter()
            asyncio.run(produce(config, events))
            asyncio.run(wait_drained(config, timeout=600))
            pipeline_s = time.perf_counter() - began
            usage = cpu.stop(len(events), pipeline_s)
            consume_s = asyncio.run(bare_consume(config, len(events)))
            # The log holds the stream alone, the database the pipeline's decisions of it.
            replays = replay_runs(config, tuple(sorted({available_cpus(), 1}, reverse=True)))
            copy_s = asyncio.run(bare_copy(config, events))
            decisions, decide_s = asyncio.run(scorer_writes(config, _renamed(events)))
            latencies, busy = asyncio.run(fixed_rate_latency(config, token, latency_events, rate))
            memory = {s: round(peak_rss_mb(p), 1) for s, p in zip(runner.SERVICES, processes, strict=True)}
        finally:
            runner.stop(processes)
    return PipelineFigures(
        events=len(events),
        pipeline_s=pipeline_s,
        consume_s=consume_s,
        copy_s=copy_s,
        decisions=decisions,
        decide_s=decide_s,
        latency_ms=percentiles(latencies),
        latency_rate=rate,
        latency_events=len(latencies),
        latency_busy_answers=busy,
        peak_rss_mb=memory,
        replays=replays,
        cpu=usage,
    )
