"""Running services: one in this process (uvicorn), or all four as child processes."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from shared.settings import Settings

SERVICES = ("ingest", "churn", "scorer", "notifier")


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")  # Linux; elsewhere 32768 is assumed


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (for a throwaway service), below the
    system's ephemeral range: the kernel hands out ports in that range to outgoing connections (a
    Kafka client's, say) and to a bind to port 0, so such a port could be taken before the service
    binds it ("address already in use"); a port below it stays free unless a listener takes it."""
    try:
        low = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for port in random.sample(range(max(1024, low - 12_000), low), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # a listener has it
            return port
    with socket.socket() as sock:  # (every one tried is taken: the kernel's choice, as before)
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def port_of(settings: Settings, service: str) -> int:
    port: int = getattr(settings.http, f"{service}_port")
    return port


def factory(service: str) -> Callable[[Settings], Any]:
    """The service's app factory, imported only when that service is run."""
    if service == "ingest":
        from services.ingest.app import create_app as ingest

        return ingest
    if service == "churn":
        from services.churn.app import create_app as churn

        return churn
    if service == "scorer":
        from services.scorer.app import create_app as scorer

        return scorer
    if service == "notifier":
        from services.notifier.app import create_app as notifier

        return notifier
    raise ValueError(f"unknown service {service!r}; choose one of {', '.join(SERVICES)} or all")


def run_one(service: str, settings: Settings) -> None:
    import uvicorn

    from shared import gc_tuning

    app = factory(service)(settings)
    gc_tuning.tune(settings.gc_threshold)
    uvicorn.run(
        app,
        host=settings.http.host,
        port=port_of(settings, service),
        log_level="warning",
        access_log=False,
        # The client's address is the TCP peer's (the review queue's login limit counts by it).
        # uvicorn's default took it from X-Forwarded-For whenever the peer was 127.0.0.1: behind a
        # proxy on the same host (or a sidecar) that passes the client's own header on, each
        # guess could name a new address and the per-address limit never applied.
        proxy_headers=False,
    )


def spawn(services: Sequence[str], env: dict[str, str] | None = None) -> list[subprocess.Popen[bytes]]:
    """Start each service as a child process running ``followback run SERVICE``."""
    return [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "followback", "run", service],
            env={**os.environ, **(env or {})},
        )
        for service in services
    ]


def wait_healthy(settings: Settings, services: Sequence[str], timeout: float = 60.0) -> None:
    """Block until every service answers /healthz, or raise with the ones that did not."""
    deadline = time.monotonic() + timeout
    pending = list(services)
    while pending and time.monotonic() < deadline:
        for service in list(pending):
            url = f"http://{settings.http.host}:{port_of(settings, service)}/healthz"
            try:
                if httpx.get(url, timeout=1.0).is_success:
                    pending.remove(service)
            except httpx.HTTPError:
                pass
        if pending:
            time.sleep(0.3)
    if pending:
        raise TimeoutError(f"not healthy after {timeout:.0f}s: {', '.join(pending)}")


def stop(processes: Sequence[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# How a service stopped on request ends: uvicorn shuts down and then re-raises the signal it was
# sent, so the child's return code is minus that signal (the terminal's SIGINT, or our SIGTERM).
STOPPED = (-signal.SIGTERM, -signal.SIGINT)


def exit_code(returncode: int | None, stopped: bool) -> int:
    """A child's return code as an exit status: 0 for one ``stopped`` on request (by us or by the
    terminal's Ctrl-C), a death by another signal as the shell says it (128 + the signal)."""
    if returncode is None or (stopped and returncode in STOPPED):
        return 0
    return 128 - returncode if returncode < 0 else returncode


def run_all(settings: Settings) -> int:
    """Run the four services as children until one exits or we are interrupted (Ctrl-C, or SIGTERM
    as a supervisor or ``kill`` sends it): the children are stopped either way, never left running.

    0 when interrupted and every child stopped as asked; else the status of the child that failed
    (a child that exited by itself ended the run: its status, 137 for one killed by SIGKILL). The
    children's own return codes used to be passed on: ``-15`` (uvicorn's re-raised SIGTERM) made
    every ordinary stop exit 241."""
    processes = spawn(SERVICES)
    before = signal.signal(signal.SIGTERM, _interrupted)
    interrupted = False
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        signal.signal(signal.SIGTERM, before)
        ended = {id(p) for p in processes if p.poll() is not None}  # (by themselves, unless interrupted)
        stop(processes)
    return max(exit_code(p.returncode, interrupted or id(p) not in ended) for p in processes)
