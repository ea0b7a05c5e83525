"""``followback account ...``: show, change and list the history of a brand's configuration."""

from __future__ import annotations

import asyncio
import getpass
import json
from typing import Annotated

import asyncpg
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from followback.reached import load_settings
from services.notifier import digest as digests
from services.notifier.app import queue_url
from shared import accounts
from shared.accounts import AccountConfig
from shared.db import create_pool, migrate

app = typer.Typer(no_args_is_help=True, help="Per-brand configuration, versioned in PostgreSQL.")
console = Console(emoji=False)

ListOption = Annotated[list[str] | None, typer.Option(help="Repeat, or separate with commas.")]


def _items(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [item for value in values for item in value.split(",")]


async def _connect() -> asyncpg.Connection:
    settings = load_settings()
    await migrate(settings.postgres)
    return await asyncpg.connect(settings.postgres.dsn.get_secret_value())


async def _current(conn: asyncpg.Connection, account: str) -> accounts.VersionedConfig | None:
    return (await accounts.latest(conn, [account])).get(account)


@app.command("show")
def show(account: str) -> None:
    """The account's current configuration as JSON (defaults when it has none)."""

    async def go() -> None:
        conn = await _connect()
        try:
            found = await _current(conn, account)
        finally:
            await conn.close()
        version = found.version if found else 0
        config = found.config if found else AccountConfig()
        console.print_json(json.dumps({"account_id": account, "version": version, **config.model_dump()}))

    asyncio.run(go())


@app.command("set")
def set_(
    account: str,
    topics: ListOption = None,
    keywords: ListOption = None,
    customers: ListOption = None,
    vips: ListOption = None,
    blocked_terms: ListOption = None,
    blocked_accounts: ListOption = None,
    high_value_threshold: Annotated[float | None, typer.Option(min=0, max=100)] = None,
    worth_following_threshold: Annotated[float | None, typer.Option(min=0, max=100)] = None,
    daily_push_budget: Annotated[int | None, typer.Option(min=0)] = None,
    slack_webhook_url: Annotated[str | None, typer.Option(help="Push channel; '' turns it off.")] = None,
    email_to: ListOption = None,
    follow_back_webhook_url: Annotated[
        str | None, typer.Option(help="Told when a person presses Follow back; '' turns it off.")
    ] = None,
    digest: Annotated[
        str | None, typer.Option(help="off, hourly or daily: one message per event-time period.")
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            help="IANA time zone (Europe/Paris, America/New_York; default UTC): the push budget's day "
            "and daily digests run midnight to midnight there."
        ),
    ] = None,
) -> None:
    """Change the given fields (lists are replaced whole); records a new version."""
    changes = {
        "topics": _items(topics),
        "keywords": _items(keywords),
        "customers": _items(customers),
        "vips": _items(vips),
        "blocked_terms": _items(blocked_terms),
        "blocked_accounts": _items(blocked_accounts),
        "high_value_threshold": high_value_threshold,
        "worth_following_threshold": worth_following_threshold,
        "daily_push_budget": daily_push_budget,
        "slack_webhook_url": slack_webhook_url,
        "email_to": _items(email_to),
        "follow_back_webhook_url": follow_back_webhook_url,
        "digest": digest,
        "timezone": timezone,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        raise typer.BadParameter("name at least one field to change (see --help)")

    async def go() -> int:
        conn = await _connect()
        try:
            found = await _current(conn, account)
            base = found.config.model_dump() if found else {}
            # An empty URL turns that channel off.
            urls = {k: v or None for k, v in changes.items() if k.endswith("_url")}
            try:
                config = AccountConfig.model_validate({**base, **changes, **urls})
            except ValidationError as error:  # a usage error naming the option, not a traceback
                problems = "; ".join(
                    f"--{'.'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}" for e in error.errors()
                )
                raise typer.BadParameter(problems) from None
            # Where the account sets one threshold only, the scorer uses the other's default
            # (FOLLOWBACK_SCORING__...): compared with it too.
            scoring = load_settings().scoring
            high = config.high_value_threshold
            worth = config.worth_following_threshold
            high_said = "--high-value-threshold" if high is not None else "the default high-value threshold"
            worth_said = "--worth-following-threshold" if worth is not None else "the default one"
            high = scoring.high_value_threshold if high is None else high
            worth = scoring.worth_following_threshold if worth is None else worth
            if high < worth:
                raise typer.BadParameter(
                    f"{high_said} {high:g} is below {worth_said} {worth:g}: "
                    "no follower would be worth following without being high value"
                )
            return await accounts.save(conn, account, config, getpass.getuser())
        finally:
            await conn.close()

    version = asyncio.run(go())
    console.print(f"{account}: configuration version {version} recorded", markup=False)


@app.command("history")
def history(account: str) -> None:
    """Every version of the account's configuration, who changed it and when."""

    async def go() -> None:
        conn = await _connect()
        try:
            rows = await accounts.history(conn, account)
        finally:
            await conn.close()
        if not rows:
            console.print(f"{account} has no recorded configuration (defaults apply)", markup=False)
        for version, who, when, config in rows:
            console.print(f"[bold]v{version}[/bold] {when:%Y-%m-%d %H:%M:%S} by {escape(who)}")
            console.print_json(config.model_dump_json())

    asyncio.run(go())


@app.command("flush-digest")
def flush_digest(account: str) -> None:
    """Close the account's open digest periods now, without waiting for its stream time to pass them."""

    async def go() -> list[int]:
        settings = load_settings()
        await migrate(settings.postgres)
        pool = await create_pool(settings.postgres.model_copy(update={"min_pool": 1, "max_pool": 1}))
        try:
            async with pool.acquire() as conn:
                return await digests.flush(conn, account, queue_url(settings))
        finally:
            await pool.close()

    made = asyncio.run(go())
    console.print(f"{account}: {len(made)} digest(s) closed; the notifier sends them", markup=False)
