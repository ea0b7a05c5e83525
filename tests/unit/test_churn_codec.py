"""The stored form of a relationship: the detector's hand-written JSON is ``RelationshipState``'s."""

from __future__ import annotations

import json

from services.churn import codec
from services.churn.patterns import ChurnRules
from shared.events import Event
from shared.relationships import RelationshipState
from tests.churn_support import Loop, scripted


def test_the_stored_json_is_the_relationship_state_and_reads_back_the_same() -> None:
    loop = Loop(ChurnRules()).feed(Event.model_validate(e) for e in scripted().events).finish()
    checked = 0
    for follower, rels in loop.rels.items():
        for account, rel in rels.items():
            now = loop.now[(account, follower)]
            stored = json.loads(json.dumps(codec.to_json(rel, now)))  # as jsonb gives it back
            model = codec.to_state(rel, now)
            assert RelationshipState.model_validate(stored) == RelationshipState.model_validate(
                model.model_dump(mode="json")
            )
            assert stored == model.model_dump(mode="json", exclude_defaults=True)
            assert codec.from_json(stored) == rel
            assert codec.to_rel(codec.load(stored)) == rel
            checked += 1
    assert checked == len(loop.states()) > 10


def test_a_new_relationship_is_stored_as_an_empty_object() -> None:
    assert codec.to_json(codec.to_rel(RelationshipState()), codec.to_rel(RelationshipState()).settled) == {}
