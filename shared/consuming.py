"""The shape every consumer shares: parse a batch, dead-letter what cannot be parsed, carry on.

A record that cannot be parsed can never succeed, so it goes to the dead-letter topic with the
reason, topic, partition and offset in its headers, and the batch goes on without it. Errors in the
effect itself (database down, broker gone) propagate, so the batch is not acknowledged and is
delivered again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaProducer
from pydantic import BaseModel, ValidationError

from shared.metrics import DEAD_LETTERS

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Parsed(Generic[M]):
    good: list[M]
    dead: int
    # Kafka timestamps (seconds) of the good records, in the same order: when each arrived.
    arrived: list[float]


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(body)"
        return f"{field}: {first['msg']}"[:500]
    return f"{type(error).__name__}: {error}"[:500]


async def parse_batch(
    model: type[M],
    bodies: Sequence[bytes],
    records: Sequence[Any],
    producer: AIOKafkaProducer,
    dead_letter_topic: str,
) -> Parsed[M]:
    """Validate each body; dead-letter each one that fails (awaiting the broker's ack)."""
    good: list[M] = []
    arrived: list[float] = []
    futures = []
    for body, record in zip(bodies, records, strict=True):
        try:
            good.append(model.model_validate_json(body))
            arrived.append(record.timestamp / 1000)
        except ValidationError as error:
            reason = _reason(error)
            log.warning(
                "dead-lettering %s[%s]@%s: %s",
                record.topic,
                record.partition,
                record.offset,
                reason,
            )
            headers = [
                ("error", reason.encode()),
                ("topic", record.topic.encode()),
                ("partition", str(record.partition).encode()),
                ("offset", str(record.offset).encode()),
            ]
            futures.append(await producer.send(dead_letter_topic, body, key=record.key, headers=headers))
            DEAD_LETTERS.labels(record.topic).inc()
    for future in futures:
        await future
    return Parsed(good=good, dead=len(futures), arrived=arrived)


class Backoff:
    """Waits longer after each consecutive failed batch (capped), and resets after a success.

    A failed effect (database down, broker gone) is retried by redelivery; the wait keeps a
    consumer from spinning while the dependency is away.
    """

    def __init__(self, first: float = 0.2, cap: float = 5.0) -> None:
        self.first, self.cap, self.failures = first, cap, 0

    def delay(self) -> float:
        return float(min(self.cap, self.first * 2.0 ** max(0, self.failures - 1)))

    async def guard(self, effect: Awaitable[None], what: str) -> None:
        try:
            await effect
        except Exception:
            self.failures += 1
            wait = self.delay()
            log.exception("%s failed (%d in a row); retrying in %.1fs", what, self.failures, wait)
            await asyncio.sleep(wait)
            raise
        self.failures = 0
