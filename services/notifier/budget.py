"""The daily push budget: at most N pushes per brand account per event-time (UTC) day.

Waiting pushes are scheduled highest priority (an "always notify" follower) and score first while
the day has room; the rest keep waiting with the reason recorded, and compete for the next days'
room for ``carry_over_days``. Accounts are locked one at a time (a transaction-scoped advisory
lock), so notifier instances sharing an account never overspend its budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

import asyncpg

DEFAULT_BUDGET = 400
BIGINT_MAX = 2**63 - 1


async def allocate(
    conn: asyncpg.Connection,
    days: Iterable[tuple[str, date]],
    budgets: Mapping[str, int],
    carry_over_days: int,
) -> list[str]:
    """Schedule waiting pushes for each (account, day) within budget; returns the decision ids scheduled."""
    by_account: dict[str, set[date]] = {}
    for account, day in days:
        by_account.setdefault(account, set()).add(day)
    scheduled: list[str] = []
    for account in sorted(by_account):
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('followback.notifier.budget'), hashtext($1))", account
        )
        budget = budgets.get(account, DEFAULT_BUDGET)
        for day in sorted(by_account[account]):
            scheduled += await _allocate_day(conn, account, day, budget, carry_over_days)
    return scheduled


async def _allocate_day(
    conn: asyncpg.Connection, account: str, day: date, budget: int, carry_over_days: int
) -> list[str]:
    used = await conn.fetchval(
        "SELECT count(*) FROM notifications WHERE account_id = $1 AND push = 'scheduled' AND push_day = $2",
        account,
        day,
    )
    first = day - timedelta(days=carry_over_days)
    chosen = await conn.fetch(
        """
        UPDATE notifications SET push = 'scheduled', push_day = $2, suppressed_reason = NULL
        WHERE decision_id IN (
            SELECT decision_id FROM notifications
            WHERE account_id = $1 AND push = 'waiting' AND status = 'pending' AND day BETWEEN $3 AND $2
            ORDER BY priority DESC, score DESC, occurred_at, decision_id
            LIMIT $4
        )
        RETURNING decision_id::text
        """,
        account,
        day,
        first,
        min(max(0, budget - int(used)), BIGINT_MAX),  # (LIMIT takes a bigint: a budget beyond is no limit)
    )
    await conn.execute(
        """
        UPDATE notifications SET suppressed_reason = $4
        WHERE account_id = $1 AND push = 'waiting' AND status = 'pending' AND day BETWEEN $3 AND $2
        """,
        account,
        day,
        first,
        f"daily push budget of {budget} reached for {account} on {day.isoformat()}; waiting for room",
    )
    return [row["decision_id"] for row in chosen]
