"""The services' garbage-collector setting."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared import gc_tuning
from shared.settings import Settings


@pytest.fixture
def restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tune_raises_the_youngest_threshold_and_freezes_what_exists(restored: None) -> None:
    _, gen1, gen2 = gc.get_threshold()
    gc_tuning.tune(50_000)
    assert gc.get_threshold() == (50_000, gen1, gen2)
    assert gc.get_freeze_count() > 0


def test_zero_leaves_the_collector_alone(restored: None) -> None:
    before = gc.get_threshold()
    gc_tuning.tune(0)
    assert gc.get_threshold() == before


def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWBACK_GC_THRESHOLD", "0")
    assert Settings().gc_threshold == 0
    monkeypatch.delenv("FOLLOWBACK_GC_THRESHOLD")
    assert Settings().gc_threshold == 50_000


def test_paused_turns_the_collector_off_for_the_work_and_back_as_it_was() -> None:
    assert gc.isenabled()
    with gc_tuning.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_tuning.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # it was off: it stays off
    finally:
        gc.enable()
    with pytest.raises(RuntimeError), gc_tuning.paused():
        raise RuntimeError("the work failed")
    assert gc.isenabled()
