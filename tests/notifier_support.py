"""Decisions as the scorer records and publishes them, for the notifier's tests."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from shared.decisions import Decision, Reason, decision_id_for
from shared.events import Event
from shared.settings import Settings
from tests.support import REAL_PERSON, T0, publish

REASONS = (
    Reason(signal="engagement", value=3, contribution=35.0, detail="mentions and replies"),
    Reason(signal="topic_match", value="coffee", contribution=20.0),
    Reason(signal="active", value=True, contribution=10.0),
    Reason(signal="account_age", value=11, contribution=5.0),
)


def decision(
    follower: str,
    cls: str,
    score: float,
    version: int = 1,
    at: datetime = T0,
    account: str = "brand",
    followed: datetime | None = None,
) -> Decision:
    """``followed``: the time of the follow it is about (None: as a scorer before follow times)."""
    return Decision.model_validate(
        {
            "decision_id": decision_id_for(f"{account}:{follower}:{version}"),
            "account_id": account,
            "follower_id": follower,
            "screen_name": f"user{follower}",
            "class": cls,
            "score": score,
            "reasons": REASONS,
            "scorer_version": "test",
            "config_version": "test",
            "event_ids": (f"ev-{account}-{follower}-{version}",),
            "occurred_at": at,
            "followed_at": followed,
        }
    )


async def record(db: asyncpg.Connection, decisions: list[tuple[Decision, int]], **profile: Any) -> None:
    """Store decisions (with versions) and their events the way the scorer and churn detector do."""
    for d, version in decisions:
        await db.execute(
            """
            INSERT INTO decisions (decision_id, account_id, follower_id, version, screen_name, class, score,
                reasons, scorer_version, config_version, event_ids, occurred_at, followed_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb, $9, $10, $11, $12, $13)
            """,
            d.decision_id, d.account_id, d.follower_id, version, d.screen_name, d.decision_class.value,
            d.score, json.dumps([r.model_dump(mode="json") for r in d.reasons]), d.scorer_version,
            d.config_version, list(d.event_ids), d.occurred_at, d.followed_at,
        )  # fmt: skip
        event = Event.model_validate(
            {
                "event_id": d.event_ids[0],
                "type": "follow",
                "account_id": d.account_id,
                "follower": {**REAL_PERSON, **profile, "id": d.follower_id, "screen_name": d.screen_name},
                "occurred_at": d.occurred_at,
            }
        )
        await db.execute(
            "INSERT INTO churn_processed (event_id, account_id, follower_id, occurred_at, annotated) "
            "VALUES ($1, $2, $3, $4, $5::text::jsonb)",
            event.event_id, d.account_id, d.follower_id, d.occurred_at,
            json.dumps({"event": event.model_dump(mode="json")}),
        )  # fmt: skip


async def send(settings: Settings, db: asyncpg.Connection, decisions: list[tuple[Decision, int]]) -> None:
    """Record and publish decisions to the decisions topic, all on one partition, in order."""
    await record(db, decisions)
    await publish(
        settings,
        settings.topic("decisions"),
        [d.model_dump_json(by_alias=True).encode() for d, _ in decisions],
        key=b"one-partition",
    )


async def configure(db: asyncpg.Connection, account: str, **config: Any) -> None:
    from shared import accounts
    from shared.accounts import AccountConfig

    await accounts.save(db, account, AccountConfig(**config), "test")


async def interaction(
    db: asyncpg.Connection, follower: str, kind: str, text: str, at: datetime, account: str = "brand"
) -> None:
    """An interaction the churn detector processed (what the queue lists under the follower)."""
    event = Event.model_validate(
        {
            "event_id": f"ix-{account}-{follower}-{at.timestamp():.0f}",
            "type": "interaction",
            "account_id": account,
            "follower": {**REAL_PERSON, "id": follower},
            "interaction": {"kind": kind, "text": text},
            "occurred_at": at,
        }
    )
    await db.execute(
        "INSERT INTO churn_processed (event_id, account_id, follower_id, occurred_at, annotated) "
        "VALUES ($1, $2, $3, $4, $5::text::jsonb)",
        event.event_id, account, follower, at, json.dumps({"event": event.model_dump(mode="json")}),
    )  # fmt: skip


async def intake_now(pool: asyncpg.Pool, settings: Settings, decisions: list[Decision]) -> None:
    """What the notifier does with decisions it consumed (queue, pushes, outbox), without Kafka."""
    from services.notifier import intake

    async with pool.acquire() as conn, conn.transaction():
        await intake.record(conn, decisions, intake.IntakeSettings(settings.notifier, "http://queue.example"))
