"""A replay of a range, or of one account, folds only the followers its decisions depend on, and
decides exactly as a replay from the start of the log does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from followback import replay, sample
from followback.eventlog import Record, Window
from followback.replay import needed, recompute
from services.churn.patterns import ChurnRules
from services.churn.rules import InMemory
from services.scorer.scoring import ScoringRules
from shared.decisions import Decision
from shared.events import Event, EventType, event_order
from tests.unit.test_replay_account import PROFILE

ACCOUNTS = ("brand", "brand_eu", "brand_us")
START = datetime(2026, 1, 5, tzinfo=UTC)
WINDOWS = [
    Window(since=START + timedelta(days=12)),
    Window(since=START + timedelta(days=4), until=START + timedelta(days=5)),
    Window(account="brand_eu"),
    Window(since=START + timedelta(days=10), account="brand"),
]


@pytest.fixture(scope="module")
def records() -> list[Record]:
    """Two weeks of three accounts' followers (cross-account churners among them)."""
    return [Record(e, b"") for e in sample.generate(followers=900, accounts=ACCOUNTS, seed=5, start=START)]


def decided(records: list[Record], window: Window) -> tuple[list[str], dict[str, Decision]]:
    _, in_window, decisions = recompute(records, window, ScoringRules(), {}, ChurnRules())
    return in_window, decisions


@pytest.mark.parametrize("window", WINDOWS, ids=str)
def test_a_range_folds_only_its_followers_and_decides_as_a_replay_from_the_start(
    records: list[Record], window: Window, monkeypatch: pytest.MonkeyPatch
) -> None:
    folds = []

    class Counting(InMemory):
        def fold(self, event: Event, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
            folds.append(event.follower.id)
            return super().fold(event, *args, **kwargs)

    monkeypatch.setattr(replay, "InMemory", Counting)
    in_window, decisions = decided(records, window)
    # Whose events were folded: those of the followers with an event in the window, and only those.
    inside = {r.event.follower.id for r in records if window.holds(r.event)}
    assert set(folds) == inside
    theirs = [r for r in records if r.event.follower.id in inside]
    assert len(folds) == sum(window.until is None or r.event.occurred_at < window.until for r in theirs)
    assert len(theirs) < len(records) / 2
    # The same decisions as a replay from the start of the log, which folds everyone.
    monkeypatch.setattr(replay, "InMemory", InMemory)
    _, from_start = decided(records, Window(until=window.until))
    assert in_window
    assert decisions
    assert in_window == [r.event.event_id for r in sorted(records, key=_order) if window.holds(r.event)]
    assert decisions == {event_id: from_start[event_id] for event_id in in_window if event_id in from_start}


def _order(record: Record) -> tuple[object, ...]:
    return event_order(record.event)


def _event(event_id: str, follower: str, kind: EventType, days: float, account: str = "brand") -> Record:
    profile = PROFILE.model_copy(update={"id": follower})
    at = START + timedelta(days=days)
    fields = {"type": kind, "platform": "x", "account_id": account, "occurred_at": at}
    return Record(Event(event_id=event_id, follower=profile, **fields), b"")


def test_of_an_id_under_two_followers_the_earliest_copy_is_folded_and_the_other_decides_nothing() -> None:
    """Two followers' copies of one id are on two partitions, whose arrival order the log does not
    keep: the copy earliest in event time is taken for the one the detector kept, wherever the log
    holds it. The other copy, in the range, is a repeat and decides nothing, and the first copy's
    follower, with no event in the range, need not be folded."""
    theirs = _event("shared", "b", EventType.FOLLOW, 2)  # b's, before the range
    ours = _event("shared", "a", EventType.UNFOLLOW, 12)  # a's, in the range: the same id, later
    log = [
        _event("a-1", "a", EventType.FOLLOW, 1),
        theirs,
        _event("b-1", "b", EventType.UNFOLLOW, 3),
        _event("c-1", "c", EventType.FOLLOW, 3),  # nobody's in the range: not folded
        ours,
        _event("a-2", "a", EventType.UNFOLLOW, 13),
    ]
    window = Window(since=START + timedelta(days=10))
    read_first = [*log[:1], ours, *log[2:4], theirs, log[5]]  # the partition of a read before b's
    for order in (log, read_first):
        assert [r.event.event_id for r in needed(replay.first_copies(order), window)] == ["a-1", "a-2"]
        in_window, decisions = decided(order, window)
        assert in_window == ["a-2"]  # "shared" is b's: a's is a repeat
        assert decisions == {"a-2": decided(order, Window())[1]["a-2"]}
        assert decisions["a-2"].decision_class.value == "withdrawn"


def test_of_an_id_under_two_followers_the_copy_the_detector_recorded_is_folded_whatever_its_time() -> None:
    """The detector's record names the follower whose copy it kept (the first to arrive): that
    copy is folded, even when the other is earlier in event time. An id it does not name keeps the
    earliest copy; one it names under a follower without a copy here (the log of one follower)
    folds none: live, the copies here were repeats."""
    theirs = _event("shared", "b", EventType.FOLLOW, 2)
    ours = _event("shared", "a", EventType.UNFOLLOW, 12)  # later in event time, but recorded first
    log = [_event("a-1", "a", EventType.FOLLOW, 1), theirs, ours, _event("c-1", "c", EventType.FOLLOW, 3)]
    assert replay.shared_ids(log) == ["shared"]

    third = _event("shared", "c", EventType.FOLLOW, 0.5)
    copy = {r.event.follower.id: replay.copy_of(r.event) for r in (theirs, ours, third)}
    nobody = replay.Copy("nobody", "brand", theirs.event.occurred_at)

    def kept(order: list[Record], recorded: dict[str, replay.Copy]) -> list[str]:
        return [
            r.event.follower.id for r in replay.first_copies(order, recorded) if r.event.event_id == "shared"
        ]

    for order in (log, [log[0], ours, theirs, log[3]]):
        assert kept(order, {"shared": copy["a"]}) == ["a"]
        _, in_window, decisions = recompute(
            order, Window(), ScoringRules(), {}, ChurnRules(), kept={"shared": copy["a"]}
        )
        assert in_window.count("shared") == 1
        assert (decisions["shared"].follower_id, decisions["shared"].decision_class.value) == (
            "a",
            "withdrawn",
        )
        assert kept(order, {"shared": copy["b"]}) == kept(order, {}) == ["b"]  # unnamed: the earliest, b's
        assert decided(order, Window())[1]["shared"].follower_id == "b"
        assert kept(order, {"shared": nobody}) == []
        in_window, _ = decided([r for r in order if r.event.follower.id == "a"], Window())
        assert "shared" in in_window
        alone = recompute(
            [r for r in order if r.event.follower.id == "a"], Window(), ScoringRules(), {}, ChurnRules(),
            kept={"shared": copy["b"]},
        )  # fmt: skip
        assert alone[1] == ["a-1"]  # a's copy was a repeat live: b's arrived first
    # Three followers' copies: the recorded one, wherever it is.
    for kept_by in ("a", "b", "c"):
        assert kept([*log, third], {"shared": copy[kept_by]}) == [kept_by]


def test_of_one_followers_copies_the_one_the_detector_kept_is_folded_though_the_log_read_lacks_it() -> None:
    """One follower's copies of an id on two accounts, or at two times: live, the first to arrive
    was folded and the other was a repeat. A log read without that first copy (an export of the
    other account, or up to a time before it) holds only the repeat: replay folds none, as the
    detector's record (``kept``) says, where it used to fold the repeat (helper-34: a recorded
    decision on one account, a churner recomputed on the other, no warning). The id counts as
    absent (:func:`replay.absent_copies`): the recorded decision rests on an event the log read
    lacks. The copy is known by its account and time too, not by its follower alone."""
    first = _event("x", "a", EventType.FOLLOW, 11, account="b2")  # kept: it arrived first
    again = _event("x", "a", EventType.UNFOLLOW, 11.5, account="b1")  # the same id, later, on b1
    follow = _event("a-1", "a", EventType.FOLLOW, 10, account="b1")
    kept = {"x": replay.copy_of(first.event)}
    whole = [follow, first, again]
    assert replay.first_copies(whole, kept) == [follow, first]
    assert replay.absent_copies(whole, kept) == set()
    one_account = [follow, again]
    assert [r.event.event_id for r in replay.first_copies(one_account, kept)] == ["a-1"]
    assert replay.absent_copies(one_account, kept) == {"x"}
    _, in_window, decisions = recompute(one_account, Window(), ScoringRules(), {}, ChurnRules(), kept=kept)
    assert in_window == ["a-1"]
    assert decisions["a-1"].decision_class.value != "withdrawn"  # the repeat's unfollow was not folded
    # The same account, another time: the copy is told by its time.
    later = _event("x", "a", EventType.UNFOLLOW, 13, account="b2")
    assert replay.first_copies([follow, later], kept) == [follow]
    assert replay.first_copies([follow, later, first], kept) == [follow, first]


def test_a_copy_of_an_id_logged_later_with_an_earlier_time_is_a_repeat_as_the_detector_has_it() -> None:
    """An event id sent again, saying another time (earlier): live, the detector folded the copy
    that arrived first and skipped the other. So does replay, though the later copy comes first in
    event time; before, replay folded that one and reported the first copy's decision as gone."""
    log = [
        _event("a-1", "a", EventType.FOLLOW, 1),
        _event("dup", "a", EventType.FOLLOW, 5),  # arrived first
        _event("dup", "a", EventType.UNFOLLOW, 4.5),  # arrived second, half a day earlier in event time
    ]
    for window in (Window(), Window(since=START + timedelta(days=3)), Window(follower="a")):
        in_window, decisions = decided(log, window)
        assert in_window.count("dup") == 1
        assert "dup" not in decisions  # the follow again: the same as a-1's decision, nothing new
        stood: dict[str, Decision] = {}
        recompute(log, window, ScoringRules(), {}, ChurnRules(), stood=stood)
        assert stood["dup"].decision_class.value != "withdrawn"  # still following, not left
    # The copy that arrived second decides nothing even when it is the only one in the range.
    assert decided(log, Window(until=START + timedelta(days=4, hours=18)))[0] == ["a-1"]
