"""The launcher explains what is missing instead of failing obscurely."""

from __future__ import annotations

import pytest

from followback.infra import kafka, paths
from followback.infra.paths import InfraError, apt_install


def test_a_missing_tool_that_cannot_be_installed_names_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "is_root", lambda: False)
    with pytest.raises(InfraError, match=r"Install the packages openjdk-17-jre-headless maven") as caught:
        apt_install(["openjdk-17-jre-headless", "maven"], "java (for Kafka)")
    assert "docker compose" in str(caught.value)


def test_kafka_asks_for_java_and_maven_when_they_are_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka.shutil, "which", lambda tool: None)
    monkeypatch.setattr(paths, "is_root", lambda: False)
    with pytest.raises(InfraError, match="java and mvn"):
        kafka._ensure_tools()
