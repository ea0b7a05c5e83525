"""Consumer lag per pipeline stage: end offsets minus the group's committed offsets."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.settings import Settings

# Each consuming service, and the topic (logical name) it reads.
STAGES = {"churn": "events", "scorer": "annotated", "notifier": "decisions"}


async def stage_lag(settings: Settings) -> dict[str, int]:
    """Messages each stage has yet to commit, summed over its topic's partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    await consumer.start()
    try:
        topics = {service: settings.topic(name) for service, name in STAGES.items()}
        described = await admin.describe_topics(list(topics.values()))
        partitions = {
            d["topic"]: [TopicPartition(d["topic"], p["partition"]) for p in d["partitions"]]
            for d in described
        }
        lags: dict[str, int] = {}
        for service, topic in topics.items():
            if not partitions.get(topic):
                raise LookupError(f"topic {topic} does not exist")
            ends = await consumer.end_offsets(partitions[topic])
            committed = await admin.list_consumer_group_offsets(settings.group(service))
            lags[service] = sum(
                end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items()
            )
        return lags
    finally:
        await consumer.stop()
        await admin.close()
