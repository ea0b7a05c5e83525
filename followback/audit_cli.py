"""``followback log export`` and ``followback replay``: the event log for auditors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from followback import eventlog, replay
from followback.eventlog import Window
from followback.reached import database_reached, kafka_reached, load_settings
from shared import gc_tuning
from shared.lag import MissingTopicError

TABLE_ROWS = 100  # differences printed as a table; the JSON line lists more
log_app = typer.Typer(no_args_is_help=True, help="The raw event log (the system of record).")
# What the commands print holds what followers wrote and what the auditor typed: never read as
# markup or emoji codes ("[/b]", ":fire:"). Tables escape their cells; JSON goes out as it is.
console = Console(emoji=False)
err = Console(stderr=True, markup=False, emoji=False, highlight=False)


def _json_value(value: Any) -> Any:
    """A value JSON has no type for: a time as ISO 8601 (UTC as ``Z``), as the events, annotations
    and reasons inside the line write theirs (``str`` wrote ``2026-01-13 21:02:47+00:00`` beside
    them); anything else as its text."""
    if isinstance(value, datetime | date):
        text = value.isoformat()
        return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
    return str(value)


def _json_line(value: Any) -> None:
    """The JSON line a command ends with, printed exactly (no markup, no wrapping)."""
    typer.echo(json.dumps(value, default=_json_value))


def _progress() -> Progress:
    """The progress bars, on a terminal only: on anything else (a log file, a pipe, a test) they
    drew nothing and left a blank line on stderr when they stopped."""
    return Progress(console=err, transient=True, disable=not err.is_terminal)


Since = Annotated[datetime | None, typer.Option(help="Event time from (inclusive), RFC 3339.")]
Until = Annotated[datetime | None, typer.Option(help="Event time until (exclusive), RFC 3339.")]
Account = Annotated[str | None, typer.Option(help="Only this brand account.")]
Follower = Annotated[
    str | None, typer.Option(help="Only this follower (its relationships with every account).")
]


def _aware(value: datetime | None, option: str) -> datetime | None:
    """A time with its offset, within Python's dates in UTC; else refused naming ``option`` (it
    said "Invalid value: give an offset", which left the auditor to guess which of the two times)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise typer.BadParameter(
            f"{value.isoformat()} has no offset: give one, e.g. 2026-01-05T00:00:00Z",
            param_hint=f"'{option}'",
        )
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise typer.BadParameter(
            f"{value} is out of range: in UTC it falls outside the years 1-9999", param_hint=f"'{option}'"
        ) from None
    return value


def _window(
    since: datetime | None, until: datetime | None, account: str | None, follower: str | None
) -> Window:
    window = Window(_aware(since, "--since"), _aware(until, "--until"), account, follower)
    if window.since is not None and window.until is not None and window.since >= window.until:
        raise typer.BadParameter(f"--since {since} is not before --until {until}: the range holds nothing")
    return window


@contextmanager
def _topic_exists() -> Iterator[None]:
    """A topic that does not exist (no service ran with this prefix yet, or a mistyped
    FOLLOWBACK_KAFKA__TOPIC_PREFIX): said in one line, exit 1 (an export or a replay of it read an
    empty log and said so, exit 0)."""
    try:
        yield
    except MissingTopicError as missing:
        err.print(f"error: {missing} (check FOLLOWBACK_KAFKA__TOPIC_PREFIX; the services create it)")
        raise typer.Exit(1) from None


@log_app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="Where to write (gzip-compressed NDJSON)")],
    since: Since = None,
    until: Until = None,
    account: Account = None,
    follower: Follower = None,
) -> None:
    """Write the raw events of an event-time range to compressed NDJSON."""
    window = _window(since, until, account, follower)
    try:  # (before the log is read: what the export would be written to)
        eventlog.export_target(file)
    except eventlog.ExportTargetError as refused:
        raise typer.BadParameter(str(refused), param_hint="FILE") from None
    settings = load_settings()

    async def run() -> tuple[int, int, int]:
        with _progress() as progress:
            task = progress.add_task("exporting the event log", total=None)
            return await eventlog.export_range(
                settings,
                window,
                file,
                lambda n: progress.update(task, total=n),
                lambda n: progress.advance(task, n),
            )

    with kafka_reached(settings), _topic_exists():
        try:
            written, read, not_events = asyncio.run(run())
        except OSError as unwritable:  # (the broker's errors are not OSErrors: see kafka_reached)
            err.print(f"error: cannot write {file}: {unwritable}")
            raise typer.Exit(1) from None
    if not_events:  # (replay warns of them too: an auditor should not have to find them there)
        err.print(
            f"note: {not_events} record(s) of the topic are no event (they went to the dead-letter topic "
            "when they arrived): left out of the file"
        )
    if not written:
        err.print("note: no event of the log matched: the file holds none")
    elif since is not None or account is not None:
        err.print(
            "note: the file holds the range alone, so a replay of it starts every relationship as new"
            + (" at --since" if since is not None else "")
            + (" and counts no churn on other accounts" if account is not None else "")
            + "; to replay the range as it was, export without --since and --account (up to --until) "
            "and give them to replay instead"
        )
    elif follower is not None:
        err.print(
            f"note: the file holds {follower}'s events alone: a replay of it decides {follower} as a "
            "replay of the whole log does (unless another follower used one of its event ids first)"
        )
    _json_line({"file": str(file), "events": written, "read": read, "not_events": not_events})


def _config_choice(config: str, account: str | None) -> int | str:
    if config in (replay.AS_RECORDED, replay.LATEST):
        return config
    if not (config.isascii() and config.isdigit()):
        raise typer.BadParameter(
            f"--config takes recorded, latest or a version number, not {config!r}", param_hint="'--config'"
        )
    if account is None:
        raise typer.BadParameter("--config with a version number needs --account", param_hint="'--config'")
    return int(config)


def replay_command(
    since: Since = None,
    until: Until = None,
    account: Account = None,
    follower: Annotated[
        str | None,
        typer.Option(
            help="Only this follower's decisions: its relationships are folded with the few others that "
            "share its shard of the log, not the whole log (exact, and fast)"
        ),
    ] = None,
    source: Annotated[str, typer.Option(help="kafka, or an exported file")] = "kafka",
    config: Annotated[
        str,
        typer.Option(
            help="The brand configurations to decide with: 'recorded' (each decision's own), 'latest', "
            "or a version number of --account's"
        ),
    ] = replay.AS_RECORDED,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes (default: FOLLOWBACK_REPLAY__WORKERS, else one per CPU; 1: in process)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Recompute the decisions of a range without writing or notifying; report what differs."""
    from followback import replay_workers

    settings = load_settings()
    window = _window(since, until, account, follower)
    choice = _config_choice(config, account)
    path = None if source == "kafka" else Path(source)
    if path is not None and not path.exists():
        raise typer.BadParameter(
            f"no such file: {path} (give kafka, or an exported file)", param_hint="'--source'"
        )
    if path is not None and not path.is_file():
        raise typer.BadParameter(
            f"{path} is not a file: give an exported file, or kafka", param_hint="'--source'"
        )

    try:  # one follower's shard is one task: in this process, unless --workers asks for a pool
        count = (
            1 if follower is not None and workers is None else replay_workers.worker_count(settings, workers)
        )
    except replay_workers.TooManyWorkersError as many:
        raise typer.BadParameter(str(many)) from None
    try:
        with database_reached(settings):  # (the first statement: later ones find it reached)
            configs = asyncio.run(
                replay.brand_configs_at(settings.postgres.dsn.get_secret_value(), account, choice)
            )
    except LookupError as missing:
        raise typer.BadParameter(str(missing), param_hint="'--config'") from None
    gc_tuning.tune(settings.gc_threshold)  # this process reads and deals; the pool tunes its workers
    # The workers start first: a process must not fork once the progress bar's thread runs.
    with (
        kafka_reached(settings),
        _topic_exists(),
        replay_workers.pool(count, settings.gc_threshold) as processes,
        _progress() as bar,
    ):
        reading = bar.add_task("reading events", total=None)
        replaying = bar.add_task("replaying", total=None, visible=False)

        def replayed(done: int, total: int) -> None:
            bar.update(replaying, completed=done, total=total, visible=True)

        try:
            report, run = replay_workers.replay_log(
                settings,
                window,
                configs,
                processes,
                source=path,
                progress=replay_workers.Progress(
                    lambda n: bar.update(reading, total=n), lambda n: bar.advance(reading, n), replayed
                ),
            )
        except eventlog.UnreadableExportError as broken:
            bar.stop()
            err.print(f"error: {broken}")
            raise typer.Exit(2) from None
    if path is not None and not run.dealt:
        # (log export writes such a file for a range no event fell in, and says so: it is no damage)
        err.print(
            f"error: {path} holds no record: nothing to replay (an export of a range or an account no event "
            "fell in, or no export at all)"
        )
        raise typer.Exit(2)
    if path is not None and not run.any_event:
        err.print(f"error: {path} is not an event log: none of its {run.dealt} records is an event")
        raise typer.Exit(2)
    summary = report.summary()
    if follower is not None:  # the read of the whole log dominates: its rate, not the shard's
        summary["log_records_read"] = run.dealt
        summary["events_per_s"] = round(run.dealt / report.seconds) if report.seconds else 0
    for warning in report.warnings:
        err.print(f"warning: {warning}")
    if not as_json:
        table = Table(title=f"replay: {(report.differences and len(report.differences)) or 0} difference(s)")
        for column in (
            "follower",
            "event",
            "recorded",
            "recomputed",
            "reasons changed",
            "arrived out of order",
            "history cut",
            "erased",
        ):
            table.add_column(column, overflow="fold")  # ids wrap, never cut, however narrow
        for diff in report.differences[:TABLE_ROWS]:
            table.add_row(
                *(
                    Text(cell)
                    for cell in (
                        f"{diff.account_id}/{diff.follower_id}",
                        diff.event_id,
                        f"{diff.recorded[0]} {diff.recorded[1]}" if diff.recorded else "-",
                        _recomputed(diff),
                        ", ".join(diff.reasons_changed),
                        "yes" if diff.arrived_out_of_order else "",
                        "yes" if diff.history_cut else "",
                        "yes" if diff.erased else "",
                    )
                )
            )
        console.print(table)
        if len(report.differences) > TABLE_ROWS:
            console.print(
                f"... and {len(report.differences) - TABLE_ROWS} more: --json lists the first "
                f"{replay.MAX_LISTED:,} (its count is of them all)"
            )
        console.print(
            f"{report.events_read} events read"
            + (f" (the follower's shard of the {run.dealt} in the log)" if follower is not None else "")
            + (f" ({report.deletions_skipped} deletions, skipped)" if report.deletions_skipped else "")
            + f", {report.events_in_window} in the window, "
            f"{report.decisions_recomputed} decisions recomputed, {report.decisions_recorded} recorded, "
            f"{len(report.differences)} different (configurations: {report.config})"
            + f"; {summary['events_per_s']:,} events/s"
            + (" of the log read" if follower is not None else ""),
            markup=False,
        )
    _json_line(summary)


def _recomputed(diff: replay.Difference) -> str:
    """A difference's recomputed side, as the table shows it."""
    if diff.recomputed is None:
        return "- (no event in the log)" if diff.not_in_log else "-"
    cls, score = diff.recomputed
    return f"{cls} {score}" + (" (stands: no new version)" if diff.stands else "")


def explain_command(
    account: Annotated[str, typer.Argument(help="The brand account")],
    follower: Annotated[str, typer.Argument(help="The follower's id")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of tables.")] = False,
) -> None:
    """The whole trail of one relationship: events, churn annotations and alerts, decisions, pushes,
    reviews, preferences, actions."""
    from followback.explain import accounts_of, nothing_held, render, trail

    settings = load_settings()

    async def go() -> tuple[dict[str, Any], list[str]]:
        conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        try:
            found = await trail(conn, account, follower)
            held = any(found[section] for section in ("events", "decisions"))
            return found, [] if held else await accounts_of(conn, follower)
        finally:
            await conn.close()

    with database_reached(settings):
        found, elsewhere = asyncio.run(go())
    if not any(found[section] for section in ("events", "decisions")):
        err.print(f"error: {nothing_held(account, follower, elsewhere)}")
        raise typer.Exit(1)
    if as_json:
        _json_line(found)
        return
    render(found, console)


def forget_command(
    follower: Annotated[str, typer.Argument(help="The follower's id")],
) -> None:
    """Erase a follower's personal data (profiles, texts) from PostgreSQL, keeping decision counts."""
    import getpass

    from followback.forget import UnknownFollowerError, forget

    if not follower.strip():
        raise typer.BadParameter("give the follower's id")
    settings = load_settings()

    async def go() -> dict[str, int]:
        conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
        try:
            return await forget(conn, follower, getpass.getuser())
        finally:
            await conn.close()

    try:
        with database_reached(settings):  # (an unmigrated database is said so: nothing is created)
            changed = asyncio.run(go())
    except UnknownFollowerError as unknown:
        err.print(f"error: {unknown}")
        raise typer.Exit(1) from None
    _json_line({"follower_id": follower, "rows_changed": changed})


dlq_app = typer.Typer(no_args_is_help=True, help="The dead-letter topic: what could not be processed.")


@dlq_app.command("list")
def dlq_list(as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False) -> None:
    """Every dead letter: where it came from, why, and the start of its body."""
    from followback import dlq

    settings = load_settings()
    with kafka_reached(settings), _topic_exists():
        letters = asyncio.run(dlq.read(settings))
    if as_json:
        for letter in letters:
            row = {
                "partition": letter.partition, "offset": letter.offset, "error": letter.error,
                "source": f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset}",
                "body": letter.value.decode("utf-8", errors="replace"),
            }  # fmt: skip
            _json_line(row)
        return
    table = Table(title=f"{len(letters)} dead letter(s)")
    for column in ("from", "error", "body"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        source = f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset}"
        table.add_row(Text(source), Text(letter.error), Text(letter.preview()))  # as written, no markup
    console.print(table)


@dlq_app.command("replay")
def dlq_replay(
    failed_alone: Annotated[
        bool,
        typer.Option(
            "--failed-alone",
            help="Also the letters a consumer failed on alone (they parse): once their cause is fixed.",
        ),
    ] = False,
) -> None:
    """Re-publish to their source topic the dead letters that parse now; the rest stay."""
    from followback import dlq

    settings = load_settings()
    with kafka_reached(settings), _topic_exists():
        done = asyncio.run(dlq.replay(settings, failed_alone))
    if done.held:
        err.print(
            f"note: {done.held} letter(s) a consumer failed on alone were held back: "
            "give --failed-alone once their cause is fixed"
        )
    _json_line({"republished": done.sent, "still_invalid": done.left, "failed_alone_held": done.held})
