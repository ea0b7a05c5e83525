"""The ingest service: events over HTTP and the X webhook, validated, published keyed by follower id.

It answers 202 only once Kafka acknowledged every event of the request (acks=all); a request
with any invalid event is refused whole and publishes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from prometheus_client import make_asgi_app

from services.ingest.routes import router
from shared.events import EventType
from shared.kafka import create_producer, ensure_topics
from shared.metrics import EVENTS_RECEIVED, REQUESTS_REJECTED
from shared.settings import Settings, load_settings

log = logging.getLogger(__name__)

Next = Callable[[Request], Awaitable[Response]]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    settings.require_safe("ingest")
    # Every type it accepts counted from 0: a type's first event after a (re)start would be its
    # series' first sample, which increase() never counts (FollowbackNoDecisions reads the follows).
    for kind in EventType:
        if kind is not EventType.RETAINED:  # (the churn detector's own notice: never accepted)
            EVENTS_RECEIVED.labels(kind.value)
    if not settings.ingest.tokens:  # (in production, require_safe refused it)
        log.warning("no FOLLOWBACK_INGEST__TOKENS: POST /v1/events is open (development only)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(settings)
        producer = create_producer(settings)
        await producer.start()
        app.state.producer = producer
        app.state.settings = settings
        try:
            yield
        finally:
            await producer.stop()

    app = FastAPI(title="followback ingest", version="1", lifespan=lifespan)
    app.include_router(router)
    app.mount("/metrics", make_asgi_app())

    @app.middleware("http")
    async def count_rejections(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if response.status_code >= 400 and request.url.path.startswith("/v1/"):
            REQUESTS_REJECTED.labels(str(response.status_code)).inc()
        return response

    return app
