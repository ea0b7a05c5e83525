"""Values that parse but that a later stage cannot hold are refused by the contract models, by field:
each of these stalled a consumer on every delivery before (helper-40's sweep; now such a record is
also dead-lettered alone, see ``shared.consuming.isolating``, but it is refused where it enters)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from shared.decisions import Decision, decision_id_for
from shared.events import Event
from shared.relationships import AnnotatedEvent
from tests.support import T0, event


def _decision(**over: Any) -> dict[str, Any]:
    body = {
        "decision_id": decision_id_for("e1"),
        "account_id": "brand",
        "follower_id": "42",
        "class": "high_value",
        "score": 80,
        "reasons": [],
        "scorer_version": "test",
        "config_version": "test",
        "event_ids": ["e1"],
        "occurred_at": T0.isoformat(),
    }
    return {**body, **over}


def _annotated(**over: Any) -> dict[str, Any]:
    note = {"follows": 1, "unfollows": 0, "interactions": 2, "following": True, "last_follow_at": None,
            "last_unfollow_at": None, "last_interaction_at": None}  # fmt: skip
    return {"event": event("e1", "follow", "42", T0), "relationship": {**note, **over}}


def _follower(**over: Any) -> dict[str, Any]:
    body = event("e1", "follow", "42", T0)
    body["follower"].update(over)
    return body


CASES: list[tuple[type[BaseModel], dict[str, Any], str]] = [
    (Event, _follower(followers_count=10**400), "follower.followers_count"),  # the scorer's log10
    (Event, _follower(friends_count=2**63), "follower.friends_count"),
    (AnnotatedEvent, _annotated(interactions=-1), "relationship.interactions"),  # the scorer's log2
    (AnnotatedEvent, _annotated(revision=2**31), "relationship.revision"),  # an int column
    (Decision, _decision(decision_id="not-a-uuid"), "decision_id"),  # the notifier's uuid columns
    (Decision, _decision(occurred_at="0001-01-01T00:30:00+01:00"), "occurred_at"),  # year 0 in UTC
    (Decision, _decision(revision=2**31), "revision"),
    (Decision, _decision(follower_id="x" * 20_000), "follower_id"),  # the queue's index (helper-41)
    (Decision, _decision(screen_name="a\x00b"), "screen_name"),  # PostgreSQL's text
    (AnnotatedEvent, _annotated(churn_rules="ab\x00"), "relationship.churn_rules"),
]


@pytest.mark.parametrize(("model", "body", "field"), CASES, ids=[c[2] for c in CASES])
def test_a_value_no_later_stage_can_hold_is_refused_by_its_field(
    model: type[BaseModel], body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate_json(json.dumps(body))
    assert [".".join(map(str, e["loc"])) for e in refused.value.errors()] == [field]


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (Event, _follower(followers_count=2**63 - 1, friends_count=0)),
        (AnnotatedEvent, _annotated(interactions=0, revision=2**31 - 1)),
        (Decision, _decision(decision_id=decision_id_for("e1").upper(), revision=2**31 - 1)),
    ],
)
def test_the_largest_values_the_stages_hold_pass(model: type[BaseModel], body: dict[str, Any]) -> None:
    model.model_validate_json(json.dumps(body))
