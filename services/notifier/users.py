"""The review queue's users: from configuration (name to hash) and from PostgreSQL (`followback user`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import asyncpg
from pydantic import SecretStr

from services.notifier.passwords import DECOY, hash_password, verify_password


class UnknownUserError(LookupError):
    pass


async def password_hash(
    conn: asyncpg.Connection, configured: Mapping[str, SecretStr], username: str
) -> str | None:
    """The user's current password hash (configured first, then recorded); None: no such user now."""
    stored = configured.get(username)
    if stored is not None:
        return stored.get_secret_value()
    hashed: str | None = await conn.fetchval(
        "SELECT password_hash FROM review_users WHERE username = $1", username
    )
    return hashed


async def verified_hash(
    conn: asyncpg.Connection, configured: Mapping[str, SecretStr], username: str, password: str
) -> str | None:
    """The user's password hash when the name and password match a configured or recorded user,
    else None (constant work either way)."""
    hashed = await password_hash(conn, configured, username)
    # scrypt takes tens of milliseconds: off the event loop.
    matched = await asyncio.to_thread(verify_password, password, hashed or DECOY)
    return hashed if matched else None


async def authenticate(
    conn: asyncpg.Connection, configured: Mapping[str, SecretStr], username: str, password: str
) -> bool:
    """True when the name and password match a configured or recorded user (constant work either way)."""
    return await verified_hash(conn, configured, username, password) is not None


async def add(conn: asyncpg.Connection, username: str, password: str, created_by: str) -> bool:
    """Create the user, or set a new password; returns True when the user is new."""
    hashed = await asyncio.to_thread(hash_password, password)
    created: bool = await conn.fetchval(
        """
        INSERT INTO review_users (username, password_hash, created_by) VALUES ($1, $2, $3)
        ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash
        RETURNING xmax = 0
        """,
        username,
        hashed,
        created_by,
    )
    return created


async def remove(conn: asyncpg.Connection, username: str) -> None:
    done = await conn.execute("DELETE FROM review_users WHERE username = $1", username)
    if done.endswith(" 0"):
        raise UnknownUserError(username)


async def names(conn: asyncpg.Connection) -> list[tuple[str, str, object]]:
    rows = await conn.fetch("SELECT username, created_by, created_at FROM review_users ORDER BY username")
    return [(r["username"], r["created_by"], r["created_at"]) for r in rows]
