"""The notifier service: decisions in; only high-value followers are queued for a person."""

from __future__ import annotations

from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaMessage

from services.notifier import store
from shared.consuming import Backoff, parse_batch
from shared.decisions import Decision
from shared.kafka import create_broker
from shared.service import Pool, Producer, batch_subscriber_options, create_service_app
from shared.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    settings = settings or load_settings()
    broker = create_broker(settings)
    backoff = Backoff()

    @broker.subscriber(settings.topic("decisions"), **batch_subscriber_options(settings, "notifier"))
    async def on_decisions(
        bodies: list[bytes], message: KafkaMessage, pool: Pool, producer: Producer
    ) -> None:
        async def step() -> None:
            parsed = await parse_batch(
                Decision, bodies, message.raw_message, producer, settings.topic("dead_letter")
            )
            if parsed.good:
                async with pool.acquire() as conn, conn.transaction():
                    await store.record(conn, parsed.good)

        await backoff.guard(step(), "notifier batch")

    return create_service_app(broker, settings)
