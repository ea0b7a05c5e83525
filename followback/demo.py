"""``followback demo``: infrastructure, the four services, a realistic sample stream, a summary."""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from followback import runner, sample
from followback.infra import manager
from followback.lag import stage_lag
from followback.send import send
from followback.summary import Summary, summarize
from shared.decisions import DecisionClass
from shared.settings import Settings

# Wide enough for the persona table when the output is a log rather than a terminal.
console = Console(width=None if sys.stdout.isatty() else 120)


def wait_drained(settings: Settings, timeout: float = 300.0) -> dict[str, int]:
    """Block until every stage has committed everything on its topic, twice in a row."""
    deadline = time.monotonic() + timeout
    quiet = 0
    lags: dict[str, int] = {}
    while time.monotonic() < deadline:
        lags = asyncio.run(stage_lag(settings))
        quiet = quiet + 1 if not any(lags.values()) else 0
        if quiet >= 3:
            return lags
        time.sleep(0.5)
    raise TimeoutError(f"the pipeline did not drain within {timeout:.0f}s: lag {lags}")


def print_summary(summary: Summary, personas: dict[str, str], seconds: float, events: int) -> None:
    table = Table(title="Decisions per class (current decision of each relationship)")
    table.add_column("class")
    table.add_column("followers", justify="right")
    for cls in DecisionClass:
        table.add_row(cls.value, str(summary.by_class.get(cls.value, 0)))
    console.print(table)

    crosstab = Table(title="Sample personas -> decided class")
    classes = [c.value for c in DecisionClass]
    crosstab.add_column("persona", no_wrap=True)
    for name in classes:
        crosstab.add_column(name.replace("_", " "), justify="right")
    by_persona: dict[str, Counter[str]] = {}
    for follower, persona in personas.items():
        by_persona.setdefault(persona, Counter())[summary.current.get(follower, "(none)")] += 1
    for persona, counts in sorted(by_persona.items()):
        crosstab.add_row(persona, *(str(counts.get(c, 0)) for c in classes))
    console.print(crosstab)
    console.print(
        f"{events} events in {seconds:.1f}s; {summary.relationships} relationships, "
        f"{summary.decision_rows} decision rows, {summary.churners} churners, "
        f"{summary.pushed} followers pushed to the review queue, {summary.retracted} retracted."
    )
    console.print(json.dumps(summary.as_dict()), soft_wrap=True, highlight=False)


def run(settings: Settings, *, once: bool, followers: int) -> int:
    console.print("[bold]Starting Kafka and PostgreSQL[/bold]")
    already = manager.status()
    started = manager.up()
    console.print(f"  infra ({started.mode}) ready: Kafka {started.kafka_seconds:.1f}s")
    # The demo's ingest takes a bearer token made for this run (or the first one configured).
    tokens = settings.ingest.tokens
    token = tokens[0].get_secret_value() if tokens else secrets.token_urlsafe(24)
    processes = runner.spawn(runner.SERVICES, env={"FOLLOWBACK_INGEST__TOKENS": json.dumps([token])})
    try:
        runner.wait_healthy(settings, runner.SERVICES)
        console.print("[bold]Services up:[/bold] " + ", ".join(runner.SERVICES))
        events, personas = sample.generate_with_personas(followers=followers)
        began = time.monotonic()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "sample.ndjson"
            sample.write_ndjson(events, path)
            url = f"http://{settings.http.host}:{settings.http.ingest_port}/v1/events"
            report = send(path, url, token=token)
        wait_drained(settings)
        seconds = time.monotonic() - began
        summary = asyncio.run(summarize(settings.postgres.dsn.get_secret_value()))
        print_summary(summary, personas, seconds, report.accepted)
        if not once:
            console.print(
                f"Services keep running (ingest http://{settings.http.host}:"
                f"{settings.http.ingest_port}/docs). Ctrl-C stops them."
            )
            while all(p.poll() is None for p in processes):
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop(processes)
        if once and not (already.kafka_ready and already.postgres_ready):
            manager.down()
    return 0
