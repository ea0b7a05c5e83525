"""Consumer lag per pipeline stage, for the demo, the benchmark and ``followback status``."""

from __future__ import annotations

from shared.lag import LagProbe
from shared.settings import Settings

# Each consuming service, and the topic (logical name) it reads.
STAGES = {"churn": "events", "scorer": "annotated", "notifier": "decisions"}


async def stage_lag(settings: Settings) -> dict[str, int]:
    """Messages each stage has yet to commit, summed over its topic's partitions."""
    probe = LagProbe(settings.kafka.bootstrap_servers)
    await probe.start()
    try:
        return {
            service: sum(
                behind
                for behind, _ in (
                    await probe.messages(settings.group(service), settings.topic(name))
                ).values()
            )
            for service, name in STAGES.items()
        }
    finally:
        await probe.stop()
