"""Retraction: a pushed follower who leaves (or turns out a churner, spam or harmful, or is blocked by the
brand, or whose account X suspended or who deactivated it) before anyone acted.

Their pending notification is retracted, pushes not yet sent are cancelled, and every channel that
got the push (or may have) gets a short retraction, sent only after that push. In digest mode the
follower is left out of a digest not sent yet, and a digest that went out gets the retraction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from services.notifier import digest, outbox
from shared.decisions import Decision, DecisionClass

# The follower left (or deactivated their account), or turned out not worth following back (churner,
# spam, on the brand's block list or blocked by the brand).
RETRACTING = {DecisionClass.WITHDRAWN, DecisionClass.CHURNER, DecisionClass.SPAM, DecisionClass.HARMFUL}
# What a retraction says the follower was taken back as (``retracted_as``): the decision's class, or
# the hard rule's own word where one class has several (by the scorer's reason of that rule):
# ``blocked`` when the brand blocked them (harmful), ``suspended`` when X suspended their account
# (ignore: the one ``ignore`` decision that retracts), ``deactivated`` when they deactivated it
# (withdrawn). The reasons' names are services.scorer.scoring's BLOCKED_RULE, SUSPENDED_RULE and
# DEACTIVATED_RULE (a service imports no other service's modules).
BLOCKED, SUSPENDED, DEACTIVATED = "blocked", "suspended", "deactivated"
BLOCKED_RULE = "blocked_by_brand"
SUSPENDED_RULE = "suspended_by_platform"
DEACTIVATED_RULE = "account_deactivated"
HOLDING_RULES = {BLOCKED_RULE: BLOCKED, SUSPENDED_RULE: SUSPENDED, DEACTIVATED_RULE: DEACTIVATED}


def held_by(signals: Iterable[str | None]) -> str | None:
    """What holds the follower back (``blocked``, ``suspended``, ``deactivated``), by the reason of
    its hard rule among a decision's ``signals``; None: no such rule."""
    return next((HOLDING_RULES[s] for s in signals if s in HOLDING_RULES), None)


def retracted_as(decision: Decision) -> str:
    return held_by(r.signal for r in decision.reasons) or decision.decision_class.value


def retracts(decision: Decision) -> bool:
    """Whether the decision takes back a push of its follower: one of the ``RETRACTING`` classes, or
    X's suspension of the follower's account (``ignore``, which otherwise keeps a push)."""
    if decision.decision_class in RETRACTING:
        return True
    return decision.decision_class is DecisionClass.IGNORE and retracted_as(decision) == SUSPENDED


async def retract(conn: asyncpg.Connection, leaving: Sequence[tuple[Decision, int]]) -> int:
    """Retract the pending notifications these decisions end; returns how many."""
    if not leaving:
        return 0
    rows = await conn.fetch(
        """
        WITH k AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int[], $5::text[])
                AS k(account_id, follower_id, at, version, class)
        ), hit AS MATERIALIZED (
            -- One index lookup per leaving follower, then one by primary key, whatever the planner
            -- believes of the table (planned on a young one, a join read every pending row once per
            -- leaving follower: the notifier's costliest statement by far).
            SELECT p.decision_id, k.at, k.class
            FROM k CROSS JOIN LATERAL (
                SELECT decision_id FROM notifications p
                WHERE p.account_id = k.account_id AND p.follower_id = k.follower_id
                  AND p.status = 'pending'
                  -- a redelivered older decision retracts nothing newer
                  AND coalesce(p.version, 0) < k.version
                LIMIT 1  -- at most one pending per relationship (notifications_one_pending)
            ) p
        )
        UPDATE notifications n SET status = 'retracted', retracted_at = hit.at,
            push = CASE WHEN n.push = 'waiting' THEN 'cancelled' ELSE n.push END
        FROM hit
        -- status || '': checked again on the row updated, without steering the planner to the
        -- pending-only index as the outer side of the join
        WHERE n.decision_id = hit.decision_id AND n.status || '' = 'pending'
        RETURNING n.decision_id::text AS decision_id, hit.class
        """,
        [d.account_id for d, _ in leaving],
        [d.follower_id for d, _ in leaving],
        [d.occurred_at for d, _ in leaving],
        [v for _, v in leaving],
        [retracted_as(d) for d, _ in leaving],
    )
    if not rows:
        return 0
    ids = [row["decision_id"] for row in rows]
    await outbox.cancel_unsent(conn, ids, "retracted before it was sent")
    await digest.retract(conn, ids, [row["class"] for row in rows])
    # Pushes that went out, are going out, or may have: each channel gets its retraction.
    await conn.execute(
        """
        INSERT INTO deliveries (idempotency_key, decision_id, account_id, follower_id, channel, kind,
            target, payload, depends_on)
        SELECT p.idempotency_key || ':retraction', p.decision_id, p.account_id, p.follower_id,
               p.channel, 'retraction', p.target,
               p.payload || jsonb_build_object('retracted_as', k.class, 'push_key', p.idempotency_key),
               p.delivery_id
        FROM deliveries p
        JOIN unnest($1::uuid[], $2::text[]) AS k(decision_id, class) ON p.decision_id = k.decision_id
        WHERE p.kind = 'push' AND p.status IN ('sent', 'sending', 'unknown')
        ON CONFLICT (idempotency_key) DO NOTHING
        """,
        ids,
        [row["class"] for row in rows],
    )
    return len(rows)
