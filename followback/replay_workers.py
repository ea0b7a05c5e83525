"""``followback replay`` on every core: the log sharded by follower, each shard replayed in a worker.

The main process only reads raw bytes and deals them out, by follower, into buckets (and asks the
database once which copy of an id reused by another follower the detector kept: :func:`kept_of`);
the buckets are packed into shards (tasks) of at most ``FOLLOWBACK_REPLAY__TASK_EVENTS`` events,
several per worker, and the workers parse, fold, score and compare. A worker holds one shard at a
time, so its memory is bounded by that setting however long the log; the main process keeps the
raw bytes.
Why a shard replays exactly as the whole log does:

- the churn fold keeps its state per follower (cross-account churn is within one follower's
  relationships), and with events folded in event-time order nothing is ever late, so an annotation
  does not depend on the other followers' events (their clock);
- scoring depends only on the relationship's previous decision;
- a repeated event id is skipped: the events sharing an id are always in one shard (a follower's
  events are; when one id appears under two followers, their buckets go into one shard, and which
  copy the detector kept is read from the database once, before the shards, for all of them);
- each shard keeps the log's order among its own events, so the detector's order (event time,
  type, id) sorts them as the whole log's sort would, and the differences, merged by that order and
  log position, come out in the single process's order;
- replaying as recorded, a relationship's configuration comes from its own recorded decisions.

``tests/integration/test_replay.py`` checks that any number of workers gives the single process's
report, and ``tests/unit/test_replay_shards.py`` the dealing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import islice
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import ValidationError

from followback.eventlog import Record, Window, raw_from_file, raw_from_kafka
from followback.replay import (
    Arrivals,
    Asked,
    Configs,
    Copy,
    Difference,
    Made,
    Recorded,
    ReplayReport,
    absent_copies,
    at_one_instant,
    caveats,
    compare,
    first_events,
    history_cut,
    kept_copies,
    look_up,
    marked_out_of_order,
    out_of_order_arrivals,
    recompute,
    recorded_unread,
)
from services.churn.patterns import ChurnRules
from services.scorer.app import rules_from
from services.scorer.scoring import ScoringRules, split_label
from shared import gc_tuning
from shared.decisions import Decision
from shared.erasures import erased_followers
from shared.events import EARLIEST, LATEST, Event, EventType, event_order
from shared.settings import Settings

BUCKETS = 256  # followers are dealt into this many buckets, packed into tasks for the workers
TASKS_PER_WORKER = 4  # more tasks than workers: a worker that finishes early takes the next one
PROGRESS_SECONDS = 0.25  # how often the workers' count is read for the progress bar
WORKERS_PER_CPU = 4  # at most this many worker processes per CPU (beyond one, they gain nothing)
KEPT_ASKED = 50_000  # copies of ids asked about in one query of the detector's record

# The common shape (what the producers write): no \u escape anywhere (so every key is spelled out),
# each of the three keys exactly once, no escape in either id. Anything else is read with a JSON
# parser, then with the event model itself: the ids are always the ones the worker will parse.
_EVENT_ID = re.compile(rb'"event_id"[ \t\r\n]*:[ \t\r\n]*"([^"\\]*)"')
_OCCURRED_AT = re.compile(rb'"occurred_at"[ \t\r\n]*:[ \t\r\n]*"([^"\\]*)"')
_COPY_KEYS = (b'"event_id"', b'"follower"', b'"id"', b'"account_id"', b'"occurred_at"')
_ACCOUNT_ID = re.compile(rb'"account_id"[ \t\r\n]*:[ \t\r\n]*"([^"\\]*)"')
# A time read off the raw JSON only when it is certain to read as the event model reads it.
_RFC3339 = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)")
_FOLLOWER_ID = re.compile(rb'"follower"[ \t\r\n]*:[ \t\r\n]*\{[ \t\r\n]*"id"[ \t\r\n]*:[ \t\r\n]*"([^"\\]*)"')


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def identify(raw: bytes) -> tuple[bytes, bytes] | None:
    """The event id and follower id of a raw event, as parsing it would give them (None: not an event)."""
    if (
        raw.count(b'"event_id"') == 1
        and raw.count(b'"follower"') == 1
        and raw.count(b'"id"') == 1
        and b"\\u" not in raw
    ):
        event_id, follower = _EVENT_ID.search(raw), _FOLLOWER_ID.search(raw)
        if event_id is not None and follower is not None:
            return event_id.group(1), follower.group(1)
    try:
        data = json.loads(raw)
        found = data["event_id"], data["follower"]["id"]
        if all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in found):
            return _bytes(str(found[0])), _bytes(str(found[1]))
    except (ValueError, TypeError, KeyError, RecursionError):
        pass
    try:  # the rare shapes the JSON parser reads otherwise (or not at all)
        event = Event.model_validate_json(raw)
    except ValidationError:
        return None
    return _bytes(event.event_id), _bytes(event.follower.id)


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


_ID = re.compile(rb"[A-Za-z0-9_.:-]{1,64}")  # what an event's ids may be (shared.events.Id)


def read_copy(raw: bytes) -> Asked | None:
    """The event id, follower, account and time of a raw event (the copy the detector's record is
    asked about: :func:`followback.replay.kept_copies`), read off its JSON where its shape is the
    common one (each key once, no escape, a strict RFC 3339 time), else parsed; None: not an event
    (or ids no event can have). Only ever asked for the copies the record must be asked about:
    every one of an exported file, those of ids under several followers on a topic."""
    if b"\\u" not in raw and all(raw.count(key) == 1 for key in _COPY_KEYS):
        e, f, a, t = (pattern.search(raw) for pattern in (_EVENT_ID, _FOLLOWER_ID, _ACCOUNT_ID, _OCCURRED_AT))
        if e and f and a and t and all(_ID.fullmatch(m[1]) for m in (e, f, a)) and _RFC3339.fullmatch(t[1]):
            try:
                at = datetime.fromisoformat(t[1].decode())
            except ValueError:
                pass  # a day, hour or offset out of range (February 30th): the model refuses it too
            else:
                if EARLIEST <= at < LATEST:  # (else the model refuses it: not an event)
                    return e[1].decode("ascii"), f[1].decode("ascii"), a[1].decode("ascii"), at
    try:
        event = Event.model_validate_json(raw)
    except ValidationError:
        return None  # (its worker skips it too)
    return event.event_id, event.follower.id, event.account_id, event.occurred_at


def _copies(raws: Iterable[bytes], every_id: bool) -> Iterator[Asked]:
    """The copies of these raw events to ask the detector's record about: of the ids under
    several followers, or, with ``every_id``, of every id (streamed: a file's every copy is
    never held at once)."""
    found = (copy for raw in raws if (copy := read_copy(raw)) is not None)
    if every_id:
        yield from found
        return
    copies = list(dict.fromkeys(found))
    followers = _followers_of(copies)
    yield from (copy for copy in copies if len(followers[copy[0]]) > 1)


def _followers_of(copies: Iterable[Asked]) -> dict[str, set[str]]:
    """Event id -> the followers with a copy of it."""
    followers: dict[str, set[str]] = {}
    for event_id, follower, _, _ in copies:
        followers.setdefault(event_id, set()).add(follower)
    return followers


class Dealer:
    """Deals raw events into ``buckets`` by follower, keeping each event's position in the log;
    :meth:`tasks` packs the buckets into the tasks the workers replay."""

    def __init__(self, buckets: int = BUCKETS) -> None:
        self.buckets = buckets
        self.raws: list[list[bytes]] = [[] for _ in range(buckets)]
        self.seqs: list[list[int]] = [[] for _ in range(buckets)]
        self.count = 0
        self._owner: dict[bytes, bytes] = {}  # event id -> the follower of its first copy
        self._others: dict[bytes, set[bytes]] = {}  # event id -> the other followers with a copy
        self._names: dict[bytes, bytes] = {}  # each follower id once (a follower has many events)
        self._joined = list(range(buckets))  # bucket -> the bucket it is merged into (union-find)

    def add(self, raw: bytes) -> None:
        if self.buckets == 1:  # nothing to deal
            self.raws[0].append(raw)
            self.seqs[0].append(self.count)
            self.count += 1
            return
        found = identify(raw)
        if found is None:
            bucket = 0  # not an event: its worker skips it
        else:
            event_id, follower = found
            follower = self._names.setdefault(follower, follower)
            bucket = zlib.crc32(follower) % self.buckets
            first = self._owner.setdefault(event_id, follower)
            if first != follower:  # one id under two followers: one task replays both, as one process would
                self._others.setdefault(event_id, set()).add(follower)
                self._join(zlib.crc32(first) % self.buckets, bucket)
        self.raws[bucket].append(raw)
        self.seqs[bucket].append(self.count)
        self.count += 1

    def extend(self, raws: Iterable[bytes]) -> None:
        for raw in raws:
            self.add(raw)

    def _root(self, bucket: int) -> int:
        while self._joined[bucket] != bucket:
            bucket = self._joined[bucket]
        return bucket

    def _join(self, a: int, b: int) -> None:
        a, b = self._root(a), self._root(b)
        if a != b:
            self._joined[max(a, b)] = min(a, b)

    def tasks(self, at_least: int = 1, most: int | None = None) -> list[tuple[list[bytes], list[int]]]:
        """The buckets packed into tasks, each task's raw events and their log positions in log
        order, largest first. Buckets joined by a shared event id stay in one task. A task holds
        about ``1 / at_least`` of the log and at most ``most`` events (the bound on a worker's
        memory), unless joined buckets alone hold more."""
        members: dict[int, list[int]] = {}
        for bucket in range(self.buckets):
            if self.seqs[bucket]:
                members.setdefault(self._root(bucket), []).append(bucket)
        size = max(1, -(-self.count // max(1, at_least)))  # ceil(count / at_least)
        if most is not None:
            size = min(size, most)
        sized = [(sum(len(self.seqs[n]) for n in joined), joined) for joined in members.values()]
        packed: list[list[int]] = []
        room: list[int] = []
        for events, joined in sorted(sized, key=lambda c: -c[0]):
            # The fullest task it fits in (the components come largest first, so this packs tightly).
            fits = [t for t, left in enumerate(room) if left >= events]
            if fits:
                task = min(fits, key=room.__getitem__)
                packed[task] += joined
                room[task] -= events
            else:
                packed.append(list(joined))
                room.append(size - events)
        found = [self._merged(buckets) for buckets in packed]
        return sorted(found, key=lambda task: -len(task[0]))

    def any_before(self, when: datetime) -> bool:
        """Whether any record dealt is an event before ``when`` (its ``occurred_at`` read off the raw
        JSON, without parsing the rest): with one follower's shard replayed, whether the log read
        has history before ``--since``. A log is mostly in event-time order, so this stops early."""
        for raws in self.raws:
            for raw in raws:
                found = _OCCURRED_AT.search(raw)
                if found is None:
                    continue
                try:
                    at = datetime.fromisoformat(found.group(1).decode())
                except (ValueError, UnicodeDecodeError):
                    continue
                if at.tzinfo is not None and at < when:
                    return True
        return False

    def any_event(self) -> bool:
        """Whether any record dealt is an event (as :func:`identify` reads it)."""
        if self.buckets > 1:
            return bool(self._owner)  # (every event's id is there)
        return any(identify(raw) is not None for raw in self.raws[0])

    def holds(self, event_id: str, follower: str) -> bool:
        """Whether a record dealt is an event of this id and follower (as :func:`identify` reads them)."""
        wanted = (_bytes(event_id), _bytes(follower))
        if self.buckets > 1:
            return self._owner.get(wanted[0]) == wanted[1] or wanted[1] in self._others.get(wanted[0], ())
        return any(identify(raw) == wanted for raw in self.raws[0])

    def copies(self, every_id: bool = False) -> Iterator[Asked]:
        """The copies dealt (:func:`read_copy`) of the ids under several followers, or, with
        ``every_id``, of every id (:func:`followback.replay.kept_copies` asks about them); only
        ids an event can have (a record with another is skipped by the workers)."""
        if self.buckets == 1 or every_id:
            yield from _copies((raw for bucket in self.raws for raw in bucket), every_id)
            return
        if not self._others:
            return  # (the common case: no id under two followers, nothing to read again)
        # Only the buckets that hold them: an id's copies are in buckets joined into one.
        roots = {self._root(zlib.crc32(self._owner[event_id]) % self.buckets) for event_id in self._others}
        shared = self._others.keys()
        raws = (raw for n in range(self.buckets) if self._root(n) in roots for raw in self.raws[n])
        yield from _copies(
            (raw for raw in raws if (id_ := identify(raw)) and id_[0] in shared), every_id=True
        )

    def shared(self) -> set[str]:
        """The ids dealt under several followers (of events; only ids an event can have)."""
        if self.buckets == 1:
            return {event_id for event_id, *_ in self.copies()}
        found = set()
        for event_id, others in self._others.items():
            followers = [f for f in (self._owner[event_id], *others) if _ID.fullmatch(f)]
            if _ID.fullmatch(event_id) and len(followers) > 1:
                found.add(event_id.decode("ascii"))
        return found

    def task_of(self, follower: str) -> tuple[list[bytes], list[int]]:
        """The one task that replays ``follower`` exactly: its bucket, with every bucket joined to it
        by a shared event id (``followback replay --follower``: a small part of the log, the rest
        unparsed)."""
        if self.buckets == 1:
            return self.raws[0], self.seqs[0]
        root = self._root(zlib.crc32(_bytes(follower)) % self.buckets)
        return self._merged([n for n in range(self.buckets) if self.seqs[n] and self._root(n) == root])

    def _merged(self, buckets: list[int]) -> tuple[list[bytes], list[int]]:
        """The buckets' events as one list in log order (each bucket is in log order already)."""
        if len(buckets) == 1:
            return self.raws[buckets[0]], self.seqs[buckets[0]]
        if not buckets:
            return [], []
        raws = [raw for n in buckets for raw in self.raws[n]]
        seqs = [seq for n in buckets for seq in self.seqs[n]]
        order = sorted(range(len(seqs)), key=seqs.__getitem__)
        return [raws[i] for i in order], [seqs[i] for i in order]


@dataclass(frozen=True)
class Job:
    """What every shard replays with (sent to each task)."""

    window: Window
    rules: ScoringRules
    configs: Configs
    churn_rules: ChurnRules
    dsn: str | None  # the database with the recorded decisions (None: compare with nothing)
    # When the read of the log began, by the database's clock (None: unknown): a decision recorded
    # since may rest on an event that reached the log after the read.
    read_began: datetime | None = None
    # Of each repeated id the log read cannot tell about, the copy the detector kept (:func:`kept_of`).
    kept: Mapping[str, Copy] = field(default_factory=dict)


Place = tuple[datetime, int, str, int]  # the detector's order (event time, type, id), log position


@dataclass
class ShardResult:
    read: int = 0
    in_window: int = 0
    recomputed: int = 0
    recorded: int = 0
    # Each difference with its event's place in the whole log's replay order.
    differences: list[tuple[Place, Difference]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # parse, fold, compare: where time went
    earliest: datetime | None = None  # the shard's earliest event time
    latest: datetime | None = None  # and its latest
    # The accounts of its events (of the window's account and follower), and up to two of their
    # followers: what the log read holds, to look for recorded decisions it does not.
    accounts: set[str] = field(default_factory=set)
    followers: set[str] = field(default_factory=set)
    every_account: set[str] = field(default_factory=set)  # of all its events
    not_events: int = 0  # records that did not parse as events (skipped)
    deletions: int = 0  # ``deleted`` events (among those read): skipped, they fold nothing
    about: int = 0  # events of the account and follower asked for (``Window.about``), at any time
    # The recorded decisions compared, counted by (scorer version, global rules' label).
    provenance: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Its ids whose copy the detector kept is not in the log read (:func:`followback.replay.absent_copies`).
    absent: set[str] = field(default_factory=set)
    # The first event time in the shard of each relationship with a difference.
    first: dict[tuple[str, str], datetime] = field(default_factory=dict)


def run_shard(
    job: Job, raws: list[bytes], seqs: list[int], folded: Callable[[int], None] | None = None
) -> ShardResult:
    """Parse, fold, score and compare one shard (in a worker process, or in process); ``folded``
    hears how many more events were folded, now and then (in a worker: the pool's shared count).
    The garbage collector is paused meanwhile (:func:`shared.gc_tuning.paused`): the shard bounds
    what it allocates."""
    with gc_tuning.paused():
        return _run_shard(job, raws, seqs, folded)


def _run_shard(
    job: Job, raws: list[bytes], seqs: list[int], folded: Callable[[int], None] | None
) -> ShardResult:
    began = time.perf_counter()
    records, positions = [], []
    deletions = 0  # events, read and skipped: not counted among the records that are not events
    for raw, seq in zip(raws, seqs, strict=True):
        try:
            event = Event.model_validate_json(raw)
        except ValidationError:
            continue  # not an event: live, it went to the dead-letter topic
        if event.type is EventType.RETAINED:
            continue  # the detector's own notice, refused on the events topic: dead-lettered too
        if event.type is EventType.DELETED:
            deletions += 1
            continue  # erases a post's text, folds nothing: no decision rests on it
        records.append(Record(event, raw))
        positions.append(seq)
    parsed = time.perf_counter()
    recorded: dict[str, Recorded] = {}
    under = job.configs.under({})
    if job.dsn:
        recorded, under = asyncio.run(_look_up(job.dsn, records, job))
    looked_up = time.perf_counter()
    stood: dict[str, Decision] = {}
    read, in_window, decided = recompute(
        records,
        job.window,
        job.rules,
        job.configs.brands,
        job.churn_rules,
        folded or _shared_count(),
        under,
        stood,
        recorded,
        job.kept,
    )
    recomputed = time.perf_counter()
    recorded = {event_id: recorded[event_id] for event_id in in_window if event_id in recorded}
    differences = compare(in_window, decided, recorded, stood)
    followers = {d.follower_id for d in differences}
    arrivals = out_of_order_arrivals(records, positions, job.window, followers, job.kept) if followers else {}
    in_time = asyncio.run(_in_time(job.dsn, arrivals)) if job.dsn and arrivals else set()
    differences = marked_out_of_order(differences, arrivals, in_time)
    result = ShardResult(read + deletions, len(in_window), len(decided), len(recorded))
    result.deletions = deletions
    result.earliest = min((r.event.occurred_at for r in records), default=None)
    result.latest = max((r.event.occurred_at for r in records), default=None)
    about = [r.event for r in records if job.window.about(r.event)]
    result.about = len(about)
    result.accounts = {event.account_id for event in about}
    result.every_account = {r.event.account_id for r in records}
    result.followers = set(islice(dict.fromkeys(event.follower.id for event in about), 2))
    result.not_events = len(raws) - len(records) - deletions
    result.absent = absent_copies(records, job.kept) if job.kept else set()
    result.provenance.update(
        (r.scorer_version, split_label(r.config_version, r.account_id)[0]) for r in recorded.values()
    )
    if differences:
        result.differences = _placed(differences, records, positions)
        result.first = first_events(records, {(d.account_id, d.follower_id) for d in differences}, job.kept)
    done = time.perf_counter()
    result.seconds = {
        "parse": parsed - began,
        "fold": recomputed - looked_up,
        "compare": (looked_up - parsed) + (done - recomputed),  # reading the recorded decisions too
    }
    return result


async def _in_time(dsn: str, arrivals: Arrivals) -> set[str]:
    """Of the events that decide nothing and arrived after others of their instant alone
    (:func:`followback.replay.at_one_instant`, of the followers with differences), the ones the churn
    detector's record (``churn_processed``) says it folded in time, not late. Asked only when there
    are such events: a follower's block of the brand is the usual one."""
    asked = [
        event.event_id
        for found in arrivals.values()
        for event, ahead in found
        if at_one_instant(event, ahead)
    ]
    if not asked:
        return set()
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """
            SELECT event_id FROM churn_processed
            WHERE event_id = ANY($1::text[])
              AND coalesce((annotated -> 'relationship' ->> 'late')::boolean, false) = false
            """,
            asked,
        )
    finally:
        await conn.close()
    return {row["event_id"] for row in rows}


async def _look_up(
    dsn: str, records: list[Record], job: Job
) -> tuple[dict[str, Recorded], dict[str, Made] | None]:
    conn = await asyncpg.connect(dsn)
    try:
        return await look_up(conn, records, job.window, job.configs, job.kept)
    finally:
        await conn.close()


def _placed(
    differences: list[Difference], records: list[Record], positions: list[int]
) -> list[tuple[Place, Difference]]:
    """Each difference with the place of its event where the detector's order puts it: of the
    first copy in the log under the difference's follower (a later copy is a repeat), else of the
    first copy."""
    wanted = {d.event_id for d in differences}
    place: dict[tuple[str, str | None], Place] = {}
    for record, seq in zip(records, positions, strict=True):  # in log order
        event = record.event
        if event.event_id in wanted:
            at = (*event_order(event), seq)
            place.setdefault((event.event_id, event.follower.id), at)
            place.setdefault((event.event_id, None), at)
    return [(place.get((d.event_id, d.follower_id)) or place[(d.event_id, None)], d) for d in differences]


@dataclass
class Replayed:
    """The merged report, and how the work was split: tasks run and seconds per stage over them."""

    report: ReplayReport
    tasks: int = 0
    dealt: int = 0  # the records read from the log (with a follower, more than the report's events read)
    any_event: bool = True  # whether any record read is an event (with a follower, not only its own)
    seconds: dict[str, float] = field(default_factory=dict)  # summed over the tasks


def _context(start_method: str | None) -> Any:
    if start_method is None and "fork" in get_all_start_methods():
        start_method = "fork"  # fast: the workers share the parent's imported modules
    return get_context(start_method)


@dataclass(frozen=True)
class Workers:
    """The worker processes, and the count of events they have folded so far (for progress)."""

    executor: Executor
    count: int
    folded: Any  # a multiprocessing.Value shared by the processes


_FOLDED: Any = None  # in a worker process: its pool's shared count


def _start_worker(gc_threshold: int, folded: Any) -> None:
    global _FOLDED
    gc_tuning.tune(gc_threshold)
    _FOLDED = folded


def _add_folded(count: int) -> None:
    with _FOLDED.get_lock():
        _FOLDED.value += count


def _shared_count() -> Callable[[int], None] | None:
    return _add_folded if _FOLDED is not None else None


@contextmanager
def pool(
    workers: int, gc_threshold: int = 0, *, always: bool = False, start_method: str | None = None
) -> Iterator[Workers | None]:
    """``workers`` processes, started now (so before the caller starts any thread: a fork copies
    only the calling thread, and a lock another thread held stays locked in the child), each with
    the garbage collector tuned (:mod:`shared.gc_tuning`); None for one worker unless ``always``.
    ``start_method``: fork where there is one, else the platform's; "spawn" from a threaded caller."""
    if workers <= 1 and not always:
        yield None
        return
    context = _context(start_method)
    folded = context.Value("q", 0)
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(gc_threshold, folded),
    ) as executor:
        executor.submit(int).result()  # with fork, the first task starts every worker
        yield Workers(executor, workers, folded)


def replay(
    dealt: Dealer,
    job: Job,
    workers: Workers | None,
    progress: Callable[[int, int], None] | None = None,
    most_per_task: int | None = None,
    *,
    from_file: bool = False,
) -> Replayed:
    """Replay the events the dealer holds in tasks of at most ``most_per_task`` events, on
    ``workers`` (None: in this process), and merge; ``progress`` hears (events folded so far,
    events in the tasks: all dealt, or one follower's shard) while they work."""
    at_least = 1 if workers is None else workers.count * TASKS_PER_WORKER
    if job.window.follower is not None:  # one follower: only the events its fold needs
        groups = [task for task in [dealt.task_of(job.window.follower)] if task[0]]
    else:
        groups = dealt.tasks(at_least, most_per_task)
    kept, guessed = kept_of(dealt, groups, job, every_id=from_file)
    job = replace(job, kept=kept)
    total = sum(len(raws) for raws, _ in groups)
    if workers is None:
        done = 0

        def folded(count: int) -> None:
            nonlocal done
            done += count
            if progress:
                progress(done, total)

        results = [run_shard(job, raws, seqs, folded) for raws, seqs in groups]
    else:
        start = workers.folded.value
        futures = [workers.executor.submit(run_shard, job, raws, seqs) for raws, seqs in groups]
        running = set(futures)
        while running:
            _, running = wait(running, timeout=PROGRESS_SECONDS)
            if progress:
                progress(workers.folded.value - start, total)
        results = [future.result() for future in futures]
    if progress:
        progress(total, total)  # every event of the tasks is done (the ones that were not events too)
    merged = Replayed(ReplayReport(), tasks=len(groups), dealt=dealt.count)
    report, placed = merged.report, []
    # (one follower's shard parsed alone: of the rest, whether any record reads as one)
    merged.any_event = any(r.read for r in results) or (job.window.follower is not None and dealt.any_event())
    provenance: Counter[tuple[str, str]] = Counter()
    for result in results:
        provenance += result.provenance
        report.events_read += result.read
        report.deletions_skipped += result.deletions
        report.events_in_window += result.in_window
        report.decisions_recomputed += result.recomputed
        report.decisions_recorded += result.recorded
        placed += result.differences
        for stage, seconds in result.seconds.items():
            merged.seconds[stage] = merged.seconds.get(stage, 0.0) + seconds
    report.differences = [d for _, d in sorted(placed, key=lambda p: p[0])]
    earliest = min((r.earliest for r in results if r.earliest is not None), default=None)
    latest = max((r.latest for r in results if r.latest is not None), default=None)
    if job.dsn and earliest is not None and latest is not None:
        report.differences = asyncio.run(
            _against_the_record(job, job.dsn, report.differences, results, (earliest, latest), dealt)
        )
    shuffled = sum(d.arrived_out_of_order for d in report.differences)
    not_events = sum(r.not_events for r in results)
    one = job.window.follower
    since = job.window.since
    if one is not None and since is not None and (earliest is None or earliest >= since):
        # The shard had nothing before --since; the log read may have (the warning is of the log).
        earliest = since - timedelta(microseconds=1) if dealt.any_before(since) else earliest
    # A range no event of the log read falls in: no relationship starts it, so whether any would
    # start it as new says nothing (it was the only warning of a mistyped year, beside "0 differences").
    empty = _empty_range(job.window, report.events_in_window, sum(r.about for r in results))
    report.warnings = caveats(
        replace(job.window, since=None) if empty else job.window,
        job.rules,
        earliest,
        provenance,
        shuffled,
        not_events,
        sum(d.erased for d in report.differences),
        sum(d.not_in_log for d in report.differences),
        churn_rules=job.churn_rules.fingerprint,
        earlier_churn_rules=job.churn_rules.earlier_fingerprints,
        # An export's (the topic holds every account's); one follower's replay parses its shard alone.
        one_account=_one_account(results, report.differences) if from_file and one is None else None,
        records_of="the log read" if one is None else "the follower's shard of the log",
        guessed=guessed,
        cut=sum(d.history_cut for d in report.differences),
    )
    if not dealt.count:
        report.warnings.append("the log read holds no record: nothing was replayed")
    elif one is not None and not sum(r.about for r in results):
        on = f" on {job.window.account}" if job.window.account is not None else ""
        report.warnings.append(
            f"no event of follower {one}{on} in the log read: check the id, as the events spell it"
        )
    elif job.window.account is not None and not sum(r.about for r in results):
        report.warnings.append(
            f"no event of account {job.window.account} in the log read: check the id, as the events spell it"
        )
    elif empty:
        report.warnings.append(_nothing_in_range(job.window, None if one is not None else (earliest, latest)))
    return merged


def _empty_range(window: Window, in_window: int, about: int) -> bool:
    """Whether a range was asked for and no event of the account and follower asked for (of which
    the log read holds some) falls in it."""
    return (window.since is not None or window.until is not None) and about > 0 and in_window == 0


def _nothing_in_range(window: Window, span: tuple[datetime | None, datetime | None] | None) -> str:
    """The warning of a range no event falls in, with the span of the log read's events when known
    (``span``: None for one follower's replay, which parses its shard alone)."""
    since = window.since.isoformat() if window.since is not None else "the start"
    until = window.until.isoformat() if window.until is not None else "the end"
    whose = "".join(
        f" of {name} {value}"
        for name, value in (("account", window.account), ("follower", window.follower))
        if value is not None
    )
    said = f"no event{whose} in the log read falls in the range from {since} to {until}: nothing was replayed"
    if span is not None and span[0] is not None and span[1] is not None:
        said += f" (its events run from {span[0].isoformat()} to {span[1].isoformat()})"
    return said + "; check --since and --until"


def _one_account(results: list[ShardResult], differences: list[Difference]) -> str | None:
    """The account every event of an export is of, when there is one and a difference changed a
    churn reason (cross-account churn needs the other accounts' events)."""
    every = set().union(*(r.every_account for r in results))
    if len(every) == 1 and any("churn" in d.reasons_changed for d in differences):
        return next(iter(every))
    return None


@dataclass(frozen=True)
class Progress:
    """Where the command's progress bars hear how far it is: the read (its total when known, then
    each batch read), then the replay (events folded so far, of how many)."""

    total: Callable[[int], None]
    advance: Callable[[int], None]
    replayed: Callable[[int, int], None] | None = None


async def _read_kafka(settings: Settings, dealer: Dealer, progress: Progress | None) -> None:
    async for values in raw_from_kafka(settings, progress.total if progress else None):
        dealer.extend(values)
        if progress:
            progress.advance(len(values))


async def _against_the_record(
    job: Job,
    dsn: str,
    differences: list[Difference],
    results: list[ShardResult],
    span: tuple[datetime, datetime],
    dealt: Dealer,
) -> list[Difference]:
    """The differences, with the recorded decisions whose events the log read lacks
    (:func:`recorded_unread`), each marked when its follower was erased: one connection."""
    accounts = set().union(*(r.accounts for r in results))
    followers = set().union(*(r.followers for r in results))
    follower = next(iter(followers)) if len(followers) == 1 else None  # an export of one follower
    conn = await asyncpg.connect(dsn)
    try:
        absent = set().union(*(r.absent for r in results))

        def holds(event_id: str, whose: str) -> bool:  # (a copy of the id, but not the one decided on)
            return event_id not in absent and dealt.holds(event_id, whose)

        differences = differences + await recorded_unread(
            conn, job.window, span, accounts, follower, job.read_began, holds
        )
        if not differences:
            return differences
        erased = await erased_followers(conn, {d.follower_id for d in differences})
        cut = await history_cut(conn, {key: at for r in results for key, at in r.first.items()})
    finally:
        await conn.close()
    return [
        replace(d, erased=d.follower_id in erased, history_cut=(d.account_id, d.follower_id) in cut)
        for d in differences
    ]


def kept_of(
    dealt: Dealer, groups: list[tuple[list[bytes], list[int]]], job: Job, *, every_id: bool
) -> tuple[dict[str, Copy], int]:
    """Of each repeated id of the tasks the log read cannot tell about, the copy the detector kept
    (read once, before the tasks: :func:`followback.replay.kept_copies`), and how many ids under
    several followers (of the window's follower, when it has one) its record does not resolve. A
    topic holds every copy, so only the shared ids are asked about; an exported file may lack the
    copy kept (an export of one follower, of one account, up to a time): ``every_id``."""
    one = job.window.follower
    shared: set[str]
    copies: Iterable[Asked]
    if one is not None:  # its task alone (a small part of the log)
        copies = list(_copies((raw for raws, _ in groups for raw in raws), every_id))
        shared = {e for e, found in _followers_of(copies).items() if one in found and len(found) > 1}
    else:
        copies, shared = dealt.copies(every_id), dealt.shared()
    kept = asyncio.run(_kept(job.dsn, copies)) if job.dsn else {}
    return kept, len(shared - kept.keys())


async def _kept(dsn: str, copies: Iterable[Asked]) -> dict[str, Copy]:
    """:func:`followback.replay.kept_copies` of these copies, asked :data:`KEPT_ASKED` at a time
    (an exported file asks about every id); no connection when there are none."""
    kept: dict[str, Copy] = {}
    pending = iter(copies)
    conn = None
    try:
        while chunk := list(islice(pending, KEPT_ASKED)):
            conn = conn or await asyncpg.connect(dsn)
            kept.update(await kept_copies(conn, chunk))
    finally:
        if conn is not None:
            await conn.close()
    return kept


async def _now(dsn: str) -> datetime:
    conn = await asyncpg.connect(dsn)
    try:
        now: datetime = await conn.fetchval("SELECT now()")
        return now
    finally:
        await conn.close()


class TooManyWorkersError(ValueError):
    """More worker processes asked for than :data:`WORKERS_PER_CPU` per CPU."""


def worker_count(settings: Settings, workers: int | None = None) -> int:
    """The option, else the setting, else one per CPU; at most :data:`WORKERS_PER_CPU` per CPU."""
    count = workers or settings.replay.workers or available_cpus()
    most = WORKERS_PER_CPU * available_cpus()
    if count > most:
        asked = "--workers" if workers else "FOLLOWBACK_REPLAY__WORKERS"
        raise TooManyWorkersError(
            f"{asked} {count} is more than {most} ({WORKERS_PER_CPU} per CPU here): replay is bound by "
            "the CPU, so processes beyond one per CPU add memory and nothing else"
        )
    return count


def replay_log(
    settings: Settings,
    window: Window,
    configs: Configs,
    processes: Workers | None,
    *,
    source: Path | None = None,
    compare_with: str | None = None,
    progress: Progress | None = None,
) -> tuple[ReplayReport, Replayed]:
    """The whole replay: read the raw log (the events topic, or an exported file), deal it into
    shards by follower, replay the shards on ``processes`` (from :func:`pool`; None: in this
    process) and compare with the decisions recorded in ``compare_with`` (a
    DSN; None: the settings' database). The report's time runs from the start of the read to the
    merged result."""
    began = time.perf_counter()
    dsn = compare_with or settings.postgres.dsn.get_secret_value()
    # A file holds what had reached the log when it was written; a topic, what had when read.
    read_began = (
        datetime.fromtimestamp(source.stat().st_mtime, UTC) if source is not None else asyncio.run(_now(dsn))
    )
    dealer = Dealer()
    if source is not None:
        for n, raw in enumerate(raw_from_file(source), 1):
            dealer.add(raw)
            if progress and n % 1000 == 0:
                progress.advance(1000)
    else:
        asyncio.run(_read_kafka(settings, dealer, progress))
    job = Job(
        window,
        rules_from(settings),
        configs,
        ChurnRules.from_settings(settings.churn),
        dsn,
        read_began,
    )
    replayed = replay(
        dealer,
        job,
        processes,
        progress.replayed if progress else None,
        settings.replay.task_events,
        from_file=source is not None,
    )
    replayed.report.seconds = time.perf_counter() - began
    replayed.report.config = configs.name
    return replayed.report, replayed
