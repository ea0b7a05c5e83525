"""Fixtures for the real infrastructure: one Kafka and one PostgreSQL per session, isolated per test.

The infrastructure comes, in order, from addresses in the environment (``FOLLOWBACK_TEST_KAFKA``
and ``FOLLOWBACK_TEST_POSTGRES_DSN``, a superuser DSN), from testcontainers where a Docker engine
answers, or from the project's own local launcher (``followback infra up``). Each test gets its
own topic prefix, consumer groups and database (cloned from a migrated template), so tests never
see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from shared.db import create_pool, migrate_sync
from shared.kafka import TOPIC_NAMES, ensure_topics
from shared.settings import ConsumerSettings, KafkaSettings, PostgresSettings, Settings


@dataclass(frozen=True)
class Infra:
    bootstrap: str
    admin_dsn: str  # a superuser DSN on the 'postgres' maintenance database's server
    template: str  # a migrated database that each test's database is cloned from

    def dsn(self, database: str) -> str:
        base, _, _ = self.admin_dsn.rpartition("/")
        return f"{base}/{database}"


def _start_infra() -> tuple[str, str, object]:
    kafka_env = os.environ.get("FOLLOWBACK_TEST_KAFKA")
    pg_env = os.environ.get("FOLLOWBACK_TEST_POSTGRES_DSN")
    if kafka_env and pg_env:
        return kafka_env, pg_env, None
    from followback.infra import compose

    if compose.engine_answers() and os.environ.get("FOLLOWBACK_INFRA") != "local":
        from testcontainers.community.kafka import KafkaContainer
        from testcontainers.community.postgres import PostgresContainer

        # (the class's default wait, 30 s, is short for a JVM and a KRaft format on two slow cores)
        kafka = KafkaContainer("confluentinc/cp-kafka:7.6.1").with_kraft().start(timeout=120)
        pg = PostgresContainer("postgres:15", driver=None).start()
        return kafka.get_bootstrap_server(), pg.get_connection_url(), (kafka, pg)
    from followback.infra import kafka as local_kafka
    from followback.infra import postgres as local_pg

    local_pg.start()
    local_kafka.start()
    return local_kafka.bootstrap(), local_pg.dsn("postgres"), None


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    try:
        bootstrap, admin_dsn, containers = _start_infra()
    except Exception as error:
        if os.environ.get("FOLLOWBACK_REQUIRE_INFRA"):
            pytest.fail(f"real Kafka and PostgreSQL are required but could not start: {error}")
        pytest.skip(f"no real Kafka and PostgreSQL available: {error}")
    template = f"fb_template_{uuid.uuid4().hex[:8]}"
    import asyncio

    async def create(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(create(f'CREATE DATABASE "{template}"'))
    found = Infra(bootstrap, admin_dsn, template)
    migrate_sync(found.dsn(template))
    yield found
    asyncio.run(create(f'DROP DATABASE IF EXISTS "{template}"'))
    for container in containers or ():  # type: ignore[attr-defined]
        container.stop()


@asynccontextmanager
async def isolated_settings(infra: Infra) -> AsyncIterator[Settings]:
    """Settings with their own topics, consumer groups and database, dropped on exit.

    The ``settings`` fixture is one of these; a test that needs a second, independent pipeline
    (a reference run beside a faulty one) opens another.
    """
    run = uuid.uuid4().hex[:10]
    database = f"fb_test_{run}"
    conn = await asyncpg.connect(infra.admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{database}" TEMPLATE "{infra.template}"')
    finally:
        await conn.close()
    config = Settings(
        kafka=KafkaSettings(
            bootstrap_servers=infra.bootstrap,
            topic_prefix=f"t{run}.",
            group_prefix=f"t{run}.",
            partitions=3,
        ),
        postgres=PostgresSettings(dsn=SecretStr(infra.dsn(database))),
        consumer=ConsumerSettings(batch_timeout_ms=20),
    )
    await ensure_topics(config)
    try:
        yield config
    finally:
        conn = await asyncpg.connect(infra.admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await conn.close()
        await _delete_topics(config)


async def _delete_topics(config: Settings) -> None:
    """Best effort: a broker left with thousands of test topics restarts slowly."""
    admin = AIOKafkaAdminClient(bootstrap_servers=config.kafka.bootstrap_servers)
    try:
        await admin.start()
        await admin.delete_topics([config.topic(name) for name in TOPIC_NAMES])
    except Exception:  # noqa: S110 - leftovers are harmless
        pass
    finally:
        await admin.close()


@pytest.fixture
async def settings(infra: Infra) -> AsyncIterator[Settings]:
    """Settings for one test: its own topics, consumer groups and database."""
    async with isolated_settings(infra) as config:
        yield config


@pytest.fixture
async def conn(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection from the services' own pool (its jsonb codecs) on the test's database."""
    pool = await create_pool(settings.postgres)
    async with pool.acquire() as connection:
        yield connection
    await pool.close()


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """The services' own pool (its jsonb codecs) on the test's database."""
    found = await create_pool(settings.postgres)
    yield found
    await found.close()


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    yield conn
    await conn.close()
