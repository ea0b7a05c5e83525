"""The churn detector's durable state in PostgreSQL, read and written a batch at a time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from shared.relationships import AnnotatedEvent, RelationshipState

Key = tuple[str, str]


async def processed(conn: asyncpg.Connection, event_ids: Sequence[str]) -> dict[str, Any]:
    """The annotated events already published for these event ids."""
    rows = await conn.fetch(
        "SELECT event_id, annotated FROM churn_processed WHERE event_id = ANY($1::text[])",
        list(event_ids),
    )
    return {row["event_id"]: row["annotated"] for row in rows}


async def load(conn: asyncpg.Connection, keys: Iterable[Key]) -> dict[Key, RelationshipState]:
    """The relationships' states, locked for this transaction (absent ones are new)."""
    accounts, followers = zip(*keys, strict=True) if keys else ((), ())
    rows = await conn.fetch(
        """
        SELECT r.account_id, r.follower_id, r.state
        FROM relationships r
        JOIN unnest($1::text[], $2::text[]) AS k(account_id, follower_id)
          ON r.account_id = k.account_id AND r.follower_id = k.follower_id
        FOR UPDATE OF r
        """,
        list(accounts),
        list(followers),
    )
    return {
        (row["account_id"], row["follower_id"]): RelationshipState.model_validate(row["state"])
        for row in rows
    }


async def save(
    conn: asyncpg.Connection,
    states: dict[Key, RelationshipState],
    annotated: Sequence[AnnotatedEvent],
) -> None:
    """Write the new states and the processed events in the caller's transaction."""
    await conn.executemany(
        """
        INSERT INTO relationships (account_id, follower_id, state, updated_at)
        VALUES ($1, $2, $3, now())
        ON CONFLICT (account_id, follower_id)
        DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at
        """,
        [(acc, fol, state.model_dump(mode="json")) for (acc, fol), state in states.items()],
    )
    await conn.copy_records_to_table(
        "churn_processed",
        records=[
            (
                a.event.event_id,
                a.event.account_id,
                a.event.follower.id,
                a.event.occurred_at,
                a.model_dump(mode="json"),
            )
            for a in annotated
        ],
        columns=["event_id", "account_id", "follower_id", "occurred_at", "annotated"],
    )
