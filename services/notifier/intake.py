"""Decisions in, in one transaction with the batch: the queue, pushes within budget, the outbox.

Everything a batch of decisions causes (review items, push intents, budget scheduling, outbox rows,
retractions) commits together, and only then are the Kafka offsets committed; a redelivered batch
finds its effects already there (every write is keyed by the decision or the delivery).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any
from urllib.parse import urlencode

import asyncpg

from services.notifier import budget, digest, follow_backs, outbox, profiles, retraction, review_items
from services.notifier.digest import Entry
from services.notifier.outbox import NewDelivery
from shared import accounts
from shared.accounts import AccountConfig
from shared.decisions import Decision, DecisionClass
from shared.settings import NotifierSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Intake:
    queued: int = 0
    scheduled: int = 0
    retracted: int = 0
    digests: int = 0


@dataclass(frozen=True)
class IntakeSettings:
    notifier: NotifierSettings
    queue_url: str  # the review queue's public address, linked from pushes


async def _versions(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT decision_id::text, version FROM decisions WHERE decision_id = ANY($1::uuid[])", list(ids)
    )
    return {row["decision_id"]: row["version"] for row in rows}


async def _preferences(conn: asyncpg.Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    if not keys:
        return {}
    accounts_, followers = zip(*keys, strict=True)
    rows = await conn.fetch(
        """
        SELECT p.account_id, p.follower_id, p.preference FROM notify_preferences p
        JOIN unnest($1::text[], $2::text[]) AS k(account_id, follower_id)
          ON p.account_id = k.account_id AND p.follower_id = k.follower_id
        """,
        list(accounts_),
        list(followers),
    )
    return {(r["account_id"], r["follower_id"]): r["preference"] for r in rows}


async def _zones(
    conn: asyncpg.Connection,
    labels: Iterable[tuple[str, str]],
    latest: Mapping[str, accounts.VersionedConfig],
) -> dict[tuple[str, str], tzinfo]:
    """The time zone of each (account, config_version) a decision was made under: its day and its
    digest period are those of the account's configuration in force for the decision (the version
    it records), not of whatever the account says when the notifier gets to it. A label that names
    no version of the account (``.../default``: it had none; an older or foreign label) stands for
    the defaults, or for the newest configuration when it is not ``.../default``."""
    wanted = {(a, label): accounts.brand_version(label, a) for a, label in set(labels)}
    found = await accounts.versions(conn, [(a, v) for (a, _), v in wanted.items() if v is not None])
    zones = {}
    for (account, label), version in wanted.items():
        config = found.get((account, version)) if version is not None else None
        if config is None and not label.endswith("/default"):
            config = latest.get(account)
        zones[(account, label)] = accounts.zone_of(config.config if config else None, account)
    return zones


def _push_day(d: Decision, zones: Mapping[tuple[str, str], tzinfo]) -> date:
    """The day of the account's budget a decision's event falls on (``push_day``), in its zone."""
    return budget.day_of(d.occurred_at, zones[(d.account_id, d.config_version)])


def _zone_name(d: Decision, zones: Mapping[tuple[str, str], tzinfo]) -> str:
    return accounts.zone_name(zones[(d.account_id, d.config_version)])


def _wants_push(d: Decision, preference: str | None, state: str | None) -> bool:
    if preference == "never" or state not in (None, review_items.OPEN):
        return False
    if preference == "always":
        return d.decision_class in review_items.REVIEWABLE
    return d.decision_class is DecisionClass.HIGH_VALUE


async def record(conn: asyncpg.Connection, batch: Sequence[Decision], config: IntakeSettings) -> Intake:
    """Apply a batch of decisions in the caller's transaction."""
    unique = list({d.decision_id: d for d in batch}.values())
    versions = await _versions(conn, [d.decision_id for d in unique])
    missing = [d.decision_id for d in unique if d.decision_id not in versions]
    if missing:
        # The scorer records a decision before publishing it; one it never recorded has no row to
        # point at, and waiting would never change that.
        log.warning("skipping %d decisions with no recorded row: %s", len(missing), missing[:5])
    decisions = [(d, versions[d.decision_id]) for d in unique if d.decision_id in versions]
    if not decisions:
        return Intake()
    configs = await accounts.latest(conn, sorted({d.account_id for d, _ in decisions}))
    # Before anything touches digest entries (retractions too): see digest.lock.
    digesting = await digest.lock(conn, {d.account_id for d, _ in decisions}, configs)
    await follow_backs.lock(conn, {d.account_id for d, _ in decisions})  # before any review item
    reviewable = [d for d, _ in decisions if d.decision_class in review_items.REVIEWABLE]
    states = await review_items.apply(conn, decisions, await profiles.snapshots(conn, reviewable))
    # A follower the brand already followed back on X (that event came first) is decided before a
    # push is considered: never pushed, nothing counted against the budget.
    states.update(await follow_backs.apply(conn, [k for k, s in states.items() if s == review_items.OPEN]))
    prefs = await _preferences(conn, {(d.account_id, d.follower_id) for d, _ in decisions})

    wanted = [
        (d, v, prefs.get((d.account_id, d.follower_id)))
        for d, v in decisions
        if _wants_push(d, prefs.get((d.account_id, d.follower_id)), states.get((d.account_id, d.follower_id)))
    ]
    zones = await _zones(conn, {(d.account_id, d.config_version) for d, _ in decisions}, configs)
    # The day of the budget: the event's date where the brand is (see _zones), and that zone's name.
    reached = {(d.account_id, _push_day(d, zones)): _zone_name(d, zones) for d, _ in decisions}
    days_of = [_push_day(d, zones) for d, _, _ in wanted]
    named = {**reached, **{(d.account_id, _push_day(d, zones)): _zone_name(d, zones) for d, _, _ in wanted}}
    queued = await conn.fetch(
        """
        INSERT INTO notifications (decision_id, account_id, follower_id, version, score, occurred_at, day,
            priority)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::float8[],
            $6::timestamptz[], $7::date[], $8::smallint[])
        ON CONFLICT DO NOTHING  -- already recorded, or this follower already waits for a person
        RETURNING account_id, day
        """,
        [d.decision_id for d, _, _ in wanted],
        [d.account_id for d, _, _ in wanted],
        [d.follower_id for d, _, _ in wanted],
        [v for _, v, _ in wanted],
        [d.score for d, _, _ in wanted],
        [d.occurred_at for d, _, _ in wanted],
        days_of,
        [1 if pref == "always" else 0 for _, _, pref in wanted],
    )
    retracted = await retraction.retract(conn, [(d, v) for d, v in decisions if retraction.retracts(d)])
    days = {(row["account_id"], row["day"]) for row in queued}
    budgets = {a: c.config.daily_push_budget for a, c in configs.items()}
    carry = config.notifier.budget_carry_over_days
    # A new day of the account's event time gives the pushes still waiting its room, whether or not
    # this batch queues a push of that day.
    days |= await budget.days_reached(conn, reached, budgets, carry)
    scheduled = await budget.allocate(conn, days, budgets, carry, named)
    pushes, entries = await _push_deliveries(conn, scheduled, configs, config)
    await outbox.enqueue(conn, pushes)
    made = await _digests(conn, decisions, digesting, entries, configs, config)
    return Intake(queued=len(queued), scheduled=len(scheduled), retracted=retracted, digests=len(made))


async def _digests(
    conn: asyncpg.Connection,
    decisions: Sequence[tuple[Decision, int]],
    digesting: Sequence[str],
    entries: Sequence[Entry],
    configs: Mapping[str, accounts.VersionedConfig],
    config: IntakeSettings,
) -> list[int]:
    """Hold digest-mode pushes in their periods, move the accounts' clocks, close what is due."""
    if not digesting:
        return []
    await digest.add(conn, entries, {a: digest.mode_of(configs.get(a)) for a in digesting})
    newest: dict[str, datetime] = {}
    for d, _ in decisions:
        if d.account_id in digesting:
            newest[d.account_id] = max(d.occurred_at, newest.get(d.account_id, d.occurred_at))
    clocks = await digest.advance(conn, newest)
    zones = {a: accounts.zone_of(c.config, a) for a, c in configs.items()}
    return await digest.close_due(conn, clocks, config.notifier.digest_grace_s, config.queue_url, zones)


async def _push_deliveries(
    conn: asyncpg.Connection,
    decision_ids: Sequence[str],
    configs: Mapping[str, accounts.VersionedConfig],
    config: IntakeSettings,
) -> tuple[list[NewDelivery], list[Entry]]:
    """One push per scheduled decision and channel the account has on; in digest mode, an entry instead."""
    if not decision_ids:
        return [], []
    rows = await conn.fetch(
        """
        SELECT d.decision_id::text, d.account_id, d.follower_id, d.screen_name, d.score::float8 AS score,
               d.reasons, d.occurred_at, d.class, d.config_version, r.profile->>'name' AS name
        FROM decisions d
        LEFT JOIN review_items r ON r.account_id = d.account_id AND r.follower_id = d.follower_id
        WHERE d.decision_id = ANY($1::uuid[])
        """,
        list(decision_ids),
    )
    zones = await _zones(conn, {(row["account_id"], row["config_version"]) for row in rows}, configs)
    found, held = [], []
    for row in rows:
        account = configs.get(row["account_id"])
        channels = outbox.push_channels(account.config if account else AccountConfig(), config.notifier)
        payload = _push_payload(row, config.queue_url)
        for channel, target in channels:
            if digest.mode_of(account) != "off":
                held.append(
                    Entry(
                        decision_id=row["decision_id"], channel=channel, account_id=row["account_id"],
                        follower_id=row["follower_id"], target=target, occurred_at=row["occurred_at"],
                        payload=payload, zone=zones[(row["account_id"], row["config_version"])],
                    )
                )  # fmt: skip
                continue
            found.append(
                NewDelivery(
                    idempotency_key=f"push:{row['decision_id']}:{channel}",
                    decision_id=row["decision_id"],
                    account_id=row["account_id"],
                    follower_id=row["follower_id"],
                    channel=channel,
                    kind="push",
                    target=target,
                    payload=payload,
                )
            )
    return found, held


def _push_payload(row: asyncpg.Record, queue_url: str) -> dict[str, Any]:
    # Every class and state: the queue's defaults (high value, open) would hide the follower the
    # push is about once their class is another (an "always notify" one) or a person has acted.
    query = {"account": row["account_id"], "q": row["follower_id"], "class": "any", "state": "any"}
    link = f"{queue_url.rstrip('/')}/?" + urlencode(query)
    return {
        "decision_id": row["decision_id"],
        "class": row["class"],
        "account_id": row["account_id"],
        "follower_id": row["follower_id"],
        "screen_name": row["screen_name"],
        "name": row["name"] or "",
        "score": row["score"],
        "reasons": list(row["reasons"])[:3],
        "url": link,
    }
