"""The ingest service: events over HTTP, validated, published keyed by follower id.

It answers 202 only once Kafka acknowledged every event of the request (idempotent producer,
acks=all); a request with any invalid event is refused whole and publishes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from aiokafka import AIOKafkaProducer
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from shared.kafka import create_producer, ensure_topics, publish_all
from shared.settings import Settings, load_settings
from shared.validation import BodyError, items_of, validate

NDJSON = "application/x-ndjson"


def _producer(request: Request) -> AIOKafkaProducer:
    producer: AIOKafkaProducer = request.app.state.producer
    return producer


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

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

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(
        "/v1/events",
        status_code=202,
        responses={422: {"description": "Invalid events: each bad event's index and field"}},
    )
    async def post_events(
        request: Request,
        producer: Annotated[AIOKafkaProducer, Depends(_producer)],
        config: Annotated[Settings, Depends(_settings)],
    ) -> JSONResponse:
        """Accept one event, a JSON array of events, or NDJSON (one event per line)."""
        body = await request.body()
        ndjson = request.headers.get("content-type", "").startswith(NDJSON)
        try:
            items = items_of(body, ndjson)
        except BodyError as error:
            return JSONResponse(
                {"detail": str(error), "errors": [{"index": None, "field": "(body)",
                                                   "message": str(error)}]},
                status_code=400,
            )  # fmt: skip
        if len(items) > config.http.max_batch_events:
            return JSONResponse(
                {"detail": f"at most {config.http.max_batch_events} events per request"},
                status_code=413,
            )
        events, errors = validate(items)
        if errors:
            return JSONResponse(
                {
                    "detail": f"{len({e.index for e in errors})} invalid event(s); none accepted",
                    "errors": [e.as_dict() for e in errors],
                },
                status_code=422,
            )
        accepted = await publish_all(producer, config.topic("events"), events)
        return JSONResponse({"accepted": accepted}, status_code=202)

    return app
