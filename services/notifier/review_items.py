"""The review queue's read model: each follower a person may look at, with the current decision.

A follower enters when a decision makes them worth a look (``high_value`` or ``worth_following``)
and then follows every later decision version, so a follower who leaves drops out of the queue's
class filters. What a person decided (``state``) is never overwritten by a decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from shared.decisions import Decision, DecisionClass

REVIEWABLE = {DecisionClass.HIGH_VALUE, DecisionClass.WORTH_FOLLOWING}
OPEN = "open"

Key = tuple[str, str]


def _row(d: Decision, version: int, profile: dict[str, Any] | None) -> tuple[Any, ...]:
    return (
        d.account_id, d.follower_id, d.decision_id, version, d.decision_class.value, d.score,
        [r.model_dump(mode="json") for r in d.reasons], d.screen_name, profile, d.occurred_at,
    )  # fmt: skip


async def apply(
    conn: asyncpg.Connection,
    decisions: Sequence[tuple[Decision, int]],
    profiles: Mapping[str, dict[str, Any]],
) -> dict[Key, str]:
    """Apply decisions (with their versions) in order; returns each follower's state in the queue."""
    entering = [
        _row(d, v, profiles.get(d.decision_id)) for d, v in decisions if d.decision_class in REVIEWABLE
    ]
    others = [
        _row(d, v, profiles.get(d.decision_id)) for d, v in decisions if d.decision_class not in REVIEWABLE
    ]
    # Only a newer version moves an item: a redelivered older decision changes nothing.
    await conn.executemany(
        """
        INSERT INTO review_items (account_id, follower_id, decision_id, version, class, score, reasons,
            screen_name, profile, occurred_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (account_id, follower_id) DO UPDATE SET
            decision_id = EXCLUDED.decision_id, version = EXCLUDED.version, class = EXCLUDED.class,
            score = EXCLUDED.score, reasons = EXCLUDED.reasons, screen_name = EXCLUDED.screen_name,
            profile = coalesce(EXCLUDED.profile, review_items.profile),
            occurred_at = EXCLUDED.occurred_at, updated_at = now()
        WHERE review_items.version < EXCLUDED.version
        """,
        entering,
    )
    await conn.executemany(
        """
        UPDATE review_items SET decision_id = $3, version = $4, class = $5, score = $6, reasons = $7,
            screen_name = $8, profile = coalesce($9, profile), occurred_at = $10, updated_at = now()
        WHERE account_id = $1 AND follower_id = $2 AND version < $4
        """,
        others,
    )
    keys = {(d.account_id, d.follower_id) for d, _ in decisions}
    if not keys:
        return {}
    accounts, followers = zip(*keys, strict=True)
    rows = await conn.fetch(
        """
        SELECT r.account_id, r.follower_id, r.state FROM review_items r
        JOIN unnest($1::text[], $2::text[]) AS k(account_id, follower_id)
          ON r.account_id = k.account_id AND r.follower_id = k.follower_id
        """,
        list(accounts),
        list(followers),
    )
    return {(row["account_id"], row["follower_id"]): row["state"] for row in rows}
