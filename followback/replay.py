"""``followback replay``: recompute decisions from the event log and compare them with the record.

The same pure code as the live services (the churn detector's fold with the configured churn
rules, a follower's relationships together so cross-account churn counts, then the scorer's
``next_decision``), in event-time order, in process: nothing is written and nobody is notified.
Every event before the window's end is folded, so each relationship's state is as it was when the
window opened; only the decisions of events inside the window are compared with the recorded ones.
The command runs this per shard of followers on every core (:mod:`followback.replay_workers`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from followback.eventlog import Record, Window
from services.churn.rules import ChurnRules, InMemory
from services.scorer.scoring import Current, ScoringRules, next_decision
from shared import accounts
from shared.accounts import VersionedConfig
from shared.decisions import Decision, decision_id_for
from shared.relationships import AnnotatedEvent

MAX_LISTED = 1000
PROGRESS_EVERY = 1000  # events between two reports of progress


@dataclass(frozen=True)
class Difference:
    event_id: str
    account_id: str
    follower_id: str
    recorded: tuple[str, float] | None  # class, score
    recomputed: tuple[str, float] | None
    reasons_changed: tuple[str, ...]

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
        }


@dataclass
class ReplayReport:
    events_read: int = 0
    events_in_window: int = 0
    decisions_recomputed: int = 0
    decisions_recorded: int = 0
    differences: list[Difference] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        return self.events_read / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "events_read": self.events_read,
            "events_in_window": self.events_in_window,
            "decisions_recomputed": self.decisions_recomputed,
            "decisions_recorded": self.decisions_recorded,
            "differences": len(self.differences),
            "events_per_s": round(self.events_per_second),
            # The first differences in full; the count above is always complete.
            "changed": [d.as_dict() for d in self.differences[:MAX_LISTED]],
        }


def recompute(
    records: Iterable[Record],
    window: Window,
    rules: ScoringRules,
    brands: dict[str, VersionedConfig],
    churn_rules: ChurnRules | None = None,
    folded: Callable[[int], None] | None = None,
) -> tuple[int, list[str], dict[str, Decision]]:
    """Fold every event before the window's end (of every account, as the detector does: a
    follower's churn on one account counts on the others); decide the ones inside it.

    Returns the number of events read, the ids of the events in the window, and the recomputed
    decision of each of those events that yields one. ``folded`` hears how many more events are
    done, every :data:`PROGRESS_EVERY` and at the end.
    """
    ordered = sorted(records, key=lambda r: r.event.occurred_at)  # stable: log order breaks ties
    # The detector's fold: one clock for the whole log, cross-account churn included.
    churn = InMemory(churn_rules or ChurnRules())
    current: dict[tuple[str, str], Current] = {}
    seen: set[str] = set()
    in_window: list[str] = []
    decided: dict[str, Decision] = {}
    for n, record in enumerate(ordered, 1):
        if folded is not None and n % PROGRESS_EVERY == 0:
            folded(PROGRESS_EVERY)
        event = record.event
        if event.event_id in seen or (window.until is not None and event.occurred_at >= window.until):
            continue  # a duplicate is already done; later events cannot change the window
        seen.add(event.event_id)
        note = churn.fold(event)  # every account's: a churn on one counts on the others
        if window.account is not None and event.account_id != window.account:
            continue  # folded, not decided: only the account's decisions are replayed
        key = (event.account_id, event.follower.id)
        decision = next_decision(
            current.get(key), AnnotatedEvent(event=event, relationship=note), rules, brands.get(key[0])
        )
        if decision is not None:
            version = current[key].version + 1 if key in current else 1
            current[key] = Current(decision.decision_class, decision.score, version)
        if window.holds(event):
            in_window.append(event.event_id)
            if decision is not None:
                decided[event.event_id] = decision
    if folded is not None and len(ordered) % PROGRESS_EVERY:
        folded(len(ordered) % PROGRESS_EVERY)
    return len(ordered), in_window, decided


async def brand_configs(
    conn: asyncpg.Connection, account: str | None = None, version: int | None = None
) -> dict[str, VersionedConfig]:
    """The configurations to replay with: the newest of every account (of ``account`` alone when
    given), or ``account``'s ``version`` (LookupError when it has no such version)."""
    if version is not None:
        if account is None:
            raise ValueError("a configuration version needs an account")
        pinned = await accounts.at_version(conn, account, version)
        if pinned is None:
            raise LookupError(f"{account} has no configuration version {version}")
        return {account: pinned}
    names = (
        [account]
        if account is not None
        else [r["account_id"] for r in await conn.fetch("SELECT DISTINCT account_id FROM account_configs")]
    )
    return await accounts.latest(conn, names)


async def brand_configs_at(
    dsn: str, account: str | None = None, version: int | None = None
) -> dict[str, VersionedConfig]:
    """:func:`brand_configs` over a connection of its own."""
    conn = await asyncpg.connect(dsn)
    try:
        return await brand_configs(conn, account, version)
    finally:
        await conn.close()


@dataclass(frozen=True, slots=True)
class Recorded:
    """What replay compares of a recorded decision: its class, score and each signal's points."""

    account_id: str
    follower_id: str
    decision_class: str
    score: float
    signals: dict[str, float]


async def recorded_decisions(conn: asyncpg.Connection, event_ids: list[str]) -> dict[str, Recorded]:
    """The recorded decision of each of these events, by event id. Looked up by primary key: a
    decision's id derives from the one event it rests on (:func:`shared.decisions.decision_id_for`)."""
    rows = await conn.fetch(
        """
        SELECT event_ids[1], account_id, follower_id, class, score::float8, reasons::text
        FROM decisions WHERE decision_id = ANY($1::uuid[])
        """,
        [decision_id_for(event_id) for event_id in event_ids],
    )
    return {
        event_id: Recorded(account, follower, cls, score, _signals(orjson.loads(reasons)))
        for event_id, account, follower, cls, score, reasons in rows
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
    in_window: list[str], decided: dict[str, Decision], recorded: dict[str, Recorded]
) -> list[Difference]:
    """Every event of the window whose recorded and recomputed decisions differ (or only one exists)."""
    differences = []
    for event_id in in_window:
        new, old = decided.get(event_id), recorded.get(event_id)
        if new is None and old is None:
            continue
        was = (old.decision_class, round(old.score, 2)) if old else None
        now = (new.decision_class.value, round(new.score, 2)) if new else None
        before, after = old.signals if old else {}, _signals(new.reasons) if new else {}
        if was == now and before == after:
            continue  # the common case: nothing changed
        changed = tuple(sorted(s for s in before.keys() | after.keys() if before.get(s) != after.get(s)))
        either = new or old
        assert either is not None
        differences.append(Difference(event_id, either.account_id, either.follower_id, was, now, changed))
    return differences
