"""/readyz fails once a background task of the service has ended (crashed, exited or cancelled):
the notifier's delivery worker, and any task a service's ``background=`` runs. On the real broker
and database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.notifier.app import create_app as create_notifier
from shared.kafka import create_broker
from shared.service import BackgroundTasks, create_service_app
from shared.settings import Settings
from tests.support import eventually

pytestmark = pytest.mark.integration


async def readyz(app: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return await client.get("/readyz")


async def once_ready(app: Any) -> httpx.Response:
    """/readyz once the broker has connected (FastStream connects it after the lifespan started)."""
    return await eventually(lambda: readyz(app), lambda r: r.status_code == 200, timeout=20)


def one_task(body: Callable[[asyncio.Event], Awaitable[None]], release: asyncio.Event) -> Any:
    @contextlib.asynccontextmanager
    async def background(pool: asyncpg.Pool, producer: AIOKafkaProducer) -> AsyncIterator[BackgroundTasks]:
        task = asyncio.create_task(body(release), name="worker")
        try:
            yield [task]
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    return background


async def crashes(release: asyncio.Event) -> None:
    await release.wait()
    raise RuntimeError("boom")


async def exits(release: asyncio.Event) -> None:
    await release.wait()


@pytest.mark.parametrize(
    ("body", "reason"), [(crashes, "ended: RuntimeError('boom')"), (exits, "ended: exited")]
)
async def test_a_finished_background_task_makes_the_service_not_ready(
    settings: Settings, body: Callable[[asyncio.Event], Awaitable[None]], reason: str
) -> None:
    release = asyncio.Event()
    app = create_service_app(create_broker(settings), settings, background=one_task(body, release))
    async with app.start_lifespan_context():
        ready = await once_ready(app)
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "kafka": "ok", "postgres": "ok", "worker": "ok"}

        release.set()
        await asyncio.sleep(0.05)
        not_ready = await readyz(app)
        assert not_ready.status_code == 503
        assert not_ready.json() == {"status": "not ready", "kafka": "ok", "postgres": "ok", "worker": reason}


async def test_the_notifier_is_not_ready_once_its_delivery_worker_has_ended(settings: Settings) -> None:
    app = create_notifier(settings)
    async with app.start_lifespan_context():
        ready = await once_ready(app)
        assert ready.status_code == 200, ready.text
        assert ready.json()["notifier-delivery"] == "ok"

        [worker] = [t for t in asyncio.all_tasks() if t.get_name() == "notifier-delivery"]
        worker.cancel()  # the worker ends (as it would if something it does not catch stopped it)
        with contextlib.suppress(asyncio.CancelledError):
            await worker

        not_ready = await readyz(app)
        assert not_ready.status_code == 503
        assert not_ready.json()["status"] == "not ready"
        assert not_ready.json()["notifier-delivery"] == "ended: cancelled"
        assert not_ready.json()["postgres"] == "ok"
