"""What the detector takes from a batch of records besides the parsed events.

- Each follower's partition, from the record keys (producers key events by follower id): the
  partition's stream time is the detector's clock.
- ``retained`` events are the detector's own output; one arriving on the events topic would be
  recorded under an id the detector may emit later, so it goes to the dead-letter topic instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from shared.consuming import REFUSED, Parsed, dead_letter
from shared.events import Event, EventType

NOT_INPUT = "type: 'retained' is emitted by the churn detector, never accepted as input"


def partitions(records: Sequence[Any]) -> dict[str, int]:
    """Follower id -> partition of the events topic, from the records' keys (a key that is not
    UTF-8 is no follower's id: kept replaced, it matches none, instead of failing the batch)."""
    return {r.key.decode("utf-8", "replace"): r.partition for r in records if r.key}


async def refuse_retained(
    parsed: Parsed[Event], producer: AIOKafkaProducer, dead_letter_topic: str
) -> list[Event]:
    """The batch's events without any ``retained`` ones, whose records are dead-lettered with the
    reason (only theirs: another record under the same id is an event, and is processed)."""
    for event in parsed.good:
        if event.type is EventType.RETAINED:
            await dead_letter(producer, dead_letter_topic, parsed.record_of(event), NOT_INPUT, REFUSED)
    return [e for e in parsed.good if e.type is not EventType.RETAINED]
