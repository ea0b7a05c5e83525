"""``followback run all``'s exit status: 0 after an ordinary stop, the failure's when a service
failed. A service stopped with SIGTERM shuts down and re-raises the signal (uvicorn), so its return
code is -15, and ``run all`` passed on the largest return code: every ordinary stop (``kill``,
systemd, Ctrl-C) exited 241, and a service killed by SIGKILL was no different from a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

import pytest

from followback import runner
from shared.settings import Settings

SLEEPER = "import time; time.sleep(60)"  # (ends by SIGTERM's default action: return code -15)


def _children(scripts: Sequence[str]) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", script]) for script in scripts]


def test_an_ordinary_stop_exits_0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "spawn", lambda services: _children([SLEEPER] * len(services)))
    threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
    assert runner.run_all(Settings()) == 0


@pytest.mark.parametrize(
    ("failing", "status"),
    [("raise SystemExit(3)", 3), ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", 137)],
)
def test_a_service_that_fails_ends_the_run_with_its_status(
    failing: str, status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "spawn", lambda services: _children([SLEEPER, failing, SLEEPER, SLEEPER]))
    assert runner.run_all(Settings()) == status


def test_a_service_takes_the_client_address_from_the_connection_never_from_a_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told not to: the review queue's
    per-address login limit was then counted by whatever address each request named (helper-51)."""
    import uvicorn

    given: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: given.update(options))
    monkeypatch.setattr(runner, "factory", lambda service: lambda settings: object())
    runner.run_one("notifier", Settings(gc_threshold=0))  # (0: this test process's collector untouched)
    assert given["proxy_headers"] is False
