"""A settings mistake is said in one line naming its variable, and the command exits 2: a bad value
printed a hundred-line traceback (whose last line named ``kafka.partitions``, or only the group
``"ingest"`` for a token list that is not JSON), and an environment name the code does not know
(``FOLLOWBACK_ENV=prod``) ran as development: ingest open, a random session secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError
from typer.testing import CliRunner

from followback import dlq
from followback.cli import app
from shared.lag import MissingTopicError
from shared.settings import load_settings


def _run(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(app, args, env=env)


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("FOLLOWBACK_KAFKA__PARTITIONS", "abc", "FOLLOWBACK_KAFKA__PARTITIONS: Input should be a valid"),
        ("FOLLOWBACK_HTTP__INGEST_PORT", "80a", "FOLLOWBACK_HTTP__INGEST_PORT: Input should be a valid"),
        ("FOLLOWBACK_INGEST__TOKENS", "abc", "FOLLOWBACK_INGEST__TOKENS is not JSON"),
        ("FOLLOWBACK_NOTIFIER__USERS", "ana:hash", "FOLLOWBACK_NOTIFIER__USERS is not JSON"),
        ("FOLLOWBACK_ENV", "prod", "FOLLOWBACK_ENV: should be one of development, production (got 'prod')"),
    ],
)
def test_a_bad_setting_is_named_in_one_line_and_exits_2(variable: str, value: str, said: str) -> None:
    result = _run(["status", "--once"], {variable: value})
    assert result.exit_code == 2
    assert said in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_a_secret_setting_is_never_echoed() -> None:
    result = _run(["status", "--once"], {"FOLLOWBACK_INGEST__TOKENS": '[{"a": "hunter2"}]'})
    assert result.exit_code == 2
    assert "FOLLOWBACK_INGEST__TOKENS" in result.output
    assert "hunter2" not in result.output


def test_the_environment_is_one_the_code_knows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWBACK_ENV", " Production ")
    assert load_settings().production
    monkeypatch.setenv("FOLLOWBACK_ENV", "")  # (what Compose passes for an unset ${FOLLOWBACK_ENV})
    assert not load_settings().production
    monkeypatch.setenv("FOLLOWBACK_ENV", "staging")
    with pytest.raises(ValidationError, match="should be one of development, production"):
        load_settings()


def test_unsafe_production_settings_stop_a_service_with_a_message() -> None:
    result = _run(["run", "ingest"], {"FOLLOWBACK_ENV": "production"})
    assert result.exit_code == 2
    assert "FOLLOWBACK_POSTGRES__DSN has no password" in " ".join(result.output.split())
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (MissingTopicError("x.dead-letter"), "topic x.dead-letter does not exist"),
        (KafkaConnectionError("Unable to bootstrap"), "does not answer"),
    ],
)
@pytest.mark.parametrize("command", [["dlq", "list"], ["dlq", "replay"]])
def test_dlq_says_what_it_cannot_reach(
    command: list[str], error: Exception, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fails(*args: object) -> None:
        raise error

    monkeypatch.setattr(dlq, "read", fails)
    monkeypatch.setattr(dlq, "replay", fails)
    result = _run(command, {})
    assert result.exit_code == 1
    assert said in " ".join(result.output.split())
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_dsn_that_is_no_postgresql_url_is_refused_without_echoing_it() -> None:
    """``postgresql//`` (a typo) reached yoyo, whose error printed the DSN with its password."""
    result = _run(["migrate"], {"FOLLOWBACK_POSTGRES__DSN": "postgresql//fb:hunter2@db:5432/followback"})
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "FOLLOWBACK_POSTGRES__DSN: should be a URL starting postgresql://" in said
    assert "hunter2" not in result.output


class _NoSuchTopicAdmin:
    """An admin client of a broker that has no topic of the prefix (describe_topics answers an
    entry without partitions, as Kafka does for an unknown topic)."""

    def __init__(self, **options: object) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
        return [{"topic": topic, "partitions": []} for topic in topics]


@pytest.mark.parametrize(
    "command", [["log", "export", "{dir}/events.ndjson.gz"], ["replay", "--workers", "1"]]
)
def test_a_log_read_from_a_topic_that_does_not_exist_is_an_error(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mistyped FOLLOWBACK_KAFKA__TOPIC_PREFIX exported an empty file (\"no event of the log
    matched\") and replayed nothing, both with exit 0, as if the log were empty."""
    from followback import eventlog, replay

    monkeypatch.setattr(eventlog, "AIOKafkaAdminClient", _NoSuchTopicAdmin)

    async def no_configs(*args: object) -> dict[str, Any]:
        return {}

    monkeypatch.setattr(replay, "brand_configs_at", no_configs)
    args = [part.format(dir=tmp_path) for part in command]
    result = _run(args, {"FOLLOWBACK_KAFKA__TOPIC_PREFIX": "typo."})
    assert result.exit_code == 1
    assert "topic typo.events does not exist" in " ".join(result.output.split())
    assert not (tmp_path / "events.ndjson.gz").exists()


def test_a_bad_value_inside_a_json_setting_names_the_variable_not_a_key_of_it() -> None:
    """helper-47: a users map's bad hash was named FOLLOWBACK_NOTIFIER__USERS__BOB (no such
    variable, and a user's name in the message)."""
    result = _run(["status", "--once"], {"FOLLOWBACK_NOTIFIER__USERS": '{"bob": 5}'})
    assert result.exit_code == 2
    assert "FOLLOWBACK_NOTIFIER__USERS:" in result.output
    assert "BOB" not in result.output.upper()


@pytest.mark.parametrize("port", ["5432x", "99999", "0"])
def test_a_dsn_whose_port_is_no_port_is_refused_in_one_line(port: str) -> None:
    """A port that is no number was a traceback from the migrations' library (no secret shown)."""
    dsn = f"postgresql://fb:hunter2@db:{port}/followback"
    result = _run(["migrate"], {"FOLLOWBACK_POSTGRES__DSN": dsn})
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "FOLLOWBACK_POSTGRES__DSN: has a port that is not a number from 1 to 65535" in said
    assert "hunter2" not in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://fb@h1:5432,h2:5433/followback",
        "postgresql://fb:pw@[::1]:5432/followback",
        "postgresql:///followback?host=/var/run/postgresql",
        "postgresql://fb@db/followback",
    ],
)
def test_a_dsn_with_good_ports_or_none_is_taken(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWBACK_POSTGRES__DSN", dsn)
    assert load_settings().postgres.dsn.get_secret_value() == dsn


def test_a_users_value_that_is_no_password_hash_is_refused_by_name() -> None:
    """helper-64: a hash given in a shell's double quotes (``$16384$8$1`` expanded to ``6384``) or a
    password typed in was taken without a word; that user's every login was "Wrong user name or
    password"."""
    good = "scrypt$16384$8$1$T6x3EjV74Y5Q4NNwL173PQ$5RB0ptt68ChWjBTZypy87LYRm4uCMxGTWLXPL3KihPk"
    expanded = "scrypt6384RB0ptt68ChWjBTZypy87LYRm4uCMxGTWLXPL3KihPk"
    users = f'{{"ana": "{good}", "bob": "{expanded}", "cy": "hunter2-hunter2"}}'
    result = _run(["status", "--once"], {"FOLLOWBACK_NOTIFIER__USERS": users})
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "FOLLOWBACK_NOTIFIER__USERS: 2 of its 3 value(s) not a password hash" in said
    assert "followback user hash" in said
    assert "hunter2" not in said
    assert "6384RB0" not in said
    assert load_settings(notifier={"users": {"ana": good}}).notifier.users["ana"].get_secret_value() == good
