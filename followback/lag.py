"""Consumer lag per pipeline stage, for the demo, the benchmark and ``followback status``."""

from __future__ import annotations

from collections.abc import Mapping

from shared.lag import LagProbe
from shared.settings import Settings

# Each consuming service, and the topic (logical name) it reads.
STAGES = {"churn": "events", "scorer": "annotated", "notifier": "decisions"}
# Every consumer group (as settings.group names it) and its topic: the notifier's second group reads
# the follow-backs made on X from `events` (it needs the database only for those).
GROUPS = {**STAGES, "notifier-follow-backs": "events"}


async def stage_offsets(settings: Settings, stages: Mapping[str, str] = STAGES) -> dict[str, tuple[int, int]]:
    """Per stage (``stages``: group -> topic), summed over its topic's partitions: messages yet to
    commit, and offsets committed."""
    probe = LagProbe(settings.kafka.bootstrap_servers)
    await probe.start()
    try:
        found = {}
        for service, name in stages.items():
            partitions = (await probe.messages(settings.group(service), settings.topic(name))).values()
            found[service] = (sum(behind for behind, _ in partitions), sum(done for _, done in partitions))
        return found
    finally:
        await probe.stop()


async def stage_lag(settings: Settings, stages: Mapping[str, str] = STAGES) -> dict[str, int]:
    """Messages each stage has yet to commit, summed over its topic's partitions."""
    return {service: behind for service, (behind, _) in (await stage_offsets(settings, stages)).items()}
