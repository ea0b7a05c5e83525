"""``followback user add``'s refusal of a short password names the password: it said "Invalid value:
use at least 12 characters" under the command's usage (helper-64), which reads as the user name's
fault. The check comes before any connection, so no database is needed."""

from __future__ import annotations

from typer.testing import CliRunner

from followback.cli import app


def test_a_short_password_is_named_as_the_password() -> None:
    result = CliRunner().invoke(app, ["user", "add", "bob", "--password-stdin"], input="short\n")
    assert result.exit_code == 2
    assert "Invalid value for the password: use at least 12 characters" in " ".join(result.output.split())
