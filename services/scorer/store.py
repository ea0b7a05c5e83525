"""Decision rows in PostgreSQL: versioned per relationship, keyed by the event they rest on and the
revision of its annotation they answer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import asyncpg

from services.scorer.scoring import ACCOUNT_STATES, Current
from shared.decisions import Decision, DecisionClass, reasons_json
from shared.erasures import erased_followers
from shared.events import EVENT_TIME_RANK, EventType

Key = tuple[str, str]

_COLUMNS = """decision_id::text, account_id, follower_id, version, screen_name, class,
    score::float8 AS score, reasons, scorer_version, config_version, event_ids, occurred_at, revision,
    event_type, followed_at"""


def _decision(row: asyncpg.Record) -> Decision:
    return Decision.model_validate({**dict(row), "event_ids": tuple(row["event_ids"])})


async def recorded(conn: asyncpg.Connection, decision_ids: Sequence[str]) -> dict[str, Decision]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM decisions WHERE decision_id = ANY($1::uuid[])",  # noqa: S608
        list(decision_ids),
    )
    return {row["decision_id"]: _decision(row) for row in rows}


async def current(conn: asyncpg.Connection, keys: Iterable[Key]) -> dict[Key, Current]:
    """Each relationship's latest decision version, standing for the newest event it was decided on
    or scored the same on since (``scorer_positions``)."""
    pairs = list(keys)
    if not pairs:
        return {}
    accounts, followers = zip(*pairs, strict=True)
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (d.account_id, d.follower_id)
               d.account_id, d.follower_id, d.class, d.score::float8 AS score, d.version, d.occurred_at,
               d.event_type, d.event_ids[1] AS event_id,
               p.occurred_at AS seen_at, p.event_type AS seen_type, p.event_id AS seen_id,
               -- the reason of the account state's rule the version rests on (scoring.account_state)
               (SELECT r ->> 'signal' FROM jsonb_array_elements(d.reasons) r
                WHERE r ->> 'signal' = ANY($3::text[]) LIMIT 1) AS state_rule
        FROM decisions d
        JOIN unnest($1::text[], $2::text[]) AS k(account_id, follower_id)
          ON d.account_id = k.account_id AND d.follower_id = k.follower_id
        LEFT JOIN scorer_positions p ON p.account_id = d.account_id AND p.follower_id = d.follower_id
        ORDER BY d.account_id, d.follower_id, d.version DESC
        """,
        list(accounts),
        list(followers),
        list(ACCOUNT_STATES),
    )
    found = {}
    for row in rows:
        version = Current(
            DecisionClass(row["class"]),
            row["score"],
            row["version"],
            row["occurred_at"],
            EventType(row["event_type"]) if row["event_type"] is not None else None,
            row["event_id"],
            ACCOUNT_STATES.get(row["state_rule"]),
        )
        if row["seen_at"] is not None:
            version = version.standing_for(row["seen_at"], EventType(row["seen_type"]), row["seen_id"])
        found[(row["account_id"], row["follower_id"])] = version
    return found


async def record_positions(conn: asyncpg.Connection, versions: Mapping[Key, Current]) -> None:
    """Remember where these relationships' latest versions stand, once an event that scored the same
    moved them (kept only when newer than what is there: the detector's order)."""
    rows = [
        (account, follower, v.occurred_at, v.event_type.value, EVENT_TIME_RANK[v.event_type], v.event_id)
        for (account, follower), v in versions.items()
        if v.occurred_at is not None and v.event_type is not None and v.event_id is not None
    ]
    if not rows:
        return
    await conn.execute(
        """
        INSERT INTO scorer_positions (account_id, follower_id, occurred_at, event_type, event_rank, event_id)
        SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::int[], $6::text[])
        ON CONFLICT (account_id, follower_id) DO UPDATE
        SET occurred_at = EXCLUDED.occurred_at, event_type = EXCLUDED.event_type,
            event_rank = EXCLUDED.event_rank, event_id = EXCLUDED.event_id
        WHERE (EXCLUDED.occurred_at, EXCLUDED.event_rank, EXCLUDED.event_id)
            > (scorer_positions.occurred_at, scorer_positions.event_rank, scorer_positions.event_id)
        """,
        *(list(column) for column in zip(*rows, strict=True)),
    )


_INSERTED = (
    "decision_id", "account_id", "follower_id", "version", "screen_name", "class", "score", "reasons",
    "scorer_version", "config_version", "event_ids", "occurred_at", "revision", "event_type", "followed_at",
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
                d.event_type.value if d.event_type is not None else None, d.followed_at,
            )
            for d, version in rows
        ],
    )  # fmt: skip


async def erased(conn: asyncpg.Connection, events: Sequence[tuple[str, str]]) -> set[str]:
    """Which of these events (id, follower) ``followback forget`` erased after the churn detector
    processed them: an annotated event still on its way (published before the erasure, scored after
    it) carries the profile the erasure removed everywhere else. Only followers ever erased (the
    small ``erasures`` table) have their events looked up."""
    if not events:
        return set()
    followers = await erased_followers(conn, {follower for _, follower in events})
    if not followers:
        return set()
    rows = await conn.fetch(
        "SELECT event_id FROM churn_processed"
        " WHERE event_id = ANY($1::text[]) AND annotated->'erased' = 'true'::jsonb",
        [event_id for event_id, follower in events if follower in followers],
    )
    return {row["event_id"] for row in rows}


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
