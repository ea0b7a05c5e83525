"""``followback explain ACCOUNT FOLLOWER``: the whole trail of one relationship, in order.

Its events with the churn detector's annotation of each (the ``retained`` notices the detector
emitted among them), the churn alerts it raised, every decision version with its score and reasons,
the pushes and retractions and how their delivery went, what people did, and the erasures (of the
follower, ``followback forget``; of its deleted posts' texts).

Events come out in the detector's order (``services.churn.history.event_order``): event time, then
follow, followed_back, interaction and the brand's unfollowed_back (one rank: by id between them),
unfollow, retained, the brand's blocked and unblocked, X's suspended and unsuspended, the
follower's deactivated and reactivated, then id, the order their annotations were computed in.
Neither table records when a row was written, so there is no later tie-break.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from services.churn.patterns import ORDER as PATTERN_ORDER
from shared.events import event_order
from shared.relationships import AnnotatedEvent, ChurnPattern

SECTIONS: dict[str, str] = {
    # What the detector folded ('received') and the "retained" notices it emitted ('detector').
    "events": """
        SELECT event_id, occurred_at, annotated::text AS annotated, 'received' AS origin
        FROM churn_processed WHERE account_id = $1 AND follower_id = $2
        UNION ALL
        SELECT event_id, occurred_at, annotated::text, 'detector'
        FROM churn_retained WHERE account_id = $1 AND follower_id = $2
    """,
    # Every version of every alert, from what processing each event emitted. An event of the
    # follower on another account may raise (or revise) this relationship's cross-account alert.
    "alerts": """
        SELECT a ->> 'pattern' AS pattern, (a ->> 'revision')::int AS revision,
               (a ->> 'withdrawn')::bool AS withdrawn, a ->> 'event_id' AS event_id,
               (a ->> 'occurred_at')::timestamptz AS occurred_at,
               (a ->> 'dwell_seconds')::float8 AS dwell_seconds,
               (a ->> 'cycles_in_horizon')::int AS cycles_in_horizon, p.event_id AS raised_by_event
        FROM churn_processed p CROSS JOIN LATERAL jsonb_array_elements(p.emitted -> 'alerts') AS a
        WHERE p.follower_id = $2
          AND p.account_id IN (SELECT r.account_id FROM relationships r WHERE r.follower_id = $2)
          AND a ->> 'account_id' = $1
    """,
    "decisions": """
        SELECT version, class, score::float8 AS score, reasons::text AS reasons, scorer_version,
               config_version, event_ids, event_type, revision, occurred_at,
               followed_at,  -- the follow the decision is about (NULL: recorded before 0024)
               decided_at
        FROM decisions WHERE account_id = $1 AND follower_id = $2 ORDER BY version
    """,
    "notifications": """
        SELECT decision_id::text, version, channel, status, push, push_day, suppressed_reason, created_at,
               retracted_at AS retraction_event_time  -- event time: the withdrawing decision's event
        FROM notifications WHERE account_id = $1 AND follower_id = $2 ORDER BY created_at, version
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
        SELECT state, class, score::float8 AS score, version, decided_by,
               decided_via,  -- the platform (x) for a follow-back made there, not in the queue
               decided_at, followed_at, updated_at
        FROM review_items WHERE account_id = $1 AND follower_id = $2
    """,
    "actions": """
        SELECT at, actor, action, detail::text AS detail
        FROM review_audit WHERE account_id = $1 AND follower_id = $2 ORDER BY at, action_id
    """,
    "preferences": """
        SELECT preference, set_by, set_at FROM notify_preferences WHERE account_id = $1 AND follower_id = $2
    """,
    "erasures": """
        SELECT erased_at, erased_by, rows_changed FROM erasures
        WHERE follower_id = $2 AND $1::text IS NOT NULL
        ORDER BY erased_at
    """,
    # The follower's deleted posts whose text was erased (of every brand: a post's copies are erased
    # for each brand it was delivered for).
    "deletions": """
        SELECT deletes, deleted_at, erased_at, rows_changed FROM post_deletions
        WHERE follower_id = $2 AND $1::text IS NOT NULL
        ORDER BY erased_at, post_key
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


def _detector_order(row: dict[str, Any]) -> Any:
    return event_order(AnnotatedEvent.model_validate(row["annotated"]).event)


def _alert_order(row: dict[str, Any]) -> Any:
    # By pattern, then version: a revision can move an alert's time earlier (an earlier event that
    # came late became its first match), and the last row of a pattern is its standing version.
    return (PATTERN_ORDER.index(ChurnPattern(row["pattern"])), row["revision"])


async def trail(conn: asyncpg.Connection, account: str, follower: str) -> dict[str, Any]:
    """Every section of the relationship's trail (empty lists where nothing happened)."""
    found: dict[str, Any] = {"account_id": account, "follower_id": follower}
    for name, sql in SECTIONS.items():
        found[name] = [_row(r) for r in await conn.fetch(sql, account, follower)]
    found["events"] = [_event(row) for row in sorted(found["events"], key=_detector_order)]
    found["alerts"].sort(key=_alert_order)
    return found


async def accounts_of(conn: asyncpg.Connection, follower: str) -> list[str]:
    """The brand accounts the churn detector holds a relationship of ``follower`` with: where to look
    when the account asked about has none (the follower is one of another brand account's)."""
    rows = await conn.fetch(
        "SELECT account_id FROM relationships WHERE follower_id = $1 ORDER BY account_id", follower
    )
    return [row["account_id"] for row in rows]


def nothing_held(account: str, follower: str, elsewhere: list[str]) -> str:
    """What ``explain`` says of a relationship nothing is held of: the accounts the follower has one
    with, or that it has none (a handle, a typo)."""
    said = f"no events or decisions for {follower} on {account}"
    if elsewhere:
        return f"{said}; {follower} has some on: {', '.join(elsewhere)}"
    return f"{said}, nor on any account: check the id (the platform's user id, not the handle)"


# The table form: every section of the JSON, in the same order, each under its own title.

TITLES = {
    "events": "events and churn annotations",
    "alerts": "churn alerts",
    "decisions": "decisions",
    "notifications": "notifications",
    "deliveries": "deliveries",
    "digests": "digest entries",
    "review": "review",
    "actions": "actions",
    "preferences": "preferences",
    "erasures": "erasures",
    "deletions": "deleted posts (texts erased)",
}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return escape(json.dumps(value, default=str))
    return escape(str(value))


def _events_table(rows: list[dict[str, Any]]) -> Table:
    table = Table()
    for column in ("when", "event", "type", "follows", "unfollows", "interactions", "patterns", "new"):
        table.add_column(column, overflow="fold")  # ids wrap, never cut
    for e in rows:
        rel = e["relationship"]
        kind = e["type"] + (f" ({e['interaction']['kind']})" if e.get("interaction") else "")
        late = " (late)" if rel.get("late") else ""
        table.add_row(_cell(e["occurred_at"]), _cell(e["event_id"]), _cell(kind + late), str(rel["follows"]),
                      str(rel["unfollows"]), str(rel["interactions"]), ", ".join(rel["patterns"]),
                      ", ".join(rel.get("new_patterns", ())))  # fmt: skip
    return table


def _decisions_table(rows: list[dict[str, Any]]) -> Table:
    table = Table()
    for column in ("version", "class", "score", "at", "follow", "scorer", "config", "events", "top reasons"):
        table.add_column(column, overflow="fold")  # ids wrap, never cut
    for d in rows:
        top = ", ".join(f"{r['signal']} {r['contribution']:+g}" for r in d["reasons"][:5])
        revised = f" (revision {d['revision']})" if d["revision"] else ""  # a revised annotation's
        kind = f"{d['event_type']} " if d.get("event_type") else ""  # None: recorded before 0013
        table.add_row(f"v{d['version']}", d["class"], f"{d['score']:.2f}", _cell(d["occurred_at"]),
                      _cell(d.get("followed_at")), _cell(d["scorer_version"]), _cell(d["config_version"]),
                      _cell(kind + ", ".join(d["event_ids"]) + revised), _cell(top))  # fmt: skip
    return table


def _plain_table(rows: list[dict[str, Any]]) -> Table:
    table = Table()
    for column in rows[0]:
        table.add_column(column, overflow="fold")  # ids wrap, never cut
    for row in rows:
        table.add_row(*(_cell(value) for value in row.values()))
    return table


_TABLES = {"events": _events_table, "decisions": _decisions_table}


def render(found: dict[str, Any], console: Console) -> None:
    """Print the trail as tables: every section the JSON form has, an empty one as "none"."""
    console.print(f"[bold]{escape(found['account_id'])} / {escape(found['follower_id'])}[/bold]")
    for name, rows in found.items():
        if name in ("account_id", "follower_id"):
            continue
        title = TITLES.get(name, name)
        if not rows:
            console.print(f"{title}: none")
            continue
        table = _TABLES.get(name, _plain_table)(rows)
        table.title = title
        console.print(table)
