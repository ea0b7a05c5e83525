"""``followback user ...``: the review queue's users (stored in PostgreSQL, passwords hashed)."""

from __future__ import annotations

import asyncio
import getpass
import sys
from typing import Annotated

import asyncpg
import typer
from rich.console import Console

from followback.reached import load_settings
from services.notifier import users
from services.notifier.passwords import hash_password
from shared.db import migrate

app = typer.Typer(no_args_is_help=True, help="Users of the review queue.")
console = Console(markup=False, emoji=False, highlight=False)  # user names as typed
MIN_LENGTH = 12

StdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input (for scripts).")
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_LENGTH:
        raise typer.BadParameter(f"use at least {MIN_LENGTH} characters", param_hint="the password")
    return password


async def _connect() -> asyncpg.Connection:
    settings = load_settings()
    await migrate(settings.postgres)
    return await asyncpg.connect(settings.postgres.dsn.get_secret_value())


@app.command("add")
def add(username: str, password_stdin: StdinOption = False) -> None:
    """Create a user (or set a new password for an existing one)."""
    password = _password(password_stdin)

    async def go() -> bool:
        conn = await _connect()
        try:
            return await users.add(conn, username, password, getpass.getuser())
        finally:
            await conn.close()

    created = asyncio.run(go())
    console.print(f"{username}: {'created' if created else 'password changed'}")


@app.command("remove")
def remove(username: str) -> None:
    """Delete a user; their past actions stay in the audit log."""

    async def go() -> None:
        conn = await _connect()
        try:
            await users.remove(conn, username)
        finally:
            await conn.close()

    try:
        asyncio.run(go())
    except users.UnknownUserError:
        console.print(f"no user named {username}")
        raise typer.Exit(1) from None
    console.print(f"{username}: removed")


@app.command("list")
def list_() -> None:
    """The users stored in PostgreSQL (configured ones are in FOLLOWBACK_NOTIFIER__USERS)."""

    async def go() -> list[tuple[str, str, object]]:
        conn = await _connect()
        try:
            return await users.names(conn)
        finally:
            await conn.close()

    for name, by, when in asyncio.run(go()):
        console.print(f"{name}  (added by {by}, {when:%Y-%m-%d})")


@app.command("hash")
def hash_(password_stdin: StdinOption = False) -> None:
    """Print a password hash for FOLLOWBACK_NOTIFIER__USERS (the password itself is never stored)."""
    print(hash_password(_password(password_stdin)))
