"""The churn detector's durable state in PostgreSQL, read and written a batch at a time.

A follower's relationships are one unit (cross-account churn reads them all): a transaction that
changes any of them first takes the follower's advisory lock, so two instances (during a
rebalance) or the batch step and the sweep never fold the same follower at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from services.churn import codec
from services.churn.timeline import Rel


@dataclass(frozen=True)
class Saved:
    """A relationship's new state with the columns the sweep searches by."""

    account_id: str
    follower_id: str
    state: dict[str, Any]  # RelationshipState's JSON (codec.to_json)
    events_partition: int | None
    retain_due_at: datetime | None


@dataclass(frozen=True)
class Record:
    """A processed event (or emitted ``retained`` event) with its annotated form, as published."""

    event_id: str
    account_id: str
    follower_id: str
    occurred_at: datetime
    annotated: bytes  # the annotated event's JSON, as published
    emitted: dict[str, Any] | None = None


async def lock_followers(conn: asyncpg.Connection, follower_ids: Iterable[str]) -> None:
    """Wait for each follower's lock, in one order everywhere (no deadlock between instances)."""
    await conn.execute(
        # One 64-bit advisory lock key per follower id (a collision only serializes the two).
        "SELECT pg_advisory_xact_lock(hashtextextended('followback.churn:' || f, 0)) "
        "FROM unnest($1::text[]) AS f ORDER BY f",
        sorted(set(follower_ids)),
    )


async def try_lock_followers(conn: asyncpg.Connection, follower_ids: Iterable[str]) -> set[str]:
    """The followers whose lock was free (and is now held); the others are busy elsewhere."""
    rows = await conn.fetch(
        "SELECT f FROM unnest($1::text[]) AS f "
        "WHERE pg_try_advisory_xact_lock(hashtextextended('followback.churn:' || f, 0)) ORDER BY f",
        sorted(set(follower_ids)),
    )
    return {row["f"] for row in rows}


async def followers(conn: asyncpg.Connection, follower_ids: Iterable[str]) -> dict[str, dict[str, Rel]]:
    """Every relationship of these followers: follower id -> account id -> state."""
    rows = await conn.fetch(
        "SELECT account_id, follower_id, state FROM relationships WHERE follower_id = ANY($1::text[])",
        list(set(follower_ids)),
    )
    found: dict[str, dict[str, Rel]] = {}
    for row in rows:
        found.setdefault(row["follower_id"], {})[row["account_id"]] = codec.from_json(row["state"])
    return found


async def processed(conn: asyncpg.Connection, event_ids: Sequence[str]) -> dict[str, asyncpg.Record]:
    """The rows (annotated, emitted) of the events already processed."""
    rows = await conn.fetch(
        "SELECT event_id, annotated, emitted FROM churn_processed WHERE event_id = ANY($1::text[])",
        list(event_ids),
    )
    return {row["event_id"]: row for row in rows}


async def save(conn: asyncpg.Connection, states: Sequence[Saved]) -> None:
    """Upsert relationship states (one per relationship) in one statement."""
    if not states:
        return
    await conn.execute(
        """
        INSERT INTO relationships
            (account_id, follower_id, state, updated_at, events_partition, retain_due_at)
        SELECT account_id, follower_id, state::jsonb, now(), events_partition, retain_due_at
        FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[])
            AS s(account_id, follower_id, state, events_partition, retain_due_at)
        ON CONFLICT (account_id, follower_id) DO UPDATE SET
            state = EXCLUDED.state, updated_at = EXCLUDED.updated_at,
            events_partition = EXCLUDED.events_partition, retain_due_at = EXCLUDED.retain_due_at
        """,
        [s.account_id for s in states],
        [s.follower_id for s in states],
        # JSON text, cast by the server: one array of documents, whatever shape each one has
        [orjson.dumps(s.state).decode() for s in states],
        [s.events_partition for s in states],
        [s.retain_due_at for s in states],
    )


async def record(conn: asyncpg.Connection, records: Sequence[Record], table: str = "churn_processed") -> None:
    """Insert processed events (or, in ``churn_retained``, emitted ``retained`` events); a duplicate
    id fails the transaction (another instance got there first)."""
    columns = ["event_id", "account_id", "follower_id", "occurred_at", "annotated"]
    rows: list[tuple[Any, ...]] = [
        (r.event_id, r.account_id, r.follower_id, r.occurred_at, r.annotated) for r in records
    ]
    if table == "churn_processed":
        columns.append("emitted")
        rows = [(*row, r.emitted) for row, r in zip(rows, records, strict=True)]
    await conn.copy_records_to_table(table, records=rows, columns=columns)


async def annotated(conn: asyncpg.Connection, event_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The annotated form of events processed or emitted, as stored now."""
    rows = await conn.fetch(
        """
        SELECT annotated FROM churn_processed WHERE event_id = ANY($1::text[])
        UNION ALL
        SELECT annotated FROM churn_retained WHERE event_id = ANY($1::text[])
        """,
        list(event_ids),
    )
    return [row["annotated"] for row in rows]


async def revise(conn: asyncpg.Connection, annotated: dict[str, bytes]) -> None:
    """Replace the stored annotated form (JSON) of events processed in earlier batches."""
    if annotated:
        await conn.executemany(
            "UPDATE churn_processed SET annotated = $2 WHERE event_id = $1", list(annotated.items())
        )


async def clocks(conn: asyncpg.Connection, partitions: Iterable[int]) -> dict[int, datetime]:
    """The stream time of each partition, locked until the transaction ends."""
    rows = await conn.fetch(
        "SELECT events_partition, stream_time FROM churn_clock WHERE events_partition = ANY($1::int[]) "
        "ORDER BY events_partition FOR UPDATE",
        sorted(set(partitions)),
    )
    return {row["events_partition"]: row["stream_time"] for row in rows}


async def save_clocks(conn: asyncpg.Connection, times: dict[int, datetime]) -> None:
    await conn.executemany(
        """
        INSERT INTO churn_clock (events_partition, stream_time) VALUES ($1, $2)
        ON CONFLICT (events_partition) DO UPDATE
        SET stream_time = GREATEST(churn_clock.stream_time, EXCLUDED.stream_time)
        """,
        sorted(times.items()),
    )


async def due(conn: asyncpg.Connection, grace: timedelta, limit: int) -> list[tuple[str, int, datetime]]:
    """Relationships whose ``retained`` time their partition's watermark has passed, the longest due
    first across partitions: (follower id, partition, watermark); a follower may appear once per
    account. Each partition is a range scan of the partial index ``relationships_retain_due``, so
    the cost follows what is due, not how many relationships there are."""
    rows = await conn.fetch(
        """
        SELECT r.follower_id, c.events_partition, c.stream_time - $1::interval AS watermark
        FROM churn_clock c
        CROSS JOIN LATERAL (
            SELECT follower_id, retain_due_at FROM relationships
            WHERE events_partition = c.events_partition
              AND retain_due_at IS NOT NULL
              AND retain_due_at < c.stream_time - $1::interval
            ORDER BY retain_due_at
            LIMIT $2
        ) r
        ORDER BY r.retain_due_at
        LIMIT $2
        """,
        grace,
        limit,
    )
    return [(row["follower_id"], row["events_partition"], row["watermark"]) for row in rows]
