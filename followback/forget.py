"""``followback forget FOLLOWER``: erase a follower's personal data from PostgreSQL, and say so.

Erased: profile snapshots (handle, name, bio, location, URL, counts) and texts (interactions,
messages). Kept: ids, times, classes, scores and the reasons' signals and points, so decision
counts and the audit trail stay whole; reason values are dropped, since some quote the profile.
Recorded: one ``erasures`` row with who and how many rows changed. The raw events topic is
outside PostgreSQL's reach: its retention decides how long the original events stay there.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

# Each statement erases in one table; $1 is the follower id.
ERASE: dict[str, str] = {
    "churn_processed": """
        UPDATE churn_processed SET annotated = jsonb_set(
            jsonb_set(annotated, '{event,follower}', jsonb_build_object('id', follower_id)),
            '{event,interaction}',
            CASE WHEN annotated->'event'->'interaction' = 'null'::jsonb THEN 'null'::jsonb
                 ELSE jsonb_build_object('kind', annotated->'event'->'interaction'->>'kind', 'text', '')
            END)
        WHERE follower_id = $1
    """,
    "decisions": """
        UPDATE decisions SET screen_name = '', reasons = (
            SELECT coalesce(jsonb_agg(r - 'value' || jsonb_build_object('value', null)), '[]'::jsonb)
            FROM jsonb_array_elements(reasons) AS r)
        WHERE follower_id = $1
    """,
    "review_items": """
        UPDATE review_items SET screen_name = '', profile = NULL, reasons = (
            SELECT coalesce(jsonb_agg(r - 'value' || jsonb_build_object('value', null)), '[]'::jsonb)
            FROM jsonb_array_elements(reasons) AS r)
        WHERE follower_id = $1
    """,
    "deliveries": "UPDATE deliveries SET payload = '{}'::jsonb WHERE follower_id = $1",
    # Ids kept: a digest still to be written lists the line, and a retraction finds it by decision id.
    "digest_entries": """
        UPDATE digest_entries SET payload = jsonb_build_object(
            'follower_id', follower_id, 'decision_id', decision_id::text)
        WHERE follower_id = $1
    """,
    # A digest lists several followers: only this one's line loses its profile.
    "digests": """
        UPDATE deliveries SET payload = jsonb_set(payload, '{followers}', (
            SELECT jsonb_agg(
                CASE WHEN f->>'follower_id' = $1
                     THEN jsonb_build_object('follower_id', $1::text, 'decision_id', f->'decision_id')
                     ELSE f END ORDER BY n)
            FROM jsonb_array_elements(payload->'followers') WITH ORDINALITY AS x(f, n)))
        WHERE kind = 'digest'
          AND payload->'followers' @> jsonb_build_array(jsonb_build_object('follower_id', $1::text))
    """,
}


async def forget(conn: asyncpg.Connection, follower: str, by: str) -> dict[str, int]:
    """Erase in one transaction; returns the rows changed per table."""
    changed: dict[str, Any] = {}
    async with conn.transaction():
        for table, sql in ERASE.items():
            status = await conn.execute(sql, follower)
            changed[table] = int(status.split()[-1])
        await conn.execute(
            "INSERT INTO erasures (follower_id, erased_by, rows_changed) VALUES ($1, $2, $3::text::jsonb)",
            follower,
            by,
            json.dumps(changed),
        )
    return changed
