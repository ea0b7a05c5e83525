"""``followback evaluate``: the figures, the row mapping, the command, and the target on real data."""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from followback.cli import app
from followback.evaluate import (
    Confusion,
    EvaluationError,
    evaluate,
    event_from_row,
    parse_time,
    read_accounts,
)
from shared.events import EventType

CRESCI = Path(__file__).resolve().parents[3] / "shared/data/cresci-2015/accounts.csv"

COLUMNS = [
    "id", "name", "screen_name", "statuses_count", "followers_count", "friends_count",
    "favourites_count", "listed_count", "created_at", "url", "lang", "default_profile",
    "default_profile_image", "verified", "protected", "description", "updated", "dataset", "label",
]  # fmt: skip
HUMAN = {
    "id": "3610511", "name": "Davide", "screen_name": "braddd", "statuses_count": "20370",
    "followers_count": "5470", "friends_count": "2385", "favourites_count": "145", "listed_count": "52",
    "created_at": "Fri Apr 06 10:58:22 +0000 2007", "url": "http://braddd.tumblr.com", "lang": "it",
    "default_profile": "", "default_profile_image": "", "verified": "", "protected": "",
    "description": "Founder, movie lover", "updated": "2015-02-14 10:54:49", "dataset": "E13",
    "label": "human",
}  # fmt: skip
BOT = {
    **HUMAN, "id": "1500000001", "name": "Jenny", "screen_name": "jenny_x", "statuses_count": "20",
    "followers_count": "10", "friends_count": "214", "favourites_count": "0", "listed_count": "0",
    "created_at": "Tue Feb 12 08:00:00 +0000 2013", "url": "", "lang": "en", "default_profile": "1",
    "default_profile_image": "1.0", "description": "", "dataset": "FSF", "label": "bot",
}  # fmt: skip


def write(path: Path, rows: list[dict[str, str]], columns: list[str] = COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_metrics_of_a_hand_made_confusion() -> None:
    c = Confusion(tp=3, fp=1, tn=4, fn=2)
    assert c.total == 10
    assert c.accuracy == pytest.approx(0.7)
    assert c.precision == pytest.approx(0.75)
    assert c.recall == pytest.approx(0.6)
    assert c.f1 == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert c.mcc == pytest.approx((3 * 4 - 1 * 2) / math.sqrt(4 * 5 * 5 * 6))
    assert (
        Confusion.of([(True, True)] * 3 + [(False, True)] + [(False, False)] * 4 + [(True, False)] * 2) == c
    )
    assert Confusion(tp=5, tn=5).mcc == pytest.approx(1.0)
    assert Confusion(fp=5, fn=5).mcc == pytest.approx(-1.0)


def test_degenerate_confusions_give_zero_not_an_error() -> None:
    empty = Confusion()
    assert (empty.accuracy, empty.precision, empty.recall, empty.f1, empty.mcc) == (0, 0, 0, 0, 0)
    assert Confusion(tn=4).mcc == 0.0  # nobody positive: MCC undefined, reported as 0


def test_twitter_and_iso_times_parse_to_aware_datetimes() -> None:
    assert parse_time("Fri Apr 06 10:58:22 +0000 2007") == datetime(2007, 4, 6, 10, 58, 22, tzinfo=UTC)
    assert parse_time("2015-02-14 10:54:49") == datetime(2015, 2, 14, 10, 54, 49, tzinfo=UTC)
    assert parse_time("2015-02-14T10:54:49Z") == datetime(2015, 2, 14, 10, 54, 49, tzinfo=UTC)


def test_a_row_becomes_a_follow_observed_at_its_updated_time() -> None:
    event = event_from_row(BOT, 1)
    p = event.follower
    assert event.type is EventType.FOLLOW
    assert event.occurred_at == datetime(2015, 2, 14, 10, 54, 49, tzinfo=UTC)
    assert p.id == "1500000001"
    assert p.screen_name == "jenny_x"
    assert (p.statuses_count, p.followers_count, p.friends_count) == (20, 10, 214)
    assert (p.favourites_count, p.listed_count) == (0, 0)
    assert p.created_at == datetime(2013, 2, 12, 8, 0, tzinfo=UTC)
    assert p.default_profile
    assert p.default_profile_image
    assert not p.verified
    assert not p.protected
    assert p.url is None
    assert p.description == ""
    human = event_from_row(HUMAN, 2).follower
    assert human.url == "http://braddd.tumblr.com"
    assert not human.default_profile_image


def test_crawled_at_stands_in_for_updated() -> None:
    row = {**BOT, "updated": "", "crawled_at": "2017-01-02 03:04:05"}
    assert event_from_row(row, 1).occurred_at == datetime(2017, 1, 2, 3, 4, 5, tzinfo=UTC)
    with pytest.raises(EvaluationError, match="row 1: no observation time"):
        event_from_row({**BOT, "updated": ""}, 1)


def test_evaluate_a_tiny_file(tmp_path: Path) -> None:
    path = write(tmp_path / "tiny.csv", [HUMAN, BOT, {**HUMAN, "id": "9", "label": "bot"}])
    report = evaluate(path)
    assert report.confusion == Confusion(tp=1, fp=0, tn=1, fn=1)
    assert report.classes["bot"]["spam"] == 1
    assert report.groups["FSF"].tp == 1
    summary = report.summary()
    assert summary["accounts"] == 3
    assert summary["recall"] == 0.5


def test_unusable_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="no such file"):
        read_accounts(tmp_path / "absent.csv")
    short = write(tmp_path / "short.csv", [BOT], [c for c in COLUMNS if c not in ("label", "updated")])
    with pytest.raises(EvaluationError, match=r"missing column.*label.*updated or crawled_at"):
        read_accounts(short)
    with pytest.raises(EvaluationError, match="row 1: label"):
        read_accounts(write(tmp_path / "label.csv", [{**BOT, "label": "maybe"}]))
    with pytest.raises(EvaluationError, match="row 1: followers_count"):
        read_accounts(write(tmp_path / "count.csv", [{**BOT, "followers_count": "many"}]))
    with pytest.raises(EvaluationError, match="no accounts"):
        read_accounts(write(tmp_path / "empty.csv", []))


def test_the_command_prints_the_figures_and_ends_with_json(tmp_path: Path) -> None:
    path = write(tmp_path / "tiny.csv", [HUMAN, BOT])
    result = CliRunner().invoke(app, ["evaluate", str(path)])
    assert result.exit_code == 0, result.output
    assert "MCC" in result.output
    assert "confusion matrix" in result.output
    last = json.loads(result.output.strip().splitlines()[-1])
    assert last["mcc"] == 1.0
    assert last["tp"] == 1
    assert last["tn"] == 1
    assert {"accuracy", "precision", "recall", "f1", "mcc"} <= set(last)


def test_the_command_fails_clearly_on_a_missing_file_or_missing_columns(tmp_path: Path) -> None:
    missing = CliRunner().invoke(app, ["evaluate", str(tmp_path / "absent.csv")])
    assert missing.exit_code == 1
    assert "no such file" in missing.output
    short = write(tmp_path / "short.csv", [BOT], ["id", "label"])
    columns = CliRunner().invoke(app, ["evaluate", str(short)])
    assert columns.exit_code == 1
    assert "missing column" in columns.output


@pytest.mark.skipif(not CRESCI.is_file(), reason=f"the labelled cresci-2015 file is not at {CRESCI}")
def test_mcc_on_cresci_2015_is_at_least_0_90() -> None:
    report = evaluate(CRESCI)
    assert report.confusion.total == 3900
    assert report.confusion.mcc >= 0.90, report.summary()
