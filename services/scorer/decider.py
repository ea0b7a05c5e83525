"""The scorer's batch step: annotated events in, recorded (and re-publishable) decisions out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.scorer import store
from services.scorer.scoring import ScoringRules, config_label, next_version
from shared import accounts
from shared.decisions import Decision, Reason, decision_id_for
from shared.relationships import AnnotatedEvent


@dataclass(frozen=True)
class Outcome:
    """What a batch led to: every decision to publish, and which of them were newly recorded."""

    publish: list[Decision]
    recorded: list[Decision]


def no_op_key(annotated: AnnotatedEvent) -> store.NoOp:
    """How an annotated event that decided nothing is remembered: by its event id, and each revision
    of its annotation apart (a revised annotation is a new question; redelivered, an old answer)."""
    return (annotated.event.event_id, annotated.relationship.revision)


async def process(pool: asyncpg.Pool, batch: Sequence[AnnotatedEvent], rules: ScoringRules) -> Outcome:
    """Record the batch's decisions in one transaction.

    Each (event, annotation revision) is a question asked once: a decision already recorded for it
    (a redelivery after a crash) is published again so it reaches the notifier, which deduplicates
    by decision id; one that decided nothing stays a no-op. A revised annotation (the detector's,
    once an earlier event arrived after it) is a new question: the like of a follower may decide
    what a stranger's did not, and the follow of someone who liked a minute before gains the like.
    ``next_version`` keeps an annotation older than the event the latest version stands for (the
    one it was decided on, or a newer one that scored the same: ``store.record_positions``) from
    recording a version (the newer events' revisions carry what it changes), so within the grace period a
    relationship's latest decision is the one event time gives, whatever the arrival order
    (``tests/unit/test_decisions_in_event_time.py``); its intermediate versions may rest on other
    events than ``followback replay``'s, which decides in event time.
    """
    if not batch:
        return Outcome([], [])
    async with pool.acquire() as conn, conn.transaction():
        # Before the erasures are read: ``followback forget`` takes a SHARE lock on decisions, so it
        # waits for this batch to commit (and then erases what it recorded), and a batch that starts
        # during an erasure reads it once committed. (Scorers do not block each other.)
        await conn.execute("LOCK TABLE decisions IN ROW EXCLUSIVE MODE")
        # A revised annotation is a new question, with an id of its own; redelivered, an old one.
        ids = [decision_id_for(a.event.event_id, a.relationship.revision) for a in batch]
        already = await store.recorded(conn, ids)
        # Scored before without a new version: scored again now, after a later version of the same
        # relationship, it would record a stale decision on top. It stays a no-op.
        no_op = await store.unchanged(conn, [no_op_key(a) for a in batch])
        new_no_op: list[tuple[str, int, str, str, str]] = []
        keys = {(a.event.account_id, a.event.follower.id) for a in batch}
        latest = await store.current(conn, keys)
        brands = await accounts.latest(conn, sorted({account for account, _ in keys}))
        # Of a follower erased while these were on their way: decided, but recorded without the profile.
        erased = await store.erased(
            conn, [(a.event.event_id, a.event.follower.id) for a in batch if a.decides]
        )
        out: dict[str, Decision] = {}
        new: list[tuple[Decision, int]] = []
        moved: set[store.Key] = set()  # relationships whose latest version now stands for a newer event
        for decision_id, annotated in zip(ids, batch, strict=True):
            if decision_id in already:
                out[decision_id] = already[decision_id]
                continue
            if decision_id in out or no_op_key(annotated) in no_op:
                continue
            key = (annotated.event.account_id, annotated.event.follower.id)
            decision, version = next_version(latest.get(key), annotated, rules, brands.get(key[0]))
            if decision is None:
                if version is not None and version != latest.get(key):  # now stands for a newer event
                    latest[key] = version
                    moved.add(key)
                no_op.add(no_op_key(annotated))
                if annotated.decides:  # the others (retained notices, follow-backs) never decide
                    # With the configuration it was scored under, for replay (``followback replay``).
                    label = config_label(rules, brands.get(key[0]), annotated.relationship.churn_rules)
                    new_no_op.append((*no_op_key(annotated), *key, label))
                continue
            assert version is not None
            if annotated.event.event_id in erased:
                decision = without_profile(decision)
            latest[key] = version
            new.append((decision, version.version))
            out[decision_id] = decision
        await store.insert(conn, new)
        await store.record_unchanged(conn, new_no_op)
        await store.record_positions(conn, {key: latest[key] for key in moved})
    return Outcome(publish=list(out.values()), recorded=[decision for decision, _ in new])


def without_profile(decision: Decision) -> Decision:
    """The decision as ``followback forget`` leaves one: no handle, no reason values (some quote the
    profile); its class, score, signals and points as they were."""
    reasons = tuple(Reason(signal=r.signal, value=None, contribution=r.contribution, detail=r.detail)
                    for r in decision.reasons)  # fmt: skip
    return decision.model_copy(update={"screen_name": "", "reasons": reasons})
