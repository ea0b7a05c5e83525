"""Least privilege: the services' connections read and write rows and cannot drop or empty a table."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.db import create_pool, migrate_sync
from shared.settings import Settings
from tests.conftest import Infra

pytestmark = pytest.mark.integration

REFUSED = [
    "DROP TABLE decisions",
    "DROP TABLE churn_processed CASCADE",
    "TRUNCATE decisions",
    "TRUNCATE review_audit",  # TRUNCATE would skip the audit's append-only trigger
    "ALTER TABLE decisions DROP COLUMN score",
    "DELETE FROM review_audit",
    "DELETE FROM _yoyo_migration",
    "ALTER TABLE review_audit DISABLE TRIGGER review_audit_append_only",
    "CREATE INDEX ON decisions (score)",
    "TRUNCATE digest_entries",
]


@pytest.fixture
async def service_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """The pool a service opens (one connection, so every acquire gets the same one back)."""
    pool = await create_pool(settings.postgres.model_copy(update={"min_pool": 1, "max_pool": 1}))
    yield pool
    await pool.close()


async def test_a_service_connection_reads_and_writes_rows(service_pool: asyncpg.Pool) -> None:
    async with service_pool.acquire() as conn:
        assert await conn.fetchval("SELECT current_user") == "followback_app"
        await conn.execute(
            "INSERT INTO relationships (account_id, follower_id, state, updated_at) "
            "VALUES ('brand', '1', $1, now())",
            {"following": True},
        )
        await conn.execute(
            "UPDATE relationships SET state = $1 WHERE follower_id = '1'", {"following": False}
        )
        assert await conn.fetchval("SELECT state FROM relationships WHERE follower_id = '1'") == {
            "following": False
        }
        # A bigserial key: the role may use the sequences.
        delivery = await conn.fetchval(
            "INSERT INTO deliveries (idempotency_key, account_id, follower_id, channel, kind, target, "
            "payload) VALUES ('k1', 'brand', '1', 'slack', 'push', 'http://x', '{}') RETURNING delivery_id"
        )
        assert delivery >= 1
        # Digest mode's tables (migration 0008) too.
        await conn.execute("INSERT INTO digest_clocks (account_id, stream_time) VALUES ('brand', now())")
        await conn.execute(
            "INSERT INTO digests (account_id, channel, period_start, period_end, delivery_id, closed_by) "
            "VALUES ('brand', 'slack', now(), now(), $1, 'flush')",
            delivery,
        )
        await conn.execute("DELETE FROM relationships WHERE follower_id = '1'")
        await conn.execute(
            "INSERT INTO review_audit (action_id, actor, action) VALUES ($1, 'ana', 'login')", uuid.uuid4()
        )
        assert await conn.fetchval("SELECT count(*) FROM review_audit") == 1


@pytest.mark.parametrize("statement", REFUSED)
async def test_a_service_connection_cannot_drop_truncate_or_alter(
    service_pool: asyncpg.Pool, db: asyncpg.Connection, statement: str
) -> None:
    await db.execute(
        "INSERT INTO review_audit (action_id, actor, action) VALUES ($1, 'ana', 'login')", uuid.uuid4()
    )
    async with service_pool.acquire() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    # The role survives the pool's reset of a released connection, and nothing was touched.
    async with service_pool.acquire() as conn:
        assert await conn.fetchval("SELECT current_user") == "followback_app"
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("RESET ALL; TRUNCATE decisions")
    assert await db.fetchval("SELECT count(*) FROM review_audit") == 1
    assert await db.fetchval(
        "SELECT to_regclass('decisions') IS NOT NULL AND to_regclass('churn_processed') IS NOT NULL"
    )
    assert await db.fetchval("SELECT count(*) FROM _yoyo_migration") > 0


async def test_without_an_app_role_the_pool_keeps_the_dsn_user(settings: Settings) -> None:
    pool = await create_pool(settings.postgres.model_copy(update={"app_role": ""}))
    try:
        assert await pool.fetchval("SELECT current_user") != "followback_app"
    finally:
        await pool.close()


async def test_the_role_migration_is_idempotent_across_databases_migrated_at_once(infra: Infra) -> None:
    # The role is the server's; the grants are each database's. Fresh databases migrated together
    # (the role already exists, made by the template's migration) each get their grants.
    names = [f"fb_roles_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    admin = await asyncpg.connect(infra.admin_dsn)
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
        await asyncio.gather(*(asyncio.to_thread(migrate_sync, infra.dsn(name)) for name in names))
        for name in names:
            conn = await asyncpg.connect(infra.dsn(name))
            try:
                can = await conn.fetchrow(
                    "SELECT has_table_privilege('followback_app', 'decisions', 'INSERT') AS insert, "
                    "has_table_privilege('followback_app', 'decisions', 'TRUNCATE') AS truncate, "
                    "has_table_privilege('followback_app', '_yoyo_migration', 'SELECT') AS bookkeeping"
                )
                assert dict(can) == {"insert": True, "truncate": False, "bookkeeping": False}
            finally:
                await conn.close()
        assert await admin.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = 'followback_app'") == 1
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
