"""The broker stopped and started again mid-stream: ingest refuses with 503 meanwhile, producers and
consumers recover by themselves, and nothing is lost or doubled."""

from __future__ import annotations

import asyncio

import pytest

from followback import runner
from followback.infra import kafka as local_kafka
from shared.settings import Settings
from tests.conftest import Infra
from tests.e2e.conftest import with_free_ports
from tests.faults.conftest import Reference
from tests.faults.harness import (
    Sender,
    Services,
    assert_same_outcome,
    ingest_url,
    readiness,
    run_stream,
    until,
)

pytestmark = pytest.mark.faults

# From the broker's exit to its restart: longer than the producers' request timeout (15 s), so
# batches waiting for a leader expire, which wedged aiokafka's idempotent producers for good.
BROKER_DOWN_S = 16
DRAIN_TIMEOUT_S = 120


async def test_a_broker_restart_mid_stream_loses_nothing_and_ingest_answers_503_meanwhile(
    infra: Infra, settings: Settings, reference: Reference
) -> None:
    if infra.bootstrap != local_kafka.bootstrap() or not local_kafka.running():
        pytest.skip("needs the broker of the local launcher, which this test stops and restarts")
    events = reference.events
    config = with_free_ports(settings)
    services, sender = Services(config), Sender(ingest_url(config))
    during: dict[str, int] = {}

    async def restart_the_broker_a_third_of_the_way_in() -> None:
        await until(lambda: sender.sent >= len(events) // 3, timeout=60, what="a third of the stream sent")
        await asyncio.to_thread(local_kafka.stop)
        try:
            await until(lambda: sender.refused_503 > 0, timeout=30, what="a 503 from ingest")
            during.update(await readiness(config, runner.SERVICES))
            await asyncio.sleep(BROKER_DOWN_S)
        finally:
            await asyncio.to_thread(local_kafka.start)

    run = await run_stream(
        config, services, lambda: sender.stream(events, batch=40, pause_s=0.2),
        restart_the_broker_a_third_of_the_way_in, drain_timeout_s=DRAIN_TIMEOUT_S, events=len(events),
    )  # fmt: skip

    print(f"\nbroker restart: {sender.refused_503} posts answered 503 and sent again after Retry-After")
    assert sender.sent == len(events)
    assert set(sender.statuses) == {202, 503}
    assert during == dict.fromkeys(runner.SERVICES, 503)
    assert run.ready_after == dict.fromkeys(runner.SERVICES, 200)
    assert_same_outcome(reference.outcome, run.outcome, events, run.posts)
