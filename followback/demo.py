"""``followback demo``: infrastructure, the four services, a realistic sample stream, a summary."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from followback import runner, sample
from followback.infra import manager
from followback.lag import GROUPS, stage_lag
from followback.send import send
from followback.summary import Summary, summarize
from services.notifier import users
from shared.decisions import DecisionClass
from shared.settings import Settings

# Wide enough for the persona table when the output is a log rather than a terminal.
console = Console(width=None if sys.stdout.isatty() else 120)


def wait_drained(settings: Settings, timeout: float = 300.0) -> dict[str, int]:
    """Block until every consumer group has committed everything on its topic, three times in a row."""
    deadline = time.monotonic() + timeout
    quiet = 0
    lags: dict[str, int] = {}
    while time.monotonic() < deadline:
        lags = asyncio.run(stage_lag(settings, GROUPS))
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
        f"{summary.pushed} followers pushed to the review queue, {summary.retracted} retracted; "
        f"{summary.followed_back_on_x} followed back on X, {summary.posts_erased} deleted posts erased; "
        f"{summary.suspended_on_x + summary.deactivated_on_x} held back as not available on X "
        f"({summary.suspended_on_x} suspended, {summary.deactivated_on_x} deactivated), "
        f"{summary.unfollowed_back_on_x} unfollowed by the brand on X."
    )
    console.print(json.dumps(summary.as_dict()), soft_wrap=True, highlight=False)


DEMO_USER = "demo"
DEMO_DATABASE = "followback_demo"
DEMO_TOPICS = "demo-"


async def sandbox(settings: Settings) -> Settings:
    """The demo's own database and topics, new each run, so its summary shows this run only.

    The database ``followback_demo`` is recreated; topics get a fresh ``demo-<run>.`` prefix and
    the previous demos' topics are deleted. The project's own database and topics are untouched.
    """
    server, _, _ = settings.postgres.dsn.get_secret_value().rpartition("/")
    conn = await asyncpg.connect(f"{server}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DEMO_DATABASE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DEMO_DATABASE}"')
    finally:
        await conn.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        old = [t for t in await admin.list_topics() if t.startswith(DEMO_TOPICS)]
        if old:
            await admin.delete_topics(old)
    finally:
        await admin.close()
    prefix = f"{DEMO_TOPICS}{uuid.uuid4().hex[:6]}."
    kafka = settings.kafka.model_copy(update={"topic_prefix": prefix, "group_prefix": prefix})
    postgres = settings.postgres.model_copy(update={"dsn": SecretStr(f"{server}/{DEMO_DATABASE}")})
    return settings.model_copy(update={"kafka": kafka, "postgres": postgres})


async def demo_reviewer(settings: Settings) -> str:
    """A reviewer for the demo's queue: FOLLOWBACK_DEMO_PASSWORD, or a fresh password per run."""
    password = os.environ.get("FOLLOWBACK_DEMO_PASSWORD") or secrets.token_urlsafe(9)
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        await users.add(conn, DEMO_USER, password, "followback demo")
    finally:
        await conn.close()
    return password


def on_started_infra(settings: Settings, mode: str) -> Settings:
    """The settings with the DSN of the PostgreSQL ``infra up`` started (in ``mode``), unless
    FOLLOWBACK_POSTGRES__DSN names one: the Compose server asks for a password, which the
    default DSN (the local server's, trusting loopback) has not."""
    if "dsn" in settings.postgres.model_fields_set:
        return settings
    postgres = settings.postgres.model_copy(update={"dsn": SecretStr(manager.postgres_dsn(chosen=mode))})
    return settings.model_copy(update={"postgres": postgres})


def run(settings: Settings, *, once: bool, followers: int) -> int:
    console.print("[bold]Starting Kafka and PostgreSQL[/bold]")
    already = manager.status()
    started = manager.up()
    console.print(f"  infra ({started.mode}) ready: Kafka {started.kafka_seconds:.1f}s")
    settings = asyncio.run(sandbox(on_started_infra(settings, started.mode)))
    # The demo's ingest takes a bearer token made for this run (or the first one configured).
    tokens = settings.ingest.tokens
    token = tokens[0].get_secret_value() if tokens else secrets.token_urlsafe(24)
    env = {
        "FOLLOWBACK_INGEST__TOKENS": json.dumps([token]),
        "FOLLOWBACK_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "FOLLOWBACK_KAFKA__GROUP_PREFIX": settings.kafka.group_prefix,
        "FOLLOWBACK_POSTGRES__DSN": settings.postgres.dsn.get_secret_value(),
    }
    processes = runner.spawn(runner.SERVICES, env=env)
    try:
        runner.wait_healthy(settings, runner.SERVICES)
        console.print("[bold]Services up:[/bold] " + ", ".join(runner.SERVICES))
        password = asyncio.run(demo_reviewer(settings))
        events, personas = sample.generate_with_personas(followers=followers, brand_acts=True)
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
        queue = settings.notifier.public_url or f"http://{settings.http.host}:{settings.http.notifier_port}/"
        console.print(f"[bold]Review queue:[/bold] {queue}  (log in as {DEMO_USER} / {password})")
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
