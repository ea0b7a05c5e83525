"""The review queue's read model on a real database: several versions of one follower in a batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.notifier import review_items
from shared.decisions import Decision, DecisionClass, Reason, decision_id_for

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HV, WF, WD = DecisionClass.HIGH_VALUE, DecisionClass.WORTH_FOLLOWING, DecisionClass.WITHDRAWN


def decision(follower: str, version: int, cls: DecisionClass, score: float) -> Decision:
    return Decision(
        decision_id=decision_id_for(f"{follower}-{version}"),
        account_id="brand",
        follower_id=follower,
        screen_name=f"{follower}_v{version}",
        decision_class=cls,
        score=score,
        reasons=(Reason(signal="engagement", value=version, contribution=score - 50, detail="d"),),
        scorer_version="test",
        config_version="1/default",
        event_ids=(f"{follower}-{version}",),
        occurred_at=T0 + timedelta(minutes=version),
    )


async def item(conn: asyncpg.Connection, follower: str) -> tuple[int, str, float, str, list[object]] | None:
    row = await conn.fetchrow(
        "SELECT version, class, score::float8 AS score, screen_name, reasons FROM review_items "
        "WHERE account_id = 'brand' AND follower_id = $1",
        follower,
    )
    return None if row is None else tuple(row)  # type: ignore[return-value]


async def test_the_newest_version_in_a_batch_wins_whatever_the_order(conn: asyncpg.Connection) -> None:
    states = await review_items.apply(
        conn,
        [
            (decision("a", 1, HV, 80), 1), (decision("a", 2, WD, 40), 2),  # enters, then leaves
            (decision("b", 2, HV, 75), 2), (decision("b", 1, WF, 60), 1),  # newer first
            (decision("c", 1, WF, 55), 1), (decision("c", 2, HV, 90), 2),  # moves up
            (decision("d", 1, WD, 10), 1),  # never reviewable: no item
        ],
        {},
    )  # fmt: skip
    assert await item(conn, "a") == (2, "withdrawn", 40.0, "a_v2", [
        {"signal": "engagement", "value": 2, "contribution": -10.0, "detail": "d"}
    ])  # fmt: skip
    assert (await item(conn, "b"))[:3] == (2, "high_value", 75.0)  # type: ignore[index]
    assert (await item(conn, "c"))[:3] == (2, "high_value", 90.0)  # type: ignore[index]
    assert await item(conn, "d") is None
    assert states == {("brand", f): "open" for f in "abc"}


async def test_a_redelivered_older_version_changes_nothing(conn: asyncpg.Connection) -> None:
    await review_items.apply(conn, [(decision("a", 3, DecisionClass.HIGH_VALUE, 85), 3)], {})
    await review_items.apply(
        conn,
        [
            (decision("a", 1, DecisionClass.WORTH_FOLLOWING, 60), 1),
            (decision("a", 2, DecisionClass.IGNORE, 30), 2),
        ],
        {},
    )
    assert (await item(conn, "a"))[:4] == (3, "high_value", 85.0, "a_v3")  # type: ignore[index]


async def test_the_newest_profile_snapshot_of_a_batch_is_kept(conn: asyncpg.Connection) -> None:
    """A newer version without a profile snapshot (its event's row gone) keeps the one an older
    version of the same batch brought."""
    v2, v3 = decision("a", 2, HV, 80), decision("a", 3, HV, 85)
    profile = {"id": "a", "name": "Ana Costa", "description": "Coffee & cats", "followers_count": 10**19}
    await review_items.apply(conn, [(v3, 3), (v2, 2)], {v2.decision_id: profile})
    row = await conn.fetchrow("SELECT version, profile FROM review_items WHERE follower_id = 'a'")
    assert (row["version"], row["profile"]) == (3, profile)
