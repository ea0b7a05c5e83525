"""`followback send FILE`: NDJSON and CSV files through a real ingest process into Kafka."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from followback import runner
from shared.events import Event
from shared.settings import Settings
from tests.e2e.conftest import as_env
from tests.support import SPAM_ACCOUNT, T0, event, read_topic

pytestmark = pytest.mark.e2e

TOKEN = "send-test-token"


@pytest.fixture
def ingest(e2e_settings: Settings) -> Iterator[tuple[Settings, dict[str, str]]]:
    env = {**as_env(e2e_settings), "FOLLOWBACK_INGEST__TOKENS": json.dumps([TOKEN])}
    processes = runner.spawn(["ingest"], env=env)
    try:
        runner.wait_healthy(e2e_settings, ["ingest"], timeout=60)
        yield e2e_settings, env
    finally:
        runner.stop(processes)


def send(path: Path, env: dict[str, str], token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "followback", "send", str(path), "--batch-size", "2"],
        env={**os.environ, **env, "FOLLOWBACK_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_an_ndjson_file_is_sent_in_batches_and_lands_on_the_topic(
    ingest: tuple[Settings, dict[str, str]], tmp_path: Path
) -> None:
    settings, env = ingest
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(json.dumps(event(f"n{i}", "follow", f"90{i}", T0)) for i in range(5)) + "\n")

    done = send(path, env)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"accepted": 5, "rejected": 0}
    records = await read_topic(settings, settings.topic("events"), 5)
    assert sorted(Event.model_validate_json(r.value).event_id for r in records) == [f"n{i}" for i in range(5)]


async def test_a_csv_file_with_a_bad_row_reports_it_and_exits_non_zero(
    ingest: tuple[Settings, dict[str, str]], tmp_path: Path
) -> None:
    settings, env = ingest
    path = tmp_path / "events.csv"
    columns = [
        "event_id", "type", "account_id", "occurred_at", "interaction_kind", "interaction_text",
        "id", "screen_name", "description", "followers_count", "friends_count", "default_profile_image",
    ]  # fmt: skip
    rows = [
        ["c1", "follow", "brand", T0.isoformat(), "", "", "7001", "ana", "coffee", "1800", "420", ""],
        ["c2", "interaction", "brand", T0.isoformat(), "mention", "@brand hi", "7001", "ana", "", "1800",
         "420", ""],
        ["c3", "follow", "brand", "not a time", "", "", "7002", "bob", "", "12", "2001", "1"],
        ["c4", "follow", "brand", T0.isoformat(), "", "", "7003", SPAM_ACCOUNT["screen_name"],
         SPAM_ACCOUNT["description"], "3", "2001", "1"],
    ]  # fmt: skip
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)

    done = send(path, env)

    assert done.returncode == 1
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"accepted": 3, "rejected": 1}
    assert "rejected line 4: occurred_at" in done.stderr  # (the header is line 1)
    records = await read_topic(settings, settings.topic("events"), 3)
    landed = {
        Event.model_validate_json(r.value).event_id: Event.model_validate_json(r.value) for r in records
    }
    assert set(landed) == {"c1", "c2", "c4"}
    assert landed["c2"].interaction is not None
    assert landed["c4"].follower.default_profile_image is True
    assert landed["c4"].follower.friends_count == 2001


def test_a_wrong_token_fails_with_a_message(ingest: tuple[Settings, dict[str, str]], tmp_path: Path) -> None:
    _, env = ingest
    path = tmp_path / "one.ndjson"
    path.write_text(json.dumps(event("w1", "follow", "1", T0)) + "\n")
    done = send(path, env, token="wrong")
    assert done.returncode == 1
    assert "401" in done.stderr
