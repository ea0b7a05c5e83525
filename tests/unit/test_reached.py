"""Where a command says the database is that it could not use: never the password, whatever the DSN."""

from __future__ import annotations

import pytest

from followback.reached import where


@pytest.mark.parametrize(
    ("dsn", "said"),
    [
        ("postgresql://auditor:s3cret@127.0.0.1:9/followback", "127.0.0.1:9/followback"),
        ("postgresql://u@db.internal/followback", "db.internal:5432/followback"),
        # Several hosts, which asyncpg accepts (urllib cannot read its port: a crash before)
        ("postgresql://u:pw@h1:5432,h2:5433/db", "h1:5432,h2:5433/db"),
        # The host in the query (it read localhost:5432 before)
        ("postgresql:///h38?host=127.0.0.1&port=15432", "127.0.0.1:15432/h38"),
        ("postgresql://u@[::1]:5433/db", "[::1]:5433/db"),
        ("postgresql://u@[::1]/db", "[::1]:5432/db"),
    ],
)
def test_the_database_is_named_by_its_address_and_never_its_password(dsn: str, said: str) -> None:
    assert where(dsn) == said
    assert "pw" not in where(dsn)
    assert "s3cret" not in where(dsn)
