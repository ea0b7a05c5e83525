"""``followback log export``: the raw events of a range, exactly as they are on the topic."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from followback import sample
from shared.events import Event
from shared.settings import Settings
from tests.e2e.conftest import as_env
from tests.support import publish, publish_events

pytestmark = pytest.mark.integration


def export(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "followback", "log", "export", *args],
        env={**os.environ, **as_env(settings)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


async def test_export_writes_the_raw_bytes_of_the_events_in_the_range_and_account(
    settings: Settings, tmp_path: Path
) -> None:
    events = sample.generate(followers=300, accounts=("brand", "brand_eu"), seed=9)
    await publish_events(settings, [e.model_dump(mode="json") for e in events])
    # A record that is not an event: it has no event time, so no range holds it.
    await publish(settings, settings.topic("events"), [b'{"not": "an event"}'])
    since = events[0].occurred_at + timedelta(days=3)
    until = since + timedelta(days=4)
    wanted = [e for e in events if e.account_id == "brand_eu" and since <= e.occurred_at < until]
    assert 50 < len(wanted) < len(events) / 4

    path = tmp_path / "range.ndjson.gz"
    done = await asyncio.to_thread(
        export, settings, str(path), "--since", since.isoformat(), "--until", until.isoformat(),
        "--account", "brand_eu",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "file": str(path),
        "events": len(wanted),
        "read": len(events),
        "not_events": 1,
    }
    assert "1 record(s) of the topic are no event" in " ".join(done.stderr.split())
    with gzip.open(path, "rb") as handle:
        lines = handle.read().splitlines()
    # The bytes as produced (each follower's events in its partition's order, so in log order).
    assert sorted(lines) == sorted(e.model_dump_json().encode() for e in wanted)
    by_follower: dict[str, list[str]] = {}
    for line in lines:
        event = Event.model_validate_json(line)
        by_follower.setdefault(event.follower.id, []).append(event.event_id)
    for follower, ids in by_follower.items():
        assert ids == [e.event_id for e in wanted if e.follower.id == follower]
    assert await asyncio.to_thread(files, tmp_path) == [path]
    # The same range again: the same bytes (partition after partition, no time in the header).
    again = tmp_path / "again" / "range.ndjson.gz"
    again.parent.mkdir()
    done = await asyncio.to_thread(
        export, settings, str(again), "--since", since.isoformat(), "--until", until.isoformat(),
        "--account", "brand_eu",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert again.read_bytes() == path.read_bytes()


async def test_export_into_a_missing_directory_says_so_and_writes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    done = await asyncio.to_thread(export, settings, str(tmp_path / "nowhere" / "log.ndjson.gz"))
    assert done.returncode == 2
    assert "no such directory" in done.stderr
    assert await asyncio.to_thread(files, tmp_path) == []


async def test_export_that_cannot_be_written_says_so_and_leaves_what_was_there(
    settings: Settings, tmp_path: Path
) -> None:
    """A target the command cannot write (here: its temporary name is taken by a directory, which
    fails for root too): exit 1 and a message that names the file, not a traceback."""
    await publish_events(settings, [e.model_dump(mode="json") for e in sample.generate(followers=5, seed=3)])
    blocked = tmp_path / ".log.ndjson.gz.partial"
    blocked.mkdir()
    done = await asyncio.to_thread(export, settings, str(tmp_path / "log.ndjson.gz"))
    assert done.returncode == 1, done.stderr
    assert f"error: cannot write {tmp_path / 'log.ndjson.gz'}" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert await asyncio.to_thread(files, tmp_path) == [blocked]


async def test_an_export_of_a_range_no_event_falls_in_replays_as_such_not_as_damage(
    settings: Settings, tmp_path: Path
) -> None:
    """The export says its file holds no event, exit 0; its replay said the file "is not an event log
    (nor an export of events)" (helper-75), though the command had just written it. Nor is there a
    blank line on stderr, where the progress bar drew nothing (stderr is no terminal here)."""
    events = sample.generate(followers=5, seed=3)
    await publish_events(settings, [e.model_dump(mode="json") for e in events])
    path = tmp_path / "empty.ndjson.gz"
    since = (events[-1].occurred_at + timedelta(days=365)).isoformat()
    done = await asyncio.to_thread(export, settings, str(path), "--since", since)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["events"] == 0
    assert done.stderr.startswith("note: no event of the log matched: the file holds none"), done.stderr
    replayed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "followback", "replay", "--json", "--source", str(path)],
        env={**os.environ, **as_env(settings)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert replayed.returncode == 2
    assert " ".join(replayed.stderr.split()) == (
        f"error: {path} holds no record: nothing to replay (an export of a range or an account no event "
        "fell in, or no export at all)"
    )
