"""What a command needs and cannot reach: a clear message and exit 1 instead of a traceback.

A broker that does not answer, a database server that does not, a database that does not exist or
that nobody migrated: each is said in one line that names the address (never the password) and,
where there is one, the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import asyncpg
import typer
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console

from shared.settings import InsecureConfigurationError, Settings, settings_problem
from shared.settings import load_settings as settings_from_environment

err = Console(stderr=True, markup=False, emoji=False, highlight=False)


def load_settings() -> Settings:
    """The settings from the environment; a value they refuse is said in one line naming its
    variable, and the command exits 2 (instead of a traceback whose last line names a field)."""
    try:
        return settings_from_environment()
    except (ValidationError, SettingsError) as refused:
        err.print(f"error: the settings: {settings_problem(refused)}")
        raise typer.Exit(2) from None


@contextmanager
def settings_safe() -> Iterator[None]:
    """Production settings a service refuses to start with: one line naming each, exit 2."""
    try:
        yield
    except InsecureConfigurationError as unsafe:
        err.print(f"error: unsafe production settings: {unsafe}")
        raise typer.Exit(2) from None


def where(dsn: str) -> str:
    """The database of a DSN as host:port/name, without its user or password (as written, for a
    DSN of several hosts or one that gives them in its query)."""
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    address = parts.netloc.rpartition("@")[2]
    if not address or "host" in query:
        host = query.get("host", ["localhost"])[0]
        address = f"{host}:{query.get('port', ['5432'])[0]}"
    elif "," not in address and ":" not in address.rpartition("]")[2]:
        address = f"{address}:5432"
    return f"{address}{parts.path or '/'}"


def _database(settings: Settings) -> str:
    return where(settings.postgres.dsn.get_secret_value())


@contextmanager
def kafka_reached(settings: Settings) -> Iterator[None]:
    """A broker that does not answer: a message and exit 1."""
    try:
        yield
    except KafkaConnectionError as down:
        err.print(f"error: Kafka at {settings.kafka.bootstrap_servers} does not answer ({down})")
        raise typer.Exit(1) from None


@contextmanager
def database_reached(settings: Settings) -> Iterator[None]:
    """A PostgreSQL server that does not answer or refuses the login, a database that does not
    exist, or one without the schema (or an older one): a message and exit 1. Only around the
    statements that read the database: any other error is not about reaching it."""
    try:
        yield
    except (OSError, TimeoutError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as down:
        err.print(
            f"error: PostgreSQL at {_database(settings)} does not answer ({type(down).__name__}: {down})"
        )
        raise typer.Exit(1) from None
    except (asyncpg.InvalidCatalogNameError, asyncpg.InvalidAuthorizationSpecificationError) as refused:
        err.print(f"error: PostgreSQL at {_database(settings)} refuses the connection: {refused}")
        raise typer.Exit(1) from None
    except (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError) as missing:
        err.print(
            f"error: the database at {_database(settings)} lacks followback's schema or part of it "
            f"({missing}): run `followback migrate`"
        )
        raise typer.Exit(1) from None
