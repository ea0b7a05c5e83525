"""The ingest service: events over HTTP and the X webhook, validated, published keyed by follower id.

It answers 202 only once Kafka acknowledged every event of the request (acks=all); a request
with any invalid event is refused whole and publishes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from prometheus_client import make_asgi_app

from services.ingest.routes import router
from shared.events import EventType
from shared.kafka import create_producer, ensure_topics
from shared.metrics import EVENTS_RECEIVED, REQUESTS_REJECTED
from shared.settings import Settings, load_settings

log = logging.getLogger(__name__)

Next = Callable[[Request], Awaitable[Response]]

# The paths a refusal is counted under (``path``), so an alert can say which credential is at fault:
# any other path under /v1/ (a 404) is counted as "other", and requests to made-up paths add no series.
COUNTED_PATHS = frozenset(
    route.path for route in router.routes if isinstance(route, APIRoute) and route.path.startswith("/v1/")
)
# The refusals the alerts read (deploy/prometheus/alerts.yml): 401, a wrong bearer token or webhook
# signature (FollowbackIngestUnauthorized), and 503, Kafka not acknowledging (FollowbackIngestErrors).
ALERTED_STATUSES = ("401", "503")


def rejected_path(path: str) -> str:
    """The ``path`` label of a refused request: its route's, or ``other``."""
    return path if path in COUNTED_PATHS else "other"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    settings.require_safe("ingest")
    # Every type it accepts counted from 0: a type's first event after a (re)start would be its
    # series' first sample, which increase() never counts (FollowbackNoDecisions reads the follows).
    for kind in EventType:
        if kind is not EventType.RETAINED:  # (the churn detector's own notice: never accepted)
            EVENTS_RECEIVED.labels(kind.value)
    for status in ALERTED_STATUSES:  # (the same for the refusals an alert reads)
        for path in COUNTED_PATHS:
            REQUESTS_REJECTED.labels(status, path)
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
            REQUESTS_REJECTED.labels(str(response.status_code), rejected_path(request.url.path)).inc()
        return response

    return app
