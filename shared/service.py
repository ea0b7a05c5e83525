"""What every consumer service shares: its lifespan-managed clients and its ASGI app shell.

The pool and the producer are opened in the lifespan (never at import) and handed to handlers by
FastStream's context, through the ``Pool`` and ``Producer`` aliases.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream import AckPolicy, Context, ContextRepo
from faststream.asgi import AsgiFastStream
from faststream.asgi.factories import make_ping_asgi
from faststream.kafka import KafkaBroker

from shared.db import create_pool, migrate
from shared.kafka import create_producer, ensure_topics, raw_body
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


def create_service_app(broker: KafkaBroker, settings: Settings) -> AsgiFastStream:
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
        try:
            yield
        finally:
            await producer.stop()
            await pool.close()

    return AsgiFastStream(
        broker,
        asgi_routes=[("/healthz", make_ping_asgi(broker, timeout=5.0))],
        lifespan=lifespan,
    )
