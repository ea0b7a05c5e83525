"""``followback evaluate``: score a labelled account file exactly as the scorer service would.

Each row (user-object columns plus ``label``, ``human`` or ``bot``) becomes the follow event of a
new follower, observed at the row's ``updated`` time (or ``crawled_at``): the profile's age is taken
at that moment, never today. The event goes through the churn rules and the service's own
:func:`services.scorer.scoring.score`; class ``spam`` counts as "bot", every other class as "human".
"Positive" is bot throughout: precision is the share of accounts called spam that are bots.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from services.churn.rules import apply
from services.scorer.scoring import SCORER_VERSION, ScoringRules, score
from shared.decisions import DecisionClass
from shared.events import DEFAULT_PLATFORM, Event, EventType, Profile
from shared.relationships import AnnotatedEvent, RelationshipState

# The columns the scorer reads; the observation time comes from one of OBSERVED_COLUMNS.
REQUIRED_COLUMNS = (
    "id",
    "screen_name",
    "name",
    "description",
    "url",
    "created_at",
    "followers_count",
    "friends_count",
    "statuses_count",
    "favourites_count",
    "listed_count",
    "default_profile_image",
    "label",
)
OBSERVED_COLUMNS = ("updated", "crawled_at")
LABELS = {"human": False, "genuine": False, "bot": True, "fake": True}
_TEXT_LIMITS = {"screen_name": 50, "name": 100, "description": 1000, "url": 500, "location": 200}
_TRUE = {"1", "1.0", "true", "t", "yes", "y"}
_FALSE = {"", "0", "0.0", "false", "f", "no", "n", "none", "null", "nan"}


class EvaluationError(Exception):
    """The account file cannot be evaluated (missing, unreadable, or without the needed columns)."""


@dataclass(frozen=True)
class Confusion:
    """A binary confusion matrix, positive = bot."""

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    @classmethod
    def of(cls, pairs: Iterable[tuple[bool, bool]]) -> Confusion:
        """From (actual is bot, predicted bot) pairs."""
        counts = Counter(pairs)
        return cls(
            tp=counts[True, True], fp=counts[False, True], tn=counts[False, False], fn=counts[True, False]
        )

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.total if self.total else 0.0

    @property
    def precision(self) -> float:
        called = self.tp + self.fp
        return self.tp / called if called else 0.0

    @property
    def recall(self) -> float:
        actual = self.tp + self.fn
        return self.tp / actual if actual else 0.0

    @property
    def f1(self) -> float:
        both = self.precision + self.recall
        return 2 * self.precision * self.recall / both if both else 0.0

    @property
    def mcc(self) -> float:
        """Matthews correlation coefficient; 0 when any margin of the matrix is empty."""
        margins = (self.tp + self.fp) * (self.tp + self.fn) * (self.tn + self.fp) * (self.tn + self.fn)
        return (self.tp * self.tn - self.fp * self.fn) / math.sqrt(margins) if margins else 0.0

    def figures(self) -> dict[str, float | int]:
        return {
            "accounts": self.total,
            "accuracy": round(self.accuracy, 4),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "mcc": round(self.mcc, 4),
            "tp": self.tp,
            "fp": self.fp,
            "tn": self.tn,
            "fn": self.fn,
        }


@dataclass(frozen=True)
class LabelledAccount:
    row: int  # 1-based data row number (the header is row 0)
    event: Event
    is_bot: bool
    group: str  # the ``dataset`` column when present, else the label


def _text(row: Mapping[str, str | None], column: str) -> str:
    value = (row.get(column) or "").strip()
    limit = _TEXT_LIMITS.get(column)
    return value[:limit] if limit else value


def _count(row: Mapping[str, str | None], column: str, n: int) -> int:
    raw = _text(row, column)
    if not raw:
        return 0
    try:
        return max(0, int(float(raw)))
    except ValueError as error:
        raise EvaluationError(f"row {n}: {column}: not a count: {raw!r}") from error


def _flag(row: Mapping[str, str | None], column: str, n: int) -> bool:
    raw = _text(row, column).lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise EvaluationError(f"row {n}: {column}: not a boolean: {raw!r}")


def parse_time(raw: str) -> datetime:
    """Twitter's ``Fri Apr 06 10:58:22 +0000 2007``, or ISO 8601 / ``2015-02-14 10:54:49`` (UTC)."""
    raw = raw.strip()
    try:
        return datetime.strptime(raw, "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        pass
    when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _time(row: Mapping[str, str | None], column: str, n: int) -> datetime | None:
    raw = _text(row, column)
    if not raw:
        return None
    try:
        return parse_time(raw)
    except ValueError as error:
        raise EvaluationError(f"row {n}: {column}: not a time: {raw!r}") from error


def observed_at(row: Mapping[str, str | None], n: int) -> datetime:
    """When the profile was seen: the row's ``updated`` time, else its ``crawled_at``."""
    for column in OBSERVED_COLUMNS:
        when = _time(row, column, n)
        if when is not None:
            return when
    raise EvaluationError(f"row {n}: no observation time (empty {' and '.join(OBSERVED_COLUMNS)})")


def profile_from_row(row: Mapping[str, str | None], n: int) -> Profile:
    """A profile snapshot from one row in user-object columns (booleans as "1", "1.0" or "")."""
    account_id = _text(row, "id")
    if account_id.endswith(".0") and account_id[:-2].isdigit():
        account_id = account_id[:-2]
    values: dict[str, Any] = {
        "id": account_id or f"row-{n}",
        **{c: _text(row, c) for c in ("screen_name", "name", "description", "location")},
        "url": _text(row, "url") or None,
        "created_at": _time(row, "created_at", n),
        **{
            c: _count(row, c, n)
            for c in ("followers_count", "friends_count", "statuses_count", "favourites_count")
        },
        "listed_count": _count(row, "listed_count", n),
        **{
            c: _flag(row, c, n) for c in ("verified", "protected", "default_profile", "default_profile_image")
        },
        "last_status_at": _time(row, "last_status_at", n),
    }
    try:
        return Profile.model_validate(values)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise EvaluationError(f"row {n}: {where}: {first['msg']}") from error


def event_from_row(row: Mapping[str, str | None], n: int) -> Event:
    """The follow event of this account, at its observation time."""
    return Event(
        event_id=f"evaluate-{n}",
        type=EventType.FOLLOW,
        platform=DEFAULT_PLATFORM,
        account_id="evaluate",
        follower=profile_from_row(row, n),
        occurred_at=observed_at(row, n),
    )


def label_of(row: Mapping[str, str | None], n: int) -> bool:
    raw = _text(row, "label").lower()
    if raw not in LABELS:
        raise EvaluationError(f"row {n}: label: expected human or bot, got {raw!r}")
    return LABELS[raw]


def read_accounts(path: Path) -> list[LabelledAccount]:
    """Every labelled account of a CSV file, as a follow event; raises :class:`EvaluationError`."""
    if not path.is_file():
        raise EvaluationError(f"no such file: {path}")
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or ())
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if not columns & set(OBSERVED_COLUMNS):
                missing.append(" or ".join(OBSERVED_COLUMNS))
            if missing:
                raise EvaluationError(f"{path}: missing column(s): {', '.join(missing)}")
            accounts = []
            for n, row in enumerate(reader, 1):
                is_bot = label_of(row, n)
                group = _text(row, "dataset") or ("bot" if is_bot else "human")
                accounts.append(LabelledAccount(n, event_from_row(row, n), is_bot, group))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise EvaluationError(f"{path}: cannot read: {error}") from error
    if not accounts:
        raise EvaluationError(f"{path}: no accounts")
    return accounts


@dataclass(frozen=True)
class Report:
    path: str
    confusion: Confusion
    classes: dict[str, Counter[str]]  # label -> decision class -> count
    groups: dict[str, Confusion] = field(default_factory=dict)
    scorer_version: str = SCORER_VERSION
    threshold: float | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "file": self.path,
            **self.confusion.figures(),
            "groups": {g: round(c.accuracy, 4) for g, c in sorted(self.groups.items())},
            "scorer_version": self.scorer_version,
            "spam_threshold": self.threshold,
        }


def spam_threshold(rules: ScoringRules) -> float:
    from services.scorer.authenticity import load_model

    return rules.spam_probability if rules.spam_probability is not None else load_model().threshold


def evaluate(path: Path, rules: ScoringRules | None = None) -> Report:
    """Score every account of ``path`` as a new follower and compare ``spam`` with the labels."""
    rules = rules or ScoringRules()
    accounts = read_accounts(path)
    pairs: list[tuple[bool, bool]] = []
    classes: dict[str, Counter[str]] = {"human": Counter(), "bot": Counter()}
    by_group: dict[str, list[tuple[bool, bool]]] = {}
    for account in accounts:
        _, note = apply(RelationshipState(), account.event)
        decision = score(AnnotatedEvent(event=account.event, relationship=note), rules)
        predicted = decision.decision_class is DecisionClass.SPAM
        pairs.append((account.is_bot, predicted))
        by_group.setdefault(account.group, []).append((account.is_bot, predicted))
        classes["bot" if account.is_bot else "human"][decision.decision_class.value] += 1
    return Report(
        path=str(path),
        confusion=Confusion.of(pairs),
        classes=classes,
        groups={g: Confusion.of(p) for g, p in by_group.items()},
        threshold=spam_threshold(rules),
    )


def render(report: Report, console: Console) -> None:
    """The figures, the confusion matrix, the classes per label and, given ``dataset``, per group."""
    c = report.confusion
    figures = Table(title=f"{report.path}: {c.total} accounts (positive = bot = class spam)")
    for name in ("accuracy", "precision", "recall", "F1", "MCC"):
        figures.add_column(name, justify="right")
    figures.add_row(*(f"{v:.4f}" for v in (c.accuracy, c.precision, c.recall, c.f1, c.mcc)))
    console.print(figures)

    matrix = Table(title="confusion matrix")
    matrix.add_column("actual \\ decided")
    matrix.add_column("spam (bot)", justify="right")
    matrix.add_column("other classes (human)", justify="right")
    matrix.add_row("bot", str(c.tp), str(c.fn))
    matrix.add_row("human", str(c.fp), str(c.tn))
    console.print(matrix)

    names = sorted({name for counts in report.classes.values() for name in counts})
    classes = Table(title="decided class per label")
    classes.add_column("label")
    for name in names:
        classes.add_column(name, justify="right")
    for label, counts in report.classes.items():
        classes.add_row(label, *(str(counts[name]) for name in names))
    console.print(classes)

    if len(report.groups) > 2 or set(report.groups) - {"human", "bot"}:
        groups = Table(title="per group")
        for name in ("group", "accounts", "bots", "called spam", "accuracy"):
            groups.add_column(name, justify="right" if name != "group" else "left")
        for name, g in sorted(report.groups.items()):
            groups.add_row(name, str(g.total), str(g.tp + g.fn), str(g.tp + g.fp), f"{g.accuracy:.4f}")
        console.print(groups)
