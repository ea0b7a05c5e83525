"""Event time: the churn core's results depend on ``occurred_at``, not on the arrival order within the
grace period; duplicates change nothing; counts never go negative; the state stays bounded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.churn.patterns import ChurnRules
from services.churn.rules import apply
from services.churn.timeline import Item, Outcome, Rel, advance, fold
from shared.events import Event
from shared.relationships import RelationshipState
from tests.churn_support import Loop, without_revisions
from tests.support import event

M = timedelta(minutes=1)
# Short windows, so that hypothesis' small streams reach every pattern and the grace period matters.
RULES = ChurnRules(
    quick_unfollow_window=timedelta(hours=6),
    min_dwell=timedelta(minutes=20),
    serial_cycles=2,
    horizon=timedelta(days=2),
    cross_accounts=2,
    grace=timedelta(hours=1),
)
KINDS = ["follow", "followed_back", "interaction", "unfollowed_back", "unfollow"]
ACCOUNTS = ["brand", "shop", "cafe"]


def make(steps: list[tuple[str, str, int]], follower: str = "7") -> list[Event]:
    """Events of one follower: (account, kind, minute), in event-time order (at one instant a follow
    first and an unfollow last, as the detector orders them), with distinct ids."""
    ordered = sorted(steps, key=lambda s: (s[2], KINDS.index(s[1])))
    return [
        Event.model_validate(
            event(
                f"e{n:03}",  # ids sort like the events (ties in time are broken by id)
                kind,
                follower,
                minute * M,
                account=account,
                interaction="like" if kind == "interaction" else None,
            )
        )
        for n, (account, kind, minute) in enumerate(ordered)
    ]


def steps(span_minutes: int, max_size: int = 25) -> st.SearchStrategy[list[tuple[str, str, int]]]:
    return st.lists(
        st.tuples(
            st.sampled_from(ACCOUNTS),
            st.sampled_from(KINDS),
            st.integers(min_value=0, max_value=span_minutes),
        ),
        max_size=max_size,
    )


def within_grace(events: list[Event], delays: list[int]) -> list[Event]:
    """An arrival order in which each event is delayed by less than the grace period."""
    grace = int(RULES.grace / M)
    arrival = [e.occurred_at + (d % grace) * M for e, d in zip(events, delays, strict=False)]
    return [e for _, _, e in sorted(zip(arrival, range(len(events)), events, strict=False))]


@settings(max_examples=200, deadline=None)
@given(steps(span_minutes=59), st.randoms(use_true_random=False))
def test_any_permutation_of_events_within_the_grace_period_gives_the_same_results(
    history: list[tuple[str, str, int]], rng: object
) -> None:
    events = make(history)
    shuffled = list(events)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    in_order, permuted = Loop(RULES).feed(events).finish(), Loop(RULES).feed(shuffled).finish()
    assert not permuted.late
    assert without_revisions(permuted) == without_revisions(in_order)


@settings(max_examples=200, deadline=None)
@given(steps(span_minutes=6 * 24 * 60, max_size=40), st.lists(st.integers(min_value=0, max_value=10**6)))
def test_delays_within_the_grace_period_give_the_same_results_over_days(
    history: list[tuple[str, str, int]], delays: list[int]
) -> None:
    events = make(history)
    delays = delays + [0] * len(events)
    in_order = Loop(RULES).feed(events).finish()
    delayed = Loop(RULES).feed(within_grace(events, delays)).finish()
    assert not delayed.late
    assert without_revisions(delayed) == without_revisions(in_order)
    # And in order, nothing is ever revised: every annotation is final when first published.
    assert in_order.first == in_order.annotations


@settings(max_examples=300, deadline=None)
@given(steps(span_minutes=3 * 24 * 60, max_size=50), st.lists(st.integers(min_value=0, max_value=10**6)))
def test_stepping_onto_the_views_the_last_fold_left_gives_what_stepping_everything_again_gives(
    history: list[tuple[str, str, int]], delays: list[int]
) -> None:
    """The detector and replay step an event after every pending one onto the views the follower's
    previous fold left (timeline._fold_last) instead of stepping every pending event again: the
    same outputs, revisions and states, in order, with delays within the grace period, and late."""
    events = make(history)
    for arrival in (events, within_grace(events, delays + [0] * len(events)), events[::-1]):
        kept = Loop(RULES).feed(arrival).finish()
        again = Loop(RULES, keep_views=False).feed(arrival).finish()
        for part in ("first", "annotations", "alerts", "retained", "late"):
            assert getattr(kept, part) == getattr(again, part), part
        assert kept.states() == again.states()


def test_a_burst_of_events_within_the_grace_period_costs_each_the_same() -> None:
    """3,000 likes in an hour: each was stepped with every pending one again, about 2 minutes of the
    detector's time (helper-50). Counted in steps, not seconds: the fold of the last event steps once."""
    import services.churn.history as history
    import services.churn.timeline as timeline

    likes = make([("brand", "follow", 0)] + [("brand", "interaction", 1) for _ in range(300)])
    loop = Loop(RULES).feed(likes[:-1])
    counted = []
    real = timeline.step

    def counting(*args):  # type: ignore[no-untyped-def]
        counted.append(1)
        return real(*args)

    with pytest.MonkeyPatch.context() as patch:
        for module in (timeline, history):  # (history.view steps the pending events)
            patch.setattr(module, "step", counting)
        loop.feed(likes[-1:])
    assert len(counted) == 1
    assert loop.annotations[likes[-1].event_id].interactions == 300


@settings(max_examples=100, deadline=None)
@given(steps(span_minutes=3 * 24 * 60), st.lists(st.integers(min_value=0, max_value=40)))
def test_a_redelivered_event_changes_nothing(history: list[tuple[str, str, int]], picks: list[int]) -> None:
    events = make(history)
    again = list(events)
    for pick in picks:
        if events:
            original = events[pick % len(events)]
            again.insert(again.index(original) + 1 + pick % 3, original)  # shortly after, or right after
    once, twice = Loop(RULES).feed(events).finish(), Loop(RULES).feed(again).finish()
    assert without_revisions(twice) == without_revisions(once)


@settings(max_examples=200, deadline=None)
@given(steps(span_minutes=4 * 24 * 60, max_size=40), st.permutations(list(range(40))))
def test_counts_never_go_negative_and_stay_consistent_in_any_arrival_order(
    history: list[tuple[str, str, int]], order: list[int]
) -> None:
    events = make(history)
    arrival = [events[i] for i in order if i < len(events)]  # any order at all: many events are late
    loop = Loop(RULES).feed(arrival).finish()
    notes = [*loop.annotations.values(), *loop.retained.values()]
    for note in notes:
        assert min(note.follows, note.unfollows, note.interactions, note.cycles_in_horizon) >= 0
        assert note.follows - note.unfollows == (1 if note.following else 0)
        assert note.cycles_in_horizon <= note.unfollows
        assert 0 <= note.accounts_churned <= len(ACCOUNTS)
    for state in loop.states().values():
        assert state.follows - state.unfollows == (1 if state.following else 0)
        assert state.interactions >= 0
    assert set(loop.annotations) == {e.event_id for e in events}  # late events are recorded too


@settings(max_examples=100, deadline=None)
@given(steps(span_minutes=60 * 24 * 60, max_size=60))
def test_the_state_stays_bounded(history: list[tuple[str, str, int]]) -> None:
    loop = Loop(RULES).feed(make(history)).finish()
    watermark = loop.watermark()
    if watermark is None:
        return  # only follow-backs: they do not move the clock
    for state in loop.states().values():
        assert all(at >= watermark for at, *_ in state.pending)  # only the grace period is pending
        through = state.settled.through
        for times in (state.settled.cycle_ends, state.settled.churn_ends):
            # Trimmed whenever something settles: nothing older than the horizon before that.
            assert through is None or all(t >= through - RULES.horizon for t in times)
        assert len(state.alerts) <= 4


def test_late_events_are_flagged_and_folded_after_what_settled() -> None:
    events = make([("brand", "follow", 0), ("brand", "interaction", 30), ("brand", "unfollow", 3 * 60)])
    follow, interaction, unfollow = events
    loop = Loop(RULES).feed([follow, unfollow, interaction])  # the interaction 2.5 h late (grace: 1 h)
    assert loop.late == {interaction.event_id}
    note = loop.annotations[interaction.event_id]
    assert note.late
    assert note.interactions == 1
    assert loop.states()[("brand", "7")].interactions == 1


def test_apply_still_folds_one_relationship_in_its_own_event_time() -> None:
    state = RelationshipState()
    for item in make([("brand", "follow", 0), ("brand", "unfollow", 120)]):
        state, note = apply(state, item, RULES)
    assert note.patterns == ("quick_unfollow",)
    assert (state.follows, state.unfollows, state.following) == (1, 1, False)


def test_a_late_event_goes_after_every_event_older_than_the_watermark_swept_or_not() -> None:
    """Whether the sweep happened to settle a quiet relationship before a late event arrives must not
    matter: a late unfollow comes after the follow either way (a two-instance run found this)."""
    follow, unfollow = make([("shop", "follow", 0), ("shop", "unfollow", 8 * 60)])  # retained due at 6 h

    def item(e: Event) -> Item:
        return Item(e.occurred_at, e.type, e.event_id)

    first = fold("7", {}, "shop", item(follow), None, RULES)
    # Other followers' events moved the partition's clock: the unfollow arrives 2 h behind the watermark.
    watermark = follow.occurred_at + timedelta(hours=10)
    untouched = fold("7", first.follower, "shop", item(unfollow), watermark, RULES)
    swept = advance(first.follower, follow.occurred_at + timedelta(hours=7), RULES)
    after_sweep = fold("7", swept.follower, "shop", item(unfollow), watermark, RULES)

    assert untouched.late
    assert after_sweep.late
    assert untouched.annotation is not None
    assert (untouched.annotation.follows, untouched.annotation.unfollows) == (1, 1)
    assert untouched.annotation.dwell_seconds == (8 * 60 * M).total_seconds()
    assert untouched.annotation == after_sweep.annotation
    assert untouched.follower == after_sweep.follower
    assert untouched.retained == swept.retained + after_sweep.retained  # one retained notice, either way
    assert len(untouched.retained) == 1


def _late_after(settled_first: bool, on_time: list[Event], late: Event, other: Event) -> Outcome:
    """Fold ``on_time`` in order, optionally let ``other`` (another account's event of the same
    follower) settle them, then fold ``late`` 10 hours behind the watermark."""

    def item(e: Event) -> Item:
        return Item(e.occurred_at, e.type, e.event_id)

    follower: dict[str, Rel] = {}
    for e in on_time:
        follower = fold("7", follower, e.account_id, item(e), None, RULES).follower
    start = on_time[0].occurred_at
    if settled_first:
        follower = fold(
            "7", follower, other.account_id, item(other), start + timedelta(hours=5), RULES
        ).follower
    return fold("7", follower, late.account_id, item(late), start + timedelta(hours=10), RULES)


@pytest.mark.parametrize("settled_first", [False, True])
def test_a_late_follow_older_than_a_settled_unfollow_changes_nothing(settled_first: bool) -> None:
    """The unfollow came first and did nothing (not following then); the follow before it arrives
    late. A late move older than the newest settled move changes nothing, whether that move
    changed the tally or not, and whatever settled it."""
    follow, unfollow, other = make(
        [("shop", "follow", 0), ("shop", "unfollow", 60), ("brand", "interaction", 400)]
    )
    outcome = _late_after(settled_first, [unfollow], follow, other)
    assert outcome.late
    assert outcome.annotation is not None
    assert (outcome.annotation.follows, outcome.annotation.following) == (0, False)
    assert outcome.views["shop"].now.following is False
    assert outcome.retained == []


@pytest.mark.parametrize("settled_first", [False, True])
def test_a_late_follow_back_is_one_if_the_follower_followed_at_its_time(settled_first: bool) -> None:
    """The brand's own follow is a follow-back only of a follower (X reports the brand's follows as
    ``followed_back``). One from before the follower's follow (the brand followed first) arriving
    late, after the follow settled, was counted as one, so the follower's unfollow weeks later was
    ``unfollow_after_follow_back``; and one made while the follower followed, arriving after the
    unfollow settled, was dropped. A late follow-back is one as of its own time."""
    brand_first, follow, unfollow, other = make(
        [("shop", "followed_back", 0), ("shop", "follow", 5), ("shop", "unfollow", 30 * 24 * 60),
         ("brand", "interaction", 400)]
    )  # fmt: skip
    outcome = _late_after(settled_first, [follow], brand_first, other)
    assert outcome.late
    assert outcome.views["shop"].now.followed_back_at is None
    later = fold("7", outcome.follower, "shop", Item(unfollow.occurred_at, unfollow.type, unfollow.event_id),
                 unfollow.occurred_at - RULES.grace, RULES)  # fmt: skip
    assert later.annotation is not None
    assert later.annotation.patterns == ()

    follow, answered, unfollow, other = make(
        [("shop", "follow", 0), ("shop", "followed_back", 30), ("shop", "unfollow", 90),
         ("brand", "interaction", 400)]
    )  # fmt: skip
    outcome = _late_after(settled_first, [follow, unfollow], answered, other)
    assert outcome.late
    assert outcome.views["shop"].now.followed_back_at == answered.occurred_at


@pytest.mark.parametrize("settled_first", [False, True])
def test_a_late_unfollow_older_than_a_repeated_follow_changes_nothing(settled_first: bool) -> None:
    """Follow, then a second follow (changes nothing: already following); an unfollow between the
    two arrives late: the follower still follows."""
    events = make(
        [
            ("shop", "follow", 0),
            ("shop", "unfollow", 60),
            ("shop", "follow", 120),
            ("brand", "interaction", 400),
        ]
    )
    follow, unfollow, again, other = events
    outcome = _late_after(settled_first, [follow, again], unfollow, other)
    assert outcome.late
    assert outcome.views["shop"].now.following is True
    assert outcome.views["shop"].now.unfollows == 0
