"""Follow-backs made on the platform itself: a person at the brand followed the follower on X (on a
phone, say), not with the review queue's button.

The ingest maps the brand's own follow on X to a ``followed_back`` event of that follower; the
scorer decides nothing on it, so the notifier reads those events from the ``events`` topic itself
(:func:`parse`), and leaves out the ones its own Follow back published (their ids derive from the
action: ``followed-back:<action id>``). Each is remembered in ``platform_follow_backs`` (the
earliest in event time per relationship), and an *open* review item with one is decided: state
``followed_back``, ``decided_by`` and ``decided_via`` the platform (``x``: shown "on X", never
taken for a person of that name), ``decided_at`` the follow-back's time on the platform; audited as
``platform_follow_back`` by the platform, with the event's id. Its pushes not sent yet are
cancelled and free their room in the daily budget; a push already sent needs nothing (its link
opens the follower in the queue, which says "followed back on X").

Both ways round: an event that arrives before the follower is in the queue (or before they are
worth a look) waits in ``platform_follow_backs``, and the decision that brings them in finds it
(:func:`apply`, in the intake's transaction) before a push is considered. A follower a person
already decided keeps that decision: the X echo of the queue's own Follow back records nothing more.
Everything is keyed by the relationship and the event, so a redelivery changes nothing.

A block by the brand (a ``blocked`` event, read from the same topic) ends the brand's follow on X
too: the follow-backs at or before it are forgotten, and the newest block is remembered
(``platform_blocks``) so that one older than it arriving late is not kept. Otherwise the follower
who follows again after a block, unblock or not, would be decided "followed back on X" by a
follow-back the block had ended. (What is kept is the earliest follow-back after the newest block
when they arrive in order; a block arriving after a newer follow-back forgets both.)
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg
from pydantic import ValidationError

from services.notifier import actions, digest
from services.notifier.review_items import platform_name
from shared import accounts
from shared.events import Event, EventType, event_order

log = logging.getLogger(__name__)

ACTION = "platform_follow_back"  # the audit's action (a person's is "follow_back")
QUEUE_EVENT_PREFIX = "followed-back:"  # actions.followed_back_event's ids
_ACTION_NAMESPACE = uuid.UUID("0b9c3f4e-6d1a-4c57-8e2f-5a7d9e1c3b60")

Key = tuple[str, str]


def why(platform: str) -> str:
    return f"already followed back on {platform_name(platform)}"


def action_id(event_id: str) -> str:
    """The audit row's id, derived from the event: a redelivery (or the decision that finds the
    remembered follow-back) is the same action."""
    return str(uuid.uuid5(_ACTION_NAMESPACE, event_id))


def is_queues_own(event: Event) -> bool:
    """Published by the review queue's own Follow back (already recorded, by a person)."""
    rest = event.event_id.removeprefix(QUEUE_EVENT_PREFIX)
    if rest == event.event_id:
        return False
    try:
        uuid.UUID(rest)
    except ValueError:
        return False
    return True


def parse(bodies: Iterable[bytes], records: Iterable[object]) -> list[tuple[Event, object]]:
    """The platform follow-backs and the brand's blocks among raw ``events`` records, with their
    records. Everything else is skipped unparsed (the churn detector reads the same topic and
    dead-letters what is invalid)."""
    found = []
    for body, record in zip(bodies, records, strict=True):
        if _FOLLOWED_BACK not in body and _BLOCKED not in body:
            continue  # most events: not even parsed
        try:
            event = Event.model_validate_json(body)
        except ValidationError:
            continue
        if event.type is EventType.BLOCKED or (
            event.type is EventType.FOLLOWED_BACK and not is_queues_own(event)
        ):
            found.append((event, record))
    return found


_FOLLOWED_BACK = EventType.FOLLOWED_BACK.value.encode()
_BLOCKED = EventType.BLOCKED.value.encode()  # (in "unblocked" too: parsed, then left out)


async def lock(conn: asyncpg.Connection, account_ids: Iterable[str]) -> None:
    """Serialize, per account, recording a platform follow-back with the intake of decisions: each
    then sees what the other committed (an item inserted and a follow-back remembered at once
    would otherwise each miss the other). Taken before any review item is touched, after the
    digest lock (the order both take them in)."""
    for account in sorted(set(account_ids)):
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('followback.notifier.follow_backs'), hashtext($1))",
            account,
        )


async def record(conn: asyncpg.Connection, events: Sequence[Event]) -> int:
    """Remember these platform follow-backs (and blocks, which end them) and decide the open items
    they concern, in the caller's transaction; returns how many items were decided."""
    earliest: dict[Key, Event] = {}
    newest_block: dict[Key, datetime] = {}
    for event in events:
        key = (event.account_id, event.follower.id)
        if event.type is EventType.BLOCKED:
            if key not in newest_block or event.occurred_at > newest_block[key]:
                newest_block[key] = event.occurred_at
        elif key not in earliest or event_order(event) < event_order(earliest[key]):
            earliest[key] = event
    if not earliest and not newest_block:
        return 0
    ids = sorted({account for account, _ in (*earliest, *newest_block)})
    await digest.lock(conn, ids, await accounts.latest(conn, ids))  # as intake and actions take it
    await lock(conn, ids)
    if newest_block:
        await _blocked(conn, sorted(newest_block.items()))
    rows = sorted(earliest.items())
    if not rows:
        return 0
    await conn.execute(
        """
        INSERT INTO platform_follow_backs (account_id, follower_id, platform, event_id, occurred_at)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
            AS n(account_id, follower_id, platform, event_id, occurred_at)
        -- one the brand's block ended (the block comes after a follow-back of its instant) is not kept
        WHERE NOT EXISTS (SELECT 1 FROM platform_blocks b WHERE b.account_id = n.account_id
                          AND b.follower_id = n.follower_id AND b.blocked_at >= n.occurred_at)
        ON CONFLICT (account_id, follower_id) DO UPDATE SET
            platform = EXCLUDED.platform, event_id = EXCLUDED.event_id,
            occurred_at = EXCLUDED.occurred_at, recorded_at = now()
        -- the earliest stays: the same one whatever the arrival order
        WHERE (EXCLUDED.occurred_at, EXCLUDED.event_id)
              < (platform_follow_backs.occurred_at, platform_follow_backs.event_id)
        """,
        [a for (a, _), _ in rows],
        [f for (_, f), _ in rows],
        [e.platform for _, e in rows],
        [e.event_id for _, e in rows],
        [e.occurred_at for _, e in rows],
    )
    return len(await apply(conn, list(earliest)))


async def _blocked(conn: asyncpg.Connection, blocks: Sequence[tuple[Key, datetime]]) -> None:
    """Remember the newest block of each relationship, and forget the follow-backs it ended."""
    await conn.execute(
        """
        INSERT INTO platform_blocks (account_id, follower_id, blocked_at)
        SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
        ON CONFLICT (account_id, follower_id) DO UPDATE SET
            blocked_at = EXCLUDED.blocked_at, recorded_at = now()
        WHERE EXCLUDED.blocked_at > platform_blocks.blocked_at
        """,
        [a for (a, _), _ in blocks],
        [f for (_, f), _ in blocks],
        [at for _, at in blocks],
    )
    await conn.execute(
        """
        DELETE FROM platform_follow_backs p USING platform_blocks b
        WHERE b.account_id = p.account_id AND b.follower_id = p.follower_id
          AND (p.account_id, p.follower_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
          AND p.occurred_at <= b.blocked_at
        """,
        [a for (a, _), _ in blocks],
        [f for (_, f), _ in blocks],
    )


async def apply(conn: asyncpg.Connection, keys: Sequence[Key]) -> dict[Key, str]:
    """Decide the open review items among ``keys`` that have a remembered platform follow-back;
    returns their new state. The caller holds :func:`lock` of their accounts."""
    if not keys:
        return {}
    rows = await conn.fetch(
        """
        UPDATE review_items r
        SET state = 'followed_back', decided_by = p.platform, decided_via = p.platform,
            decided_at = p.occurred_at, updated_at = now()
        FROM unnest($1::text[], $2::text[]) AS k(account_id, follower_id)
        JOIN platform_follow_backs p ON p.account_id = k.account_id AND p.follower_id = k.follower_id
        WHERE r.account_id = k.account_id AND r.follower_id = k.follower_id AND r.state = 'open'
        RETURNING r.account_id, r.follower_id, r.decision_id, r.class, r.score::float8 AS score,
                  p.platform, p.event_id, p.occurred_at
        """,
        [a for a, _ in keys],
        [f for _, f in keys],
    )
    for row in sorted(rows, key=lambda r: (r["account_id"], r["follower_id"])):
        await _stop_pushes(
            conn, row["account_id"], row["follower_id"], row["occurred_at"], why(row["platform"])
        )
        await conn.execute(
            """
            INSERT INTO review_audit (action_id, actor, action, account_id, follower_id, decision_id, at,
                detail)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (action_id) DO NOTHING
            """,
            action_id(row["event_id"]), row["platform"], ACTION, row["account_id"], row["follower_id"],
            row["decision_id"], row["occurred_at"],
            {"class": row["class"], "score": row["score"], "platform": row["platform"],
             "event_id": row["event_id"]},
        )  # fmt: skip
    return {(row["account_id"], row["follower_id"]): "followed_back" for row in rows}


async def _stop_pushes(
    conn: asyncpg.Connection, account_id: str, follower_id: str, at: datetime, why: str
) -> None:
    """As a person's action stops them (closed, unsent pushes and digest lines cancelled), and a
    push nothing went out of gives its room in the day's budget back."""
    pending = await conn.fetch(
        "SELECT decision_id FROM notifications WHERE account_id = $1 AND follower_id = $2 "
        "AND status = 'pending'",
        account_id,
        follower_id,
    )
    await actions._stop_pushes(conn, account_id, follower_id, "acted", at, why)
    if not pending:
        return
    await conn.execute(
        """
        UPDATE notifications n SET push = 'cancelled', suppressed_reason = $2
        WHERE n.decision_id = ANY($1::uuid[]) AND n.push = 'scheduled'
          AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.decision_id = n.decision_id
                          AND d.kind = 'push' AND d.status IN ('sent', 'sending', 'unknown'))
          AND NOT EXISTS (SELECT 1 FROM digest_entries e WHERE e.decision_id = n.decision_id
                          AND e.status <> 'retracted')
        """,
        [row["decision_id"] for row in pending],
        why,
    )
