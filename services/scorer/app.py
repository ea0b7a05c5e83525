"""The scorer service: annotated relationship events in, decisions (PostgreSQL, then Kafka) out."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaMessage

from services.scorer.decider import Outcome, process
from services.scorer.scoring import ScoringRules
from shared.consuming import Backoff, after_commit, isolating, parse_batch, rejecter
from shared.decisions import DecisionClass
from shared.kafka import create_broker, publish_all
from shared.metrics import DECISION_LATENCY, DECISIONS
from shared.relationships import AnnotatedEvent
from shared.service import Pool, Producer, batch_subscriber_options, create_service_app
from shared.settings import Settings, load_settings


def rules_from(settings: Settings) -> ScoringRules:
    return ScoringRules(
        high_value_threshold=settings.scoring.high_value_threshold,
        worth_following_threshold=settings.scoring.worth_following_threshold,
        spam_probability=settings.scoring.spam_probability,
        config_version=settings.scoring.config_version,
    )


def observe(outcome: Outcome, arrival: Mapping[str, float]) -> None:
    """Count the recorded decisions by class, and how long after their event and its arrival
    (``arrival``: event id -> when its record arrived)."""
    now = time.time()
    for decision in outcome.recorded:
        DECISIONS.labels(decision.decision_class.value).inc()
        DECISION_LATENCY.labels("event").observe(max(0.0, now - decision.occurred_at.timestamp()))
        if decision.event_ids[0] in arrival:
            DECISION_LATENCY.labels("ingest").observe(max(0.0, now - arrival[decision.event_ids[0]]))


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    settings = settings or load_settings()
    rules = rules_from(settings)
    broker = create_broker(settings)
    backoff = Backoff()

    @broker.subscriber(settings.topic("annotated"), **batch_subscriber_options(settings, "scorer"))
    async def on_annotated(
        bodies: list[bytes], message: KafkaMessage, pool: Pool, producer: Producer
    ) -> None:
        async def step() -> None:
            dead_letter = settings.topic("dead_letter")
            parsed = await parse_batch(AnnotatedEvent, bodies, message.raw_message, producer, dead_letter)
            arrival = {item.event.event_id: parsed.arrived(item) for item in parsed.good}

            async def effect(part: Sequence[AnnotatedEvent]) -> None:
                outcome = await process(pool, part, rules)  # committed
                with after_commit():
                    observe(outcome, arrival)
                    await publish_all(producer, settings.topic("decisions"), outcome.publish)

            await isolating(parsed.good, effect, rejecter(parsed, producer, dead_letter, "the scorer"))

        await backoff.guard(step(), "scorer batch")

    # Every class exported at 0 from the start: a class's first decision after a (re)start would be
    # its series' first sample, which increase() never counts (FollowbackNoDecisions would say a
    # quiet brand's scorer decided nothing: deploy/prometheus/alerts.yml).
    for cls in DecisionClass:
        DECISIONS.labels(cls.value)
    lag_of = [(settings.group("scorer"), settings.topic("annotated"))]
    return create_service_app(broker, settings, lag_of=lag_of)
