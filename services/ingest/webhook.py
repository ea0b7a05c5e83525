"""Mapping X Account Activity API payloads to followback events (pure).

A payload carries ``for_user_id`` (the brand account) and lists of activity: ``follow_events``,
``tweet_create_events`` (mentions, replies, quotes, reposts), ``favorite_events`` (likes) and
``direct_message_events`` (with the senders' user objects in ``users``). Activity by the brand
itself is not a follower's event and is skipped. Event ids derive from the platform's own ids, so a
re-delivered webhook maps to the same ids and is recognised downstream as already done.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.events import SCHEMA_VERSION, InteractionKind

TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"

PROFILE_FIELDS = (
    "screen_name", "name", "description", "url", "location", "followers_count", "friends_count",
    "statuses_count", "favourites_count", "listed_count", "verified", "protected",
    "default_profile", "default_profile_image",
)  # fmt: skip


@dataclass
class Mapped:
    """The candidate events (dicts, validated by the caller) and what was skipped, with why."""

    events: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _time(value: Any) -> str | None:
    """Epoch milliseconds (X's ``created_timestamp``/``timestamp_ms``) or X's text date, as RFC 3339."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) or str(value).isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC).isoformat()
    try:
        return datetime.strptime(str(value), TWITTER_TIME).isoformat()
    except ValueError:
        return str(value)  # left for validation to name as a bad timestamp


def profile(user: dict[str, Any]) -> dict[str, Any]:
    """A platform user object as our profile snapshot (the string id wins over the number)."""
    snapshot: dict[str, Any] = {"id": user.get("id_str") or user.get("id")}
    for name in PROFILE_FIELDS:
        if user.get(name) is not None:
            snapshot[name] = user[name]
    if user.get("created_at"):
        snapshot["created_at"] = _time(user["created_at"])
    status = user.get("status")
    if isinstance(status, dict) and status.get("created_at"):
        snapshot["last_status_at"] = _time(status["created_at"])
    return snapshot


def _digest_id(*parts: Any) -> str:
    return "x-" + hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:40]


def _uid(user: dict[str, Any] | None) -> str:
    return str((user or {}).get("id_str") or (user or {}).get("id") or "")


def _event(event_id: str, kind: str, account: str, user: dict[str, Any], at: Any) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id,
        "type": kind,
        "platform": "x",
        "account_id": account,
        "follower": profile(user),
        "occurred_at": _time(at),
    }


def _follows(account: str, items: list[dict[str, Any]], out: Mapped) -> None:
    for item in items:
        source, target = item.get("source") or {}, item.get("target") or {}
        kind = item.get("type")
        if _uid(target) != account:
            out.skipped.append(f"{kind} by the brand itself (source {_uid(source)})")
            continue
        event_id = _digest_id("follow", account, _uid(source), kind, item.get("created_timestamp"))
        out.events.append(_event(event_id, str(kind), account, source, item.get("created_timestamp")))


def _tweet_kind(account: str, tweet: dict[str, Any]) -> InteractionKind | None:
    retweeted = tweet.get("retweeted_status")
    if isinstance(retweeted, dict):
        return InteractionKind.REPOST if _uid(retweeted.get("user")) == account else None
    quoted = tweet.get("quoted_status")
    if tweet.get("is_quote_status") and isinstance(quoted, dict) and _uid(quoted.get("user")) == account:
        return InteractionKind.QUOTE
    if str(tweet.get("in_reply_to_user_id_str") or tweet.get("in_reply_to_user_id") or "") == account:
        return InteractionKind.REPLY
    mentions = (tweet.get("entities") or {}).get("user_mentions") or []
    if any(str(m.get("id_str") or m.get("id")) == account for m in mentions):
        return InteractionKind.MENTION
    return None


def _tweets(account: str, items: list[dict[str, Any]], out: Mapped) -> None:
    for tweet in items:
        user = tweet.get("user") or {}
        kind = _tweet_kind(account, tweet)
        if _uid(user) == account or kind is None:
            out.skipped.append(f"tweet {tweet.get('id_str')} is not a follower's interaction")
            continue
        text = (tweet.get("extended_tweet") or {}).get("full_text") or tweet.get("text") or ""
        event = _event(f"x:tweet:{tweet.get('id_str') or tweet.get('id')}", "interaction", account,
                       user, tweet.get("timestamp_ms") or tweet.get("created_at"))  # fmt: skip
        event["interaction"] = {"kind": kind.value, "text": text}
        out.events.append(event)


def _favorites(account: str, items: list[dict[str, Any]], out: Mapped) -> None:
    for fav in items:
        user = fav.get("user") or {}
        if _uid(user) == account:
            out.skipped.append(f"like {fav.get('id')} by the brand itself")
            continue
        event = _event(f"x:fav:{fav.get('id')}", "interaction", account, user,
                       fav.get("timestamp_ms") or fav.get("created_at"))  # fmt: skip
        event["interaction"] = {"kind": InteractionKind.LIKE.value, "text": ""}
        out.events.append(event)


def _messages(account: str, payload: dict[str, Any], out: Mapped) -> None:
    users = payload.get("users") or {}
    for message in payload.get("direct_message_events") or []:
        create = message.get("message_create") or {}
        sender = str(create.get("sender_id") or "")
        if message.get("type") != "message_create" or sender == account:
            out.skipped.append(f"direct message {message.get('id')} sent by the brand")
            continue
        user = users.get(sender) or {"id_str": sender}
        event = _event(f"x:dm:{message.get('id')}", "interaction", account, user,
                       message.get("created_timestamp"))  # fmt: skip
        text = (create.get("message_data") or {}).get("text") or ""
        event["interaction"] = {"kind": InteractionKind.DIRECT_MESSAGE.value, "text": text}
        out.events.append(event)


def map_payload(payload: dict[str, Any]) -> Mapped:
    """Every follower event in one Account Activity payload, in the payload's order."""
    account = str(payload.get("for_user_id") or "")
    out = Mapped()
    _follows(account, payload.get("follow_events") or [], out)
    _tweets(account, payload.get("tweet_create_events") or [], out)
    _favorites(account, payload.get("favorite_events") or [], out)
    _messages(account, payload, out)
    return out
