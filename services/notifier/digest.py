"""Digest mode: one message per account, channel and event-time period, listing its followers.

A brand with ``digest`` set to ``hourly`` or ``daily`` gets no push per follower on its push
channels (Slack-compatible webhook, e-mail). Each push the budget schedules becomes an *entry* of
its period instead (:mod:`services.notifier.periods`). A period *closes* when the account's stream
time (the newest ``occurred_at`` of its decisions seen by the notifier) is ``digest_grace_s`` past
its end, or on an explicit flush (``followback account flush-digest``): its open entries become one
outbox row of kind ``digest`` per channel, in the transaction of the decision that moved the clock,
and are sent, retried and settled like every other row. Nothing here reads the wall clock.

Everything takes the account's digest lock first (a transaction-scoped advisory lock), so notifier
instances sharing an account never close a period twice nor add an entry to a closed one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode

import asyncpg

from services.notifier import periods
from shared import accounts
from shared.accounts import VersionedConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """A scheduled push held for its period's digest."""

    decision_id: str
    channel: str
    account_id: str
    follower_id: str
    target: str
    occurred_at: datetime
    payload: dict[str, Any]
    zone: tzinfo = UTC  # the account's time zone for this decision: its period is a local hour or day


def mode_of(config: VersionedConfig | None) -> str:
    return config.config.digest if config else "off"


async def lock(
    conn: asyncpg.Connection, accounts: Iterable[str], configs: Mapping[str, VersionedConfig]
) -> list[str]:
    """Take the digest lock of each account that has digest work; returns those accounts, sorted.

    Digest work: the account is in digest mode, or was once (it has a clock), so entries and
    digests it left behind still close, and retractions still reach them.
    """
    accounts = sorted(set(accounts))
    with_clock = {
        row["account_id"]
        for row in await conn.fetch(
            "SELECT account_id FROM digest_clocks WHERE account_id = ANY($1::text[])", accounts
        )
    }
    locked = [a for a in accounts if a in with_clock or mode_of(configs.get(a)) != "off"]
    for account in locked:
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('followback.notifier.digest'), hashtext($1))", account
        )
    return locked


async def add(conn: asyncpg.Connection, entries: Sequence[Entry], modes: Mapping[str, str]) -> int:
    """Record entries in their periods (a period already closed is never joined); returns how many are new."""
    if not entries:
        return 0
    closed = {
        (row["account_id"], row["channel"]): row["until"]
        for row in await conn.fetch(
            "SELECT account_id, channel, max(period_end) AS until FROM digests "
            "WHERE account_id = ANY($1::text[]) GROUP BY 1, 2",
            sorted({e.account_id for e in entries}),
        )
    }
    spans = [
        periods.period_for(e.occurred_at, modes[e.account_id], closed.get((e.account_id, e.channel)), e.zone)
        for e in entries
    ]
    done = await conn.fetch(
        """
        INSERT INTO digest_entries (decision_id, channel, account_id, follower_id, target, period_start,
            period_end, payload)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
            $6::timestamptz[], $7::timestamptz[], $8::text[]::jsonb[])
        ON CONFLICT (decision_id, channel) DO NOTHING
        RETURNING decision_id
        """,
        [e.decision_id for e in entries],
        [e.channel for e in entries],
        [e.account_id for e in entries],
        [e.follower_id for e in entries],
        [e.target for e in entries],
        [start for start, _ in spans],
        [end for _, end in spans],
        # As text, so this works with or without the pool's jsonb codec.
        [json.dumps(e.payload, separators=(",", ":")) for e in entries],
    )
    return len(done)


async def advance(conn: asyncpg.Connection, stream_times: Mapping[str, datetime]) -> dict[str, datetime]:
    """Move each account's stream time forward (never back); returns the clocks after the move."""
    if not stream_times:
        return {}
    accounts = sorted(stream_times)
    rows = await conn.fetch(
        """
        INSERT INTO digest_clocks (account_id, stream_time)
        SELECT * FROM unnest($1::text[], $2::timestamptz[])
        ON CONFLICT (account_id) DO UPDATE
            SET stream_time = greatest(digest_clocks.stream_time, EXCLUDED.stream_time)
        RETURNING account_id, stream_time
        """,
        accounts,
        [stream_times[a] for a in accounts],
    )
    return {row["account_id"]: row["stream_time"] for row in rows}


async def close(
    conn: asyncpg.Connection,
    account: str,
    upto: datetime | None,
    queue_url: str,
    closed_by: str,
    zone: tzinfo = UTC,
) -> list[int]:
    """Close the account's periods that end by ``upto`` (every open one when None); returns the digests.

    Each digest's period is labelled in ``zone``, the account's time zone now. The caller holds the
    account's digest lock.
    """
    groups = await conn.fetch(
        """
        SELECT channel, period_start, period_end,
               (array_agg(target ORDER BY created_at DESC, decision_id))[1] AS target
        FROM digest_entries
        WHERE account_id = $1 AND status = 'open' AND ($2::timestamptz IS NULL OR period_end <= $2)
        GROUP BY channel, period_start, period_end
        ORDER BY period_start, channel
        """,
        account,
        upto,
    )
    made = []
    for group in groups:
        start, end, channel = group["period_start"], group["period_end"], group["channel"]
        key = periods.key(account, channel, start, end)
        delivery_id = await conn.fetchval(
            """
            INSERT INTO deliveries (idempotency_key, account_id, follower_id, channel, kind, target, payload)
            SELECT $4, $1, '', $2, 'digest', $5, jsonb_build_object(
                'account_id', $1::text, 'period', $6::text, 'period_start', $3::timestamptz,
                'period_end', $7::timestamptz, 'url', $8::text,
                'followers', jsonb_agg(payload ORDER BY (payload->>'score')::float8 DESC,
                                       payload->>'follower_id'))
            FROM digest_entries
            WHERE account_id = $1 AND channel = $2 AND period_start = $3 AND period_end = $7
              AND status = 'open'
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING delivery_id
            """,
            account, channel, start, key, group["target"], periods.label(start, end, zone), end,
            _account_link(queue_url, account),
        )  # fmt: skip
        if delivery_id is None:  # cannot happen under the lock: a closed period takes no entries
            log.error("digest %s already exists; its open entries are left for a flush", key)
            continue
        await conn.execute(
            "UPDATE digest_entries SET status = 'included', delivery_id = $4 "
            "WHERE account_id = $1 AND channel = $2 AND period_start = $3 AND period_end = $5 "
            "AND status = 'open'",
            account, channel, start, delivery_id, end,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO digests (account_id, channel, period_start, period_end, delivery_id, closed_by) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            account, channel, start, end, delivery_id, closed_by,
        )  # fmt: skip
        made.append(int(delivery_id))
    return made


def _account_link(queue_url: str, account: str) -> str:
    return f"{queue_url.rstrip('/')}/?" + urlencode({"account": account})


async def close_due(
    conn: asyncpg.Connection,
    clocks: Mapping[str, datetime],
    grace_s: float,
    queue_url: str,
    zones: Mapping[str, tzinfo] | None = None,
) -> list[int]:
    """Close every period whose end is ``grace_s`` behind its account's stream time."""
    made = []
    for account in sorted(clocks):
        upto = clocks[account] - timedelta(seconds=grace_s)
        zone = (zones or {}).get(account, UTC)
        made += await close(conn, account, upto, queue_url, "stream_time", zone)
    return made


async def flush(conn: asyncpg.Connection, account: str, queue_url: str) -> list[int]:
    """Close every open period of the account now, in its own transaction (a quiet account's last digest)."""
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('followback.notifier.digest'), hashtext($1))", account
        )
        current = (await accounts.latest(conn, [account])).get(account)
        zone = accounts.zone_of(current.config if current else None, account)
        return await close(conn, account, None, queue_url, "flush", zone)


async def retract(conn: asyncpg.Connection, decision_ids: Sequence[str], classes: Sequence[str]) -> int:
    """Take retracted followers out of digests; returns how many entries they had.

    An entry still open is simply dropped. One in a digest not yet claimed is removed from its list
    (a digest left empty is cancelled). One in a digest that went out, is going out or may have,
    gets a retraction on that channel, sent after the digest.
    """
    rows = await conn.fetch(
        """
        UPDATE digest_entries SET status = 'retracted'
        WHERE decision_id = ANY($1::uuid[]) AND status IN ('open', 'included')
        RETURNING delivery_id
        """,
        list(decision_ids),
    )
    await _strip(conn, sorted({row["delivery_id"] for row in rows if row["delivery_id"] is not None}),
                 decision_ids)  # fmt: skip
    await conn.execute(
        """
        INSERT INTO deliveries (idempotency_key, decision_id, account_id, follower_id, channel, kind,
            target, payload, depends_on)
        SELECT 'digest-retraction:' || e.decision_id || ':' || e.channel, e.decision_id, e.account_id,
               e.follower_id, e.channel, 'retraction', p.target,
               e.payload || jsonb_build_object('retracted_as', k.class, 'push_key', p.idempotency_key),
               p.delivery_id
        FROM digest_entries e
        JOIN unnest($1::uuid[], $2::text[]) AS k(decision_id, class) ON e.decision_id = k.decision_id
        JOIN deliveries p ON p.delivery_id = e.delivery_id
        WHERE p.status IN ('sent', 'sending', 'unknown')
        ON CONFLICT (idempotency_key) DO NOTHING
        """,
        list(decision_ids),
        list(classes),
    )
    return len(rows)


async def _strip(conn: asyncpg.Connection, digests: Sequence[int], decision_ids: Sequence[str]) -> None:
    """Remove these decisions' lines from the digests not sent yet (pending, retrying, or dead and
    so maybe retried by a person); a digest left empty is cancelled."""
    if not digests:
        return
    # Hold the digests still to be sent: a worker claiming one now (SKIP LOCKED) passes it by.
    await conn.execute(
        "SELECT 1 FROM deliveries WHERE delivery_id = ANY($1::bigint[]) ORDER BY delivery_id FOR UPDATE",
        list(digests),
    )
    await conn.execute(
        """
        UPDATE deliveries d SET payload = jsonb_set(d.payload, '{followers}', coalesce((
            SELECT jsonb_agg(f ORDER BY n) FROM jsonb_array_elements(d.payload->'followers')
                WITH ORDINALITY AS x(f, n)
            WHERE NOT (f->>'decision_id' = ANY($2::text[]))), '[]'::jsonb))
        WHERE d.delivery_id = ANY($1::bigint[]) AND d.status IN ('pending', 'retrying', 'dead')
        """,
        list(digests),
        list(decision_ids),
    )
    await conn.execute(
        """
        UPDATE deliveries SET status = 'cancelled',
            last_error = 'every follower in it was retracted before it was sent'
        WHERE delivery_id = ANY($1::bigint[]) AND status IN ('pending', 'retrying', 'dead')
          AND jsonb_array_length(payload->'followers') = 0
        """,
        list(digests),
    )


async def withdraw(conn: asyncpg.Connection, decision_ids: Sequence[str]) -> int:
    """A person acted on these followers (or asked never to hear of them) before their digest went
    out: leave them out of it, without a retraction message. Returns the entries withdrawn."""
    rows = await conn.fetch(
        """
        UPDATE digest_entries e SET status = 'retracted'
        WHERE e.decision_id = ANY($1::uuid[])
          AND (e.status = 'open' OR (e.status = 'included' AND EXISTS (
                SELECT 1 FROM deliveries d WHERE d.delivery_id = e.delivery_id
                  AND d.status IN ('pending', 'retrying', 'dead'))))
        RETURNING delivery_id
        """,
        list(decision_ids),
    )
    await _strip(conn, sorted({row["delivery_id"] for row in rows if row["delivery_id"] is not None}),
                 decision_ids)  # fmt: skip
    return len(rows)
