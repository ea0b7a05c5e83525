"""A late event and a newer settled event of its relationship in one batch of the churn detector
(a backfill, or a detector catching up): the late one's annotation is as of the newest settled
time, so it already counts the newer event. Published in the order of the events' own times, the
scorer decided the late event first and then the newer one on top, with its older annotation: the
relationship's latest decision lost the late event (a late like missing from the engagement)."""

from __future__ import annotations

from datetime import timedelta

from services.churn.outputs import Published
from services.churn.rules import ChurnRules, InMemory
from services.scorer.scoring import Current, next_version
from shared.events import Event, event_order
from shared.relationships import AnnotatedEvent
from tests.support import event

RULES = ChurnRules()


def test_a_late_event_published_in_one_batch_with_a_newer_settled_one_stays_in_the_latest_decision() -> None:
    follow = Event.model_validate(event("f", "follow", "9", timedelta(0)))
    newer = Event.model_validate(event("n-like", "interaction", "9", timedelta(days=4), interaction="like"))
    clock = Event.model_validate(event("other", "follow", "8", timedelta(days=5)))
    late = Event.model_validate(event("l-like", "interaction", "9", timedelta(hours=2), interaction="like"))
    churn = InMemory(RULES)
    first = [AnnotatedEvent(event=follow, relationship=churn.fold(follow))]
    batch = Published()
    for e in (newer, clock, late):  # one batch: the late like arrives after the clock passed the newer
        outcome = churn.outcome(e)
        assert outcome.annotation is not None
        assert not outcome.revised
        batch.annotated.append(AnnotatedEvent(event=e, relationship=outcome.annotation))
    [annotated_late] = [a for a in batch.annotated if a.event.event_id == "l-like"]
    assert annotated_late.relationship.late
    assert annotated_late.relationship.interactions == 2

    current: Current | None = None
    for annotated in [*first, *batch.in_event_time()]:
        if annotated.event.follower.id == "9":
            _, current = next_version(current, annotated)

    replayed: Current | None = None
    in_event_time = InMemory(RULES)
    for e in sorted([follow, newer, clock, late], key=event_order):
        annotation = in_event_time.fold(e)
        if e.follower.id == "9":
            _, replayed = next_version(replayed, AnnotatedEvent(event=e, relationship=annotation))
    assert current is not None
    assert replayed is not None
    assert (current.decision_class, current.score) == (replayed.decision_class, replayed.score)
