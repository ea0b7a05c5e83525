"""The churn detector's batch step: fold a batch of events into durable state, exactly once.

In one transaction: take the followers' locks, recognise events already processed, load every
relationship of the batch's followers and their partitions' stream time, fold each new event in the
batch's order (the partition's order), and write the states, the processed events (with their
annotations and what they emitted), revised annotations and the stream time. The per-event path does
no I/O; a batch costs a fixed handful of round trips.

An event delivered again (after a crash before the offset commit, or a repeated ``event_id``) is
recognised and everything it published is published again, never folded twice. A ``deleted`` event
is not folded: it erases its post's text (:mod:`services.churn.deletions`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import asyncpg

from services.churn import codec, deletions, outputs, store
from services.churn.patterns import ChurnRules
from services.churn.rules import fold_event, moves_clock
from services.churn.timeline import Outcome, Rel, next_due
from shared.events import Event
from shared.relationships import AnnotatedEvent, Annotation

# Events whose record had no key (never so from ingest or the notifier) share one clock.
UNKEYED = -1


class _Batch:
    """The batch's working set: followers' relationships, stream times, and what to write."""

    def __init__(self, states: dict[str, dict[str, Rel]], clocks: dict[int, datetime]) -> None:
        self.rels = states
        self.clocks = clocks
        self.partition_of: dict[str, int] = {}
        self.outcomes: dict[str, Outcome] = {}  # follower -> the last fold's outcome
        self.new: dict[str, AnnotatedEvent] = {}  # event id -> latest annotated form (new this batch)
        self.emitted: dict[str, dict[str, object] | None] = {}
        self.earlier: dict[str, Annotation] = {}  # revisions of events from earlier batches
        self.retained: list[AnnotatedEvent] = []
        self.out = outputs.Published()

    def watermark(self, event: Event, partition: int, rules: ChurnRules) -> datetime | None:
        if moves_clock(event):
            known = self.clocks.get(partition)
            self.clocks[partition] = event.occurred_at if known is None else max(known, event.occurred_at)
        clock = self.clocks.get(partition)
        return None if clock is None else clock - rules.grace

    def fold(self, event: Event, partition: int, rules: ChurnRules) -> None:
        follower = event.follower.id
        watermark = self.watermark(event, partition, rules)
        previous = self.outcomes.get(follower)  # (its views are of the relationships it left)
        views = previous.views if previous is not None else None
        outcome = fold_event(self.rels.get(follower, {}), event, watermark, rules, views=views)
        self.rels[follower], self.outcomes[follower] = outcome.follower, outcome
        self.partition_of[follower] = partition
        assert outcome.annotation is not None
        annotated = AnnotatedEvent(event=event, relationship=outcome.annotation)
        self.new[event.event_id] = annotated
        self.out.fresh.append(annotated)
        self.out.late += outcome.late
        for event_id, note in outcome.revised:
            if event_id in self.new:
                self.new[event_id] = self.new[event_id].model_copy(update={"relationship": note})
            else:
                self.earlier[event_id] = note
        retained = [outputs.retained_event(follower, n) for n in outcome.retained]
        self.retained.extend(retained)
        self.out.alerts.extend(outcome.alerts)
        others = [event_id for event_id, _ in outcome.revised] + [r.event.event_id for r in retained]
        self.emitted[event.event_id] = outputs.emitted(outcome.alerts, others)

    def states(self, rules: ChurnRules) -> list[store.Saved]:
        saved = []
        for follower, outcome in self.outcomes.items():
            for account, rel in outcome.follower.items():
                state = codec.to_json(rel, outcome.views[account].now)
                due = next_due(rel, rules)
                saved.append(store.Saved(account, follower, state, self.partition_of[follower], due))
        return saved

    def records(self) -> list[store.Record]:
        return [outputs.record(item, self.emitted.get(event_id)) for event_id, item in self.new.items()]


async def process(
    pool: asyncpg.Pool, events: Sequence[Event], partitions: Mapping[str, int], rules: ChurnRules
) -> outputs.Published:
    """Annotate a batch; ``partitions`` maps each follower id to its partition of the events topic.

    Returns what to publish: the annotations (new ones, revised ones, ``retained`` events, and
    everything redelivered events published before) and the alerts.
    """
    if not events:
        return outputs.Published()
    folding, deleted = deletions.split(events)
    async with pool.acquire() as conn, conn.transaction():
        await store.lock_followers(conn, (e.follower.id for e in events))
        # First the deleted posts' texts are erased, so a revision below reads a copy without it,
        # and a copy of one among the new events is folded without it.
        await deletions.erase(conn, deleted)
        done = await store.processed(conn, [e.event_id for e in folding])
        seen: set[str] = set(done)
        fresh = []
        for event in folding:
            if event.event_id not in seen:
                seen.add(event.event_id)
                fresh.append(event)
        fresh = await deletions.withheld(conn, fresh)
        states = await store.followers(conn, {e.follower.id for e in fresh})
        batch = _Batch(
            states, await store.clocks(conn, {partitions.get(e.follower.id, UNKEYED) for e in fresh})
        )
        for event in fresh:
            batch.fold(event, partitions.get(event.follower.id, UNKEYED), rules)
        revised = await _revised(conn, batch.earlier)
        await store.save(conn, batch.states(rules))
        await store.record(conn, batch.records())
        await store.record(conn, [outputs.record(r) for r in batch.retained], "churn_retained")
        await store.revise(conn, {a.event.event_id: a.model_dump_json().encode() for a in revised})
        await store.save_clocks(conn, batch.clocks)
        again = await outputs.again(conn, done.values())
    out = batch.out
    out.annotated = [*again.annotated, *batch.new.values(), *batch.retained, *revised]
    out.matched = list(out.alerts)
    out.alerts = [*again.alerts, *out.alerts]
    out.duplicates = len(folding) - len(fresh)
    return out


async def _revised(conn: asyncpg.Connection, notes: dict[str, Annotation]) -> list[AnnotatedEvent]:
    """Earlier batches' events with their new annotations."""
    if not notes:
        return []
    rows = await store.processed(conn, list(notes))
    return [
        AnnotatedEvent.model_validate(rows[event_id]["annotated"]).model_copy(update={"relationship": note})
        for event_id, note in notes.items()
        if event_id in rows
    ]
