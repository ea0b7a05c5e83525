"""The churn detector's batch step: fold events into durable relationship state, exactly once.

State and the processed-event record are written in one transaction, so an event delivered again
(after a crash before the offset commit) is recognised and its stored annotation re-published
instead of being counted twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.churn import store
from services.churn.rules import ChurnRules, apply
from shared.events import Event
from shared.relationships import AnnotatedEvent, ChurnAlert, RelationshipState


def alerts_for(annotated: AnnotatedEvent) -> list[ChurnAlert]:
    event, rel = annotated.event, annotated.relationship
    return [
        ChurnAlert(
            event_id=event.event_id,
            account_id=event.account_id,
            follower_id=event.follower.id,
            pattern=pattern,
            occurred_at=event.occurred_at,
            dwell_seconds=rel.dwell_seconds,
            cycles_in_horizon=rel.cycles_in_horizon,
        )
        for pattern in rel.new_patterns
    ]


async def process(
    pool: asyncpg.Pool, events: Sequence[Event], rules: ChurnRules
) -> tuple[list[AnnotatedEvent], list[ChurnAlert]]:
    """Annotate a batch; returns what to publish (re-deliveries included, alerts only when new)."""
    if not events:
        return [], []
    async with pool.acquire() as conn, conn.transaction():
        done = await store.processed(conn, [e.event_id for e in events])
        seen: set[str] = set(done)
        fresh = []
        for event in events:
            if event.event_id not in seen:
                seen.add(event.event_id)
                fresh.append(event)
        keys = {(e.account_id, e.follower.id) for e in fresh}
        states = await store.load(conn, keys)
        annotated = {event_id: AnnotatedEvent.model_validate(body) for event_id, body in done.items()}
        new: list[AnnotatedEvent] = []
        for event in fresh:
            key = (event.account_id, event.follower.id)
            states[key], annotation = apply(states.get(key, RelationshipState()), event, rules)
            item = AnnotatedEvent(event=event, relationship=annotation)
            annotated[event.event_id] = item
            new.append(item)
        changed = {key: states[key] for key in keys}
        await store.save(conn, changed, new)
    ordered = [annotated[e.event_id] for e in events if e.event_id in annotated]
    unique = list({a.event.event_id: a for a in ordered}.values())
    return unique, [alert for item in new for alert in alerts_for(item)]
