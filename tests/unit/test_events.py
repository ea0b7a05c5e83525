"""The event contract: what is accepted, what is refused, and with which field named."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.events import Event, EventType
from shared.validation import BodyError, ahead_of, parse_body, validate
from tests.support import T0, event


def test_a_follow_event_validates_and_keys_by_follower() -> None:
    parsed = Event.model_validate(event("e1", "follow", "42", T0))
    assert parsed.type is EventType.FOLLOW
    assert parsed.key == b"42"
    assert parsed.occurred_at == T0
    assert parsed.schema_version == 2  # an unversioned (version 1) payload, upcast on read


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


@pytest.mark.parametrize(
    ("field", "value", "refused"),
    [
        ("occurred_at", "0001-01-01T00:30:00+01:00", True),  # in year 0 in UTC: no datetime holds it
        ("occurred_at", "1970-01-01T00:30:00+01:00", True),  # 1969 in UTC: before the earliest
        ("occurred_at", "1969-12-31T23:00:00-01:00", False),  # 1970-01-01T00:00:00Z: the earliest itself
        ("occurred_at", "8999-12-31T23:59:59Z", False),
        ("occurred_at", "8999-12-31T23:30:00-01:00", True),  # the year 9000 in UTC: not before the latest
        ("occurred_at", "9999-12-31T23:59:59-01:00", True),  # the year 10000 in UTC
        ("follower.created_at", "0001-01-01T00:00:00Z", True),
        ("follower.last_status_at", "9999-12-31T00:00:00Z", True),
        ("follower.created_at", "2009-06-01T12:00:00+02:00", False),
    ],
)
def test_a_time_outside_the_years_1970_to_9000_in_utc_is_refused_by_its_field(
    field: str, value: str, refused: bool
) -> None:
    """Every consumer computes with an event's times (a grace period before, a window after), and a
    time out of the datetime range stalled the churn detector on every delivery."""
    body = event("e1", "follow", "42", T0)
    if field.startswith("follower."):
        body["follower"][field.removeprefix("follower.")] = value
    else:
        body[field] = value
    if not refused:
        Event.model_validate(body)
        return
    with pytest.raises(ValidationError) as caught:
        Event.model_validate(body)
    assert [".".join(map(str, e["loc"])) for e in caught.value.errors()] == [field]


@pytest.mark.parametrize(
    "where",
    [
        "platform",
        "follower.screen_name",
        "follower.name",
        "follower.description",
        "follower.url",
        "follower.location",
        "interaction.text",
    ],
)
def test_free_text_holding_a_nul_character_is_refused_by_its_field(where: str) -> None:
    """PostgreSQL's text and jsonb cannot hold NUL: accepted, such an event failed the detector's
    insert on every delivery."""
    body = event("e1", "interaction", "42", T0, interaction="reply")
    outer, _, inner = where.partition(".")
    if inner:
        body[outer] = {**body[outer], inner: "before\x00after"}
    else:
        body[outer] = "x\x00"
    with pytest.raises(ValidationError, match="NUL") as caught:
        Event.model_validate_json(json.dumps(body))
    assert [".".join(map(str, e["loc"])) for e in caught.value.errors()] == [where]
    body = event("e1", "interaction", "42", T0, interaction="reply")
    Event.model_validate_json(json.dumps(body))  # (the same event without it passes)


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


def test_parse_body_reads_one_object_an_array_or_ndjson() -> None:
    one = event("e1", "follow", "1", T0)
    two = event("e2", "unfollow", "1", T0)
    single, _ = parse_body(json.dumps(one).encode(), ndjson=False)
    array, _ = parse_body(json.dumps([one, two]).encode(), ndjson=False)
    lines, _ = parse_body(f"{json.dumps(one)}\n\n{json.dumps(two)}\n".encode(), ndjson=True)
    assert [e.event_id for e in single] == ["e1"]
    assert [e.event_id for e in array] == ["e1", "e2"]
    assert [e.event_id for e in lines] == ["e1", "e2"]


def test_parse_body_names_the_index_and_field_of_bad_events() -> None:
    good, bad = event("e1", "follow", "1", T0), event("e2", "follow", "2", T0)
    bad["occurred_at"] = "yesterday"
    _, errors = parse_body(json.dumps([good, bad]).encode(), ndjson=False)
    assert [(e.index, e.field) for e in errors] == [(1, "occurred_at")]
    _, errors = parse_body(f"{json.dumps(good)}\n{json.dumps(bad)}".encode(), ndjson=True)
    assert [(e.index, e.field) for e in errors] == [(1, "occurred_at")]


@pytest.mark.parametrize("body", [b"{not json", b"", b"42", b'"text"'])
def test_a_body_that_is_not_an_object_or_array_is_a_body_error(body: bytes) -> None:
    with pytest.raises(BodyError):
        parse_body(body, ndjson=False)


def test_events_dated_beyond_the_allowed_skew_are_named_by_index() -> None:
    received = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    day = timedelta(days=1)
    events = [
        Event.model_validate(event("ok", "follow", "1", received - day)),
        Event.model_validate(event("skew", "follow", "2", received + day)),  # at the limit: allowed
        Event.model_validate(event("ahead", "follow", "3", received + day + timedelta(seconds=1))),
    ]
    [error] = ahead_of(events, received, day)
    assert (error.index, error.field) == (2, "occurred_at")
    assert "more than 1 day, 0:00:00 after the request arrived" in error.message


@pytest.mark.parametrize("ndjson", [False, True])
def test_a_body_after_a_byte_order_mark_is_read(ndjson: bool) -> None:
    """helper-45: it got the 400 "the body must be a JSON object ...", which it was."""
    body = b"\xef\xbb\xbf" + json.dumps(event("e1", "follow", "1", T0)).encode()
    events, errors = parse_body(body, ndjson=ndjson)
    assert errors == []
    assert [e.event_id for e in events] == ["e1"]
