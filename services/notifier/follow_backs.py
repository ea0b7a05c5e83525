"""Follow-backs made on the platform itself: a person at the brand followed the follower on X (on a
phone, say), not with the review queue's button.

The ingest maps the brand's own follow on X to a ``followed_back`` event of that follower; the
scorer decides nothing on it, so the notifier reads those events from the ``events`` topic itself
(:func:`parse`), and leaves out the ones its own Follow back published (their ids derive from the
action: ``followed-back:<action id>``). Each is remembered in ``platform_follow_backs``, and an
*open* review item one answers is decided (by the earliest in event time that does): state
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
too, and so does its unfollow (an ``unfollowed_back`` event: X's follow event of the brand's
unfollow). A block forgets the follow-backs at or before it, and the newest block is remembered
(``platform_blocks``) so that one older than it arriving late is not kept: the follower who follows
again after a block (unblock or not) is not decided "followed back on X" by a follow-back that had
ended (a follower the brand blocked is not one to push anyway). An unfollow forgets nothing:
every follow-back and every unfollow is kept (``platform_unfollows``), and a follow-back answers an
item unless an unfollow of the brand's came between them, at or after the follow-back and before the
follow the item is about (its ``followed_at``: its newest decision's, the follower's newest follow as
of that decision's event). So the item of the follow the brand answered is decided followed back on
X even where the notifier learns of the unfollow before that item's first decision (a backfill:
history posted at once, or the decisions consumer lagging behind this one), and even where that
decision rests on a later event of the same follow, after the unfollow (a like that moved the
score), while the item of a follow after the unfollow (the follower followed again) is open and
pushed like any other. Whatever order the follow-backs and ends arrive in, what is kept is the
same. An item with no follow time (its decision is from a scorer before decisions carried it, or the
item is from before migration 0024 and not decided again since) stands for its event instead (its
``occurred_at``), as before: a decision of the same follow on an event after the unfollow is then
taken for a follow after it. An item already decided stays decided: an unfollow reopens nothing, so
an unfollow read after the follow-back it ended was applied to the item of a later follow (that
item's decision reached the queue first: the decisions consumer ahead of this one, with the
follow-back and the unfollow in two batches) leaves it followed back on X.
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
from shared.events import Event, EventType

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
    """The platform follow-backs and the brand's blocks and unfollows among raw ``events`` records,
    with their records. Everything else is skipped unparsed (the churn detector reads the same topic
    and dead-letters what is invalid)."""
    found = []
    for body, record in zip(bodies, records, strict=True):
        if _FOLLOWED_BACK not in body and _BLOCKED not in body:
            continue  # most events: not even parsed
        try:
            event = Event.model_validate_json(body)
        except ValidationError:
            continue
        if event.type in _ENDS or (event.type is EventType.FOLLOWED_BACK and not is_queues_own(event)):
            found.append((event, record))
    return found


_FOLLOWED_BACK = EventType.FOLLOWED_BACK.value.encode()  # (in "unfollowed_back" too)
_BLOCKED = EventType.BLOCKED.value.encode()  # (in "unblocked" too: parsed, then left out)
# The brand's acts that end its follow on the platform.
_ENDS = {EventType.BLOCKED, EventType.UNFOLLOWED_BACK}


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
    """Remember these platform follow-backs (and the blocks and unfollows that end them) and decide
    the open items they concern, in the caller's transaction; returns how many items were decided."""
    made: list[Event] = []
    unfollows: set[tuple[Key, datetime]] = set()
    newest_block: dict[Key, datetime] = {}
    for event in events:
        key = (event.account_id, event.follower.id)
        if event.type is EventType.UNFOLLOWED_BACK:
            unfollows.add((key, event.occurred_at))
        elif event.type is EventType.BLOCKED:
            if key not in newest_block or event.occurred_at > newest_block[key]:
                newest_block[key] = event.occurred_at
        else:
            made.append(event)
    keys = {(e.account_id, e.follower.id) for e in made}
    if not keys and not unfollows and not newest_block:
        return 0
    ids = sorted({account for account, _ in (*keys, *newest_block, *(key for key, _ in unfollows))})
    await digest.lock(conn, ids, await accounts.latest(conn, ids))  # as intake and actions take it
    await lock(conn, ids)
    if newest_block:
        await _blocked(conn, sorted(newest_block.items()))
    if unfollows:
        await _unfollowed(conn, sorted(unfollows))
    if not made:
        return 0  # an unfollow decides no item, and reopens none
    # Every follow-back of the batch (a pass over the topic from its start, on upgrade, brings a
    # follower's whole history in one batch): one a block ended is left out.
    await conn.execute(
        """
        INSERT INTO platform_follow_backs (account_id, follower_id, platform, event_id, occurred_at)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
            AS n(account_id, follower_id, platform, event_id, occurred_at)
        -- a block comes after a follow-back of its instant
        WHERE NOT EXISTS (SELECT 1 FROM platform_blocks b WHERE b.account_id = n.account_id
                          AND b.follower_id = n.follower_id AND b.blocked_at >= n.occurred_at)
        ON CONFLICT (account_id, follower_id, event_id) DO NOTHING
        """,
        [e.account_id for e in made],
        [e.follower.id for e in made],
        [e.platform for e in made],
        [e.event_id for e in made],
        [e.occurred_at for e in made],
    )
    return len(await apply(conn, sorted(keys)))


async def _blocked(conn: asyncpg.Connection, blocks: Sequence[tuple[Key, datetime]]) -> None:
    """Remember the newest block of each relationship, and forget the follow-backs at or before it
    (ended by an unfollow or not): the follower who follows again after the block is not decided by
    one of them. (Unlike an unfollow's, a block's follow-backs need not decide the items of the
    follows they answered: a follower the brand blocked is not one to push.)"""
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
        [when for _, when in blocks],
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


async def _unfollowed(conn: asyncpg.Connection, unfollows: Sequence[tuple[Key, datetime]]) -> None:
    """Remember every unfollow of the brand's: each ends the follow-backs before it (:func:`apply`),
    which are kept, since they still decide the items of the follows they answered."""
    await conn.execute(
        """
        INSERT INTO platform_unfollows (account_id, follower_id, unfollowed_at)
        SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
        ON CONFLICT (account_id, follower_id, unfollowed_at) DO NOTHING
        """,
        [a for (a, _), _ in unfollows],
        [f for (_, f), _ in unfollows],
        [when for _, when in unfollows],
    )


async def apply(conn: asyncpg.Connection, keys: Sequence[Key]) -> dict[Key, str]:
    """Decide the open review items among ``keys`` that a remembered platform follow-back answers:
    one the brand still follows with, or one its unfollow ended at or after the item's follow (the
    follow it answered, whatever later event of it the item's decision rests on, brought in late by a
    backfill), never one ended before it (the follower followed again). The earliest such follow-back
    decides. Returns the items' new state; the caller holds :func:`lock` of their accounts."""
    if not keys:
        return {}
    rows = await conn.fetch(
        """
        WITH answered AS (
            SELECT DISTINCT ON (r.account_id, r.follower_id)
                r.account_id, r.follower_id, p.platform, p.event_id, p.occurred_at
            FROM unnest($1::text[], $2::text[]) AS k(account_id, follower_id)
            JOIN review_items r ON r.account_id = k.account_id AND r.follower_id = k.follower_id
            JOIN platform_follow_backs p ON p.account_id = r.account_id AND p.follower_id = r.follower_id
            -- no unfollow of the brand's between the follow-back and the item's follow (an unfollow
            -- comes after a follow-back of its instant, and the follow of its instant is before it);
            -- an item with no follow time (decided before decisions carried it): its event's
            WHERE r.state = 'open'
              AND NOT EXISTS (SELECT 1 FROM platform_unfollows u
                              WHERE u.account_id = p.account_id AND u.follower_id = p.follower_id
                                AND u.unfollowed_at >= p.occurred_at
                                AND u.unfollowed_at < coalesce(r.followed_at, r.occurred_at))
            ORDER BY r.account_id, r.follower_id, p.occurred_at, p.event_id COLLATE "C"
        )
        UPDATE review_items r
        SET state = 'followed_back', decided_by = p.platform, decided_via = p.platform,
            decided_at = p.occurred_at, updated_at = now()
        FROM answered p
        WHERE r.account_id = p.account_id AND r.follower_id = p.follower_id AND r.state = 'open'
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
