"""The churn patterns with their default parameters, through the detector's fold loop (no I/O)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from services.churn import codec
from services.churn.patterns import ChurnRules
from services.churn.rules import InMemory
from shared.events import Event
from shared.relationships import ChurnPattern
from tests.churn_support import HUSTLER, Loop, expected_alerts, scripted
from tests.support import T0, event

H, D, M = timedelta(hours=1), timedelta(days=1), timedelta(minutes=1)
RULES = ChurnRules()


def run(*bodies: dict[str, Any]) -> Loop:
    return Loop(RULES).feed(Event.model_validate(b) for b in bodies)


def patterns(loop: Loop) -> set[tuple[str, str, str]]:
    return expected_alerts(loop.alerts.values())


def test_the_scripted_stream_gives_exactly_the_expected_alerts_and_retained_events() -> None:
    script = scripted()
    loop = run(*script.events).finish()
    assert patterns(loop) == script.alerts
    assert {(account, follower) for account, follower, _ in loop.retained} == script.retained
    assert loop.late == script.late
    assert loop.annotations["lt"].late  # recorded and annotated all the same
    assert loop.states()[("brand", "301")].interactions == 3


def test_a_quick_unfollow_and_a_glitch() -> None:
    loop = run(
        event("a1", "follow", "1", 0 * H),
        event("a2", "unfollow", "1", 29 * H),
        event("b1", "follow", "2", 0 * H),
        event("b2", "unfollow", "2", 59 * M),  # under the minimum dwell of an hour
    )
    assert patterns(loop) == {("brand", "1", "quick_unfollow")}
    assert loop.annotations["a2"].dwell_seconds == (29 * H).total_seconds()
    assert loop.annotations["b2"].cycles_in_horizon == 0


def test_unfollow_after_follow_back_whenever_it_comes() -> None:
    loop = run(
        event("f", "follow", "1", 0 * H),
        event("fb", "followed_back", "1", 2 * H),
        event("u", "unfollow", "1", 30 * D),  # long after the quick-unfollow window
    )
    assert patterns(loop) == {("brand", "1", "unfollow_after_follow_back")}
    assert loop.annotations["u"].followed_back_at == T0 + 2 * H


def test_an_unfollow_within_the_minimum_dwell_after_the_brand_followed_back_is_churn_not_a_glitch() -> None:
    loop = run(
        event("f", "follow", "1", 0 * H),
        event("fb", "followed_back", "1", 10 * M),  # a person followed back ...
        event("u", "unfollow", "1", 30 * M),  # ... and the follower left 20 minutes later
        event("g1", "follow", "2", 0 * H),
        event("gb", "followed_back", "2", 5 * M),
        event("g2", "unfollow", "2", 2 * D),
        event("g3", "follow", "2", 3 * D),  # a follow-back of an earlier follow ...
        event("g4", "unfollow", "2", 3 * D + 10 * M),  # ... makes no later mis-tap churn
    )
    assert ("brand", "1", "unfollow_after_follow_back") in patterns(loop)
    assert ("brand", "1", "quick_unfollow") in patterns(loop)
    assert loop.annotations["u"].cycles_in_horizon == 1
    assert loop.annotations["g4"].new_patterns == ()
    assert loop.annotations["g4"].cycles_in_horizon == 1  # the first cycle only


def test_repeated_follow_for_follow_within_the_hour_is_churn_every_time() -> None:
    bodies = []
    for day in range(3):
        bodies += [
            event(f"f{day}", "follow", "1", day * D, HUSTLER),
            event(f"b{day}", "followed_back", "1", day * D + 10 * M, HUSTLER),
            event(f"u{day}", "unfollow", "1", day * D + 50 * M, HUSTLER),
        ]
    loop = run(*bodies)
    assert {p for _, _, p in patterns(loop)} == {
        "quick_unfollow",
        "serial_churn",
        "unfollow_after_follow_back",
    }
    assert loop.annotations["u2"].cycles_in_horizon == 3


def test_cross_account_churn_marks_the_follower_on_every_account_within_the_horizon() -> None:
    loop = run(
        event("a1", "follow", "1", 0 * H, HUSTLER, account="one"),
        event("a2", "unfollow", "1", 5 * H, HUSTLER, account="one"),
        event("b1", "follow", "1", 6 * H, HUSTLER, account="two"),
        event("b2", "unfollow", "1", 9 * H, HUSTLER, account="two"),
        event("c1", "follow", "1", 3 * D, HUSTLER, account="three"),  # never churns here
        event("d1", "follow", "1", 120 * D, HUSTLER, account="four"),  # beyond the horizon
    )
    assert loop.annotations["b1"].accounts_churned == 1
    assert loop.annotations["b2"].accounts_churned == 2
    assert ChurnPattern.CROSS_ACCOUNT_CHURN in loop.annotations["c1"].patterns
    assert loop.annotations["d1"].patterns == ()
    assert ("two", "1", "cross_account_churn") in patterns(loop)
    assert ("three", "1", "cross_account_churn") in patterns(loop)
    assert ("one", "1", "cross_account_churn") not in patterns(loop)  # no event there since


def test_one_account_is_no_cross_account_churn() -> None:
    loop = run(
        event("a1", "follow", "1", 0 * H),
        event("a2", "unfollow", "1", 5 * H),
        event("a3", "follow", "1", 6 * H),
        event("a4", "unfollow", "1", 9 * H),
    )
    assert patterns(loop) == {("brand", "1", "quick_unfollow"), ("brand", "1", "serial_churn")}


def test_retained_once_when_the_window_passes_in_event_time() -> None:
    loop = run(
        event("f", "follow", "1", 0 * H),
        event("other", "follow", "2", 7 * D + 30 * M),  # the clock: window passed, grace not yet
    )
    assert loop.finish().retained == {}
    loop.feed([Event.model_validate(event("later", "follow", "3", 7 * D + 2 * H))])
    assert loop.retained == {}  # nothing of follower 1's own moved it: the sweep does
    [(key, note)] = loop.finish().retained.items()
    assert key == ("brand", "1", T0)
    assert (note.following, note.dwell_seconds) == (True, (7 * D).total_seconds())
    loop.feed([Event.model_validate(event("much-later", "follow", "4", 30 * D))]).finish()
    assert {k[1] for k in loop.retained} == {"1", "2", "3"}  # once each


def test_no_retained_event_for_a_follow_that_ended_within_the_window() -> None:
    loop = run(
        event("f", "follow", "1", 0 * H),
        event("u", "unfollow", "1", 7 * D),  # exactly the window: a quick unfollow
        event("clock", "follow", "2", 30 * D),
    ).finish()
    assert loop.retained == {}
    assert patterns(loop) == {("brand", "1", "quick_unfollow")}


def test_an_earlier_event_arriving_within_the_grace_period_revises_what_was_published() -> None:
    loop = run(
        event("f", "follow", "1", 0 * H),
        event("u", "unfollow", "1", 13 * H),
        event("fb", "followed_back", "1", 12 * H + 45 * M),  # 15 minutes before the unfollow
    )
    first, latest = loop.first["u"], loop.annotations["u"]
    assert (first.patterns, first.revision) == (("quick_unfollow",), 0)
    assert latest.patterns == ("quick_unfollow", "unfollow_after_follow_back")
    assert latest.revision == 1
    alert = loop.alerts["brand/1/unfollow_after_follow_back"]
    assert (alert.event_id, alert.revision, alert.withdrawn) == ("u", 0, False)


def test_an_alert_an_earlier_event_undoes_is_withdrawn() -> None:
    loop = run(
        event("f1", "follow", "1", 0 * H),
        event("u2", "unfollow", "1", 100 * M),  # seen alone: a 100-minute follow, a quick unfollow ...
        event("u1", "unfollow", "1", 50 * M),  # ... until the glitches it was arrive
        event("f2", "follow", "1", 60 * M),
    )
    alert = loop.alerts["brand/1/quick_unfollow"]
    assert (alert.revision, alert.withdrawn) == (1, True)
    assert loop.annotations["u2"].patterns == ()
    assert patterns(loop) == set()


def test_a_retained_event_fed_back_as_input_changes_nothing() -> None:
    loop = run(event("f", "follow", "1", 0 * H))
    before = loop.states()
    loop.feed([Event.model_validate(event("retained:x", "retained", "1", 7 * D))])
    assert loop.states() == before


def test_states_stored_before_event_time_are_upcast_as_settled() -> None:
    old = {
        "following": False,
        "follows": 1,
        "unfollows": 1,
        "interactions": 2,
        "last_follow_at": "2026-03-01T09:00:00Z",
        "last_unfollow_at": "2026-03-02T09:00:00Z",
        "last_interaction_at": None,
        "cycle_ends": ["2026-03-02T09:00:00Z"],
        "patterns": ["quick_unfollow"],
    }
    state = codec.load(old)
    assert (state.follows, state.unfollows, state.interactions) == (1, 1, 2)
    assert state.settled.cycle_ends == (T0 + D,)
    assert state.settled.patterns == ("quick_unfollow",)
    rel = codec.to_rel(state)
    loop = Loop(RULES)
    loop.rels["7"] = {"brand": rel}
    loop.feed(
        Event.model_validate(event(i, k, "7", at))
        for i, k, at in (("in", "follow", 3 * D), ("bye", "unfollow", 4 * D))
    )
    assert loop.annotations["bye"].cycles_in_horizon == 2
    assert "serial_churn" in loop.annotations["bye"].patterns


def test_folding_without_alerts_annotates_exactly_as_with_them() -> None:
    """Replay folds without the churn alerts (``alerts_too=False``): nothing an annotation or a
    revision says may depend on them, in the log's order or shuffled (revisions, late events)."""
    alerts = 0
    for seed in [None, *range(8)]:
        events = [Event.model_validate(e) for e in scripted().events]
        if seed is not None:
            random.Random(seed).shuffle(events)
        with_alerts, without = InMemory(RULES), InMemory(RULES, alerts_too=False)
        for item in events:
            full, lean = with_alerts.outcome(item), without.outcome(item)
            assert (lean.annotation, lean.revised, lean.late) == (full.annotation, full.revised, full.late)
            assert lean.alerts == []
            alerts += len(full.alerts)
    assert alerts > 0  # the log does raise alerts


def test_in_memory_annotates_a_log_as_the_detector_does() -> None:
    events = [Event.model_validate(e) for e in scripted().events]
    folder, loop = InMemory(RULES), Loop(RULES)
    for item in events:
        loop.feed([item])
        assert folder.fold(item) == loop.first[item.event_id]
