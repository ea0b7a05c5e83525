"""``followback replay``: recompute decisions from the event log and compare them with the record.

The same pure code as the live services (the churn detector's fold with the configured churn
rules, a follower's relationships together so cross-account churn counts, then the scorer's
``next_version``), in event-time order, in process: nothing is written and nobody is notified.
Every event before the window's end is folded, so each relationship's state is as it was when the
window opened; only the decisions of events inside the window are compared with the recorded ones.
The command runs this per shard of followers on every core (:mod:`followback.replay_workers`).

Which brand configuration decides an event (:class:`Configs`): by default the one its recorded
decision was made under, so a recorded run replays to zero differences even across configuration
changes; ``--config latest`` asks what today's configurations would decide, ``--config N`` what
version N of one account's would.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
import orjson

from followback.eventlog import Record, Window
from services.churn.rules import ChurnRules, InMemory
from services.scorer.scoring import (
    SCORER_VERSION,
    Current,
    RulesLabel,
    ScoringRules,
    next_version,
    rules_label,
    score,
    split_label,
)
from shared import accounts
from shared.accounts import VersionedConfig
from shared.decisions import Decision, decision_id_for
from shared.events import Event, event_order
from shared.relationships import DECIDES_NOTHING, AnnotatedEvent

MAX_LISTED = 1000
PROGRESS_EVERY = 1000  # events between two reports of progress
AS_RECORDED, LATEST = "recorded", "latest"  # the --config choices besides a version number


class Copy(NamedTuple):
    """One copy of an event id: whose it is, on which account, at what time (what the churn
    detector's record, ``churn_processed``, keeps of the copy it processed)."""

    follower: str
    account: str
    occurred_at: datetime


def copy_of(event: Event) -> Copy:
    return Copy(event.follower.id, event.account_id, event.occurred_at)


# A copy as read off a raw event, to ask the record about: (event id, follower, account, time).
Asked = tuple[str, str, str, datetime]


@dataclass(frozen=True)
class Difference:
    event_id: str
    account_id: str
    follower_id: str
    recorded: tuple[str, float] | None  # class, score
    recomputed: tuple[str, float] | None
    reasons_changed: tuple[str, ...]
    # The follower's events reached the log out of event-time order (see :func:`arrived_out_of_order`).
    arrived_out_of_order: bool = False
    # The follower was erased (``followback forget``): its events revised since decided nothing live.
    erased: bool = False
    # Recorded, on an event the log read does not hold (:func:`recorded_unread`): nothing recomputed.
    not_in_log: bool = False
    # Replay records no new version on the event: it scored the same class and score as the version
    # standing (made on an earlier event); ``recomputed`` is its scoring (see :func:`compare`).
    stands: bool = False
    # The detector processed events of the relationship before its first in the log read (an export
    # from a time, the topic's retention): replay started it as new there (:func:`history_cut`).
    history_cut: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "account_id": self.account_id,
            "follower_id": self.follower_id,
            "recorded": dict(zip(("class", "score"), self.recorded, strict=True)) if self.recorded else None,
            "recomputed": dict(zip(("class", "score"), self.recomputed, strict=True))
            if self.recomputed
            else None,
            "reasons_changed": list(self.reasons_changed),
            "arrived_out_of_order": self.arrived_out_of_order,
            "erased": self.erased,
            "not_in_log": self.not_in_log,
            "recomputed_stands": self.stands,
            "history_cut": self.history_cut,
        }


@dataclass
class ReplayReport:
    # Every event read, as ``followback log export`` counts them (the ``deleted`` ones too).
    events_read: int = 0
    # Of those, the ``deleted`` events: skipped, as the detector folds none (it erases the post's text).
    deletions_skipped: int = 0
    events_in_window: int = 0
    decisions_recomputed: int = 0
    decisions_recorded: int = 0
    differences: list[Difference] = field(default_factory=list)
    seconds: float = 0.0
    config: str = AS_RECORDED  # the configurations decided with (:attr:`Configs.name`)
    warnings: list[str] = field(default_factory=list)  # what may explain differences (:func:`caveats`)

    @property
    def events_per_second(self) -> float:
        return self.events_read / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "events_read": self.events_read,
            "deletions_skipped": self.deletions_skipped,
            "events_in_window": self.events_in_window,
            "decisions_recomputed": self.decisions_recomputed,
            "decisions_recorded": self.decisions_recorded,
            "differences": len(self.differences),
            "config": self.config,
            "warnings": self.warnings,
            "events_per_s": round(self.events_per_second),
            # The first differences in full; the count above is always complete.
            "changed": [d.as_dict() for d in self.differences[:MAX_LISTED]],
        }


def recompute(
    records: Iterable[Record],
    window: Window,
    rules: ScoringRules,
    brands: Mapping[str, VersionedConfig],
    churn_rules: ChurnRules | None = None,
    folded: Callable[[int], None] | None = None,
    under: Mapping[str, Made] | None = None,
    stood: dict[str, Decision] | None = None,
    stood_of: Container[str] | None = None,
    kept: Mapping[str, Copy] | None = None,
) -> tuple[int, list[str], dict[str, Decision]]:
    """Fold every event before the window's end (of every account, as the detector does: a
    follower's churn on one account counts on the others); decide the ones inside it. Only the
    followers the window's decisions depend on are folded (:func:`needed`); the others' events
    are counted as read.

    An account's events are decided under ``brands[account]``; with ``under`` (event id -> the
    configuration it was scored under live, see :meth:`Configs.under`), a relationship's events are
    decided under the configuration of its latest event found there, once it has one.
    Returns the number of events read, the ids of the events in the window, and the recomputed
    decision of each of those events that yields one. ``folded`` hears how many more events are
    done, every :data:`PROGRESS_EVERY` and at the end. ``stood``, when given, gets replay's scoring
    of each event of the window that scored the same as its relationship's standing version (so
    yields no decision), of those in ``stood_of`` (the events with a recorded decision; None: all).
    ``kept``: of each repeated id the log read cannot tell about, the copy the detector kept
    (:func:`kept_copies`).

    Of a repeated event id, one copy is folded and the others skipped: the one the detector kept
    (:func:`first_copies`, with ``kept``), even when another says another time.
    """
    records = list(records)
    unique = first_copies(records, kept)
    folding = needed(unique, window)
    if folded is not None and len(folding) < len(unique):
        folded(len(unique) - len(folding))  # read, and done: nothing of theirs reaches the window
    # The detector's order: event time, then follow before interaction before unfollow, then id.
    ordered = sorted(folding, key=lambda r: event_order(r.event))
    # The detector's fold: one clock for the whole log, cross-account churn included.
    churn = InMemory(churn_rules or ChurnRules(), alerts_too=False)  # annotations only
    current: dict[tuple[str, str], Current] = {}
    configured: dict[tuple[str, str], VersionedConfig | None] = {}  # as recorded, so far
    in_window: list[str] = []
    decided: dict[str, Decision] = {}
    for n, record in enumerate(ordered, 1):
        if folded is not None and n % PROGRESS_EVERY == 0:
            folded(PROGRESS_EVERY)
        event = record.event
        if window.until is not None and event.occurred_at >= window.until:
            continue  # later events cannot change the window
        note = churn.fold(event)  # every account's: a churn on one counts on the others
        if not window.about(event):
            continue  # folded, not decided: only the account's (the follower's) decisions are replayed
        key = (event.account_id, event.follower.id)
        brand = brands.get(key[0])
        if under is not None:
            made = under.get(event.event_id)
            if made is not None and (made.account_id, made.follower_id) == key:
                configured[key] = made.config  # (an id reused by another relationship tells nothing)
            brand = configured.get(key, brand)
        annotated = AnnotatedEvent(event=event, relationship=note)
        decision, version = next_version(current.get(key), annotated, rules, brand)
        if version is not None:
            current[key] = version
        if window.holds(event):
            in_window.append(event.event_id)
            if decision is not None:
                decided[event.event_id] = decision
            elif (
                stood is not None
                and version is not None
                and annotated.decides
                and (
                    stood_of is None or event.event_id in stood_of  # (scored again: a recorded one only)
                )
            ):
                stood[event.event_id] = score(annotated, rules, brand)  # the same class and score
    left = len(ordered) % PROGRESS_EVERY + len(records) - len(unique)  # the repeats, skipped, with the rest
    if folded is not None and left:
        folded(left)
    return len(records), in_window, decided


def first_copies(records: Sequence[Record], kept: Mapping[str, Copy] | None = None) -> list[Record]:
    """The records (in log order) without repeats: of each event id, the copy the detector folded.
    The detector keeps the first copy to arrive (its record of processed events is keyed by the
    id). A follower's events share a partition, so of its own copies that is the first in the log.
    Which copy it kept when the log holds the id under another follower too (on another
    partition: the log does not keep the order in which partitions arrived), or when the log read
    may lack the copy it kept (an export of one account, or up to a time, holds a later copy of a
    follower's on another account or at another time, but not the first), ``kept`` says (event
    id -> that copy, from :func:`kept_copies`); when no record is that copy, none is folded: live,
    the copies the records hold were repeats. An id under several followers that ``kept`` does not
    name keeps the copy earliest in event time (then the first in the log)."""
    chosen: dict[str, int] = {}  # event id -> the index of the copy kept
    seen: set[tuple[str, str]] = set()  # (event id, follower) of the copies considered
    for n, record in enumerate(records):
        event = record.event
        if kept and event.event_id in kept:
            if event.event_id not in chosen and kept[event.event_id] == copy_of(event):
                chosen[event.event_id] = n
            continue  # (another copy arrived first)
        if (event.event_id, event.follower.id) in seen:
            continue  # a later copy of the follower's own: a repeat
        seen.add((event.event_id, event.follower.id))
        other = chosen.get(event.event_id)
        if other is None or event.occurred_at < records[other].event.occurred_at:
            chosen[event.event_id] = n
    return [records[n] for n in sorted(chosen.values())]


def absent_copies(records: Iterable[Record], kept: Mapping[str, Copy]) -> set[str]:
    """The ids of ``records`` whose copy the detector kept (``kept``) is not among them: the event
    a recorded decision on the id rests on is not in the log read."""
    held: dict[str, bool] = {}
    for record in records:
        event = record.event
        if event.event_id in kept:
            held[event.event_id] = held.get(event.event_id, False) or kept[event.event_id] == copy_of(event)
    return {event_id for event_id, found in held.items() if not found}


def shared_ids(records: Iterable[Record]) -> list[str]:
    """The event ids under more than one follower (whose copy the detector kept the log cannot
    tell: see :func:`first_copies`), sorted."""
    first: dict[str, str] = {}
    shared: set[str] = set()
    for record in records:
        event = record.event
        if first.setdefault(event.event_id, event.follower.id) != event.follower.id:
            shared.add(event.event_id)
    return sorted(shared)


def asked_copies(records: Sequence[Record], every_id: bool = False) -> list[Asked]:
    """The copies of the records' ids to ask :func:`kept_copies` about: of the ids under several
    followers (:func:`shared_ids`), or, with ``every_id``, of every id."""
    copies = dict.fromkeys((r.event.event_id, *copy_of(r.event)) for r in records)
    if not every_id:
        shared = set(shared_ids(records))
        return [copy for copy in copies if copy[0] in shared]
    return list(copies)


async def kept_copies(conn: asyncpg.Connection, copies: Collection[Asked]) -> dict[str, Copy]:
    """Of each event id of these copies (read off the log), the copy the churn detector kept, when
    one of them is another: its record, ``churn_processed``, is keyed by the id and holds the first
    copy to arrive (whose follower, account and time). Ids it processed as every one of these
    copies, or not at all, are left out. A topic holds every copy and keeps a follower's in order,
    so only the ids under several followers need asking for; a log read that may lack the copy the
    detector kept (an export of one follower, of one account, up to a time) asks for every id."""
    if not copies:
        return {}
    columns = [[copy[n] for copy in copies] for n in range(4)]  # (zip(*copies) is slow for long lists)
    rows = await conn.fetch(
        """
        SELECT DISTINCT p.event_id, p.follower_id, p.account_id, p.occurred_at
        FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
            AS logged(event_id, follower_id, account_id, occurred_at)
        JOIN churn_processed p ON p.event_id = logged.event_id
        WHERE (p.follower_id, p.account_id, p.occurred_at)
            IS DISTINCT FROM (logged.follower_id, logged.account_id, logged.occurred_at)
        """,
        *columns,
    )
    return {row["event_id"]: Copy(row["follower_id"], row["account_id"], row["occurred_at"]) for row in rows}


def needed(records: Sequence[Record], window: Window) -> Sequence[Record]:
    """The records :func:`recompute` folds for ``window`` (without repeats, :func:`first_copies`):
    the events of every follower with an event in it (its relationships' state, and its churn on
    the other accounts, reach the window's decisions), in their order. The other followers' events
    are read, not folded: nothing of theirs reaches a decision in the window. A replay of a short
    range of a long log, or of one account of many, folds and scores about that range's or
    account's followers only."""
    if window.since is None and window.account is None and window.follower is None:
        return records  # every follower with an event before the end has one in the window
    wanted = {record.event.follower.id for record in records if window.holds(record.event)}
    return [r for r in records if r.event.follower.id in wanted]


def looked_up_ids(
    records: Sequence[Record], window: Window, kept: Mapping[str, Copy] | None = None
) -> tuple[list[str], list[str]]:
    """The ids of the events :func:`recompute` decides (the account's, before the window's end), in
    log order: those in the window, whose recorded decisions it compares, and those before it of the
    relationships that have one in it (only their state reaches a compared decision)."""
    inside: dict[str, None] = {}
    before: dict[str, tuple[str, str]] = {}
    compared: set[tuple[str, str]] = set()
    for record in first_copies(records, kept):
        event = record.event
        if (window.until is None or event.occurred_at < window.until) and window.about(event):
            if window.holds(event):
                inside[event.event_id] = None
                compared.add((event.account_id, event.follower.id))
            else:
                before[event.event_id] = (event.account_id, event.follower.id)
    return list(inside), [e for e, key in before.items() if key in compared and e not in inside]


class Made(NamedTuple):
    """Whose relationship the live scorer decided an event of, under which brand configuration
    (None: the account had none)."""

    account_id: str
    follower_id: str
    config: VersionedConfig | None


@dataclass(frozen=True)
class Configs:
    """The brand configurations a replay decides with.

    ``brands``: one per account, its newest (``--config latest``) or the version asked for
    (``--config N``). With ``versions`` (every version of every account; ``--config recorded``, the
    default), each event is decided under the configuration it was scored under live: the one its
    recorded decision names in ``config_version``, or, for an event that decided nothing, the one
    its no-op row names (``scorer_unchanged``); an event with neither (scored before these were
    kept) under its relationship's last such configuration, and a relationship with none yet under
    ``brands``. Only the brand's part is followed: the scoring and churn rules are the settings'
    (``FOLLOWBACK_SCORING__*``, ``FOLLOWBACK_CHURN__*``) throughout.
    """

    brands: dict[str, VersionedConfig]
    versions: dict[str, dict[int, VersionedConfig]] | None = None
    name: str = LATEST

    @property
    def as_recorded(self) -> bool:
        return self.versions is not None

    def under(self, scored: Mapping[str, Scored]) -> dict[str, Made] | None:
        """Event id -> what it was scored under live; None unless replaying as recorded."""
        if self.versions is None:
            return None
        return {event_id: self._made(s) for event_id, s in scored.items()}

    def _made(self, scored: Scored) -> Made:
        assert self.versions is not None
        account, follower = scored.account_id, scored.follower_id
        _, version = split_label(scored.config_version, account)
        if version is None:  # ".../default": scored before the account had a configuration
            return Made(account, follower, None)
        return Made(account, follower, self.versions.get(account, {}).get(version, self.brands.get(account)))


class Scored(NamedTuple):
    """A live scoring of an event: whose relationship, and its configuration label."""

    account_id: str
    follower_id: str
    config_version: str


async def scored_under(
    conn: asyncpg.Connection, inside: list[str], before: list[str], recorded: Mapping[str, Recorded]
) -> dict[str, Scored]:
    """The configuration each of these events was scored under live: its decision's (for the
    window's events, ``inside``, from ``recorded``, the decisions already read; for ``before``,
    read here), else its latest no-op's. An event scored before no-ops recorded their
    configuration (migration 0011) has neither."""
    found = {
        event_id: Scored(r.account_id, r.follower_id, r.config_version) for event_id, r in recorded.items()
    }
    if before:
        rows = await latest_decisions(conn, before, "account_id, follower_id, config_version")
        found.update(
            {
                event_id: Scored(account, follower, label)
                for event_id, (account, follower, label) in rows.items()
            }
        )
    no_ops = [event_id for event_id in (*inside, *before) if event_id not in found]
    if no_ops:
        rows = await conn.fetch(
            """
            SELECT DISTINCT ON (u.event_id) u.event_id, u.account_id, u.follower_id, u.config_version
            FROM scorer_unchanged u JOIN unnest($1::text[]) AS k(event_id) USING (event_id)
            WHERE u.config_version IS NOT NULL
            ORDER BY u.event_id, u.revision DESC
            """,
            no_ops,
        )
        found.update(
            {event_id: Scored(account, follower, label) for event_id, account, follower, label in rows}
        )
    return found


async def look_up(
    conn: asyncpg.Connection,
    records: Sequence[Record],
    window: Window,
    configs: Configs,
    kept: Mapping[str, Copy] | None = None,
) -> tuple[dict[str, Recorded], dict[str, Made] | None]:
    """What a replay reads before its fold: the recorded decisions of the window's events, and,
    replaying as recorded, what every event it decides was scored under (:meth:`Configs.under`).
    Nothing when no event falls in the window: nothing would be compared. ``kept``: see
    :func:`first_copies`."""
    inside, before = looked_up_ids(records, window, kept)
    if not inside:
        return {}, configs.under({})
    recorded = await recorded_decisions(conn, inside)
    if not configs.as_recorded:
        return recorded, None
    return recorded, configs.under(await scored_under(conn, inside, before, recorded))


def arrived_out_of_order(
    differences: list[Difference],
    records: Sequence[Record],
    positions: Sequence[int],
    window: Window,
    kept: Mapping[str, Copy] | None = None,
    folded_in_time: Container[str] = (),
) -> list[Difference]:
    """The differences, each marked when one of its follower's events before the window's end
    reached the log after an event of theirs that comes later in the detector's order (event time,
    type, id), wherever that one falls, and that mattered: one after the window's end that arrived
    first changed, live, what the earlier one decided. The live scorer decides in arrival order and
    replay in event time, so such a follower's versions may rest on other events than replay's; a
    follower whose events arrived in order replays exactly (events after the window's end arriving
    out of order among themselves decide nothing in it).

    One such arrival does not matter (:func:`harmless_at_one_instant`): an event that decides
    nothing (a brand's follow-back or unfollow) arriving after events of its own instant alone, at
    most one of each relationship, when the detector folded it in time (``folded_in_time``: the ids
    its record says were not late; an id not there counts as late). Sorted in among the pending
    events, it ends the same as in either order, and the one event it revised of each relationship
    is decided again on its new annotation: a follower's block of the brand, posted by ingest as
    their ``unfollow`` then the brand's ``unfollowed_back`` at one instant, which ranks first."""
    if not differences:
        return differences  # (the common case: nothing to look for in the records)
    followers = {d.follower_id for d in differences}
    return marked_out_of_order(
        differences, out_of_order_arrivals(records, positions, window, followers, kept), folded_in_time
    )


Arrivals = dict[str, list[tuple[Event, list[Event]]]]  # follower -> (event, the later ones it came after)


def marked_out_of_order(
    differences: list[Difference], arrivals: Arrivals, folded_in_time: Container[str] = ()
) -> list[Difference]:
    """The differences, marked as :func:`arrived_out_of_order` tells, from their followers'
    :func:`out_of_order_arrivals`."""
    shuffled = {
        follower
        for follower, found in arrivals.items()
        if not all(harmless_at_one_instant(event, ahead, folded_in_time) for event, ahead in found)
    }
    return [replace(d, arrived_out_of_order=d.follower_id in shuffled) for d in differences]


def out_of_order_arrivals(
    records: Sequence[Record],
    positions: Sequence[int],
    window: Window,
    followers: Container[str],
    kept: Mapping[str, Copy] | None = None,
) -> Arrivals:
    """Of these followers, each event before the window's end that reached the log (``positions``:
    each record's place in it) after events of theirs later in the detector's order, with those
    events (a repeated id counts where its folded copy is)."""
    arrived: dict[str, list[Event]] = {}  # so far, in log order
    newest: dict[str, tuple[datetime, int, str]] = {}  # the latest in event time arrived so far
    found: Arrivals = {}
    in_log = [record for _, record in sorted(zip(positions, records, strict=True), key=lambda p: p[0])]
    for record in first_copies(in_log, kept):
        event = record.event
        follower = event.follower.id
        if follower not in followers:
            continue
        order = event_order(event)
        seen = newest.get(follower)
        if seen is not None and order < seen and (window.until is None or event.occurred_at < window.until):
            ahead = [e for e in arrived[follower] if event_order(e) > order]
            found.setdefault(follower, []).append((event, ahead))
        if seen is None or order > seen:
            newest[follower] = order
        arrived.setdefault(follower, []).append(event)
    return found


def harmless_at_one_instant(event: Event, ahead: Sequence[Event], folded_in_time: Container[str]) -> bool:
    """Whether ``event``, arriving after ``ahead`` (its follower's events later in the detector's
    order), ends live as it does in event time: it is :func:`at_one_instant`, and the detector
    inserted it among the pending events (``folded_in_time``; not late: a late event goes after
    everything settled, and the settled annotations are not revised)."""
    return event.event_id in folded_in_time and at_one_instant(event, ahead)


def at_one_instant(event: Event, ahead: Sequence[Event]) -> bool:
    """Whether ``event`` decides nothing (so nothing is decided on it in either order) and arrived
    after events of its own instant alone, one of each relationship at most: folded in time, the
    events it revises are then those, each published again and decided again unless its
    relationship's latest version stands for a newer event, which one of each relationship never
    does (what arrived before it is older). Only whether it was folded in time is left to ask."""
    if event.type not in DECIDES_NOTHING:
        return False
    if any(other.occurred_at != event.occurred_at for other in ahead):
        return False
    relationships = [(other.account_id, other.follower.id) for other in ahead]
    return len(relationships) == len(set(relationships))


def caveats(
    window: Window,
    rules: ScoringRules,
    earliest: datetime | None,
    provenance: Mapping[tuple[str, str], int],
    out_of_order: int = 0,
    not_events: int = 0,
    erased: int = 0,
    not_in_log: int = 0,
    *,
    churn_rules: str,
    earlier_churn_rules: Collection[str] = (),
    records_of: str = "the log read",
    one_account: str | None = None,
    guessed: int = 0,
    cut: int = 0,
) -> list[str]:
    """What may explain a replay's differences besides a change of mind: a log read with nothing
    before the range (its relationships start the range as new), and recorded decisions made by
    another scorer version or under other rules (``provenance``: their count by (scorer version,
    rules label); replay runs this scorer under the settings' scoring rules and the churn rules
    whose fingerprint is ``churn_rules``; ``earlier_churn_rules``: the fingerprints of the same
    values under the detector's earlier meanings, an earlier release's). ``records_of``: what
    ``not_events`` were counted in (one follower's replay parses its shard of the log alone).
    ``one_account``: the account every event of an exported file is of, given when a difference
    changed a churn reason. ``guessed``: the event ids under several followers whose kept copy the
    record does not say (:func:`first_copies`). ``cut``: the differences of relationships whose
    history before the log read the detector processed (:func:`history_cut`)."""
    found = []
    if window.since is not None and (earliest is None or earliest >= window.since):
        found.append(
            f"no event before --since {window.since.isoformat()} in the log read: every relationship "
            "starts the range as new (as it did live if the log begins after --since; not if the "
            "history was cut off: an export of the range alone, or the topic's retention)"
        )
    if cut:
        found.append(
            f"{cut} difference(s) are of relationships the churn detector processed events of before "
            "their first in the log read (the log's start was cut: an export from a time, or the "
            "topic's retention; or, on a live topic, an earlier event arrived after the read began): "
            "replay started them as new there; to replay them as they were, "
            "replay a log that holds their whole history (export without --since, and give --since "
            "to replay instead)"
        )
    if not_events:
        found.append(
            f"{not_events} record(s) of {records_of} are not events and were skipped (live, they went "
            "to the dead-letter topic); a source with nothing but such records is not an event log"
        )
    if out_of_order:
        found.append(
            f"{out_of_order} difference(s) are of followers whose events reached the log out of "
            "event-time order: the live scorer decided those in arrival order, replay in event time"
        )
    if not_in_log:
        found.append(
            f"{not_in_log} recorded decision(s) rest on events the log read does not hold, though "
            "they fall between its earliest and its latest event: events taken out of an exported "
            "file, or a topic compacted or cut (each is a difference, with nothing recomputed)"
        )
    if guessed:
        found.append(
            f"{guessed} event id(s) are each under more than one follower, and the churn detector's "
            "record (churn_processed) does not say whose copy it processed (it keeps the first to "
            "arrive, which the log cannot tell): replay folded the copy earliest in event time"
        )
    if one_account is not None:
        found.append(
            f"every event of the file is of account {one_account}: if the brand has other accounts, "
            "the churn on them (cross-account churn) is not in it, which changes the churn reason of "
            "decisions that rest on it (an export made with --account holds that account's events "
            "alone; export without --account, and give --account to replay instead)"
        )
    if erased:
        found.append(
            f"{erased} difference(s) are of followers erased by followback forget, which may explain "
            "them: an event of theirs revised after the erasure (an earlier one arrived later) decided "
            "nothing live, as its profile was gone, while replay decides it on the log's original event"
        )
    now = RulesLabel(rules.config_version, rules.fingerprint, churn_rules)
    for (scorer, label), count in sorted(provenance.items()):
        # A label from before rules carried their fingerprint ("1") can only be compared by name.
        was = RulesLabel(label, None, None) if label == rules.config_version else RulesLabel.parse(label)
        other = _other_rules(scorer, was, now, earlier_churn_rules)
        if other:
            found.append(
                f"{count} recorded decision(s) were made by scorer {scorer} under rules {label}; this "
                f"replay runs scorer {SCORER_VERSION} under rules {rules_label(rules, churn_rules)} "
                f"({', '.join(other)})"
            )
    return found


def _other_rules(
    scorer: str, was: RulesLabel, now: RulesLabel, earlier_churn: Collection[str] = ()
) -> list[str]:
    """What differs between the rules a decision was recorded under and replay's, as far as the
    recorded label tells (a part it lacks, recorded before that part was, is not compared). Churn
    rules of the same values under an earlier meaning (``earlier_churn``) are an earlier release's
    detector, not other settings: saying FOLLOWBACK_CHURN__* would send the reader to look for a
    setting nobody changed."""
    other = []
    if scorer != SCORER_VERSION:
        other.append("another scorer version")
    if was.name != now.name or (was.scoring is not None and was.scoring != now.scoring):
        other.append("other scoring rules: FOLLOWBACK_SCORING__*")
    if was.churn is not None and was.churn != now.churn:
        other.append(
            "the churn detector of an earlier release: the same FOLLOWBACK_CHURN__* values, "
            "annotated under its rules (see Upgrading in the README)"
            if was.churn in earlier_churn
            else "other churn rules: FOLLOWBACK_CHURN__*"
        )
    return other


async def recorded_unread(
    conn: asyncpg.Connection,
    window: Window,
    span: tuple[datetime, datetime],
    accounts: Iterable[str],
    follower: str | None,
    before: datetime | None,
    holds: Callable[[str, str], bool],
) -> list[Difference]:
    """The recorded decisions whose events the log read does not hold (an export with events
    taken out, say): each a difference with nothing recomputed, in event time. Only what the log
    read should hold is looked for: decisions of the window, of the ``accounts`` it has events of
    (an export of one account is not missing the others), of ``follower`` alone when it has
    events of one follower only (an export of one follower), between its earliest and latest
    event (``span``: an export of a range is not missing what came before), recorded ``before``
    the read began (None: any time; an event that reached the topic after the read is not
    missing from it). ``holds(event id, follower)``: whether the log read holds the follower's
    copy of the event (another follower's copy of the id is no copy of it)."""
    recorded = await conn.fetch(
        """
        SELECT event_ids[1], follower_id FROM decisions
        WHERE account_id = ANY($1::text[]) AND ($2::text IS NULL OR follower_id = $2)
          AND occurred_at BETWEEN $3 AND $4 AND ($5::timestamptz IS NULL OR occurred_at >= $5)
          AND ($6::timestamptz IS NULL OR occurred_at < $6)
          AND ($7::timestamptz IS NULL OR decided_at < $7)
        """,
        sorted(accounts),
        follower,
        *span,
        window.since,
        window.until,
        before,
    )
    missing = sorted({event_id for event_id, whose in recorded if not holds(event_id, whose)})
    found: dict[str, tuple[Any, ...]] = {}
    if missing:  # the latest revision of each, for the report
        columns = "account_id, follower_id, class, score::float8, occurred_at"
        found = await latest_decisions(conn, missing, columns)
    unread = sorted(found.items(), key=lambda item: (item[1][4], item[0]))
    return [
        Difference(event_id, account, follower, (cls, round(points, 2)), None, (), not_in_log=True)
        for event_id, (account, follower, cls, points, _) in unread
    ]


def first_events(
    records: Sequence[Record],
    relationships: Collection[tuple[str, str]],
    kept: Mapping[str, Copy] | None = None,
) -> dict[tuple[str, str], datetime]:
    """The time of each of these relationships' (account, follower) first event in the records."""
    first: dict[tuple[str, str], datetime] = {}
    for record in first_copies(records, kept):
        event = record.event
        key = (event.account_id, event.follower.id)
        if key in relationships and (key not in first or event.occurred_at < first[key]):
            first[key] = event.occurred_at
    return first


async def history_cut(
    conn: asyncpg.Connection, first: Mapping[tuple[str, str], datetime]
) -> set[tuple[str, str]]:
    """Of these relationships (each with the time of its first event in the log read), those the
    churn detector processed an event of before it (its record, ``churn_processed``, by its
    relationship index): the log read lacks the start of their history, so replay starts them as
    new where live they were not."""
    if not first:
        return set()
    rows = await conn.fetch(
        """
        SELECT r.account_id, r.follower_id
        FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS r(account_id, follower_id, first_at)
        WHERE EXISTS (
            SELECT 1 FROM churn_processed p
            WHERE p.account_id = r.account_id AND p.follower_id = r.follower_id AND p.occurred_at < r.first_at
        )
        """,
        [account for account, _ in first],
        [follower for _, follower in first],
        list(first.values()),
    )
    return {(row["account_id"], row["follower_id"]) for row in rows}


async def brand_configs(
    conn: asyncpg.Connection, account: str | None = None, choice: int | str = AS_RECORDED
) -> Configs:
    """The configurations to replay with (of ``account`` alone when given): as recorded, the newest
    (``latest``), or ``account``'s version ``choice`` (LookupError when it has no such version)."""
    if isinstance(choice, int):
        if account is None:
            raise ValueError("a configuration version needs an account")
        pinned = await accounts.at_version(conn, account, choice)
        if pinned is None:
            last = (await accounts.latest(conn, [account])).get(account)
            raise LookupError(
                f"{account} has no configuration version {choice}: "
                + (
                    f"its versions are 1 to {last.version} (followback account history {account})"
                    if last is not None
                    else "it has none: it is decided under the defaults (--config recorded or latest)"
                )
            )
        return Configs({account: pinned}, name=pinned.label)
    if choice not in (AS_RECORDED, LATEST):
        raise ValueError(f"not a configuration choice: {choice!r} ({AS_RECORDED}, {LATEST} or a version)")
    names = (
        [account]
        if account is not None
        else [r["account_id"] for r in await conn.fetch("SELECT DISTINCT account_id FROM account_configs")]
    )
    newest = await accounts.latest(conn, names)
    if choice == LATEST:
        return Configs(newest, name=LATEST)
    return Configs(newest, await accounts.every_version(conn, names), AS_RECORDED)


async def brand_configs_at(dsn: str, account: str | None = None, choice: int | str = AS_RECORDED) -> Configs:
    """:func:`brand_configs` over a connection of its own."""
    conn = await asyncpg.connect(dsn)
    try:
        return await brand_configs(conn, account, choice)
    finally:
        await conn.close()


@dataclass(frozen=True, slots=True)
class Recorded:
    """What replay compares of a recorded decision (its class, score and each signal's points) and
    the configuration it was made under."""

    account_id: str
    follower_id: str
    decision_class: str
    score: float
    signals: dict[str, float]
    config_version: str
    scorer_version: str


async def latest_decisions(
    conn: asyncpg.Connection, event_ids: list[str], columns: str
) -> dict[str, tuple[Any, ...]]:
    """``columns`` of each of these events' recorded decision, by event id: the decision of its
    latest annotation revision that decided (the scorer decides a revised annotation again). Read by
    primary key (a decision's id derives from its event and revision,
    :func:`shared.decisions.decision_id_for`), revisions through their partial index."""
    rows = await conn.fetch(
        f"""
        SELECT event_ids[1], revision, {columns} FROM decisions WHERE decision_id = ANY($1::uuid[])
        UNION ALL
        SELECT event_ids[1], revision, {columns} FROM decisions
        WHERE revision > 0 AND event_ids[1] = ANY($2::text[])
        """,  # noqa: S608 (the columns are the callers' constants)
        [decision_id_for(event_id) for event_id in event_ids],
        event_ids,
    )
    found: dict[str, tuple[int, tuple[Any, ...]]] = {}
    for event_id, revision, *values in rows:
        if event_id not in found or revision > found[event_id][0]:
            found[event_id] = (revision, tuple(values))
    return {event_id: values for event_id, (_, values) in found.items()}


async def recorded_decisions(conn: asyncpg.Connection, event_ids: list[str]) -> dict[str, Recorded]:
    """The recorded decision of each of these events (of its latest revision), by event id."""
    rows = await latest_decisions(
        conn,
        event_ids,
        "account_id, follower_id, class, score::float8, reasons::text, config_version, scorer_version",
    )
    return {
        event_id: Recorded(account, follower, cls, score, _signals(orjson.loads(reasons)), config, scorer)
        for event_id, (account, follower, cls, score, reasons, config, scorer) in rows.items()
    }


def _signals(reasons: Iterable[Any]) -> dict[str, float]:
    """Each reason's points by signal (reasons as recorded, JSON objects, or as :class:`Reason`)."""
    return {
        (r["signal"] if isinstance(r, dict) else r.signal): float(
            r["contribution"] if isinstance(r, dict) else r.contribution
        )
        for r in reasons
    }


def compare(
    in_window: list[str],
    decided: dict[str, Decision],
    recorded: dict[str, Recorded],
    stood: Mapping[str, Decision] | None = None,
) -> list[Difference]:
    """Every event of the window whose recorded and recomputed decisions differ (or only one exists).

    An event live recorded a decision on and replay none because it scored the same as the
    relationship's standing version (which an earlier event made: under another configuration,
    ``--config``, say) is compared with replay's scoring of it (``stood``, from :func:`recompute`):
    the same class, score and points is no difference; another is one, marked
    :attr:`Difference.stands`. A recorded and a recomputed decision of one event id but of two
    relationships (an id reused by another follower, whose copy the detector kept unknown: see
    :func:`first_copies`) are two differences, each under its own relationship."""
    differences: list[Difference] = []
    for event_id in in_window:
        new, old = decided.get(event_id), recorded.get(event_id)
        stands = new is None and old is not None and stood is not None and event_id in stood
        if stands:
            assert stood is not None
            new = stood[event_id]
        if new is not None and old is not None and _whose(new) != _whose(old):
            # an id under two relationships, decided on one live and on the other here
            found = [_difference(event_id, None, old)]
            if not stands:  # (one that stands made no version here either)
                found.append(_difference(event_id, new, None))
        else:
            found = [_difference(event_id, new, old, stands)]
        differences += [d for d in found if d is not None]
    return differences


def _whose(decision: Decision | Recorded) -> tuple[str, str]:
    return decision.account_id, decision.follower_id


def _difference(
    event_id: str, new: Decision | None, old: Recorded | None, stands: bool = False
) -> Difference | None:
    """How a recomputed and a recorded decision of one relationship differ (None: they do not, or
    neither exists)."""
    was = (old.decision_class, round(old.score, 2)) if old else None
    now = (new.decision_class.value, round(new.score, 2)) if new else None
    before, after = old.signals if old else {}, _signals(new.reasons) if new else {}
    if was == now and before == after:
        return None  # the common case: nothing changed
    changed = tuple(sorted(s for s in before.keys() | after.keys() if before.get(s) != after.get(s)))
    either = new or old
    assert either is not None
    return Difference(event_id, either.account_id, either.follower_id, was, now, changed, stands=stands)
