"""Consumer lag per pipeline stage: end offsets minus the group's committed offsets."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.settings import Settings

# Each consuming service, and the topic (logical name) it reads.
STAGES = {"churn": "events", "scorer": "annotated", "notifier": "decisions"}


async def stage_lag(settings: Settings) -> dict[str, int]:
    """Messages each stage has yet to commit, summed over the topic's partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    await consumer.start()
    try:
        await consumer.topics()  # refresh metadata so partitions are known
        lags: dict[str, int] = {}
        for service, topic_name in STAGES.items():
            topic = settings.topic(topic_name)
            partitions = [
                TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            ends = await consumer.end_offsets(partitions)
            committed = await admin.list_consumer_group_offsets(settings.group(service))
            lags[service] = sum(
                ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in partitions
            )
        return lags
    finally:
        await consumer.stop()
        await admin.close()
