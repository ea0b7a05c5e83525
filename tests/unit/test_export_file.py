"""An export file appears only once it is whole."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from followback.eventlog import export_file, raw_from_file


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
