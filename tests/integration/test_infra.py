"""The local launcher: `up` is idempotent and `status` reports both servers healthy."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import Infra

pytestmark = pytest.mark.integration


def test_infra_up_is_idempotent_and_status_reports_both_up(infra: Infra) -> None:
    if os.environ.get("FOLLOWBACK_TEST_KAFKA") or infra.bootstrap != "127.0.0.1:19092":
        pytest.skip("the infrastructure was not started by the local launcher")
    cli = [sys.executable, "-m", "followback", "infra"]
    env = {**os.environ, "FOLLOWBACK_INFRA": "local"}
    up = subprocess.run([*cli, "up"], capture_output=True, text=True, env=env, timeout=120)
    assert up.returncode == 0, up.stderr
    assert "infra up (local)" in up.stdout
    status = subprocess.run([*cli, "status"], capture_output=True, text=True, env=env, timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "127.0.0.1:19092" in status.stdout
    assert status.stdout.count(" up") == 2
