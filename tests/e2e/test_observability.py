"""Every service exports metrics and readiness; `followback status` reads them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta

import asyncpg
import httpx
import pytest

from followback.runner import SERVICES, port_of
from shared.settings import Settings
from tests.e2e.conftest import as_env
from tests.support import REAL_PERSON, SPAM_ACCOUNT, event, eventually

pytestmark = pytest.mark.e2e


async def test_metrics_readiness_and_status_across_the_pipeline(
    pipeline: Settings, db: asyncpg.Connection
) -> None:
    base = {s: f"http://127.0.0.1:{port_of(pipeline, s)}" for s in SERVICES}
    stream = [
        event("o1", "follow", "3001", timedelta(0), REAL_PERSON),
        event("o2", "follow", "3002", timedelta(0), SPAM_ACCOUNT),
        event("o3", "interaction", "3001", timedelta(hours=1), interaction="reply"),
    ]
    async with httpx.AsyncClient() as client:
        assert (await client.post(f"{base['ingest']}/v1/events", json=stream)).status_code == 202
        await eventually(lambda: db.fetchval("SELECT count(*) FROM decisions"), lambda n: n == 3)
        for service in SERVICES:
            ready = await client.get(f"{base[service]}/readyz")
            assert ready.status_code == 200, (service, ready.text)
        scorer = (await client.get(f"{base['scorer']}/metrics")).text
        churn = (await client.get(f"{base['churn']}/metrics")).text

    assert 'followback_decisions_total{class="spam"} 1.0' in scorer
    assert 'followback_decisions_total{class="high_value"} 1.0' in scorer
    assert 'followback_decision_latency_seconds_count{since="ingest"} 3.0' in scorer
    assert "faststream_received_processed_messages_total" in churn

    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "followback", "status", "--json"],
        env={**os.environ, **as_env(pipeline)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout.strip().splitlines()[-1])
    stages = {stage["service"]: stage for stage in status["stages"]}
    assert all(stages[s]["up"] for s in SERVICES)
    assert stages["ingest"]["processed"] == 3
    assert stages["churn"]["processed"] >= 1  # batches handled
    assert status["decisions_per_class"]["spam"] == 1
