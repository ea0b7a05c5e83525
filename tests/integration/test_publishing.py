"""Publishing in record batches on a real broker: the partition of each key, the order, every record."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaProducer

from shared.kafka import create_producer, ensure_topics, publish_all
from shared.settings import Settings
from tests.support import read_to_end

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Item:
    follower: str
    n: int
    size: int = 20

    @property
    def key(self) -> bytes:
        return self.follower.encode()

    def model_dump_json(self, *, by_alias: bool | None = None) -> str:
        return f'{{"follower":"{self.follower}","n":{self.n},"pad":"{"x" * self.size}"}}'


async def test_batches_land_where_single_sends_do_in_order(settings: Settings) -> None:
    await ensure_topics(settings)
    # Enough records to fill several batches per partition, and one bigger than a whole batch
    # (it goes out alone, in order).
    items = [Item(f"{10**17 + (n % 97) * 7919}", n, 2000) for n in range(3000)]
    items.insert(1500, Item("huge", -1, 300 * 1024))
    producer = create_producer(settings)
    await producer.start()
    try:
        assert await publish_all(producer, settings.topic("decisions"), items) == len(items)
        reference = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
        await reference.start()
        try:  # aiokafka's own partitioner, one send per record
            for item in items:
                await reference.send(
                    settings.topic("annotated"), item.model_dump_json().encode(), key=item.key
                )
            await reference.flush()
        finally:
            await reference.stop()
    finally:
        await producer.stop()

    batched = await read_to_end(settings, settings.topic("decisions"))
    single = await read_to_end(settings, settings.topic("annotated"))
    assert len(batched) == len(single) == len(items)

    def by_partition(records: list) -> dict[int, list[bytes]]:  # type: ignore[type-arg]
        found: dict[int, list[bytes]] = {}
        for record in sorted(records, key=lambda r: (r.partition, r.offset)):
            found.setdefault(record.partition, []).append(record.value)
        return found

    assert by_partition(batched) == by_partition(single)
    assert len(by_partition(batched)) > 1


async def test_dead_letters_are_kept_until_replayed_not_for_seven_days(settings: Settings) -> None:
    """A letter waits in the dead-letter topic for a fix and `followback dlq replay`: with the
    broker's default retention (7 days) a letter older than a week was gone before anyone replayed it."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    await ensure_topics(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        names = [settings.topic("dead_letter"), settings.topic("events"), settings.topic("decisions")]
        answers = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    finally:
        await admin.close()
    retention = {
        resource[3]: dict((entry[0], entry[1]) for entry in resource[4])["retention.ms"]
        for answer in answers
        for resource in answer.resources
    }
    assert retention[settings.topic("dead_letter")] == str(settings.kafka.dead_letter_retention_ms) == "-1"
    assert retention[settings.topic("events")] == "-1"
