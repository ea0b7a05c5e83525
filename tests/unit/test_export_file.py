"""An export file appears only once it is whole."""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from followback.cli import app
from followback.eventlog import (
    ExportTargetError,
    UnreadableExportError,
    export_file,
    export_target,
    raw_from_file,
)


def half_export(path: Path) -> None:
    with export_file(path) as handle:
        handle.write(b"half of an export\n")
        raise RuntimeError("the broker went away")


def test_a_failed_export_leaves_no_file_and_keeps_the_one_it_would_replace(tmp_path: Path) -> None:
    path = tmp_path / "log.ndjson.gz"
    with pytest.raises(RuntimeError):
        half_export(path)
    assert list(tmp_path.iterdir()) == []

    path.write_bytes(b"yesterday's export")
    with pytest.raises(RuntimeError):
        half_export(path)
    assert path.read_bytes() == b"yesterday's export"
    assert list(tmp_path.iterdir()) == [path]

    with export_file(path) as handle:
        handle.write(b"a whole export\n")
    assert gzip.decompress(path.read_bytes()) == b"a whole export\n"
    assert list(tmp_path.iterdir()) == [path]


def test_an_export_reads_back_whatever_its_name(tmp_path: Path) -> None:
    for name in ("log.ndjson.gz", "log.ndjson"):
        with export_file(tmp_path / name) as handle:
            handle.write(b'{"a": 1}\n\n{"b": 2}\n')
        assert list(raw_from_file(tmp_path / name)) == [b'{"a": 1}', b'{"b": 2}']
    (tmp_path / "plain.ndjson.gz").write_bytes(b'{"c": 3}\n')  # not compressed, despite its name
    assert list(raw_from_file(tmp_path / "plain.ndjson.gz")) == [b'{"c": 3}']


def test_an_export_cut_off_or_damaged_is_an_error_that_names_the_file(tmp_path: Path) -> None:
    whole = gzip.compress(b'{"event_id": "e1"}\n' * 2000)
    cut, damaged = tmp_path / "cut.ndjson.gz", tmp_path / "damaged.ndjson.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    damaged.write_bytes(whole[:10] + b"\x00" * 40 + whole[50:])
    for path in (cut, damaged):
        with pytest.raises(UnreadableExportError, match=f"{path} is not a readable export"):
            list(raw_from_file(path))


def test_a_plain_export_cut_mid_record_is_an_error_and_a_whole_last_line_is_not(tmp_path: Path) -> None:
    plain = b'{"event_id": "e1"}\n' * 3
    cut, unended = tmp_path / "cut.ndjson", tmp_path / "unended.ndjson"
    cut.write_bytes(plain[:-8])
    unended.write_bytes(plain.rstrip(b"\n"))  # a hand-made file may end without a newline
    with pytest.raises(
        UnreadableExportError,
        match=f"{cut} is cut off or not NDJSON: its last line is not a whole JSON record",
    ):
        list(raw_from_file(cut))
    assert list(raw_from_file(unended)) == [b'{"event_id": "e1"}'] * 3


def test_the_same_events_export_to_the_same_bytes_named_as_the_file(tmp_path: Path) -> None:
    """No time in the gzip header, and the file's own name, as gunzip -N restores it (not the name
    it was written under)."""
    exports = []
    for n in (1, 2):
        path = tmp_path / f"run{n}" / "log.ndjson.gz"
        path.parent.mkdir()
        with export_file(path) as handle:
            handle.write(b'{"event_id": "e1"}\n')
        exports.append(path.read_bytes())
    assert exports[0] == exports[1]
    assert exports[0][10:21] == b"log.ndjson\x00"
    assert b"partial" not in exports[0]


def test_a_byte_order_mark_before_the_first_line_is_not_part_of_the_first_record(tmp_path: Path) -> None:
    """An editor's UTF-8 byte order mark: the first record is read whole (it was skipped as "not an
    event" before), in a plain file and in a compressed one; a mark inside the file is left as it is."""
    lines = b'{"a": 1}\n{"b": 2}\n'
    (tmp_path / "plain.ndjson").write_bytes(b"\xef\xbb\xbf" + lines)
    (tmp_path / "packed.ndjson.gz").write_bytes(gzip.compress(b"\xef\xbb\xbf" + lines))
    for name in ("plain.ndjson", "packed.ndjson.gz"):
        assert list(raw_from_file(tmp_path / name)) == [b'{"a": 1}', b'{"b": 2}'], name
    (tmp_path / "inside.ndjson").write_bytes(b'{"a": 1}\n\xef\xbb\xbf{"b": 2}\n')
    assert list(raw_from_file(tmp_path / "inside.ndjson"))[1] == b'\xef\xbb\xbf{"b": 2}'


def test_an_export_to_a_link_writes_its_target_and_leaves_the_link(tmp_path: Path) -> None:
    """The finished export is renamed into place: renamed over a link, it replaced the link with a
    file and left the file the link named as it was (helper-75)."""
    archive = tmp_path / "archive"
    archive.mkdir()
    target = archive / "2026-01.ndjson.gz"
    target.write_bytes(b"last month's export")
    link = tmp_path / "latest.ndjson.gz"
    link.symlink_to(target)
    with export_file(link) as handle:
        handle.write(b'{"event_id": "e1"}\n')
    assert link.is_symlink()
    assert link.resolve() == target
    assert gzip.decompress(target.read_bytes()) == b'{"event_id": "e1"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive", "latest.ndjson.gz"]
    assert list(archive.iterdir()) == [target]


def test_an_export_to_what_is_no_regular_file_is_refused_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    """A device or a pipe (``/dev/null``, ``/dev/stdout``): renamed over, it became a regular file,
    for root the system's own ``/dev/null`` (helper-75). Refused, naming it, before anything is written."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    link = tmp_path / "out"
    link.symlink_to(pipe)  # as /dev/stdout is a link to the process's output
    for path in (pipe, link):
        with pytest.raises(ExportTargetError, match=f"{path} is not a regular file"), export_file(path):
            raise AssertionError("nothing is written")
    assert stat.S_ISFIFO(pipe.lstat().st_mode)
    assert link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "pipe"]
    with pytest.raises(ExportTargetError, match="is a directory"):
        export_target(tmp_path)
    with pytest.raises(ExportTargetError, match=f"no such directory: {tmp_path / 'nowhere'}"):
        export_target(tmp_path / "nowhere" / "log.ndjson.gz")


def test_the_export_command_refuses_what_is_no_regular_file_before_reading_the_log(tmp_path: Path) -> None:
    """Said as the command's refusal of FILE, exit 2, before any broker is asked (none is here)."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    result = CliRunner().invoke(app, ["log", "export", str(pipe)])
    assert result.exit_code == 2
    assert f"Invalid value for FILE: {pipe} is not a regular file" in " ".join(
        result.output.replace("│", " ").split()
    )
    assert stat.S_ISFIFO(pipe.lstat().st_mode)
