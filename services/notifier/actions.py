"""What a person does in the review queue, recorded with who and when, and its consequences.

Follow back, Dismiss and Mark as spam decide a follower (once: a second decision is refused, so two
people pressing at once cannot both act); Always / Never notify set the follower's push preference.
Every action is appended to ``review_audit`` in the same transaction as its effect. A follow-back
also goes out through the outbox: as an event on the events topic (so the churn detector can see an
unfollow after a follow-back) and, when the brand configured one, to its follow-back webhook.
followback itself never follows anyone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import asyncpg

from services.notifier import digest, outbox
from services.notifier.outbox import NewDelivery
from services.notifier.retraction import BLOCKED, DEACTIVATED, HOLDING_RULES, RETRACTING, SUSPENDED, held_by
from services.notifier.review_items import decided_how
from shared import accounts
from shared.events import DEFAULT_PLATFORM, Event, EventType, Profile


class Action(StrEnum):
    FOLLOW_BACK = "follow_back"
    DISMISS = "dismiss"
    MARK_SPAM = "mark_spam"
    ALWAYS_NOTIFY = "always_notify"
    NEVER_NOTIFY = "never_notify"


DECIDING = {Action.FOLLOW_BACK: "followed_back", Action.DISMISS: "dismissed", Action.MARK_SPAM: "marked_spam"}
PREFERENCE = {Action.ALWAYS_NOTIFY: "always", Action.NEVER_NOTIFY: "never"}
# Why Follow back is refused for a follower whose decision rests on one of these hard rules.
HELD = {
    BLOCKED: "the brand blocked them",
    SUSPENDED: "their account is not available on X",
    DEACTIVATED: "their account is not available on X",
}


@dataclass(frozen=True)
class Outcome:
    done: bool
    message: str
    action_id: str | None = None


def followed_back_event(
    action_id: str, account_id: str, follower: dict[str, Any], at: datetime
) -> dict[str, Any] | None:
    """The follow-back as a pipeline event; None while the event contract has no such type."""
    kind = getattr(EventType, "FOLLOWED_BACK", None)
    if kind is None:
        return None
    event = Event(
        event_id=f"followed-back:{action_id}",  # derived from the action: a resend is the same event
        type=kind,
        platform=DEFAULT_PLATFORM,  # the review queue keeps no platform; every brand is on x today
        account_id=account_id,
        follower=Profile.model_validate(follower),
        occurred_at=at,
    )
    return event.model_dump(mode="json")


async def perform(
    conn: asyncpg.Connection,
    *,
    actor: str,
    action: Action,
    account_id: str,
    follower_id: str,
    events_topic: str,
) -> Outcome:
    """Record ``action`` by ``actor`` on one follower of one brand account, in one transaction."""
    async with conn.transaction():
        # The account's digest lock first, as intake takes it, so the two cannot deadlock.
        configs = await accounts.latest(conn, [account_id])
        await digest.lock(conn, [account_id], configs)
        item = await conn.fetchrow(
            # (held_by: the reason of the hard rule that holds the follower back, if any: a decision
            # has one at most; retraction.held_by names it)
            """SELECT *, (SELECT r ->> 'signal' FROM jsonb_array_elements(reasons) r
                          WHERE r ->> 'signal' = ANY($3::text[]) LIMIT 1) AS held_by
            FROM review_items WHERE account_id = $1 AND follower_id = $2 FOR UPDATE""",
            account_id,
            follower_id,
            list(HOLDING_RULES),
        )
        if item is None:
            return Outcome(False, f"{follower_id} is not in the review queue of {account_id}")
        held = held_by([item["held_by"]])
        handle = f"@{item['screen_name'] or follower_id}"
        action_id, at = str(uuid.uuid4()), datetime.now(UTC)
        if action in DECIDING:
            if item["state"] != "open":
                by = decided_how(item["decided_by"], item["decided_via"])  # "by ana", "on X"
                return Outcome(False, f"{handle} was already {item['state'].replace('_', ' ')} {by}".rstrip())
            if action is Action.FOLLOW_BACK and (item["class"] in RETRACTING or held == SUSPENDED):
                # The page the person pressed on may be older than the decision: a follower who has
                # since left, or turned out a churner, spam or harmful, or whose account X suspended,
                # is not followed back (their push was retracted with "no action needed"); Dismiss
                # and Mark as spam still work. One whose score merely fell below the thresholds
                # (ignore) keeps their push, and a person may still follow them back.
                if held is not None:
                    return Outcome(False, f"{handle} was not followed back: {HELD[held]}")
                now = item["class"].replace("_", " ")
                return Outcome(False, f"{handle} was not followed back: their decision is now {now}")
            await _decide(conn, item, DECIDING[action], actor, at)
            if action is Action.FOLLOW_BACK:
                await outbox.enqueue(
                    conn,
                    _follow_back_deliveries(
                        item, configs.get(account_id), action_id, actor, at, events_topic
                    ),
                )
        else:
            await _prefer(conn, account_id, follower_id, PREFERENCE[action], actor, at)
        await conn.execute(
            """
            INSERT INTO review_audit (action_id, actor, action, account_id, follower_id, decision_id, at,
                detail)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            """,
            action_id, actor, action.value, account_id, follower_id, item["decision_id"], at,
            # No handle: the audit is append-only, so ``followback forget`` could not erase it here.
            {"class": item["class"], "score": float(item["score"])},
        )  # fmt: skip
    return Outcome(True, f"{handle}: {action.value.replace('_', ' ')} recorded", action_id)


async def _decide(
    conn: asyncpg.Connection, item: asyncpg.Record, state: str, actor: str, at: datetime
) -> None:
    await conn.execute(
        "UPDATE review_items SET state = $3, decided_by = $4, decided_at = $5 "
        "WHERE account_id = $1 AND follower_id = $2",
        item["account_id"], item["follower_id"], state, actor, at,
    )  # fmt: skip
    await _stop_pushes(conn, item["account_id"], item["follower_id"], "acted", at, "a person acted first")


async def _prefer(
    conn: asyncpg.Connection, account_id: str, follower_id: str, preference: str, actor: str, at: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO notify_preferences (account_id, follower_id, preference, set_by, set_at)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (account_id, follower_id) DO UPDATE
        SET preference = EXCLUDED.preference, set_by = EXCLUDED.set_by, set_at = EXCLUDED.set_at
        """,
        account_id, follower_id, preference, actor, at,
    )  # fmt: skip
    if preference == "never":
        await _stop_pushes(conn, account_id, follower_id, None, at, "never notify about this follower")
    else:
        # A push already waiting for room in the budget now goes first, as one queued after would.
        await conn.execute(
            "UPDATE notifications SET priority = 1 WHERE account_id = $1 AND follower_id = $2 "
            "AND status = 'pending' AND push = 'waiting'",
            account_id, follower_id,
        )  # fmt: skip


async def _stop_pushes(
    conn: asyncpg.Connection, account_id: str, follower_id: str, status: str | None, at: datetime, why: str
) -> None:
    """Cancel this follower's pushes not sent yet; ``status`` also closes the pending notification."""
    rows = await conn.fetch(
        """
        UPDATE notifications
        SET status = coalesce($3, status), acted_at = CASE WHEN $3 IS NULL THEN acted_at ELSE $4 END,
            push = CASE WHEN push = 'waiting' THEN 'cancelled' ELSE push END,
            suppressed_reason = CASE WHEN push = 'waiting' THEN $5 ELSE suppressed_reason END
        WHERE account_id = $1 AND follower_id = $2 AND status = 'pending'
        RETURNING decision_id::text
        """,
        account_id, follower_id, status, at, why,
    )  # fmt: skip
    decisions = [row["decision_id"] for row in rows]
    await outbox.cancel_unsent(conn, decisions, why)
    await digest.withdraw(conn, decisions)  # nor listed in a digest still to go out


def _follow_back_deliveries(
    item: asyncpg.Record,
    config: accounts.VersionedConfig | None,
    action_id: str,
    actor: str,
    at: datetime,
    events_topic: str,
) -> list[NewDelivery]:
    account_id, follower_id = item["account_id"], item["follower_id"]
    found = []
    profile = item["profile"] or {"id": follower_id, "screen_name": item["screen_name"]}
    if (event := followed_back_event(action_id, account_id, profile, at)) is not None:
        found.append(
            NewDelivery(f"event:{action_id}", account_id, follower_id, "events", "event", events_topic, event)
        )
    if config and config.config.follow_back_webhook_url:
        payload = {
            "action": "follow_back",
            "action_id": action_id,
            "account_id": account_id,
            "follower_id": follower_id,
            "screen_name": item["screen_name"],
            "decision_id": str(item["decision_id"]),
            "decided_by": actor,
            "decided_at": at.isoformat(),
        }
        found.append(
            NewDelivery(
                f"follow-back:{action_id}", account_id, follower_id, "follow_back_webhook", "follow_back",
                config.config.follow_back_webhook_url, payload, str(item["decision_id"]),
            )
        )  # fmt: skip
    return found
