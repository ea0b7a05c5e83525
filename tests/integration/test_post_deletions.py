"""A follower deletes a post (X's ``tweet_delete_events``): its text leaves PostgreSQL for every brand
it was delivered for, in order or not, and the decisions stay as they were.

Before, ingest accepted the deletions and mapped nothing: the text of a deleted mention stayed in
``churn_processed`` (and from there in the review queue's latest interactions and ``explain``)
forever, against X's terms."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from followback import explain, replay, replay_workers
from followback.eventlog import Window
from services.churn.app import create_app as churn_app
from services.churn.detector import process
from services.churn.patterns import ChurnRules
from services.ingest.app import create_app as ingest_app
from services.ingest.signatures import sign
from services.notifier import profiles
from services.notifier.app import create_app as notifier_app
from services.scorer.app import create_app as scorer_app
from shared.db import create_pool
from shared.events import Event
from shared.settings import IngestSettings, Settings
from tests.support import REAL_PERSON, T0, eventually

pytestmark = pytest.mark.integration

SECRET = "x-consumer-secret"
BRANDS, AUTHOR, POST = ("111", "222"), "1462352436237893632", "1959470000000000001"
TEXT = "@brand a secret opinion I regret"
MS = int(T0.timestamp() * 1000)


def _user() -> dict[str, Any]:
    return {"id_str": AUTHOR, **REAL_PERSON, "created_at": "Thu May 01 00:00:00 +0000 2014"}


def _follow(brand: str, minutes: int) -> dict[str, Any]:
    item = {"type": "follow", "created_timestamp": str(MS + minutes * 60_000),
            "source": _user(), "target": {"id_str": brand, "screen_name": f"brand{brand}"}}  # fmt: skip
    return {"for_user_id": brand, "follow_events": [item]}


def _mention(brand: str, minutes: int = 5) -> dict[str, Any]:
    tweet = {"id_str": POST, "text": TEXT, "timestamp_ms": str(MS + minutes * 60_000),
             "entities": {"user_mentions": [{"id_str": b} for b in BRANDS]}, "user": _user()}  # fmt: skip
    return {"for_user_id": brand, "tweet_create_events": [tweet]}


def _deletion(brand: str, minutes: int = 30, author: str = AUTHOR, post: str = POST) -> dict[str, Any]:
    item = {"status": {"id": post, "user_id": author}, "timestamp_ms": str(MS + minutes * 60_000)}
    return {"for_user_id": brand, "tweet_delete_events": [item]}


@pytest.fixture
async def webhook(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    ingest = settings.model_copy(update={"ingest": IngestSettings(x_consumer_secret=SecretStr(SECRET))})
    app = ingest_app(ingest)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://x") as c,
    ):
        yield c


async def _post(client: httpx.AsyncClient, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    answer = await client.post(
        "/v1/webhooks/x", content=body, headers={"x-twitter-webhooks-signature": sign(SECRET, body)}
    )
    assert (answer.status_code, answer.json()["accepted"]) == (200, 1), answer.text


async def _tables_holding(db: asyncpg.Connection, text: str) -> list[str]:
    """Every table of the schema with a row whose any column holds ``text``."""
    tables = await db.fetch(
        "SELECT quote_ident(table_name) AS t FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    )
    found = []
    for row in tables:
        sql = f"SELECT EXISTS (SELECT 1 FROM {row['t']} x WHERE x::text LIKE $1)"  # noqa: S608
        if await db.fetchval(sql, f"%{text}%"):
            found.append(row["t"])
    return found


async def _decisions(db: asyncpg.Connection) -> list[tuple[Any, ...]]:
    rows = await db.fetch(
        "SELECT decision_id::text, account_id, follower_id, version, class, score::float8, reasons::text, "
        "event_ids FROM decisions ORDER BY decision_id"
    )
    return [tuple(r) for r in rows]


async def test_a_deleted_mention_leaves_every_table_for_every_brand_and_no_decision_changes(
    settings: Settings, db: asyncpg.Connection, webhook: httpx.AsyncClient
) -> None:
    """Through the X webhook, the broker and the live detector, scorer and notifier: a follower of
    two brands mentions both, then deletes the post (X tells one brand first). The text is gone from
    every table, the interactions stay (the review queue still counts them), the decisions are the
    same rows, a replay finds no difference, and ``explain`` shows the erasure."""
    apps = [app(settings).start_lifespan_context() for app in (churn_app, scorer_app, notifier_app)]
    async with apps[0], apps[1], apps[2]:
        for brand in BRANDS:
            await _post(webhook, _follow(brand, 0))
            await _post(webhook, _mention(brand))
        held = await eventually(lambda: _tables_holding(db, TEXT), lambda t: t == ["churn_processed"])
        assert held == ["churn_processed"]  # (the only table that holds an interaction's text)
        assert await eventually(lambda: db.fetchval("SELECT count(*) FROM decisions"), lambda n: n >= 4) >= 4
        queued = await eventually(lambda: db.fetchval("SELECT count(*) FROM review_items"), lambda n: n >= 2)
        assert queued == 2  # (the notifier's tables are filled too)
        await asyncio.sleep(1.0)  # (nothing more to decide)
        decided = await _decisions(db)
        assert {d[1] for d in decided} == set(BRANDS)

        await _post(webhook, _deletion(BRANDS[0]))
        erased = await eventually(
            lambda: db.fetchval("SELECT count(*) FROM post_deletions"), lambda n: n == 1
        )
        assert erased == 1
        assert await _tables_holding(db, TEXT) == []  # both brands' copies, told by one brand
        await _post(webhook, _deletion(BRANDS[1]))  # X's copy for the other brand: nothing more
        await _post(webhook, _mention(BRANDS[1]))  # a re-delivery of the post, after its deletion
        await asyncio.sleep(2.0)

    assert await _tables_holding(db, TEXT) == []
    assert await _tables_holding(db, "secret opinion") == []
    assert await _decisions(db) == decided
    seen = await profiles.interactions(db, [(b, AUTHOR) for b in BRANDS])
    assert [(s.total, [(i.kind, i.text) for i in s.latest]) for s in seen.values()] == [
        (1, [("mention", "")]),
        (1, [("mention", "")]),
    ]

    found = await explain.trail(db, BRANDS[1], AUTHOR)
    [deletion] = found["deletions"]
    assert deletion["deletes"] == f"x:tweet:{BRANDS[0]}:{POST}"
    assert json.loads(deletion["rows_changed"]) == {"churn_processed": 2, "stored_without_text": 0}
    assert deletion["deleted_at"] == T0 + timedelta(minutes=30)
    assert [e["interaction"] for e in found["events"] if e["type"] == "interaction"] == [
        {"kind": "mention", "text": ""}
    ]

    configs = await replay.brand_configs(db)
    report, _ = await asyncio.to_thread(replay_workers.replay_log, settings, Window(), configs, None)
    assert report.differences == []
    assert report.decisions_recorded == len(decided)
    # The deletion is an event, skipped: no record "went to the dead-letter topic".
    assert not [w for w in report.warnings if "not events" in w], report.warnings


def _event(payload: dict[str, Any]) -> Event:
    from services.ingest.webhook import map_payload

    [item] = map_payload(payload).events
    return Event.model_validate(item)


async def _texts(db: asyncpg.Connection) -> dict[str, str]:
    rows = await db.fetch(
        "SELECT event_id, annotated->'event'->'interaction'->>'text' AS text FROM churn_processed "
        "WHERE annotated->'event'->>'type' = 'interaction'"
    )
    return {row["event_id"]: row["text"] for row in rows}


async def _record(db: asyncpg.Connection, post: str = POST) -> dict[str, int]:
    found: dict[str, int] = json.loads(
        await db.fetchval(
            "SELECT rows_changed::text FROM post_deletions WHERE post_key = $1", f"x:tweet:{post}"
        )
    )
    return found


async def test_a_deletion_wins_whatever_the_order_and_is_recorded_once(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """The detector's step on the real database: a deletion read before its post (out of order), in
    the same batch either way round, or delivered again; a deletion naming someone else's post."""
    rules = ChurnRules()
    pool = await create_pool(settings.postgres)  # as the services' app role
    one, two = BRANDS
    try:
        # Deleted before the post arrives (X's retry of the post, an HTTP client's order).
        await process(pool, [_event(_deletion(one))], {}, rules)
        await process(pool, [_event(_mention(one)), _event(_mention(two))], {}, rules)
        assert await _texts(db) == {f"x:tweet:{one}:{POST}": "", f"x:tweet:{two}:{POST}": ""}
        assert await _record(db) == {"churn_processed": 0, "stored_without_text": 2}

        # In one batch, either way round.
        later = str(int(POST) + 1)
        for n, (first, second) in enumerate([("post", "deletion"), ("deletion", "post")]):
            post = str(int(POST) + 1 + n)
            mention = _mention(one)
            mention["tweet_create_events"][0]["id_str"] = post
            batch = {"post": _event(mention), "deletion": _event(_deletion(one, post=post))}
            await process(pool, [batch[first], batch[second]], {}, rules)
            assert (await _texts(db))[f"x:tweet:{one}:{post}"] == ""
        assert await _record(db, later) == {"churn_processed": 0, "stored_without_text": 1}

        # A deletion delivered again, and X's copy of it for the other brand: nothing more.
        await process(pool, [_event(_deletion(one)), _event(_deletion(two))], {}, rules)
        assert await _record(db) == {"churn_processed": 0, "stored_without_text": 2}
        assert await db.fetchval("SELECT count(*) FROM post_deletions") == 3

        # Someone else cannot delete the author's post.
        other = str(int(POST) + 9)
        mention = _mention(one)
        mention["tweet_create_events"][0]["id_str"] = other
        await process(pool, [_event(mention)], {}, rules)
        await process(pool, [_event(_deletion(one, author="999", post=other))], {}, rules)
        assert (await _texts(db))[f"x:tweet:{one}:{other}"] == TEXT
        # The author can; a deletion of a post processed before erases it (and counts it).
        await process(pool, [_event(_deletion(one, post=other))], {}, rules)
        assert (await _texts(db))[f"x:tweet:{one}:{other}"] == ""
        assert json.loads(
            await db.fetchval(
                "SELECT rows_changed::text FROM post_deletions WHERE follower_id = $1 AND post_key = $2",
                AUTHOR, f"x:tweet:{other}",
            )
        ) == {"churn_processed": 1, "stored_without_text": 0}  # fmt: skip
    finally:
        await pool.close()
