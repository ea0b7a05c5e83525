"""The raw events topic read back as the system of record: every record, in each partition's order.

Used by ``followback log export`` and ``followback replay``. The read stops at the end offsets
seen when it began, so a replay of a live topic is a fixed, repeatable range.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError

from shared.events import Event
from shared.lag import MissingTopicError
from shared.settings import Settings


@dataclass(frozen=True)
class Record:
    event: Event
    raw: bytes


@dataclass(frozen=True)
class Window:
    """Which events count: event time in [since, until), one account or all, one follower or all."""

    since: datetime | None = None
    until: datetime | None = None
    account: str | None = None
    follower: str | None = None

    def holds(self, event: Event) -> bool:
        return (
            (self.since is None or event.occurred_at >= self.since)
            and (self.until is None or event.occurred_at < self.until)
            and self.about(event)
        )

    def about(self, event: Event) -> bool:
        """Whether the event is of the account and the follower asked for (whatever its time)."""
        return (self.account is None or event.account_id == self.account) and (
            self.follower is None or event.follower.id == self.follower
        )


async def _partitions(settings: Settings, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if not described["partitions"]:  # (an empty log is a topic without records, never no topic)
        raise MissingTopicError(topic)
    return [TopicPartition(topic, p["partition"]) for p in described["partitions"]]


async def raw_from_kafka(
    settings: Settings, on_total: Callable[[int], None] | None = None
) -> AsyncIterator[list[bytes]]:
    """Every record's value on the events topic, in batches, up to the end offsets at the start of
    the read; unparsed (``followback replay`` parses in its worker processes). One partition after
    another, in their order: the same log reads as the same sequence every time (an export of it
    is the same bytes, and a replay meets an event id used twice in the same order), and as fast
    as fetching them together (measured on 50,000 events: 330,000-400,000 records/s either way)."""
    topic = settings.topic("events")
    partitions = sorted(await _partitions(settings, topic), key=lambda tp: tp.partition)
    if not partitions:
        return
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        # The first partition fetches while the offsets are asked for (asked first, the read is slower).
        consumer.assign(partitions[:1])
        await consumer.seek_to_beginning(*partitions[:1])
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        if on_total:
            on_total(sum(ends[tp] - starts[tp] for tp in partitions))
        for n, tp in enumerate(partitions):
            if n:
                consumer.assign([tp])
                await consumer.seek_to_beginning(tp)
            # Up to the end offset, by the consumer's position: it moves past offsets that hold no
            # record for us (a transaction's marker, a compacted gap), where waiting for a record at
            # end - 1 would wait for ever.
            while await consumer.position(tp) < ends[tp]:
                records = (await consumer.getmany(tp, timeout_ms=1000, max_records=5000)).get(tp, [])
                yield [r.value for r in records if r.offset < ends[tp] and r.value is not None]
    finally:
        await consumer.stop()


async def from_kafka(
    settings: Settings, on_total: Callable[[int], None] | None = None
) -> AsyncIterator[Record]:
    """Every valid event of the events topic, up to the end offsets at the start of the read.

    Records that are not valid events (they went to the dead-letter topic live) are skipped.
    """
    async for values in raw_from_kafka(settings, on_total):
        for value in values:
            try:
                event = Event.model_validate_json(value)
            except ValidationError:
                continue
            yield Record(event, value)


class UnreadableExportError(ValueError):
    """An exported file that cannot be read to its end (a damaged or cut-off gzip stream)."""


_BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark


def raw_from_file(path: Path) -> Iterator[bytes]:
    """The lines of an exported file (gzip NDJSON, or plain NDJSON, told apart by the file's first
    bytes, whatever its name), unparsed; blank lines skipped, and a byte order mark before the first
    (an editor's) too. :class:`UnreadableExportError` when the file breaks off or is damaged: a gzip
    stream that does, or a last line that is not whole JSON (an export ends every line; a hand-made
    file's last line may go without, if it is whole JSON)."""
    with path.open("rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as handle:
            for n, line in enumerate(handle):
                if n == 0:
                    line = line.removeprefix(_BOM)
                if not line.endswith(b"\n") and line.strip():  # the last line, unended
                    _whole(path, line)
                if line.strip():
                    yield line.rstrip(b"\n")
    except (EOFError, OSError, zlib.error) as broken:  # gzip.BadGzipFile is an OSError
        raise UnreadableExportError(f"{path} is not a readable export: {broken}") from broken


def _whole(path: Path, line: bytes) -> None:
    try:
        json.loads(line)
    except ValueError:
        raise UnreadableExportError(
            f"{path} is cut off or not NDJSON: its last line is not a whole JSON record"
        ) from None


def from_file(path: Path) -> Iterator[Record]:
    """Events from an exported file (gzip NDJSON, or plain NDJSON)."""
    for line in raw_from_file(path):
        yield Record(Event.model_validate_json(line), line)


class ExportTargetError(ValueError):
    """A name an export cannot be written to: a directory, a missing directory, or something other
    than a regular file (a device, a pipe)."""


def export_target(path: Path) -> Path:
    """The regular file an export to ``path`` writes: a symbolic link's target (the link stays and
    shows the new export), ``path`` otherwise. :class:`ExportTargetError` for what is no regular
    file: the finished export is renamed into place, and renamed over ``/dev/null`` or
    ``/dev/stdout`` it replaced the device with a regular file (for root, for everyone), or over a
    link it replaced the link and left its target as it was."""
    if path.is_dir():  # (through a link too)
        raise ExportTargetError(f"{path} is a directory: give the name of the file to write")
    if path.exists() and not path.is_file():
        raise ExportTargetError(
            f"{path} is not a regular file (a device, a pipe or a socket): an export is written whole "
            "under another name and then renamed into place, which would replace it; give the name "
            "of a file"
        )
    target = path.resolve() if path.is_symlink() else path
    if not target.parent.is_dir():
        raise ExportTargetError(f"no such directory: {target.parent}")
    return target


@contextmanager
def export_file(path: Path) -> Iterator[gzip.GzipFile]:
    """A gzip file that appears at ``path`` only once it is complete: written beside it under
    another name and renamed at the end, so a failed export leaves nothing (and no half of one).
    A symbolic link's target is written (:func:`export_target`)."""
    path = export_target(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        # The header names the file as it ends up, with no time: the same events, the same bytes.
        with partial.open("wb") as raw, gzip.GzipFile(path.name, "wb", fileobj=raw, mtime=0) as handle:
            yield handle
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def write_export(records: Iterable[Record], path: Path) -> int:
    """Write records as gzip-compressed NDJSON (the raw bytes as they were on the topic)."""
    written = 0
    with export_file(path) as handle:
        for record in records:
            handle.write(record.raw + b"\n")
            written += 1
    return written


async def export_range(
    settings: Settings,
    window: Window,
    path: Path,
    on_total: Callable[[int], None] | None = None,
    on_read: Callable[[int], None] | None = None,
) -> tuple[int, int, int]:
    """Stream the events topic's events inside ``window`` to an export file at ``path`` (see
    :func:`write_export`), holding one batch at a time however long the log; ``on_read`` hears
    how many more records were read, every thousand. Returns the events written and read, and the
    records of the topic that are no event (left out: they went to the dead-letter topic live)."""
    written = read = not_events = 0
    with export_file(path) as handle:
        async for values in raw_from_kafka(settings, on_total):
            for value in values:
                try:
                    event = Event.model_validate_json(value)
                except ValidationError:
                    not_events += 1
                else:
                    read += 1
                    if window.holds(event):
                        handle.write(value + b"\n")
                        written += 1
                if on_read and (read + not_events) % 1000 == 0:  # (the total counts every record)
                    on_read(1000)
    if on_read and (read + not_events) % 1000:
        on_read((read + not_events) % 1000)
    return written, read, not_events


def describe(path: Path) -> dict[str, object]:
    """A small header for humans: how many events the file holds."""
    return {"file": str(path), "events": sum(1 for _ in from_file(path))}


def dumps(value: object) -> str:
    return json.dumps(value, default=str)
