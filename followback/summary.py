"""What the pipeline decided: current class per relationship, pushes and churners, from PostgreSQL."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import asyncpg

from shared.decisions import DecisionClass

CURRENT = """
    SELECT DISTINCT ON (account_id, follower_id) account_id, follower_id, class
    FROM decisions ORDER BY account_id, follower_id, version DESC
"""
# The relationships whose state (as of their newest event) holds a suspension or a deactivation
# now (an 'unsuspended' or 'reactivated' event, or a new follow, clears it): the scorer holds them
# back and the team is told "not available on X".
NOT_AVAILABLE = """
    SELECT count(*) FILTER (WHERE state->>'suspended_at' IS NOT NULL) AS suspended,
           count(*) FILTER (WHERE state->>'deactivated_at' IS NOT NULL) AS deactivated
    FROM relationships
"""


@dataclass
class Summary:
    relationships: int = 0
    decision_rows: int = 0
    by_class: Counter[str] = field(default_factory=Counter)
    pushed: int = 0
    retracted: int = 0
    churners: int = 0
    followed_back_on_x: int = 0  # review items a follow-back made on X itself decided
    posts_erased: int = 0  # deleted posts whose text was erased
    # Relationships held back as "not available on X" (X's compliance data: suspended by X, or
    # deactivated by the follower), and those the brand unfollowed on X (once or more: each counts once).
    suspended_on_x: int = 0
    deactivated_on_x: int = 0
    unfollowed_back_on_x: int = 0
    current: dict[str, str] = field(default_factory=dict)  # follower id -> class

    def as_dict(self) -> dict[str, object]:
        return {
            "relationships": self.relationships,
            "decision_rows": self.decision_rows,
            "by_class": {c.value: self.by_class.get(c.value, 0) for c in DecisionClass},
            "notifications_pending": self.pushed,
            "notifications_retracted": self.retracted,
            "churners_detected": self.churners,
            "followed_back_on_x": self.followed_back_on_x,
            "posts_erased": self.posts_erased,
            "suspended_on_x": self.suspended_on_x,
            "deactivated_on_x": self.deactivated_on_x,
            "unfollowed_back_on_x": self.unfollowed_back_on_x,
        }


async def summarize(dsn: str) -> Summary:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(CURRENT)
        unavailable = await conn.fetchrow(NOT_AVAILABLE)
        summary = Summary(
            relationships=await conn.fetchval("SELECT count(*) FROM relationships"),
            decision_rows=await conn.fetchval("SELECT count(*) FROM decisions"),
            by_class=Counter(row["class"] for row in rows),
            pushed=await conn.fetchval("SELECT count(*) FROM notifications WHERE status='pending'"),
            retracted=await conn.fetchval("SELECT count(*) FROM notifications WHERE status='retracted'"),
            churners=await conn.fetchval(
                "SELECT count(*) FROM relationships WHERE jsonb_array_length(state->'patterns') > 0"
            ),
            followed_back_on_x=await conn.fetchval(
                "SELECT count(*) FROM review_items WHERE decided_via IS NOT NULL"
            ),
            posts_erased=await conn.fetchval("SELECT count(*) FROM post_deletions"),
            suspended_on_x=unavailable["suspended"],
            deactivated_on_x=unavailable["deactivated"],
            unfollowed_back_on_x=await conn.fetchval(
                "SELECT count(*) FROM (SELECT DISTINCT account_id, follower_id FROM platform_unfollows) u"
            ),
            current={row["follower_id"]: row["class"] for row in rows},
        )
    finally:
        await conn.close()
    return summary
