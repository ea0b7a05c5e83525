"""Consumer lag, computed from the group's committed offsets and the topic's end offsets.

FastStream's Prometheus middleware exports no lag, so the services compute their own: messages
not yet committed per partition and, in seconds, the age of the oldest of them (from the Kafka
timestamp of the record at the committed offset).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.metrics import CONSUMER_LAG, CONSUMER_LAG_SECONDS

log = logging.getLogger(__name__)


class MissingTopicError(LookupError):
    """A topic the broker does not have (no service ran with this prefix yet, or a mistyped
    ``FOLLOWBACK_KAFKA__TOPIC_PREFIX``)."""

    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic} does not exist")


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    messages: int
    seconds: float


class LagProbe:
    """Measures one group's lag on one topic; holds its own admin client and consumer."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)

    async def start(self) -> None:
        try:
            await self.admin.start()
            await self.consumer.start()
        except BaseException:  # (a broker that does not answer: close what was opened, say nothing more)
            await self.stop()
            raise

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def partitions(self, topic: str) -> list[TopicPartition]:
        [described] = await self.admin.describe_topics([topic])
        if not described["partitions"]:
            raise MissingTopicError(topic)
        return [TopicPartition(topic, p["partition"]) for p in described["partitions"]]

    async def messages(self, group: str, topic: str) -> dict[TopicPartition, tuple[int, int]]:
        """Per partition: (messages behind, committed offset)."""
        partitions = await self.partitions(topic)
        ends = await self.consumer.end_offsets(partitions)
        committed = await self.admin.list_consumer_group_offsets(group)
        out = {}
        for tp in partitions:
            done = committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0
            out[tp] = (max(0, ends[tp] - done), done)
        return out

    async def measure(self, group: str, topic: str, now: float | None = None) -> list[PartitionLag]:
        """Messages and seconds behind for every partition of ``topic``."""
        now = time.time() if now is None else now
        found = []
        for tp, (behind, offset) in (await self.messages(group, topic)).items():
            seconds = 0.0
            if behind:
                self.consumer.assign([tp])
                self.consumer.seek(tp, offset)
                records = await self.consumer.getmany(tp, timeout_ms=1000, max_records=1)
                for record in records.get(tp, []):
                    seconds = max(0.0, now - record.timestamp / 1000)
            found.append(PartitionLag(tp.partition, behind, seconds))
        return found


@asynccontextmanager
async def lag_reporter(
    bootstrap_servers: str, groups: Sequence[tuple[str, str]], interval_s: float = 5.0
) -> AsyncIterator[None]:
    """Keep the lag gauges of each (group, topic) current while the block runs."""
    probe = LagProbe(bootstrap_servers)

    async def loop() -> None:
        await probe.start()
        try:
            while True:
                for group, topic in groups:
                    try:
                        for lag in await probe.measure(group, topic):
                            labels = (group, topic, str(lag.partition))
                            CONSUMER_LAG.labels(*labels).set(lag.messages)
                            CONSUMER_LAG_SECONDS.labels(*labels).set(lag.seconds)
                    except Exception:  # a failed measurement must not stop the service
                        log.warning("could not measure the lag of %s on %s", group, topic, exc_info=True)
                await asyncio.sleep(interval_s)
        finally:
            await probe.stop()

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
