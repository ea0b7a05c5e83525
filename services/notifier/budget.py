"""The daily push budget: at most N pushes per brand account per event-time day.

A day is a date of the account's time zone (``AccountConfig.timezone``, UTC by default): a decision
counts against the date its ``occurred_at`` has there (the intake works it out), so the budget
resets at the brand's midnight. The budget is per date whatever zone named it: after a change of
zone, the pushes already scheduled on a date still count against that date.

Waiting pushes are scheduled highest priority (an "always notify" follower) and score first while
the day has room; the rest keep waiting with the reason recorded, and compete for the next days'
room for ``carry_over_days``: a day is allocated when a push of that day is queued, and when any
decision of the account brings its event time to a day newer than the newest allocated so far
(:func:`days_reached`). Accounts are locked one at a time (a transaction-scoped advisory
lock), so notifier instances sharing an account never overspend its budget. How many wait is
reported per account (``followback_pushes_waiting_for_budget``) at each allocation, and from the
database every few seconds (:func:`report_waiting`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo

import asyncpg

from shared import accounts
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
    _report(budgets, await waiting_for_room(conn, sorted(by_account), carry_over_days))
    return scheduled


# The newest day an account ``k``'s budget was allocated for, as ``n.newest``: its newest waiting
# push's day or scheduled push's ``push_day`` (one probe of each partial index).
_NEWEST_ALLOCATED = """CROSS JOIN LATERAL (
            SELECT greatest(
                (SELECT max(day) FROM notifications WHERE account_id = k.account_id AND push = 'waiting'),
                (SELECT max(push_day) FROM notifications
                 WHERE account_id = k.account_id AND push = 'scheduled')
            ) AS newest
        ) n"""


async def days_reached(
    conn: asyncpg.Connection,
    days: Iterable[tuple[str, date]],
    budgets: Mapping[str, int],
    carry_over_days: int,
) -> set[tuple[str, date]]:
    """The (account, day) pairs of a batch's decisions that bring an account's event time to a day newer
    than the newest one its budget was allocated for, while pushes wait that may get that day's room.

    A day's room was allocated only when a push of that day was queued: the next day's decisions that
    queue none (worth following, ignore, spam, a follower leaving) left yesterday's waiting followers
    waiting although the day had room. These days are allocated too. The newest day allocated is, as
    for :func:`waiting_for_room`, the newest waiting push's day or scheduled push's ``push_day``: an
    allocation that finds pushes waiting schedules at least one, so that day is then the newest and a
    redelivered batch (or another instance's batch of the same day) finds nothing new. Older days than
    the newest are left alone (decisions come from many partitions, late ones too), and so are accounts
    with a budget of 0 (nothing would be scheduled, and nothing would record the day). One query."""
    pairs = sorted({(a, day) for a, day in days if budgets.get(a, DEFAULT_BUDGET) > 0})
    if not pairs:
        return set()
    rows = await conn.fetch(
        f"""
        SELECT k.account_id, k.day
        FROM unnest($1::text[], $2::date[]) AS k(account_id, day)
        {_NEWEST_ALLOCATED}
        WHERE k.day > n.newest
          AND EXISTS (
              SELECT 1 FROM notifications w
              WHERE w.account_id = k.account_id AND w.push = 'waiting' AND w.status = 'pending'
                AND w.day BETWEEN k.day - $3::int AND k.day
          )
        """,  # noqa: S608
        [a for a, _ in pairs],
        [day for _, day in pairs],
        carry_over_days,
    )
    return {(row["account_id"], row["day"]) for row in rows}


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
    await conn.execute(
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
    return [row["decision_id"] for row in chosen]


async def waiting_for_room(
    conn: asyncpg.Connection, account_ids: Sequence[str], carry_over_days: int
) -> dict[str, int]:
    """Per account, its pushes waiting for room that may still get some: those of the newest day its
    budget was allocated for (its newest scheduled or waiting push's) and of the ``carry_over_days``
    before it; older ones compete for no day's room any more. One index probe each (the partial
    indexes of scheduled and of waiting pushes)."""
    if not account_ids:
        return {}
    rows = await conn.fetch(
        f"""
        SELECT k.account_id, (
            SELECT count(*) FROM notifications w
            WHERE w.account_id = k.account_id AND w.push = 'waiting' AND w.status = 'pending'
              AND w.day BETWEEN n.newest - $2::int AND n.newest
        ) AS waiting
        FROM unnest($1::text[]) AS k(account_id)
        {_NEWEST_ALLOCATED}
        """,  # noqa: S608
        list(account_ids),
        carry_over_days,
    )
    return {row["account_id"]: int(row["waiting"]) for row in rows}


def _report(budgets: Mapping[str, int], waiting: Mapping[str, int]) -> None:
    """Set each account's gauge to its pushes waiting for room (DEFAULT_BUDGET without a budget)."""
    # A budget of 0 pushes nothing by choice: nothing waits for room there (and what the account's
    # figure said under a budget before it is no longer so).
    for account, count in waiting.items():
        PUSHES_WAITING_FOR_BUDGET.labels(account).set(
            count if budgets.get(account, DEFAULT_BUDGET) > 0 else 0
        )


async def report_waiting(conn: asyncpg.Connection, carry_over_days: int) -> None:
    """Read every account's pushes waiting for room into its gauge, from the database.

    An allocation sets an account's figure, but pushes also stop waiting with no allocation: a person
    acts on the follower, or sets "never notify", the brand follows them back on X, or they leave
    (a decision that queues no push). Another notifier instance may have allocated since, and a
    restarted one has allocated nothing yet. The delivery worker calls this every few seconds: the
    accounts with pushes waiting, and those this process reports, get the database's figure."""
    reported = {s.labels["account"] for m in PUSHES_WAITING_FOR_BUDGET.collect() for s in m.samples}
    found = await conn.fetch(
        """
        WITH RECURSIVE a(account_id) AS (  -- a loose scan of the waiting pushes' index
            (SELECT account_id FROM notifications WHERE push = 'waiting' ORDER BY account_id LIMIT 1)
            UNION ALL
            SELECT (SELECT n.account_id FROM notifications n
                    WHERE n.push = 'waiting' AND n.account_id > a.account_id ORDER BY n.account_id LIMIT 1)
            FROM a WHERE a.account_id IS NOT NULL
        )
        SELECT account_id FROM a WHERE account_id IS NOT NULL
        """
    )
    wanted = sorted(reported | {row["account_id"] for row in found})
    if not wanted:
        return
    configs = await accounts.latest(conn, wanted)
    budgets = {account: config.config.daily_push_budget for account, config in configs.items()}
    _report(budgets, await waiting_for_room(conn, wanted, carry_over_days))
