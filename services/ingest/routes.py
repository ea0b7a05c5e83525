"""The ingest API: our own event endpoint and the X Account Activity webhook."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from services.ingest.deps import BodyDep, ProducerDep, SettingsDep, require_token
from services.ingest.publishing import publish_or_503
from services.ingest.signatures import crc_response, verify
from services.ingest.webhook import FOLLOWER_ACTIVITY, PayloadError, map_payload
from shared.events import Event
from shared.metrics import EVENTS_RECEIVED
from shared.settings import Settings
from shared.validation import BodyError, FieldError, ahead_of, parse_body, unread_platforms, validate

NDJSON = "application/x-ndjson"
SIGNATURE_HEADER = "x-twitter-webhooks-signature"

router = APIRouter()


def _rejected(errors: list[FieldError]) -> JSONResponse:
    bad = len({e.index for e in errors})
    return JSONResponse(
        {"detail": f"{bad} invalid event(s); none accepted", "errors": [e.as_dict() for e in errors]},
        status_code=422,
    )


def _not_json(error: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": str(error), "errors": [{"index": None, "field": "(body)", "message": str(error)}]},
        status_code=400,
    )


def _count(events: list[Event]) -> None:
    for event in events:
        EVENTS_RECEIVED.labels(event.type.value).inc()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Kafka does not answer"}})
async def readyz(producer: ProducerDep) -> JSONResponse:
    """Ready: Kafka answers a metadata request (what every publish needs)."""
    try:
        await asyncio.wait_for(producer.client.fetch_all_metadata(), 3)
    except Exception as error:  # any failure means not ready
        return JSONResponse({"status": "not ready", "kafka": repr(error)}, status_code=503)
    return JSONResponse({"status": "ready", "kafka": "ok"})


@router.post(
    "/v1/events",
    status_code=202,
    dependencies=[Depends(require_token)],
    responses={
        400: {"description": "The body is not JSON or NDJSON"},
        401: {"description": "Missing or wrong bearer token"},
        413: {"description": "Too many events or too many bytes"},
        422: {"description": "Invalid events: each bad event's index, field and reason"},
        503: {"description": "Kafka is unavailable; retry after Retry-After seconds"},
    },
)
async def post_events(
    request: Request, body: BodyDep, settings: SettingsDep, producer: ProducerDep
) -> JSONResponse:
    """Accept one event, a JSON array of events, or NDJSON (one event per line).

    202 only once Kafka acknowledged every event; a request with any invalid event publishes nothing.
    """
    ndjson = request.headers.get("content-type", "").startswith(NDJSON)
    try:
        events, errors = parse_body(body, ndjson)
    except BodyError as error:
        return _not_json(error)
    errors = errors or _ahead(events, settings) or unread_platforms(events)
    if errors:
        return _rejected(errors)
    if len(events) > settings.ingest.max_events:
        raise HTTPException(413, f"at most {settings.ingest.max_events} events per request")
    accepted = await publish_or_503(producer, settings, events)
    _count(events)
    return JSONResponse({"accepted": accepted}, status_code=202)


def _ahead(events: list[Event], settings: Settings) -> list[FieldError]:
    """Events dated too far after now: the edge is the one place the wall clock has a say."""
    return ahead_of(events, datetime.now(UTC), timedelta(seconds=settings.ingest.max_ahead_s))


def _secret(settings: SettingsDep) -> str:
    if settings.ingest.x_consumer_secret is None:
        raise HTTPException(404, "the X webhook is not configured (FOLLOWBACK_INGEST__X_CONSUMER_SECRET)")
    return settings.ingest.x_consumer_secret.get_secret_value()


@router.get("/v1/webhooks/x", responses={400: {"description": "A token that could be a webhook body"}})
async def x_crc(settings: SettingsDep, crc_token: str = Query(min_length=1)) -> dict[str, str]:
    """Answer X's CRC challenge with the token signed under the consumer secret.

    The answer is the same HMAC as a webhook POST's signature, so signing any token asked for
    would sign any body an outsider chose (``?crc_token={"for_user_id": ...}``), and the POST
    would be taken for X's. A body is a JSON object, so a token with a ``{`` (its byte can only
    come from that character in UTF-8) is never signed: X's tokens are plain base64-like text.
    """
    secret = _secret(settings)
    if "{" in crc_token:
        raise HTTPException(400, "crc_token: not a CRC token (it could be a webhook body)")
    return crc_response(secret, crc_token)


def _about_no_brand(payload: Any) -> bool:
    """A payload that names no brand and carries no follower's activity (X's subscription revoke)."""
    if not isinstance(payload, dict) or payload.get("for_user_id"):
        return False
    return not any(payload.get(part) for part in FOLLOWER_ACTIVITY)


@router.post("/v1/webhooks/x", status_code=200)
async def x_activity(
    request: Request, body: BodyDep, settings: SettingsDep, producer: ProducerDep
) -> JSONResponse:
    """Account Activity events, verified by their signature, mapped to our events and published."""
    if not verify(_secret(settings), body, request.headers.get(SIGNATURE_HEADER)):
        raise HTTPException(401, f"missing or wrong {SIGNATURE_HEADER}")
    try:
        payload: Any = json.loads(body)
    except (ValueError, RecursionError) as error:
        # ValueError: not JSON, not UTF-8, or an integer of more than 4,300 digits; RecursionError:
        # arrays or objects nested about a thousand deep. Both were a 500 with a traceback.
        return _not_json(error)
    if _about_no_brand(payload):  # (a 4xx is a failed delivery to X, retried)
        skipped = [f"{part} (about no brand account)" for part in payload]
        return JSONResponse({"accepted": 0, "skipped": skipped}, status_code=200)
    if not isinstance(payload, dict) or not payload.get("for_user_id"):
        return _rejected([FieldError(None, "for_user_id", "the payload names no brand account")])
    try:
        mapped = map_payload(payload)
    except PayloadError as error:
        return _rejected([FieldError(None, error.path, error.message)])
    events, errors = validate(mapped.events)
    errors = errors or _ahead(events, settings)
    if errors:
        return _rejected(errors)
    accepted = await publish_or_503(producer, settings, events) if events else 0
    _count(events)
    return JSONResponse({"accepted": accepted, "skipped": mapped.skipped}, status_code=200)
