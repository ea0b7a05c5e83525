"""Replay: a recorded run reproduces exactly; a changed threshold shows exactly whom it changes."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from followback import eventlog, explain, replay, replay_workers, sample
from followback.eventlog import Record, Window
from followback.lag import stage_lag
from services.churn.app import create_app as churn_app
from services.churn.patterns import ChurnRules
from services.scorer.app import create_app as scorer_app
from services.scorer.app import rules_from
from services.scorer.scoring import config_label
from shared import accounts
from shared.accounts import AccountConfig
from shared.decisions import Decision, DecisionClass
from shared.events import Event, EventType, Interaction, InteractionKind
from shared.settings import Settings
from tests.e2e.conftest import as_env
from tests.support import eventually, publish_events
from tests.unit.test_replay_account import cross_account_churner

pytestmark = pytest.mark.integration
COFFEE = AccountConfig(topics=["coffee"])


async def live_run(
    settings: Settings,
    db: asyncpg.Connection,
    brands: tuple[str, ...] = ("brand",),
    followers: int = 200,
    events: list[Event] | None = None,
    config: AccountConfig | None = COFFEE,
    repeats: int = 0,
) -> list[Record]:
    """The sample stream (or ``events``) through the live churn detector and scorer, after saving
    ``config`` as brand's next configuration (None: none); returns the whole log as read back.
    ``repeats``: how many of the events have an id the detector processed already (it records
    nothing of those)."""
    if events is None:
        events = sample.generate(followers=followers, accounts=brands, seed=5)
    if config is not None:
        await accounts.save(db, "brand", config, "test")
    processed = await db.fetchval("SELECT count(*) FROM churn_processed")
    decided = await db.fetchval("SELECT count(*) FROM decisions")
    async with churn_app(settings).start_lifespan_context(), scorer_app(settings).start_lifespan_context():
        await publish_events(settings, [e.model_dump(mode="json") for e in events])
        await eventually(
            lambda: db.fetchval("SELECT count(*) FROM churn_processed"),
            lambda n: n == processed + len(events) - repeats,
            60,
        )
        await eventually(
            lambda: db.fetchval("SELECT count(*) FROM decisions"),
            lambda n: n - decided >= min(200, len(events) // 2),
            60,
        )
        await eventually(lambda: stage_lag(settings), lambda lag: lag["scorer"] == 0, 60)  # all decided
    return [record async for record in eventlog.from_kafka(settings)]


async def run_replay(
    settings: Settings,
    db: asyncpg.Connection,
    records: list[Record],
    window: Window,
    choice: int | str = replay.AS_RECORDED,
) -> replay.ReplayReport:
    """The single-process replay of parsed records (the reference)."""
    configs = await replay.brand_configs(db, window.account, choice)
    kept = await replay.kept_copies(db, replay.asked_copies(records))
    recorded, under = await replay.look_up(db, records, window, configs, kept)
    stood: dict[str, Decision] = {}
    read, in_window, decided = replay.recompute(
        records,
        window,
        rules_from(settings),
        configs.brands,
        ChurnRules.from_settings(settings.churn),
        under=under,
        stood=stood,
        kept=kept,
    )
    recorded = {event_id: recorded[event_id] for event_id in in_window if event_id in recorded}
    return replay.ReplayReport(
        events_read=read,
        events_in_window=len(in_window),
        decisions_recomputed=len(decided),
        decisions_recorded=len(recorded),
        differences=replay.arrived_out_of_order(
            replay.compare(in_window, decided, recorded, stood),
            records,
            range(len(records)),
            window,
            kept,
        ),
    )


async def test_replaying_a_recorded_run_finds_no_difference_and_a_new_threshold_finds_exactly_its_followers(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    records = await live_run(settings, db)
    middle = sorted(r.event.occurred_at for r in records)[len(records) // 2]
    whole, later = Window(), Window(since=middle)

    same = await run_replay(settings, db, records, whole)
    assert same.differences == []
    assert same.decisions_recomputed == same.decisions_recorded > 200
    assert (await run_replay(settings, db, records, later)).differences == []

    # The brand raises its high-value bar: exactly the high-value decisions scored below it change.
    rows = await db.fetch("SELECT event_ids[1] AS e, class, score::float8 AS s FROM decisions")
    expected = {r["e"] for r in rows if r["class"] == "high_value" and r["s"] < 85}
    await accounts.save(db, "brand", AccountConfig(topics=["coffee"], high_value_threshold=85), "test")
    assert (await run_replay(settings, db, records, whole)).differences == []  # as recorded: under v1
    stricter = await run_replay(settings, db, records, whole, replay.LATEST)
    assert expected
    changed = {d.event_id for d in stricter.differences if d.recorded and d.recorded[0] == "high_value"}
    assert changed == expected
    assert all(d.recomputed and d.recomputed[0] != DecisionClass.HIGH_VALUE for d in stricter.differences
               if d.event_id in expected)  # fmt: skip

    # The same replay from an exported file equals the replay from Kafka.
    path = tmp_path / "log.ndjson.gz"
    eventlog.write_export(records, path)
    from_file = await run_replay(settings, db, list(eventlog.from_file(path)), whole, replay.LATEST)
    assert from_file.summary() == stricter.summary()


async def sharded_replay(
    settings: Settings,
    db: asyncpg.Connection,
    window: Window,
    workers: int,
    source: Path | None = None,
    choice: int | str = replay.AS_RECORDED,
) -> replay.ReplayReport:
    """The command's path: raw events from Kafka (or a file) dealt to ``workers`` processes."""
    configs = await replay.brand_configs(db, window.account, choice)

    def run() -> replay.ReplayReport:
        # Spawned, not forked: this runs in a thread beside the test's event loop.
        with replay_workers.pool(workers, start_method="spawn") as processes:
            return replay_workers.replay_log(settings, window, configs, processes, source=source)[0]

    return await asyncio.to_thread(run)


def timeless(report: replay.ReplayReport) -> dict[str, object]:
    return {k: v for k, v in report.summary().items() if k not in ("events_per_s", "config", "warnings")}


async def test_a_replay_on_several_workers_reports_exactly_what_one_process_does(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    brands = ("brand", "brand_eu", "brand_us")  # cross-account churners among the followers
    records = await live_run(settings, db, brands, followers=400)
    middle = sorted(r.event.occurred_at for r in records)[len(records) // 2]
    windows = [Window(), Window(since=middle), Window(until=middle, account="brand_eu")]
    for window in windows:
        one = timeless(await run_replay(settings, db, records, window))
        assert one["differences"] == 0
        for workers in (1, 2, 3):
            assert timeless(await sharded_replay(settings, db, window, workers)) == one

    # Two brands raise their high-value bar: the same differences, in the same order.
    for brand in ("brand", "brand_us"):
        await accounts.save(db, brand, AccountConfig(topics=["coffee"], high_value_threshold=80), "test")
    for window in windows[:2]:
        one = timeless(await run_replay(settings, db, records, window, replay.LATEST))
        assert one["differences"] > 10
        for workers in (2, 3):
            assert timeless(await sharded_replay(settings, db, window, workers, choice=replay.LATEST)) == one

    path = tmp_path / "log.ndjson.gz"
    eventlog.write_export(records, path)
    assert timeless(await sharded_replay(settings, db, Window(), 2, path, replay.LATEST)) == timeless(
        await run_replay(settings, db, records, Window(), replay.LATEST)
    )

    # A file with the range alone: the replay says its relationships start the range as new.
    assert (await sharded_replay(settings, db, windows[1], 2)).warnings == []
    tail = tmp_path / "range.ndjson.gz"
    eventlog.write_export([r for r in records if r.event.occurred_at >= middle], tail)
    # (and which of its differences are of relationships older than the file: every one here)
    since, cut = (await sharded_replay(settings, db, windows[1], 2, tail)).warnings
    assert "no event before --since" in since
    assert "difference(s) are of relationships the churn detector processed events of before" in cut


async def replay_command(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """``followback replay ARGS`` in a process of its own, on the test's topics and database."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "followback", "replay", *args],
        env={**os.environ, **as_env(settings)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_one_followers_replay_reads_its_shard_and_finds_what_the_whole_replay_finds_for_it(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """``replay --follower``: the follower's decisions replay as recorded to zero differences, and
    under a stricter configuration to exactly the whole replay's differences of that follower,
    while only its shard of the log is parsed and folded."""
    records = await live_run(settings, db)
    await accounts.save(db, "brand", AccountConfig(topics=["coffee"], high_value_threshold=85), "test")
    whole = await run_replay(settings, db, records, Window(), replay.LATEST)
    changed = sorted({d.follower_id for d in whole.differences})
    assert changed
    same = next(r.event.follower.id for r in records if r.event.follower.id not in changed)
    for follower in (changed[0], same):
        window = Window(follower=follower)
        reference = await run_replay(settings, db, records, window, replay.LATEST)  # folds the whole log
        one = await sharded_replay(settings, db, window, 2, choice=replay.LATEST)
        assert one.differences == [d for d in whole.differences if d.follower_id == follower]
        assert one.differences == reference.differences
        counts = ("events_in_window", "decisions_recomputed", "decisions_recorded")
        assert [getattr(one, c) for c in counts] == [getattr(reference, c) for c in counts]
        assert one.decisions_recorded >= 1
        assert one.events_read < len(records) / 10
        as_recorded = await sharded_replay(settings, db, window, 2)
        assert (as_recorded.differences, as_recorded.decisions_recorded) == ([], one.decisions_recorded)

    # Its events alone, exported: the file replays that follower as the whole log does.
    path = tmp_path / "one.ndjson.gz"
    written, read, _ = await eventlog.export_range(settings, Window(follower=changed[0]), path)
    assert (written, read) == (sum(r.event.follower.id == changed[0] for r in records), len(records))
    from_file = await sharded_replay(settings, db, Window(follower=changed[0]), 2, path, replay.LATEST)
    assert from_file.differences == [d for d in whole.differences if d.follower_id == changed[0]]

    done = await replay_command(settings, "--follower", changed[0], "--config", "latest")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["differences"] == len([d for d in whole.differences if d.follower_id == changed[0]])
    assert {d["follower_id"] for d in result["changed"]} == {changed[0]}
    assert f"(the follower's shard of the {len(records)} in the log)" in " ".join(done.stdout.split())
    # Its rate is of the log read (the whole topic), not of the follower's few events.
    assert result["log_records_read"] == len(records)
    assert result["events_per_s"] > result["events_read"]


async def test_the_replay_command_reports_zero_differences_as_its_last_json_line(
    settings: Settings, db: asyncpg.Connection
) -> None:
    await live_run(settings, db)
    done = await replay_command(settings, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["differences"] == 0
    assert result["decisions_recomputed"] == result["decisions_recorded"] > 200


async def test_the_replay_command_stops_with_a_clear_error_on_a_damaged_export_and_warns_of_non_events(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    records = await live_run(settings, db, events=[r.event for r in cross_account_churner()])
    whole = tmp_path / "log.ndjson.gz"
    eventlog.write_export(records, whole)
    cut = tmp_path / "cut.ndjson.gz"
    cut.write_bytes(whole.read_bytes()[:-12])  # the end of the gzip stream is missing
    strays = tmp_path / "strays.ndjson"
    strays.write_bytes(b"not an event\n" + b"\n".join(r.raw for r in records) + b'\n{"event_id": 3}\n')

    broken = await replay_command(settings, "--json", "--source", str(cut))
    assert broken.returncode == 2
    assert f"{cut} is not a readable export" in " ".join(broken.stderr.split())
    mixed = await replay_command(settings, "--json", "--source", str(strays))
    assert mixed.returncode == 0, mixed.stderr
    result = json.loads(mixed.stdout.strip().splitlines()[-1])
    assert (result["events_read"], result["differences"]) == (len(records), 0)
    assert [w.split(" (")[0] for w in result["warnings"]] == [
        "2 record(s) of the log read are not events and were skipped"
    ]


async def test_a_recorded_decision_whose_event_the_log_read_lacks_is_a_difference(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """An export with an event taken out does not pass as a recorded run replayed to zero; an
    export of one account or one follower, or one written before some decisions were recorded,
    is not missing the rest."""
    records = await live_run(settings, db, brands=("brand", "brand_eu"), followers=60)
    decided = set(await db.fetchval("SELECT array_agg(DISTINCT event_ids[1]) FROM decisions"))
    # A decided event from the middle of the log, neither its first nor its last in event time.
    ordered = sorted(records, key=lambda r: r.event.occurred_at)
    taken = next(r for r in ordered[len(ordered) // 2 :] if r.event.event_id in decided)
    whole, holed = tmp_path / "whole.ndjson.gz", tmp_path / "holed.ndjson.gz"
    eventlog.write_export(records, whole)
    eventlog.write_export([r for r in records if r.event.event_id != taken.event.event_id], holed)

    assert (
        json.loads((await replay_command(settings, "--json", "--source", str(whole))).stdout)["differences"]
        == 0
    )
    done = await replay_command(settings, "--json", "--source", str(holed))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    missing = [d for d in result["changed"] if d["not_in_log"]]
    assert [(d["event_id"], d["recomputed"]) for d in missing] == [(taken.event.event_id, None)]
    assert any(
        w.startswith("1 recorded decision(s) rest on events the log read does not hold")
        for w in result["warnings"]
    )

    # Written before the decisions were recorded (its time says when): it is not missing them.
    os.utime(holed, (0, 0))
    earlier = await replay_command(settings, "--json", "--source", str(holed))
    assert not [d for d in json.loads(earlier.stdout.strip().splitlines()[-1])["changed"] if d["not_in_log"]]
    # One account's events, one follower's: replayed whole, nothing is missing from them.
    follower = taken.event.follower.id
    for name, part in {
        "brand_eu": [r for r in records if r.event.account_id == "brand_eu"],
        "follower": [r for r in records if r.event.follower.id == follower],
    }.items():
        path = tmp_path / f"{name}.ndjson.gz"
        eventlog.write_export(part, path)
        alone = json.loads((await replay_command(settings, "--json", "--source", str(path))).stdout)
        assert not [d for d in alone["changed"] if d["not_in_log"]], name


async def test_the_replay_command_refuses_what_is_no_event_log_or_no_range_and_names_what_is_missing(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    records = await live_run(settings, db, events=[r.event for r in cross_account_churner()])
    plain = b"".join(r.raw + b"\n" for r in records)
    cut, junk, empty = tmp_path / "cut.ndjson", tmp_path / "notes.txt", tmp_path / "empty.ndjson.gz"
    cut.write_bytes(plain[:-20])  # a plain export that breaks off inside its last record
    junk.write_bytes(b"# my notes\nnothing here is an event\n")
    empty.write_bytes(b"")
    refused = {
        f"{cut} is cut off or not NDJSON: its last line is not a whole JSON record": ("--source", str(cut)),
        f"{junk} is not an event log: none of its 2 records is an event": ("--source", str(junk)),
        # (one follower's replay parses its own shard alone: the rest is read for ids)
        f"{junk} is not an event log: none of its 2 records": ("--source", str(junk), "--follower", "4001"),
        f"{empty} holds no record: nothing to replay": ("--source", str(empty)),
        # In UTC, the next year 10000: a traceback from the database once the whole log was read, before.
        "is out of range: in UTC it falls outside the years 1-9999": ("--until", "9999-12-31T23:59:59-01:00"),
        "--workers 100000 is more than": ("--workers", "100000"),  # (it started them all, before)
        f"{tmp_path} is not a file": ("--source", str(tmp_path)),
        "is not before --until": ("--since", "2026-01-15T00:00:00Z", "--until", "2026-01-10T00:00:00Z"),
        "--config takes recorded, latest or a version number": ("--config", "\u00b2", "--account", "brand"),
    }
    for message, args in refused.items():
        done = await replay_command(settings, "--json", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in " ".join(done.stderr.replace("│", " ").split()), done.stderr  # (rich's box)
        assert not done.stdout.strip()
    # An account nobody follows: a warning that names it, as for a follower.
    nobody = await replay_command(settings, "--json", "--account", "no_such_brand")
    assert nobody.returncode == 0, nobody.stderr
    warnings = json.loads(nobody.stdout.strip().splitlines()[-1])["warnings"]
    assert "no event of account no_such_brand in the log read: check the id" in " ".join(warnings)
    # Ids as typed, never read as markup (a traceback before, or a bracketed part silently dropped).
    for typed in ("[/x]", "[bold]zz"):
        odd = await replay_command(settings, "--json", "--follower", typed)
        assert odd.returncode == 0, odd.stderr
        warnings = json.loads(odd.stdout.strip().splitlines()[-1])["warnings"]
        assert f"no event of follower {typed} in the log read" in " ".join(warnings)
        assert f"warning: no event of follower {typed} in" in " ".join(odd.stderr.split())
    # A broker that does not answer: a message, not a traceback.
    down = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"bootstrap_servers": "127.0.0.1:9"})}
    )
    unreachable = await replay_command(down, "--json")
    assert unreachable.returncode == 1
    assert "error: Kafka at 127.0.0.1:9 does not answer" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


async def test_replaying_one_account_counts_the_churn_on_the_others_as_the_live_detector_did(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """From the log, one account's replay counts the churn on the others; from an export of that
    account alone it cannot, and says why the churn reason changed."""
    records = await live_run(settings, db, events=[r.event for r in cross_account_churner()])
    recorded = await db.fetchrow("SELECT class, reasons::text FROM decisions WHERE event_ids[1] = 'e5'")
    assert recorded["class"] == DecisionClass.CHURNER.value
    assert "cross_account_churn" in recorded["reasons"]
    window = Window(account="brand")
    report = await run_replay(settings, db, records, window)
    assert (report.decisions_recomputed, report.decisions_recorded, report.differences) == (1, 1, [])
    assert not any("every event of the file is of account" in w for w in report.warnings)
    assert timeless(await sharded_replay(settings, db, window, 2)) == timeless(report)

    path = tmp_path / "brand.ndjson.gz"
    assert (await eventlog.export_range(settings, window, path))[0] == 1
    done = await replay_command(settings, "--json", "--account", "brand", "--source", str(path))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert [(d["event_id"], d["reasons_changed"]) for d in result["changed"]] == [("e5", ["churn"])]
    [warning] = [w for w in result["warnings"] if "every event of the file is of account brand" in w]
    assert "export without --account" in warning
    assert f"warning: {warning}" in " ".join(done.stderr.split())


async def test_a_run_across_a_configuration_change_replays_as_recorded_to_zero_differences(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """The live scorer decided the first half under v1 and the second under v2: replayed as
    recorded, each decision comes back under its own; replayed under the latest, the first half's
    followers change."""
    events = sorted(sample.generate(followers=200, seed=5), key=lambda e: e.occurred_at)
    half = len(events) // 2
    await live_run(settings, db, events=events[:half])
    records = await live_run(
        settings, db, events=events[half:], config=AccountConfig(topics=["coffee"], high_value_threshold=85)
    )
    labels = {r["config_version"] for r in await db.fetch("SELECT DISTINCT config_version FROM decisions")}
    assert {label.rsplit("/", 1)[1] for label in labels} == {"brand@v1", "brand@v2"}

    as_recorded = await run_replay(settings, db, records, Window())
    assert as_recorded.differences == []
    assert as_recorded.decisions_recomputed == as_recorded.decisions_recorded > 200
    assert timeless(await sharded_replay(settings, db, Window(), 2)) == timeless(as_recorded)

    latest = await run_replay(settings, db, records, Window(), replay.LATEST)
    first_half = {e.follower.id for e in events[:half]}
    assert latest.differences
    assert {d.follower_id for d in latest.differences} <= first_half  # the second half was v2 already

    # A version the account does not have: refused naming --config and the versions it has (helper-75).
    for args, said in {
        ("brand", "3"): "brand has no configuration version 3: its versions are 1 to 2",
        ("brand_eu", "1"): "brand_eu has no configuration version 1: it has none",
    }.items():
        done = await replay_command(settings, "--json", "--account", args[0], "--config", args[1])
        assert done.returncode == 2, done.stderr
        assert f"Invalid value for '--config': {said}" in " ".join(done.stderr.replace("│", " ").split())


def late_unfollowers(records: list[Record], longer: timedelta, recorded_churners: set[str]) -> set[str]:
    """The followers a quick-unfollow window of ``longer`` (instead of 7 days) makes churners: an
    unfollow more than 7 days but at most ``longer`` after the follow it ends (read off the log)."""
    follows: dict[tuple[str, str], object] = {}
    found = set()
    for record in sorted(records, key=lambda r: r.event.occurred_at):
        event = record.event
        key = (event.account_id, event.follower.id)
        if event.type is EventType.FOLLOW:
            follows.setdefault(key, event.occurred_at)
        elif event.type is EventType.UNFOLLOW and key in follows:
            dwell = event.occurred_at - follows.pop(key)  # type: ignore[operator]
            if timedelta(days=7) < dwell <= longer:
                found.add(event.follower.id)
    return found - recorded_churners


async def test_a_decision_names_the_live_churn_rules_and_a_replay_under_other_churn_rules_says_so(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """Every recorded decision names the churn rules the live detector folded under; replayed
    under a longer quick-unfollow window, the replay warns that the churn rules differ, and exactly
    the late unfollowers that window catches come back as churners."""
    records = await live_run(settings, db)
    live = ChurnRules.from_settings(settings.churn)
    brand = await accounts.at_version(db, "brand", 1)
    labels = {r["config_version"] for r in await db.fetch("SELECT DISTINCT config_version FROM decisions")}
    assert labels == {config_label(rules_from(settings), brand, live.fingerprint)}
    assert (await sharded_replay(settings, db, Window(), 2)).warnings == []

    longer = timedelta(days=60)
    churn = settings.churn.model_copy(update={"quick_unfollow_window_s": longer.total_seconds()})
    other = settings.model_copy(update={"churn": churn})
    report = await sharded_replay(other, db, Window(), 2)
    [warning] = [w for w in report.warnings if "recorded decision(s)" in w]
    assert warning.endswith("(other churn rules: FOLLOWBACK_CHURN__*)")
    assert f"+churn:{live.fingerprint};" in warning
    assert f"+churn:{ChurnRules.from_settings(churn).fingerprint} (" in warning
    churners = {
        r["follower_id"] for r in await db.fetch("SELECT follower_id FROM decisions WHERE class = 'churner'")
    }
    expected = late_unfollowers(records, longer, churners)
    assert expected  # the sample has late unfollowers (7 days and more)
    assert {d.follower_id for d in report.differences} == expected
    assert all(d.recomputed is not None and d.recomputed[0] == "churner" for d in report.differences)


def like_of(follow: Event, event_id: str, earlier: timedelta = timedelta(0)) -> Event:
    """A like by ``follow``'s follower of its brand, ``earlier`` than the follow."""
    return follow.model_copy(
        update={
            "event_id": event_id,
            "type": EventType.INTERACTION,
            "interaction": Interaction(kind=InteractionKind.LIKE, text="great beans"),
            "occurred_at": follow.occurred_at - earlier,
        }
    )


async def test_a_like_logged_before_its_follow_in_the_same_second_replays_as_the_detector_ordered_it(
    settings: Settings, db: asyncpg.Connection
) -> None:
    follow = cross_account_churner()[-1].event  # a follow of brand
    like = like_of(follow, "like-1")
    records = await live_run(settings, db, events=[like, follow])
    report = await run_replay(settings, db, records, Window())
    assert [(d.event_id, d.recorded, d.recomputed) for d in report.differences] == []
    assert report.decisions_recorded == report.decisions_recomputed >= 1


async def test_a_like_from_before_the_follow_delivered_after_it_decides_what_event_time_does(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A like a minute before the follow, delivered after the follow was decided: the like's own
    annotation is of a stranger (not following yet), and it must not make the follower withdrawn
    (it did: a push would have been retracted). The detector revises the follow's annotation (one
    interaction more) and the scorer decides that revision again, so the live outcome is what
    event time decides, and replay finds no difference."""
    follow = cross_account_churner()[-1].event  # a follow of brand
    like = like_of(follow, "like-before", timedelta(minutes=1))
    await live_run(settings, db, events=[follow])
    records = await live_run(settings, db, events=[like], config=None)
    rows = await db.fetch("SELECT version, class, event_ids, revision FROM decisions ORDER BY version")
    assert [(r["class"], list(r["event_ids"]), r["revision"]) for r in rows] == [
        ("worth_following", [follow.event_id], 0),
        ("high_value", [follow.event_id], 1),  # the revised follow: the like's engagement counts
    ]
    assert [tuple(r) for r in await db.fetch("SELECT event_id, revision FROM scorer_unchanged")] == [
        ("like-before", 0)
    ]
    found = await explain.trail(db, "brand", follow.follower.id)  # the trail tells the two apart
    assert [(d["class"], d["revision"]) for d in found["decisions"]] == [
        ("worth_following", 0),
        ("high_value", 1),
    ]
    report = await run_replay(settings, db, records, Window())
    assert report.differences == []
    assert (report.decisions_recomputed, report.decisions_recorded) == (1, 1)
    assert timeless(await sharded_replay(settings, db, Window(), 2)) == timeless(report)


async def test_a_duplicate_follow_of_the_unfollows_second_delivered_after_it_records_nothing_on_top(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A follow, the platform's duplicate of it under another id, and an unfollow, all in one
    second; the duplicate is delivered after the unfollow was decided. In the detector's order it
    comes before the unfollow (a follow before an unfollow of the same second), and it changes
    nothing the unfollow's annotation says, so nothing revises the unfollow: the scorer must not
    record a version on the duplicate on top (it did, leaving a follower who left as following)."""
    follow = cross_account_churner()[-1].event  # a follow of brand
    unfollow = follow.model_copy(update={"event_id": "unfollow-same-second", "type": EventType.UNFOLLOW})
    again = follow.model_copy(update={"event_id": "follow-again-same-second"})
    await live_run(settings, db, events=[follow, unfollow])
    records = await live_run(settings, db, events=[again], config=None)
    rows = await db.fetch("SELECT class, event_ids, event_type FROM decisions ORDER BY version")
    assert [(r["event_ids"][0], r["event_type"]) for r in rows] == [
        (follow.event_id, "follow"),
        ("unfollow-same-second", "unfollow"),
    ]
    assert rows[-1]["class"] in {DecisionClass.WITHDRAWN.value, DecisionClass.CHURNER.value}
    report = await run_replay(settings, db, records, Window())
    assert report.differences == []
    assert timeless(await sharded_replay(settings, db, Window(), 2)) == timeless(report)


async def test_an_older_profile_snapshot_delivered_after_a_newer_one_that_scored_the_same_records_nothing(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A follow, then two duplicates of it with the profile as it was at each: a large audience ten
    minutes in, the first audience again twenty minutes in. The twenty-minute one is delivered
    first and scores as the follow did (no version, but the relationship's latest version now
    stands for it: ``scorer_positions``); the ten-minute one, delivered last, is older and must not
    decide on top (it did: the stale large audience became the latest decision)."""
    follow = cross_account_churner()[-1].event  # a follow of brand

    def snapshot(event_id: str, minutes: int, audience: int) -> Event:
        profile = follow.follower.model_copy(update={"followers_count": audience})
        at = follow.occurred_at + timedelta(minutes=minutes)
        return follow.model_copy(update={"event_id": event_id, "occurred_at": at, "follower": profile})

    large, small_again = snapshot("large-10min", 10, 2_000_000), snapshot("small-20min", 20, 0)
    first = follow.model_copy(update={"follower": small_again.follower})
    await live_run(settings, db, events=[first, small_again])
    records = await live_run(settings, db, events=[large], config=None)
    rows = await db.fetch("SELECT event_ids, class, score::float8 AS score FROM decisions ORDER BY version")
    assert [r["event_ids"][0] for r in rows] == [first.event_id]
    position = await db.fetchrow("SELECT event_id, event_type FROM scorer_positions")
    assert tuple(position) == ("small-20min", "follow")
    # In event time the relationship ends where it was recorded: the newest snapshot's decision.
    configs = await replay.brand_configs(db, None, replay.LATEST)
    churn_rules = ChurnRules.from_settings(settings.churn)

    def recomputed(log: list[Record]) -> dict[str, Decision]:
        return replay.recompute(log, Window(), rules_from(settings), configs.brands, churn_rules)[2]

    latest = recomputed(records)[small_again.event_id]
    assert (latest.decision_class.value, latest.score) == (rows[0]["class"], rows[0]["score"])
    # The large audience does score otherwise: without the newer snapshot, it records a version.
    without_newer = [r for r in records if r.event.event_id != small_again.event_id]
    assert recomputed(without_newer)[large.event_id].score != rows[0]["score"]
    # Replay decides each event in event time: the versions on the way rest on other events than
    # the live ones, and the report says their events arrived out of order.
    report = await run_replay(settings, db, records, Window())
    assert {d.event_id for d in report.differences} == {large.event_id, small_again.event_id}
    assert all(d.arrived_out_of_order for d in report.differences)


async def test_an_event_that_decided_nothing_replays_under_the_configuration_it_was_scored_under(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A stranger's like under v1 decided nothing; the brand then blocked them (v2), and their
    follow was harmful. Replayed as recorded, the like is a stranger's like under v1 again, not a
    blocked account's under the newest configuration."""
    follow = cross_account_churner()[-1].event  # a follow of brand
    like = like_of(follow, "like-first", timedelta(days=1))
    await live_run(settings, db, events=[like], config=COFFEE)
    assert await db.fetchval("SELECT count(*) FROM decisions") == 0
    blocked = AccountConfig(topics=["coffee"], blocked_accounts=[follow.follower.id])
    records = await live_run(settings, db, events=[follow], config=blocked)
    assert await db.fetchval("SELECT class FROM decisions") == DecisionClass.HARMFUL.value

    report = await run_replay(settings, db, records, Window())
    assert [(d.event_id, d.recorded, d.recomputed) for d in report.differences] == []
    assert timeless(await sharded_replay(settings, db, Window(), 2)) == timeless(report)
    latest = await run_replay(settings, db, records, Window(), replay.LATEST)
    assert [(d.event_id, d.recorded) for d in latest.differences][:1] == [("like-first", None)]


def shuffled_followers(seed: int, followers: int = 150) -> tuple[list[Event], set[str]]:
    """Followers who follow, like a few times and sometimes unfollow within half an hour; every
    other follower's events arrive in a random order (all within the detector's grace period).
    Returns the stream and the followers whose events arrived out of order."""
    rng = random.Random(seed)
    follows = [e for e in sample.generate(followers=followers * 2, seed=5) if e.type is EventType.FOLLOW]
    stream, shuffled = [], set()
    for n, follow in enumerate(follows[:followers]):
        events = [follow]
        for k in range(rng.randint(1, 3)):
            events.append(follow.model_copy(update={
                "event_id": f"{follow.event_id}-like{k}", "type": EventType.INTERACTION,
                "occurred_at": follow.occurred_at + timedelta(minutes=5 * (k + 1)),
                "interaction": Interaction(kind=InteractionKind.LIKE, text="nice"),
            }))  # fmt: skip
        if rng.random() < 0.4:
            events.append(follow.model_copy(update={
                "event_id": f"{follow.event_id}-unfollow", "type": EventType.UNFOLLOW,
                "occurred_at": follow.occurred_at + timedelta(minutes=30),
            }))  # fmt: skip
        if n % 2:
            rng.shuffle(events)
            if [e.occurred_at for e in events] != sorted(e.occurred_at for e in events):
                shuffled.add(follow.follower.id)
        stream += events
    return stream, shuffled


async def test_followers_whose_events_arrived_in_order_replay_exactly_beside_others_that_did_not(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """The live scorer decides in arrival order (a revised annotation is decided when it arrives),
    replay in event time. A relationship whose events all arrived in order replays with no
    difference, whatever arrived out of order around it; one whose events arrived shuffled may
    record a version on another of its events than replay (README: Auditing, How replay works), and the
    report marks it so. (How many do depends on how the live services batched the shuffled
    events: seeds 1-6 gave 1, 1, 2, 4, 3 and 0 differences, of 0-2 followers of about 60, since a
    revised annotation of a decided event is decided again and an older event no longer records a
    version; 4, 5, 2, 3, 4, 2 before that, and 9 when no revision was decided.)"""
    stream, shuffled = shuffled_followers(seed=2)
    records = await live_run(settings, db, events=stream)
    revised = await db.fetchval(
        "SELECT count(*) FROM churn_processed WHERE (annotated->'relationship'->>'revision')::int > 0"
    )
    assert revised > 50  # the detector did revise, for many followers
    assert len(shuffled) > 50
    report = await run_replay(settings, db, records, Window())
    assert report.decisions_recorded > 400
    assert {d.follower_id for d in report.differences} <= shuffled
    assert all(d.arrived_out_of_order for d in report.differences)  # and the report says why
    sharded = await sharded_replay(settings, db, Window(), 2)
    assert timeless(sharded) == timeless(report)
    assert [w for w in sharded.warnings if "out of event-time order" in w] == (
        [f"{len(report.differences)} difference(s) are of followers whose events reached the log out of "
         "event-time order: the live scorer decided those in arrival order, replay in event time"]
        if report.differences else []
    )  # fmt: skip


async def test_an_id_reused_by_another_follower_replays_the_copy_the_detector_kept(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """One event id under two followers: follower 222's follow of b2 arrives first and is decided;
    follower 111's follow of b1, an hour earlier in event time, arrives later under the same id
    and the detector skips it (it keeps the first copy to arrive). The log cannot tell which
    arrived first (two partitions); the detector's record can, and replay folds that copy: no
    difference, from Kafka on two workers and from an export (replay guessed the earlier copy
    before, and reported 222's decision as 111's)."""
    follow = cross_account_churner()[-1].event

    def follow_of(event_id: str, follower: str, account: str, hour: int) -> Event:
        profile = follow.follower.model_copy(update={"id": follower, "screen_name": f"u{follower}"})
        at = follow.occurred_at.replace(hour=hour)
        return follow.model_copy(
            update={"event_id": event_id, "follower": profile, "account_id": account, "occurred_at": at}
        )

    await live_run(settings, db, events=[follow_of("X1", "222", "b2", 11)], config=None)
    later = [
        follow_of("X1", "111", "b1", 10),
        follow_of("X2", "111", "b1", 12),
        follow_of("X3", "333", "b2", 13),
    ]
    records = await live_run(settings, db, events=later, config=None, repeats=1)
    processed = await db.fetch("SELECT event_id, follower_id FROM churn_processed ORDER BY event_id")
    assert [tuple(r) for r in processed] == [("X1", "222"), ("X2", "111"), ("X3", "333")]
    assert await db.fetchval("SELECT follower_id FROM decisions WHERE event_ids[1] = 'X1'") == "222"

    report = await run_replay(settings, db, records, Window())
    assert [(d.event_id, d.follower_id, d.recorded, d.recomputed) for d in report.differences] == []
    assert report.decisions_recorded == report.decisions_recomputed == 3  # X1 (222's), X2 and X3
    export = tmp_path / "log.ndjson.gz"
    eventlog.write_export(records, export)
    for source in (None, export):
        sharded = await sharded_replay(settings, db, Window(), 2, source)
        assert timeless(sharded) == timeless(report)
        assert [w for w in sharded.warnings if "more than one follower" in w] == []
    # 111's events alone: its copy of X1 was a repeat live (222's arrived first), and is here.
    alone = tmp_path / "111.ndjson.gz"
    eventlog.write_export([r for r in records if r.event.follower.id == "111"], alone)
    one = await sharded_replay(settings, db, Window(), 1, alone)
    assert (one.differences, one.decisions_recomputed, one.decisions_recorded) == ([], 1, 1)  # X2
    # 222's copy taken out of a file that holds 111's: 222's decision rests on an event it lacks.
    holed = tmp_path / "holed.ndjson.gz"
    eventlog.write_export([r for r in records if r.event.follower.id != "222"], holed)
    lacking = await sharded_replay(settings, db, Window(), 2, holed)
    assert [(d.event_id, d.follower_id, d.recomputed, d.not_in_log) for d in lacking.differences] == [
        ("X1", "222", None, True)
    ]
    # Without the detector's record of X1, replay guesses the earlier copy, 111's, and says so;
    # each follower's side of the mismatch is a difference of its own.
    await db.execute("DELETE FROM churn_processed WHERE event_id = 'X1'")
    guessed = await sharded_replay(settings, db, Window(), 2)
    assert [(d.event_id, d.follower_id, d.recorded is None) for d in guessed.differences] == [
        ("X1", "111", True),  # in the order of each one's copy in event time
        ("X1", "222", False),
    ]
    assert [w for w in guessed.warnings if "more than one follower" in w] == [
        "1 event id(s) are each under more than one follower, and the churn detector's record "
        "(churn_processed) does not say whose copy it processed (it keeps the first to arrive, which "
        "the log cannot tell): replay folded the copy earliest in event time"
    ]


async def test_a_followers_id_repeated_on_another_account_or_at_another_time_replays_from_part_of_the_log(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """helper-34's reproduction. Follower 701 replies to b2 at 11:00 under id qX; a copy of qX
    arrives later as an unfollow of b1 at 11:30. Follower 702 replies to b1 at 14:00 under rX; a copy
    arrives later as an unfollow of b1 at 12:00. Live, the detector folds each first copy and skips
    the repeat. An export of b1 alone holds 701's repeat and not its first copy, and an export up to
    13:00 holds 702's repeat and not its first copy: replay folded the repeats (a churner
    recomputed on b1, a decision of b2 compared with it, no warning) because the kept copy was
    known by its follower alone. Now it is known by its account and time too: 0 differences; and a
    file that holds the repeat but lacks the kept copy on the same account and span says so
    (``not_in_log``) instead of dropping the recorded decision without a word."""
    template = cross_account_churner()[-1].event
    day = template.occurred_at.replace(hour=0, minute=0, second=0, microsecond=0)

    def event_of(event_id: str, follower: str, account: str, kind: str, hour: float) -> Event:
        profile = template.follower.model_copy(update={"id": follower, "screen_name": f"u{follower}"})
        body = {
            **template.model_dump(mode="json"),
            "event_id": event_id,
            "type": kind,
            "account_id": account,
            "follower": profile.model_dump(mode="json"),
            "occurred_at": (day + timedelta(hours=hour)).isoformat(),
            "interaction": {"kind": "reply", "text": "@brand hi"} if kind == "interaction" else None,
        }
        return Event.model_validate(body)

    first = [
        event_of("q1", "701", "b1", "follow", 10),
        event_of("q2", "701", "b2", "follow", 10),
        event_of("qX", "701", "b2", "interaction", 11),
        event_of("r1", "702", "b1", "follow", 10),
        event_of("rX", "702", "b1", "interaction", 14),
    ]
    await live_run(settings, db, events=first, config=None)
    repeats = [event_of("qX", "701", "b1", "unfollow", 11.5), event_of("rX", "702", "b1", "unfollow", 12)]
    records = await live_run(settings, db, events=repeats, config=None, repeats=2)
    kept = await db.fetch(
        "SELECT event_id, account_id, occurred_at FROM churn_processed WHERE event_id LIKE '_X'"
    )
    assert {(r["event_id"], r["account_id"], r["occurred_at"].hour) for r in kept} == {
        ("qX", "b2", 11),
        ("rX", "b1", 14),
    }
    whole = await run_replay(settings, db, records, Window())
    assert whole.differences == []

    def export(name: str, keep: Callable[[Event], bool]) -> Path:
        path = tmp_path / name
        eventlog.write_export([r for r in records if keep(r.event)], path)
        return path

    b1 = export("b1.ndjson.gz", lambda e: e.account_id == "b1")
    until = day + timedelta(hours=13)
    upto = export("upto13.ndjson.gz", lambda e: e.occurred_at < until)
    for source, window in (
        (b1, Window(account="b1")),
        (b1, Window(follower="701")),
        (upto, Window()),
        (upto, Window(since=day + timedelta(hours=11), until=until)),
    ):
        found = await sharded_replay(settings, db, window, 2, source)
        assert [(d.event_id, d.account_id, d.follower_id) for d in found.differences] == [], (source, window)
    # The repeat of qX on b2 itself, at 11:30, without the kept copy: qX's decision rests on an
    # event the file lacks.
    moved = [
        r.event.model_copy(update={"account_id": "b2"}) if r.event.event_id == "qX" else r.event
        for r in records
    ]
    holed = tmp_path / "holed.ndjson.gz"
    eventlog.write_export(
        [
            Record(e, e.model_dump_json().encode())
            for e in moved
            if not (e.event_id == "qX" and e.type == "interaction")
        ],
        holed,
    )
    lacking = await sharded_replay(settings, db, Window(), 2, holed)
    assert [(d.event_id, d.account_id, d.follower_id, d.not_in_log) for d in lacking.differences] == [
        ("qX", "b2", "701", True)
    ]


async def test_a_log_whose_start_was_cut_marks_the_differences_of_relationships_older_than_it(
    settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """An export from a time, replayed without --since (helper-35: 20 differences and no warning):
    the relationships with events before the file's start begin as new in replay, and each of
    their differences says so (``history_cut``, from the detector's record of the events it
    processed), with a warning; exactly those, and none in a replay of the whole log."""
    records = await live_run(settings, db, followers=150)
    times = sorted(r.event.occurred_at for r in records)
    start = times[len(times) // 2]
    cut = tmp_path / "from-the-middle.ndjson.gz"
    eventlog.write_export([r for r in records if r.event.occurred_at >= start], cut)
    report = await sharded_replay(settings, db, Window(), 2, cut)
    older = {(r.event.account_id, r.event.follower.id) for r in records if r.event.occurred_at < start}
    assert report.differences, "a cut that changes nothing tests nothing"
    for d in report.differences:
        assert d.history_cut == ((d.account_id, d.follower_id) in older), d
    assert [d for d in report.differences if not (d.history_cut or d.arrived_out_of_order)] == []
    flagged = sum(d.history_cut for d in report.differences)
    assert [w for w in report.warnings if "the log's start was cut" in w] == [
        f"{flagged} difference(s) are of relationships the churn detector processed events of before "
        "their first in the log read (the log's start was cut: an export from a time, or the topic's "
        "retention; or, on a live topic, an earlier event arrived after the read began): replay "
        "started them as new there; to replay them as they were, replay a log that "
        "holds their whole history (export without --since, and give --since to replay instead)"
    ]
    whole = await sharded_replay(settings, db, Window(), 2)
    assert [d for d in whole.differences if d.history_cut] == []
    assert [w for w in whole.warnings if "the log's start was cut" in w] == []
