"""The brand's block of a follower (X's ``block_events``): the follow ends, but it is no unfollow of
the follower's; while the brand blocks them the follower is harmful, never pushed, and a push sent
is retracted. Trackers confuse an unfollow with a block (docs: the field notes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.churn import codec
from services.churn.rules import InMemory
from services.ingest.webhook import PayloadError, map_payload
from services.notifier import messages
from services.notifier.retraction import retracted_as
from services.notifier.web.listing import deciding_first
from services.scorer.scoring import BLOCKED_RULE, Current, next_decision, next_version
from shared.accounts import AccountConfig, VersionedConfig
from shared.decisions import Decision, DecisionClass
from shared.events import EVENT_TIME_RANK, Event, EventType, event_order
from shared.relationships import AnnotatedEvent
from shared.validation import parse_body, validate
from tests.churn_support import Loop, shuffled_as_in_order
from tests.support import event
from tests.unit.test_churn_event_time import RULES, M

DATA = Path(__file__).resolve().parents[1] / "data" / "x"
BRAND, ANA = "3001969357", "1462352436237893632"


def blocks_payload() -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((DATA / "block_events.json").read_text())
    return payload


def ev(event_id: str, kind: str, minute: int, account: str = "brand", follower: str = "7") -> Event:
    like = "like" if kind == "interaction" else None
    return Event.model_validate(
        event(event_id, kind, follower, minute * M, account=account, interaction=like)
    )


# -- ingest -------------------------------------------------------------------------------------------


def test_the_brands_block_events_become_blocked_and_unblocked_events_of_the_target() -> None:
    mapped = map_payload(blocks_payload())
    events, errors = validate(mapped.events)
    assert errors == []
    block, unblock, *_ = events  # (then 777's block of the brand: test_a_followers_block_of_the_brand_...)
    assert (block.type, unblock.type) == (EventType.BLOCKED, EventType.UNBLOCKED)
    assert {block.account_id, unblock.account_id} == {BRAND}
    assert {block.follower.id, unblock.follower.id} == {ANA}
    assert block.follower.screen_name == "ana_roasts"
    assert block.follower.created_at is not None
    assert block.occurred_at.isoformat() == "2018-02-08T21:57:00.304000+00:00"
    assert mapped.skipped == []
    # A re-delivered webhook maps to the same ids, in the style of the other X mappings.
    again = [e["event_id"] for e in map_payload(blocks_payload()).events]
    assert again == [e.event_id for e in events]
    assert block.event_id.startswith("x-")
    assert block.event_id != unblock.event_id


def test_a_followers_block_of_the_brand_ends_their_follow_and_the_brands_follow_back() -> None:
    """X lists blocks "by user or of user": a follower who blocks the brand ends both follows (no
    unfollow comes for it). It was skipped, so they stayed "following" and could be pushed."""
    mapped = map_payload(blocks_payload())
    events, errors = validate(mapped.events)
    assert errors == []
    theirs = [e for e in events if e.follower.id == "777"]
    # In the detector's order, so the log holds them as event time orders them (replay finds no
    # arrival out of order)
    assert [e.type for e in theirs] == [EventType.UNFOLLOWED_BACK, EventType.UNFOLLOW]
    assert sorted(theirs, key=event_order) == theirs
    assert {e.account_id for e in theirs} == {BRAND}
    assert theirs[0].follower.screen_name == "someone"
    assert {e.occurred_at.isoformat() for e in theirs} == {"2018-02-09T21:58:20+00:00"}
    assert len({e.event_id for e in events}) == len(events)
    # Their unblock restores neither follow, and someone's block of someone else is not ours.
    payload = blocks_payload()
    payload["block_events"] = [
        {**payload["block_events"][2], "type": "unblock"},
        {**payload["block_events"][2], "target": {"id": "888"}},
    ]
    mapped = map_payload(payload)
    assert mapped.events == []
    assert mapped.skipped == [
        f"unblock of {BRAND} by 777, not the brand's block",
        "block of 888 by 777, not the brand's block",
    ]


def test_a_followers_block_after_a_follow_back_is_no_unfollow_after_a_follow_back() -> None:
    """The block's two events share its instant, and the brand's unfollow ranks first whatever the
    ids (here "a" would sort the follower's first): their leaving is no unfollow after a follow-back,
    the brand's follow having ended with theirs; it is still their unfollow (counted, a cycle)."""
    stream = [
        ev("f1", "follow", 0), ev("fb", "followed_back", 10),
        ev("a", "unfollow", 3 * 24 * 60), ev("z", "unfollowed_back", 3 * 24 * 60),
    ]  # fmt: skip
    loop = Loop(RULES).feed(stream)
    left = loop.annotations["a"]
    assert (left.following, left.unfollows, left.followed_back_at) == (False, 1, None)
    assert "unfollow_after_follow_back" not in left.patterns


def test_an_unblock_in_an_unblock_events_part_is_the_same_unblock() -> None:
    """X's documentation names an ``unblock_events`` part beside ``block_events`` (its payloads put
    an unblock in ``block_events`` with type ``unblock``): either way it is the one unblock, with the
    same id, and a malformed item there is named by its own path."""
    payload = blocks_payload()
    unblock = payload["block_events"].pop(1)
    in_block_events = map_payload(blocks_payload()).events[1]
    payload["unblock_events"] = [unblock, {k: v for k, v in unblock.items() if k != "type"}]
    mapped = map_payload(payload)
    events, errors = validate(mapped.events)
    assert errors == []
    events = [e for e in events if e.follower.id == ANA]  # (not 777's block of the brand)
    assert [e.type for e in events] == [EventType.BLOCKED, EventType.UNBLOCKED, EventType.UNBLOCKED]
    assert events[1].event_id == events[2].event_id == in_block_events["event_id"]
    payload["unblock_events"] = [{"source": {"id": BRAND}, "target": 5}]
    with pytest.raises(PayloadError) as raised:
        map_payload(payload)
    assert raised.value.path == "unblock_events[0].target"


def test_a_block_events_part_that_is_not_xs_shape_is_named_by_its_path() -> None:
    payload = blocks_payload()
    payload["block_events"][1]["target"] = "abc"
    with pytest.raises(PayloadError) as raised:
        map_payload(payload)
    assert raised.value.path == "block_events[1].target"
    payload["block_events"] = [{"type": ["block"], "source": {"id": BRAND}, "target": {"id": "5"}}]
    assert map_payload(payload).events == []  # (an unknown type is skipped, never a 500)


def test_blocked_and_unblocked_events_are_accepted_over_http_ingest() -> None:
    body = json.dumps([event("b1", "blocked", "7", M), event("u1", "unblocked", "7", 2 * M)]).encode()
    events, errors = parse_body(body, ndjson=False)
    assert errors == []
    assert [e.type for e in events] == [EventType.BLOCKED, EventType.UNBLOCKED]


# -- churn --------------------------------------------------------------------------------------------


def test_a_block_ends_the_follow_but_is_no_unfollow_quick_or_after_a_follow_back() -> None:
    stream = [
        ev("f1", "follow", 0),
        ev("fb", "followed_back", 10),
        ev("b1", "blocked", 40),
        ev("t", "follow", 24 * 60, follower="8"),
    ]  # fmt: skip  (moves the clock past the window)
    loop = Loop(RULES).feed(stream).finish()
    note = loop.annotations["b1"]
    assert (note.following, note.follows, note.unfollows) == (False, 1, 0)
    assert (note.patterns, note.new_patterns, note.dwell_seconds) == ((), (), None)
    assert note.blocked_at == stream[2].occurred_at
    assert note.followed_back_at is None  # X removes the brand's follow too
    assert loop.alerts == {}
    assert [k for k in loop.retained if k[1] == "7"] == []  # the follow the block ended is not retained


def test_blocks_make_no_serial_cycle_and_a_follow_after_an_unblock_is_a_new_follow() -> None:
    stream = [
        ev("f1", "follow", 0), ev("fb", "followed_back", 10), ev("b1", "blocked", 120),
        ev("u1", "unblocked", 180), ev("f2", "follow", 240), ev("b2", "blocked", 360),
        ev("u2", "unblocked", 400), ev("f3", "follow", 500), ev("x1", "unfollow", 600),
    ]  # fmt: skip
    loop = Loop(RULES).feed(stream)
    unblocked = loop.annotations["u1"]
    assert (unblocked.following, unblocked.blocked_at, unblocked.follows) == (False, None, 1)
    again = loop.annotations["f2"]
    assert (again.following, again.follows, again.last_follow_at) == (True, 2, stream[4].occurred_at)
    left = loop.annotations["x1"]
    # Its own follow's dwell (100 minutes), one cycle: no serial churn; the follow-back ended with
    # the first block, so this is no unfollow after one.
    assert left.dwell_seconds == (100 * M).total_seconds()
    assert (left.unfollows, left.cycles_in_horizon) == (1, 1)
    assert left.patterns == ("quick_unfollow",)


def test_a_block_on_one_brand_is_no_churn_towards_cross_account_churn() -> None:
    stream = [
        ev("s1", "follow", 0, account="shop"), ev("s2", "unfollow", 60, account="shop"),  # quick unfollow
        ev("f1", "follow", 0), ev("b1", "blocked", 30), ev("i1", "interaction", 90),
    ]  # fmt: skip
    loop = Loop(RULES).feed(sorted(stream, key=lambda e: e.occurred_at)).finish()
    assert loop.annotations["s2"].patterns == ("quick_unfollow",)
    assert loop.annotations["i1"].accounts_churned == 1
    assert {a.pattern.value for a in loop.alerts.values()} == {"quick_unfollow"}


def test_a_late_block_still_ends_the_follow_and_a_late_follow_older_than_it_changes_nothing() -> None:
    follow, block, early, clock = (
        ev("f1", "follow", 0),
        ev("b1", "blocked", 60),
        ev("f0", "follow", 30),
        ev("t", "follow", 300, follower="8"),
    )
    loop = Loop(RULES).feed([follow, clock, block, early])  # watermark 240: the block is late
    assert loop.late == {"b1", "f0"}
    note = loop.annotations["b1"]
    assert (note.late, note.following, note.blocked_at) == (True, False, block.occurred_at)
    assert loop.annotations["f0"].following is False  # a follow older than the block changes nothing
    state = loop.states()[("brand", "7")]
    assert (state.following, state.blocked_at, state.unfollows) == (False, block.occurred_at, 0)


def test_a_late_block_older_than_a_settled_unblock_ends_the_follow_and_blocks_no_more() -> None:
    follow, unblock, clock = (
        ev("f1", "follow", 0),
        ev("u1", "unblocked", 100),
        ev("t", "follow", 300, follower="8"),
    )
    block = ev("b1", "blocked", 50)
    loop = Loop(RULES).feed([follow, unblock, clock, block])
    assert "b1" in loop.late
    state = loop.states()[("brand", "7")]
    assert (state.following, state.blocked_at, state.unfollows, state.patterns) == (False, None, 0, ())


def test_a_block_arriving_out_of_order_within_the_grace_period_revises_the_later_events() -> None:
    follow, like, block = ev("f1", "follow", 0), ev("i1", "interaction", 40), ev("b1", "blocked", 30)
    loop = Loop(RULES).feed([follow, like, block])
    assert loop.late == set()
    note = loop.annotations["i1"]
    assert (note.revision, note.following, note.blocked_at) == (1, False, block.occurred_at)


def test_a_block_is_the_brands_act_and_does_not_move_the_clock() -> None:
    """Like a follow-back, a block is stamped when the brand acted: one far ahead of the followers'
    stream (an import) must not make every follower's next event late."""
    loop = Loop(RULES).feed([ev("f1", "follow", 0), ev("b9", "blocked", 10 * 24 * 60, follower="9"),
                             ev("f2", "follow", 5, follower="8")])  # fmt: skip
    assert loop.late == set()


KINDS = ["follow", "followed_back", "interaction", "unfollowed_back", "unfollow", "blocked", "unblocked"]


def make(history: list[tuple[str, str, int]]) -> list[Event]:
    ordered = sorted(history, key=lambda s: (s[2], EVENT_TIME_RANK[EventType(s[1])]))
    return [
        ev(f"e{n:03}", kind, minute, account=account) for n, (account, kind, minute) in enumerate(ordered)
    ]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["brand", "shop"]), st.sampled_from(KINDS), st.integers(0, 59)),
             max_size=25),
    st.randoms(use_true_random=False),
)  # fmt: skip
def test_blocks_in_any_arrival_order_within_the_grace_period_give_the_same_results(
    history: list[tuple[str, str, int]], rng: Any
) -> None:
    events = make(history)
    shuffled = list(events)
    rng.shuffle(shuffled)
    in_order = shuffled_as_in_order(events, shuffled, RULES)
    for note in in_order.annotations.values():
        assert not (note.following and note.blocked_at is not None)
        assert note.unfollows <= note.follows


# -- scorer -------------------------------------------------------------------------------------------

VIP = VersionedConfig(account_id="brand", version=1, config=AccountConfig(vips=["ana_roasts"]))


def decide(stream: list[Event]) -> list[tuple[str, Decision | None]]:
    churn, current, out = InMemory(RULES), None, []
    for e in stream:
        decision, current = next_version(
            current, AnnotatedEvent(event=e, relationship=churn.fold(e)), brand=VIP
        )
        out.append((e.event_id, decision))
    return out


def test_while_the_brand_blocks_a_follower_they_are_harmful_and_after_an_unblock_scored_as_before() -> None:
    decided = dict(decide([
        ev("f1", "follow", 0), ev("b1", "blocked", 60), ev("i1", "interaction", 70),
        ev("u1", "unblocked", 120), ev("f2", "follow", 180),
    ]))  # fmt: skip
    classes = {e: d.decision_class.value if d else None for e, d in decided.items()}
    # The like while blocked moves the score, the class stays harmful; the block ended the follow.
    assert classes == {"f1": "high_value", "b1": "harmful", "i1": "harmful", "u1": "withdrawn",
                       "f2": "high_value"}  # fmt: skip
    blocked, unblocked = decided["b1"], decided["u1"]
    assert blocked is not None
    assert unblocked is not None
    assert blocked.event_type is EventType.BLOCKED
    assert [r.signal for r in blocked.reasons if r.contribution == 0][:1] == [BLOCKED_RULE]
    reason = next(r for r in blocked.reasons if r.signal == BLOCKED_RULE)
    assert reason.value == ev("b1", "blocked", 60).occurred_at.isoformat()
    assert all(r.signal != BLOCKED_RULE for r in unblocked.reasons)


def test_a_block_of_someone_never_decided_on_records_nothing() -> None:
    churn = InMemory(RULES)
    block = ev("b1", "blocked", 0, follower="5")
    assert next_decision(None, AnnotatedEvent(event=block, relationship=churn.fold(block))) is None
    like = ev("i1", "interaction", 5, follower="5")
    assert next_decision(None, AnnotatedEvent(event=like, relationship=churn.fold(like))) is None


def test_a_block_decides_on_top_of_the_latest_version() -> None:
    churn = InMemory(RULES)
    follow, block = ev("f1", "follow", 0), ev("b1", "blocked", 60)
    first, current = next_version(None, AnnotatedEvent(event=follow, relationship=churn.fold(follow)))
    assert isinstance(current, Current)
    assert first is not None
    assert first.decision_class is not DecisionClass.HARMFUL
    decision = next_decision(current, AnnotatedEvent(event=block, relationship=churn.fold(block)))
    assert decision is not None
    assert decision.decision_class is DecisionClass.HARMFUL


# -- notifier -----------------------------------------------------------------------------------------


def test_a_follower_the_brand_blocked_is_retracted_as_blocked_and_the_queue_names_the_block() -> None:
    [(_, decision)] = [d for d in decide([ev("f1", "follow", 0), ev("b1", "blocked", 60)]) if d[0] == "b1"]
    assert decision is not None
    assert retracted_as(decision) == "blocked"
    payload = {"account_id": "brand", "screen_name": "ana_roasts", "retracted_as": retracted_as(decision)}
    assert messages.retraction_text(payload).startswith(
        "Retracted: @ana_roasts was blocked by the brand before anyone acted"
    )
    reasons = [r.model_dump(mode="json") for r in decision.reasons]
    assert deciding_first("harmful", reasons)[0]["signal"] == BLOCKED_RULE
    # A follower on the brand's block list is retracted as harmful, as before.
    listed = decision.model_copy(
        update={"reasons": tuple(r for r in decision.reasons if r.signal != BLOCKED_RULE)}
    )
    assert retracted_as(listed) == "harmful"


def test_a_late_block_ends_the_settled_follow_back_before_it_also_after_a_new_follow() -> None:
    """A block older than the settled re-follow ends no follow of theirs (that one came after it),
    but it did end the brand's follow-back standing then: in event order the follower is not
    followed back from then on, and late the follow-back stood on (in every later annotation)."""
    stream = [
        ev("f1", "follow", 0), ev("fb", "followed_back", 10), ev("x1", "unfollow", 100),
        ev("f2", "follow", 200), ev("t", "follow", 400, follower="8"),  # (settles them: 1 h grace)
    ]  # fmt: skip
    late, leaving = ev("b1", "blocked", 150), ev("x2", "unfollow", 900)
    loop = Loop(RULES).feed([*stream, late, leaving])
    assert loop.late == {"b1"}
    in_order = Loop(RULES).feed(sorted([*stream, late, leaving], key=event_order))
    assert in_order.annotations["x2"].followed_back_at is None
    assert loop.annotations["b1"].followed_back_at is None
    assert (loop.annotations["b1"].following, loop.annotations["b1"].follows) == (True, 2)
    assert loop.annotations["x2"].followed_back_at is None
    assert loop.annotations["x2"].patterns == in_order.annotations["x2"].patterns
    # A follow-back after the block stands, late block or not.
    again = ev("fb2", "followed_back", 300)
    loop = Loop(RULES).feed([*stream, again, ev("t2", "follow", 500, follower="8"), late, leaving])
    assert loop.annotations["b1"].followed_back_at == again.occurred_at
    assert "unfollow_after_follow_back" in loop.annotations["x2"].patterns


# -- late events at or around a settled move that changed nothing ------------------------------------


def _late_and_in_order(stream: list[Event], late: list[Event]) -> tuple[Loop, Loop]:
    """The stream fed in order (its last event, another follower's follow, settles the rest), then
    ``late`` past the grace period; and everything fed in event order."""
    return Loop(RULES).feed([*stream, *late]), Loop(RULES).feed(sorted([*stream, *late], key=event_order))


def test_a_late_block_at_its_settled_unblocks_second_is_lifted_by_it() -> None:
    """At one second an unblock ranks after a block: the instant ends with the follow ended, unblocked."""
    stream = [ev("f1", "follow", 0), ev("u1", "unblocked", 100), ev("t", "follow", 300, follower="8")]
    loop, in_order = _late_and_in_order(stream, [ev("b1", "blocked", 100)])
    assert loop.late == {"b1"}
    state, expected = loop.states()[("brand", "7")], in_order.states()[("brand", "7")]
    assert (state.following, state.blocked_at) == (expected.following, expected.blocked_at) == (False, None)
    assert loop.annotations["b1"].blocked_at is None


def test_a_late_follow_back_at_the_second_of_a_settled_unfollow_counts() -> None:
    """At one second a follow-back ranks before an unfollow: the brand followed back someone still
    following, and that follow-back stands after the unfollow (until the brand unfollows). The settled
    unfollow is not judged again: ``unfollow_after_follow_back`` is new at the next unfollow, not at it."""
    stream = [ev("f1", "follow", 0), ev("x1", "unfollow", 100), ev("t", "follow", 300, follower="8")]
    late, again, leaving = ev("fb", "followed_back", 100), ev("f2", "follow", 400), ev("x2", "unfollow", 500)
    loop, in_order = _late_and_in_order(stream, [late, again, leaving])
    assert loop.late == {"fb"}
    assert loop.states()[("brand", "7")].followed_back_at == late.occurred_at
    note, expected = loop.annotations["x2"], in_order.annotations["x2"]
    assert note.model_dump(exclude={"new_patterns"}) == expected.model_dump(exclude={"new_patterns"})
    assert "unfollow_after_follow_back" in note.patterns


def test_a_relationship_never_unblocked_is_stored_as_before() -> None:
    """The settled unblock's time is left out of the stored state while empty, so a relationship
    never unblocked is stored exactly as before; one that was keeps it, and reads it back."""

    def stored(stream: list[Event]) -> tuple[dict[str, Any], Any]:
        loop = Loop(RULES).feed([*stream, ev("t", "follow", 600, follower="8")]).finish()  # (they settle)
        rel = loop.rels["7"]["brand"]
        return json.loads(json.dumps(codec.to_json(rel, loop.now[("brand", "7")]))), rel

    before, _ = stored([ev("f1", "follow", 0), ev("b1", "blocked", 5)])
    assert "unblocked_at" not in before["settled"]
    after, rel = stored([ev("f1", "follow", 0), ev("b1", "blocked", 5), ev("u1", "unblocked", 9)])
    assert after["settled"]["unblocked_at"] == "2026-03-01T09:09:00Z"
    assert codec.from_json(after) == rel
    assert codec.to_rel(codec.load(after)) == rel
