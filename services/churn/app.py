"""The churn detector service: events in, annotated relationship events and churn alerts out."""

from __future__ import annotations

from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaMessage

from services.churn.detector import process
from services.churn.rules import ChurnRules
from shared.consuming import Backoff, parse_batch
from shared.events import Event
from shared.kafka import create_broker, publish_all
from shared.service import Pool, Producer, batch_subscriber_options, create_service_app
from shared.settings import Settings, load_settings


def create_app(settings: Settings | None = None, rules: ChurnRules | None = None) -> AsgiFastStream:
    settings = settings or load_settings()
    rules = rules or ChurnRules()
    broker = create_broker(settings)
    backoff = Backoff()

    @broker.subscriber(settings.topic("events"), **batch_subscriber_options(settings, "churn"))
    async def on_events(bodies: list[bytes], message: KafkaMessage, pool: Pool, producer: Producer) -> None:
        async def step() -> None:
            parsed = await parse_batch(
                Event, bodies, message.raw_message, producer, settings.topic("dead_letter")
            )
            annotated, alerts = await process(pool, parsed.good, rules)
            await publish_all(producer, settings.topic("annotated"), annotated)
            await publish_all(producer, settings.topic("churn_alerts"), alerts)

        await backoff.guard(step(), "churn batch")

    return create_service_app(broker, settings)
