"""Upcasters: an event written under an older schema version, read as the current one.

Producers write the current version (:data:`CURRENT`); every reader (ingest's HTTP, webhook and
file paths, each consumer's batch, the log export and replay readers, the dead-letter replay, the
annotated events stored in PostgreSQL) validates with :class:`shared.events.Event`, whose
before-validator calls :func:`upcast_event`. So the topic and the database may hold any mix of
versions and every reader sees one shape.

An upcaster is a small pure function from one version's JSON object to the next one's; they are
chained, so a version-1 payload goes 1 -> 2 -> ... -> current. A version this code does not know (a
newer producer's) is left alone, and validation refuses it by naming ``schema_version``.

Versions:

- 1: the original contract. ``schema_version`` may be absent (every client before version 2 left it
  out, so absent still means 1); ``platform`` may be absent and then means ``x``.
- 2: ``platform`` is required. Brands follow on more than one network, and an event that forgot its
  platform silently counting as X is the mistake version 2 rules out. A version-1 event without a
  platform is upcast with ``x``, which is what version 1 said it meant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

CURRENT: Literal[2] = 2
# What version 1 meant by an event without a platform.
V1_PLATFORM = "x"

# Version 1's own check of its schema_version, so a payload counts as version 1 exactly when the
# version-1 model would have read it as one (it took 1, 1.0 and true alike).
_V1 = TypeAdapter(Literal[1])
_V2 = TypeAdapter(Literal[2])


def _is(adapter: TypeAdapter[Any], value: Any) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def version_of(data: dict[str, Any]) -> Any:
    """The payload's schema version: 1 when absent; the raw value when no known version matches."""
    if "schema_version" not in data or _is(_V1, data["schema_version"]):
        return 1
    if _is(_V2, data["schema_version"]):
        return 2
    return data["schema_version"]


def event_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 -> 2: the implied platform becomes explicit; nothing else changes."""
    upcast = {**data, "schema_version": 2}
    upcast.setdefault("platform", V1_PLATFORM)
    return upcast


# Version -> the upcaster that lifts a payload of that version by one.
EVENT_UPCASTERS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: event_v1_to_v2}


def upcast_event(data: Any) -> Any:
    """An event payload in the current version; anything else (not an object, an unknown version)
    is returned as it is, for validation to refuse."""
    if not isinstance(data, dict):
        return data
    current = data.get("schema_version")
    if type(current) is int and current == CURRENT:  # the common case, without validation
        return data
    version = version_of(data)
    while isinstance(version, int) and version in EVENT_UPCASTERS:
        data = EVENT_UPCASTERS[version](data)
        version = version_of(data)
    return data


def supported(value: Any) -> Any:
    """The schema version after upcasting must be the current one; say so clearly when it is not
    (the reason a dead letter carries, or ingest's 422 names)."""
    if type(value) is int and value == CURRENT:  # the common case, without validation
        return CURRENT
    if not _is(_V2, value):
        raise ValueError(
            f"unknown schema_version {value!r}: this code reads versions 1 to {CURRENT} "
            "(a newer producer wrote it)"
        )
    return CURRENT
