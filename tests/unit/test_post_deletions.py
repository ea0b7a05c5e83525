"""Deleted posts: X's ``tweet_delete_events`` mapped to ``deleted`` events, the event contract of
one, and the pure parts of the churn detector's erasure (which ids name a post, which events it
folds)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from followback.send import _csv_item
from services.churn.deletions import _without_text, copies, post_key, split
from services.ingest.webhook import FOLLOWER_ACTIVITY, map_payload
from shared.events import Event, EventType
from shared.validation import validate

BRAND, AUTHOR, POST = "3001969357", "1462352436237893632", "1959470000000000001"


def _deletion(brand: str = BRAND, author: str = AUTHOR, **status: Any) -> dict[str, Any]:
    item = {"status": {"id": POST, "user_id": author, **status}, "timestamp_ms": "1517588900000"}
    return {"for_user_id": brand, "tweet_delete_events": [item]}


def _mention(brand: str = BRAND) -> dict[str, Any]:
    tweet = {
        "id": int(POST), "id_str": POST, "text": "@brand my secret opinion", "timestamp_ms": "1517588749178",
        "entities": {"user_mentions": [{"id_str": brand}]},
        "user": {"id_str": AUTHOR, "screen_name": "ana"},
    }  # fmt: skip
    return {"for_user_id": brand, "tweet_create_events": [tweet]}


def _events(payload: dict[str, Any]) -> list[Event]:
    events, errors = validate(map_payload(payload).events)
    assert errors == []
    return events


def test_a_deleted_post_is_a_deleted_event_naming_the_posts_event_id_keyed_by_its_author() -> None:
    [post] = _events(_mention())
    [deleted] = _events(_deletion())
    assert deleted.type is EventType.DELETED
    assert deleted.deletes == post.event_id == f"x:tweet:{BRAND}:{POST}"
    assert deleted.event_id == f"x:delete:{BRAND}:{POST}"
    assert deleted.account_id == BRAND
    assert deleted.follower.id == AUTHOR
    assert deleted.key == post.key  # the author's partition: after the post
    assert deleted.occurred_at == datetime(2018, 2, 2, 16, 28, 20, tzinfo=UTC)
    assert deleted.interaction is None


def test_a_deletion_maps_the_same_on_redelivery_and_per_brand() -> None:
    assert _events(_deletion()) == _events(_deletion())
    [other] = _events(_deletion(brand="111"))
    assert other.deletes == f"x:tweet:111:{POST}"
    assert other.event_id != _events(_deletion())[0].event_id


def test_a_deletion_of_the_brands_own_post_is_skipped() -> None:
    mapped = map_payload(_deletion(author=BRAND))
    assert mapped.events == []
    assert mapped.skipped == [f"deletion of post {POST} by the brand itself"]


def test_a_payload_of_deletions_alone_is_follower_activity() -> None:
    """Else a deletion-only payload would be taken for one about no brand and answered with nothing
    published."""
    assert "tweet_delete_events" in FOLLOWER_ACTIVITY


def test_a_deletion_that_is_not_the_shape_x_sends_is_named() -> None:
    with pytest.raises(ValueError, match=r"tweet_delete_events\[0\]\.status: should be an object"):
        map_payload({"for_user_id": BRAND, "tweet_delete_events": [{"status": "x"}]})
    payload = _deletion()
    del payload["tweet_delete_events"][0]["timestamp_ms"]
    _, errors = validate(map_payload(payload).events)
    assert {e.field for e in errors} == {"occurred_at"}


def _body(**extra: Any) -> dict[str, Any]:
    return {"event_id": "d1", "platform": "x", "account_id": "brand", "follower": {"id": "7"},
            "occurred_at": "2026-03-01T09:00:00Z", **extra}  # fmt: skip


def test_a_deleted_event_over_http_names_the_interaction_and_nothing_else_carries_deletes() -> None:
    deleted = Event.model_validate(_body(type="deleted", deletes="i-42"))
    assert deleted.deletes == "i-42"
    with pytest.raises(ValidationError, match="needs the 'deletes' field"):
        Event.model_validate(_body(type="deleted"))
    with pytest.raises(ValidationError, match="carries no 'deletes'"):
        Event.model_validate(_body(type="follow", deletes="i-42"))
    with pytest.raises(ValidationError, match="carries no 'interaction'"):
        Event.model_validate(_body(type="deleted", deletes="i-42", interaction={"kind": "like"}))


def test_a_csv_row_of_followback_send_may_name_the_deleted_interaction() -> None:
    row = {"event_id": "d1", "type": "deleted", "platform": "x", "account_id": "brand", "id": "7",
           "occurred_at": "2026-03-01T09:00:00Z", "deletes": "i-42", "interaction_kind": ""}  # fmt: skip
    assert Event.model_validate(_csv_item(row)).deletes == "i-42"
    follow = Event.model_validate(_csv_item({**row, "type": "follow", "deletes": ""}))
    assert follow.deletes is None


def test_other_events_json_is_unchanged_by_the_deletes_field() -> None:
    """Stored annotations and the topics' records keep their bytes: no ``deletes: null``."""
    follow = Event.model_validate(_body(type="follow"))
    assert "deletes" not in follow.model_dump_json()
    assert Event.model_validate_json(follow.model_dump_json()) == follow


def test_a_post_is_named_by_its_id_whichever_brand_it_was_delivered_for() -> None:
    assert post_key(f"x:tweet:111:{POST}") == post_key(f"x:tweet:222:{POST}") == f"x:tweet:{POST}"
    assert post_key("i-42") == "i-42"
    assert post_key("x:dm:42") == "x:dm:42"
    assert copies(f"x:tweet:111:{POST}", ["222", "111"]) == [f"x:tweet:111:{POST}", f"x:tweet:222:{POST}"]
    assert copies("i-42", ["222"]) == ["i-42"]


def test_deleted_events_are_not_folded_and_a_withheld_copy_keeps_its_kind() -> None:
    [post] = _events(_mention())
    [deleted] = _events(_deletion())
    assert split([post, deleted]) == ([post], [deleted])
    blank = _without_text(post)
    assert blank.interaction is not None
    assert post.interaction is not None
    assert (blank.interaction.kind, blank.interaction.text) == (post.interaction.kind, "")
    assert blank.model_copy(update={"interaction": post.interaction}) == post


def test_a_replay_counts_no_deletion_among_the_records_that_are_not_events() -> None:
    """A deletion is an event the detector reads (it erases a text and folds nothing): replay skips
    it, but never as a record that "went to the dead-letter topic" live."""
    from followback import replay, replay_workers
    from followback.eventlog import Window
    from services.churn.patterns import ChurnRules
    from services.scorer.scoring import ScoringRules

    follow = Event.model_validate(
        _body(event_id="f1", type="follow", follower={"id": AUTHOR}, occurred_at="2018-02-01T00:00:00Z")
    )
    [post] = _events(_mention())
    [deleted] = _events(_deletion())
    dealer = replay_workers.Dealer()
    dealer.extend([e.model_dump_json().encode() for e in (follow, post, deleted)])
    job = replay_workers.Job(Window(), ScoringRules(), replay.Configs({}), ChurnRules(), None)
    report = replay_workers.replay(dealer, job, None).report
    assert report.warnings == []
    # Every event read, as log export counts them; the deletion among them said apart, skipped.
    assert (report.events_read, report.deletions_skipped) == (3, 1)
