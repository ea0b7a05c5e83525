"""`followback send FILE` reads what it can of a file and names, by line, what no event can come
from, instead of stopping with a traceback (helper-40: an NDJSON number of 5,000 digits, a line that
is not UTF-8, a CSV row with more fields than the header)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from followback.cli import app
from followback.send import _Unreadable, events_url, read_items
from tests.receivers import WebhookReceiver
from tests.support import T0, event


def test_ndjson_lines_no_event_can_come_from_are_named_in_their_place(tmp_path: Path) -> None:
    good = json.dumps(event("e1", "follow", "42", T0))
    path = tmp_path / "events.ndjson"
    lines = [good.encode(), b'{"n": ' + b"1" * 5000 + b"}", b"\xff\xfe{}", b"{not json", good.encode()]
    path.write_bytes(b"\n".join(lines) + b"\n")

    items = list(read_items(path))

    assert [item["event_id"] for item in (items[0], items[4])] == ["e1", "e1"]
    reasons = [item.reason for item in items[1:4] if isinstance(item, _Unreadable)]
    assert len(reasons) == 3
    assert reasons[0].startswith("line 2: not JSON (Exceeds the limit (4300 digits)")
    assert reasons[1] == "line 3: not UTF-8 text (byte 1 of the line)"
    assert reasons[2].startswith("line 4: not JSON (")


def test_a_csv_row_with_more_fields_than_the_header_is_named(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    header = "event_id,type,platform,account_id,occurred_at,id"
    path.write_text(
        f"{header}\ne1,follow,x,brand,{T0.isoformat()},42\ne2,follow,x,brand,{T0.isoformat()},43,extra,more\n",
        encoding="utf-8",
    )
    first, second = read_items(path)
    assert first["follower"] == {"id": "42"}
    assert isinstance(second, _Unreadable)
    assert second.reason == "line 3: 2 more field(s) than the header has columns"


def test_a_csv_file_that_is_not_utf8_stops_send_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(b"event_id,type\n\xe9v1,follow\n")
    result = CliRunner().invoke(app, ["send", str(path), "--url", "http://127.0.0.1:9/v1/events"])
    assert result.exit_code == 1
    assert "is not UTF-8 text (byte 15)" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_byte_order_mark_before_the_first_line_is_skipped(tmp_path: Path) -> None:
    """Excel saves "CSV UTF-8" with a byte order mark: it was read as part of the first column's
    name, so every row lacked that column (``event_id: Field required`` for each of them); an NDJSON
    file with one had its first line refused as not JSON."""
    csv_path = tmp_path / "events.csv"
    csv_path.write_bytes(
        b"\xef\xbb\xbfevent_id,type,platform,account_id,occurred_at,id\r\n"
        + f"e1,follow,x,brand,{T0.isoformat()},42\r\n".encode()
    )
    [row] = read_items(csv_path)
    assert row["event_id"] == "e1"
    assert row["follower"] == {"id": "42"}

    ndjson_path = tmp_path / "events.ndjson"
    ndjson_path.write_bytes(b"\xef\xbb\xbf" + json.dumps(event("e2", "follow", "43", T0)).encode() + b"\n")
    [item] = read_items(ndjson_path)
    assert item["event_id"] == "e2"


def test_url_given_as_ingest_address_posts_to_its_events_endpoint() -> None:
    """`--url http://host:8081` (ingest's address) posted to `/` and stopped on ingest's 404."""
    assert events_url("http://127.0.0.1:8081") == "http://127.0.0.1:8081/v1/events"
    assert events_url("http://127.0.0.1:8081/") == "http://127.0.0.1:8081/v1/events"
    assert events_url("https://ingest.example/v1/events") == "https://ingest.example/v1/events"
    assert events_url("https://gw.example/followback/v1/events") == "https://gw.example/followback/v1/events"


def test_an_event_of_a_network_not_read_yet_is_rejected_before_sending(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_text(json.dumps({**event("e1", "follow", "42", T0), "platform": "instagram"}) + "\n")
    result = CliRunner().invoke(app, ["send", str(path), "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1, result.output
    assert "rejected line 1: platform: 'instagram' is not read yet" in result.output


def test_a_rejection_names_the_line_of_the_file(tmp_path: Path) -> None:
    """helper-45: rejections were numbered by event (from 0), unreadable lines by line (from 1),
    and a CSV's event 0 was its line 2."""
    path = tmp_path / "events.ndjson"
    bad = {**event("e1", "follow", "42", T0), "occurred_at": "not a time"}
    path.write_text("\n\n" + json.dumps(bad) + "\n")
    result = CliRunner().invoke(app, ["send", str(path), "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1, result.output
    assert "rejected line 3: occurred_at" in result.output


@pytest.mark.parametrize(
    ("token", "said"),
    [
        (None, "give one of ingest's FOLLOWBACK_INGEST__TOKENS with --token or FOLLOWBACK_TOKEN"),
        ("a-wrong-token-0123456789", "the token given with --token or FOLLOWBACK_TOKEN is not one of"),
    ],
)
def test_a_refused_token_says_how_send_takes_one(token: str | None, said: str, tmp_path: Path) -> None:
    """helper-64: against a production ingest, send said only "ingest answered 401: a bearer token is
    required"; its --token and FOLLOWBACK_TOKEN were in --help alone, not in the README."""
    path = tmp_path / "events.ndjson"
    path.write_text(json.dumps(event("e1", "follow", "42", T0)) + "\n", encoding="utf-8")
    with WebhookReceiver(failures=1, fail_status=401) as ingest:
        result = CliRunner().invoke(
            app, ["send", str(path), "--url", ingest.url("/v1/events")], env={"FOLLOWBACK_TOKEN": token}
        )
    assert result.exit_code == 1
    assert said in " ".join(result.output.split())
