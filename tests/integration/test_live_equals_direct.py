"""The live pipeline decides exactly what the pure code decides on the same events.

The churn detector and the scorer run in process against the real broker and database on a
realistic sample stream; the same events are then folded and scored directly, with no I/O. Every
recorded decision version must match, byte for byte in its JSON form.
"""

from __future__ import annotations

import json

import asyncpg
import pytest

from followback import sample
from services.churn.app import create_app as churn_app
from services.churn.rules import apply
from services.scorer.app import create_app as scorer_app
from services.scorer.app import rules_from
from services.scorer.scoring import Current, next_version
from shared import accounts
from shared.accounts import AccountConfig, VersionedConfig
from shared.decisions import Decision
from shared.relationships import AnnotatedEvent, RelationshipState
from shared.settings import Settings
from tests.support import eventually, publish_events

pytestmark = pytest.mark.integration


def direct(events: list, settings: Settings, brand: VersionedConfig) -> list[str]:  # type: ignore[type-arg]
    states: dict[tuple[str, str], RelationshipState] = {}
    current: dict[tuple[str, str], Current] = {}
    out = []
    rules = rules_from(settings)
    for event in events:
        key = (event.account_id, event.follower.id)
        states[key], note = apply(states.get(key, RelationshipState()), event)
        decision, version = next_version(
            current.get(key), AnnotatedEvent(event=event, relationship=note), rules, brand
        )
        if version is not None:
            current[key] = version
        if decision is not None and version is not None:
            out.append(f"{version.version} {decision.model_dump_json(by_alias=True)}")
    return sorted(out)


async def recorded(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch(
        "SELECT version, decision_id::text, account_id, follower_id, screen_name, class, "
        "score::float8 AS score, reasons::text AS reasons, scorer_version, config_version, event_ids, "
        "occurred_at, revision, event_type, followed_at FROM decisions"
    )
    out = []
    for row in rows:
        body = {k: v for k, v in dict(row).items() if k not in {"version", "reasons", "event_ids"}}

        decision = Decision.model_validate(
            {**body, "reasons": json.loads(row["reasons"]), "event_ids": tuple(row["event_ids"])}
        )
        out.append(f"{row['version']} {decision.model_dump_json(by_alias=True)}")
    return sorted(out)


async def test_live_decisions_equal_direct_scoring_of_the_same_events(
    settings: Settings, db: asyncpg.Connection
) -> None:
    events = sample.generate(followers=300, seed=11)
    config = AccountConfig(topics=["coffee", "music"], vips=[events[0].follower.screen_name])
    version = await accounts.save(db, "brand", config, "test")
    brand = VersionedConfig(account_id="brand", version=version, config=config)
    expected = direct(events, settings, brand)

    async with churn_app(settings).start_lifespan_context(), scorer_app(settings).start_lifespan_context():
        await publish_events(settings, [e.model_dump(mode="json") for e in events])
        live = await eventually(lambda: recorded(db), lambda got: len(got) >= len(expected), timeout=60)

    assert len(expected) > 300
    assert live == expected
