"""What a command needs and cannot reach: a clear message and exit 1 instead of a traceback.

A broker that does not answer, a database server that does not, a database that does not exist or
that nobody migrated: each is said in one line that names the address (never the password) and,
where there is one, the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import asyncpg
import typer
from aiokafka.errors import KafkaConnectionError
from rich.console import Console

from shared.settings import Settings

err = Console(stderr=True, markup=False, emoji=False, highlight=False)


def where(dsn: str) -> str:
    """The database of a DSN as host:port/name, without its user or password."""
    parts = urlsplit(dsn)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 5432}{parts.path or '/'}"


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
    at = where(settings.postgres.dsn.get_secret_value())
    try:
        yield
    except (OSError, TimeoutError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as down:
        err.print(f"error: PostgreSQL at {at} does not answer ({type(down).__name__}: {down})")
        raise typer.Exit(1) from None
    except (asyncpg.InvalidCatalogNameError, asyncpg.InvalidAuthorizationSpecificationError) as refused:
        err.print(f"error: PostgreSQL at {at} refuses the connection: {refused}")
        raise typer.Exit(1) from None
    except (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError) as missing:
        err.print(
            f"error: the database at {at} lacks followback's schema or part of it ({missing}): "
            "run `followback migrate`"
        )
        raise typer.Exit(1) from None
