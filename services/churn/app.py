"""The churn detector service: events in, annotated relationship events and churn alerts out.

Each batch is committed to PostgreSQL, then published, then acknowledged; the sweep (a background
task) publishes the ``retained`` events that no event of the follower's own brings about.
"""

from __future__ import annotations

from collections.abc import Sequence

from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaMessage

from services.churn import intake
from services.churn.detector import process
from services.churn.outputs import Published
from services.churn.patterns import ChurnRules
from services.churn.sweep import sweeper
from shared.consuming import Backoff, after_commit, isolating, parse_batch, rejecter
from shared.events import Event
from shared.kafka import create_broker, publish_all
from shared.metrics import ANNOTATED, CHURN_ALERTS, DUPLICATES, LATE_EVENTS
from shared.service import Pool, Producer, batch_subscriber_options, create_service_app
from shared.settings import Settings, load_settings


def count(published: Published) -> None:
    """The detector's metrics: annotated, late and duplicate events, churn alerts per pattern."""
    for item in published.fresh:
        ANNOTATED.labels(item.event.type.value).inc()
    LATE_EVENTS.inc(published.late)
    DUPLICATES.labels("churn").inc(published.duplicates)
    for alert in published.matched:
        if alert.revision == 0 and not alert.withdrawn:
            CHURN_ALERTS.labels(alert.pattern.value).inc()


def create_app(settings: Settings | None = None, rules: ChurnRules | None = None) -> AsgiFastStream:
    settings = settings or load_settings()
    rules = rules or ChurnRules.from_settings(settings.churn)
    broker = create_broker(settings)
    backoff = Backoff()
    dead_letter = settings.topic("dead_letter")

    @broker.subscriber(settings.topic("events"), **batch_subscriber_options(settings, "churn"))
    async def on_events(bodies: list[bytes], message: KafkaMessage, pool: Pool, producer: Producer) -> None:
        async def step() -> None:
            records = message.raw_message
            parsed = await parse_batch(Event, bodies, records, producer, dead_letter)
            events = await intake.refuse_retained(parsed, producer, dead_letter)
            partitions = intake.partitions(records)

            async def effect(part: Sequence[Event]) -> None:
                published = await process(pool, part, partitions, rules)  # committed
                with after_commit():
                    await publish_all(producer, settings.topic("annotated"), published.in_event_time())
                    await publish_all(producer, settings.topic("churn_alerts"), published.alerts)
                    count(published)

            await isolating(events, effect, rejecter(parsed, producer, dead_letter, "the churn detector"))

        await backoff.guard(step(), "churn batch")

    lag_of = [(settings.group("churn"), settings.topic("events"))]
    return create_service_app(broker, settings, background=sweeper(settings, rules), lag_of=lag_of)
