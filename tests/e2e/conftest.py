"""The four services as real processes (``followback run SERVICE``), isolated per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from followback import runner
from followback.runner import free_port
from shared.settings import HttpSettings, Settings


def as_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process use exactly these settings."""
    http = settings.http
    return {
        "FOLLOWBACK_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "FOLLOWBACK_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "FOLLOWBACK_KAFKA__GROUP_PREFIX": settings.kafka.group_prefix,
        "FOLLOWBACK_KAFKA__PARTITIONS": str(settings.kafka.partitions),
        "FOLLOWBACK_POSTGRES__DSN": settings.postgres.dsn.get_secret_value(),
        "FOLLOWBACK_CONSUMER__BATCH_TIMEOUT_MS": str(settings.consumer.batch_timeout_ms),
        "FOLLOWBACK_HTTP__INGEST_PORT": str(http.ingest_port),
        "FOLLOWBACK_HTTP__CHURN_PORT": str(http.churn_port),
        "FOLLOWBACK_HTTP__SCORER_PORT": str(http.scorer_port),
        "FOLLOWBACK_HTTP__NOTIFIER_PORT": str(http.notifier_port),
    }


def with_free_ports(settings: Settings) -> Settings:
    """The settings with a free HTTP port for each service, so its processes never collide."""
    ports = {f"{s}_port": free_port() for s in runner.SERVICES}
    return settings.model_copy(update={"http": HttpSettings(**ports)})


@pytest.fixture
def e2e_settings(settings: Settings) -> Settings:
    return with_free_ports(settings)


@pytest.fixture
def pipeline(e2e_settings: Settings) -> Iterator[Settings]:
    processes = runner.spawn(runner.SERVICES, env=as_env(e2e_settings))
    try:
        runner.wait_healthy(e2e_settings, runner.SERVICES, timeout=90)
        yield e2e_settings
    finally:
        runner.stop(processes)
