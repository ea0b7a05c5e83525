"""Settings for every followback process, read from the environment.

Variables use the ``FOLLOWBACK_`` prefix and ``__`` for nesting, for example
``FOLLOWBACK_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:19092`` or ``FOLLOWBACK_POSTGRES__DSN=...``.
Nothing here is read at import time: call :func:`load_settings` (or build :class:`Settings`
with explicit values in tests).
"""

from __future__ import annotations

import json
import os
import re
import typing
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

# The local launcher's ports (see followback.infra): chosen away from the usual 9092/5432 so a
# system Kafka or PostgreSQL on the same machine never collides with ours.
LOCAL_KAFKA_PORT = 19092
LOCAL_POSTGRES_PORT = 15432
# The longest span in event time a setting may give (a window, a horizon, a grace period): a century,
# so that every time the services derive from an event's (before the year 9000: shared.events)
# stays within Python's dates. A longer one (a grace period of 3,000 years) takes a derived time out
# of them: every event it is computed for fails, and its consumer would dead-letter them all.
LONGEST_S = 100 * 366 * 86_400


class KafkaSettings(BaseModel):
    bootstrap_servers: str = f"127.0.0.1:{LOCAL_KAFKA_PORT}"
    topic_prefix: str = Field(
        default="followback.",
        description="Prepended to every topic name; tests use a unique prefix per run.",
    )
    partitions: int = Field(default=12, ge=1, description="Partitions of each topic created.")
    group_prefix: str = "followback."
    events_retention_ms: int = Field(
        default=-1, description="Retention of the raw events topic, the system of record (-1: forever)."
    )
    dead_letter_retention_ms: int = Field(
        default=-1,
        description="Retention of the dead-letter topic (-1: forever): a letter waits there for a fix "
        "and `followback dlq replay`, however long that takes.",
    )


class PostgresSettings(BaseModel):
    # No password in the default: the local launcher's server trusts loopback connections only.
    dsn: SecretStr = SecretStr(f"postgresql://followback@127.0.0.1:{LOCAL_POSTGRES_PORT}/followback")
    min_pool: int = 1
    max_pool: int = 5
    app_role: str = Field(
        default="followback_app",
        description=(
            "The role the services' pooled connections SET ROLE to: rows only, no schema changes "
            "(created by the migrations). Empty: the DSN's own user, with all of its rights."
        ),
    )
    jit: bool = Field(
        default=False,
        description=(
            "PostgreSQL's JIT compilation for the services' statements. Off: they are small, and a "
            "compile costs tens of milliseconds each time a cost estimate crosses jit_above_cost "
            "(as it does on tables the planner has no statistics for yet)."
        ),
    )

    @field_validator("dsn")
    @classmethod
    def _postgres_url(cls, dsn: SecretStr) -> SecretStr:
        """A PostgreSQL URL: anything else (``postgresql//...``, a typo) reached the migrations'
        library, whose error printed the whole DSN, password and all."""
        url = urlsplit(dsn.get_secret_value())
        if url.scheme not in ("postgresql", "postgres"):
            raise ValueError("should be a URL starting postgresql:// (or postgres://)")
        # A port that is no number (``:5432x``) was a traceback from deep in the migrations' library.
        # Each host of a multi-host DSN (``h1:5432,h2:5433``, which asyncpg takes) is checked alone.
        for host in url.netloc.rpartition("@")[2].split(","):
            port = host.rpartition("]")[2].partition(":")[2]  # after an IPv6 address's brackets
            if port and not (port.isdigit() and 0 < int(port) <= 65535):
                raise ValueError("has a port that is not a number from 1 to 65535")
        return dsn


class Topics(BaseModel):
    """Topic names without the prefix."""

    events: str = "events"
    annotated: str = "relationship-events"
    churn_alerts: str = "churn-alerts"
    decisions: str = "decisions"
    dead_letter: str = "dead-letter"


class ConsumerSettings(BaseModel):
    max_records: int = Field(default=500, ge=1, description="Most records handled per batch.")
    batch_timeout_ms: int = Field(default=50, ge=1)


class ScoringSettings(BaseModel):
    high_value_threshold: float = 70.0
    worth_following_threshold: float = 50.0
    spam_probability: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Bot probability from which a follower is spam (default: the model's).",
    )
    config_version: str = "1"


class ChurnSettings(BaseModel):
    """The churn detector's patterns and its event-time clock (``FOLLOWBACK_CHURN__...``)."""

    quick_unfollow_window_s: float = Field(
        default=7 * 86400,
        le=LONGEST_S,
        gt=0,
        description="An unfollow within this of the follow is a quick unfollow.",
    )
    min_dwell_s: float = Field(
        default=3600,
        le=LONGEST_S,
        ge=0,
        description="Follows shorter than this are glitches (mis-taps), never churn.",
    )
    serial_cycles: int = Field(default=2, ge=1, description="Follow/unfollow cycles that make serial churn.")
    serial_glitches: int = Field(
        default=3,
        ge=1,
        description="The follow shorter than the minimum dwell that is this many within the horizon "
        "is no glitch but a cycle (a mis-tap is not repeated).",
    )
    horizon_s: float = Field(
        default=90 * 86400,
        le=LONGEST_S,
        gt=0,
        description="Serial and cross-account churn count within this horizon.",
    )
    cross_accounts: int = Field(
        default=2, ge=2, description="Brand accounts a follower churned on, within the horizon."
    )
    grace_s: float = Field(
        default=3600,
        le=LONGEST_S,
        ge=0,
        description="How late (in event time) an event may arrive and still be in order.",
    )
    sweep_interval_s: float = Field(
        default=1.0, gt=0, description="How often the detector looks for follows whose window has passed."
    )


class ReplaySettings(BaseModel):
    workers: int = Field(
        default=0, ge=0, description="Worker processes of followback replay (0: one per CPU; 1: in process)."
    )
    task_events: int = Field(
        default=100_000,
        ge=1000,
        description="At most this many events in one replay task: what bounds a worker's memory.",
    )


class IngestSettings(BaseModel):
    tokens: list[SecretStr] = Field(
        default_factory=list,
        description="Bearer tokens accepted by POST /v1/events. None configured: open, outside production.",
    )
    x_consumer_secret: SecretStr | None = Field(
        default=None, description="The X app's consumer secret: CRC answers and webhook signatures."
    )
    max_events: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    publish_timeout_s: float = Field(
        default=10.0, gt=0, description="Longest wait for Kafka's acknowledgement before answering 503."
    )
    retry_after_s: int = 5
    max_ahead_s: float = Field(
        default=86_400,
        le=LONGEST_S,
        gt=0,
        description="How far after its arrival an event may be dated (clock skew); later ones get 422.",
    )


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    ingest_port: int = 8081
    churn_port: int = 8082
    scorer_port: int = 8083
    notifier_port: int = 8084


# The review queue's stored password form (services/notifier/passwords.py): scrypt, its cost
# parameters, then salt and hash in URL-safe base64.
PASSWORD_HASH = re.compile(r"scrypt\$[0-9]+\$[0-9]+\$[0-9]+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+")


class NotifierSettings(BaseModel):
    """The notifier: delivery of pushes, the review queue's web sessions and users, SMTP."""

    public_url: str = Field(
        default="", description="The review queue's address, linked from pushes (default: host and port)."
    )
    session_secret: SecretStr | None = Field(
        default=None, description="Signs session cookies; required in production (else random per start)."
    )
    session_max_age_s: int = Field(default=12 * 3600, ge=60)
    users: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Review queue users: name to scrypt hash (`followback user hash`), as a JSON object.",
    )
    smtp_host: str | None = Field(default=None, description="No host: e-mail is off for every account.")
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_from: str = "followback@localhost"
    max_attempts: int = Field(default=8, ge=1, description="Sends of one message before it is dead.")
    retry_base_s: float = Field(default=2.0, gt=0, description="First back-off; doubles per attempt.")
    retry_cap_s: float = Field(default=600.0, gt=0)
    send_timeout_s: float = Field(default=10.0, gt=0)
    lease_s: float = Field(
        default=60.0, gt=0, description="A send claimed longer ago than this was interrupted (a crash)."
    )
    poll_interval_s: float = Field(default=1.0, gt=0)
    claim_batch: int = Field(
        default=20, ge=1, description="Messages claimed (and sent concurrently) at once."
    )
    budget_carry_over_days: int = Field(
        default=1,
        ge=0,
        le=LONGEST_S // 86_400,
        description="Days a follower over budget keeps competing for later days' pushes.",
    )
    page_size: int = Field(default=25, ge=1, le=200)
    digest_grace_s: float = Field(
        default=300.0,
        le=LONGEST_S,
        ge=0,
        description="A digest period closes once the account's stream time is this far past its end.",
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed logins for one user name within the window before 429."
    )
    login_max_failures_per_address: int = Field(
        default=20, ge=1, description="Failed logins from one client address within the window before 429."
    )
    login_window_s: float = Field(
        default=900.0, gt=0, description="The window failed logins are counted in (and refused for)."
    )

    @field_validator("users")
    @classmethod
    def _password_hashes(cls, users: dict[str, SecretStr]) -> dict[str, SecretStr]:
        """Each value a hash as ``followback user hash`` prints it. Anything else (a password typed
        in, or a hash whose ``$16384$8$1`` a shell's double quotes expanded to ``6384``) was taken
        without a word, and that user's every login was "Wrong user name or password"."""
        bad = sum(not PASSWORD_HASH.fullmatch(hashed.get_secret_value()) for hashed in users.values())
        if bad:  # (counted, not named: the message names no user, as for every value of this variable)
            raise ValueError(
                f"{bad} of its {len(users)} value(s) not a password hash: give what `followback user hash` "
                "prints (in a shell, in single quotes: double quotes expand its $ signs)"
            )
        return users


ENVIRONMENTS = ("development", "production")


class InsecureConfigurationError(RuntimeError):
    """Production settings that would leave data or an API open."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FOLLOWBACK_", env_nested_delimiter="__", extra="ignore")

    env: str = Field(
        default="development",
        description="development or production (any case): production refuses unsafe settings.",
    )
    gc_threshold: int = Field(
        default=50_000,
        ge=0,
        description="Allocations between collections of the garbage collector's youngest generation "
        "in the services and replay (0: Python's default, 700). See shared/gc_tuning.py.",
    )
    kafka: KafkaSettings = KafkaSettings()
    postgres: PostgresSettings = PostgresSettings()
    topics: Topics = Topics()
    consumer: ConsumerSettings = ConsumerSettings()
    scoring: ScoringSettings = ScoringSettings()
    churn: ChurnSettings = ChurnSettings()
    replay: ReplaySettings = ReplaySettings()
    http: HttpSettings = HttpSettings()
    ingest: IngestSettings = IngestSettings()
    notifier: NotifierSettings = NotifierSettings()

    @field_validator("env")
    @classmethod
    def _known_env(cls, value: str) -> str:
        """Only the two environments the code knows: a mistyped ``prod`` or ``Production `` must not
        run as development (ingest open, a random session secret, cookies without Secure)."""
        known = value.strip().lower() or "development"  # (set but empty, as Compose passes an unset one)
        if known not in ENVIRONMENTS:
            raise ValueError(f"should be one of {', '.join(ENVIRONMENTS)}")
        return known

    @property
    def production(self) -> bool:
        return self.env == "production"

    def production_problems(self, *services: str) -> list[str]:
        """What would make this configuration unsafe in production (nothing outside production),
        for the ``services`` named too (ingest needs its tokens, the notifier its session secret).

        Defaults are for a developer's machine: a password-less local database, short secrets.
        Production must bring its own, from the environment.
        """
        if not self.production:
            return []
        problems = []
        if "ingest" in services and not self.ingest.tokens:
            problems.append("FOLLOWBACK_INGEST__TOKENS must be set in production")
        if "notifier" in services and self.notifier.session_secret is None:
            problems.append("FOLLOWBACK_NOTIFIER__SESSION_SECRET must be set in production")
        # Every push links to the review queue: without its address they linked to the notifier's
        # own host and port (http://127.0.0.1:8084 in the image), which no one at the brand can open,
        # and over plain HTTP its Secure session cookie never comes back, so no one can log in.
        if "notifier" in services and urlsplit(self.notifier.public_url.strip()).scheme.lower() != "https":
            problems.append(
                "FOLLOWBACK_NOTIFIER__PUBLIC_URL must be the review queue's https:// address in production"
                " (pushes link to it)"
            )
        if not urlsplit(self.postgres.dsn.get_secret_value()).password:
            problems.append("FOLLOWBACK_POSTGRES__DSN has no password")
        short = [t for t in self.ingest.tokens if len(t.get_secret_value()) < 16]
        if short:
            problems.append("FOLLOWBACK_INGEST__TOKENS holds tokens shorter than 16 characters")
        secret = self.ingest.x_consumer_secret
        if secret is not None and len(secret.get_secret_value()) < 16:
            problems.append("FOLLOWBACK_INGEST__X_CONSUMER_SECRET is shorter than 16 characters")
        # The key the review queue's cookies are signed with: a short one (any length was taken, one
        # character too) can be found offline from one cookie, and cookies then signed at will (a
        # session kept past its expiry, say).
        session = self.notifier.session_secret
        if session is not None and len(session.get_secret_value()) < 16:
            problems.append("FOLLOWBACK_NOTIFIER__SESSION_SECRET is shorter than 16 characters")
        return problems

    def require_safe(self, *services: str) -> None:
        """Refuse to start with an unsafe production configuration, naming every problem (of the
        ``services`` named too) at once."""
        if problems := self.production_problems(*services):
            raise InsecureConfigurationError("; ".join(problems))

    def topic(self, name: str) -> str:
        """The full topic name for a logical name from :class:`Topics` (``"events"`` ...)."""
        return self.kafka.topic_prefix + str(getattr(self.topics, name))

    def group(self, service: str) -> str:
        return self.kafka.group_prefix + service


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]


PREFIX = "FOLLOWBACK_"


def variable(loc: tuple[int | str, ...]) -> str:
    """The environment variable of a settings field's location: ``("kafka", "partitions")`` is
    ``FOLLOWBACK_KAFKA__PARTITIONS``; a place inside a list's or a mapping's value (``("ingest",
    "tokens", 0)``, ``("notifier", "users", "bob")``) is the variable that holds it, which is read
    as JSON (and a key of it may be a user's name)."""
    names, _ = _fields_along(loc)
    if not names and loc:  # (not a field of ours: said as given)
        names = [str(loc[0])]
    return PREFIX + "__".join(names).upper()


def _fields_along(path: Sequence[int | str]) -> tuple[list[str], Any]:
    """The leading parts of ``path`` that name fields of :class:`Settings` and its nested models,
    and the annotation of the last of them (None: not even the first)."""
    model: type[BaseModel] | None = Settings
    names: list[str] = []
    annotation: Any = None
    for part in path:
        field = model.model_fields.get(str(part)) if model is not None else None
        if field is None:
            break
        names.append(str(part))
        annotation = field.annotation
        model = annotation if _is_model(annotation) else None
    return names, annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _parsed_as_json(path: list[str]) -> bool:
    """Whether the field at ``path`` (lower-case names) is read from its variable as JSON (a model,
    a list, a mapping: what pydantic-settings parses before validating)."""
    names, annotation = _fields_along(path)
    if len(names) != len(path):
        return False
    origin = typing.get_origin(annotation)
    return _is_model(annotation) or (isinstance(origin, type) and issubclass(origin, list | dict | Mapping))


SECRET_PARTS = ("dsn", "password", "secret", "token", "users")


def _problem(loc: tuple[int | str, ...], message: str, given: object) -> str:
    shown = isinstance(given, str) and not any(part in str(p) for p in loc for part in SECRET_PARTS)
    said = f"{variable(loc)}: {message.removeprefix('Value error, ')}"
    return said + (f" (got {given!r})" if shown else "")


def settings_problem(error: ValidationError | SettingsError, environ: Mapping[str, str] | None = None) -> str:
    """What is wrong with the settings from the environment, each problem naming its variable
    (``FOLLOWBACK_KAFKA__PARTITIONS: Input should be a valid integer ... (got 'abc')``)."""
    if isinstance(error, ValidationError):
        problems = error.errors()
        return "; ".join(_problem(p["loc"], p["msg"], p.get("input")) for p in problems)
    environ = os.environ if environ is None else environ
    unreadable = []
    for name, value in sorted(environ.items()):
        if not name.upper().startswith(PREFIX):
            continue
        if _parsed_as_json(name[len(PREFIX) :].lower().split("__")):
            try:
                json.loads(value)
            except ValueError as bad:
                unreadable.append(f"{name.upper()} is not JSON ({bad}): give a JSON list or object")
    cause = f" ({error.__cause__})" if error.__cause__ is not None else ""
    return "; ".join(unreadable) or f"{error}{cause}"
