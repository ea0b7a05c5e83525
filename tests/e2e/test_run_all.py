"""``followback run all``: the four services as children of one command, stopped with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from followback import runner
from shared.settings import Settings
from tests.e2e.conftest import as_env

pytestmark = pytest.mark.e2e


def answering(settings: Settings) -> list[str]:
    """The services whose /healthz answers now."""
    up = []
    for service in runner.SERVICES:
        try:
            if httpx.get(
                f"http://127.0.0.1:{runner.port_of(settings, service)}/healthz", timeout=1
            ).is_success:
                up.append(service)
        except httpx.HTTPError:
            pass
    return up


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_stopping_run_all_stops_every_service_it_started(e2e_settings: Settings, stop_signal: int) -> None:
    """SIGTERM (what ``kill``, systemd and container runtimes send) left the four services running
    as orphans before; only Ctrl-C stopped them."""
    parent = subprocess.Popen(
        [sys.executable, "-m", "followback", "run", "all"], env={**os.environ, **as_env(e2e_settings)}
    )
    try:
        runner.wait_healthy(e2e_settings, runner.SERVICES, timeout=90)
        assert answering(e2e_settings) == list(runner.SERVICES)
        parent.send_signal(stop_signal)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while answering(e2e_settings) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert answering(e2e_settings) == []
    finally:
        if parent.poll() is None:
            parent.kill()
