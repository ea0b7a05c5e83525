"""The brand's own unfollow of someone on X (``unfollowed_back``): it ends the brand's follow-back, so
the follower who unfollows in return is no ``unfollow_after_follow_back`` churner; it is no unfollow
of the follower's, decides nothing, does not move the clock, and a follow-back made on X that it
ended is forgotten by the notifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.churn import codec
from services.churn.rules import InMemory
from services.ingest.webhook import map_payload
from services.notifier import follow_backs
from services.scorer.scoring import next_version
from shared.events import EVENT_TIME_RANK, Event, EventType, event_order
from shared.relationships import AnnotatedEvent
from shared.validation import parse_body, validate
from tests.churn_support import Loop
from tests.support import event
from tests.unit.test_brand_blocks import VIP, ev
from tests.unit.test_churn_event_time import RULES, M

DATA = Path(__file__).resolve().parents[1] / "data" / "x"
BRAND = "3001969357"
AFTER_FOLLOW_BACK = "unfollow_after_follow_back"
H = 60  # minutes


# -- ingest -------------------------------------------------------------------------------------------


def test_the_brands_unfollow_on_x_is_an_unfollowed_back_event_of_the_target() -> None:
    """X's follow event with the brand as source and type unfollow was skipped ("by the brand
    itself"): the follow-back it ended stood, and the follower's unfollow in return was churn."""
    payload = json.loads((DATA / "follow_events.json").read_text())
    mapped = map_payload(payload)
    events, errors = validate(mapped.events)
    assert errors == []
    assert mapped.skipped == []
    follow, unfollow, brands = events
    assert (follow.type, unfollow.type) == (EventType.FOLLOW, EventType.UNFOLLOW)
    assert (brands.type, brands.account_id, brands.follower.id) == (EventType.UNFOLLOWED_BACK, BRAND, "777")
    assert brands.follower.screen_name == "someone"
    assert brands.occurred_at.isoformat() == "2018-02-02T16:26:40+00:00"
    assert brands.event_id.startswith("x-")
    # A re-delivery maps to the same id; the brand's follow of the same person at the same time is
    # another event (the type is part of the id).
    assert map_payload(payload).events[2]["event_id"] == brands.event_id
    payload["follow_events"][2]["type"] = "follow"
    [follow_back] = [e for e in map_payload(payload).events if e["follower"]["id"] == "777"]
    assert follow_back["type"] == "followed_back"
    assert follow_back["event_id"] != brands.event_id


def test_unfollowed_back_events_are_accepted_over_http_ingest_like_followed_back() -> None:
    body = json.dumps([event("fb", "followed_back", "7", M), event("ub", "unfollowed_back", "7", 2 * M)])
    events, errors = parse_body(body.encode(), ndjson=False)
    assert errors == []
    assert [e.type for e in events] == [EventType.FOLLOWED_BACK, EventType.UNFOLLOWED_BACK]
    # It carries no interaction (nor `deletes`), as a follow-back does not.
    wrong = event("ub2", "unfollowed_back", "7", 3 * M, interaction="like")
    _, errors = parse_body(json.dumps([wrong]).encode(), ndjson=False)
    assert [e.message for e in errors] == ["Value error, a unfollowed_back event carries no 'interaction'"]


# -- churn --------------------------------------------------------------------------------------------


def test_the_follower_who_unfollows_after_the_brand_unfollowed_them_is_no_churner() -> None:
    # A follow of 9 hours: longer than the quick-unfollow window (6 hours).
    stream = [
        ev("f1", "follow", 0), ev("fb", "followed_back", 10), ev("ub", "unfollowed_back", 8 * H),
        ev("x1", "unfollow", 9 * H),
    ]  # fmt: skip
    loop = Loop(RULES).feed(stream).finish()
    ended = loop.annotations["ub"]
    # The brand's unfollow ends its follow-back, and nothing else: the follower still follows.
    assert (ended.following, ended.follows, ended.unfollows, ended.followed_back_at) == (True, 1, 0, None)
    assert (ended.patterns, ended.new_patterns, ended.dwell_seconds) == ((), (), None)
    left = loop.annotations["x1"]
    assert (left.unfollows, left.following) == (1, False)
    assert left.patterns == ()
    assert loop.alerts == {}
    # Without the brand's unfollow, the same follower is one.
    assert Loop(RULES).feed([e for e in stream if e.event_id != "ub"]).annotations["x1"].patterns == (
        AFTER_FOLLOW_BACK,
    )


def test_a_new_follow_back_after_the_brands_unfollow_makes_the_followers_unfollow_one_after_it() -> None:
    stream = [
        ev("f1", "follow", 0), ev("fb1", "followed_back", 10), ev("ub", "unfollowed_back", 2 * H),
        ev("fb2", "followed_back", 3 * H), ev("x1", "unfollow", 9 * H),
    ]  # fmt: skip
    loop = Loop(RULES).feed(stream)
    assert loop.annotations["fb2"].followed_back_at == stream[3].occurred_at
    assert loop.annotations["x1"].new_patterns == (AFTER_FOLLOW_BACK,)


def test_a_short_follow_whose_follow_back_the_brand_ended_is_a_glitch_again() -> None:
    """A follow the brand answered is no mis-tap however short; once the brand's unfollow ended
    that follow-back, the follow is as if never answered (here 15 minutes: under the minimum dwell)."""
    answered = [ev("f1", "follow", 0), ev("fb", "followed_back", 5), ev("x1", "unfollow", 15)]
    assert Loop(RULES).feed(answered).annotations["x1"].patterns == ("quick_unfollow", AFTER_FOLLOW_BACK)
    ended = Loop(RULES).feed([*answered[:2], ev("ub", "unfollowed_back", 10), answered[2]])
    note = ended.annotations["x1"]
    assert (note.patterns, note.cycles_in_horizon, note.dwell_seconds) == ((), 0, 15 * 60.0)


def test_the_brands_unfollow_stamped_with_the_followers_unfollows_second_comes_first() -> None:
    """Which of two unfollows of one second came first cannot be told: the brand's first never makes
    a false churner. A follow-back and the brand's unfollow of one second are a zero-length
    follow-back (the follow-back first), as a follow and an unfollow are a zero-length follow."""
    follow, back = ev("f1", "follow", 0), ev("fb", "followed_back", 10)
    ids = ("a", "z")  # either id first: the type's rank decides, not the id
    for brand_id, own_id in (ids, ids[::-1]):
        stream = [follow, back, ev(brand_id, "unfollowed_back", 9 * H), ev(own_id, "unfollow", 9 * H)]
        for arrival in (stream, [follow, back, stream[3], stream[2]]):
            assert Loop(RULES).feed(arrival).annotations[own_id].patterns == ()
    zero = [follow, ev("fb", "followed_back", H), ev("ub", "unfollowed_back", H), ev("x1", "unfollow", 9 * H)]
    for arrival in (zero, [zero[0], zero[2], zero[1], zero[3]]):
        loop = Loop(RULES).feed(arrival)
        assert loop.annotations["x1"].patterns == ()
        assert loop.states()[("brand", "7")].followed_back_at is None
    assert EVENT_TIME_RANK[EventType.FOLLOWED_BACK] < EVENT_TIME_RANK[EventType.UNFOLLOWED_BACK]
    assert EVENT_TIME_RANK[EventType.UNFOLLOWED_BACK] < EVENT_TIME_RANK[EventType.UNFOLLOW]


def test_a_repeated_unfollow_or_one_with_no_follow_back_standing_changes_nothing_shown() -> None:
    stream = [
        ev("u0", "unfollowed_back", 5), ev("f1", "follow", 10), ev("u1", "unfollowed_back", 20),
        ev("fb", "followed_back", 30), ev("u2", "unfollowed_back", 40), ev("u3", "unfollowed_back", 50),
    ]  # fmt: skip
    loop = Loop(RULES).feed(stream)
    notes = loop.annotations

    def shown(name: str) -> dict[str, Any]:
        return notes[name].model_dump(exclude={"revision"})

    assert (notes["u0"].follows, notes["u0"].following, notes["u0"].followed_back_at) == (0, False, None)
    assert shown("u1") == shown("f1")  # no follow-back standing
    assert shown("u3") == shown("u2")  # a repeat
    assert notes["u2"].followed_back_at is None
    assert notes["fb"].followed_back_at == stream[3].occurred_at


def test_the_brands_unfollow_of_someone_not_following_it_is_nothing() -> None:
    loop = Loop(RULES).feed([ev("fb", "followed_back", 0), ev("ub", "unfollowed_back", 10)])
    note = loop.annotations["ub"]
    assert (note.follows, note.following, note.followed_back_at, note.patterns) == (0, False, None, ())


def test_the_brands_unfollow_does_not_move_the_clock() -> None:
    """Like its follow-back and its block: stamped when a person at the brand acted, which in an
    import can be far ahead of the followers' stream."""
    loop = Loop(RULES).feed([ev("f1", "follow", 0), ev("u9", "unfollowed_back", 10 * 24 * H, follower="9"),
                             ev("f2", "follow", 5, follower="8")])  # fmt: skip
    assert loop.late == set()


def test_a_late_unfollow_older_than_a_settled_follow_back_does_not_end_the_newer_one() -> None:
    follow, back, clock = (
        ev("f1", "follow", 0),
        ev("fb", "followed_back", 100),
        ev("t", "follow", 400, follower="8"),
    )
    late = ev("ub", "unfollowed_back", 50)  # the brand unfollowed before it followed back
    leaving = ev("x1", "unfollow", 500)
    loop = Loop(RULES).feed([follow, back, clock, late, leaving])
    assert loop.late == {"ub"}
    assert loop.annotations["ub"].followed_back_at == back.occurred_at
    assert loop.annotations["x1"].patterns == (AFTER_FOLLOW_BACK,)
    in_order = Loop(RULES).feed(sorted([follow, back, clock, late, leaving], key=event_order))
    assert in_order.annotations["x1"].patterns == (AFTER_FOLLOW_BACK,)


def test_a_late_unfollow_ends_the_settled_follow_back_before_it() -> None:
    follow, back, clock = (
        ev("f1", "follow", 0),
        ev("fb", "followed_back", 10),
        ev("t", "follow", 400, follower="8"),
    )
    late, leaving = ev("ub", "unfollowed_back", 60), ev("x1", "unfollow", 500)
    loop = Loop(RULES).feed([follow, back, clock, late, leaving])
    assert loop.late == {"ub"}
    note = loop.annotations["ub"]
    assert (note.late, note.followed_back_at, note.following, note.unfollows) == (True, None, True, 0)
    assert loop.annotations["x1"].patterns == ()


def test_a_late_follow_back_older_than_a_settled_unfollow_of_the_brands_had_ended() -> None:
    follow, unfollowed, clock = (
        ev("f1", "follow", 0),
        ev("ub", "unfollowed_back", 60),
        ev("t", "follow", 400, follower="8"),
    )
    for minute in (30, 60):  # before it, and at its instant (a follow-back comes first)
        late = ev("fb", "followed_back", minute)
        loop = Loop(RULES).feed([follow, unfollowed, clock, late, ev("x1", "unfollow", 500)])
        assert loop.late == {"fb"}
        assert loop.annotations["fb"].followed_back_at is None
        assert loop.annotations["x1"].patterns == ()
    # One after it stands, late or not.
    late = ev("fb", "followed_back", 90)
    loop = Loop(RULES).feed([follow, unfollowed, clock, late, ev("x1", "unfollow", 500)])
    assert loop.annotations["fb"].followed_back_at == late.occurred_at
    assert loop.annotations["x1"].patterns == (AFTER_FOLLOW_BACK,)


def test_the_brands_unfollow_arriving_out_of_order_within_the_grace_period_revises_the_later_events() -> None:
    follow, back, leaving = ev("f1", "follow", 0), ev("fb", "followed_back", 5), ev("x1", "unfollow", 50)
    loop = Loop(RULES).feed([follow, back, leaving, ev("ub", "unfollowed_back", 30)])
    assert loop.late == set()
    note = loop.annotations["x1"]
    assert (note.revision, note.followed_back_at, note.patterns) == (1, None, ("quick_unfollow",))
    assert [a.withdrawn for a in loop.alerts.values() if a.pattern == AFTER_FOLLOW_BACK] == [True]


BRAND_ACTS = st.lists(
    st.tuples(st.sampled_from(["followed_back", "unfollowed_back"]), st.integers(1, 600)), max_size=8
)


@settings(max_examples=300, deadline=None)
@given(BRAND_ACTS, st.lists(st.integers(1, 700), max_size=6), st.randoms(use_true_random=False))
def test_the_brands_follow_backs_and_unfollows_in_any_arrival_order_however_late_end_as_in_event_order(
    acts: list[tuple[str, int]], clock_minutes: list[int], rng: Any
) -> None:
    """A follower who follows and, much later, unfollows; the brand's follow-backs and unfollows of
    them in between arrive in any order, late or not (other followers' events move the clock past
    them): the follow-back standing at the unfollow, and so whether it is one after a follow-back,
    is the one event order gives."""
    brand = [ev(f"b{n:02}", kind, minute) for n, (kind, minute) in enumerate(acts)]
    clock = [ev(f"c{n:02}", "follow", minute, follower=f"8{n}") for n, minute in enumerate(clock_minutes)]
    follow, leaving = ev("f1", "follow", 0), ev("x1", "unfollow", 700)
    shuffled = brand + clock
    rng.shuffle(shuffled)
    arrived = Loop(RULES).feed([follow, *shuffled, leaving]).finish()
    in_order = Loop(RULES).feed(sorted([follow, *brand, *clock, leaving], key=event_order)).finish()
    assert arrived.annotations["x1"] == in_order.annotations["x1"]
    assert arrived.states()[("brand", "7")] == in_order.states()[("brand", "7")]


# -- scorer -------------------------------------------------------------------------------------------


def decide(stream: list[Event]) -> dict[str, str | None]:
    churn, current, classes = InMemory(RULES), None, {}
    for e in stream:
        decision, current = next_version(
            current, AnnotatedEvent(event=e, relationship=churn.fold(e)), brand=VIP
        )
        classes[e.event_id] = decision.decision_class.value if decision else None
    return classes


def test_the_brands_unfollow_decides_nothing_and_the_follower_leaving_after_it_is_withdrawn() -> None:
    stream = [
        ev("f1", "follow", 0), ev("fb", "followed_back", 10), ev("ub", "unfollowed_back", 8 * H),
        ev("x1", "unfollow", 9 * H),
    ]  # fmt: skip
    assert decide(stream) == {"f1": "high_value", "fb": None, "ub": None, "x1": "withdrawn"}
    assert decide([e for e in stream if e.event_id != "ub"])["x1"] == "churner"


# -- notifier -----------------------------------------------------------------------------------------


def test_the_notifier_reads_the_brands_unfollows_from_the_events_topic() -> None:
    bodies = [
        ev("ub", "unfollowed_back", 10).model_dump_json().encode(),
        ev("fb", "followed_back", 5).model_dump_json().encode(),
        ev("x1", "unfollow", 20).model_dump_json().encode(),
    ]
    found = follow_backs.parse(bodies, [0, 1, 2])
    assert [(e.type, record) for e, record in found] == [
        (EventType.UNFOLLOWED_BACK, 0),
        (EventType.FOLLOWED_BACK, 1),
    ]


def test_an_unfollowed_back_annotation_decides_nothing() -> None:
    note = InMemory(RULES).fold(ev("ub", "unfollowed_back", 0))
    assert not AnnotatedEvent(event=ev("ub", "unfollowed_back", 0), relationship=note).decides


def test_a_relationship_the_brand_never_unfollowed_is_stored_as_before() -> None:
    """The settled-only mark is left out of the stored state while empty, so every relationship
    that never sees the brand's unfollow is stored (and annotated) exactly as before; one that did
    keeps it, and reads it back."""

    def stored(kind: str) -> tuple[dict[str, Any], Any]:
        clock = ev("t", "follow", 600, follower="8")  # (the relationship's events settle)
        loop = Loop(RULES).feed([ev("f1", "follow", 0), ev("b1", kind, 5), clock]).finish()
        rel = loop.rels["7"]["brand"]
        return json.loads(json.dumps(codec.to_json(rel, loop.now[("brand", "7")]))), rel

    before, _ = stored("followed_back")
    assert "unfollowed_back_at" not in before["settled"]
    assert before["settled"]["followed_back_at"] == "2026-03-01T09:05:00Z"
    after, rel = stored("unfollowed_back")
    assert after["settled"]["unfollowed_back_at"] == "2026-03-01T09:05:00Z"
    assert codec.from_json(after) == rel
    assert codec.to_rel(codec.load(after)) == rel
