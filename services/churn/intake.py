"""What the detector takes from a batch of records besides the parsed events.

- Each follower's partition, from the record keys (producers key events by follower id): the
  partition's stream time is the detector's clock.
- ``retained`` events are the detector's own output; one arriving on the events topic would be
  recorded under an id the detector may emit later, so it goes to the dead-letter topic instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from shared.events import Event, EventType
from shared.metrics import DEAD_LETTERS

log = logging.getLogger(__name__)

REFUSED = "type: 'retained' is emitted by the churn detector, never accepted as input"


def partitions(records: Sequence[Any]) -> dict[str, int]:
    """Follower id -> partition of the events topic, from the records' keys."""
    return {r.key.decode(): r.partition for r in records if r.key}


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
        log.warning("dead-lettering %s[%s]@%s: %s", record.topic, record.partition, record.offset, REFUSED)
        headers = [
            ("error", REFUSED.encode()),
            ("topic", record.topic.encode()),
            ("partition", str(record.partition).encode()),
            ("offset", str(record.offset).encode()),
        ]
        await producer.send_and_wait(dead_letter_topic, record.value, key=record.key, headers=headers)
        DEAD_LETTERS.labels(record.topic).inc()
    return [e for e in events if e.type is not EventType.RETAINED]
