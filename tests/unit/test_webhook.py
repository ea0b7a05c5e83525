"""The X Account Activity payloads mapped to our events; CRC answers and signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from services.ingest.signatures import crc_response, sign, verify
from services.ingest.webhook import PayloadError, map_payload
from shared.events import Event, EventType, InteractionKind
from shared.validation import validate

DATA = Path(__file__).resolve().parents[1] / "data" / "x"


def load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((DATA / name).read_text())
    return payload


def mapped_events(name: str) -> list[Event]:
    events, errors = validate(map_payload(load(name)).events)
    assert errors == []
    return events


def test_follow_events_become_follows_and_unfollows_of_the_brand() -> None:
    follow, unfollow = mapped_events("follow_events.json")
    assert (follow.type, unfollow.type) == (EventType.FOLLOW, EventType.UNFOLLOW)
    assert follow.account_id == "3001969357"
    assert follow.follower.id == "1462352436237893632"
    assert follow.follower.screen_name == "ana_roasts"
    assert follow.follower.created_at is not None
    assert follow.follower.created_at.year == 2014
    assert follow.occurred_at.isoformat() == "2018-02-02T16:25:49.178000+00:00"


def test_the_brands_own_follow_is_skipped_with_a_reason() -> None:
    mapped = map_payload(load("follow_events.json"))
    assert len(mapped.events) == 2
    assert mapped.skipped == ["follow by the brand itself (source 3001969357)"]


def test_tweets_likes_and_messages_become_interactions_of_the_right_kind() -> None:
    events = mapped_events("activity_events.json")
    kinds = {e.follower.id: e.interaction.kind for e in events if e.interaction}
    assert kinds == {
        "4001": InteractionKind.MENTION,
        "4002": InteractionKind.REPLY,
        "4003": InteractionKind.REPOST,
        "4004": InteractionKind.QUOTE,
        "4005": InteractionKind.LIKE,
        "4006": InteractionKind.DIRECT_MESSAGE,
    }
    texts = {e.follower.id: e.interaction.text for e in events if e.interaction}
    assert texts["4004"] == "this is the one, best roast in town"  # the extended text wins
    assert texts["4006"] == "Hi! Do you ship to Madrid?"
    assert all(e.account_id == "3001969357" for e in events)


def test_activity_by_the_brand_itself_is_skipped() -> None:
    mapped = map_payload(load("activity_events.json"))
    assert len(mapped.events) == 6
    assert len(mapped.skipped) == 2


def test_a_redelivered_webhook_maps_to_the_same_event_ids() -> None:
    first = [e.event_id for e in mapped_events("follow_events.json")]
    again = [e.event_id for e in mapped_events("follow_events.json")]
    assert first == again
    assert len(set(first)) == 2
    assert next(e.event_id for e in mapped_events("activity_events.json")) == "x:tweet:959470000000000001"


def test_signatures_are_base64_hmac_sha256_under_the_consumer_secret() -> None:
    body = b'{"for_user_id": "1"}'
    expected = base64.b64encode(hmac.new(b"s3cret", body, hashlib.sha256).digest()).decode()
    assert sign("s3cret", body) == f"sha256={expected}"
    assert verify("s3cret", body, f"sha256={expected}")
    assert not verify("s3cret", body + b" ", f"sha256={expected}")
    assert not verify("other", body, f"sha256={expected}")
    assert not verify("s3cret", body, None)


def test_the_crc_answer_signs_the_token() -> None:
    token = base64.b64encode(hmac.new(b"s3cret", b"abc", hashlib.sha256).digest()).decode()
    assert crc_response("s3cret", "abc") == {"response_token": f"sha256={token}"}


DM_CREATE = "direct_message_events[0].message_create"
MENTIONS = "tweet_create_events[0].entities.user_mentions"


def _follow_payload(**item: Any) -> dict[str, Any]:
    payload = load("follow_events.json")
    payload["follow_events"] = [{**payload["follow_events"][0], **item}]
    return payload


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda p: p.update(follow_events={"type": "follow"}), "follow_events"),
        (lambda p: p.update(follow_events=["follow"]), "follow_events[0]"),
        (lambda p: p["follow_events"][0].update(source="abc"), "follow_events[0].source"),
        (lambda p: p.update(users=[{"id": 1}]), "users"),
        (lambda p: p.update(direct_message_events=[{"message_create": "hi"}]), DM_CREATE),
        (lambda p: p.update(tweet_create_events=[{"entities": {"user_mentions": "x"}}]), MENTIONS),
    ],
)
def test_a_part_of_the_payload_that_is_not_xs_shape_is_named_by_its_path(change: Any, path: str) -> None:
    """Each of these answered 500 with a traceback (helper-40): now a 422 names the part."""
    payload = load("follow_events.json")
    change(payload)
    with pytest.raises(PayloadError) as refused:
        map_payload(payload)
    assert refused.value.path == path


@pytest.mark.parametrize(
    "stamp", ["99999999999999999999", float("nan"), float("inf"), "²", 10**30, "soon", True]
)
def test_a_time_out_of_range_or_no_time_is_left_for_validation_to_name(stamp: Any) -> None:
    """A timestamp X could not have sent (out of range, NaN, a digit that is no ASCII digit) answered
    500; now validation names the field."""
    events, errors = validate(map_payload(_follow_payload(created_timestamp=stamp)).events)
    assert events == []
    assert {e.field for e in errors} == {"occurred_at"}
    source = {**load("follow_events.json")["follow_events"][0]["source"], "created_at": 10**30}
    _, errors = validate(map_payload(_follow_payload(source=source)).events)
    assert {e.field for e in errors} == {"follower.created_at"}
