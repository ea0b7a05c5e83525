"""``shared.consuming.isolating``: a batch's effect that fails on one record every time is applied
to the rest, part by part, in order, and that record alone is rejected; any other failure is the
batch's to retry."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import pytest

from shared.consuming import AfterCommitError, after_commit, is_poison, isolating


class Effect:
    """Commits a part unless it holds a poisoned item (then nothing of the part is committed)."""

    def __init__(self, poisoned: set[str], error: Exception | None = None) -> None:
        self.poisoned, self.error = poisoned, error
        self.committed: list[str] = []
        self.calls = 0

    async def __call__(self, part: Sequence[str]) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error
        bad = [item for item in part if item in self.poisoned]
        if bad:
            raise OverflowError(f"date value out of range ({bad[0]})")
        self.committed.extend(part)


def run(items: list[str], effect: Effect) -> list[tuple[str, str]]:
    rejected: list[tuple[str, str]] = []

    async def reject(item: str, error: BaseException) -> None:
        rejected.append((item, str(error)))

    asyncio.run(isolating(items, effect, reject))
    return rejected


def test_a_batch_without_poison_is_one_effect() -> None:
    effect = Effect(set())
    assert run(list("abcdefgh"), effect) == []
    assert (effect.committed, effect.calls) == (list("abcdefgh"), 1)


@pytest.mark.parametrize("poisoned", [{"a"}, {"e"}, {"h"}, {"b", "g"}, {"c", "d"}])
def test_only_the_poisoned_records_are_rejected_and_the_rest_committed_in_order(poisoned: set[str]) -> None:
    items = list("abcdefgh")
    effect = Effect(poisoned)
    rejected = run(items, effect)
    assert [item for item, _ in rejected] == [i for i in items if i in poisoned]
    assert all(reason == f"date value out of range ({item})" for item, reason in rejected)
    assert effect.committed == [i for i in items if i not in poisoned]
    # Halving: one poisoned record of 8 costs the whole, then 2 parts a level (log2(8) = 3 levels).
    if len(poisoned) == 1:
        assert effect.calls == 1 + 2 * 3


def test_a_batch_failing_on_every_record_alone_is_the_codes_fault_and_waits_rejecting_none() -> None:
    """A regression, or a stored row that no longer reads, fails every record: dead-lettering them
    would empty the stream into the dead-letter topic; the batch waits instead, as for an outage."""
    effect = Effect(set("abc"))
    with pytest.raises(OverflowError, match=r"\(a\)"):  # the first record's error
        run(list("abc"), effect)
    assert effect.committed == []


def test_a_batch_of_one_that_fails_is_its_records_fault() -> None:
    effect = Effect({"a"})
    assert [item for item, _ in run(["a"], effect)] == ["a"]


def test_an_empty_batch_applies_nothing() -> None:
    effect = Effect(set(), OSError("never called"))
    assert run([], effect) == []
    assert effect.calls == 0


def test_an_outage_after_a_part_was_committed_propagates_and_the_part_stays() -> None:
    """Redelivered, the committed part is recognised by its ids; nothing is rejected meanwhile."""

    class Away(Effect):
        async def __call__(self, part: Sequence[str]) -> None:
            if list(part) == ["c", "d"]:
                raise ConnectionRefusedError("the database went away")
            await super().__call__(part)

    effect = Away({"b"})
    rejected: list[str] = []

    async def reject(item: str, error: BaseException) -> None:
        rejected.append(item)

    with pytest.raises(ConnectionRefusedError):
        asyncio.run(isolating(list("abcd"), effect, reject))
    assert effect.committed == ["a"]
    assert rejected == []  # ("b" is rejected on the redelivery that gets through)


def test_an_error_after_the_commit_is_not_a_records_fault() -> None:
    with (
        pytest.raises(AfterCommitError, match="after the commit: ValueError: boom") as raised,
        after_commit(),
    ):
        raise ValueError("boom")
    assert not is_poison(raised.value)


@pytest.mark.parametrize(
    "error",
    [
        OSError("connection refused"),
        TimeoutError(),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        RuntimeError("the broker is away"),
        asyncpg.ClientConfigurationError("a setting of the client's"),
        asyncpg.UniqueViolationError("another instance got there first"),  # (the scorer relies on it)
    ],
)
def test_an_outage_or_a_conflict_is_the_batchs_to_retry_whole(error: Exception) -> None:
    effect = Effect(set(), error)
    with pytest.raises(type(error)):
        run(list("abcd"), effect)
    assert (effect.committed, effect.calls) == ([], 1)  # nothing rejected, nothing split
    assert not is_poison(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.UntranslatableCharacterError("unsupported Unicode escape sequence"),
        asyncpg.exceptions.DataError("invalid input for query argument $1"),
        OverflowError("date value out of range"),
        ValueError("bad"),
        KeyError("missing"),
        TypeError("unsupported operand"),
        ZeroDivisionError(),
        asyncpg.ProgramLimitExceededError("index row requires 20016 bytes"),
    ],
)
def test_what_a_record_brings_about_itself_is_poison(error: Exception) -> None:
    assert is_poison(error)
