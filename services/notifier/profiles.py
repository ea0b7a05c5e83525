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
    # Per relationship, through its index (churn_processed_relationship): the newest few read
    # backwards and stopped at the limit, and a count, instead of every event's stored JSON sorted.
    rows = await conn.fetch(
        """
        SELECT k.account_id, k.follower_id, i.occurred_at, i.kind, i.text, c.total
        FROM (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) AS k(account_id, follower_id)
        CROSS JOIN LATERAL (
            SELECT count(*) AS total FROM churn_processed p
            WHERE p.account_id = k.account_id AND p.follower_id = k.follower_id
              AND p.annotated->'event'->>'type' = 'interaction'
        ) c
        CROSS JOIN LATERAL (
            SELECT p.occurred_at,
                   p.annotated->'event'->'interaction'->>'kind' AS kind,
                   coalesce(p.annotated->'event'->'interaction'->>'text', '') AS text
            FROM churn_processed p
            WHERE p.account_id = k.account_id AND p.follower_id = k.follower_id
              AND p.annotated->'event'->>'type' = 'interaction'
            ORDER BY p.occurred_at DESC LIMIT $3
        ) i
        ORDER BY k.account_id, k.follower_id, i.occurred_at DESC
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
