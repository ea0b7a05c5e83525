"""Decision rows in PostgreSQL: versioned per relationship, keyed by the event they rest on and the
revision of its annotation they answer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from services.scorer.scoring import Current
from shared.decisions import Decision, DecisionClass, reasons_json
from shared.events import EventType

Key = tuple[str, str]

_COLUMNS = """decision_id::text, account_id, follower_id, version, screen_name, class,
    score::float8 AS score, reasons, scorer_version, config_version, event_ids, occurred_at, revision,
    event_type"""


def _decision(row: asyncpg.Record) -> Decision:
    return Decision.model_validate({**dict(row), "event_ids": tuple(row["event_ids"])})


async def recorded(conn: asyncpg.Connection, decision_ids: Sequence[str]) -> dict[str, Decision]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM decisions WHERE decision_id = ANY($1::uuid[])",  # noqa: S608
        list(decision_ids),
    )
    return {row["decision_id"]: _decision(row) for row in rows}


async def current(conn: asyncpg.Connection, keys: Iterable[Key]) -> dict[Key, Current]:
    """Each relationship's latest decision version."""
    pairs = list(keys)
    if not pairs:
        return {}
    accounts, followers = zip(*pairs, strict=True)
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (d.account_id, d.follower_id)
               d.account_id, d.follower_id, d.class, d.score::float8 AS score, d.version, d.occurred_at,
               d.event_type, d.event_ids[1] AS event_id
        FROM decisions d
        JOIN unnest($1::text[], $2::text[]) AS k(account_id, follower_id)
          ON d.account_id = k.account_id AND d.follower_id = k.follower_id
        ORDER BY d.account_id, d.follower_id, d.version DESC
        """,
        list(accounts),
        list(followers),
    )
    return {
        (row["account_id"], row["follower_id"]): Current(
            DecisionClass(row["class"]),
            row["score"],
            row["version"],
            row["occurred_at"],
            EventType(row["event_type"]) if row["event_type"] is not None else None,
            row["event_id"],
        )
        for row in rows
    }


_INSERTED = (
    "decision_id", "account_id", "follower_id", "version", "screen_name", "class", "score", "reasons",
    "scorer_version", "config_version", "event_ids", "occurred_at", "revision", "event_type",
)  # fmt: skip


async def insert(conn: asyncpg.Connection, rows: Sequence[tuple[Decision, int]]) -> None:
    """Insert new decision versions with one COPY. A decision id (or a relationship's version)
    already present fails the transaction: another instance recorded it first, and the batch,
    delivered again, finds it recorded."""
    if not rows:
        return
    await conn.copy_records_to_table(
        "decisions",
        columns=_INSERTED,
        records=[
            (
                d.decision_id, d.account_id, d.follower_id, version, d.screen_name,
                d.decision_class.value, d.score, reasons_json(d.reasons),
                d.scorer_version, d.config_version, list(d.event_ids), d.occurred_at, d.revision,
                d.event_type.value if d.event_type is not None else None,
            )
            for d, version in rows
        ],
    )  # fmt: skip


NoOp = tuple[str, int]  # an event id and the revision of its annotation that decided nothing


async def unchanged(conn: asyncpg.Connection, keys: Sequence[NoOp]) -> set[NoOp]:
    """The (event, annotation revision) pairs among these that were scored before and changed nothing."""
    if not keys:
        return set()
    event_ids, revisions = zip(*keys, strict=True)
    rows = await conn.fetch(
        """
        SELECT u.event_id, u.revision FROM scorer_unchanged u
        JOIN unnest($1::text[], $2::int[]) AS k(event_id, revision) USING (event_id, revision)
        """,
        list(event_ids),
        list(revisions),
    )
    return {(row["event_id"], row["revision"]) for row in rows}


async def record_unchanged(conn: asyncpg.Connection, rows: Sequence[tuple[str, int, str, str, str]]) -> None:
    """Remember no-ops: (event id, annotation revision, account, follower, the configuration it
    was scored under)."""
    if not rows:
        return
    event_ids, revisions, accounts, followers, configs = zip(*rows, strict=True)
    await conn.execute(
        """
        INSERT INTO scorer_unchanged (event_id, revision, account_id, follower_id, config_version)
        SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[])
        ON CONFLICT DO NOTHING
        """,
        list(event_ids),
        list(revisions),
        list(accounts),
        list(followers),
        list(configs),
    )
