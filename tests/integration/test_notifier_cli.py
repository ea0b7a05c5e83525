"""`followback user ...`, the channel and digest options of `followback account set`, and `flush-digest`."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from typer.testing import CliRunner

from followback.accounts_cli import app as accounts_app
from followback.users_cli import app as users_app
from services.notifier import users
from services.notifier.passwords import verify_password
from shared import accounts
from shared.settings import Settings

pytestmark = pytest.mark.integration


def test_users_are_added_with_hashed_passwords_listed_and_removed(settings: Settings) -> None:
    dsn = settings.postgres.dsn.get_secret_value()
    runner = CliRunner(env={"FOLLOWBACK_POSTGRES__DSN": dsn})
    added = runner.invoke(users_app, ["add", "ana", "--password-stdin"], input="a long passphrase\n")
    assert added.exit_code == 0, added.output
    assert "ana: created" in added.output
    short = runner.invoke(users_app, ["add", "rui", "--password-stdin"], input="short\n")
    assert short.exit_code != 0
    assert "ana" in runner.invoke(users_app, ["list"]).output
    hashed = runner.invoke(users_app, ["hash", "--password-stdin"], input="another long one\n").output.strip()
    assert verify_password("another long one", hashed)

    async def check() -> tuple[str, bool, bool]:
        conn = await asyncpg.connect(dsn)
        try:
            stored = await conn.fetchval("SELECT password_hash FROM review_users WHERE username = 'ana'")
            good = await users.authenticate(conn, {}, "ana", "a long passphrase")
            bad = await users.authenticate(conn, {}, "ana", "a long passphrasE")
            return stored, good, bad
        finally:
            await conn.close()

    stored, good, bad = asyncio.run(check())
    assert stored.startswith("scrypt$")
    assert "a long passphrase" not in stored
    assert (good, bad) == (True, False)
    assert runner.invoke(users_app, ["remove", "ana"]).exit_code == 0
    assert runner.invoke(users_app, ["remove", "ana"]).exit_code == 1


def test_account_channels_are_set_and_turned_off(settings: Settings) -> None:
    dsn = settings.postgres.dsn.get_secret_value()
    runner = CliRunner(env={"FOLLOWBACK_POSTGRES__DSN": dsn})
    on = runner.invoke(
        accounts_app,
        [
            "set",
            "brand",
            "--slack-webhook-url",
            "https://hooks.example/T1",
            "--email-to",
            "a@b.example,c@d.example",
        ],
    )
    assert on.exit_code == 0, on.output
    off = runner.invoke(accounts_app, ["set", "brand", "--slack-webhook-url", ""])
    assert off.exit_code == 0, off.output
    bad = runner.invoke(accounts_app, ["set", "brand", "--email-to", "not an address"])
    assert bad.exit_code == 2, bad.output
    assert "--email-to: Value error, not an e-mail" in bad.output  # (the box wraps the rest)
    # (helper-47) one threshold alone is compared with the other's default (70 high, 50 worth)
    above_default = runner.invoke(accounts_app, ["set", "brand", "--worth-following-threshold", "80"])
    assert above_default.exit_code == 2, above_default.output
    assert "the default high-value threshold 70 is below" in above_default.output.replace("\n", " ")
    worth = runner.invoke(accounts_app, ["set", "brand", "--worth-following-threshold", "60"])
    assert worth.exit_code == 0, worth.output
    inverted = runner.invoke(accounts_app, ["set", "brand", "--high-value-threshold", "40"])
    assert inverted.exit_code == 2, inverted.output
    assert "--high-value-threshold 40 is below" in inverted.output  # (the box wraps the rest)

    async def current() -> accounts.VersionedConfig:
        conn = await asyncpg.connect(dsn)
        try:
            return (await accounts.latest(conn, ["brand"]))["brand"]
        finally:
            await conn.close()

    found = asyncio.run(current())
    assert found.version == 3  # (the refused ones recorded nothing)
    assert found.config.high_value_threshold is None
    assert found.config.slack_webhook_url is None
    assert found.config.email_to == ["a@b.example", "c@d.example"]


def test_digest_mode_is_set_and_a_flush_closes_the_open_period(settings: Settings) -> None:
    dsn = settings.postgres.dsn.get_secret_value()
    runner = CliRunner(env={"FOLLOWBACK_POSTGRES__DSN": dsn})
    weekly = runner.invoke(accounts_app, ["set", "brand", "--digest", "weekly"])
    assert weekly.exit_code == 2, weekly.output  # a usage error naming the option, not a traceback
    assert "--digest: Input should be 'off', 'hourly' or" in weekly.output
    on = runner.invoke(accounts_app, ["set", "brand", "--slack-webhook-url", "https://hooks.example/T1",
                                      "--digest", "hourly"])  # fmt: skip
    assert on.exit_code == 0, on.output

    async def entry() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "INSERT INTO digest_entries (decision_id, channel, account_id, follower_id, target, "
                "period_start, period_end, payload) VALUES (gen_random_uuid(), 'slack', 'brand', '1', "
                "'https://hooks.example/T1', '2026-03-01T09:00Z', '2026-03-01T10:00Z', "
                """'{"follower_id": "1", "screen_name": "ana", "score": 80}')"""
            )
        finally:
            await conn.close()

    async def digests() -> list[tuple[str, str, str]]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT d.idempotency_key, d.status, g.closed_by FROM deliveries d "
                "JOIN digests g ON g.delivery_id = d.delivery_id WHERE d.kind = 'digest'"
            )
            return [tuple(r) for r in rows]
        finally:
            await conn.close()

    asyncio.run(entry())
    flushed = runner.invoke(accounts_app, ["flush-digest", "brand"])
    assert flushed.exit_code == 0, flushed.output
    assert "brand: 1 digest(s) closed" in flushed.output
    assert asyncio.run(digests()) == [("digest:brand:slack:20260301T0900Z", "pending", "flush")]
    again = runner.invoke(accounts_app, ["flush-digest", "brand"])
    assert "brand: 0 digest(s) closed" in again.output
