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

from shared.consuming import dead_letter
from shared.events import Event, EventType

REFUSED = "type: 'retained' is emitted by the churn detector, never accepted as input"


def partitions(records: Sequence[Any]) -> dict[str, int]:
    """Follower id -> partition of the events topic, from the records' keys (a key that is not
    UTF-8 is no follower's id: kept replaced, it matches none, instead of failing the batch)."""
    return {r.key.decode("utf-8", "replace"): r.partition for r in records if r.key}


async def refuse_retained(
    events: list[Event], records: Sequence[Any], producer: AIOKafkaProducer, dead_letter_topic: str
) -> list[Event]:
    """The events without any ``retained`` ones, whose records are dead-lettered with the reason
    (only theirs: another record under the same id is an event, and is processed)."""
    if not any(e.type is EventType.RETAINED for e in events):
        return events
    for record in records:
        try:
            event = Event.model_validate_json(record.value)
        except ValueError:
            continue  # dead-lettered already, as unparsable
        if event.type is not EventType.RETAINED:
            continue
        await dead_letter(producer, dead_letter_topic, record, REFUSED)
    return [e for e in events if e.type is not EventType.RETAINED]
