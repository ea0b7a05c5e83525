"""No working default secrets in production: unsafe settings stop a service before it starts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from followback import runner
from followback.cli import app
from services.ingest.app import create_app as ingest_app
from services.notifier.app import create_app as notifier_app
from services.scorer.app import create_app as scorer_app
from shared.settings import (
    IngestSettings,
    InsecureConfigurationError,
    NotifierSettings,
    PostgresSettings,
    Settings,
)

QUEUE = "https://queue.brand.example"
SAFE_DSN = PostgresSettings(dsn=SecretStr("postgresql://fb:a-long-password@db:5432/followback"))


def test_development_defaults_are_allowed_outside_production() -> None:
    assert Settings(env="development").production_problems() == []


def test_production_names_every_unsafe_setting() -> None:
    unsafe = Settings(
        env="production",
        ingest=IngestSettings(tokens=[SecretStr("short")], x_consumer_secret=SecretStr("abc")),
    )
    problems = " | ".join(unsafe.production_problems())
    assert "FOLLOWBACK_POSTGRES__DSN has no password" in problems
    assert "FOLLOWBACK_INGEST__TOKENS" in problems
    assert "FOLLOWBACK_INGEST__X_CONSUMER_SECRET" in problems


def test_services_refuse_to_start_with_unsafe_production_settings() -> None:
    with pytest.raises(InsecureConfigurationError, match="no password"):
        scorer_app(Settings(env="production"))
    with pytest.raises(InsecureConfigurationError, match="TOKENS must be set"):
        ingest_app(Settings(env="production", postgres=SAFE_DSN))


def test_safe_production_settings_pass() -> None:
    safe = Settings(env="production", postgres=SAFE_DSN, ingest=IngestSettings(tokens=[SecretStr("t" * 32)]))
    assert safe.production_problems() == []
    ingest_app(safe)  # builds without connecting to anything


def test_a_service_names_its_own_missing_secrets_with_the_rest_at_once() -> None:
    """helper-45: a missing ingest token or session secret was reported only once the other
    problems were fixed (a second round of restarts)."""
    with pytest.raises(InsecureConfigurationError) as ingest:
        ingest_app(Settings(env="production"))
    assert "no password" in str(ingest.value)
    assert "FOLLOWBACK_INGEST__TOKENS must be set" in str(ingest.value)
    with pytest.raises(InsecureConfigurationError) as notifier:
        notifier_app(Settings(env="production"))
    assert "no password" in str(notifier.value)
    assert "FOLLOWBACK_NOTIFIER__SESSION_SECRET must be set" in str(notifier.value)


def test_a_short_session_secret_is_refused_in_production() -> None:
    """helper-64: FOLLOWBACK_NOTIFIER__SESSION_SECRET=x started the notifier in production (the
    tokens and the X consumer secret needed 16 characters, the key that signs sessions any)."""
    notifier = NotifierSettings(session_secret=SecretStr("x"), public_url=QUEUE)
    short = Settings(env="production", postgres=SAFE_DSN, notifier=notifier)
    assert short.production_problems("notifier") == [
        "FOLLOWBACK_NOTIFIER__SESSION_SECRET is shorter than 16 characters"
    ]
    with pytest.raises(InsecureConfigurationError, match="SESSION_SECRET is shorter than 16"):
        notifier_app(short)
    long_enough = Settings(
        env="production",
        postgres=SAFE_DSN,
        notifier=NotifierSettings(session_secret=SecretStr("s" * 16), public_url=QUEUE),
    )
    assert long_enough.production_problems("notifier") == []


@pytest.mark.parametrize("public_url", ["", "http://queue.brand.example", "queue.brand.example", "  "])
def test_production_needs_the_review_queues_https_address_for_the_links_of_pushes(public_url: str) -> None:
    """Unset, pushes linked to the notifier's own host and port (http://127.0.0.1:8084 in the image),
    which no one at the brand can open; over plain HTTP the queue's Secure cookie never comes back,
    so no one could log in from a push's link either."""
    notifier = NotifierSettings(session_secret=SecretStr("s" * 16), public_url=public_url)
    settings = Settings(env="production", postgres=SAFE_DSN, notifier=notifier)
    assert settings.production_problems("notifier") == [
        "FOLLOWBACK_NOTIFIER__PUBLIC_URL must be the review queue's https:// address in production"
        " (pushes link to it)"
    ]
    assert settings.production_problems("scorer") == []  # (the notifier's alone)
    assert Settings(env="development", notifier=notifier).production_problems("notifier") == []
    with pytest.raises(InsecureConfigurationError, match="PUBLIC_URL must be the review queue's https"):
        notifier_app(settings)


def test_run_all_names_every_services_problem_at_once_and_starts_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """helper-64: ``followback run all`` started the four services, each checked its own settings,
    and the first to exit stopped the others: the operator read one problem a start (the DSN's,
    then the notifier's secret, then ingest's tokens)."""
    spawned: list[object] = []

    def spawn(services: Sequence[str]) -> list[subprocess.Popen[bytes]]:
        spawned.append(services)  # (children that end at once, so a run that starts ends too)
        return [subprocess.Popen([sys.executable, "-c", "pass"]) for _ in services]

    monkeypatch.setattr(runner, "spawn", spawn)
    for name in [n for n in os.environ if n.startswith("FOLLOWBACK_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FOLLOWBACK_ENV", "production")

    result = CliRunner().invoke(app, ["run", "all"])

    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "FOLLOWBACK_POSTGRES__DSN has no password" in said
    assert "FOLLOWBACK_INGEST__TOKENS must be set" in said
    assert "FOLLOWBACK_NOTIFIER__SESSION_SECRET must be set" in said
    assert spawned == []
