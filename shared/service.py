"""What every consumer service shares: its lifespan-managed clients and its ASGI app shell.

The pool and the producer are opened in the lifespan (never at import) and handed to handlers by
FastStream's context, through the ``Pool`` and ``Producer`` aliases.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Annotated, Any, cast

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream import AckPolicy, Context, ContextRepo
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.factories import make_ping_asgi
from faststream.asgi.types import ASGIApp, Receive, Scope, Send
from faststream.kafka import KafkaBroker
from prometheus_client import make_asgi_app

from shared.db import create_pool, migrate
from shared.kafka import create_producer, ensure_topics, raw_body
from shared.lag import lag_reporter
from shared.metrics import count_dead_letters_from
from shared.settings import Settings

Pool = Annotated[asyncpg.Pool, Context("pool")]
Producer = Annotated[AIOKafkaProducer, Context("producer")]


def batch_subscriber_options(settings: Settings, service: str) -> dict[str, Any]:
    """Batches, raw bodies, and acknowledgement only after the handler's effect is committed.

    NACK_ON_ERROR rewinds the partitions to the batch's first offsets when the handler raises, so
    a batch whose effect failed is delivered again rather than lost.
    """
    return {
        "group_id": settings.group(service),
        "batch": True,
        "max_records": settings.consumer.max_records,
        "batch_timeout_ms": settings.consumer.batch_timeout_ms,
        "auto_offset_reset": "earliest",
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "decoder": raw_body,
    }


# Work that lives as long as the service (the notifier's delivery worker, the churn sweep), given
# the open clients. It yields the tasks it runs: /readyz fails once any of them has ended.
BackgroundTasks = Sequence["asyncio.Task[Any]"]
Background = Callable[[asyncpg.Pool, AIOKafkaProducer], AbstractAsyncContextManager[BackgroundTasks]]


def task_state(task: asyncio.Task[Any]) -> str:
    """``ok`` while a background task runs; else how it ended (a task that should run as long as
    the service does and has ended means the service no longer does all its work)."""
    if not task.done():
        return "ok"
    if task.cancelled():
        return "ended: cancelled"
    error = task.exception()
    return f"ended: {error!r}" if error is not None else "ended: exited"


class WebServiceApp(AsgiFastStream):
    """A service app that hands every HTTP path it does not route itself (``/healthz``) to a web app."""

    def __init__(self, *args: Any, web: ASGIApp, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.web = web

    async def not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.web(scope, receive, send)
            return
        await super().not_found(scope, receive, send)


def readiness(broker: KafkaBroker, clients: dict[str, Any]) -> ASGIApp:
    """``/readyz``: 200 when Kafka and PostgreSQL both answer and every background task still
    runs, else 503 naming what does not (a task by its name, with how it ended)."""

    @get
    async def readyz(scope: Scope) -> AsgiResponse:
        checks: dict[str, str] = {}
        try:
            checks["kafka"] = "ok" if await broker.ping(timeout=3.0) else "no answer"
        except Exception as error:  # any failure means not ready
            checks["kafka"] = repr(error)
        pool = clients.get("pool")
        try:
            if pool is None:
                raise RuntimeError("not started")
            await asyncio.wait_for(pool.fetchval("SELECT 1"), 3.0)
            checks["postgres"] = "ok"
        except Exception as error:  # any failure means not ready
            checks["postgres"] = repr(error)
        for task in clients.get("tasks", ()):
            checks[task.get_name()] = task_state(task)
        ready = all(value == "ok" for value in checks.values())
        body = {"status": "ready" if ready else "not ready", **checks}
        return AsgiResponse(
            json.dumps(body).encode(), 200 if ready else 503, {"content-type": "application/json"}
        )

    return readyz


def create_service_app(
    broker: KafkaBroker,
    settings: Settings,
    *,
    web: ASGIApp | None = None,
    background: Background | None = None,
    lag_of: Sequence[tuple[str, str]] = (),
) -> AsgiFastStream:
    """The service shell: topics, migrations, the pool and producer for handlers, ``/healthz``
    (alive), ``/readyz`` (Kafka and PostgreSQL answer) and ``/metrics`` (Prometheus text).

    ``web`` serves every other HTTP path; ``background`` runs while the service does, inside the
    lifespan (after the clients open, before they close), and the tasks it yields are part of
    readiness; ``lag_of``: the (group, topic) pairs whose consumer-lag gauges it keeps current (and
    whose topics' dead-letter counts it exports from 0). All are optional.
    """
    settings.require_safe()
    count_dead_letters_from({topic for _, topic in lag_of})  # (the topics it consumes)
    clients: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        await ensure_topics(settings)
        await migrate(settings.postgres)
        pool = await create_pool(settings.postgres)
        producer = create_producer(settings)
        await producer.start()
        context.set_global("pool", pool)
        context.set_global("producer", producer)
        context.set_global("settings", settings)
        clients["pool"] = pool
        lag = lag_reporter(settings.kafka.bootstrap_servers, lag_of) if lag_of else nullcontext()
        try:
            async with lag, background(pool, producer) if background else nullcontext(()) as tasks:
                clients["tasks"] = tuple(tasks)
                yield
        finally:
            clients.clear()
            await producer.stop()
            await pool.close()

    routes: list[tuple[str, ASGIApp]] = [
        ("/healthz", make_ping_asgi(broker, timeout=5.0)),
        ("/readyz", readiness(broker, clients)),
        ("/metrics", cast(ASGIApp, make_asgi_app())),
    ]
    if web is not None:
        return WebServiceApp(broker, asgi_routes=routes, lifespan=lifespan, web=web)
    return AsgiFastStream(broker, asgi_routes=routes, lifespan=lifespan)
