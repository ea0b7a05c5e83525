"""The churn core's event-time properties with the brand's blocks and unblocks among the events:
stepping onto the views the last fold left, and a state stored and read back between every event
(the detector's codec), give what stepping everything again from memory gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.events import EVENT_TIME_RANK, Event, EventType
from tests.churn_support import kept_and_stored_as_stepped_again
from tests.support import event
from tests.unit.test_churn_event_time import ACCOUNTS, RULES, M, within_grace

KINDS = ["follow", "followed_back", "interaction", "unfollowed_back", "unfollow", "blocked", "unblocked"]


def make(history: list[tuple[str, str, int]]) -> list[Event]:
    ordered = sorted(history, key=lambda s: (s[2], EVENT_TIME_RANK[EventType(s[1])]))
    return [
        Event.model_validate(
            event(f"e{n:03}", kind, "7", minute * M, account=account,
                  interaction="like" if kind == "interaction" else None)
        )
        for n, (account, kind, minute) in enumerate(ordered)
    ]  # fmt: skip


def steps(span_minutes: int, max_size: int = 40) -> st.SearchStrategy[list[tuple[str, str, int]]]:
    return st.lists(
        st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(KINDS), st.integers(0, span_minutes)),
        max_size=max_size,
    )


@settings(max_examples=200, deadline=None)
@given(steps(span_minutes=3 * 24 * 60), st.lists(st.integers(min_value=0, max_value=10**6)))
def test_with_blocks_the_views_kept_and_the_stored_state_give_what_stepping_everything_again_gives(
    history: list[tuple[str, str, int]], delays: list[int]
) -> None:
    events = make(history)
    for arrival in (events, within_grace(events, delays + [0] * len(events)), events[::-1]):
        again = kept_and_stored_as_stepped_again(arrival, RULES)
        for note in again.annotations.values():
            assert not (note.following and note.blocked_at is not None)
            assert note.unfollows <= note.follows
