"""Mapping X Account Activity API payloads to followback events (pure).

A payload carries ``for_user_id`` (the brand account) and lists of activity: ``follow_events``,
``tweet_create_events`` (mentions, replies, quotes, reposts), ``favorite_events`` (likes) and
``direct_message_events`` (with the senders' user objects in ``users``). Activity by the brand
itself is not a follower's event and is skipped, but for its follows, unfollows, blocks and unblocks
of someone: events of that person (``followed_back``, ``unfollowed_back``, ``blocked``,
``unblocked``). Event ids derive from the platform's own ids, so a re-delivered webhook maps to the
same ids and is recognised downstream as already done.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.events import SCHEMA_VERSION, TEXT_LIMIT, InteractionKind

TWITTER_TIME = "%a %b %d %H:%M:%S %z %Y"

PROFILE_FIELDS = (
    "screen_name", "name", "description", "url", "location", "followers_count", "friends_count",
    "statuses_count", "favourites_count", "listed_count", "verified", "protected",
    "default_profile", "default_profile_image",
)  # fmt: skip


class PayloadError(ValueError):
    """A part of the payload that is not the shape X sends (an object where a list belongs, say):
    named by its path, for a 422."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


def _objects(value: Any, path: str) -> list[dict[str, Any]]:
    """A list of objects (absent or null: none)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(path, "should be a list of objects")
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            raise PayloadError(f"{path}[{n}]", "should be an object")
    return value


def _object(value: Any, path: str) -> dict[str, Any]:
    """An object (absent or null: an empty one)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(path, "should be an object")
    return value


@dataclass
class Mapped:
    """The candidate events (dicts, validated by the caller) and what was skipped, with why."""

    events: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _time(value: Any) -> str | None:
    """Epoch milliseconds (X's ``created_timestamp``/``timestamp_ms``) or X's text date, as RFC 3339.
    Anything else (no time, or one out of range: NaN, 10**20, a digit that is no ASCII digit) is
    left as text, for validation to name as a bad time."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):  # (an int to Python: true was read as 1 ms after 1970)
        return str(value)
    try:
        if isinstance(value, int | float) or (str(value).isascii() and str(value).isdigit()):
            return datetime.fromtimestamp(int(value) / 1000, tz=UTC).isoformat()
        return datetime.strptime(str(value), TWITTER_TIME).isoformat()
    except (ValueError, OverflowError, OSError):
        return str(value)


# What X's user objects without ``default_profile_image`` (a direct message's ``users``) tell of it:
# the default image's address.
DEFAULT_IMAGE = "/default_profile_images/"


def profile(user: dict[str, Any]) -> dict[str, Any]:
    """A platform user object as our profile snapshot (the string id wins over the number). A direct
    message's user objects give the account's creation as ``created_timestamp`` (epoch ms) and the
    default image only by its address."""
    snapshot: dict[str, Any] = {"id": user.get("id_str") or user.get("id")}
    for name in PROFILE_FIELDS:
        if user.get(name) is not None:
            snapshot[name] = user[name]
    created = user.get("created_at") or user.get("created_timestamp")
    if created:
        snapshot["created_at"] = _time(created)
    if user.get("default_profile_image") is None:
        image = user.get("profile_image_url_https") or user.get("profile_image_url")
        if isinstance(image, str) and DEFAULT_IMAGE in image:
            snapshot["default_profile_image"] = True
    status = user.get("status")
    if isinstance(status, dict) and status.get("created_at"):
        snapshot["last_status_at"] = _time(status["created_at"])
    return snapshot


def _digest_id(*parts: Any) -> str:
    return "x-" + hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:40]


def _uid(user: Any) -> str:
    if not isinstance(user, dict):
        return ""
    return str(user.get("id_str") or user.get("id") or "")


def _text(value: Any) -> Any:
    """A text cut to what an event holds, not refused: X counts a text's length its own way, and a
    422 makes X retry and then drop every event of the payload."""
    return value[:TEXT_LIMIT] if isinstance(value, str) else value


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


# The brand's own follow events on X, as our events of their target.
BRAND_FOLLOW_TYPES = {"follow": "followed_back", "unfollow": "unfollowed_back"}


def _follows(account: str, items: list[dict[str, Any]], out: Mapped) -> None:
    for n, item in enumerate(items):
        source = _object(item.get("source"), f"follow_events[{n}].source")
        target = _object(item.get("target"), f"follow_events[{n}].target")
        kind = item.get("type")
        at = item.get("created_timestamp")
        ours = BRAND_FOLLOW_TYPES.get(kind) if isinstance(kind, str) else None
        if _uid(target) != account and _uid(source) == account and ours is not None:
            # The brand followed someone on X itself (or its tooling did, after the review queue's
            # Follow back): a follow-back of a follower (of anyone else, the churn rules ignore it).
            # Its unfollow ends that follow-back: the follower's unfollow after it is then none after
            # a follow-back (it was skipped, and one who unfollowed in return was taken for a churner).
            event_id = _digest_id(ours, account, _uid(target), kind, at)
            out.events.append(_event(event_id, ours, account, target, at))
            continue
        if _uid(target) != account:
            out.skipped.append(f"{kind} by the brand itself (source {_uid(source)})")
            continue
        event_id = _digest_id("follow", account, _uid(source), kind, item.get("created_timestamp"))
        out.events.append(_event(event_id, str(kind), account, source, item.get("created_timestamp")))


# X's block event types, as our events' (the brand blocked or unblocked the target).
BLOCK_TYPES = {"block": "blocked", "unblock": "unblocked"}


def _blocks(account: str, items: list[dict[str, Any]], out: Mapped, part: str = "block_events") -> None:
    """``block_events``: the brand's blocks and unblocks of someone, events of that person (X ends
    the follow both ways on a block and sends no unfollow for it). Anyone else's are skipped. X's
    payloads carry an unblock there with ``type`` ``unblock``; its documentation's table also names
    an ``unblock_events`` part, read the same way (an item without a type there is an unblock).

    A follower's block of the brand (X lists blocks "by user or of user") ends both follows the same
    way: it is that follower's ``unfollow`` and the brand's ``unfollowed_back`` (so a follow-back on X
    it ended is not taken for one standing if they follow again). Their unblock restores neither."""
    for n, item in enumerate(items):
        source = _object(item.get("source"), f"{part}[{n}].source")
        target = _object(item.get("target"), f"{part}[{n}].target")
        kind = item.get("type", "unblock" if part == "unblock_events" else None)
        ours = BLOCK_TYPES.get(kind) if isinstance(kind, str) else None
        if _uid(target) == account and _uid(source) not in ("", account) and kind == "block":
            _blocked_the_brand(account, source, item.get("created_timestamp"), out)
            continue
        if _uid(source) != account or _uid(target) == account or ours is None:
            out.skipped.append(f"{kind} of {_uid(target)} by {_uid(source)}, not the brand's block")
            continue
        at = item.get("created_timestamp")
        event_id = _digest_id(ours, account, _uid(target), kind, at)
        out.events.append(_event(event_id, ours, account, target, at))


def _blocked_the_brand(account: str, follower: dict[str, Any], at: Any, out: Mapped) -> None:
    """A follower blocked the brand: their follow and the brand's follow-back, if any, end at once
    (``unfollowed_back`` ranks before ``unfollow`` at one instant, so the block is never taken for an
    unfollow after a follow-back: the brand's follow ended with theirs). They are published in that
    order, the detector's: the log then holds them as event time orders them, and a replay finds
    nothing that arrived out of order."""
    for ours in ("unfollowed_back", "unfollow"):
        event_id = _digest_id("blocked-the-brand", ours, account, _uid(follower), at)
        out.events.append(_event(event_id, ours, account, follower, at))


def _tweet_kind(account: str, tweet: dict[str, Any], where: str) -> InteractionKind | None:
    retweeted = tweet.get("retweeted_status")
    if isinstance(retweeted, dict):
        return InteractionKind.REPOST if _uid(retweeted.get("user")) == account else None
    quoted = tweet.get("quoted_status")
    if tweet.get("is_quote_status") and isinstance(quoted, dict) and _uid(quoted.get("user")) == account:
        return InteractionKind.QUOTE
    if str(tweet.get("in_reply_to_user_id_str") or tweet.get("in_reply_to_user_id") or "") == account:
        return InteractionKind.REPLY
    entities = _object(tweet.get("entities"), f"{where}.entities")
    mentions = _objects(entities.get("user_mentions"), f"{where}.entities.user_mentions")
    if any(str(m.get("id_str") or m.get("id")) == account for m in mentions):
        return InteractionKind.MENTION
    return None


def _tweets(account: str, items: list[dict[str, Any]], out: Mapped) -> None:
    for n, tweet in enumerate(items):
        where = f"tweet_create_events[{n}]"
        user = _object(tweet.get("user"), f"{where}.user")
        kind = _tweet_kind(account, tweet, where)
        if _uid(user) == account or kind is None:
            out.skipped.append(f"tweet {tweet.get('id_str')} is not a follower's interaction")
            continue
        text = (
            _object(tweet.get("extended_tweet"), f"{where}.extended_tweet").get("full_text")
            or tweet.get("text")
            or ""
        )
        # X sends a post that involves several subscribed brands (mentions two) once per brand, with
        # the same post id: the brand is part of the id, or the second brand's would be taken
        # downstream for a re-delivery of the first's and dropped.
        event = _event(f"x:tweet:{account}:{tweet.get('id_str') or tweet.get('id')}", "interaction",
                       account, user, tweet.get("timestamp_ms") or tweet.get("created_at"))  # fmt: skip
        event["interaction"] = {"kind": kind.value, "text": _text(text)}
        out.events.append(event)


def _favorites(account: str, items: list[dict[str, Any]], out: Mapped) -> None:
    for n, fav in enumerate(items):
        user = _object(fav.get("user"), f"favorite_events[{n}].user")
        if _uid(user) == account:
            out.skipped.append(f"like {fav.get('id')} by the brand itself")
            continue
        event = _event(f"x:fav:{fav.get('id')}", "interaction", account, user,
                       fav.get("timestamp_ms") or fav.get("created_at"))  # fmt: skip
        event["interaction"] = {"kind": InteractionKind.LIKE.value, "text": ""}
        out.events.append(event)


def _messages(account: str, payload: dict[str, Any], out: Mapped) -> None:
    users = _object(payload.get("users"), "users")
    for n, message in enumerate(_objects(payload.get("direct_message_events"), "direct_message_events")):
        create = _object(message.get("message_create"), f"direct_message_events[{n}].message_create")
        sender = str(create.get("sender_id") or "")
        if message.get("type") != "message_create" or sender == account:
            out.skipped.append(f"direct message {message.get('id')} sent by the brand")
            continue
        user = _object(users.get(sender), f"users.{sender}") or {"id_str": sender}
        event = _event(f"x:dm:{message.get('id')}", "interaction", account, user,
                       message.get("created_timestamp"))  # fmt: skip
        data = _object(create.get("message_data"), f"direct_message_events[{n}].message_create.message_data")
        text = data.get("text") or ""
        event["interaction"] = {"kind": InteractionKind.DIRECT_MESSAGE.value, "text": _text(text)}
        out.events.append(event)


def _deletions(account: str, items: list[dict[str, Any]], out: Mapped) -> None:
    """A follower deleted a post: a ``deleted`` event naming the post's event id (as
    :func:`_tweets` made it for this brand), keyed by the author like the post, so it reaches the
    churn detector after it; the detector erases the post's text for every brand."""
    for n, item in enumerate(items):
        status = _object(item.get("status"), f"tweet_delete_events[{n}].status")
        post = status.get("id_str") or status.get("id")
        author = str(status.get("user_id_str") or status.get("user_id") or "")
        if author == account:
            out.skipped.append(f"deletion of post {post} by the brand itself")
            continue
        event = _event(f"x:delete:{account}:{post}", "deleted", account, {"id_str": author},
                       item.get("timestamp_ms"))  # fmt: skip
        event["deletes"] = f"x:tweet:{account}:{post}"
        out.events.append(event)


# The parts of a payload that map to a follower's events: a payload with none of them (a subscription
# revoke's ``user_event``, which names no ``for_user_id``) needs no brand account.
FOLLOWER_ACTIVITY = ("follow_events", "tweet_create_events", "favorite_events", "direct_message_events",
                     "tweet_delete_events")  # fmt: skip


def map_payload(payload: dict[str, Any]) -> Mapped:
    """Every follower event in one Account Activity payload, in the payload's order; a part of it
    that is not the shape X sends is a :class:`PayloadError`."""
    account = str(payload.get("for_user_id") or "")
    out = Mapped()
    _follows(account, _objects(payload.get("follow_events"), "follow_events"), out)
    _blocks(account, _objects(payload.get("block_events"), "block_events"), out)
    _blocks(account, _objects(payload.get("unblock_events"), "unblock_events"), out, "unblock_events")
    _tweets(account, _objects(payload.get("tweet_create_events"), "tweet_create_events"), out)
    _favorites(account, _objects(payload.get("favorite_events"), "favorite_events"), out)
    _messages(account, payload, out)
    _deletions(account, _objects(payload.get("tweet_delete_events"), "tweet_delete_events"), out)
    return out
