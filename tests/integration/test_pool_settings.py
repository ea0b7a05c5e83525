"""The services' pool on a real server: PostgreSQL's JIT is off for their statements (a compile
costs tens of milliseconds whenever an estimate crosses jit_above_cost), and stays as configured
after the pool's reset on release."""

from __future__ import annotations

import json

import pytest

from shared.db import create_pool
from shared.settings import Settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("enabled", "shown"), [(False, "off"), (True, "on")])
async def test_jit_follows_the_setting_across_releases(settings: Settings, enabled: bool, shown: str) -> None:
    pool = await create_pool(
        settings.postgres.model_copy(update={"min_pool": 1, "max_pool": 1, "jit": enabled})
    )
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW jit") == shown
            await conn.execute(f"SET jit = {'on' if shown == 'off' else 'off'}")
        async with pool.acquire() as conn:  # the same connection, reset on release
            assert await conn.fetchval("SHOW jit") == shown
    finally:
        await pool.close()


@pytest.mark.parametrize(("enabled", "compiled"), [(False, False), (True, True)])
async def test_a_statement_the_planner_thinks_costly_is_compiled_only_with_jit_on(
    settings: Settings, enabled: bool, compiled: bool
) -> None:
    pool = await create_pool(
        settings.postgres.model_copy(update={"min_pool": 1, "max_pool": 1, "jit": enabled})
    )
    try:
        async with pool.acquire() as conn:
            await conn.execute("SET jit = on")  # pg_jit_available() is false whenever jit is off
            available = await conn.fetchval("SELECT pg_jit_available()")
            await conn.execute("RESET jit")  # back to the pool's setting
            if not available:
                pytest.skip("this PostgreSQL server was built without JIT (LLVM)")
            await conn.execute("SET ROLE NONE")  # the owner may create a scratch table
            await conn.execute("CREATE TEMP TABLE wide AS SELECT g AS n FROM generate_series(1, 10) g")
            # No statistics and a cross join: an estimate far beyond jit_above_cost (100,000).
            plan = await conn.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM wide a, wide b, wide c, wide d"
            )
    finally:
        await pool.close()
    found = json.loads(plan)[0] if isinstance(plan, str) else plan[0]
    assert found["Plan"]["Total Cost"] > 100_000
    assert ("JIT" in found) is compiled
