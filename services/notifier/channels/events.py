"""Human actions back into the pipeline: a follow-back published to the events topic.

The churn detector deduplicates events by ``event_id`` (derived from the action id), so this is the
one channel where a send interrupted by a crash is safely sent again.
"""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.notifier.channels import Outgoing, RetryableError


class EventsChannel:
    name = "events"
    deduplicates = True

    def __init__(self, producer: AIOKafkaProducer, timeout_s: float) -> None:
        self.producer, self.timeout_s = producer, timeout_s

    async def send(self, message: Outgoing) -> None:
        """Publish the event (the row's payload) to the topic named by the row's target."""
        event = message.payload
        body = json.dumps(event, separators=(",", ":")).encode()
        try:
            future = await self.producer.send(message.target, body, key=str(event["follower"]["id"]).encode())
            await asyncio.wait_for(future, self.timeout_s)
        except (KafkaError, TimeoutError) as error:
            raise RetryableError(f"Kafka did not acknowledge: {type(error).__name__}: {error}") from error
