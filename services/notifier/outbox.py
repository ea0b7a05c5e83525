"""The delivery outbox in PostgreSQL: rows written with their cause, claimed, and settled.

A row's life: ``pending`` (or ``retrying`` after a failure, with a back-off) -> ``sending``
(claimed, committed *before* the send) -> ``sent``; or ``dead`` (refused for good, or out of
attempts), ``cancelled`` (no longer wanted), ``unknown`` (a crash interrupted the send: it may have
arrived, so it is not sent again unless the channel's receiver deduplicates).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.notifier.channels import Outgoing
from shared import accounts
from shared.accounts import AccountConfig
from shared.settings import NotifierSettings


@dataclass(frozen=True)
class NewDelivery:
    idempotency_key: str
    account_id: str
    follower_id: str
    channel: str
    kind: str
    target: str
    payload: dict[str, Any]
    decision_id: str | None = None


def channel_targets(config: AccountConfig) -> dict[str, str]:
    """Where the account's configuration sends each channel it has on (the ``events`` topic is the
    settings', not the account's)."""
    found = {}
    if config.slack_webhook_url:
        found["slack"] = config.slack_webhook_url
    if config.email_to:
        found["email"] = ", ".join(config.email_to)
    if config.follow_back_webhook_url:
        found["follow_back_webhook"] = config.follow_back_webhook_url
    return found


def push_channels(config: AccountConfig, settings: NotifierSettings) -> list[tuple[str, str]]:
    """(channel, target) for each push channel the account has on, besides the review queue."""
    targets = channel_targets(config)
    pushing = ("slack", "email") if settings.smtp_host else ("slack",)
    return [(channel, targets[channel]) for channel in pushing if channel in targets]


async def enqueue(conn: asyncpg.Connection, rows: Iterable[NewDelivery]) -> None:
    """Write deliveries in the caller's transaction; a key already written means already done."""
    await conn.executemany(
        """
        INSERT INTO deliveries (idempotency_key, decision_id, account_id, follower_id, channel, kind,
            target, payload)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (idempotency_key) DO NOTHING
        """,
        [
            (r.idempotency_key, r.decision_id, r.account_id, r.follower_id, r.channel, r.kind,
             r.target, r.payload)
            for r in rows
        ],
    )  # fmt: skip


async def cancel_unsent(conn: asyncpg.Connection, decision_ids: Sequence[str], why: str) -> int:
    """Cancel pushes of these decisions that have not been claimed yet; returns how many."""
    done = await conn.execute(
        """
        UPDATE deliveries SET status = 'cancelled', last_error = $2
        WHERE decision_id = ANY($1::uuid[]) AND kind = 'push' AND status IN ('pending', 'retrying')
        """,
        list(decision_ids),
        why,
    )
    return int(done.split()[-1])


async def claim(conn: asyncpg.Connection, limit: int, worker: str) -> list[Outgoing]:
    """Take due rows no other worker holds, marked ``sending`` and committed before any send.

    A retraction is due only once its push is sent (or may have been): it must not arrive first.
    """
    rows = await conn.fetch(
        """
        WITH due AS (
            SELECT d.delivery_id FROM deliveries d
            WHERE d.status IN ('pending', 'retrying') AND d.next_attempt_at <= now()
              AND (d.depends_on IS NULL OR EXISTS (
                    SELECT 1 FROM deliveries p
                    WHERE p.delivery_id = d.depends_on AND p.status IN ('sent', 'unknown')))
            ORDER BY d.next_attempt_at, d.delivery_id
            LIMIT $1
            FOR UPDATE SKIP LOCKED
        )
        UPDATE deliveries d
        SET status = 'sending', attempts = d.attempts + 1, claimed_at = now(), claimed_by = $2
        FROM due WHERE d.delivery_id = due.delivery_id
        RETURNING d.delivery_id, d.idempotency_key, d.channel, d.kind, d.target, d.payload, d.attempts
        """,
        limit,
        worker,
    )
    return [Outgoing(**dict(row)) for row in sorted(rows, key=lambda r: r["delivery_id"])]


async def mark_sent(conn: asyncpg.Connection, delivery_id: int, worker: str) -> None:
    # 'unknown' too: a send slower than the lease was declared interrupted, yet it did arrive.
    await conn.execute(
        """
        UPDATE deliveries SET status = 'sent', sent_at = now(), last_error = NULL
        WHERE delivery_id = $1 AND claimed_by = $2 AND status IN ('sending', 'unknown')
        """,
        delivery_id,
        worker,
    )


async def mark_failed(
    conn: asyncpg.Connection, delivery_id: int, worker: str, status: str, error: str, retry_in_s: float
) -> None:
    """Settle a failed send: ``retrying`` after ``retry_in_s``, or ``dead`` / ``unknown``."""
    await conn.execute(
        """
        UPDATE deliveries
        SET status = $3, last_error = $4, next_attempt_at = now() + make_interval(secs => $5)
        WHERE delivery_id = $1 AND claimed_by = $2 AND status = 'sending'
        """,
        delivery_id,
        worker,
        status,
        error[:1000],
        retry_in_s,
    )


async def recover_interrupted(conn: asyncpg.Connection, lease_s: float, resendable: Sequence[str]) -> int:
    """Settle sends whose claim outlived the lease (the worker died mid-send).

    They may have arrived, so they become ``unknown`` (shown in the queue, not sent again), except
    on channels whose receiver deduplicates, where they are simply retried.
    """
    done = await conn.execute(
        """
        UPDATE deliveries
        SET status = CASE WHEN channel = ANY($2::text[]) THEN 'retrying' ELSE 'unknown' END,
            next_attempt_at = now(),
            last_error = 'interrupted mid-send (the notifier stopped); it may have arrived'
        WHERE status = 'sending' AND claimed_at < now() - make_interval(secs => $1)
        """,
        lease_s,
        list(resendable),
    )
    return int(done.split()[-1])


async def cancel_orphaned_retractions(conn: asyncpg.Connection) -> int:
    """A retraction whose push never went out (dead or cancelled) has nothing to retract."""
    done = await conn.execute(
        """
        UPDATE deliveries r SET status = 'cancelled', last_error = 'its push was never delivered'
        FROM deliveries p
        WHERE r.depends_on = p.delivery_id AND r.status IN ('pending', 'retrying')
          AND p.status IN ('dead', 'cancelled')
        """
    )
    return int(done.split()[-1])


async def retry_dead(conn: asyncpg.Connection, delivery_id: int) -> tuple[str, str] | None:
    """Give a dead delivery a fresh set of attempts (a person fixed the channel): its account and
    follower, or None when no such delivery is dead.

    The fix is often a new address (``followback account set ... --slack-webhook-url``): the retry
    goes to the channel's target in the account's newest configuration, and to the one it had only
    when the channel is off there now.
    """
    row = await conn.fetchrow(
        "SELECT account_id, follower_id, channel FROM deliveries "
        "WHERE delivery_id = $1 AND status = 'dead' FOR UPDATE",
        delivery_id,
    )
    if row is None:
        return None
    config = (await accounts.latest(conn, [row["account_id"]])).get(row["account_id"])
    target = channel_targets(config.config).get(row["channel"]) if config else None
    await conn.execute(
        """
        UPDATE deliveries SET status = 'retrying', attempts = 0, next_attempt_at = now(),
            target = coalesce($2, target)
        WHERE delivery_id = $1
        """,
        delivery_id,
        target,
    )
    return row["account_id"], row["follower_id"]
