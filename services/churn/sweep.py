"""The sweep: ``retained`` events for followers with no event of their own to move them on.

A loyal follower's follow is never followed by another event of theirs, so only the partition's
stream time can tell that the window has passed. The sweep finds the relationships whose
``retain_due_at`` the watermark passed, advances them (in their follower's lock; a follower busy in a
batch is left to that batch, which advances it too) and publishes the ``retained`` events *before*
committing: a crash in between leaves the state unchanged, and the next sweep emits the same events
(same ids) again. It runs every ``sweep_interval_s`` while the service runs, which also covers the
end of a finite stream and a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
from aiokafka import AIOKafkaProducer

from services.churn import codec, outputs, store
from services.churn.patterns import ChurnRules
from services.churn.timeline import advance, next_due
from shared.kafka import publish_all
from shared.relationships import AnnotatedEvent
from shared.service import Background, BackgroundTasks
from shared.settings import Settings

log = logging.getLogger(__name__)

Publish = Callable[[list[AnnotatedEvent]], Awaitable[object]]


async def sweep(
    pool: asyncpg.Pool,
    publish: Publish,
    rules: ChurnRules,
    limit: int = 500,
) -> tuple[int, int, int]:
    """One pass over at most ``limit`` due relationships; returns how many were due in the pass, the
    followers advanced (a follower may have several due relationships; one busy in a batch is left
    for the next pass) and the ``retained`` events published."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await store.due(conn, rules.grace, limit)
        due = {f: (p, wm) for f, p, wm in rows}  # once each
        free = await store.try_lock_followers(conn, due)
        mine = [(f, p, wm) for f, (p, wm) in due.items() if f in free]
        loaded = await store.followers(conn, [f for f, _, _ in mine])
        saved: list[store.Saved] = []
        emitted: list[AnnotatedEvent] = []
        for follower, partition, watermark in mine:
            outcome = advance(loaded.get(follower, {}), watermark, rules)
            emitted += [outputs.retained_event(follower, n) for n in outcome.retained]
            for account, rel in outcome.follower.items():
                state = codec.to_json(rel, outcome.views[account].now)
                saved.append(store.Saved(account, follower, state, partition, next_due(rel, rules)))
        await store.save(conn, saved)
        await store.record(conn, [outputs.record(a) for a in emitted], "churn_retained")
        await publish(emitted)
    return len(rows), len(mine), len(emitted)


async def sweep_all(pool: asyncpg.Pool, publish: Publish, rules: ChurnRules, limit: int = 500) -> int:
    """Sweep until nothing is due (or only followers busy in a batch are); returns the events published."""
    total = 0
    while True:
        found, advanced, retained = await sweep(pool, publish, rules, limit=limit)
        total += retained
        if found < limit or not advanced:  # all that is due seen, or only busy followers left
            return total


def sweeper(settings: Settings, rules: ChurnRules) -> Background:
    """The service's background sweep, for ``create_service_app(background=...)``."""
    topic = settings.topic("annotated")

    @asynccontextmanager
    async def run(pool: asyncpg.Pool, producer: AIOKafkaProducer) -> AsyncIterator[BackgroundTasks]:
        async def publish(items: list[AnnotatedEvent]) -> int:
            return await publish_all(producer, topic, items)

        async def loop() -> None:
            while True:
                try:
                    await sweep_all(pool, publish, rules)
                except Exception:  # the database or the broker is away: try again next time
                    log.exception("churn sweep failed; retrying in %.1fs", settings.churn.sweep_interval_s)
                await asyncio.sleep(settings.churn.sweep_interval_s)

        task = asyncio.create_task(loop(), name="churn-sweep")
        try:
            yield [task]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return run
