"""Replay on several processes: the log dealt by follower, and the same decisions as one process."""

from __future__ import annotations

import json
import zlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from followback import replay, replay_workers, sample
from followback.eventlog import Record, Window
from followback.replay import recompute
from services.churn.patterns import ChurnRules
from services.churn.rules import InMemory
from services.scorer.scoring import ScoringRules
from shared.accounts import AccountConfig, VersionedConfig
from shared.events import Event, EventType
from shared.relationships import Annotation

ACCOUNTS = ("brand", "brand_eu", "brand_us")
START = datetime(2026, 1, 5, tzinfo=UTC)


def dump(event: Event) -> bytes:
    return event.model_dump_json().encode()


@pytest.fixture(scope="module")
def log() -> list[bytes]:
    """A realistic log of three brand accounts (cross-account churners among them), with what a
    real topic holds besides: repeated events, records that are not events, an event id reused
    by another follower, and events in other JSON spellings."""
    events = sample.generate(followers=2500, accounts=ACCOUNTS, seed=11)
    raws = [dump(e) for e in events]
    raws.insert(100, b'{"not": "an event"}')
    raws.insert(200, b"not json at all")
    raws += raws[300:340]  # delivered again, later in the log
    # A new follower's event under an id already used, later in the log and in event time: the
    # first copy is the one folded, so it changes nothing (replayed apart from the first, it would be
    # a decision of its own).
    stranger = events[500].follower.model_copy(update={"id": "9999"})
    reused = events[500].model_copy(update={"event_id": events[40].event_id, "follower": stranger})
    raws.insert(600, dump(reused))
    # The same events spelled otherwise: spaces, keys in another order, numbers as ids.
    for event in events[1000:1040]:
        data = json.loads(dump(event))
        raws.append(json.dumps(dict(reversed(data.items()))).encode())
    return raws


def note(heard: list[tuple[int, int]], done: int, total: int) -> None:
    """A progress listener that keeps what it hears."""
    heard.append((done, total))


def parsed(raws: list[bytes]) -> list[Record]:
    records = []
    for raw in raws:
        try:
            records.append(Record(Event.model_validate_json(raw), raw))
        except ValueError:
            continue
    return records


@pytest.mark.parametrize(
    "raw",
    [
        b'{"event_id":"e1","type":"follow","follower":{"id":"f1"}}',
        b'{"event_id": "e1", "follower": {"id": "f1", "screen_name": "x"}}',
        b'{"follower":{"screen_name":"x","id":"f1"},"event_id":"e1"}',
        b'{"event_id":"e1","follower":{"id":"f0","id":"f1"}}',  # the last one counts
        b'{"event_id":"e1","follower":{"id":"decoy"},"follower":{"id":"f1"}}',
        b'{"event_id":"e1","follo\\u0077er":{"id":"f1"},"x":{"follower":{"id":"decoy"}}}',
        b'{"event_id":"e1","follower":{"id":"f\\u0031"}}',
    ],
)
def test_identify_reads_the_ids_a_parser_reads(raw: bytes) -> None:
    assert replay_workers.identify(raw) == (b"e1", b"f1")


def test_identify_reads_numbers_as_the_event_model_coerces_them() -> None:
    event = sample.generate(followers=1, seed=3)[0]
    data = json.loads(dump(event))
    data["follower"]["id"], data["event_id"] = 1234, 1e3
    raw = json.dumps(data).encode()
    parsed = Event.model_validate_json(raw)
    assert replay_workers.identify(raw) == (parsed.event_id.encode(), parsed.follower.id.encode())
    assert replay_workers.identify(b"[1, 2]") is None
    assert replay_workers.identify(b"\xff") is None


def test_the_dealer_puts_each_follower_in_one_shard_in_log_order(log: list[bytes]) -> None:
    dealer = replay_workers.Dealer(8)
    dealer.extend(log)
    assert dealer.count == len(log)
    shards_of: dict[str, set[int]] = defaultdict(set)
    seen = []
    for shard, (raws, seqs) in enumerate(zip(dealer.raws, dealer.seqs, strict=True)):
        assert seqs == sorted(seqs)
        for raw, seq in zip(raws, seqs, strict=True):
            assert log[seq] == raw
            seen.append(seq)
            try:
                shards_of[Event.model_validate_json(raw).follower.id].add(shard)
            except ValueError:
                continue
    assert sorted(seen) == list(range(len(log)))
    assert all(len(shards) == 1 for shards in shards_of.values())
    assert len({s for shards in shards_of.values() for s in shards}) == 8


def test_followers_sharing_an_event_id_are_replayed_in_one_task(log: list[bytes]) -> None:
    dealer = replay_workers.Dealer(8)
    dealer.extend(log)
    tasks = dealer.tasks(at_least=8)
    assert len(tasks) < 8  # the reused id joined two buckets
    task_of = {}
    for task, (raws, seqs) in enumerate(tasks):
        assert seqs == sorted(seqs)
        for raw in raws:
            found = replay_workers.identify(raw)
            if found:
                assert task_of.setdefault(found[0], task) == task


@pytest.mark.parametrize("buckets", [1, 8, 256])
def test_the_dealer_knows_each_copy_by_its_id_and_follower(log: list[bytes], buckets: int) -> None:
    """What the record is asked about (which copy of an id the detector kept) and what the log
    read holds of a recorded decision: an id's copy under another follower is no copy of it."""
    dealer = replay_workers.Dealer(buckets)
    dealer.extend(log)
    events = [r.event for r in parsed(log)]
    reused = next(e for e in events if e.follower.id == "9999")
    first = next(e for e in events if e.event_id == reused.event_id and e.follower.id != "9999")
    assert dealer.holds(reused.event_id, "9999")
    assert dealer.holds(first.event_id, first.follower.id)
    assert not dealer.holds(reused.event_id, "someone else")
    assert not dealer.holds("no such id", "9999")
    copies = {(e.event_id, *replay.copy_of(e)) for e in events if e.event_id == reused.event_id}
    assert {c[1] for c in copies} == {first.follower.id, "9999"}
    assert sorted(dealer.copies()) == sorted(copies)  # each copy with its account and time
    assert dealer.shared() == {reused.event_id}
    every = list(dealer.copies(every_id=True))
    assert sorted(every) == sorted((e.event_id, *replay.copy_of(e)) for e in events)


@pytest.mark.parametrize("from_file", [False, True])
def test_records_with_ids_no_event_can_have_are_not_asked_about_and_stop_nothing(from_file: bool) -> None:
    """An id that is not text, or that no event can have (the event model's pattern), is no copy to
    ask the detector's record about: the record is skipped as not an event, the replay goes on."""
    follow = sample.generate(followers=10, seed=3)[0]
    damaged = [
        dump(follow).replace(follow.event_id.encode(), follow.event_id.encode() + b"\xff"),
        dump(follow).replace(follow.event_id.encode(), follow.event_id.encode() + b"\\ud800"),
        dump(follow).replace(follow.event_id.encode(), b"has space"),
    ]
    dealer = replay_workers.Dealer()
    dealer.extend([dump(follow), *damaged])
    assert list(dealer.copies(every_id=True)) == [(follow.event_id, *replay.copy_of(follow))]
    assert dealer.shared() == set()
    job = replay_workers.Job(Window(), ScoringRules(), replay.Configs({}), ChurnRules(), None)
    report = replay_workers.replay(dealer, job, None, from_file=from_file).report
    assert (report.events_read, report.decisions_recomputed) == (1, 1)
    assert any(w.startswith("3 record(s) of the log read are not events") for w in report.warnings)


def test_tasks_hold_whole_followers_in_log_order_and_no_more_than_the_bound(log: list[bytes]) -> None:
    dealer = replay_workers.Dealer()
    dealer.extend(log)
    tasks = dealer.tasks(at_least=2, most=300)
    assert len(tasks) >= len(log) / 300
    assert all(len(raws) <= 300 for raws, _ in tasks)
    assert sorted(seq for _, seqs in tasks for seq in seqs) == list(range(len(log)))
    task_of: dict[bytes, int] = {}
    for task, (raws, seqs) in enumerate(tasks):
        assert seqs == sorted(seqs)
        assert raws == [log[seq] for seq in seqs]
        for raw in raws:
            found = replay_workers.identify(raw)
            if found:
                assert task_of.setdefault(found[1], task) == task  # a follower is in one task
    # Without a bound, about half the log each.
    halves = dealer.tasks(at_least=2)
    assert len(halves) in (2, 3)
    assert all(len(raws) <= -(-len(log) // 2) for raws, _ in halves)


def one_process(records: list[Record], window: Window, brands: dict[str, VersionedConfig]) -> list[tuple]:
    """What the single-process replay decides in the window, in its order."""
    _, in_window, decided = recompute(records, window, ScoringRules(), brands, ChurnRules())
    return [
        (
            event_id,
            decided[event_id].account_id,
            decided[event_id].follower_id,
            (decided[event_id].decision_class.value, round(decided[event_id].score, 2)),
            tuple(sorted(r.signal for r in decided[event_id].reasons)),
        )
        for event_id in in_window
        if event_id in decided
    ]


def one_process_window(records: list[Record], window: Window) -> list[str]:
    return recompute(records, window, ScoringRules(), {}, ChurnRules())[1]


WINDOWS = [
    Window(),
    Window(since=START + timedelta(days=6)),
    Window(since=START + timedelta(days=3), until=START + timedelta(days=9)),
    Window(account="brand_eu"),
]


@pytest.mark.parametrize(("workers", "most_per_task"), [(0, 400), (2, None), (3, None), (2, 400)])
def test_any_number_of_workers_and_tasks_decides_exactly_as_one_process(
    log: list[bytes], workers: int, most_per_task: int | None
) -> None:
    """0 workers: in this process, task after task."""
    records = parsed(log)
    coffee = AccountConfig(topics=["coffee"], high_value_threshold=60)
    brands = {"brand": VersionedConfig(account_id="brand", version=2, config=coffee)}
    with replay_workers.pool(workers) as processes:
        for window in WINDOWS:
            expected = one_process(records, window, brands)
            dealer = replay_workers.Dealer()
            dealer.extend(log)
            # Compared with no recorded decision, every recomputed decision is a difference.
            job = replay_workers.Job(window, ScoringRules(), replay.Configs(brands), ChurnRules(), None)
            before = processes.folded.value if processes else 0
            heard = list[tuple[int, int]]()
            replayed = replay_workers.replay(dealer, job, processes, partial(note, heard), most_per_task)
            # Every worker counted what it folded, and the progress ended at everything dealt.
            if processes:
                assert processes.folded.value - before == len(records)
            assert heard[-1] == (len(log), len(log))
            assert [done for done, _ in heard] == sorted(done for done, _ in heard)
            if most_per_task:
                assert replayed.tasks >= len(log) / most_per_task
            else:
                assert replayed.tasks >= workers
            found = replayed.report
            assert found.events_read == len(records)
            assert found.events_in_window == len(one_process_window(records, window))
            assert found.decisions_recomputed == len(expected) > 100
            got = [
                (d.event_id, d.account_id, d.follower_id, d.recomputed, d.reasons_changed)
                for d in found.differences
            ]
            assert got == expected


def test_replay_in_process_reports_its_progress_as_it_folds(log: list[bytes]) -> None:
    dealer = replay_workers.Dealer(1)
    dealer.extend(log)
    job = replay_workers.Job(Window(), ScoringRules(), replay.Configs({}), ChurnRules(), None)
    heard: list[tuple[int, int]] = []
    replay_workers.replay(dealer, job, None, partial(note, heard))
    valid = len(parsed(log))
    folded = len({r.event.event_id for r in parsed(log)})  # a repeated id is skipped, counted at the end
    steps = [(n, len(log)) for n in range(replay.PROGRESS_EVERY, folded + 1, replay.PROGRESS_EVERY)]
    assert len(steps) >= 2  # the log is long enough to hear of it before the end
    rest = [(valid, len(log))] if valid > steps[-1][0] else []
    assert heard == [*steps, *rest, (len(log), len(log))]


def annotations(records: list[Record]) -> dict[str, Annotation]:
    """The churn detector's fold over records in event-time order (log order breaks ties)."""
    churn, found = InMemory(ChurnRules()), {}
    for record in sorted(records, key=lambda r: r.event.occurred_at):
        found.setdefault(record.event.event_id, churn.fold(record.event))
    return found


def test_a_shards_churn_annotations_are_the_whole_logs(log: list[bytes]) -> None:
    """The premise: folded in event-time order, a follower's annotations do not depend on the
    other followers' events (the fold's clock). Dealt by account instead, they would."""
    records = parsed(log)
    whole = annotations(records)
    dealer = replay_workers.Dealer(8)
    dealer.extend(log)
    shards: dict[str, Annotation] = {}
    for raws, _ in dealer.tasks(at_least=8):
        shards.update(annotations(parsed(raws)))
    assert shards == whole

    by_account: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_account[record.event.account_id].append(record)
    apart: dict[str, Annotation] = {}
    for part in by_account.values():
        apart.update(annotations(part))
    assert apart.keys() == whole.keys()
    assert sum(apart[e].accounts_churned != whole[e].accounts_churned for e in whole) > 50


def test_one_followers_replay_folds_its_shard_alone_and_decides_as_the_whole_log_does(
    log: list[bytes],
) -> None:
    """``replay --follower``: the follower's shard, not the log, and what the whole log's replay
    decides for that follower, however tricky the follower: a cross-account churner, the owner of
    an event id reused later by another follower, and that other follower (its reused event is a
    repeat, as it is in the whole log)."""
    records = parsed(log)
    churners = defaultdict(set)
    for r in records:
        if r.event.type.value == "unfollow":
            churners[r.event.follower.id].add(r.event.account_id)
    crossing = next(f for f, accounts in churners.items() if len(accounts) > 1)
    owner = next(r.event.follower.id for r in records if r.event.event_id == records[40].event.event_id)
    brands = {
        "brand": VersionedConfig(account_id="brand", version=1, config=AccountConfig(topics=["coffee"]))
    }
    for follower in (crossing, owner, "9999"):
        for window in (Window(follower=follower), Window(since=START + timedelta(days=6), follower=follower)):
            expected = one_process(records, window, brands)
            dealer = replay_workers.Dealer()
            dealer.extend(log)
            job = replay_workers.Job(window, ScoringRules(), replay.Configs(brands), ChurnRules(), None)
            replayed = replay_workers.replay(dealer, job, None)
            found = replayed.report
            assert replayed.tasks == 1
            assert found.events_read < len(records) / 10  # its shard, not the whole log
            assert replayed.dealt == len(log)
            assert found.events_in_window == len(one_process_window(records, window))
            assert {d.follower_id for d in found.differences} <= {follower}
            got = [
                (d.event_id, d.account_id, d.follower_id, d.recomputed, d.reasons_changed)
                for d in found.differences
            ]
            assert got == expected
    # The reused id's second follower decides nothing: its one event repeats an id folded before.
    assert one_process(records, Window(follower="9999"), brands) == []
    assert one_process(records, Window(follower=crossing), brands)


def bucket(follower: str) -> int:
    return zlib.crc32(follower.encode()) % replay_workers.BUCKETS


def test_one_followers_replay_warns_of_the_log_not_of_its_shard(log: list[bytes]) -> None:
    """The shard alone would say the log has no history before --since for a follower who came
    later; a follower the log does not have is named; records that are not events are counted in
    the shard that was parsed, and said to be."""
    records = parsed(log)
    since = START + timedelta(days=6)
    first: dict[str, datetime] = {}
    for r in records:
        first[r.event.follower.id] = min(
            first.get(r.event.follower.id, r.event.occurred_at), r.event.occurred_at
        )
    newcomer = next(f for f, at in first.items() if at >= since)
    job = partial(
        replay_workers.Job,
        rules=ScoringRules(),
        configs=replay.Configs({}),
        churn_rules=ChurnRules(),
        dsn=None,
    )

    def warnings(window: Window, raws: list[bytes]) -> list[str]:
        dealer = replay_workers.Dealer()
        dealer.extend(raws)
        return replay_workers.replay(dealer, job(window), None).report.warnings

    late = [
        r for r in log if b'"occurred_at"' in r and first[Event.model_validate_json(r).follower.id] >= since
    ]
    early = next(
        r.raw
        for r in records
        if r.event.occurred_at < since and bucket(r.event.follower.id) != bucket(newcomer)
    )
    # The newcomer's shard has nothing before --since in either log; only the second log has history.
    assert warnings(Window(since=since, follower=newcomer), [early, *late]) == []
    [missing] = warnings(Window(since=since, follower=newcomer), late)
    assert missing.startswith(f"no event before --since {since.isoformat()} in the log read")
    [unknown] = warnings(Window(follower="nobody"), log)
    assert unknown.startswith("no event of follower nobody in the log read")
    junk = replay_workers.Dealer()
    junk.extend(log)
    owner = next(f for f in first if junk.task_of(f)[0] and b"not json at all" in junk.task_of(f)[0])
    [strays] = warnings(Window(follower=owner), log)
    assert strays.startswith("2 record(s) of the follower's shard of the log are not events")


def test_a_retained_record_on_the_events_topic_is_no_event_and_takes_no_id_from_a_real_one() -> None:
    """The detector dead-letters a ``retained`` record found on the events topic (it is its own
    notice): it never took the id. Replay counts it as no event, so a real event of that id later
    in the log is folded and decided, as it was live."""
    follow = sample.generate(followers=100, seed=3)[0]
    notice = follow.model_copy(update={"type": EventType.RETAINED})
    dealer = replay_workers.Dealer()
    dealer.extend([dump(notice), dump(follow)])
    job = replay_workers.Job(Window(), ScoringRules(), replay.Configs({}), ChurnRules(), None)
    report = replay_workers.replay(dealer, job, None).report
    assert (report.events_read, report.decisions_recomputed) == (1, 1)
    assert [d.event_id for d in report.differences] == [follow.event_id]  # nothing recorded to compare
    assert any(w.startswith("1 record(s) of the log read are not events") for w in report.warnings)


def test_a_copy_read_off_a_raw_event_is_the_copy_its_parse_gives() -> None:
    """What the detector's record is asked about comes off the raw JSON where its shape allows, and
    from the event model otherwise: either way it is the copy the worker's parse gives (an offset
    other than Z, spaces, escapes, key order, a time to the microsecond, a number for an id)."""
    follow = sample.generate(followers=10, seed=3)[0]
    body = follow.model_dump(mode="json")
    body["follower"]["location"] = "Paris"  # ASCII: an escape (an accent) would take the parsed path
    shapes = [
        dump(follow),
        json.dumps(body, indent=2).encode(),
        json.dumps(dict(reversed(body.items()))).encode(),
        json.dumps({**body, "occurred_at": "2026-01-05T12:30:00.123456+02:00"}).encode(),
        json.dumps({**body, "occurred_at": "2026-01-05T10:30:00.5Z"}).encode(),
        json.dumps({**body, "account_id": "br\\u0061nd"}).encode().replace(b"\\\\u", b"\\u"),
        json.dumps({**body, "follower": {**body["follower"], "id": 4001}}).encode(),
    ]
    for raw in shapes:
        event = Event.model_validate_json(raw)
        expected = (event.event_id, event.follower.id, event.account_id, event.occurred_at)
        assert replay_workers.read_copy(raw) == expected, raw
    assert replay_workers.read_copy(b'{"event_id": "e1"}') is None
    # Times of the right shape that are no time: the model refuses them, so the copy is no copy
    # (a traceback that stopped every file replay holding one, before).
    for impossible in (
        "2026-02-30T00:00:00Z",
        "2026-01-05T24:00:00Z",
        "2026-01-05T23:59:60Z",
        "0000-01-05T10:00:00Z",
        "0001-01-01T00:30:00+01:00",  # a time, but in year 0 in UTC: asking about it crashed asyncpg
        "1969-12-31T23:59:59Z",  # times the event model refuses (shared.events.EARLIEST, LATEST)
        "9000-01-01T00:00:00Z",
    ):
        assert replay_workers.read_copy(json.dumps({**body, "occurred_at": impossible}).encode()) is None, (
            impossible
        )


def test_a_range_no_event_falls_in_is_said_so_and_not_taken_for_a_cut_history() -> None:
    """A mistyped year replayed to "0 differences" with no word that the range held nothing, or with
    the one warning that every relationship starts it as new (helper-75): an auditor read it as
    "today's rules decide the same"."""
    events = sample.generate(followers=200, accounts=ACCOUNTS, seed=11)
    first, last = events[0].occurred_at, events[-1].occurred_at

    def warnings(window: Window) -> list[str]:
        dealer = replay_workers.Dealer()
        dealer.extend([dump(e) for e in events])
        job = replay_workers.Job(window, ScoringRules(), replay.Configs({}), ChurnRules(), None)
        return replay_workers.replay(dealer, job, None).report.warnings

    span = f"(its events run from {first.isoformat()} to {last.isoformat()}); check --since and --until"
    since, until = first - timedelta(days=400), first - timedelta(days=399)
    assert warnings(Window(since=since, until=until)) == [
        f"no event in the log read falls in the range from {since.isoformat()} to {until.isoformat()}: "
        f"nothing was replayed {span}"
    ]
    since = last + timedelta(days=1)
    assert warnings(Window(since=since, account="brand_eu")) == [
        f"no event of account brand_eu in the log read falls in the range from {since.isoformat()} to the "
        f"end: nothing was replayed {span}"
    ]
    follower = events[0].follower.id
    assert warnings(Window(until=first, follower=follower)) == [
        f"no event of follower {follower} in the log read falls in the range from the start to "
        f"{first.isoformat()}: nothing was replayed; check --since and --until"
    ]
    # A range that holds events warns of none of this.
    assert not [w for w in warnings(Window(since=first, until=last)) if "falls in the range" in w]


def test_a_replay_counts_every_event_read_as_an_export_does_and_says_how_many_deletions_it_skipped() -> None:
    """A ``deleted`` event folds nothing (it erases a post's text), so replay skips it; but it is an
    event of the log, which ``followback log export`` counts: an auditor comparing the two counts
    finds them equal, and the deletions skipped said apart."""
    events = sample.generate(followers=100, seed=3)
    post = next(e for e in events if e.type is EventType.INTERACTION)
    deletion = post.model_copy(
        update={"event_id": "del-1", "type": EventType.DELETED, "interaction": None, "deletes": post.event_id}
    )
    dealer = replay_workers.Dealer()
    dealer.extend([dump(e) for e in [*events, deletion]])
    job = replay_workers.Job(Window(), ScoringRules(), replay.Configs({}), ChurnRules(), None)
    report = replay_workers.replay(dealer, job, None).report
    assert (report.events_read, report.deletions_skipped) == (len(events) + 1, 1)
    summary = report.summary()
    assert (summary["events_read"], summary["deletions_skipped"]) == (len(events) + 1, 1)
    assert not any("not events" in w for w in report.warnings)
