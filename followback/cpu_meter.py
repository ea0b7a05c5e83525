"""Where the CPU goes: seconds of CPU each part of the pipeline spent over a measured stretch.

Read from Linux's ``/proc`` (elsewhere nothing is measured): each service process, the local
Kafka broker and PostgreSQL server that ``followback infra up`` started (the postmaster, its live
backends, and the backends that exited and were reaped), and the machine: the cores this process
may run on (a container's CPU quota is not seen). What the machine spent beyond the named parts is
reported as ``other`` (the load generator, the operating system, anything else running), so the
parts always add up to the machine. A part that cannot be read at the start or at the end of the
stretch is reported as unmeasured, and its CPU lands in ``other``.

The bench divides these by the events of the stretch: CPU microseconds per event, which says what
throughput the machine's cores could carry at best (``ceiling``), whatever the queueing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

Reading = Callable[[], float | None]
OTHER = "other"  # the machine beyond the named parts
MACHINE = "machine"


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (None: no such process)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def process_seconds(pid: int, *, reaped: bool = False) -> float | None:
    """CPU seconds (user and system) ``pid`` has spent; with ``reaped``, also those of its children
    that exited and were waited for."""
    fields = _stat(pid)
    if fields is None:
        return None
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if reaped:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / _TICKS


def children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:  # ppid
                found.append(int(entry.name))
    return found


def tree_seconds(pid: int, attempts: int = 5) -> float | None:
    """CPU seconds of ``pid``, its reaped children and its live children (a server that forks a
    process per connection, as PostgreSQL does). A child reaped while its siblings are listed would
    be counted twice or not at all, so the listing is read again until no child was reaped during
    it (a few attempts; the last one stands)."""
    own = process_seconds(pid, reaped=True)
    for _ in range(attempts):
        if own is None:
            return None
        live = sum(process_seconds(child) or 0.0 for child in children(pid))
        again = process_seconds(pid, reaped=True)
        if again == own:
            break
        own = again
    return None if own is None else own + live


def machine_seconds(cpus: set[int] | None = None) -> float | None:
    """CPU seconds the machine's cores have spent busy (not idle, not waiting for I/O); only the
    cores in ``cpus`` when given (the ones this process may run on)."""
    try:
        lines = (PROC / "stat").read_text().splitlines()
    except OSError:
        return None
    busy = 0
    for line in lines:
        name, *values = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        ticks = [int(v) for v in values]
        busy += sum(ticks[:8]) - ticks[3] - ticks[4]  # user..steal, without idle and iowait
    return busy / _TICKS


def usable_cpus() -> set[int] | None:
    """The cores this process may run on (None: not known here)."""
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:
        return None


@dataclass(frozen=True)
class Usage:
    """CPU seconds per part over one stretch, and the events it carried."""

    seconds: dict[str, float]  # part -> CPU seconds, with OTHER: the machine beyond the parts
    events: int
    wall_seconds: float
    cores: int
    unmeasured: tuple[str, ...] = ()  # parts that could not be read at the start or at the end

    def per_event_us(self) -> dict[str, float]:
        return {part: round(s / self.events * 1e6, 1) for part, s in self.seconds.items()}

    @property
    def pipeline_us(self) -> float:
        """CPU microseconds per event of the named parts (the machine's ``other`` left out: it holds
        the load generator)."""
        return sum(s for part, s in self.seconds.items() if part != OTHER) / self.events * 1e6

    @property
    def ceiling(self) -> float:
        """Events/s the cores could carry if CPU were the only limit: cores / CPU per event."""
        return self.cores * 1e6 / self.pipeline_us if self.pipeline_us else 0.0

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {
            "cpu_us_per_event": self.per_event_us(),
            "cpu_us_per_event_pipeline": round(self.pipeline_us, 1),
            "cores": self.cores,
            "machine_busy": round(sum(self.seconds.values()) / (self.cores * self.wall_seconds), 3),
        }
        if self.unmeasured:
            found["unmeasured"] = list(self.unmeasured)
        # Without the broker or the database (or with a part lost) the sum says too little.
        elif {"kafka", "postgres"} <= self.seconds.keys():
            found["cpu_bound_ceiling_events_per_s"] = round(self.ceiling)
        return found


class Meter:
    """Reads every part at the start and at the end of a stretch."""

    def __init__(self, parts: Mapping[str, Reading]) -> None:
        self.parts = dict(parts)
        self._cpus = usable_cpus()
        self.cores = len(self._cpus) if self._cpus else (os.cpu_count() or 1)
        self._start: dict[str, float | None] = {}

    def _read(self) -> dict[str, float | None]:
        return {MACHINE: machine_seconds(self._cpus), **{name: read() for name, read in self.parts.items()}}

    def start(self) -> None:
        self._start = self._read()

    def stop(self, events: int, wall_seconds: float) -> Usage:
        end = self._read()
        spent, unmeasured = {}, []
        for name, began in self._start.items():
            ended = end.get(name)
            if began is None or ended is None:  # never there, or gone (a service that died)
                unmeasured.append(name)
            else:
                spent[name] = ended - began
        machine = spent.pop(MACHINE, None)
        if machine is not None:
            spent[OTHER] = max(0.0, machine - sum(spent.values()))
        return Usage(spent, events, wall_seconds, self.cores, tuple(sorted(unmeasured)))
