"""A record that parses but that a consumer's effect fails on every time is found, dead-lettered
alone with the error, and the rest of its batch is committed (``shared.consuming.isolating``), on
the real broker and database."""

from __future__ import annotations

import json

import asyncpg
import pytest

from services.notifier.app import create_app
from shared.decisions import Decision
from shared.settings import Settings
from tests.notifier_support import configure, decision, record, send
from tests.support import eventually, publish, read_topic

pytestmark = pytest.mark.integration


async def _items(db: asyncpg.Connection) -> list[str]:
    return [r["follower_id"] for r in await db.fetch("SELECT follower_id FROM review_items ORDER BY 1")]


async def test_a_decision_the_notifier_fails_on_is_dead_lettered_and_the_others_of_its_batch_recorded(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """Decision 2 on the topic carries a reason whose detail holds NUL (its recorded row does not:
    another producer wrote the record; the model leaves reasons' texts alone, on the scorer's hot
    path): PostgreSQL refuses it, on every delivery. Before, the notifier stalled on the batch, and
    1 and 3 never reached the queue (helper-41 found this one, beside others the models refuse
    now)."""
    first, odd, last = (decision(f, "high_value", score) for f, score in (("1", 80), ("2", 81), ("3", 82)))
    await record(db, [(first, 1), (odd, 1), (last, 1)])
    body = json.loads(odd.model_dump_json(by_alias=True))
    body["reasons"] = [{"signal": "engagement", "value": 3, "contribution": 20, "detail": "a\x00b"}]
    bodies = [first.model_dump_json(by_alias=True).encode(), json.dumps(body).encode()]
    bodies.append(last.model_dump_json(by_alias=True).encode())
    await publish(settings, settings.topic("decisions"), bodies, key=b"one-partition")  # one batch

    async with create_app(settings).start_lifespan_context():
        [dead] = await read_topic(settings, settings.topic("dead_letter"), 1)
        items = await eventually(lambda: _items(db), lambda found: len(found) >= 2)

    assert items == ["1", "3"]
    assert Decision.model_validate_json(dead.value).follower_id == "2"
    headers = dict(dead.headers)
    reason = headers["error"].decode()
    assert reason.startswith("the notifier failed on it alone: UntranslatableCharacterError: ")
    assert "unsupported Unicode escape sequence" in reason
    assert headers["topic"].decode() == settings.topic("decisions")
    assert int(headers["offset"]) == 1  # the second record of the three


async def test_a_brand_whose_daily_budget_is_beyond_what_postgresql_counts_gets_its_pushes(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A budget of 2**63 (the CLI took it) failed the notifier's LIMIT for every high-value follower
    of the brand; it is no limit now (and stays readable: not refused when read back)."""
    await configure(db, "brand", daily_push_budget=2**63)
    await send(settings, db, [(decision("1", "high_value", 80), 1), (decision("2", "high_value", 90), 1)])
    async with create_app(settings).start_lifespan_context():
        scheduled = await eventually(lambda: _scheduled(db), lambda found: len(found) >= 2)
    assert scheduled == ["1", "2"]


async def _scheduled(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch("SELECT follower_id FROM notifications WHERE push = 'scheduled' ORDER BY 1")
    return [r["follower_id"] for r in rows]
