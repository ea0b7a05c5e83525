"""``followback dlq list / replay``: the dead-letter topic, read and re-published.

Each dead letter keeps the bytes as they arrived and, in headers, the error and the topic,
partition and offset it came from. ``replay`` re-publishes to their source topic the letters that
parse now (after a fix, or an upcaster for an old schema); the rest stay. Re-publishing twice is
harmless: every consumer treats a repeated id as already done. A letter a consumer failed on alone
(``shared.consuming.isolating``, its ``stage`` header ``effect``) parses, and would only come back
while its cause lasts: it is held back unless asked for (``failed_alone``, once the cause is
fixed). A ``retained`` notice the detector refused (``refused``) parses too and is never input: it
stays. Of letters with the same bytes for the same topic (the topic keeps every copy), one is
re-published.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import BaseModel, ValidationError

from shared.consuming import EFFECT, REFUSED
from shared.decisions import Decision
from shared.events import Event
from shared.lag import LagProbe
from shared.relationships import AnnotatedEvent
from shared.settings import Settings


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    partition: int
    key: bytes | None
    value: bytes
    error: str
    stage: str  # what refused it (shared.consuming: parse, refused, effect; "" before letters kept it)
    source_topic: str
    source_partition: str
    source_offset: str

    def preview(self, width: int = 80) -> str:
        text = self.value.decode("utf-8", errors="replace").replace("\n", " ")
        return text if len(text) <= width else text[: width - 1] + "…"


def models(settings: Settings) -> dict[str, type[BaseModel]]:
    """What each consumed topic carries."""
    return {
        settings.topic("events"): Event,
        settings.topic("annotated"): AnnotatedEvent,
        settings.topic("decisions"): Decision,
    }


async def read(settings: Settings) -> list[DeadLetter]:
    """Every dead letter on the topic, oldest first per partition."""
    probe = LagProbe(settings.kafka.bootstrap_servers)
    await probe.start()
    try:
        partitions = await probe.partitions(settings.topic("dead_letter"))
    finally:
        await probe.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        letters: list[DeadLetter] = []
        pending = {tp for tp in partitions if ends[tp] > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    headers = {k: v.decode(errors="replace") for k, v in record.headers}
                    letters.append(
                        DeadLetter(
                            offset=record.offset,
                            partition=record.partition,
                            key=record.key,
                            value=record.value,
                            error=headers.get("error", ""),
                            stage=headers.get("stage", ""),
                            source_topic=headers.get("topic", ""),
                            source_partition=headers.get("partition", ""),
                            source_offset=headers.get("offset", ""),
                        )
                    )
                if records and records[-1].offset >= ends[tp] - 1:
                    pending.discard(tp)
        return letters
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class Replayed:
    sent: int  # re-published (once for each distinct letter)
    left: int  # still not parsing, refused notices, or of no topic a consumer reads
    held: int  # failed on alone by a consumer, not asked for


async def replay(settings: Settings, failed_alone: bool = False) -> Replayed:
    """Re-publish every dead letter that now parses for its source topic (of those a consumer failed
    on alone, only with ``failed_alone``), each distinct one once."""
    known = models(settings)
    letters = await read(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, enable_idempotence=True)
    await producer.start()
    sent: set[tuple[str, bytes | None, bytes]] = set()
    left = held = 0
    try:
        for letter in letters:
            model = known.get(letter.source_topic)
            if model is None or letter.stage == REFUSED or not _parses(model, letter.value):
                left += 1
                continue
            if letter.stage == EFFECT and not failed_alone:
                held += 1
                continue
            copy = (letter.source_topic, letter.key, letter.value)
            if copy not in sent:  # (an identical letter was re-published already)
                await producer.send_and_wait(letter.source_topic, letter.value, key=letter.key)
                sent.add(copy)
    finally:
        await producer.stop()
    return Replayed(len(sent), left, held)


def _parses(model: type[BaseModel], value: bytes) -> bool:
    try:
        model.model_validate_json(value)
    except ValidationError:
        return False
    return True
