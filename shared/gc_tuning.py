"""The garbage collector tuned for allocation-heavy event processing.

Each event allocates hundreds of short-lived objects (parsed models, reasons, annotations), which
reference counting frees at once. With CPython's default generation-0 threshold (700 allocations)
the cyclic collector runs every few events and, more costly, keeps promoting and re-walking the
long-lived objects (imported modules, models, caches, replay's whole log). Freezing what exists at
start-up and raising the threshold cut the CPU per event of replay by about a quarter (see the
README's Performance section) without a measurable change in memory: nearly nothing of ours is
cyclic garbage.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def tune(gen0_threshold: int) -> None:
    """Move everything allocated so far out of the collector's sight and collect generation 0 only
    every ``gen0_threshold`` net allocations (0: leave Python's defaults)."""
    if gen0_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)


@contextmanager
def paused() -> Iterator[None]:
    """The cyclic collector off for a bounded piece of work (a replay shard). Reference counting
    frees what the work allocates as it goes; with the collector on, each collection walked the
    work's own long-lived state (the parsed shard, every relationship's fold) again, about 15 % of
    a replay worker's CPU. The rare cycle left behind is collected once the collector is back."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
