"""The churn rules, as pure functions of a relationship's state and one event."""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.churn.rules import ChurnRules, apply
from shared.events import Event
from shared.relationships import ChurnPattern, RelationshipState
from tests.support import event

H = timedelta(hours=1)
D = timedelta(days=1)


DEFAULT_RULES = ChurnRules()


def fold(steps: list[tuple[str, timedelta]], rules: ChurnRules = DEFAULT_RULES):  # type: ignore[no-untyped-def]
    state = RelationshipState()
    annotations = []
    for n, (kind, at) in enumerate(steps):
        interaction = "mention" if kind == "interaction" else None
        ev = Event.model_validate(event(f"e{n}", kind, "7", at, interaction=interaction))
        state, annotation = apply(state, ev, rules)
        annotations.append(annotation)
    return state, annotations


def test_an_unfollow_two_days_after_the_follow_is_a_quick_unfollow() -> None:
    state, notes = fold([("follow", 0 * H), ("unfollow", 2 * D)])
    assert notes[-1].dwell_seconds == (2 * D).total_seconds()
    assert notes[-1].new_patterns == (ChurnPattern.QUICK_UNFOLLOW,)
    assert state.patterns == (ChurnPattern.QUICK_UNFOLLOW,)
    assert (state.follows, state.unfollows, state.following) == (1, 1, False)


def test_a_follow_shorter_than_the_minimum_dwell_is_a_glitch_not_churn() -> None:
    state, notes = fold([("follow", 0 * H), ("unfollow", timedelta(minutes=10))])
    assert notes[-1].patterns == ()
    assert notes[-1].cycles_in_horizon == 0
    assert state.unfollows == 1


def test_an_unfollow_after_the_window_is_ordinary_attrition() -> None:
    _, notes = fold([("follow", 0 * H), ("unfollow", 30 * D)])
    assert notes[-1].patterns == ()
    assert notes[-1].cycles_in_horizon == 1


def test_two_cycles_within_the_horizon_are_serial_churn() -> None:
    _, notes = fold([("follow", 0 * D), ("unfollow", 20 * D), ("follow", 30 * D), ("unfollow", 50 * D)])
    assert notes[1].patterns == ()
    assert notes[-1].cycles_in_horizon == 2
    assert ChurnPattern.SERIAL_CHURN in notes[-1].new_patterns


def test_cycles_older_than_the_horizon_do_not_count() -> None:
    _, notes = fold([("follow", 0 * D), ("unfollow", 20 * D), ("follow", 200 * D), ("unfollow", 230 * D)])
    assert notes[-1].cycles_in_horizon == 1
    assert notes[-1].patterns == ()


def test_a_pattern_raises_an_alert_once() -> None:
    _, notes = fold([("follow", 0 * D), ("unfollow", 1 * D), ("follow", 2 * D), ("unfollow", 3 * D)])
    assert notes[1].new_patterns == (ChurnPattern.QUICK_UNFOLLOW,)
    assert ChurnPattern.QUICK_UNFOLLOW not in notes[3].new_patterns
    assert notes[3].new_patterns == (ChurnPattern.SERIAL_CHURN,)


def test_interactions_are_counted_with_their_latest_time() -> None:
    state, notes = fold([("follow", 0 * H), ("interaction", 3 * H), ("interaction", 5 * H)])
    assert notes[-1].interactions == 2
    assert state.last_interaction_at is not None
    assert state.last_interaction_at - state.last_follow_at == 5 * H  # type: ignore[operator]


def test_a_repeated_follow_without_unfollow_is_not_a_second_follow() -> None:
    state, _ = fold([("follow", 0 * H), ("follow", 2 * H)])
    assert state.follows == 1


# Event-time order: at one instant the detector puts a follow first and an unfollow last (a history
# fed in another order at a tie is an out-of-order arrival, whose earlier annotations are revised).
AT_ONE_INSTANT = ["follow", "interaction", "unfollow"]

steps = st.lists(
    st.tuples(
        st.sampled_from(["follow", "unfollow", "interaction"]),
        st.integers(min_value=0, max_value=400 * 24).map(lambda h: timedelta(hours=h)),
    ),
    max_size=30,
).map(lambda s: sorted(s, key=lambda step: (step[1], AT_ONE_INSTANT.index(step[0]))))


@given(steps)
def test_counts_stay_consistent_for_any_history(history: list[tuple[str, timedelta]]) -> None:
    state, notes = fold(history)
    assert state.follows - state.unfollows == (1 if state.following else 0)
    assert state.interactions == sum(1 for kind, _ in history if kind == "interaction")
    for earlier, later in itertools.pairwise(notes):
        assert set(earlier.patterns) <= set(later.patterns)  # patterns are never forgotten
    for note in notes:
        assert note.cycles_in_horizon <= note.unfollows


@given(steps)
def test_the_same_history_gives_the_same_annotations(history: list[tuple[str, timedelta]]) -> None:
    assert fold(history) == fold(history)


def test_a_mis_tap_repeated_again_and_again_is_no_glitch() -> None:
    """A follow shorter than the minimum dwell is a mis-tap, forgiven; following and unfollowing
    within minutes again and again (notification spam, a follow-for-follow script) was never churn
    however often. The third short follow within the horizon is a cycle, and so is every later one."""
    steps = []
    for n in range(5):
        steps += [("follow", n * D), ("unfollow", n * D + timedelta(minutes=10))]
    _, notes = fold(steps)
    unfollows = notes[1::2]
    assert [u.patterns for u in unfollows[:2]] == [(), ()]  # two mis-taps are forgiven
    assert unfollows[2].new_patterns == (ChurnPattern.QUICK_UNFOLLOW,)
    assert unfollows[2].cycles_in_horizon == 1
    assert ChurnPattern.SERIAL_CHURN in unfollows[3].new_patterns  # a second cycle
    assert unfollows[4].cycles_in_horizon == 3


def test_short_follows_far_apart_stay_glitches() -> None:
    """Only the short follows within the horizon count: one a quarter is a mis-tap each time."""
    steps = []
    for n in range(4):
        steps += [("follow", n * 100 * D), ("unfollow", n * 100 * D + timedelta(minutes=10))]
    state, notes = fold(steps)
    assert all(note.patterns == () and note.cycles_in_horizon == 0 for note in notes)
    assert len(state.settled.glitch_ends) <= 1  # (older ones are dropped: the state stays small)


def test_the_glitch_allowance_is_a_setting() -> None:
    steps = [("follow", 0 * D), ("unfollow", timedelta(minutes=10))]
    _, notes = fold(steps, ChurnRules(serial_glitches=1))
    assert notes[-1].new_patterns == (ChurnPattern.QUICK_UNFOLLOW,)


def test_the_brands_follow_of_someone_not_following_is_no_follow_back() -> None:
    """X reports the brand's own follows as follow-backs: a brand that followed someone first, who
    then followed and later left, was not followed back, and no ``unfollow_after_follow_back``."""
    _, notes = fold([("followed_back", 0 * H), ("follow", 2 * H), ("unfollow", 30 * D)])
    assert notes[-1].followed_back_at is None
    assert notes[-1].patterns == ()
    _, notes = fold([("follow", 0 * H), ("followed_back", 2 * H), ("unfollow", 30 * D)])
    assert notes[-1].patterns == (ChurnPattern.UNFOLLOW_AFTER_FOLLOW_BACK,)
