"""Turning a request body into events, or into errors that name each bad event and field."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shared.events import Event


@dataclass(frozen=True)
class FieldError:
    index: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


class BodyError(ValueError):
    """The body is not JSON, NDJSON, an object or an array of objects."""


def items_of(body: bytes, ndjson: bool) -> list[Any]:
    """The JSON values the body holds: one object, an array, or one object per NDJSON line."""
    try:
        if ndjson:
            lines = [line for line in body.splitlines() if line.strip()]
            return [json.loads(line) for line in lines]
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BodyError(f"the body is not valid JSON: {error}") from error
    return value if isinstance(value, list) else [value]


def validate(items: list[Any]) -> tuple[list[Event], list[FieldError]]:
    """Every item validated; the batch is good only when the error list is empty."""
    events: list[Event] = []
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(FieldError(index, "(event)", "an event must be a JSON object"))
            continue
        try:
            events.append(Event.model_validate(item))
        except ValidationError as error:
            for detail in error.errors(include_url=False):
                field = ".".join(str(part) for part in detail["loc"]) or "(event)"
                errors.append(FieldError(index, field, detail["msg"]))
    return events, errors
