"""Request dependencies of the ingest API: settings, the producer, bearer auth, the bounded body."""

from __future__ import annotations

import hmac
from typing import Annotated

from aiokafka import AIOKafkaProducer
from fastapi import Depends, HTTPException, Request

from shared.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_producer(request: Request) -> AIOKafkaProducer:
    producer: AIOKafkaProducer = request.app.state.producer
    return producer


SettingsDep = Annotated[Settings, Depends(get_settings)]
ProducerDep = Annotated[AIOKafkaProducer, Depends(get_producer)]


def require_token(request: Request, settings: SettingsDep) -> None:
    """A configured bearer token, compared in constant time (open when none is configured)."""
    tokens = settings.ingest.tokens
    if not tokens:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise HTTPException(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
    if not any(hmac.compare_digest(given.encode(), t.get_secret_value().encode()) for t in tokens):
        raise HTTPException(401, "the bearer token is not valid", {"WWW-Authenticate": "Bearer"})


async def bounded_body(request: Request, settings: SettingsDep) -> bytes:
    """The request body, refused with 413 as soon as it passes the configured size."""
    limit = settings.ingest.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the body is over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


BodyDep = Annotated[bytes, Depends(bounded_body)]
