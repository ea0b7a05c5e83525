"""Tools for the fault-injection tests: services that can be killed and restarted, a client that keeps
sending through outages, a wait for the pipeline to drain, and a snapshot of everything it decided.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from followback import runner, sample
from followback.lag import stage_lag, stage_offsets
from shared.events import Event
from shared.relationships import ChurnAlert
from shared.settings import Settings
from tests.e2e.conftest import as_env
from tests.notifier_support import configure
from tests.receivers import Post, WebhookReceiver
from tests.support import read_to_end


def fault_env(settings: Settings) -> dict[str, str]:
    """The services' environment for these tests: short waits, so recovery fits in a test run."""
    return {
        **as_env(settings),
        # A send cut off by a SIGKILL is settled (as 'unknown') after this lease, not the default 60 s.
        "FOLLOWBACK_NOTIFIER__LEASE_S": "3",
        "FOLLOWBACK_NOTIFIER__POLL_INTERVAL_S": "0.2",
        "FOLLOWBACK_INGEST__PUBLISH_TIMEOUT_S": "3",
        "FOLLOWBACK_INGEST__RETRY_AFTER_S": "1",
    }


class Services:
    """The four services as child processes; any one can be killed with SIGKILL and started again."""

    def __init__(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.env = env if env is not None else fault_env(settings)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.kills: Counter[str] = Counter()
        self.kills_while_starting: Counter[str] = Counter()

    def spawn(self, service: str) -> None:
        """Start the service's process without waiting for it to come up."""
        [self.processes[service]] = runner.spawn([service], env=self.env)

    async def wait_healthy(self, services: Sequence[str] = runner.SERVICES, timeout: float = 90) -> None:
        await asyncio.to_thread(runner.wait_healthy, self.settings, services, timeout)

    async def start(self, services: Sequence[str] = runner.SERVICES, timeout: float = 90) -> None:
        for service in services:
            self.spawn(service)
        await self.wait_healthy(services, timeout)

    async def healthy(self, service: str) -> bool:
        url = f"http://{self.settings.http.host}:{runner.port_of(self.settings, service)}/healthz"
        try:
            async with httpx.AsyncClient(timeout=0.5) as client:
                return (await client.get(url)).is_success
        except httpx.HTTPError:
            return False

    async def kill_wherever_it_is(self, service: str) -> None:
        """SIGKILL, counting the kills that landed before the service answered /healthz."""
        if not await self.healthy(service):
            self.kills_while_starting[service] += 1
        self.kill(service)

    def kill(self, service: str) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed or committed."""
        process = self.processes[service]
        assert process.poll() is None, f"{service} had already exited with {process.returncode}"
        process.kill()
        process.wait()
        self.kills[service] += 1

    def exited(self) -> dict[str, int]:
        """The services that stopped by themselves (not killed here), with their exit codes."""
        return {name: code for name, p in self.processes.items() if (code := p.poll()) is not None}

    def stop(self) -> None:
        runner.stop(list(self.processes.values()))


@dataclass
class Sender:
    """Posts events to ingest as a well-behaved client: a 503 is sent again after Retry-After, a
    refused connection (ingest restarting) after a moment. Anything else fails the test."""

    url: str
    retry_after_cap_s: float = 2.0
    give_up_after_s: float = 120.0
    sent: int = 0
    refused_503: int = 0
    unreachable: int = 0
    statuses: Counter[int] = field(default_factory=Counter)

    async def post(self, client: httpx.AsyncClient, events: Sequence[Event]) -> None:
        body = sample.to_ndjson(events).encode()
        headers = {"content-type": "application/x-ndjson"}
        deadline = time.monotonic() + self.give_up_after_s
        while True:
            try:
                response = await client.post(self.url, content=body, headers=headers)
            except httpx.TransportError:
                self.unreachable += 1
                wait = 0.2
            else:
                self.statuses[response.status_code] += 1
                if response.status_code == 202:
                    assert response.json() == {"accepted": len(events)}
                    self.sent += len(events)
                    return
                assert response.status_code == 503, f"ingest answered {response.status_code}: {response.text}"
                self.refused_503 += 1
                wait = min(float(response.headers["retry-after"]), self.retry_after_cap_s)
            assert time.monotonic() < deadline, (
                f"ingest did not accept a batch within {self.give_up_after_s}s"
            )
            await asyncio.sleep(wait)

    async def stream(self, events: Sequence[Event], batch: int, pause_s: float) -> None:
        """Every event, ``batch`` at a time with ``pause_s`` between batches: a steady stream."""
        async with httpx.AsyncClient(timeout=30) as client:
            for start in range(0, len(events), batch):
                await self.post(client, events[start : start + batch])
                await asyncio.sleep(pause_s)


def ingest_url(settings: Settings) -> str:
    return f"http://{settings.http.host}:{settings.http.ingest_port}/v1/events"


async def wait_drained(settings: Settings, events: int, timeout: float) -> None:
    """Until every event is processed, every stage has committed all it read, and no push is in flight.

    The stages are measured in pipeline order, each one publishing before it commits, so one pass
    with no lag means nothing is left anywhere.
    """
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        while time.monotonic() < deadline:
            state = {
                "processed": await conn.fetchval("SELECT count(*) FROM churn_processed"),
                "lag": await stage_lag(settings),
                "in_flight": await conn.fetchval(
                    "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'retrying', 'sending')"
                ),
            }
            if state["processed"] >= events and not any(state["lag"].values()) and not state["in_flight"]:
                return
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    raise AssertionError(f"the pipeline did not drain within {timeout:.0f}s: {state}")


Row = tuple[Any, ...]


@dataclass(frozen=True)
class Outcome:
    """What a run left in PostgreSQL, in comparable form."""

    processed: set[str]  # event ids in churn_processed
    decisions: dict[str, Row]  # decision id (derived from its event) -> the row's content
    latest: dict[tuple[str, str], tuple[str, Decimal]]  # relationship -> class, score of its last version
    decisions_per_event: Counter[str]  # first event id -> decision rows resting on it
    notifications: dict[str, str]  # decision id -> status (pending | retracted)
    deliveries: dict[str, tuple[str, str, str]]  # idempotency key -> decision id, kind, status
    errors: dict[str, str]  # idempotency key -> last error, for the deliveries that had one
    alerts: dict[str, ChurnAlert]  # alert id -> the latest revision on the churn-alerts topic

    def duplicate_decisions(self) -> dict[str, int]:
        return {event: n for event, n in self.decisions_per_event.items() if n > 1}

    def open_pushes(self) -> dict[str, str]:
        """Push deliveries of the notifications still pending (not retracted): key -> status."""
        pending = {d for d, status in self.notifications.items() if status == "pending"}
        return {
            key: status
            for key, (decision, kind, status) in self.deliveries.items()
            if kind == "push" and decision in pending
        }


async def outcome(settings: Settings) -> Outcome:
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        processed = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM churn_processed")}
        rows = await conn.fetch(
            "SELECT decision_id::text, account_id, follower_id, version, class, score, reasons::text, "
            "event_ids, occurred_at FROM decisions"
        )
        notifications = await conn.fetch("SELECT decision_id::text, status FROM notifications")
        deliveries = await conn.fetch(
            "SELECT idempotency_key, decision_id::text, kind, status, last_error FROM deliveries"
        )
    finally:
        await conn.close()
    alerts: dict[str, ChurnAlert] = {}
    for record in await read_to_end(settings, settings.topic("churn_alerts")):
        alert = ChurnAlert.model_validate_json(record.value)
        if alert.alert_id not in alerts or alert.revision >= alerts[alert.alert_id].revision:
            alerts[alert.alert_id] = alert
    latest: dict[tuple[str, str], tuple[int, str, Decimal]] = {}
    for r in rows:
        key = (r["account_id"], r["follower_id"])
        if key not in latest or latest[key][0] < r["version"]:
            latest[key] = (r["version"], r["class"], r["score"])
    return Outcome(
        processed=processed,
        decisions={r["decision_id"]: tuple(r.values())[1:] for r in rows},
        latest={key: (cls, score) for key, (_, cls, score) in latest.items()},
        decisions_per_event=Counter(r["event_ids"][0] for r in rows),
        notifications={r["decision_id"]: r["status"] for r in notifications},
        deliveries={r["idempotency_key"]: (r["decision_id"], r["kind"], r["status"]) for r in deliveries},
        errors={r["idempotency_key"]: r["last_error"] for r in deliveries if r["last_error"]},
        alerts=alerts,
    )


@dataclass(frozen=True)
class Run:
    """What one run of the stream left: the database's outcome, the pushes the receiver got, and
    each service's /readyz once the pipeline had drained."""

    outcome: Outcome
    posts: list[Post]
    ready_after: dict[str, int]
    seconds: float  # from the services' start to the drained pipeline


async def run_stream(
    config: Settings,
    services: Services,
    stream: Callable[[], Awaitable[None]],
    *faults: Callable[[], Awaitable[None]],
    drain_timeout_s: float = 150,
    events: int,
) -> Run:
    """Start the services with a receiver for the brand's pushes, run the stream beside the faults,
    wait until everything is processed, stop the services; every service must still be running."""
    with WebhookReceiver() as slack:
        await push_to(config, slack)
        try:
            await services.start()
            began = time.monotonic()
            await asyncio.gather(stream(), *(fault() for fault in faults))
            await wait_drained(config, events, drain_timeout_s)
            seconds = time.monotonic() - began
            ready_after = await readiness(config, runner.SERVICES)
            assert services.exited() == {}
        finally:
            services.stop()
    return Run(await outcome(config), slack.posts, ready_after, seconds)


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f}s: {what}"
        await asyncio.sleep(0.1)


async def readiness(settings: Settings, services: Sequence[str]) -> dict[str, int]:
    """Each service's /readyz status code (0 when it does not answer at all)."""

    async def one(client: httpx.AsyncClient, service: str) -> int:
        url = f"http://{settings.http.host}:{runner.port_of(settings, service)}/readyz"
        try:
            return (await client.get(url)).status_code
        except httpx.HTTPError:
            return 0

    async with httpx.AsyncClient(timeout=10) as client:
        codes = await asyncio.gather(*(one(client, service) for service in services))
    return dict(zip(services, codes, strict=True))


async def committed_offsets(settings: Settings) -> dict[str, int]:
    """Per consuming service: the offsets its group has committed, summed over its topic."""
    return {service: done for service, (_, done) in (await stage_offsets(settings)).items()}


async def push_to(settings: Settings, receiver: WebhookReceiver) -> None:
    """High-value followers of the sample's brand are pushed to ``receiver``, where a doubled push shows."""
    conn = await asyncpg.connect(settings.postgres.dsn.get_secret_value())
    try:
        await configure(conn, "brand", slack_webhook_url=receiver.url())
    finally:
        await conn.close()


@dataclass(frozen=True)
class Figures:
    """What a faulty run lost or doubled, against the undisturbed run of the same events."""

    sent: int
    lost: int
    duplicate_decisions: int
    pushed_twice: int
    pushes: Counter[str]  # status of the pushes to followers still waiting for a person
    alerts: int  # churn alerts (latest revisions) on the topic
    decisions: int  # decision rows

    def __str__(self) -> str:
        return (
            f"{self.sent} events sent; lost {self.lost}; duplicate decision versions "
            f"{self.duplicate_decisions}; pushes sent twice {self.pushed_twice}; pushes {dict(self.pushes)}; "
            f"churn alerts {self.alerts}; decision rows {self.decisions}"
        )


def assert_same_outcome(
    expected: Outcome, got: Outcome, events: Sequence[Event], posts: Sequence[Post]
) -> Figures:
    """The faulty run ends exactly as the undisturbed one: every event processed, the same decision
    rows (class, score, reasons, version per event), the same churn alerts (latest revision of each),
    the same queue, and no push sent twice. A push a
    fault cut off mid-send is 'unknown' (it may have arrived), never sent again."""
    sent = {e.event_id for e in events}
    pushed = Counter(post.key for post in posts)
    figures = Figures(
        sent=len(sent),
        lost=len(sent - got.processed),
        duplicate_decisions=len(got.duplicate_decisions()),
        pushed_twice=sum(1 for n in pushed.values() if n > 1),
        pushes=Counter(got.open_pushes().values()),
        alerts=len(got.alerts),
        decisions=len(got.decisions),
    )
    print(f"\n  {figures}")
    assert expected.processed == sent
    assert sent - got.processed == set(), "events lost"
    assert got.duplicate_decisions() == {}
    assert got.latest == expected.latest
    assert got.decisions == expected.decisions
    assert got.notifications == expected.notifications
    assert got.alerts == expected.alerts, "churn alerts differ"
    assert {key: n for key, n in pushed.items() if n > 1} == {}, "pushes sent twice"
    assert got.open_pushes().keys() == expected.open_pushes().keys()
    assert set(got.open_pushes().values()) <= {"sent", "unknown"}, got.errors
    return figures
