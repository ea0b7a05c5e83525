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
too, and so does its unfollow (an ``unfollowed_back`` event: X's follow event of the brand's
unfollow): the follow-backs at or before it are forgotten, and the newest block and the newest
unfollow are remembered (``platform_blocks``, ``platform_unfollows``) so that one older than them
arriving late is not kept. Otherwise the follower who follows again after a block (unblock or not)
or after the brand's unfollow would be decided "followed back on X" by a follow-back that had
ended. (What is kept is the earliest follow-back after the newest end when they arrive in order; an
end arriving after a newer follow-back forgets both.) An item already decided stays decided.
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
# The brand's acts that end its follow on the platform: where the newest of each relationship is
# remembered (the table, its time column).
_ENDS = {
    EventType.BLOCKED: ("platform_blocks", "blocked_at"),
    EventType.UNFOLLOWED_BACK: ("platform_unfollows", "unfollowed_at"),
}


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
    made: dict[Key, list[Event]] = {}
    newest_end: dict[EventType, dict[Key, datetime]] = {kind: {} for kind in _ENDS}
    for event in events:
        key = (event.account_id, event.follower.id)
        ends = newest_end.get(event.type)
        if ends is None:
            made.setdefault(key, []).append(event)
        elif key not in ends or event.occurred_at > ends[key]:
            ends[key] = event.occurred_at
    ended = [key for ends in newest_end.values() for key in ends]
    if not made and not ended:
        return 0
    ids = sorted({account for account, _ in (*made, *ended)})
    await digest.lock(conn, ids, await accounts.latest(conn, ids))  # as intake and actions take it
    await lock(conn, ids)
    for kind, ends in newest_end.items():
        if ends:
            await _ended(conn, kind, sorted(ends.items()))
    if not made:
        return 0
    # Every follow-back of the batch, not only each relationship's earliest: one a block or an
    # unfollow of the same batch ended is left out, and the earliest after it is kept (a pass over
    # the topic from its start, on upgrade, brings a follower's whole history in one batch).
    rows = [(key, e) for key, found in made.items() for e in found]  # (the statement takes the earliest)
    await conn.execute(
        """
        INSERT INTO platform_follow_backs (account_id, follower_id, platform, event_id, occurred_at)
        SELECT DISTINCT ON (n.account_id, n.follower_id) n.*
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
            AS n(account_id, follower_id, platform, event_id, occurred_at)
        -- one the brand's block or unfollow ended (either comes after a follow-back of its instant)
        -- is not kept
        WHERE NOT EXISTS (SELECT 1 FROM platform_blocks b WHERE b.account_id = n.account_id
                          AND b.follower_id = n.follower_id AND b.blocked_at >= n.occurred_at)
          AND NOT EXISTS (SELECT 1 FROM platform_unfollows u WHERE u.account_id = n.account_id
                          AND u.follower_id = n.follower_id AND u.unfollowed_at >= n.occurred_at)
        ORDER BY n.account_id, n.follower_id, n.occurred_at, n.event_id COLLATE "C"
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
    return len(await apply(conn, list(made)))


async def _ended(conn: asyncpg.Connection, kind: EventType, ends: Sequence[tuple[Key, datetime]]) -> None:
    """Remember the newest block (or unfollow: ``kind``) of each relationship, and forget the
    follow-backs it ended."""
    table, at = _ENDS[kind]  # (names from the table above, never from input)
    await conn.execute(
        f"""
        INSERT INTO {table} (account_id, follower_id, {at})
        SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
        ON CONFLICT (account_id, follower_id) DO UPDATE SET
            {at} = EXCLUDED.{at}, recorded_at = now()
        WHERE EXCLUDED.{at} > {table}.{at}
        """,  # noqa: S608
        [a for (a, _), _ in ends],
        [f for (_, f), _ in ends],
        [when for _, when in ends],
    )
    await conn.execute(
        f"""
        DELETE FROM platform_follow_backs p USING {table} e
        WHERE e.account_id = p.account_id AND e.follower_id = p.follower_id
          AND (p.account_id, p.follower_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
          AND p.occurred_at <= e.{at}
        """,  # noqa: S608
        [a for (a, _), _ in ends],
        [f for (_, f), _ in ends],
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
