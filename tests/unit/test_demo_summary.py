"""The demo's summary as printed: the table, the sentence, and a last line of JSON that CI reads (keys
are added, never renamed)."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest
from rich.console import Console

from followback import demo
from followback.summary import Summary

KEYS_BEFORE = {
    "relationships", "decision_rows", "by_class", "notifications_pending", "notifications_retracted",
    "churners_detected", "followed_back_on_x", "posts_erased",
}  # fmt: skip


def test_the_summary_counts_the_followers_not_available_on_x_and_the_brands_unfollows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(demo, "console", Console(file=out, width=120))
    summary = Summary(
        relationships=9, decision_rows=14, by_class=Counter(ignore=3, withdrawn=2), pushed=1, churners=1,
        followed_back_on_x=1, posts_erased=2, suspended_on_x=3, deactivated_on_x=1, unfollowed_back_on_x=2,
        current={"1": "ignore"},
    )  # fmt: skip
    demo.print_summary(summary, {"1": "spam"}, 1.5, 20)

    lines = out.getvalue().strip().splitlines()
    last = json.loads(lines[-1])
    assert set(last) > KEYS_BEFORE  # (the keys CI reads stay)
    assert (last["suspended_on_x"], last["deactivated_on_x"], last["unfollowed_back_on_x"]) == (3, 1, 2)
    assert (last["posts_erased"], last["followed_back_on_x"], last["by_class"]["ignore"]) == (2, 1, 3)
    said = " ".join(lines[:-1])
    assert "4 held back as not available on X (3 suspended, 1 deactivated)" in said
    assert "2 unfollowed by the brand on X" in said
