"""Notifications in PostgreSQL: one per high-value decision, retracted when the follower leaves."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.decisions import Decision, DecisionClass

# Decisions that end a pending push: the follower left, or turned out to be a churner.
RETRACTING = {DecisionClass.WITHDRAWN, DecisionClass.CHURNER, DecisionClass.SPAM}


async def record(conn: asyncpg.Connection, decisions: Sequence[Decision]) -> tuple[int, int]:
    """Queue high-value decisions and retract pending ones; returns (queued, retracted)."""
    pushes = [d for d in decisions if d.decision_class is DecisionClass.HIGH_VALUE]
    queued = await conn.fetchval(
        """
        WITH ins AS (
            INSERT INTO notifications (decision_id, account_id, follower_id)
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])
            ON CONFLICT DO NOTHING  -- already recorded, or this follower already waits
            RETURNING 1
        ) SELECT count(*) FROM ins
        """,
        [d.decision_id for d in pushes],
        [d.account_id for d in pushes],
        [d.follower_id for d in pushes],
    )
    leaving = [d for d in decisions if d.decision_class in RETRACTING]
    retracted = await conn.fetchval(
        """
        WITH upd AS (
            UPDATE notifications n SET status = 'retracted', retracted_at = k.at
            FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS k(account_id, follower_id, at)
            WHERE n.account_id = k.account_id AND n.follower_id = k.follower_id
              AND n.status = 'pending'
            RETURNING 1
        ) SELECT count(*) FROM upd
        """,
        [d.account_id for d in leaving],
        [d.follower_id for d in leaving],
        [d.occurred_at for d in leaving],
    )
    return int(queued), int(retracted)
