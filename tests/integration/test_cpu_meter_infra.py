"""The bench's CPU meter on the real broker and PostgreSQL that ``followback infra up`` runs here:
work done by a PostgreSQL backend and by the broker is charged to them, not to ``other``."""

from __future__ import annotations

import time

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from followback import bench_pipeline
from followback.infra import kafka, postgres
from shared.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def local_infra(settings: Settings) -> Settings:
    if kafka.broker_pid() is None or postgres.server_pid() is None:
        pytest.skip("the broker and PostgreSQL are not this project's local processes (containers?)")
    return settings


async def test_postgres_and_the_broker_are_charged_for_their_work(local_infra: Settings) -> None:
    meter = bench_pipeline.meter(local_infra, {})
    assert {"kafka", "postgres"} <= meter.parts.keys()
    conn = await asyncpg.connect(local_infra.postgres.dsn.get_secret_value())
    producer = AIOKafkaProducer(bootstrap_servers=local_infra.kafka.bootstrap_servers)
    await producer.start()
    try:
        meter.start()
        began = time.perf_counter()
        # About a second of one backend's CPU (a live child of the postmaster).
        await conn.fetchval("SELECT count(*) FROM generate_series(1, 20000000)")
        for n in range(2000):
            await producer.send(local_infra.topic("events"), b"x" * 1000, key=str(n).encode())
        await producer.flush()
        usage = meter.stop(events=2000, wall_seconds=time.perf_counter() - began)
    finally:
        await producer.stop()
        await conn.close()
    assert usage.seconds["postgres"] >= 0.5
    assert usage.seconds["kafka"] >= 0.02  # 2 MB of records taken in and written
    assert "cpu_bound_ceiling_events_per_s" in usage.as_dict()


def test_servers_the_settings_do_not_point_at_are_not_charged(local_infra: Settings) -> None:
    elsewhere = local_infra.model_copy(
        update={
            "kafka": local_infra.kafka.model_copy(update={"bootstrap_servers": "kafka.example:9092"}),
            "postgres": local_infra.postgres.model_copy(
                update={"dsn": SecretStr("postgresql://u@db.example:5432/followback")}
            ),
        }
    )
    assert bench_pipeline.meter(elsewhere, {}).parts.keys() == set()
