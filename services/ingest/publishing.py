"""Publishing accepted events, or answering 503 when Kafka cannot take them now."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import HTTPException

from shared.events import Event
from shared.kafka import publish_all
from shared.settings import Settings

log = logging.getLogger(__name__)


async def publish_or_503(producer: AIOKafkaProducer, settings: Settings, events: Sequence[Event]) -> int:
    """Publish every event and wait for Kafka's acks; 503 with Retry-After if that cannot happen.

    A 503 means the client must send the request again. Events of it that did reach Kafka are
    recognised by their ``event_id`` downstream, so a retry never counts one twice.
    """
    try:
        return await asyncio.wait_for(
            publish_all(producer, settings.topic("events"), events), settings.ingest.publish_timeout_s
        )
    except (TimeoutError, KafkaError) as error:
        log.warning("Kafka did not acknowledge %d events: %r", len(events), error)
        raise HTTPException(
            503,
            "the event log is unavailable; nothing was accepted, send the request again",
            {"Retry-After": str(settings.ingest.retry_after_s)},
        ) from error
