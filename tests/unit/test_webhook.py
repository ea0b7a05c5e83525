"""The X Account Activity payloads mapped to our events; CRC answers and signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from services.ingest.signatures import crc_response, sign, verify
from services.ingest.webhook import map_payload
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
