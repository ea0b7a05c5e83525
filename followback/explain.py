"""``followback explain ACCOUNT FOLLOWER``: the whole trail of one relationship, in order.

Its events with the churn detector's annotation of each, every decision version with its score
and reasons, the pushes and retractions and how their delivery went, and what people did.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

SECTIONS: dict[str, str] = {
    "events": """
        SELECT event_id, occurred_at, annotated::text AS annotated
        FROM churn_processed WHERE account_id = $1 AND follower_id = $2 ORDER BY occurred_at, event_id
    """,
    "decisions": """
        SELECT version, class, score::float8 AS score, reasons::text AS reasons, scorer_version,
               config_version, event_ids, occurred_at, decided_at
        FROM decisions WHERE account_id = $1 AND follower_id = $2 ORDER BY version
    """,
    "notifications": """
        SELECT decision_id::text, channel, status, created_at, retracted_at
        FROM notifications WHERE account_id = $1 AND follower_id = $2 ORDER BY created_at
    """,
    "deliveries": """
        SELECT channel, kind, status, attempts, sent_at, last_error, created_at
        FROM deliveries WHERE account_id = $1 AND follower_id = $2 ORDER BY delivery_id
    """,
    "digests": """
        SELECT e.channel, e.period_start, e.period_end, e.status, d.status AS digest_status, d.sent_at
        FROM digest_entries e LEFT JOIN deliveries d ON d.delivery_id = e.delivery_id
        WHERE e.account_id = $1 AND e.follower_id = $2 ORDER BY e.period_start, e.channel
    """,
    "review": """
        SELECT state, class, score::float8 AS score, version, decided_by, decided_at, updated_at
        FROM review_items WHERE account_id = $1 AND follower_id = $2
    """,
    "actions": """
        SELECT at, actor, action, detail::text AS detail
        FROM review_audit WHERE account_id = $1 AND follower_id = $2 ORDER BY at
    """,
    "preferences": """
        SELECT preference, set_by, set_at FROM notify_preferences WHERE account_id = $1 AND follower_id = $2
    """,
    "erasures": """
        SELECT erased_at, erased_by FROM erasures WHERE follower_id = $2 AND $1::text IS NOT NULL
        ORDER BY erased_at
    """,
}

_JSON_COLUMNS = {"annotated", "reasons", "detail"}


def _row(record: asyncpg.Record) -> dict[str, Any]:
    row = dict(record)
    for column in _JSON_COLUMNS & row.keys():
        row[column] = json.loads(row[column])
    return row


def _event(row: dict[str, Any]) -> dict[str, Any]:
    """An event row as an auditor reads it: what happened, and what the detector made of it."""
    annotated = row.pop("annotated")
    event, relationship = annotated["event"], annotated["relationship"]
    return {
        **row,
        "type": event["type"],
        "interaction": event.get("interaction"),
        "screen_name": event["follower"].get("screen_name", ""),
        "relationship": relationship,
    }


async def trail(conn: asyncpg.Connection, account: str, follower: str) -> dict[str, Any]:
    """Every section of the relationship's trail (empty lists where nothing happened)."""
    found: dict[str, Any] = {"account_id": account, "follower_id": follower}
    for name, sql in SECTIONS.items():
        found[name] = [_row(r) for r in await conn.fetch(sql, account, follower)]
    found["events"] = [_event(row) for row in found["events"]]
    return found
