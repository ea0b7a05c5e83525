"""What the churn detector takes from a batch's records besides the events."""

from __future__ import annotations

from types import SimpleNamespace

from services.churn import intake


def test_a_key_that_is_not_utf8_maps_to_no_follower_and_fails_nothing() -> None:
    """Decoding such a key (written straight onto the topic) raised outside the safety net that
    dead-letters a record: the detector stalled on its batch, on every partition it held (helper-41)."""
    records = [SimpleNamespace(key=b"\xff\xfe", partition=3), SimpleNamespace(key=b"42", partition=5)]
    assert intake.partitions(records) == {"\ufffd\ufffd": 3, "42": 5}  # (no follower id holds U+FFFD)
