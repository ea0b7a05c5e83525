"""The ``followback`` command line: one entry point for infrastructure, services and tools."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from followback.accounts_cli import app as accounts_app
from followback.audit_cli import dlq_app, explain_command, forget_command, log_app, replay_command
from followback.infra.paths import InfraError
from followback.reached import load_settings, settings_safe
from followback.users_cli import app as users_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
infra_app = typer.Typer(no_args_is_help=True, help="Kafka and PostgreSQL for followback.")
app.add_typer(infra_app, name="infra")
app.add_typer(accounts_app, name="account")
app.add_typer(log_app, name="log")
app.add_typer(users_app, name="user")
app.command("replay")(replay_command)
app.command("explain")(explain_command)
app.command("forget")(forget_command)
app.add_typer(dlq_app, name="dlq")
# Never emoji codes: messages carry paths, ids and what ingest answered (":fire:" stays as typed).
console = Console(emoji=False)
err = Console(stderr=True, emoji=False)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


@infra_app.command("up")
def infra_up() -> None:
    """Start Kafka and PostgreSQL (Docker Compose, or local processes) and wait until they answer."""
    from followback.infra import manager

    try:
        started = manager.up()
    except InfraError as error:
        raise _fail(str(error)) from error
    console.print(
        f"infra up ({started.mode}): Kafka answered in {started.kafka_seconds:.1f}s, "
        f"PostgreSQL in {started.postgres_seconds:.1f}s"
    )
    infra_status()


@infra_app.command("down")
def infra_down() -> None:
    """Stop what `infra up` started, and nothing else."""
    from followback.infra import manager

    stopped = manager.down()
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@infra_app.command("status")
def infra_status() -> None:
    """Show the addresses and health of Kafka and PostgreSQL; exits 1 when either is down."""
    from followback.infra import manager

    status = manager.status()
    mark = {True: "[green]up[/green]", False: "[red]down[/red]"}
    console.print(f"mode:       {status.mode}")
    console.print(f"kafka:      {status.kafka_address}  {mark[status.kafka_ready]}")
    console.print(f"postgresql: {manager.shown(status.postgres_dsn)}  {mark[status.postgres_ready]}")
    if not (status.kafka_ready and status.postgres_ready):
        raise typer.Exit(1)


@app.command()
def run(
    service: Annotated[str, typer.Argument(help="ingest, churn, scorer, notifier, or all")],
) -> None:
    """Run one service, or all four (as child processes)."""
    from followback import runner

    settings = load_settings()
    if service == "all":
        # Every service's problems at once, before any starts: each child said only its own, and the
        # first to exit stopped the others before they could (one fix and restart per problem).
        with settings_safe():
            settings.require_safe(*runner.SERVICES)
        raise typer.Exit(runner.run_all(settings))
    if service not in runner.SERVICES:
        raise _fail(f"unknown service {service!r}; choose one of {', '.join(runner.SERVICES)}, all")
    with settings_safe():
        runner.run_one(service, settings)


@app.command()
def migrate() -> None:
    """Apply the database migrations."""
    from shared.db import migrate as apply

    applied = asyncio.run(apply(load_settings().postgres))
    console.print(f"applied: {', '.join(applied) if applied else 'nothing (up to date)'}")


@app.command()
def demo(
    once: Annotated[bool, typer.Option("--once", help="Exit after the stream is processed.")] = False,
    followers: Annotated[int, typer.Option(help="Followers in the sample stream.")] = 3000,
) -> None:
    """The main job: infra, all services, a realistic sample stream, and a summary."""
    from followback import demo as demo_job

    try:
        raise typer.Exit(demo_job.run(load_settings(), once=once, followers=followers))
    except (InfraError, TimeoutError) as error:
        raise _fail(str(error)) from error


@app.command()
def bench(
    events: Annotated[int, typer.Option(min=1000, help="Events per measurement.")] = 50_000,
    rate: Annotated[int, typer.Option(min=100, help="Offered events/s for the latency figure.")] = 5000,
    relationships: Annotated[
        int,
        typer.Option(
            min=0,
            help="Measure service memory from 100,000 tracked relationships up to this many (0: skip).",
        ),
    ] = 1_000_000,
    as_json: Annotated[bool, typer.Option("--json", help="Only the JSON line.")] = False,
) -> None:
    """Measure throughput on the running infrastructure, each figure beside a raw baseline."""
    from rich.table import Table

    from followback import bench as benchmark

    figures, extra = benchmark.run(load_settings(), events=events, rate=rate, relationships=relationships)
    result = benchmark.report(figures, extra)
    if not as_json:
        table = Table(title="followback bench (same run, same broker)")
        for column in ("figure", "events", "seconds", "events/s", "vs baseline"):
            table.add_column(column, justify="left" if column == "figure" else "right")
        for row in result["figures"]:  # type: ignore[attr-defined]
            ratio = row.get("ratio_to_baseline")
            table.add_row(
                row["name"], str(row["events"]), f"{row['seconds']:.2f}", f"{row['events_per_s']:,}",
                f"{ratio:.0%} of {row['baseline']}" if ratio is not None else "(baseline)",
            )  # fmt: skip
        console.print(table)
        for line in benchmark.summary_lines(extra, rate):
            console.print(line)
    typer.echo(json.dumps(result))


@app.command()
def status(
    once: Annotated[bool, typer.Option("--once", help="One measurement, then exit.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """Per-stage throughput, consumer lag and decisions per class, from the services' metrics."""
    from rich.live import Live
    from rich.table import Table

    from followback.status import measure

    settings = load_settings()

    def shown(value: float | None, form: str) -> str:
        return "?" if value is None else format(value, form)  # (unknown: the service does not answer)

    def table() -> tuple[Table, dict[str, object], bool]:
        found = measure(settings)
        view = Table(title="followback status")
        for column in ("stage", "up", "per second", "processed", "lag", "lag (s)", "errors"):
            view.add_column(column, justify="left" if column in {"stage", "up"} else "right")
        for stage in found.stages:
            view.add_row(
                stage.service, "yes" if stage.up else "[red]no[/red]", shown(stage.per_second, ",.1f"),
                shown(stage.processed, ",.0f"), shown(stage.lag, ",.0f"), shown(stage.lag_seconds, ",.1f"),
                shown(stage.errors, ",.0f"),
            )  # fmt: skip
        classes = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(found.decisions.items())) or "none yet"
        view.caption = f"decisions since the scorer started: {classes}"
        return view, found.as_dict(), found.all_up

    if once or as_json:
        view, found, all_up = table()
        if as_json:
            typer.echo(json.dumps(found))
        else:
            console.print(view)
        if not all_up:  # (for a script or a health check: a stage that does not answer)
            raise typer.Exit(1)
        return
    with Live(table()[0], console=console, refresh_per_second=1) as live:
        try:
            while True:
                live.update(table()[0])
        except KeyboardInterrupt:
            pass


@app.command()
def send(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="NDJSON or CSV events")],
    url: Annotated[
        str | None,
        typer.Option(help="Ingest's address, or its full /v1/events URL (default: the local ingest)"),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 500,
    token: Annotated[
        str | None, typer.Option(envvar="FOLLOWBACK_TOKEN", help="Bearer token for ingest")
    ] = None,
) -> None:
    """Send a file of events through ingest; exits 1 when any event was rejected."""
    from followback.send import events_url
    from followback.send import send as send_file

    settings = load_settings()
    url = events_url(url or f"http://{settings.http.host}:{settings.http.ingest_port}")
    try:
        report = send_file(file, url, batch_size=batch_size, show_progress=sys.stderr.isatty(), token=token)
    except (RuntimeError, OSError) as error:
        raise _fail(str(error)) from error
    for rejected in report.rejected[:50]:
        said = rejected.message if rejected.field == "(line)" else f"{rejected.field}: {rejected.message}"
        err.print(
            f"rejected line {rejected.index}: {said.removeprefix(f'line {rejected.index}: ')}", markup=False
        )
    typer.echo(json.dumps({"accepted": report.accepted, "rejected": len(report.rejected)}))
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def evaluate(
    accounts: Annotated[
        Path, typer.Argument(help="Labelled accounts CSV: user-object columns, label human/bot")
    ],
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="Bot probability from which an account is spam (default: the model's)."
        ),
    ] = None,
) -> None:
    """Score a labelled account file as the scorer would; print accuracy, precision, recall, F1, MCC.

    Each row is a new follower's follow, observed at its `updated` (or `crawled_at`) time.

    Class spam counts as bot, every other class as human. The last line is one JSON object.
    """
    from followback.evaluate import EvaluationError, render
    from followback.evaluate import evaluate as score_file
    from services.scorer.scoring import ScoringRules

    try:
        report = score_file(accounts, ScoringRules(spam_probability=threshold))
    except EvaluationError as error:
        raise _fail(str(error)) from error
    render(report, console)
    typer.echo(json.dumps(report.summary()))
