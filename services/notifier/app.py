"""The notifier service: decisions in; only high-value followers reach a person, who decides.

One process: the decisions consumer (queue, budget, outbox in one transaction per batch), the
delivery worker (a task in the lifespan) and the review queue web app (every path but /healthz).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaMessage

from services.notifier import follow_backs, intake
from services.notifier.channels import Channel
from services.notifier.channels.email import EmailChannel
from services.notifier.channels.events import EventsChannel
from services.notifier.channels.slack import SlackChannel
from services.notifier.channels.webhook import FollowBackWebhook
from services.notifier.delivery import DeliveryWorker
from services.notifier.web.app import WebState, create_web_app
from shared.consuming import Backoff, Parsed, isolating, parse_batch, rejecter
from shared.decisions import Decision
from shared.events import Event
from shared.kafka import create_broker
from shared.service import BackgroundTasks, Pool, Producer, batch_subscriber_options, create_service_app
from shared.settings import Settings, load_settings

# A listen address on every interface is no address to link to (a browser given http://0.0.0.0 reaches
# nothing, or is refused): the links in pushes name the same machine's loopback instead.
WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}  # noqa: S104 - not bound here


def queue_url(settings: Settings) -> str:
    """The review queue's address for links: FOLLOWBACK_NOTIFIER__PUBLIC_URL, else the notifier's
    host and port (the image and docker-compose.yml listen on 0.0.0.0: linked as 127.0.0.1)."""
    if settings.notifier.public_url:
        return settings.notifier.public_url
    host = settings.http.host.strip()
    host = WILDCARD_HOSTS.get(host, f"[{host}]" if ":" in host and not host.startswith("[") else host)
    return f"http://{host}:{settings.http.notifier_port}"


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    settings = settings or load_settings()
    settings.require_safe("notifier")  # (every problem at once: the review queue's secret too)
    broker = create_broker(settings)
    backoff, events_backoff = Backoff(), Backoff()
    web_state = WebState()
    web = create_web_app(settings, web_state)  # refuses insecure production settings before start
    intake_settings = intake.IntakeSettings(notifier=settings.notifier, queue_url=queue_url(settings))

    @broker.subscriber(settings.topic("decisions"), **batch_subscriber_options(settings, "notifier"))
    async def on_decisions(
        bodies: list[bytes], message: KafkaMessage, pool: Pool, producer: Producer
    ) -> None:
        async def step() -> None:
            dead_letter = settings.topic("dead_letter")
            parsed = await parse_batch(Decision, bodies, message.raw_message, producer, dead_letter)

            async def effect(part: Sequence[Decision]) -> None:
                async with pool.acquire() as conn, conn.transaction():
                    await intake.record(conn, part, intake_settings)
                web_state.wake()  # committed: the worker may send now

            await isolating(parsed.good, effect, rejecter(parsed, producer, dead_letter, "the notifier"))

        await backoff.guard(step(), "notifier batch")

    # Follow-backs made on X itself (the scorer decides nothing on them): the queue's own are left out;
    # and the brand's blocks, which end them (X removes the brand's follow too).
    @broker.subscriber(
        settings.topic("events"), **batch_subscriber_options(settings, "notifier-follow-backs")
    )
    async def on_events(bodies: list[bytes], message: KafkaMessage, pool: Pool, producer: Producer) -> None:
        async def step() -> None:
            found = follow_backs.parse(bodies, message.raw_message)
            parsed = Parsed(good=[e for e, _ in found], dead=0, records={id(e): r for e, r in found})

            async def effect(part: Sequence[Event]) -> None:
                async with pool.acquire() as conn, conn.transaction():
                    await follow_backs.record(conn, part)

            await isolating(parsed.good, effect, rejecter(parsed, producer, settings.topic("dead_letter"),
                                                           "the notifier's follow-backs"))  # fmt: skip

        await events_backoff.guard(step(), "notifier follow-back batch")

    @contextlib.asynccontextmanager
    async def delivering(pool: asyncpg.Pool, producer: AIOKafkaProducer) -> AsyncIterator[BackgroundTasks]:
        timeout = settings.notifier.send_timeout_s
        async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False) as client:
            channels: dict[str, Channel] = {
                "slack": SlackChannel(client),
                "email": EmailChannel(settings.notifier),
                "follow_back_webhook": FollowBackWebhook(client),
                "events": EventsChannel(producer, timeout),
            }
            worker = DeliveryWorker(pool, channels, settings.notifier)
            web_state.pool, web_state.wake = pool, worker.wake
            task = asyncio.create_task(worker.run(), name="notifier-delivery")
            try:
                yield [task]  # /readyz fails once it has ended
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                web_state.pool = None

    # Both of its groups: a follow-back consumer stuck or far behind (re-reading `events` after the
    # upgrade that added it) shows in /metrics and `followback status` like any lag.
    lag_of = [
        (settings.group("notifier"), settings.topic("decisions")),
        (settings.group("notifier-follow-backs"), settings.topic("events")),
    ]
    return create_service_app(broker, settings, web=web, background=delivering, lag_of=lag_of)
