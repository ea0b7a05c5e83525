"""The audit commands' refusals of a bad option name the option (helper-75: "Invalid value: give an
offset" under the usage of a command given two times left the auditor to guess which). Each check
comes before any connection, so neither a broker nor a database is needed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from followback.cli import app


def refusal(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2, result.output
    return " ".join(result.output.replace("│", " ").split())  # (rich's box, wrapped)


@pytest.mark.parametrize("command", [("replay",), ("log", "export", "log.ndjson.gz")])
def test_a_time_without_an_offset_or_out_of_range_is_refused_naming_its_option(
    command: tuple[str, ...],
) -> None:
    said = refusal(*command, "--since", "2026-01-10T00:00:00Z", "--until", "2026-01-11T00:00:00")
    assert "Invalid value for '--until': 2026-01-11T00:00:00 has no offset: give one" in said
    said = refusal(*command, "--since", "2026-01-10T00:00:00")
    assert "Invalid value for '--since': 2026-01-10T00:00:00 has no offset" in said
    said = refusal(*command, "--until", "9999-12-31T23:59:59-01:00")
    assert "Invalid value for '--until': 9999-12-31 23:59:59-01:00 is out of range" in said


def test_a_source_that_is_no_file_and_a_bad_config_are_refused_naming_their_option(tmp_path: Path) -> None:
    said = refusal("replay", "--source", "kafak")
    assert "Invalid value for '--source': no such file: kafak (give kafka, or an exported file)" in said
    said = refusal("replay", "--source", str(tmp_path))
    assert f"Invalid value for '--source': {tmp_path} is not a file" in said
    said = refusal("replay", "--config", "newest")
    assert "Invalid value for '--config': --config takes recorded, latest or a version number" in said
    assert "Invalid value for '--config': --config with a version number needs --account" in refusal(
        "replay", "--config", "2"
    )


def test_the_json_line_writes_times_as_iso_8601_as_the_events_inside_it_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """explain's JSON mixed ``2026-01-13 21:02:47+00:00`` (the database's times, through ``str``) with
    ``2026-01-13T21:02:47Z`` (the events and annotations it holds): an auditor's tools read one."""
    from followback.audit_cli import _json_line

    paris = timezone(timedelta(hours=2))
    _json_line(
        {
            "decided_at": datetime(2026, 1, 13, 21, 2, 47, 120000, tzinfo=UTC),
            "elsewhere": datetime(2026, 1, 13, 23, 2, 47, tzinfo=paris),
            "push_day": date(2026, 1, 13),
            "score": Decimal("71.50"),
        }
    )
    assert json.loads(capsys.readouterr().out) == {
        "decided_at": "2026-01-13T21:02:47.120000Z",
        "elsewhere": "2026-01-13T23:02:47+02:00",
        "push_day": "2026-01-13",
        "score": "71.50",
    }
