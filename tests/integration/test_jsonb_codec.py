"""The pool's jsonb codec on a real server: what a service writes is what it reads back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.db import create_pool
from shared.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.postgres.model_copy(update={"min_pool": 1, "max_pool": 1}))
    yield pool
    await pool.close()


@pytest.mark.parametrize(
    "value",
    [
        {"signal": "bot_probability", "value": 0.0123, "contribution": -1.5, "detail": "é ✓ \u202e"},
        [1, "two", None, True, {"nested": [3.5]}],
        {"followers_count": 10**30},  # beyond 64 bits: jsonb keeps any number
    ],
    ids=["reason", "mixed", "huge-int"],
)
async def test_jsonb_round_trips_through_postgres(pool: asyncpg.Pool, value: object) -> None:
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT $1::jsonb", value) == value
        # and the server reads the same document (not a string holding it)
        assert await conn.fetchval("SELECT jsonb_typeof($1::jsonb)", value) in ("object", "array")


async def test_huge_integer_is_a_number_to_postgres(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT ($1::jsonb ->> 'n')::numeric", {"n": 10**30}) == 10**30


async def test_bytes_are_taken_as_json_text(pool: asyncpg.Pool) -> None:
    """What pydantic's dump_json wrote goes in as it is, and reads back as the document."""
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT $1::jsonb", b'[{"signal":"a","value":1.5}]') == [
            {"signal": "a", "value": 1.5}
        ]
        assert await conn.fetchval("SELECT jsonb_typeof($1::jsonb)", b'{"n":1}') == "object"
