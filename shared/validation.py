"""Turning request bodies and file lines into events, or into errors naming each bad event and field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

from shared.events import READ_PLATFORMS, Event

_EVENTS = TypeAdapter(list[Event])


@dataclass(frozen=True)
class FieldError:
    index: int | None
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


class BodyError(ValueError):
    """The body is not JSON, NDJSON, an object or an array of objects."""


def _field_errors(error: ValidationError, index: int | None, in_list: bool) -> list[FieldError]:
    found = []
    for detail in error.errors(include_url=False):
        loc = list(detail["loc"])
        at = int(loc.pop(0)) if in_list and loc else index
        found.append(FieldError(at, ".".join(str(p) for p in loc) or "(event)", detail["msg"]))
    return found


def _is_json_error(error: ValidationError) -> bool:
    return any(d["type"] == "json_invalid" for d in error.errors())


def parse_body(body: bytes, ndjson: bool) -> tuple[list[Event], list[FieldError]]:
    """Events from one JSON object, a JSON array, or NDJSON, parsed straight from the bytes.

    Raises :class:`BodyError` when the body is not JSON at all (or not an object or array). A byte
    order mark before it is skipped (what some Windows tools write first; it read as "not a JSON
    object").
    """
    body = body.removeprefix(b"\xef\xbb\xbf")
    if ndjson:
        events: list[Event] = []
        errors: list[FieldError] = []
        for index, line in enumerate(line for line in body.splitlines() if line.strip()):
            try:
                events.append(Event.model_validate_json(line))
            except ValidationError as error:
                if _is_json_error(error):
                    raise BodyError(f"line {index + 1} is not valid JSON") from error
                errors.extend(_field_errors(error, index, in_list=False))
        return events, errors
    head = body.lstrip()[:1]
    try:
        if head == b"[":
            return _EVENTS.validate_json(body), []
        if head == b"{":
            return [Event.model_validate_json(body)], []
    except ValidationError as error:
        if _is_json_error(error):
            raise BodyError(f"the body is not valid JSON: {error.errors()[0]['msg']}") from error
        return [], _field_errors(error, 0, in_list=head == b"[")
    raise BodyError("the body must be a JSON object, a JSON array of objects, or NDJSON")


def validate(items: list[Any]) -> tuple[list[Event], list[FieldError]]:
    """Every already-decoded item validated; the batch is good only when the error list is empty."""
    events: list[Event] = []
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(FieldError(index, "(event)", "an event must be a JSON object"))
            continue
        try:
            events.append(Event.model_validate(item))
        except ValidationError as error:
            errors.extend(_field_errors(error, index, in_list=False))
    return events, errors


def ahead_of(events: list[Event], received: datetime, max_ahead: timedelta) -> list[FieldError]:
    """Events dated further past ``received`` (when the request arrived) than ``max_ahead``.

    Event time only moves forward in the pipeline (each partition's stream time, each brand's digest
    clock), so one event from a wrong clock, dated years ahead, would make everything after it late
    for good. Clients' clocks are allowed ``max_ahead`` of skew; anything further is refused.
    """
    limit = received + max_ahead
    return [
        FieldError(index, "occurred_at", f"{e.occurred_at.isoformat()} is more than {max_ahead} after "
                   f"the request arrived ({received.isoformat(timespec='seconds')})")
        for index, e in enumerate(events)
        if e.occurred_at > limit
    ]  # fmt: skip


def unread_platforms(events: list[Event]) -> list[FieldError]:
    """Events of a network followback does not read yet (:data:`shared.events.READ_PLATFORMS`): its
    follower ids would be taken for the same ids on x (one relationship, one churn history)."""
    return [
        FieldError(index, "platform", f"{e.platform!r} is not read yet (only {', '.join(READ_PLATFORMS)}): "
                   "followers are known by id alone, so its ids would be taken for x's")
        for index, e in enumerate(events)
        if e.platform not in READ_PLATFORMS
    ]  # fmt: skip
