"""The consumer-lag gauges of a service with two consumer groups (the notifier reads ``decisions``
and, for the follow-backs made on X, ``events``): each group's lag is kept current, on the real
broker. With one (group, topic) only, the follow-back consumer's lag (stuck, or re-reading
``events`` after the upgrade that added it) showed nowhere: not in /metrics, not in ``status``."""

from __future__ import annotations

import asyncio

from shared.kafka import create_producer, ensure_topics
from shared.lag import lag_reporter
from shared.metrics import CONSUMER_LAG
from shared.settings import Settings


def _summed(group: str, topic: str) -> float:
    total = 0.0
    for metric in CONSUMER_LAG.collect():
        for sample in metric.samples:
            labels = sample.labels
            if sample.name.endswith("_lag") and (labels["group"], labels["topic"]) == (group, topic):
                total += sample.value
    return total


async def test_the_lag_of_every_group_given_is_reported(settings: Settings) -> None:
    await ensure_topics(settings)
    producer = create_producer(settings)
    await producer.start()
    try:
        for n in range(3):
            await producer.send_and_wait(settings.topic("events"), f"e{n}".encode(), key=f"f{n}".encode())
        for n in range(2):
            await producer.send_and_wait(settings.topic("decisions"), f"d{n}".encode(), key=f"f{n}".encode())
    finally:
        await producer.stop()
    pairs = [
        (settings.group("notifier"), settings.topic("decisions")),
        (settings.group("notifier-follow-backs"), settings.topic("events")),
    ]
    async with lag_reporter(settings.kafka.bootstrap_servers, pairs, interval_s=0.1):
        for _ in range(200):
            if _summed(*pairs[0]) == 2 and _summed(*pairs[1]) == 3:
                break
            await asyncio.sleep(0.1)
    assert _summed(*pairs[0]) == 2  # nothing committed by either group: every message is behind
    assert _summed(*pairs[1]) == 3
