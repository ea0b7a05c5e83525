"""The event contract: what is accepted, what is refused, and with which field named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.events import Event, EventType
from shared.validation import items_of, validate
from tests.support import T0, event


def test_a_follow_event_validates_and_keys_by_follower() -> None:
    parsed = Event.model_validate(event("e1", "follow", "42", T0))
    assert parsed.type is EventType.FOLLOW
    assert parsed.key == b"42"
    assert parsed.occurred_at == T0
    assert parsed.schema_version == 1


def test_numeric_ids_are_kept_exactly_as_text() -> None:
    body = event("e1", "follow", "x", T0)
    body["follower"]["id"] = 1462352436237893632  # a snowflake beyond float precision
    assert Event.model_validate(body).follower.id == "1462352436237893632"


def test_an_interaction_needs_its_interaction_field() -> None:
    body = event("e1", "interaction", "42", T0)
    with pytest.raises(ValidationError, match="needs the 'interaction' field"):
        Event.model_validate(body)


def test_a_follow_carries_no_interaction() -> None:
    body = event("e1", "follow", "42", T0, interaction="like")
    with pytest.raises(ValidationError, match="carries no 'interaction'"):
        Event.model_validate(body)


def test_event_time_must_carry_an_offset() -> None:
    body = event("e1", "follow", "42", T0)
    body["occurred_at"] = "2026-03-01T09:00:00"
    with pytest.raises(ValidationError) as caught:
        Event.model_validate(body)
    assert caught.value.errors()[0]["loc"] == ("occurred_at",)


def test_validate_names_each_bad_event_by_index_and_field() -> None:
    good = event("e1", "follow", "1", T0)
    no_id = event("e2", "follow", "2", T0)
    del no_id["follower"]["id"]
    bad_type = {**good, "event_id": "e3", "type": "retweet"}
    negative = event("e4", "follow", "4", T0)
    negative["follower"]["followers_count"] = -1

    events, errors = validate([good, no_id, bad_type, negative, "not an object"])

    assert [e.event_id for e in events] == ["e1"]
    assert [(e.index, e.field) for e in errors] == [
        (1, "follower.id"),
        (2, "type"),
        (3, "follower.followers_count"),
        (4, "(event)"),
    ]


def test_items_of_reads_one_object_an_array_or_ndjson() -> None:
    assert items_of(b'{"a": 1}', ndjson=False) == [{"a": 1}]
    assert items_of(b'[{"a": 1}, {"b": 2}]', ndjson=False) == [{"a": 1}, {"b": 2}]
    assert items_of(b'{"a": 1}\n\n{"b": 2}\n', ndjson=True) == [{"a": 1}, {"b": 2}]
