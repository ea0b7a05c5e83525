"""The review queue page's queries: filtered, sorted, paged rows, and the deliveries in trouble."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Any

import asyncpg

from services.notifier import profiles
from services.notifier.retraction import RETRACTING
from services.notifier.review_items import decided_how
from shared import accounts as account_configs
from shared.erasures import erased_followers

CLASSES = ("high_value", "worth_following", "any")
STATES = ("open", "followed_back", "dismissed", "marked_spam", "any")
# Fixed ORDER BY clauses chosen by name: the request never supplies SQL.
SORTS = {
    "score": "r.score DESC, r.occurred_at DESC, r.follower_id",
    "newest": "r.occurred_at DESC, r.follower_id",
    "oldest": "r.occurred_at ASC, r.follower_id",
}


# The reasons that decide a class by rule rather than by points (services.scorer.scoring): they take
# no points, so the scorer lists them after every reason that does.
DECIDING = {
    "churner": ("churn",),
    "harmful": ("blocked_by_brand", "blocked_account", "blocked_term"),
    "spam": ("begs_for_follow_back", "bot_probability"),
    "ignore": ("suspended_by_platform",),
    "withdrawn": ("account_deactivated",),
}
# The follower's account state on X, by the reason of the hard rule that says it, as the page's badge
# names it: the class alone (ignore, withdrawn) does not say why.
ACCOUNT_STATES = {
    "suspended_by_platform": "not available on X",
    "account_deactivated": "not available on X",
}  # (X: compliance data is not to be shown as such: neither says which)


def account_state(reasons: list[dict[str, Any]]) -> str | None:
    return next((ACCOUNT_STATES[s] for r in reasons if (s := r.get("signal")) in ACCOUNT_STATES), None)


def deciding_first(cls: str, reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A decision's reasons with the ones that decided its class first, so the page's one-line
    "Why" names them (a churner's summary would otherwise list only what scored points)."""
    signals = DECIDING.get(cls, ())
    return sorted(
        reasons, key=lambda r: r.get("signal") not in signals
    )  # (stable: the rest keep their order)


@dataclass(frozen=True)
class Filters:
    cls: str = "high_value"
    state: str = "open"
    account: str = ""
    sort: str = "score"
    q: str = ""
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        """Filters from query parameters; anything unknown falls back to the default (and NUL, which
        PostgreSQL's text cannot hold, is dropped)."""
        default = cls()
        params = {k: v.replace("\x00", "") for k, v in params.items()}
        try:
            page = max(1, min(10_000, int(params.get("page", "1"))))
        except ValueError:
            page = 1
        return cls(
            cls=params.get("class", default.cls) if params.get("class") in CLASSES else default.cls,
            state=params.get("state", default.state) if params.get("state") in STATES else default.state,
            account=params.get("account", "")[:64],
            sort=params.get("sort", default.sort) if params.get("sort") in SORTS else default.sort,
            q=params.get("q", "").strip().removeprefix("@")[:64],
            page=page,
        )

    def query(self, **changes: Any) -> dict[str, str]:
        """These filters (with ``changes``) as query parameters, defaults left out."""
        chosen = replace(self, **changes)
        params = {
            "class": chosen.cls,
            "state": chosen.state,
            "account": chosen.account,
            "sort": chosen.sort,
            "q": chosen.q,
            "page": str(chosen.page),
        }
        defaults = {
            "class": "high_value",
            "state": "open",
            "account": "",
            "sort": "score",
            "q": "",
            "page": "1",
        }
        return {k: v for k, v in params.items() if v != defaults[k]}


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int
    pages: int


def conditions(filters: Filters) -> tuple[str, list[str]]:
    """The WHERE clause of the filters that are set (fixed strings; the values are parameters), so
    each query is planned for the filters it has: an index serves it, sorted, instead of every row
    being read and sorted for a filter that is not there."""
    clauses: list[str] = []
    args: list[str] = []

    def arg(value: str) -> str:
        args.append(value)
        return f"${len(args)}"

    if filters.cls != "any":
        clauses.append(f"r.class = {arg(filters.cls)}")
    if filters.state != "any":
        clauses.append(f"r.state = {arg(filters.state)}")
    if filters.account:
        clauses.append(f"r.account_id = {arg(filters.account)}")
    if filters.q:
        q = arg(filters.q)
        clauses.append(f"(r.follower_id = {q} OR lower(r.screen_name) = lower({q}))")
    return " AND ".join(clauses) or "true", args


async def queue_page(conn: asyncpg.Connection, filters: Filters, size: int) -> Page:
    """One page of followers with their current decision, push state, preference and interactions."""
    where, args = conditions(filters)
    total = await conn.fetchval(f"SELECT count(*) FROM review_items r WHERE {where}", *args)  # noqa: S608
    n = len(args)
    rows = await conn.fetch(
        f"""
        SELECT r.account_id, r.follower_id, r.decision_id::text AS decision_id, r.class,
               r.score::float8 AS score, r.reasons, r.screen_name, r.profile, r.occurred_at, r.state,
               r.decided_by, r.decided_via, r.decided_at,
               n.push, n.suppressed_reason, n.status AS notification, p.preference
        FROM (
            -- The page's keys first (from an index alone, however deep the page), then its rows.
            SELECT r.account_id, r.follower_id FROM review_items r WHERE {where}
            ORDER BY {SORTS[filters.sort]}
            LIMIT ${n + 1} OFFSET ${n + 2}
        ) k
        JOIN review_items r ON r.account_id = k.account_id AND r.follower_id = k.follower_id
        LEFT JOIN LATERAL (
            SELECT push, suppressed_reason, status FROM notifications
            WHERE account_id = r.account_id AND follower_id = r.follower_id
            ORDER BY created_at DESC LIMIT 1
        ) n ON true
        LEFT JOIN notify_preferences p ON p.account_id = r.account_id AND p.follower_id = r.follower_id
        ORDER BY {SORTS[filters.sort]}
        """,  # noqa: S608 - the interpolated parts are fixed strings, the values are parameters
        *args,
        size,
        (filters.page - 1) * size,
    )
    found = [dict(row) for row in rows]
    seen = await profiles.interactions(conn, [(r["account_id"], r["follower_id"]) for r in found])
    forgotten = await erased_followers(conn, {r["follower_id"] for r in found})
    zones = await brand_zones(conn, {r["account_id"] for r in found})
    for row in found:
        row["profile"] = row["profile"] or {}
        row["reasons"] = deciding_first(row["class"], row["reasons"] or [])
        row["erased"] = row["follower_id"] in forgotten
        row["account_state"] = account_state(row["reasons"])
        # (as actions.perform refuses it: a suspended follower is ignore, the one ignore refused)
        row["can_follow_back"] = row["class"] not in RETRACTING and row["account_state"] is None
        row["decided"] = decided_how(row["decided_by"], row["decided_via"])  # "by ana", "on X"
        row["interactions"] = seen.get((row["account_id"], row["follower_id"]))
        row["zone"] = zones[row["account_id"]]  # the clock the row's times are shown on
    return Page(rows=found, total=int(total), pages=max(1, -(-int(total) // size)))


async def brand_zones(conn: asyncpg.Connection, brands: Iterable[str]) -> dict[str, tzinfo]:
    """The time zone of each brand account, as its digests read it: its newest configuration's
    ``timezone`` (UTC without one, or for a zone unknown here: ``shared.accounts.zone_of``). One
    query for the page's accounts (by the primary key of ``account_configs``), not one per row."""
    wanted = sorted(set(brands))
    newest = await account_configs.latest(conn, wanted) if wanted else {}
    return {
        brand: account_configs.zone_of(config.config if (config := newest.get(brand)) else None, brand)
        for brand in wanted
    }


async def accounts(conn: asyncpg.Connection) -> list[str]:
    """Every account with a follower in the queue: a loose scan of the primary key, one index probe
    per account (``SELECT DISTINCT`` read every row, on each page load)."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE a(account_id) AS (
            (SELECT account_id FROM review_items ORDER BY account_id LIMIT 1)
            UNION ALL
            SELECT (SELECT r.account_id FROM review_items r WHERE r.account_id > a.account_id
                    ORDER BY r.account_id LIMIT 1)
            FROM a WHERE a.account_id IS NOT NULL
        )
        SELECT account_id FROM a WHERE account_id IS NOT NULL ORDER BY account_id
        """
    )
    return [r["account_id"] for r in rows]


async def troubled_deliveries(conn: asyncpg.Connection, limit: int = 20) -> tuple[int, list[dict[str, Any]]]:
    """Deliveries a person should know about: dead (gave up) or unknown (interrupted mid-send)."""
    total = await conn.fetchval("SELECT count(*) FROM deliveries WHERE status IN ('dead', 'unknown')")
    rows = await conn.fetch(
        """
        SELECT delivery_id, account_id, follower_id, channel, kind, status, attempts, last_error,
               CASE WHEN kind = 'digest' THEN coalesce(payload->>'period', '')
                    ELSE coalesce(payload->>'screen_name', follower_id) END AS screen_name, created_at
        FROM deliveries WHERE status IN ('dead', 'unknown')
        ORDER BY delivery_id DESC LIMIT $1
        """,
        limit,
    )
    return int(total), [dict(row) for row in rows]
