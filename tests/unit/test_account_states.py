"""X's suspension of a follower's account and the follower's deactivation of it (X's compliance data,
posted to ingest): neither is the follower's unfollow (the follow stands: X hides the account's
follows and sends no unfollow), the relationship says since when the account is suspended or
deactivated, and the scorer holds the follower back meanwhile (ignore, withdrawn), never pushed. Trackers
confuse an unfollow with a suspension or a deactivation (docs: the field notes)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.churn import codec
from services.churn.rules import InMemory
from services.notifier import messages
from services.notifier.retraction import retracted_as, retracts
from services.notifier.web.listing import account_state as shown_state
from services.notifier.web.listing import deciding_first
from services.scorer.scoring import (
    DEACTIVATED_RULE,
    SCORER_VERSION,
    SUSPENDED_RULE,
    Current,
    next_decision,
    next_version,
)
from shared.accounts import AccountConfig, VersionedConfig
from shared.decisions import Decision, DecisionClass
from shared.events import EVENT_TIME_RANK, Event, EventType, event_order
from shared.relationships import AnnotatedEvent, RelationshipState
from shared.validation import parse_body
from tests.churn_support import (
    Loop,
    kept_and_stored_as_stepped_again,
    shuffled_as_in_order,
)
from tests.support import event
from tests.unit.test_brand_blocks import ev, make
from tests.unit.test_churn_event_time import RULES, M, within_grace
from tests.unit.test_queue_page import render_row

STATES = ["suspended", "unsuspended", "deactivated", "reactivated"]


# -- ingest -------------------------------------------------------------------------------------------


def test_suspensions_and_deactivations_are_accepted_over_http_ingest() -> None:
    body = "\n".join(
        json.dumps(event(f"e{n}", kind, "7", n * M, {"id": "7"})) for n, kind in enumerate(STATES)
    ).encode()
    events, errors = parse_body(body, ndjson=True)
    assert errors == []
    assert [e.type for e in events] == [EventType(k) for k in STATES]
    assert {(e.account_id, e.follower.id) for e in events} == {("brand", "7")}


@pytest.mark.parametrize("kind", STATES)
def test_a_suspension_or_a_deactivation_carries_no_interaction(kind: str) -> None:
    body = json.dumps(event("e1", kind, "7", M, interaction="like")).encode()
    events, errors = parse_body(body, ndjson=False)
    assert events == []
    assert [e.message for e in errors] == [f"Value error, a {kind} event carries no 'interaction'"]


def test_the_new_types_rank_after_every_existing_one_and_each_lifting_after_its_state() -> None:
    before = {EventType(k): r for k, r in EVENT_TIME_RANK.items() if k.value not in STATES}
    assert set(before.values()) == set(range(8))  # the ranks of before, unchanged (one shared)
    assert max(before.values()) < min(EVENT_TIME_RANK[EventType(k)] for k in STATES)
    ranks = [EVENT_TIME_RANK[EventType(k)] for k in STATES]
    assert ranks == [8, 9, 10, 11]


# -- churn --------------------------------------------------------------------------------------------


def test_a_suspension_is_no_unfollow_the_follow_stands_and_the_lifting_clears_the_state() -> None:
    stream = [
        ev("f1", "follow", 0),
        ev("fb", "followed_back", 5),
        ev("s1", "suspended", 10),
        ev("s2", "suspended", 20),  # (X's message again: the suspension is the first one's)
        ev("u1", "unsuspended", 40),
        ev("t", "follow", 24 * 60, follower="8"),  # moves the clock past the window
    ]
    loop = Loop(RULES).feed(stream).finish()
    note = loop.annotations["s1"]
    assert (note.following, note.follows, note.unfollows, note.dwell_seconds) == (True, 1, 0, None)
    assert (note.patterns, note.new_patterns, note.cycles_in_horizon) == ((), (), 0)
    assert note.followed_back_at == stream[1].occurred_at  # the brand's follow stands too
    assert note.suspended_at == loop.annotations["s2"].suspended_at == stream[2].occurred_at
    lifted = loop.annotations["u1"]
    assert (lifted.following, lifted.suspended_at, lifted.unfollows) == (True, None, 0)
    assert loop.alerts == {}
    assert [k for k in loop.retained if k[1] == "7"] == [("brand", "7", stream[0].occurred_at)]  # it lasted
    assert loop.states()[("brand", "7")].suspended_at is None


def test_a_deactivation_is_no_unfollow_and_a_reactivation_clears_it() -> None:
    loop = Loop(RULES).feed([ev("f1", "follow", 0), ev("d1", "deactivated", 30), ev("r1", "reactivated", 90)])
    note = loop.annotations["d1"]
    assert (note.following, note.unfollows, note.patterns) == (True, 0, ())
    assert note.deactivated_at == ev("d1", "deactivated", 30).occurred_at
    assert note.suspended_at is None
    assert (loop.annotations["r1"].deactivated_at, loop.annotations["r1"].following) == (None, True)


def test_a_new_follow_clears_a_suspension_and_a_deactivation_a_repeated_one_does_not() -> None:
    stream = [
        ev("f1", "follow", 0), ev("x1", "unfollow", 100), ev("s1", "suspended", 110),
        ev("d1", "deactivated", 120), ev("f2", "follow", 200), ev("s2", "suspended", 210),
        ev("f3", "follow", 220),
    ]  # fmt: skip
    loop = Loop(RULES).feed(stream)
    left = loop.annotations["d1"]
    assert (left.following, left.suspended_at, left.deactivated_at) == (False, stream[2].occurred_at,
                                                                       stream[3].occurred_at)  # fmt: skip
    back = loop.annotations["f2"]
    assert (back.following, back.follows, back.suspended_at, back.deactivated_at) == (True, 2, None, None)
    again = loop.annotations["f3"]  # a follow while following changes nothing: still suspended
    assert (again.follows, again.suspended_at) == (2, stream[5].occurred_at)


def test_a_suspension_on_one_brand_is_no_churn_towards_cross_account_churn() -> None:
    stream = [
        ev("s1", "follow", 0, account="shop"), ev("s2", "unfollow", 60, account="shop"),  # quick unfollow
        ev("f1", "follow", 0), ev("p1", "suspended", 30), ev("d1", "deactivated", 40),
        ev("i1", "interaction", 90),
    ]  # fmt: skip
    loop = Loop(RULES).feed(sorted(stream, key=lambda e: e.occurred_at)).finish()
    assert loop.annotations["i1"].accounts_churned == 1
    assert loop.annotations["i1"].unfollows == 0
    assert {a.pattern.value for a in loop.alerts.values()} == {"quick_unfollow"}


def test_a_suspension_arriving_out_of_order_within_the_grace_period_revises_the_later_events() -> None:
    follow, like, suspension = ev("f1", "follow", 0), ev("i1", "interaction", 40), ev("p1", "suspended", 30)
    loop = Loop(RULES).feed([follow, like, suspension])
    assert loop.late == set()
    note = loop.annotations["i1"]
    assert (note.revision, note.following, note.suspended_at) == (1, True, suspension.occurred_at)


def test_a_late_suspension_newer_than_the_settled_follow_counts_one_older_than_its_lifting_does_not() -> None:
    """A batch compliance job reports a suspension days after it happened: late, but after every
    move settled, so it holds. Posted again after X lifted it (settled), it changes nothing."""
    follow, clock, suspension = (
        ev("f1", "follow", 0),
        ev("t", "follow", 300, follower="8"),
        ev("p1", "suspended", 60),
    )
    loop = Loop(RULES).feed([follow, clock, suspension])  # watermark 240: the suspension is late
    assert loop.late == {"p1"}
    assert loop.annotations["p1"].suspended_at == suspension.occurred_at
    assert loop.states()[("brand", "7")].suspended_at == suspension.occurred_at
    lifted = Loop(RULES).feed([follow, ev("u1", "unsuspended", 100), clock, suspension])
    assert "p1" in lifted.late
    state = lifted.states()[("brand", "7")]
    assert (state.following, state.suspended_at, state.unfollows) == (True, None, 0)


def test_a_late_follow_of_a_settled_suspensions_second_comes_before_it() -> None:
    """At one instant a follow ranks before a suspension: a late follow stamped with the settled
    suspension's second lifts nothing."""
    stream = [ev("f1", "follow", 0), ev("x1", "unfollow", 30), ev("p1", "suspended", 60),
              ev("t", "follow", 300, follower="8"), ev("f2", "follow", 60)]  # fmt: skip
    loop = Loop(RULES).feed(stream)
    assert "f2" in loop.late
    assert loop.states()[("brand", "7")].suspended_at == stream[2].occurred_at


def test_a_late_unfollow_older_than_a_settled_suspension_still_ends_the_follow() -> None:
    """X's replay job re-delivers an unfollow after the suspension (compliance data) settled: the
    suspension ends nothing and starts no follow, so the unfollow before it ends the follow, as in
    event order (it was dropped as older than a settled move: once the suspension was lifted, the
    follower who had left was scored as following, and pushed)."""
    stream = [ev("f1", "follow", 0), ev("p1", "suspended", 300), ev("u1", "unsuspended", 310),
              ev("t", "follow", 600, follower="8"), ev("x1", "unfollow", 100)]  # fmt: skip
    for kind in ("suspended", "deactivated"):
        lifting = "unsuspended" if kind == "suspended" else "reactivated"
        events = [stream[0], ev("p1", kind, 300), ev("u1", lifting, 310), *stream[3:]]
        loop = Loop(RULES).feed(events).finish()
        assert loop.late == {"x1"}
        in_order = Loop(RULES).feed(sorted(events, key=event_order)).finish()
        state, expected = loop.states()[("brand", "7")], in_order.states()[("brand", "7")]
        assert (state.following, state.unfollows) == (expected.following, expected.unfollows) == (False, 1)


def test_a_late_follow_older_than_a_settled_suspension_follows_and_the_suspension_stands() -> None:
    """A follow before the suspension (at its second too: a follow ranks first) arriving late: the
    follower follows, and is still suspended (it was dropped: withdrawn once the suspension lifted)."""
    for minute in (200, 300):
        for kind in ("suspended", "deactivated"):
            events = [ev("f1", "follow", 0), ev("x1", "unfollow", 100), ev("p1", kind, 300),
                      ev("t", "follow", 600, follower="8"), ev("f2", "follow", minute)]  # fmt: skip
            loop = Loop(RULES).feed(events).finish()
            assert loop.late == {"f2"}
            state = loop.states()[("brand", "7")]
            in_order = Loop(RULES).feed(sorted(events, key=event_order)).finish().states()[("brand", "7")]
            since = events[2].occurred_at
            assert (state.following, state.follows) == (in_order.following, in_order.follows) == (True, 2)
            assert (
                (state.suspended_at, state.deactivated_at)
                == (
                    in_order.suspended_at,
                    in_order.deactivated_at,
                )
                == ((since, None) if kind == "suspended" else (None, since))
            )


def test_a_late_block_older_than_a_settled_deactivation_still_blocks() -> None:
    """The brand's block, re-delivered after the follower's deactivation and reactivation settled:
    neither lifts a block (it was taken as lifted: the follower was no longer harmful)."""
    events = [ev("f1", "follow", 0), ev("d1", "deactivated", 200), ev("r1", "reactivated", 300),
              ev("t", "follow", 600, follower="8"), ev("b1", "blocked", 100)]  # fmt: skip
    loop = Loop(RULES).feed(events).finish()
    assert loop.late == {"b1"}
    state = loop.states()[("brand", "7")]
    assert (state.following, state.blocked_at) == (False, events[-1].occurred_at)


def test_a_late_suspension_or_lifting_older_than_a_settled_block_or_unfollow_still_counts() -> None:
    """Compliance data posted days later, after the brand blocked the follower (or they left): the
    block and the unfollow move the follow, not the account's state (the suspension was dropped, and
    a lifting too: the follower stayed suspended for ever)."""
    for move in ("blocked", "unfollow"):
        events = [ev("f1", "follow", 0), ev("m1", move, 200), ev("t", "follow", 600, follower="8"),
                  ev("p1", "suspended", 100)]  # fmt: skip
        loop = Loop(RULES).feed(events).finish()
        assert loop.late == {"p1"}
        assert loop.states()[("brand", "7")].suspended_at == events[-1].occurred_at
        lifted = [ev("f1", "follow", 0), ev("p1", "suspended", 50), ev("m1", move, 200),
                  ev("t", "follow", 600, follower="8"), ev("u1", "unsuspended", 100)]  # fmt: skip
        loop = Loop(RULES).feed(lifted).finish()
        assert loop.late == {"u1"}
        assert loop.states()[("brand", "7")].suspended_at is None


def test_a_late_suspension_older_than_its_settled_lifting_or_a_new_follow_changes_nothing() -> None:
    """Its own kind's newer move settled (the lifting, at its second too: a lifting ranks after), or
    a new follow (only an active account follows): nothing, as in event order."""
    for minute in (100, 200):
        events = [ev("f1", "follow", 0), ev("p0", "suspended", 50), ev("u1", "unsuspended", 200),
                  ev("t", "follow", 600, follower="8"), ev("p1", "suspended", minute)]  # fmt: skip
        loop = Loop(RULES).feed(events).finish()
        assert loop.late == {"p1"}
        assert loop.states()[("brand", "7")].suspended_at is None
    events = [ev("f1", "follow", 0), ev("x1", "unfollow", 50), ev("f2", "follow", 200),
              ev("t", "follow", 600, follower="8"), ev("d1", "deactivated", 100)]  # fmt: skip
    loop = Loop(RULES).feed(events).finish()
    assert loop.late == {"d1"}
    assert loop.states()[("brand", "7")].deactivated_at is None


def _lived(rng: Any) -> list[Event]:
    """A history a follower can live, a few minutes to hours apart: they follow and unfollow only
    while their account is active, X suspends and lifts it, they deactivate and reactivate it."""
    following = suspended = deactivated = False
    minute, events = 0, []
    for n in range(rng.randint(2, 9)):
        minute += rng.choice([30, 100, 300])
        active = not suspended and not deactivated
        kinds = ["unsuspended" if suspended else "suspended", "reactivated" if deactivated else "deactivated"]
        if active:
            kinds.append("unfollow" if following else "follow")
        kind = rng.choice(kinds)
        following = following if kind not in ("follow", "unfollow") else kind == "follow"
        suspended = suspended if kind not in ("suspended", "unsuspended") else kind == "suspended"
        deactivated = deactivated if kind not in ("deactivated", "reactivated") else kind == "deactivated"
        events.append(ev(f"e{n}", kind, minute))
    return events


@settings(max_examples=300, deadline=None)
@given(st.randoms(use_true_random=False))
def test_any_one_event_arriving_late_leaves_the_follow_and_the_accounts_state_as_event_order(
    rng: Any,
) -> None:
    """Follows and unfollows move the follow, suspensions and deactivations the account's state: one
    of either arriving late (past the grace period, after the rest settled) ends where event order
    does, whichever it is."""
    events = _lived(rng)
    late = events.pop(rng.randrange(len(events)))
    clock = ev("t", "follow", 100_000, follower="8")
    arrived = Loop(RULES).feed([*events, clock, late]).finish()
    in_order = Loop(RULES).feed([*sorted([*events, late], key=event_order), clock]).finish()
    assert late.event_id in arrived.late
    state, expected = arrived.states()[("brand", "7")], in_order.states()[("brand", "7")]
    assert (state.following, state.suspended_at is None, state.deactivated_at is None) == (
        expected.following,
        expected.suspended_at is None,
        expected.deactivated_at is None,
    )


def test_suspensions_and_deactivations_come_from_xs_compliance_data_and_do_not_move_the_clock() -> None:
    """A batch compliance job's results may be posted beside an older stream (an import): one far
    ahead of the followers' stream must not make every follower's next event late."""
    loop = Loop(RULES).feed([ev("f1", "follow", 0), ev("p9", "suspended", 10 * 24 * 60, follower="9"),
                             ev("d9", "deactivated", 10 * 24 * 60, follower="9"),
                             ev("f2", "follow", 5, follower="8")])  # fmt: skip
    assert loop.late == set()


def test_a_relationship_that_never_saw_them_is_stored_and_annotated_as_before() -> None:
    loop = Loop(RULES).feed([ev("f1", "follow", 0), ev("i1", "interaction", 10), ev("x1", "unfollow", 20)])
    note = loop.annotations["x1"].model_dump(mode="json")
    assert "suspended_at" not in note
    assert "deactivated_at" not in note
    state = loop.states()[("brand", "7")]
    stored = codec.to_json(loop.rels["7"]["brand"], loop.now[("brand", "7")])
    assert "suspended_at" not in json.dumps(stored)
    assert "deactivated_at" not in json.dumps(stored)
    assert codec.load(stored) == state  # a state stored before reads the same
    suspended = Loop(RULES).feed([ev("f1", "follow", 0), ev("p1", "suspended", 10)])
    body = codec.to_json(suspended.rels["7"]["brand"], suspended.now[("brand", "7")])
    assert datetime.fromisoformat(body["suspended_at"]) == ev("p1", "suspended", 10).occurred_at
    assert codec.from_json(json.loads(json.dumps(body))) == suspended.rels["7"]["brand"]
    assert RelationshipState.model_validate(body).suspended_at is not None
    # Settled, the newest suspension or lifting is kept (a late one older than it changes nothing),
    # and read back; a relationship that never saw one stores none.
    assert "moved_at" not in json.dumps(stored)
    lifted = Loop(RULES).feed([ev("f1", "follow", 0), ev("p1", "suspended", 10),
                               ev("u1", "unsuspended", 20), ev("d1", "deactivated", 30),
                               ev("t", "follow", 600, follower="8")]).finish()  # fmt: skip
    body = json.loads(json.dumps(codec.to_json(lifted.rels["7"]["brand"], lifted.now[("brand", "7")])))
    assert (
        datetime.fromisoformat(body["settled"]["suspension_moved_at"])
        == ev("u1", "unsuspended", 20).occurred_at
    )
    assert (
        datetime.fromisoformat(body["settled"]["deactivation_moved_at"])
        == ev("d1", "deactivated", 30).occurred_at
    )
    assert codec.from_json(body) == lifted.rels["7"]["brand"]
    assert codec.to_rel(codec.load(body)) == lifted.rels["7"]["brand"]


KINDS = [
    "follow",
    "followed_back",
    "interaction",
    "unfollowed_back",
    "unfollow",
    "blocked",
    "unblocked",
    *STATES,
]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["brand", "shop"]), st.sampled_from(KINDS), st.integers(0, 59)),
             max_size=25),
    st.randoms(use_true_random=False),
)  # fmt: skip
def test_in_any_arrival_order_within_the_grace_period_the_results_are_event_times(
    history: list[tuple[str, str, int]], rng: Any
) -> None:
    events = make(history)
    shuffled = list(events)
    rng.shuffle(shuffled)
    in_order = shuffled_as_in_order(events, shuffled, RULES)
    for e, note in zip(events, (in_order.annotations[e.event_id] for e in events), strict=True):
        assert note.unfollows <= note.follows
        if e.type in (EventType.SUSPENDED, EventType.DEACTIVATED):
            assert note.suspended_at or note.deactivated_at


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["brand", "shop"]), st.sampled_from(KINDS),
                       st.integers(0, 3 * 24 * 60)), max_size=40),
    st.lists(st.integers(min_value=0, max_value=10**6)),
)  # fmt: skip
def test_the_views_kept_and_the_stored_state_give_what_stepping_everything_again_gives(
    history: list[tuple[str, str, int]], delays: list[int]
) -> None:
    events = make(history)
    for arrival in (events, within_grace(events, delays + [0] * len(events)), events[::-1]):
        kept_and_stored_as_stepped_again(arrival, RULES)


def test_without_the_new_types_the_suspension_and_deactivation_never_count_an_unfollow() -> None:
    """Against the same stream with each suspension and deactivation left out: the counts, the
    patterns, the follow and the alerts are the same (they end nothing)."""
    stream = [
        ev("f1", "follow", 0), ev("p1", "suspended", 10), ev("i1", "interaction", 20),
        ev("d1", "deactivated", 30), ev("u1", "unsuspended", 40), ev("r1", "reactivated", 50),
        ev("x1", "unfollow", 200), ev("f2", "follow", 300), ev("x2", "unfollow", 500),
    ]  # fmt: skip
    with_them = Loop(RULES).feed(stream).finish()
    without = Loop(RULES).feed([e for e in stream if e.type.value not in STATES]).finish()
    for event_id in ("i1", "x1", "f2", "x2"):
        a, b = with_them.annotations[event_id], without.annotations[event_id]
        for name in ("follows", "unfollows", "following", "patterns", "cycles_in_horizon", "dwell_seconds"):
            assert getattr(a, name) == getattr(b, name), (event_id, name)
    assert with_them.alerts.keys() == without.alerts.keys()


# -- scorer -------------------------------------------------------------------------------------------

VIP = VersionedConfig(account_id="brand", version=1, config=AccountConfig(vips=["ana_roasts"]))


def decide(stream: list[Event], brand: VersionedConfig | None = VIP) -> dict[str, Decision | None]:
    churn, current, out = InMemory(RULES), None, {}
    for e in stream:
        decision, current = next_version(
            current, AnnotatedEvent(event=e, relationship=churn.fold(e)), brand=brand
        )
        out[e.event_id] = decision
    return out


def classes(decided: dict[str, Decision | None]) -> dict[str, str | None]:
    return {e: d.decision_class.value if d else None for e, d in decided.items()}


def reason(decision: Decision | None, signal: str) -> Any:
    assert decision is not None
    return next((r for r in decision.reasons if r.signal == signal), None)


def test_while_suspended_a_follower_is_ignore_by_rule_and_once_lifted_scored_as_before() -> None:
    decided = decide([
        ev("f1", "follow", 0), ev("p1", "suspended", 60), ev("i1", "interaction", 70),
        ev("u1", "unsuspended", 120),
    ])  # fmt: skip
    # (the like scores points, the class stays ignore while suspended)
    assert classes(decided) == {"f1": "high_value", "p1": "ignore", "i1": "ignore", "u1": "high_value"}
    rule = reason(decided["p1"], SUSPENDED_RULE)
    assert (rule.value, rule.contribution) == (ev("p1", "suspended", 60).occurred_at.isoformat(), 0)
    assert decided["p1"] is not None
    assert decided["f1"] is not None
    assert decided["p1"].score == decided["f1"].score  # a rule, not points: not spam, no penalty
    assert decided["p1"].event_type is EventType.SUSPENDED
    assert reason(decided["u1"], SUSPENDED_RULE) is None
    assert decided["p1"].scorer_version == SCORER_VERSION == "0.5.0"


def test_while_deactivated_a_follower_is_withdrawn_and_a_reactivation_decides_again() -> None:
    decided = decide([ev("f1", "follow", 0), ev("d1", "deactivated", 60), ev("r1", "reactivated", 600)])
    assert classes(decided) == {"f1": "high_value", "d1": "withdrawn", "r1": "high_value"}
    assert (
        reason(decided["d1"], DEACTIVATED_RULE).value == ev("d1", "deactivated", 60).occurred_at.isoformat()
    )
    assert reason(decided["d1"], SUSPENDED_RULE) is None


def test_the_brands_verdicts_and_churn_come_before_the_accounts_state() -> None:
    blocked = decide([ev("f1", "follow", 0), ev("b1", "blocked", 30), ev("p1", "suspended", 40)])
    assert classes(blocked)["b1"] == "harmful"
    assert blocked["p1"] is None  # still harmful, same score: nothing new
    listed = VersionedConfig(account_id="brand", version=1, config=AccountConfig(blocked_accounts=["7"]))
    assert classes(decide([ev("f1", "follow", 0), ev("p1", "suspended", 40)], listed))["f1"] == "harmful"
    churner = decide([ev("f1", "follow", 0), ev("x1", "unfollow", 120), ev("f2", "follow", 200),
                      ev("p1", "suspended", 210)])  # fmt: skip
    assert classes(churner)["x1"] == "churner"
    assert churner["p1"] is None  # a churner suspended stays one
    # Suspended, then deactivated: the suspension says it first.
    both = decide([ev("f1", "follow", 0), ev("p1", "suspended", 40), ev("d1", "deactivated", 50)])
    assert classes(both) == {"f1": "high_value", "p1": "ignore", "d1": None}


def test_a_suspension_of_an_ignore_follower_is_a_new_version_though_class_and_score_stay() -> None:
    """An ``ignore`` follower keeps a push already sent; a suspension moves neither class nor score,
    and must still be recorded, so that the notifier retracts it (and its lifting too)."""
    strict = AccountConfig(high_value_threshold=99, worth_following_threshold=98)  # (below both: ignore)
    brand = VersionedConfig(account_id="brand", version=1, config=strict)
    plain = decide([ev("f1", "follow", 0), ev("p1", "suspended", 60), ev("u1", "unsuspended", 90)], brand)
    assert classes(plain) == {"f1": "ignore", "p1": "ignore", "u1": "ignore"}
    assert plain["p1"] is not None
    assert plain["f1"] is not None
    assert plain["p1"].score == plain["f1"].score
    assert reason(plain["p1"], SUSPENDED_RULE) is not None
    assert reason(plain["u1"], SUSPENDED_RULE) is None
    # The version read back from the database carries the state (services.scorer.store.current).
    stored = Current(DecisionClass.IGNORE, plain["p1"].score, 2, plain["p1"].occurred_at,
                     EventType.SUSPENDED, "p1", "suspended")  # fmt: skip
    churn = InMemory(RULES)
    for e in [ev("f1", "follow", 0), ev("p1", "suspended", 60)]:
        churn.fold(e)
    again = ev("p2", "suspended", 70)  # (X's message again: nothing new)
    annotated = AnnotatedEvent(event=again, relationship=churn.fold(again))
    assert next_decision(stored, annotated, brand=brand) is None
    # Without the state, the version would be taken for one before the suspension: recorded again.
    assert next_decision(replace(stored, account_state=None), annotated, brand=brand) is not None


def test_a_suspension_or_a_deactivation_of_someone_never_decided_on_records_nothing() -> None:
    churn = InMemory(RULES)
    for kind in ("suspended", "deactivated"):
        e = ev(f"{kind}1", kind, 0, follower="5")
        assert next_decision(None, AnnotatedEvent(event=e, relationship=churn.fold(e))) is None
    like = ev("i1", "interaction", 5, follower="5")
    assert next_decision(None, AnnotatedEvent(event=like, relationship=churn.fold(like))) is None


# -- notifier -----------------------------------------------------------------------------------------


def _payload(decision: Decision) -> dict[str, Any]:
    return {"account_id": "brand", "screen_name": "ana_roasts", "retracted_as": retracted_as(decision)}


def test_a_suspended_follower_is_retracted_as_no_longer_available_on_x_and_the_queue_says_so() -> None:
    decision = decide([ev("f1", "follow", 0), ev("p1", "suspended", 60)])["p1"]
    assert decision is not None
    assert (retracted_as(decision), retracts(decision)) == ("suspended", True)
    assert messages.retraction_text(_payload(decision)).startswith(
        "Retracted: @ana_roasts is no longer available on X before anyone acted"
    )
    reasons = [r.model_dump(mode="json") for r in decision.reasons]
    assert deciding_first("ignore", reasons)[0]["signal"] == SUSPENDED_RULE
    assert shown_state(reasons) == "not available on X"
    # A follower whose score merely fell to ignore keeps their push, as before.
    plain = decision.model_copy(
        update={"reasons": tuple(r for r in decision.reasons if r.signal != SUSPENDED_RULE)}
    )
    assert (retracted_as(plain), retracts(plain), shown_state([])) == ("ignore", False, None)


def test_a_deactivated_follower_is_retracted_as_no_longer_available_on_x() -> None:
    decision = decide([ev("f1", "follow", 0), ev("d1", "deactivated", 60)])["d1"]
    assert decision is not None
    assert (retracted_as(decision), retracts(decision)) == ("deactivated", True)
    assert messages.retraction_text(_payload(decision)).startswith(
        "Retracted: @ana_roasts is no longer available on X before anyone acted"
    )
    reasons = [r.model_dump(mode="json") for r in decision.reasons]
    assert deciding_first("withdrawn", reasons)[0]["signal"] == DEACTIVATED_RULE
    assert shown_state(reasons) == "not available on X"
    left = decide([ev("f1", "follow", 0), ev("x1", "unfollow", 600)])["x1"]
    assert left is not None
    assert (retracted_as(left), messages.RETRACTION_WHY[retracted_as(left)]) == ("withdrawn", "unfollowed")


def test_the_review_queue_shows_the_accounts_state_and_offers_no_follow_back() -> None:
    page = render_row(**{"class": "ignore", "account_state": "not available on X", "can_follow_back": False})
    assert '<span class="badge warn">not available on X</span>' in page
    assert 'value="follow_back"' not in page
    assert 'value="dismiss"' in page
    plain = render_row(**{"class": "ignore", "account_state": None, "can_follow_back": True})
    assert "not available on X" not in plain
    assert 'value="follow_back"' in plain
