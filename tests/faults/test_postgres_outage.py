"""PostgreSQL down mid-stream: the consumers report not ready, commit no offsets, wait with back-off
and resume when it is back, with nothing lost or doubled."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from followback import runner
from followback.infra import postgres as local_pg
from shared.settings import Settings
from tests.conftest import Infra
from tests.e2e.conftest import with_free_ports
from tests.faults.conftest import Reference
from tests.faults.harness import (
    Sender,
    Services,
    assert_same_outcome,
    committed_offsets,
    ingest_url,
    readiness,
    run_stream,
    until,
)

pytestmark = pytest.mark.faults

# The specification's minute: many rounds of the consumers' back-off (capped at 5 s) and of the
# delivery worker's.
POSTGRES_DOWN_S = 60
CONSUMERS = ("churn", "scorer", "notifier")
DRAIN_TIMEOUT_S = 120


async def test_postgres_down_mid_stream_the_pipeline_waits_and_resumes_with_nothing_lost(
    infra: Infra, settings: Settings, reference: Reference
) -> None:
    if infra.admin_dsn != local_pg.dsn("postgres") or not local_pg.running():
        pytest.skip("needs the PostgreSQL of the local launcher, which this test stops and restarts")
    events = reference.events
    config = with_free_ports(settings)
    services, sender = Services(config), Sender(ingest_url(config))
    seen_during: dict[str, Counter[int]] = {s: Counter() for s in runner.SERVICES}
    offsets: list[dict[str, int]] = []

    async def stop_postgres_a_quarter_of_the_way_in() -> None:
        await until(lambda: sender.sent >= len(events) // 4, timeout=60, what="a quarter of the stream sent")
        await asyncio.to_thread(local_pg.stop)
        try:
            down_since = time.monotonic()
            while time.monotonic() - down_since < POSTGRES_DOWN_S:
                for service, code in (await readiness(config, runner.SERVICES)).items():
                    seen_during[service][code] += 1
                if time.monotonic() - down_since > 3:  # batches in flight at the stop have settled
                    offsets.append(await committed_offsets(config))
                await asyncio.sleep(1)
            assert services.exited() == {}, "a service gave up while PostgreSQL was down"
        finally:
            await asyncio.to_thread(local_pg.start)

    # Events keep arriving through the outage (ingest needs only Kafka).
    run = await run_stream(
        config, services, lambda: sender.stream(events, batch=50, pause_s=0.5),
        stop_postgres_a_quarter_of_the_way_in, drain_timeout_s=DRAIN_TIMEOUT_S, events=len(events),
    )  # fmt: skip

    print(
        f"\npostgres down for {POSTGRES_DOWN_S}s: readiness meanwhile "
        f"{ {s: dict(codes) for s, codes in seen_during.items()} }, committed offsets {offsets[0]}"
    )
    # Meanwhile: every consumer not ready, and not one offset committed past what it had stored.
    assert {s: set(seen_during[s]) for s in CONSUMERS} == {s: {503} for s in CONSUMERS}
    assert set(seen_during["ingest"]) == {200}  # ingest needs no database: it kept accepting
    assert len(offsets) >= 5
    assert all(snapshot == offsets[0] for snapshot in offsets)
    # After: ready again, and everything processed once, as in the undisturbed run.
    assert run.ready_after == dict.fromkeys(runner.SERVICES, 200)
    assert sender.sent == len(events)
    assert_same_outcome(reference.outcome, run.outcome, events, run.posts)
