"""``followback bench``: pipeline figures beside raw baselines measured in the same run.

- HTTP ingest: batches of 1,000 events posted to a real ingest process, each answered only after
  Kafka acknowledged every event, beside a bare aiokafka producer sending the same events, already
  serialized, with the same producer settings.
- The pipeline (``followback.bench_pipeline``): events in Kafka to decisions committed, beside a bare
  aiokafka consume loop and a bare asyncpg COPY; latency at a fixed offered load; peak memory;
  ``followback replay`` over the same topic and the decisions the pipeline recorded, on one worker
  process and on one per CPU, beside the same consume loop.

Everything runs on the running broker and server, in throwaway topics and a throwaway database of
this run, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from followback import runner, sample
from shared.events import Event
from shared.kafka import TOPIC_NAMES, ensure_topics
from shared.settings import HttpSettings, KafkaSettings, Settings

if TYPE_CHECKING:
    from followback.bench_pipeline import ReplayRun


@dataclass(frozen=True)
class Figure:
    name: str
    events: int
    seconds: float
    baseline: str

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def bare_producer(settings: Settings, events: list[Event]) -> Figure:
    """The raw baseline: pre-serialized events through one aiokafka producer, all acks awaited."""
    payloads = [(e.key, e.model_dump_json().encode()) for e in events]
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        topic = settings.topic("annotated")  # an unused topic of this run's throwaway prefix
        began = time.perf_counter()
        futures = [await producer.send(topic, value, key=key) for key, value in payloads]
        await asyncio.gather(*futures)
        took = time.perf_counter() - began
    finally:
        await producer.stop()
    return Figure("bare aiokafka producer", len(events), took, "")


async def http_ingest(url: str, token: str, events: list[Event], batch: int, concurrency: int) -> Figure:
    """POST the events in JSON arrays of ``batch``, ``concurrency`` requests in flight."""
    bodies = [
        ("[" + ",".join(e.model_dump_json() for e in events[i : i + batch]) + "]").encode()
        for i in range(0, len(events), batch)
    ]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    accepted = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        while not queue.empty():
            response = await client.post(url, content=queue.get_nowait(), headers=headers)
            response.raise_for_status()
            accepted += int(response.json()["accepted"])

    async with httpx.AsyncClient(timeout=60) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        took = time.perf_counter() - began
    return Figure(f"HTTP ingest (batches of {batch})", accepted, took, "bare aiokafka producer")


async def drop_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics([settings.topic(name) for name in TOPIC_NAMES])
    finally:
        await admin.close()


def run(
    settings: Settings, *, events: int, rate: int = 5000, latency_seconds: int = 10, relationships: int = 0
) -> tuple[list[Figure], dict[str, object]]:
    """Measure each figure and its baseline on the running infrastructure; with ``relationships``,
    also the services' memory from 100 thousand tracked relationships up to that many."""
    from followback import bench_churn, bench_memory, bench_pipeline

    figures = run_ingest(settings, events=events)
    stream = _events(events)
    # Other seeds, so the latency run's events and followers are new to the pipeline.
    later = _events(rate * latency_seconds, first_seed=1000)
    found = bench_pipeline.run(settings, stream, later, rate)
    consume = "bare aiokafka consume loop"
    figures += [
        Figure(consume, found.events, found.consume_s, ""),
        Figure("bare asyncpg COPY (decision rows)", found.events, found.copy_s, ""),
        Figure(
            "scorer: decisions written to PostgreSQL",
            found.decisions,
            found.decide_s,
            "bare asyncpg COPY (decision rows)",
        ),
        Figure("pipeline: events in Kafka to decisions committed", found.events, found.pipeline_s, consume),
        Figure(
            "pipeline, 2 instances of each consuming service",
            len(stream),
            bench_pipeline.scale_out(settings, stream, instances=2),
            consume,
        ),
        *replay_figures(found.replays, consume),
    ]
    churn_figures, churn_extra = bench_churn.run(settings, stream)
    figures += [f for f in churn_figures if f.name != consume]
    extra: dict[str, object] = {
        **churn_extra,
        "latency_ms_ingest_ack_to_decision": found.latency_ms,
        "latency_offered_events_per_s": found.latency_rate,
        "latency_decided_events": found.latency_events,
        "latency_busy_answers": found.latency_busy_answers,
        "peak_rss_mb": found.peak_rss_mb,
        "replay_differences_from_recorded": {
            "last_day" if r.last_day else r.workers if r.follower is None else "follower": r.differences
            for r in found.replays
        },
        "pipeline_cpu": found.cpu.as_dict() if found.cpu else {},
    }
    if relationships:
        extra["memory_by_relationships"] = [
            {
                "relationships": point.relationships,
                "peak_rss_mb": point.peak_rss_mb,
                "events": point.events,
                "events_per_s": round(point.rate),
                "seed_seconds": round(point.seed_seconds, 1),
            }
            for point in bench_memory.run(settings, relationships)
        ]
    return figures, extra


def replay_figures(runs: list[ReplayRun], baseline: str) -> list[Figure]:
    """Replay as the command runs it: raw events read from Kafka, dealt by follower to worker
    processes that parse, fold, score and compare with the pipeline's recorded decisions."""
    return [Figure(_replay_name(run), run.events, run.seconds, baseline) for run in runs]


def _replay_name(run: ReplayRun) -> str:
    if run.last_day:
        return (
            f"replay of the log's last day (--since, on {run.workers} worker processes): the whole "
            "topic read and dealt, the day's followers recomputed and compared, the others skipped"
        )
    if run.follower is not None:
        return (
            "replay of one follower (--follower, in process): the whole topic read and dealt, the "
            "follower's shard recomputed and compared"
        )
    return (
        f"replay on {run.workers} worker process{'es' if run.workers > 1 else ''}: raw events in Kafka "
        "to decisions recomputed and compared with the recorded ones"
    )


def run_ingest(settings: Settings, *, events: int, batch: int = 1000, concurrency: int = 4) -> list[Figure]:
    """HTTP ingest beside a bare producer."""
    run_id = uuid.uuid4().hex[:8]
    scratch = settings.model_copy(
        update={
            "kafka": KafkaSettings(
                bootstrap_servers=settings.kafka.bootstrap_servers,
                topic_prefix=f"bench-{run_id}.",
                group_prefix=f"bench-{run_id}.",
                partitions=settings.kafka.partitions,
            ),
            "http": HttpSettings(ingest_port=runner.free_port()),
        }
    )
    stream = _events(events)
    token = secrets.token_urlsafe(16)
    asyncio.run(ensure_topics(scratch))
    env = {
        "FOLLOWBACK_KAFKA__TOPIC_PREFIX": scratch.kafka.topic_prefix,
        "FOLLOWBACK_HTTP__INGEST_PORT": str(scratch.http.ingest_port),
        "FOLLOWBACK_INGEST__TOKENS": json.dumps([token]),
    }
    processes = runner.spawn(["ingest"], env=env)
    try:
        runner.wait_healthy(scratch, ["ingest"])
        url = f"http://{scratch.http.host}:{scratch.http.ingest_port}/v1/events"
        asyncio.run(http_ingest(url, token, stream[: min(len(stream), 2 * batch)], batch, 1))  # warm-up
        baseline = asyncio.run(bare_producer(scratch, stream))
        ingest = asyncio.run(http_ingest(url, token, stream, batch, concurrency))
    finally:
        runner.stop(processes)
        asyncio.run(drop_topics(scratch))
    return [baseline, ingest]


def _events(count: int, first_seed: int = 1) -> list[Event]:
    """A realistic stream of at least ``count`` events, cut to exactly ``count``."""
    stream: list[Event] = []
    seed = first_seed
    while len(stream) < count:
        stream.extend(sample.generate(followers=max(100, int(count / 1.4)), seed=seed))
        seed += 1
    return stream[:count]


def summary_lines(extra: dict[str, Any], rate: int) -> list[str]:
    """What the table of figures leaves out, a line each: latency, memory, CPU per event and the
    memory curve."""
    lines = [
        f"latency, ingest 202 to decision committed, at {rate} events/s: "
        f"{extra['latency_ms_ingest_ack_to_decision']} ms"
        + (
            f" ({extra['latency_busy_answers']} batches answered 503, Kafka behind, and sent again)"
            if extra.get("latency_busy_answers")
            else ""
        ),
        f"peak memory per service (MB): {extra['peak_rss_mb']}",
    ]
    cpu = extra.get("pipeline_cpu") or {}
    if cpu:
        ceiling = cpu.get("cpu_bound_ceiling_events_per_s")
        lines.append(
            f"pipeline CPU per event (µs): {cpu['cpu_us_per_event']}; "
            f"{cpu['cpu_us_per_event_pipeline']} µs without 'other'"
            + (f", so at most {ceiling:,} events/s on {cpu['cores']} cores" if ceiling else "")
            + (f"; not measured: {', '.join(cpu['unmeasured'])}" if cpu.get("unmeasured") else "")
        )
    lines += [
        f"{point['relationships']:>12,} relationships: peak memory (MB) {point['peak_rss_mb']}, "
        f"{point['events_per_s']:,} events/s through churn, scorer and notifier"
        for point in extra.get("memory_by_relationships", [])
    ]
    return lines


def report(figures: list[Figure], extra: dict[str, object]) -> dict[str, object]:
    by_name = {f.name: f for f in figures}
    rows = []
    for figure in figures:
        row = {**asdict(figure), "events_per_s": round(figure.rate)}
        if figure.baseline in by_name:
            row["ratio_to_baseline"] = round(figure.rate / by_name[figure.baseline].rate, 3)
        rows.append(row)
    return {"figures": rows, **extra}
