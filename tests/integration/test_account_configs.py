"""Per-brand configuration in PostgreSQL: every change a new version, the newest one in force."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from shared import accounts
from shared.accounts import AccountConfig
from shared.settings import Settings

pytestmark = pytest.mark.integration


async def test_each_change_is_a_new_version_and_history_is_kept(db: asyncpg.Connection) -> None:
    first = await accounts.save(db, "brand", AccountConfig(topics=["coffee"]), "ana")
    second = await accounts.save(db, "brand", AccountConfig(topics=["coffee", "tea"]), "rui")
    await accounts.save(db, "other", AccountConfig(vips=["@Someone"]), "ana")

    assert (first, second) == (1, 2)
    current = await accounts.latest(db, ["brand", "other", "unknown"])
    assert set(current) == {"brand", "other"}
    assert current["brand"].version == 2
    assert current["brand"].label == "brand@v2"
    assert current["brand"].config.topics == ["coffee", "tea"]
    assert current["other"].config.vips == ["someone"]
    trail = await accounts.history(db, "brand")
    assert [(version, who) for version, who, _, _ in trail] == [(1, "ana"), (2, "rui")]
    assert trail[0][3].topics == ["coffee"]  # the old version is unchanged


async def test_concurrent_changes_get_distinct_versions(settings: Settings) -> None:
    dsn = settings.postgres.dsn.get_secret_value()

    async def change(n: int) -> int:
        conn = await asyncpg.connect(dsn)
        try:
            return await accounts.save(conn, "brand", AccountConfig(keywords=[f"k{n}"]), "ops")
        finally:
            await conn.close()

    versions = await asyncio.gather(*(change(n) for n in range(8)))
    assert sorted(versions) == list(range(1, 9))
