"""Ports for throwaway services: outside the range the kernel hands to outgoing connections."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from followback import runner


def test_a_free_port_is_below_the_ephemeral_range_and_can_be_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port from a bind to port 0 is in the ephemeral range, where a client's outgoing connection
    could take it before the service binds it (CI: a notifier failed with "address already in use")."""
    ranged = tmp_path / "ip_local_port_range"
    ranged.write_text("40000\t60999\n")
    monkeypatch.setattr(runner, "EPHEMERAL_RANGE", ranged)
    ports = {runner.free_port() for _ in range(20)}
    assert all(28_000 <= port < 40_000 for port in ports), ports
    assert len(ports) > 1  # drawn at random: parallel runs seldom meet
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports.pop()))  # free indeed


def test_a_port_taken_by_a_listener_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with socket.socket() as spare:
            spare.bind(("127.0.0.1", 0))
            other = spare.getsockname()[1]
        # The taken port is the first one tried.
        monkeypatch.setattr(runner.random, "sample", lambda population, k: [port, other])
        assert runner.free_port() == other
