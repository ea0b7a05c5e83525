"""Who ``followback forget`` erased: its ``erasures`` table, read by the scorer, the review queue
and replay."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg


async def erased_followers(conn: asyncpg.Connection, followers: Iterable[str]) -> set[str]:
    """Which of these followers ``followback forget`` erased (one probe of a small table)."""
    rows = await conn.fetch(
        "SELECT DISTINCT follower_id FROM erasures WHERE follower_id = ANY($1::text[])", list(followers)
    )
    return {row["follower_id"] for row in rows}
