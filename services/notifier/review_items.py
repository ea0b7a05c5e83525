"""The review queue's read model: each follower a person may look at, with the current decision.

A follower enters when a decision makes them worth a look (``high_value`` or ``worth_following``)
and then follows every later decision version, so a follower who leaves drops out of the queue's
class filters. What a person decided (``state``) is never overwritten by a decision. The item keeps
its newest decision's event time and follow time (``followed_at``): a follow-back made on X is
judged by the follow (``services.notifier.follow_backs``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from shared.decisions import Decision, DecisionClass, reasons_json

REVIEWABLE = {DecisionClass.HIGH_VALUE, DecisionClass.WORTH_FOLLOWING}
OPEN = "open"
PLATFORM_NAMES = {"x": "X"}


def platform_name(platform: str) -> str:
    return PLATFORM_NAMES.get(platform, platform)


def decided_how(decided_by: str | None, decided_via: str | None) -> str:
    """Who decided an item, as the queue says it: "by ana" (a person, in the queue), or "on X" (a
    follow-back made on the platform itself: ``services.notifier.follow_backs``)."""
    if decided_via:
        return f"on {platform_name(decided_via)}"
    return f"by {decided_by}" if decided_by else ""


Key = tuple[str, str]


_COLUMNS = (
    "account_id", "follower_id", "decision_id", "version", "class", "score", "reasons", "screen_name",
    "profile", "occurred_at", "followed_at",
)  # fmt: skip
# The rows of a batch as one set: unnest of one array per column. The reasons travel as JSON text
# (a JSON array in a jsonb[] parameter would read as a second array dimension).
_ROWS = """(
    SELECT account_id, follower_id, decision_id, version, class, score, reasons::jsonb AS reasons,
           screen_name, profile, occurred_at, followed_at
    FROM unnest($1::text[], $2::text[], $3::uuid[], $4::int[], $5::text[], $6::numeric[], $7::text[],
                $8::text[], $9::jsonb[], $10::timestamptz[], $11::timestamptz[])
        AS u(account_id, follower_id, decision_id, version, class, score, reasons, screen_name, profile,
             occurred_at, followed_at)
) AS n"""


def _reasons_json(d: Decision) -> str:
    return reasons_json(d.reasons).decode()


def _columns(
    decisions: Sequence[tuple[Decision, int]], profiles: Mapping[str, dict[str, Any]]
) -> list[list[Any]]:
    """The newest version of each follower's decisions, one list per column (a set-based statement
    touches a row once, and only a newer version moves an item anyway)."""
    newest: dict[Key, tuple[Decision, int]] = {}
    profile: dict[Key, dict[str, Any]] = {}  # the newest version's with a profile snapshot
    for d, v in sorted(decisions, key=lambda dv: dv[1]):
        key = (d.account_id, d.follower_id)
        newest[key] = (d, v)
        if (snapshot := profiles.get(d.decision_id)) is not None:
            profile[key] = snapshot
    rows = [
        (
            d.account_id, d.follower_id, d.decision_id, v, d.decision_class.value, d.score,
            _reasons_json(d), d.screen_name, profile.get(key), d.occurred_at, d.followed_at,
        )
        for key, (d, v) in newest.items()
    ]  # fmt: skip
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in _COLUMNS]


async def apply(
    conn: asyncpg.Connection,
    decisions: Sequence[tuple[Decision, int]],
    profiles: Mapping[str, dict[str, Any]],
) -> dict[Key, str]:
    """Apply decisions (with their versions); returns each follower's state in the queue."""
    entering = _columns([(d, v) for d, v in decisions if d.decision_class in REVIEWABLE], profiles)
    others = _columns([(d, v) for d, v in decisions if d.decision_class not in REVIEWABLE], profiles)
    # Only a newer version moves an item: a redelivered older decision changes nothing. Entering
    # first: a follower whose newer version leaves the queue's classes is then updated below.
    if entering[0]:
        await conn.execute(
            f"""
            INSERT INTO review_items (account_id, follower_id, decision_id, version, class, score,
                reasons, screen_name, profile, occurred_at, followed_at)
            SELECT * FROM {_ROWS}
            ON CONFLICT (account_id, follower_id) DO UPDATE SET
                decision_id = EXCLUDED.decision_id, version = EXCLUDED.version, class = EXCLUDED.class,
                score = EXCLUDED.score, reasons = EXCLUDED.reasons, screen_name = EXCLUDED.screen_name,
                profile = coalesce(EXCLUDED.profile, review_items.profile),
                occurred_at = EXCLUDED.occurred_at, followed_at = EXCLUDED.followed_at, updated_at = now()
            WHERE review_items.version < EXCLUDED.version
            """,  # noqa: S608
            *entering,
        )
    if others[0]:
        await conn.execute(
            f"""
            UPDATE review_items r SET decision_id = n.decision_id, version = n.version, class = n.class,
                score = n.score, reasons = n.reasons, screen_name = n.screen_name,
                profile = coalesce(n.profile, r.profile), occurred_at = n.occurred_at,
                followed_at = n.followed_at, updated_at = now()
            FROM {_ROWS}
            WHERE r.account_id = n.account_id AND r.follower_id = n.follower_id AND r.version < n.version
            """,  # noqa: S608
            *others,
        )
    keys = {(d.account_id, d.follower_id) for d, _ in decisions}
    if not keys:
        return {}
    accounts, followers = zip(*keys, strict=True)
    rows = await conn.fetch(
        """
        SELECT r.account_id, r.follower_id, r.state FROM review_items r
        JOIN unnest($1::text[], $2::text[]) AS k(account_id, follower_id)
          ON r.account_id = k.account_id AND r.follower_id = k.follower_id
        """,
        list(accounts),
        list(followers),
    )
    return {(row["account_id"], row["follower_id"]): row["state"] for row in rows}
