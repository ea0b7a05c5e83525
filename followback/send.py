"""``followback send FILE``: events from NDJSON or CSV, checked, then posted to ingest in batches."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from rich.markup import escape
from rich.progress import Progress

from shared.validation import FieldError, unread_platforms, validate

# CSV columns that belong to the event; every other column is a field of the follower's profile.
EVENT_COLUMNS = {"schema_version", "event_id", "type", "platform", "account_id", "occurred_at", "deletes"}


@dataclass
class SendReport:
    accepted: int = 0
    rejected: list[FieldError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected


def _csv_item(row: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = {k: v for k, v in row.items() if k in EVENT_COLUMNS and v != ""}
    if item.get("schema_version", "").isdigit():  # a number in JSON; CSV has only text
        item["schema_version"] = int(item["schema_version"])
    follower = {
        k: v
        for k, v in row.items()
        if k not in EVENT_COLUMNS and not k.startswith("interaction_") and v not in ("", None)
    }
    item["follower"] = follower
    if row.get("interaction_kind"):
        item["interaction"] = {
            "kind": row["interaction_kind"],
            "text": row.get("interaction_text", ""),
        }
    return item


class UnreadableFileError(RuntimeError):
    """A file no event can be read from at all (a CSV file that is not UTF-8 text)."""


def read_items(path: Path) -> Iterator[Any]:
    """JSON values from an NDJSON file (one per line) or dicts from a CSV file with a header. A line
    or row no event can come from is an :class:`_Unreadable` with the reason, in its place."""
    return (item for _, item in read_lines(path))


def read_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """:func:`read_items`, each with the number of its line in the file (for a CSV row, the line it
    ends on: the header is line 1), for rejections a person can find."""
    if path.suffix.lower() == ".csv":
        yield from _csv_items(path)
        return
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:  # (a byte order mark before the first line is skipped, as replay does)
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                yield (
                    number,
                    _Unreadable(f"line {number}: not UTF-8 text (byte {error.start + 1} of the line)"),
                )
                continue
            if line.strip():
                try:
                    yield number, json.loads(line)
                except ValueError as error:  # not JSON, or a number of more digits than Python reads
                    reason = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
                    yield number, _Unreadable(f"line {number}: not JSON ({reason})")


def _csv_items(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # (Excel's "CSV UTF-8" starts with a byte order mark)
    except UnicodeDecodeError as error:
        raise UnreadableFileError(f"{path} is not UTF-8 text (byte {error.start + 1})") from None
    rows = csv.DictReader(io.StringIO(text, newline=""))
    for row in rows:
        extra = row.pop(None, None)  # (DictReader keeps the fields beyond the header under None)
        if extra is not None:
            yield (
                rows.line_num,
                _Unreadable(f"line {rows.line_num}: {len(extra)} more field(s) than the header has columns"),
            )
        else:
            yield rows.line_num, _csv_item(row)


EVENTS_PATH = "/v1/events"


def events_url(url: str) -> str:
    """The events endpoint of ``url``: ingest's address alone (``http://host:8081``, what ``--url``
    is most often given) means its ``/v1/events``; a URL with a path is used as it is."""
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path=EVENTS_PATH))
    return url


def _what_to_do(status: int, token: str | None) -> str:
    """The fix of a refusal the sender can fix itself: a 401 said only "a bearer token is required",
    and where to give one (an option and a variable of ``send``, not ingest's own setting) was in
    ``--help`` alone."""
    if status != 401:
        return ""
    if token is None:
        return "(give one of ingest's FOLLOWBACK_INGEST__TOKENS with --token or FOLLOWBACK_TOKEN) "
    return "(the token given with --token or FOLLOWBACK_TOKEN is not one of ingest's tokens) "


@dataclass(frozen=True)
class _Unreadable:
    reason: str


def send(
    path: Path, url: str, batch_size: int = 500, show_progress: bool = True, token: str | None = None
) -> SendReport:
    """Validate every event locally, post the valid ones in batches, report what was refused."""
    items = list(read_lines(path))
    report = SendReport()
    valid: list[dict[str, Any]] = []
    for line, item in items:  # (a rejection's index is its line in the file)
        if isinstance(item, _Unreadable):
            report.rejected.append(FieldError(line, "(line)", item.reason))
            continue
        events, errors = validate([item])
        errors = errors or unread_platforms(events)
        if errors:
            report.rejected.extend(FieldError(line, e.field, e.message) for e in errors)
        else:
            valid.append(item)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with (
        httpx.Client(timeout=60.0, headers=headers) as client,
        Progress(disable=not show_progress) as progress,
    ):
        task = progress.add_task(f"sending {escape(path.name)}", total=len(valid))
        for start in range(0, len(valid), batch_size):
            batch = valid[start : start + batch_size]
            response = client.post(url, json=batch)
            if response.status_code != 202:  # (what went before is in the log: say how far it got)
                raise RuntimeError(
                    f"ingest answered {response.status_code}: {response.text[:500]} "
                    f"{_what_to_do(response.status_code, token)}"
                    f"({report.accepted} event(s) of the file were accepted before this batch; sending "
                    "the file again is harmless: event ids are idempotent)"
                )
            report.accepted += int(response.json()["accepted"])
            progress.advance(task, len(batch))
    return report
