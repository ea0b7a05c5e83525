"""The review queue page's template, rendered without a database."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.notifier.web import app
from services.notifier.web.listing import CLASSES, SORTS, STATES, Filters, Page


def render_row(**row: Any) -> str:
    """The page with one row: an open high-value follower, with ``row``'s columns instead."""
    base = {
        "account_id": "brand", "follower_id": "42", "decision_id": "d1", "class": "high_value",
        "score": 80.0, "reasons": [], "screen_name": "ana", "profile": {}, "occurred_at": None,
        "state": "open", "decided_by": None, "decided_at": None, "push": None,
        "suppressed_reason": None, "notification": None, "preference": None, "erased": False,
        "interactions": None,
    }  # fmt: skip
    templates = Environment(
        loader=FileSystemLoader(app.HERE / "templates"), autoescape=select_autoescape(default=True)
    )
    templates.filters["urlencode_query"] = lambda params: ""
    templates.filters["score"] = app.score_text
    return templates.get_template("queue.html").render(
        user="ana", csrf="t", page=Page(rows=[{**base, **row}], total=1, pages=1), filters=Filters(),
        accounts=[], classes=CLASSES, states=STATES, sorts=list(SORTS), troubled=0, problems=[], notice="",
        here="/",
    )  # fmt: skip


def _render(profile: dict[str, Any]) -> str:
    return render_row(profile=profile)


def test_an_unknown_listed_count_is_not_shown_as_no_lists() -> None:
    """A direct message's user object carries no listed count (None: unknown, shared.events.Profile);
    the queue showed it as "0 lists", the very reading the scorer stopped making."""
    unknown = _render({"id": "42", "followers_count": 300, "listed_count": None})
    assert "lists</span>" not in unknown
    assert "<b>300</b> followers" in unknown
    left_out = _render({"id": "42", "followers_count": 300})  # (a snapshot without the key)
    assert "lists</span>" not in left_out
    assert "<b>0</b> lists" in _render({"id": "42", "listed_count": 0})
    assert "<b>1,200</b> lists" in _render({"id": "42", "listed_count": 1200})
