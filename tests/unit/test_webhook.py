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
    follow, unfollow, _ = mapped_events("follow_events.json")  # (the third: the brand's own unfollow)
    assert (follow.type, unfollow.type) == (EventType.FOLLOW, EventType.UNFOLLOW)
    assert follow.account_id == "3001969357"
    assert follow.follower.id == "1462352436237893632"
    assert follow.follower.screen_name == "ana_roasts"
    assert follow.follower.created_at is not None
    assert follow.follower.created_at.year == 2014
    assert follow.occurred_at.isoformat() == "2018-02-02T16:25:49.178000+00:00"


def test_the_brands_own_follow_event_of_no_known_type_is_skipped_with_a_reason() -> None:
    """The brand's own unfollow of someone is an ``unfollowed_back`` event of theirs
    (tests/unit/test_brand_unfollows.py); a type X does not send is skipped, named."""
    payload = load("follow_events.json")
    payload["follow_events"][2]["type"] = "mute"
    mapped = map_payload(payload)
    assert len(mapped.events) == 2
    assert mapped.skipped == ["mute by the brand itself (source 3001969357)"]


def test_the_brands_own_follow_of_someone_is_a_follow_back() -> None:
    """A brand that follows a follower back on X itself (or whose tooling does, after the review
    queue's Follow back) was skipped: "unfollow after follow-back" fired only for clicks in the queue.
    X's follow event with the brand as source is a ``followed_back`` of its target."""
    brand = {"id": "3001969357", "screen_name": "brand"}
    person = {"id": "4242", "id_str": "4242", "screen_name": "ana", "followers_count": 10}
    [event] = mapped_events_of(_follow_payload(source=brand, target=person))
    assert (event.type, event.account_id, event.follower.id) == (
        EventType.FOLLOWED_BACK,
        "3001969357",
        "4242",
    )
    assert event.follower.screen_name == "ana"
    assert event.occurred_at.isoformat() == "2018-02-02T16:25:49.178000+00:00"
    # the same follow delivered again is the same event
    assert mapped_events_of(_follow_payload(source=brand, target=person))[0].event_id == event.event_id


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
    assert len(set(first)) == 3
    mention = next(e.event_id for e in mapped_events("activity_events.json"))
    assert mention == "x:tweet:3001969357:959470000000000001"


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


def _mention(brand: str, *mentioned: str) -> dict[str, Any]:
    tweet = {
        "id": 1959470000000000001, "id_str": "1959470000000000001", "text": "@a @b both great",
        "timestamp_ms": "1517588749178", "in_reply_to_user_id_str": None, "is_quote_status": False,
        "entities": {"user_mentions": [{"id": int(m), "id_str": m} for m in mentioned]},
        "user": {"id": 1462352436237893632, "id_str": "1462352436237893632", "screen_name": "ana"},
    }  # fmt: skip
    return {"for_user_id": brand, "tweet_create_events": [tweet]}


def test_a_post_mentioning_two_brands_is_an_event_of_each_brand() -> None:
    """X sends a post that mentions two subscribed brands once per brand, with the same post id: both
    mapped to x:tweet:<id>, the churn detector took the second brand's for a re-delivery of the first's
    and dropped it (its follower never got the mention's points)."""
    first, second = (mapped_events_of(_mention(b, "111", "222")) for b in ("111", "222"))
    assert first[0].account_id == "111"
    assert second[0].account_id == "222"
    assert first[0].event_id != second[0].event_id
    assert first == mapped_events_of(_mention("111", "111", "222"))  # a re-delivery: the same ids


def mapped_events_of(payload: dict[str, Any]) -> list[Event]:
    events, errors = validate(map_payload(payload).events)
    assert errors == []
    return events


def test_a_direct_message_senders_age_and_default_image_are_read_from_xs_user_object() -> None:
    """X's ``users`` map of a direct message gives the account's creation as ``created_timestamp``
    (epoch ms; no ``created_at``) and the default image only by its URL (no ``default_profile_image``):
    a sender created yesterday was not seen as a new account, nor its default image."""
    payload = load("activity_events.json")
    payload["users"]["4006"]["profile_image_url_https"] = (
        "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"
    )
    carla = next(e for e in mapped_events_of(payload) if e.follower.id == "4006")
    assert carla.follower.created_at is not None
    assert carla.follower.created_at.isoformat() == "2015-01-29T18:27:49.340000+00:00"
    assert carla.follower.default_profile_image is True
    # What a user object says itself wins over what its image's address suggests.
    payload["users"]["4006"]["default_profile_image"] = False
    carla = next(e for e in mapped_events_of(payload) if e.follower.id == "4006")
    assert carla.follower.default_profile_image is False


def test_a_text_longer_than_the_contract_holds_is_cut_rather_than_refusing_the_payload() -> None:
    """X lets a direct message hold 10,000 characters and a long post more, counted its own way (an
    emoji of five code points is not five there): a longer text refused the whole payload with a 422,
    which X retries and then drops, with every other event in it."""
    payload = load("activity_events.json")
    payload["direct_message_events"][0]["message_create"]["message_data"]["text"] = "👨‍👩‍👧" * 3000
    events = mapped_events_of(payload)
    assert len(events) == 6
    text = next(e.interaction.text for e in events if e.interaction and e.follower.id == "4006")
    assert len(text) == 10_000
