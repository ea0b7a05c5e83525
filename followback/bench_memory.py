"""Service memory against the number of tracked relationships.

The services keep relationship state and decisions in PostgreSQL and hold nothing per relationship
between batches, so their memory should not grow with the number of relationships. This measures
it: in a scratch database, for each size N (100 thousand, 1 million, ... up to the limit asked for),

1. ``relationships`` and ``decisions`` are filled up to N rows each, cloned server-side
   (``INSERT ... SELECT`` over ``generate_series``) from the rows the real services wrote for a
   warm-up sample stream, so every seeded state and decision is one the services produced;
2. the churn detector, scorer and notifier start fresh, and a sample stream whose followers are
   drawn at random from the N seeded ones (so each event loads and rewrites an existing state)
   runs through them until every stage has committed everything;
3. each process's peak resident set (VmHWM) is read, and the stream's throughput noted.

Seeding is set-up, not measured. Each point shifts the stream's event time past the previous one, so
no event arrives late.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from followback import sample
from followback.bench_pipeline import env_for, scratch, through_consumers
from shared.events import Event
from shared.settings import Settings

ACCOUNT = "brand"
START = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass
class MemoryPoint:
    relationships: int
    events: int
    seconds: float
    seed_seconds: float
    peak_rss_mb: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def sizes(limit: int, first: int = 100_000) -> list[int]:
    """100 thousand, then ten times more each step, up to ``limit`` (which ends the curve)."""
    found: list[int] = []
    size = first
    while size < limit:
        found.append(size)
        size *= 10
    if limit >= first:
        found.append(limit)
    return found


def stream(size: int, point: int, count: int) -> list[Event]:
    """``count`` sample events whose followers are drawn from the ``size`` seeded ones."""
    start = START + timedelta(days=30 * (point + 1))
    events = sample.generate(followers=max(100, int(count / 1.4)), seed=1000 + point, start=start)[:count]
    pick = random.Random(point)
    mapping: dict[str, str] = {}
    renamed = []
    for event in events:
        seeded = mapping.setdefault(event.follower.id, f"mem-{pick.randrange(size)}")
        renamed.append(
            event.model_copy(
                update={
                    "event_id": f"mem{point}-{event.event_id}",
                    "account_id": ACCOUNT,
                    "follower": event.follower.model_copy(update={"id": seeded}),
                }
            )
        )
    return renamed


async def seed(settings: Settings, have: int, want: int, partitions: int) -> None:
    """Clone the warm-up's relationships and decisions into followers ``mem-{have..want-1}``."""
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS bench_templates AS
            SELECT row_number() OVER (ORDER BY r.follower_id) - 1 AS n, r.state, d.class, d.score,
                   d.reasons, d.scorer_version, d.config_version, d.occurred_at
            FROM relationships r
            JOIN LATERAL (
                SELECT * FROM decisions d
                WHERE d.account_id = r.account_id AND d.follower_id = r.follower_id
                ORDER BY d.version DESC LIMIT 1
            ) d ON true
            WHERE r.follower_id NOT LIKE 'mem-%'
            """
        )
        templates = await conn.fetchval("SELECT count(*) FROM bench_templates")
        if not templates:
            raise RuntimeError("the warm-up stream left no relationship with a decision to clone")
        for low in range(have, want, 1_000_000):
            high = min(want, low + 1_000_000)
            async with conn.transaction():
                await conn.execute(
                    """
                    INSERT INTO relationships
                        (account_id, follower_id, state, updated_at, events_partition, retain_due_at)
                    SELECT $1, 'mem-' || g, t.state, now(), g % $4, NULL
                    FROM generate_series($2::bigint, $3::bigint - 1) AS g
                    JOIN bench_templates t ON t.n = g % $5
                    """,
                    ACCOUNT, low, high, partitions, templates,
                )  # fmt: skip
                await conn.execute(
                    """
                    INSERT INTO decisions
                        (decision_id, account_id, follower_id, version, class, score, reasons,
                         scorer_version, config_version, event_ids, occurred_at)
                    SELECT gen_random_uuid(), $1, 'mem-' || g, 1, t.class, t.score, t.reasons,
                           t.scorer_version, t.config_version, ARRAY['seed-' || g], t.occurred_at
                    FROM generate_series($2::bigint, $3::bigint - 1) AS g
                    JOIN bench_templates t ON t.n = g % $4
                    """,
                    ACCOUNT, low, high, templates,
                )  # fmt: skip
        await conn.execute("VACUUM ANALYZE relationships")
        await conn.execute("VACUUM ANALYZE decisions")
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):  # a superuser's DSN only
            await conn.execute("CHECKPOINT")  # the seed's pages written now, not while measuring
    finally:
        await conn.close()


def run(settings: Settings, limit: int, events: int = 20_000, first: int = 100_000) -> list[MemoryPoint]:
    """The memory curve from ``first`` up to ``limit`` relationships, ``events`` events through the
    services at each size."""
    token = secrets.token_urlsafe(16)
    points: list[MemoryPoint] = []
    with scratch(settings) as config:
        env = env_for(config, token)

        def through(batch: list[Event]) -> tuple[float, dict[str, float]]:
            return through_consumers(config, env, batch, timeout=900)

        through(sample.generate(followers=2000, seed=999, start=START))  # warm-up: the templates
        have = 0
        for point, size in enumerate(sizes(limit, first)):
            began = time.perf_counter()
            asyncio.run(seed(config, have, size, config.kafka.partitions))
            seeded = time.perf_counter() - began
            have = size
            batch = stream(size, point, events)
            took, memory = through(batch)
            points.append(MemoryPoint(size, len(batch), took, seeded, memory))
    return points
