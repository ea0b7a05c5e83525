"""Follow-backs made on X itself, as the notifier reads them from the events topic (no database)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from services.ingest.webhook import map_payload
from services.notifier import follow_backs
from services.notifier.actions import followed_back_event
from services.notifier.review_items import decided_how
from shared.events import Event
from tests.support import T0, event
from tests.unit.test_queue_page import page_text, render_row

DATA = Path(__file__).resolve().parents[1] / "data" / "x"
BRAND = {"id": "3001969357", "screen_name": "brand"}
PERSON = {"id": "4242", "id_str": "4242", "screen_name": "ana", "followers_count": 10}


def _x_follow_back() -> bytes:
    """The brand's follow of a person on X, as the ingest maps and publishes it."""
    payload = json.loads((DATA / "follow_events.json").read_text())
    payload["follow_events"] = [{**payload["follow_events"][0], "source": BRAND, "target": PERSON}]
    [mapped] = map_payload(payload).events
    return Event.model_validate(mapped).model_dump_json().encode()


def _body(raw: dict[str, Any]) -> bytes:
    return Event.model_validate(raw).model_dump_json().encode()


def test_only_follow_backs_the_queue_did_not_publish_itself_are_read() -> None:
    own = followed_back_event(str(uuid.uuid4()), "brand", {"id": "7", "screen_name": "u7"}, T0)
    assert own is not None
    bodies = [
        _body(event("f1", "follow", "1", T0)),
        _x_follow_back(),
        json.dumps(own).encode(),  # the review queue's own Follow back, back from the topic
        _body(event("tooling-1", "followed_back", "9", T0)),  # the brand's tooling, over HTTP
        _body(event("followed-back:not-an-action", "followed_back", "8", T0)),
        b'{"type": "followed_back", "broken": true}',  # the churn detector dead-letters it
    ]
    found = follow_backs.parse(bodies, range(len(bodies)))
    assert [(e.account_id, e.follower.id, record) for e, record in found] == [
        ("3001969357", "4242", 1),
        ("brand", "9", 3),
        ("brand", "8", 4),
    ]
    assert found[0][0].platform == "x"


def test_the_audit_id_derives_from_the_event_and_the_queue_says_on_x() -> None:
    assert follow_backs.action_id("ev-1") == follow_backs.action_id("ev-1") != follow_backs.action_id("ev-2")
    assert decided_how("x", "x") == "on X"
    assert decided_how("x", None) == "by x"  # a person named x, in the queue
    assert follow_backs.why("x") == "already followed back on X"


def _render(**row: Any) -> str:
    return page_text(render_row(**{"state": "followed_back", "decided_by": "x", "decided_at": T0, **row}))


def test_the_queue_page_says_who_followed_back_where() -> None:
    assert "followed back on X · 2026-03-01 09:00 UTC" in _render(decided="on X")
    assert "followed back by x · 2026-03-01 09:00 UTC" in _render(decided="by x")
    assert "dismissed by ana" in _render(state="dismissed", decided_by="ana")  # a row without the label
