"""The shape every consumer shares: parse a batch, dead-letter what cannot be parsed, carry on.

A record that cannot be parsed can never succeed, so it goes to the dead-letter topic with the
reason, topic, partition and offset in its headers, and the batch goes on without it. Errors in the
effect itself (database down, broker gone) propagate, so the batch is not acknowledged and is
delivered again. A record that parses but that the effect fails on every time (a value the database
refuses, or one the pure core cannot compute with: :func:`is_poison`) would stall its consumer on
every delivery: :func:`isolating` finds it by halving the batch, dead-letters it alone with the
error, and commits the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel, ValidationError

from shared.metrics import DEAD_LETTERS

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
# Why a record was dead-lettered, in its ``stage`` header (``followback dlq replay`` reads it): it did
# not parse; it is the churn detector's own output, never input; or it parsed, and the consumer's
# work failed on it alone (:func:`isolating`).
PARSE, REFUSED, EFFECT = "parse", "refused", "effect"


@dataclass(frozen=True)
class Parsed(Generic[M]):
    good: list[M]
    dead: int
    # The record each good item was parsed from, by the item's identity (to dead-letter it later).
    records: dict[int, Any]

    def record_of(self, item: M) -> Any:
        return self.records[id(item)]

    def arrived(self, item: M) -> float:
        """When the item's record arrived (its Kafka timestamp, in seconds)."""
        return float(self.record_of(item).timestamp) / 1000


def _reason(error: BaseException) -> str:
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
    sources: dict[int, Any] = {}
    futures = []
    for body, record in zip(bodies, records, strict=True):
        try:
            item = model.model_validate_json(body)
        except ValidationError as error:
            reason = _reason(error)
            futures.append(await _send_dead_letter(producer, dead_letter_topic, record, body, reason, PARSE))
            continue
        good.append(item)
        sources[id(item)] = record
    for future in futures:
        await future
    return Parsed(good=good, dead=len(futures), records=sources)


async def _send_dead_letter(
    producer: AIOKafkaProducer, topic: str, record: Any, body: bytes, reason: str, stage: str
) -> asyncio.Future[Any]:
    """Send one record to the dead-letter topic with the reason, the stage that refused it and
    where it came from in its headers; the future is the broker's acknowledgement."""
    log.warning("dead-lettering %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason)
    headers = [
        ("error", reason.encode()),
        ("stage", stage.encode()),
        ("topic", record.topic.encode()),
        ("partition", str(record.partition).encode()),
        ("offset", str(record.offset).encode()),
    ]
    future: asyncio.Future[Any] = await producer.send(topic, body, key=record.key, headers=headers)
    DEAD_LETTERS.labels(record.topic).inc()
    return future


async def dead_letter(producer: AIOKafkaProducer, topic: str, record: Any, reason: str, stage: str) -> None:
    """Dead-letter one record (its value as it was on the topic) and await the broker's ack."""
    future = await _send_dead_letter(producer, topic, record, record.value, reason, stage)
    await future


def is_poison(error: BaseException) -> bool:
    """Whether the records of a failed effect brought ``error`` about themselves, so that the same
    records fail the same way on every delivery: a value the database refuses (asyncpg's
    ``DataError``: a date out of its range, a character it cannot hold; ``ProgramLimitExceeded``:
    an id too long for an index) or one the pure core cannot compute with (an arithmetic, value,
    type or lookup error). Anything else (the database or the broker away, a deadlock, a
    serialization failure) passes with time: the batch is retried."""
    if isinstance(error, asyncpg.ClientConfigurationError):  # (a ValueError: the settings', not a record's)
        return False
    return isinstance(
        error,
        asyncpg.DataError
        | asyncpg.ProgramLimitExceededError
        | ArithmeticError
        | ValueError
        | TypeError
        | LookupError,
    )


class AfterCommitError(RuntimeError):
    """A step after an effect's commit failed (publishing what it committed): its records are done,
    so none of them is to blame. The batch is delivered again; what was committed is recognised by
    its ids."""


@contextmanager
def after_commit() -> Iterator[None]:
    """Around what an effect does once it has committed: any error there is an
    :class:`AfterCommitError`, never a poison one (:func:`isolating` needs effects that are all or
    nothing: a record is to blame only for what it made fail before the commit)."""
    try:
        yield
    except Exception as error:
        raise AfterCommitError(f"after the commit: {_reason(error)}") from error


async def isolating(
    items: Sequence[T],
    effect: Callable[[Sequence[T]], Awaitable[None]],
    reject: Callable[[T, BaseException], Awaitable[None]],
) -> None:
    """Apply ``effect`` (all or nothing: see :func:`after_commit`) to the items, a consumer's batch
    in order. When it fails with a poison error (:func:`is_poison`), apply it to the first half,
    then the second, down to single items: the others are committed, in their order, part by
    part, and each item it fails on alone is handed to ``reject`` (to the dead-letter topic, with
    the error). Any other error propagates: the batch is delivered again, and what was committed
    of it is recognised by its ids (a record rejected before is rejected again then; ``followback
    dlq replay`` sends identical letters once).

    When the effect fails on every record of a batch of two or more alone, the fault is the code's
    or the shared state's (a regression, a stored row that no longer reads), not the records': the
    first error propagates and the consumer waits, as for an outage, rather than dead-letter the
    stream. (A batch of one cannot tell the two apart: its record is rejected.)"""
    failed = await _failing_alone(items, effect)
    if len(items) > 1 and len(failed) == len(items):
        raise failed[0][1]
    for item, error in failed:
        log.error("the effect failed on this record alone: dead-lettered", exc_info=error)
        await reject(item, error)


async def _failing_alone(
    items: Sequence[T], effect: Callable[[Sequence[T]], Awaitable[None]]
) -> list[tuple[T, Exception]]:
    """Apply ``effect`` to the items, halving on a poison error; the items it failed on alone, with
    the error (none: all committed)."""
    if not items:
        return []
    try:
        await effect(items)
        return []
    except Exception as error:
        if not is_poison(error):
            raise
        failure = error  # (the halves are tried outside this block: their errors carry no context of it)
    if len(items) == 1:
        return [(items[0], failure)]
    middle = len(items) // 2
    return await _failing_alone(items[:middle], effect) + await _failing_alone(items[middle:], effect)


def rejecter(
    parsed: Parsed[M], producer: AIOKafkaProducer, topic: str, what: str
) -> Callable[[M, BaseException], Awaitable[None]]:
    """The ``reject`` of :func:`isolating` for a parsed batch: the item's record goes to the
    dead-letter topic, the reason naming the step that failed on it and the error."""

    async def reject(item: M, error: BaseException) -> None:
        reason = f"{what} failed on it alone: {_reason(error)}"[:500]
        await dead_letter(producer, topic, parsed.record_of(item), reason, EFFECT)

    return reject


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
