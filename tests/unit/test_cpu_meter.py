"""The CPU meter: per-process seconds from /proc, children a server reaped, and the per-event sums."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from followback import cpu_meter

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")

BURN = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"
ROUNDING = 0.001  # what float sums of clock ticks (0.01 s each) can lose: far less than a tick


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def _known(seconds: float | None) -> float:
    assert seconds is not None, "the process was not found"
    return seconds


def test_a_process_is_charged_for_the_cpu_it_burns() -> None:
    before = _known(cpu_meter.process_seconds(os.getpid()))
    _burn(0.3)
    after = _known(cpu_meter.process_seconds(os.getpid()))
    assert 0.25 <= after - before <= 1.0


def test_a_process_that_is_gone_reads_as_none() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert cpu_meter.process_seconds(child.pid) is None


def test_a_tree_counts_its_live_and_its_reaped_children() -> None:
    me = os.getpid()
    own, tree = _known(cpu_meter.process_seconds(me)), _known(cpu_meter.tree_seconds(me))
    running = subprocess.Popen([sys.executable, "-c", BURN + "\ntime.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while (cpu_meter.process_seconds(running.pid) or 0) < 0.35 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running.pid in cpu_meter.children(me)
        live = _known(cpu_meter.tree_seconds(me))
        subprocess.run([sys.executable, "-c", BURN], check=True)  # exits and is reaped
        reaped = _known(cpu_meter.tree_seconds(me))
    finally:
        running.kill()
        running.wait()
    # Clock ticks summed as floats: 249.71 - 249.36 is 0.34999..., so allow for the rounding.
    assert live - tree >= 0.35 - ROUNDING  # the live child's burn
    assert reaped - live >= 0.35 - ROUNDING  # the reaped child's burn
    # The process's own seconds alone know nothing of the live child.
    assert _known(cpu_meter.process_seconds(me)) - own < 0.3


def test_usage_per_event_and_the_ceiling_leave_out_the_load_generator() -> None:
    usage = cpu_meter.Usage(
        {"churn": 1.0, "kafka": 0.5, "postgres": 0.5, cpu_meter.OTHER: 3.0},
        events=10_000,
        wall_seconds=4.0,
        cores=2,
    )
    assert usage.per_event_us() == {"churn": 100.0, "kafka": 50.0, "postgres": 50.0, "other": 300.0}
    assert usage.pipeline_us == 200.0
    assert usage.ceiling == 10_000.0  # 2 cores of 1e6 µs, 200 µs an event
    found = usage.as_dict()
    assert found["cpu_bound_ceiling_events_per_s"] == 10_000
    assert found["machine_busy"] == 0.625  # 5 CPU seconds of 8


def test_a_part_lost_during_the_stretch_is_named_and_drops_the_ceiling() -> None:
    usage = cpu_meter.Usage(
        {"churn": 1.0, "kafka": 0.5, "postgres": 0.5, cpu_meter.OTHER: 1.0},
        events=1000,
        wall_seconds=2.0,
        cores=2,
        unmeasured=("scorer",),
    )
    found = usage.as_dict()
    assert found["unmeasured"] == ["scorer"]
    assert "cpu_bound_ceiling_events_per_s" not in found


def test_no_ceiling_when_the_broker_or_the_database_was_not_measured() -> None:
    usage = cpu_meter.Usage({"churn": 1.0, cpu_meter.OTHER: 1.0}, events=1000, wall_seconds=1.0, cores=2)
    assert "cpu_bound_ceiling_events_per_s" not in usage.as_dict()


def test_the_meter_puts_what_the_parts_did_not_spend_in_other() -> None:
    me = os.getpid()
    meter = cpu_meter.Meter({"me": lambda: cpu_meter.process_seconds(me), "absent": lambda: None})
    meter.start()
    _burn(0.3)
    usage = meter.stop(events=1000, wall_seconds=0.3)
    assert set(usage.seconds) == {"me", cpu_meter.OTHER}  # a part that cannot be read is left out
    assert usage.unmeasured == ("absent",)
    assert usage.seconds["me"] >= 0.25


def test_a_part_that_dies_during_the_stretch_is_unmeasured() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    meter = cpu_meter.Meter({"child": lambda: cpu_meter.process_seconds(child.pid)})
    meter.start()
    child.kill()
    child.wait()
    usage = meter.stop(events=10, wall_seconds=0.1)
    assert usage.unmeasured == ("child",)
    assert "child" not in usage.seconds


def test_the_machine_counts_only_the_cores_asked_for() -> None:
    cpus = cpu_meter.usable_cpus()
    if cpus is None or len(cpus) < 2:
        pytest.skip("needs two cores this process may run on")
    one = {min(cpus)}
    _burn(0.05)
    total, part = cpu_meter.machine_seconds(), cpu_meter.machine_seconds(one)
    assert total is not None
    assert part is not None
    assert 0 < part < total
