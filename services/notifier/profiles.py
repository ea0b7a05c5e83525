"""Follower profiles and interactions, read from the pipeline's event log in PostgreSQL.

A decision carries the ids of the events it rests on, and the churn detector keeps every event it
processed (``churn_processed``: the annotated event exactly as published). The notifier only reads
that log, so the queue shows the profile snapshot the decision was made from and the follower's
interactions with the brand, without a second copy of the stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.decisions import Decision

Key = tuple[str, str]


@dataclass(frozen=True)
class InteractionSeen:
    at: datetime
    kind: str
    text: str


@dataclass(frozen=True)
class Interactions:
    total: int
    latest: list[InteractionSeen]


async def snapshots(conn: asyncpg.Connection, decisions: Sequence[Decision]) -> dict[str, dict[str, Any]]:
    """The follower profile each decision was made from (its newest event's snapshot), by decision id."""
    pairs = [(d.decision_id, event_id) for d in decisions for event_id in d.event_ids]
    if not pairs:
        return {}
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (k.decision_id) k.decision_id, p.annotated->'event'->'follower' AS profile
        FROM unnest($1::text[], $2::text[]) AS k(decision_id, event_id)
        JOIN churn_processed p ON p.event_id = k.event_id
        ORDER BY k.decision_id, p.occurred_at DESC
        """,
        [p[0] for p in pairs],
        [p[1] for p in pairs],
    )
    return {row["decision_id"]: row["profile"] for row in rows if isinstance(row["profile"], dict)}


async def interactions(
    conn: asyncpg.Connection, keys: Iterable[Key], per_follower: int = 5
) -> dict[Key, Interactions]:
    """Each follower's interactions with the brand: how many, and the newest few."""
    pairs = list(keys)
    if not pairs:
        return {}
    rows = await conn.fetch(
        """
        SELECT account_id, follower_id, occurred_at, kind, text, total FROM (
            SELECT p.account_id, p.follower_id, p.occurred_at,
                   p.annotated->'event'->'interaction'->>'kind' AS kind,
                   coalesce(p.annotated->'event'->'interaction'->>'text', '') AS text,
                   row_number() OVER w AS n,
                   count(*) OVER (PARTITION BY p.account_id, p.follower_id) AS total
            FROM churn_processed p
            JOIN unnest($1::text[], $2::text[]) AS k(account_id, follower_id)
              ON p.account_id = k.account_id AND p.follower_id = k.follower_id
            WHERE p.annotated->'event'->>'type' = 'interaction'
            WINDOW w AS (PARTITION BY p.account_id, p.follower_id ORDER BY p.occurred_at DESC)
        ) x WHERE n <= $3
        ORDER BY account_id, follower_id, occurred_at DESC
        """,
        [p[0] for p in pairs],
        [p[1] for p in pairs],
        per_follower,
    )
    found: dict[Key, Interactions] = {}
    for row in rows:
        key = (row["account_id"], row["follower_id"])
        seen = found.setdefault(key, Interactions(total=row["total"], latest=[]))
        seen.latest.append(InteractionSeen(at=row["occurred_at"], kind=row["kind"], text=row["text"]))
    return found
