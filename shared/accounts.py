"""Per-brand configuration: what the brand cares about, who it knows, what it never wants.

Stored versioned in PostgreSQL (``account_configs``); the scorer reads the newest version of each
account in a batch and records ``"<account>@v<version>"`` as the decision's configuration version.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, tzinfo
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

log = logging.getLogger(__name__)

# The brand's part of a decision's config_version: ".../brand@v3" (services.scorer.scoring.config_label).
_BRAND_VERSION = re.compile(r"@v(\d+)\Z")
# Validating a stored configuration (see _config): a zone this machine's tz database does not know
# is not refused there, it stands for UTC (zone_of), so the account's decisions still go through.
STORED = "stored"


@lru_cache(maxsize=1024)
def _zone(name: str) -> tzinfo:
    if name == "localtime":  # the machine's own setting, not a zone of the tz database
        raise ZoneInfoNotFoundError(name)
    return ZoneInfo(name)


@lru_cache(maxsize=1)
def _spellings() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones() if name != "localtime"}


def _known_zone(value: str) -> str:
    """``value`` as the tz database spells it (``europe/paris`` is ``Europe/Paris``: zone files are
    case-sensitive here, not on every machine); ValueError for a name it does not know."""
    # The database's spelling first: where zone files are found whatever the capitals (macOS,
    # Windows), ``europe/paris`` loads as it is, and stored so no Linux machine would know it.
    spelled = _spellings().get(value.lower())
    if spelled is not None:
        return spelled
    try:
        _zone(value)  # a name the list leaves out that loads all the same
        return value
    except (ZoneInfoNotFoundError, ValueError, OSError):  # (OSError: a region's directory, "America")
        raise ValueError(f"not a time zone name the tz database knows: {value!r}") from None


# The (account, zone) pairs already warned of in this process: see zone_named.
_warned_unknown: set[tuple[str | None, str]] = set()


def zone_named(name: str, account: str | None = None) -> tzinfo:
    """The IANA zone ``name`` (UTC when the tz database here does not know it, with a warning).

    The warning comes once per account and zone in a process: the zone is looked up on every batch
    of decisions and every review queue page, and an account whose stored zone the machine's tz
    database lost (an upgrade of it) filled the log with the same line."""
    try:
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        if (account, name) not in _warned_unknown:
            _warned_unknown.add((account, name))
            whose = f"{account}'s " if account is not None else ""
            log.warning("%stime zone %r is unknown here (its tz database); using UTC", whose, name)
        return UTC


def zone_name(zone: tzinfo) -> str:
    """``Europe/Paris`` for a zone of the tz database, ``UTC`` for UTC."""
    return str(getattr(zone, "key", None) or zone.tzname(None) or "UTC")


def zone_of(config: AccountConfig | None, account: str | None = None) -> tzinfo:
    """The account's time zone: its days (push budget, daily digests) run midnight to midnight there
    (``account``: the account ``config`` is of, named by the warning of a zone unknown here)."""
    return zone_named(config.timezone, account) if config is not None else UTC


def brand_version(config_version: str, account: str) -> int | None:
    """The account's configuration version a decision's ``config_version`` names (``.../brand@v3``);
    None for ``.../default`` (the account had none) or a label that names no version of it."""
    found = _BRAND_VERSION.search(config_version)
    if found is not None and config_version.endswith(f"/{account}@v{found.group(1)}"):
        return int(found.group(1))
    return None


def _clean(values: list[str]) -> list[str]:
    """Lower-cased, stripped, without a leading @, empty entries dropped, order kept."""
    seen: dict[str, None] = {}
    for value in values:
        item = value.strip().lower().removeprefix("@")
        if item:
            seen[item] = None
    return list(seen)


class AccountConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    topics: list[str] = Field(default_factory=list, description="Interests matched against bios.")
    keywords: list[str] = Field(default_factory=list, description="Brand words matched against bios.")
    customers: list[str] = Field(default_factory=list, description="Known customers: ids or handles.")
    vips: list[str] = Field(default_factory=list, description="Always worth a look: ids or handles.")
    blocked_terms: list[str] = Field(default_factory=list, description="Harmful to the brand's image.")
    blocked_accounts: list[str] = Field(default_factory=list, description="Ids or handles never pushed.")
    high_value_threshold: float | None = Field(default=None, ge=0, le=100)
    worth_following_threshold: float | None = Field(default=None, ge=0, le=100)
    # Not bounded above: a stored configuration must stay readable (the notifier caps what it asks
    # PostgreSQL for: one of 2**63 failed its query for every high-value follower of the brand).
    daily_push_budget: int = Field(default=400, ge=0, description="Most pushes per day (platform limit).")
    # Push channels besides the built-in review queue (the notifier's); unset means off.
    slack_webhook_url: str | None = Field(
        default=None, pattern=r"^https?://\S+$", description="Slack-compatible incoming webhook."
    )
    email_to: list[str] = Field(default_factory=list, description="Addresses that get pushes by e-mail.")
    follow_back_webhook_url: str | None = Field(
        default=None, pattern=r"^https?://\S+$", description="Called when a person presses Follow back."
    )
    digest: Literal["off", "hourly", "daily"] = Field(
        default="off",
        description=(
            "Push channels send one message per event-time hour or day listing the followers, "
            "instead of one message per follower."
        ),
    )
    timezone: str = Field(
        default="UTC",
        description=(
            "IANA time zone (Europe/Paris): the daily push budget resets and daily digests run "
            "from midnight to midnight there; digests label their periods in it."
        ),
    )

    @field_validator(
        "topics", "keywords", "customers", "vips", "blocked_terms", "blocked_accounts", mode="after"
    )
    @classmethod
    def _normalise(cls, values: list[str]) -> list[str]:
        return _clean(values)

    @field_validator("email_to", mode="after")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        cleaned = [value.strip() for value in values if value.strip()]
        for address in cleaned:
            if "@" not in address or any(c.isspace() or c in ",;<>" for c in address):
                raise ValueError(f"not an e-mail address: {address!r}")
        return cleaned

    @field_validator("timezone", mode="after")
    @classmethod
    def _timezone(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        return value if info.context == STORED else _known_zone(value)


class VersionedConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_id: str
    version: int
    config: AccountConfig

    @property
    def label(self) -> str:
        return f"{self.account_id}@v{self.version}"


async def latest(conn: asyncpg.Connection, accounts: list[str]) -> dict[str, VersionedConfig]:
    """The newest configuration of each account that has one."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (account_id) account_id, version, config::text AS config
        FROM account_configs WHERE account_id = ANY($1::text[])
        ORDER BY account_id, version DESC
        """,
        accounts,
    )
    return {
        row["account_id"]: VersionedConfig(
            account_id=row["account_id"], version=row["version"], config=_config(row["config"])
        )
        for row in rows
    }


async def every_version(
    conn: asyncpg.Connection, accounts: list[str]
) -> dict[str, dict[int, VersionedConfig]]:
    """Every recorded configuration of each account that has one, by version."""
    rows = await conn.fetch(
        "SELECT account_id, version, config::text AS config FROM account_configs "
        "WHERE account_id = ANY($1::text[]) ORDER BY account_id, version",
        accounts,
    )
    found: dict[str, dict[int, VersionedConfig]] = {}
    for row in rows:
        found.setdefault(row["account_id"], {})[row["version"]] = VersionedConfig(
            account_id=row["account_id"], version=row["version"], config=_config(row["config"])
        )
    return found


def _config(text: str) -> AccountConfig:
    return AccountConfig.model_validate_json(text, context=STORED)


async def versions(
    conn: asyncpg.Connection, wanted: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], VersionedConfig]:
    """These recorded versions of accounts' configurations, by (account, version)."""
    pairs = sorted(set(wanted))
    if not pairs:
        return {}
    rows = await conn.fetch(
        "SELECT c.account_id, c.version, c.config::text AS config FROM account_configs c "
        "JOIN unnest($1::text[], $2::int[]) AS k(account_id, version) "
        "ON c.account_id = k.account_id AND c.version = k.version",
        [a for a, _ in pairs],
        [v for _, v in pairs],
    )
    return {
        (row["account_id"], row["version"]): VersionedConfig(
            account_id=row["account_id"], version=row["version"], config=_config(row["config"])
        )
        for row in rows
    }


async def at_version(conn: asyncpg.Connection, account: str, version: int) -> VersionedConfig | None:
    """One recorded version of an account's configuration."""
    text = await conn.fetchval(
        "SELECT config::text FROM account_configs WHERE account_id = $1 AND version = $2", account, version
    )
    if text is None:
        return None
    return VersionedConfig(account_id=account, version=version, config=_config(text))


async def history(conn: asyncpg.Connection, account: str) -> list[tuple[int, str, Any, AccountConfig]]:
    rows = await conn.fetch(
        "SELECT version, changed_by, changed_at, config::text AS config FROM account_configs "
        "WHERE account_id = $1 ORDER BY version",
        account,
    )
    return [(r["version"], r["changed_by"], r["changed_at"], _config(r["config"])) for r in rows]


async def save(conn: asyncpg.Connection, account: str, config: AccountConfig, changed_by: str) -> int:
    """Record ``config`` as the account's next version; returns that version."""
    async with conn.transaction():
        # Serialise concurrent changes of one account so versions never collide.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", account)
        version: int = await conn.fetchval(
            "SELECT coalesce(max(version), 0) + 1 FROM account_configs WHERE account_id = $1", account
        )
        await conn.execute(
            "INSERT INTO account_configs (account_id, version, config, changed_by) "
            "VALUES ($1, $2, $3::text::jsonb, $4)",  # text: works with or without a jsonb codec
            account,
            version,
            config.model_dump_json(),
            changed_by,
        )
    return version
