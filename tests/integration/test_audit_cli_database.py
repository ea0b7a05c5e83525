"""The audit commands (``replay``, ``explain``, ``forget``) and a database they cannot use: a server
that does not answer, a database that does not exist, one nobody migrated. Each is one line that
names the database (never its password) and exit 1, not a traceback; and nothing is written."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pydantic import SecretStr

from shared.settings import Settings
from tests.conftest import Infra
from tests.e2e.conftest import as_env

pytestmark = pytest.mark.integration

COMMANDS = (("replay", "--json"), ("explain", "brand", "4001"), ("forget", "4001"))


def run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "followback", *args],
        env={**os.environ, **as_env(settings)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def with_dsn(settings: Settings, dsn: str) -> Settings:
    return settings.model_copy(
        update={"postgres": settings.postgres.model_copy(update={"dsn": SecretStr(dsn)})}
    )


async def said(settings: Settings, args: tuple[str, ...]) -> str:
    done = await asyncio.to_thread(run, settings, *args)
    assert done.returncode == 1, (args, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, (args, done.stderr)
    assert not done.stdout.strip(), args
    return " ".join(done.stderr.split())


@pytest.fixture
async def unmigrated(infra: Infra) -> AsyncIterator[str]:
    """An empty database on the test server: no schema at all."""
    name = f"fb_empty_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(infra.admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield infra.dsn(name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_a_database_server_that_does_not_answer_is_named_without_the_password(
    settings: Settings,
) -> None:
    down = with_dsn(settings, "postgresql://auditor:s3cret-pw@127.0.0.1:9/followback")
    for args in COMMANDS:
        message = await said(down, args)
        assert "error: PostgreSQL at 127.0.0.1:9/followback does not answer" in message, message
        assert "s3cret-pw" not in message


async def test_a_database_that_does_not_exist_is_said_so(settings: Settings, infra: Infra) -> None:
    missing = with_dsn(settings, infra.dsn(f"fb_missing_{uuid.uuid4().hex[:10]}"))
    for args in COMMANDS:
        message = await said(missing, args)
        assert "refuses the connection" in message, message
        assert "does not exist" in message, message


async def test_an_unmigrated_database_asks_for_the_migration_and_forget_creates_nothing_in_it(
    settings: Settings, unmigrated: str
) -> None:
    """``forget`` used to apply the migrations first: on a database it then found nothing in, it said
    "nothing recorded" and left the whole schema behind."""
    empty = with_dsn(settings, unmigrated)
    for args in COMMANDS:
        message = await said(empty, args)
        assert "lacks followback's schema or part of it" in message, message
        assert "run `followback migrate`" in message, message
    conn = await asyncpg.connect(unmigrated)
    try:
        tables = await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    assert tables == 0
