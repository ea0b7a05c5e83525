"""What the detector publishes besides an event's own annotation, and how it is published again.

A batch's effect is committed before anything is published, so a crash in between is repaired by
redelivery: the processed row of each event remembers what processing it emitted (alerts, revised
annotations, ``retained`` events), and a redelivered event re-publishes all of it. Consumers keep
the latest version per id, so a repeat is harmless.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.churn import store
from services.churn.timeline import Notice
from shared.events import DEFAULT_PLATFORM, Event, EventType, Order, Profile, after_all, event_order
from shared.relationships import AnnotatedEvent, ChurnAlert

_RETAINED_IDS = uuid.UUID("5b0e3a52-7d0c-4a4e-9d3c-2f1e8f6c0b7a")


@dataclass
class Published:
    """Everything one batch (or one sweep) publishes, and what it counted."""

    annotated: list[AnnotatedEvent] = field(default_factory=list)
    alerts: list[ChurnAlert] = field(default_factory=list)
    late: int = 0
    duplicates: int = 0
    fresh: list[AnnotatedEvent] = field(default_factory=list)  # first annotations of new events
    matched: list[ChurnAlert] = field(default_factory=list)  # alerts this batch raised (not repeats)

    def in_event_time(self) -> list[AnnotatedEvent]:
        """The annotated events in event-time order (the scorer reads them in the order given), each
        at the place its annotation describes the relationship as of: a late event's is the end of
        its ``as_of`` instant, after the settled events it already counts. (At its own time, it went
        before a newer settled event of the same batch, which the scorer then decided on top with an
        annotation that lacks it.)"""
        return sorted(self.annotated, key=_place)


def _place(annotated: AnnotatedEvent) -> tuple[Order, Order]:
    as_of, own = annotated.relationship.as_of, event_order(annotated.event)
    return (own if as_of is None else after_all(as_of), own)


def retained_event(follower_id: str, notice: Notice) -> AnnotatedEvent:
    """The ``retained`` event of a follow, with an id derived from the follow (emitted once)."""
    name = f"{notice.account_id}/{follower_id}/{notice.follow_at.isoformat()}"
    event = Event(
        event_id=f"retained:{uuid.uuid5(_RETAINED_IDS, name).hex}",
        type=EventType.RETAINED,
        # A relationship is keyed by the brand's account id alone (one network's account), and its
        # state keeps no platform; every platform the pipeline reads today is x.
        platform=DEFAULT_PLATFORM,
        account_id=notice.account_id,
        follower=Profile(id=follower_id),
        occurred_at=notice.due,
    )
    return AnnotatedEvent(event=event, relationship=notice.annotation)


def record(item: AnnotatedEvent, emitted: dict[str, Any] | None = None) -> store.Record:
    """The stored row of an annotated event (``emitted``: what processing it published besides).
    The event goes in as pydantic's JSON, which the jsonb codec passes through: half the CPU of a
    dict that is then encoded (a row per event)."""
    event = item.event
    return store.Record(
        event.event_id,
        event.account_id,
        event.follower.id,
        event.occurred_at,
        item.model_dump_json().encode(),
        emitted,
    )


def emitted(alerts: Sequence[ChurnAlert], event_ids: Iterable[str]) -> dict[str, Any] | None:
    """The stored record of what processing one event emitted besides its annotation."""
    ids = list(event_ids)
    if not alerts and not ids:
        return None
    return {"alerts": [a.model_dump(mode="json") for a in alerts], "events": ids}


async def again(conn: asyncpg.Connection, rows: Iterable[asyncpg.Record]) -> Published:
    """What redelivered events published the first time: their annotations (as stored now) and
    everything their processing emitted."""
    out = Published()
    others: list[str] = []
    for row in rows:
        out.annotated.append(AnnotatedEvent.model_validate(row["annotated"]))
        if row["emitted"]:
            out.alerts.extend(ChurnAlert.model_validate(a) for a in row["emitted"]["alerts"])
            others.extend(row["emitted"]["events"])
    if others:
        found = await store.annotated(conn, sorted(set(others)))
        out.annotated.extend(AnnotatedEvent.model_validate(body) for body in found)
    return out
