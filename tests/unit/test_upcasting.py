"""Schema evolution: every version-1 event reads as the same event in version 2; unknown versions are
refused by name; the upcaster is idempotent (property-based)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.events import Event, EventType, Interaction, Profile
from shared.relationships import AnnotatedEvent, Annotation
from shared.upcasting import CURRENT, upcast_event, version_of
from shared.validation import parse_body, validate
from tests.support import T0, event


class EventV1(BaseModel):
    """The version-1 contract as it was released (shared/events.py before version 2), kept here
    as the reference reading of a version-1 payload. Profile and Interaction did not change."""

    model_config = ConfigDict(coerce_numbers_to_str=True, frozen=True)

    schema_version: Literal[1] = 1
    event_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    type: EventType
    platform: str = Field(default="x", min_length=1, max_length=20)
    account_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    follower: Profile
    interaction: Interaction | None = None
    occurred_at: AwareDatetime

    @model_validator(mode="after")
    def _interaction_matches_type(self) -> EventV1:
        if (self.type is EventType.INTERACTION) != (self.interaction is not None):
            raise ValueError("interaction only (and always) on interaction events")
        return self


ID = st.from_regex(r"\A[A-Za-z0-9_.:-]{1,64}\Z")
# Any text but NUL, which version 1 let in too and no event can carry now (PostgreSQL cannot hold it:
# such an event stalled the churn detector); both versions share Profile, which refuses it.
CHARACTERS = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))  # (as st.text)
TEXT = st.text(CHARACTERS, max_size=40)
COUNT = st.integers(min_value=0, max_value=2**63 - 1)  # (a count beyond int64 is refused now)
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))])
TIMES = st.builds(
    lambda seconds, zone: (T0 + timedelta(seconds=seconds)).astimezone(zone).isoformat(),
    st.integers(min_value=-(10**9), max_value=10**9),
    ZONES,
)
PROFILE = st.fixed_dictionaries(
    {"id": st.one_of(ID, st.integers(min_value=0, max_value=2**64))},  # numeric ids, kept exactly
    optional={
        "screen_name": st.text(CHARACTERS, max_size=50),
        "name": TEXT,
        "description": TEXT,
        "url": st.one_of(st.none(), TEXT),
        "location": TEXT,
        "created_at": TIMES,
        "followers_count": COUNT,
        "friends_count": COUNT,
        "statuses_count": COUNT,
        "listed_count": COUNT,
        "verified": st.booleans(),
        "default_profile_image": st.booleans(),
        "last_status_at": st.one_of(st.none(), TIMES),
        "profile_image_url": TEXT,  # an extra user-object field: ignored in both versions
    },
)


@st.composite
def v1_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """A valid version-1 event as JSON, in every shape version 1 allowed."""
    # (``deleted`` came after version 2: a version-1 producer never wrote one)
    kind = draw(st.sampled_from([t.value for t in EventType if t is not EventType.DELETED]))
    body: dict[str, Any] = {
        "event_id": draw(ID),
        "type": kind,
        "account_id": draw(ID),
        "follower": draw(PROFILE),
        "occurred_at": draw(TIMES),
    }
    if kind == "interaction":
        body["interaction"] = {"kind": draw(st.sampled_from(["mention", "like", "direct_message"])),
                               "text": draw(TEXT)}  # fmt: skip
    if draw(st.booleans()):
        body["platform"] = draw(st.sampled_from(["x", "instagram", "bsky"]))
    version = draw(st.sampled_from([None, 1, 1.0, True]))  # what version 1 itself read as 1
    if version is not None:
        body["schema_version"] = version
    return body


def meaning(model: BaseModel) -> dict[str, Any]:
    """An event's content, without the version that wraps it."""
    return model.model_dump(mode="json", exclude={"schema_version"})


@settings(max_examples=300, deadline=None)
@given(v1_payloads())
def test_every_version_1_event_reads_as_the_same_event_in_version_2(body: dict[str, Any]) -> None:
    v1 = EventV1.model_validate(body)
    v2 = Event.model_validate(body)
    assert v2.schema_version == CURRENT == 2
    assert meaning(v2) == meaning(v1)
    # From the bytes on a topic, too (the consumers' and readers' path).
    assert Event.model_validate_json(json.dumps(body)) == v2


@settings(max_examples=300, deadline=None)
@given(v1_payloads())
def test_upcasting_is_idempotent_and_what_producers_write_reads_back_unchanged(body: dict[str, Any]) -> None:
    once = upcast_event(body)
    assert upcast_event(once) == once
    assert version_of(once) == 2
    written = Event.model_validate(body).model_dump_json()  # what a producer publishes now
    assert json.loads(written)["schema_version"] == 2
    assert upcast_event(json.loads(written)) == json.loads(written)
    assert Event.model_validate_json(written) == Event.model_validate(body)


def test_version_1_without_a_platform_means_x_and_version_2_requires_one() -> None:
    body = event("e1", "follow", "42", T0)
    assert "platform" not in body
    assert "schema_version" not in body
    assert Event.model_validate(body).platform == "x"
    assert Event.model_validate({**body, "schema_version": 1, "platform": "bsky"}).platform == "bsky"
    assert Event.model_validate({**body, "schema_version": 2, "platform": "bsky"}).platform == "bsky"
    with pytest.raises(ValidationError) as caught:
        Event.model_validate({**body, "schema_version": 2})
    assert [e["loc"] for e in caught.value.errors()] == [("platform",)]


@pytest.mark.parametrize("version", [3, 99, 0, -1, None, "2", "v2", 2.5])
def test_an_unknown_version_is_refused_naming_schema_version(version: Any) -> None:
    body = {**event("e1", "follow", "42", T0), "platform": "x", "schema_version": version}
    with pytest.raises(ValidationError) as caught:
        Event.model_validate_json(json.dumps(body))
    first = caught.value.errors()[0]
    assert first["loc"] == ("schema_version",)
    assert f"unknown schema_version {version!r}" in first["msg"]
    assert "reads versions 1 to 2" in first["msg"]


def test_ingest_validation_upcasts_each_shape_of_body() -> None:
    v1 = event("e1", "follow", "1", T0)
    v2 = {**event("e2", "follow", "2", T0), "schema_version": 2, "platform": "bsky"}
    future = {**event("e3", "follow", "3", T0), "schema_version": 3, "platform": "x"}
    for body, ndjson in (
        (json.dumps([v1, v2]).encode(), False),
        (b"\n".join(json.dumps(b).encode() for b in (v1, v2)), True),
    ):
        events, errors = parse_body(body, ndjson)
        assert errors == []
        assert [(e.schema_version, e.platform) for e in events] == [(2, "x"), (2, "bsky")]
    events, errors = validate([v1, future])
    assert [e.event_id for e in events] == ["e1"]
    assert [(e.index, e.field) for e in errors] == [(1, "schema_version")]


def test_a_stored_annotated_event_embedding_a_version_1_event_still_loads() -> None:
    """churn_processed keeps annotated events as jsonb: rows written before version 2 embed v1."""
    note = Annotation(follows=1, unfollows=0, interactions=0, following=True, last_follow_at=T0,
                      last_unfollow_at=None, last_interaction_at=None)  # fmt: skip
    stored = {"schema_version": 1, "event": {**event("e1", "follow", "42", T0), "schema_version": 1},
              "relationship": note.model_dump(mode="json")}  # fmt: skip
    loaded = AnnotatedEvent.model_validate(stored)
    assert loaded.event.schema_version == 2
    assert loaded.event.platform == "x"
    assert json.loads(loaded.model_dump_json())["event"]["schema_version"] == 2


def test_the_occurred_at_of_an_upcast_event_is_the_same_instant() -> None:
    body = event("e1", "follow", "42", datetime(2026, 3, 1, 4, 0, tzinfo=timezone(timedelta(hours=-5))))
    assert Event.model_validate(body).occurred_at == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
