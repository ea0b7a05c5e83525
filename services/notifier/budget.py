"""The daily push budget: at most N pushes per brand account per event-time day.

A day is a date of the account's time zone (``AccountConfig.timezone``, UTC by default): a decision
counts against the date its ``occurred_at`` has there (the intake works it out), so the budget
resets at the brand's midnight. The budget is per date whatever zone named it: after a change of
zone, the pushes already scheduled on a date still count against that date.

Waiting pushes are scheduled highest priority (an "always notify" follower) and score first while
the day has room; the rest keep waiting with the reason recorded, and compete for the next days'
room for ``carry_over_days``. Accounts are locked one at a time (a transaction-scoped advisory
lock), so notifier instances sharing an account never overspend its budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, tzinfo

import asyncpg

from shared.metrics import PUSHES_WAITING_FOR_BUDGET

DEFAULT_BUDGET = 400
BIGINT_MAX = 2**63 - 1


def day_of(at: datetime, zone: tzinfo) -> date:
    """The day a decision made at ``at`` (its event time) counts against: its date in ``zone``."""
    return at.astimezone(zone).date()


async def allocate(
    conn: asyncpg.Connection,
    days: Iterable[tuple[str, date]],
    budgets: Mapping[str, int],
    carry_over_days: int,
    zones: Mapping[tuple[str, date], str] | None = None,
) -> list[str]:
    """Schedule waiting pushes for each (account, day) within budget; returns the decision ids scheduled.

    ``zones`` names the time zone of each (account, day), for the reason a push waits."""
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
            zone = (zones or {}).get((account, day), "UTC")
            scheduled += await _allocate_day(conn, account, day, budget, carry_over_days, zone)
    return scheduled


async def _allocate_day(
    conn: asyncpg.Connection, account: str, day: date, budget: int, carry_over_days: int, zone: str = "UTC"
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
    waiting = await conn.execute(
        """
        UPDATE notifications SET suppressed_reason = $4
        WHERE account_id = $1 AND push = 'waiting' AND status = 'pending' AND day BETWEEN $3 AND $2
        """,
        account,
        day,
        first,
        f"daily push budget of {budget} reached for {account} on {day.isoformat()} ({zone}); "
        "waiting for room",
    )
    # A budget of 0 pushes nothing by choice: nothing waits for room there (and what the account's
    # figure said under a budget before it is no longer so).
    PUSHES_WAITING_FOR_BUDGET.labels(account).set(int(waiting.split()[-1]) if budget > 0 else 0)
    return [row["decision_id"] for row in chosen]
