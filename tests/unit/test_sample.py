"""The sample stream: deterministic, valid, with personas the churn rules and scorer recognise."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from followback import sample
from followback.sample import (
    PERSONA_SHARES,
    generate,
    generate_with_personas,
    to_ndjson,
    write_ndjson,
)
from services.churn.rules import apply
from services.scorer.scoring import score
from shared.decisions import DecisionClass
from shared.events import Event, EventType
from shared.relationships import AnnotatedEvent, Annotation, RelationshipState

START = datetime(2026, 1, 5, tzinfo=UTC)
ACCOUNTS = ("brand", "brand_eu", "brand_us")
TWEPOCH_MS = 1_288_834_974_657

Key = tuple[str, str]
Sample = tuple[list[Event], dict[str, str]]  # the events and each follower's persona


@pytest.fixture(scope="module")
def single() -> Sample:
    return generate_with_personas(followers=3000, seed=7)


@pytest.fixture(scope="module")
def multi() -> Sample:
    return generate_with_personas(followers=3000, accounts=ACCOUNTS, seed=11)


def by_relationship(events: list[Event]) -> dict[Key, list[Event]]:
    out: dict[Key, list[Event]] = defaultdict(list)
    for event in events:
        out[(event.account_id, event.follower.id)].append(event)
    return out


def fold(events: list[Event]) -> dict[Key, list[tuple[Event, Annotation]]]:
    """Run the churn rules over the stream, one relationship at a time, in stream order."""
    states: dict[Key, RelationshipState] = defaultdict(RelationshipState)
    out: dict[Key, list[tuple[Event, Annotation]]] = defaultdict(list)
    for event in events:
        key = (event.account_id, event.follower.id)
        states[key], annotation = apply(states[key], event)
        out[key].append((event, annotation))
    return out


def test_same_seed_gives_the_same_stream_and_another_seed_another() -> None:
    first = generate(followers=400, accounts=ACCOUNTS, seed=3)
    assert generate(followers=400, accounts=ACCOUNTS, seed=3) == first
    assert to_ndjson(generate(followers=400, accounts=ACCOUNTS, seed=3)) == to_ndjson(first)
    other = generate(followers=400, accounts=ACCOUNTS, seed=4)
    assert {e.follower.id for e in other}.isdisjoint({e.follower.id for e in first})
    assert [e.occurred_at for e in other] != [e.occurred_at for e in first]


def test_generate_is_generate_with_personas_without_the_personas() -> None:
    events, personas = generate_with_personas(followers=200, seed=5)
    assert generate(followers=200, seed=5) == events
    assert set(personas) == {e.follower.id for e in events}


def test_events_are_sorted_with_unique_sequential_ids(single: Sample) -> None:
    events, _ = single
    times = [e.occurred_at for e in events]
    assert times == sorted(times)
    assert [e.event_id for e in events] == [f"sample-7-{n}" for n in range(len(events))]


def test_every_event_round_trips_through_json(single: Sample) -> None:
    events, _ = single
    for event in events:
        assert Event.model_validate_json(event.model_dump_json()) == event


def test_events_stay_in_the_window_on_platform_x(multi: Sample) -> None:
    events, _ = multi
    assert all(e.platform == "x" and e.account_id in ACCOUNTS for e in events)
    assert all(START <= e.occurred_at < START + timedelta(days=14) for e in events)
    assert len({e.account_id for e in events}) == len(ACCOUNTS)


def test_follower_ids_are_snowflakes_of_the_creation_time(single: Sample) -> None:
    events, _ = single
    for profile in {e.follower.id: e.follower for e in events}.values():
        assert profile.id.isdigit()
        assert 15 <= len(profile.id) <= 19
        assert profile.created_at is not None
        created_ms = (int(profile.id) >> 22) + TWEPOCH_MS
        assert abs(created_ms - profile.created_at.timestamp() * 1000) < 1000


def test_a_follower_has_one_profile_snapshot_taken_before_its_events(
    multi: Sample,
) -> None:
    events, _ = multi
    snapshots: dict[str, set[str]] = defaultdict(set)
    for event in events:
        snapshots[event.follower.id].add(event.follower.model_dump_json())
        profile = event.follower
        assert profile.created_at is not None
        assert profile.created_at < event.occurred_at
        if profile.last_status_at is not None:
            assert profile.created_at <= profile.last_status_at <= event.occurred_at
    assert all(len(s) == 1 for s in snapshots.values())


def test_persona_proportions_follow_the_documented_shares(single: Sample) -> None:
    events, personas = single
    assert len(personas) == 3000 == len({e.follower.id for e in events})
    counts = Counter(personas.values())
    assert sum(PERSONA_SHARES.values()) == pytest.approx(1.0)
    for persona, share in PERSONA_SHARES.items():
        assert counts[persona] / 3000 == pytest.approx(share, abs=0.01), persona


def test_every_relationship_starts_with_a_follow_and_alternates(
    multi: Sample,
) -> None:
    events, _ = multi
    for rel in by_relationship(events).values():
        moves = [e.type for e in rel if e.type is not EventType.INTERACTION]
        assert moves[0] is EventType.FOLLOW
        assert all(a is not b for a, b in pairwise(moves))


def test_churners_unfollow_hours_to_days_after_following(multi: Sample) -> None:
    events, personas = multi
    cycles: Counter[str] = Counter()
    for (_, follower), rel in by_relationship(events).items():
        if personas[follower] != "churner":
            continue
        assert rel[-1].type is EventType.UNFOLLOW
        for follow, unfollow in zip(rel[::2], rel[1::2], strict=True):
            assert (follow.type, unfollow.type) == (EventType.FOLLOW, EventType.UNFOLLOW)
            dwell = unfollow.occurred_at - follow.occurred_at
            assert timedelta(hours=1) < dwell < timedelta(days=7)
        cycles[follower] = max(cycles[follower], len(rel) // 2)  # per account
    churners = [f for f, p in personas.items() if p == "churner"]
    assert len(cycles) == len(churners)
    repeaters = sum(1 for n in cycles.values() if n >= 2)
    assert 0.2 < repeaters / len(churners) < 0.5


def test_only_churners_follow_several_accounts(multi: Sample) -> None:
    events, personas = multi
    accounts: dict[str, set[str]] = defaultdict(set)
    for event in events:
        accounts[event.follower.id].add(event.account_id)
    hoppers = [f for f, a in accounts.items() if len(a) > 1]
    assert all(personas[f] == "churner" for f in hoppers)
    churners = sum(1 for p in personas.values() if p == "churner")
    assert 0.1 < len(hoppers) / churners < 0.4


def test_one_account_means_no_cross_account_churn(single: Sample) -> None:
    events, _ = single
    assert {e.account_id for e in events} == {"brand"}


def test_interactions_come_only_from_engaged_followers_after_they_follow(
    single: Sample,
) -> None:
    events, personas = single
    per_follower: Counter[str] = Counter()
    for rel in by_relationship(events).values():
        follower = rel[0].follower.id
        for event in rel:
            if event.type is EventType.INTERACTION:
                assert personas[follower] == "engaged"
                assert event.interaction is not None
                assert event.occurred_at > rel[0].occurred_at
                if event.interaction.kind != "like":
                    assert "@brand" in event.interaction.text
                per_follower[follower] += 1
    engaged = [f for f, p in personas.items() if p == "engaged"]
    assert set(per_follower) == set(engaged)
    assert all(1 <= n <= 5 for n in per_follower.values())


def test_churn_rules_flag_churners_and_nobody_else(multi: Sample) -> None:
    events, personas = multi
    flagged: dict[str, bool] = defaultdict(bool)
    serial: set[str] = set()
    for (_, follower), rel in fold(events).items():
        patterns = rel[-1][1].patterns
        flagged[follower] |= bool(patterns)
        if "serial_churn" in patterns:
            serial.add(follower)
    rate = {
        persona: sum(flagged[f] for f, p in personas.items() if p == persona)
        / sum(1 for p in personas.values() if p == persona)
        for persona in PERSONA_SHARES
    }
    # Measured: every churner (300/300) and no one else (0 of every other persona).
    assert rate["churner"] >= 0.95
    for persona in PERSONA_SHARES.keys() - {"churner"}:
        assert rate[persona] <= 0.01, persona
    assert all(personas[f] == "churner" for f in serial)
    assert len(serial) >= 0.2 * sum(1 for p in personas.values() if p == "churner")


def test_scorer_classes_on_each_persona_final_follow(single: Sample) -> None:
    events, personas = single
    classes: dict[str, Counter[DecisionClass]] = defaultdict(Counter)
    for (_, follower), rel in fold(events).items():
        event, annotation = [(e, a) for e, a in rel if e.type is EventType.FOLLOW][-1]
        decision = score(AnnotatedEvent(event=event, relationship=annotation))
        classes[personas[follower]][decision.decision_class] += 1

    def share(persona: str, *wanted: DecisionClass) -> float:
        return sum(classes[persona][c] for c in wanted) / classes[persona].total()

    # Measured at seed 7: spam 537/600 (the 63 others are mostly the one-in-ten better-made fakes,
    # which score "ignore"); influencers 120/120 high value; inactive 240/240 ignore; ordinary
    # people never spam, about 94% worth following.
    assert share("spam", DecisionClass.SPAM) >= 0.85
    assert share("influencer", DecisionClass.HIGH_VALUE) >= 0.9
    assert share("inactive", DecisionClass.IGNORE) >= 0.9
    for persona in ("ordinary", "engaged", "influencer", "late_unfollower", "glitch"):
        assert classes[persona][DecisionClass.SPAM] == 0, persona
        assert classes[persona][DecisionClass.CHURNER] == 0, persona
    assert share("ordinary", DecisionClass.WORTH_FOLLOWING, DecisionClass.HIGH_VALUE) >= 0.85


def test_engaged_followers_become_high_value_once_they_interact(
    single: Sample,
) -> None:
    events, personas = single
    last: dict[str, DecisionClass] = {}
    for (_, follower), rel in fold(events).items():
        if personas[follower] == "engaged":
            event, annotation = rel[-1]
            assert event.type is EventType.INTERACTION
            decision = score(AnnotatedEvent(event=event, relationship=annotation))
            last[follower] = decision.decision_class
    # Measured at seed 7: 193 of 240 high value; the rest (mostly one interaction) worth following.
    high = sum(1 for c in last.values() if c is DecisionClass.HIGH_VALUE)
    assert high / len(last) >= 0.7
    assert set(last.values()) <= {DecisionClass.HIGH_VALUE, DecisionClass.WORTH_FOLLOWING}


def test_ndjson_helpers_write_one_event_per_line(tmp_path: Path) -> None:
    events = generate(followers=50, seed=1)
    text = to_ndjson(events)
    assert text.endswith("\n")
    assert text.count("\n") == len(events)
    path = tmp_path / "sample.ndjson"
    assert write_ndjson(events, path) == len(events)
    assert path.read_text(encoding="utf-8") == text
    assert [Event.model_validate_json(line) for line in text.splitlines()] == events


def test_small_and_degenerate_sizes() -> None:
    assert generate(followers=0) == []
    events, personas = generate_with_personas(followers=7, seed=2)
    assert len(personas) == 7
    assert len({e.follower.id for e in events}) == 7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"accounts": ()}, "account"), ({"days": 7}, "days")],
)
def test_rejects_arguments_it_cannot_honour(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(followers=10, **kwargs)


# -- the brand's acts (the demo's stream) ----------------------------------------------------------


@pytest.fixture(scope="module")
def acting() -> Sample:
    return generate_with_personas(followers=3000, accounts=ACCOUNTS, seed=11, brand_acts=True)


ENDS = (EventType.SUSPENDED, EventType.DEACTIVATED, EventType.UNFOLLOWED_BACK)


def _ends(events: list[Event]) -> set[str]:
    """The ids of the accounts' ends on X: suspensions, deactivations, the brand's unfollows, and the
    follower's unfollows at or after the brand's (a block of the brand, an unfollow in return)."""
    out: set[str] = set()
    for rel in by_relationship(events).values():
        unfollowed = [e.occurred_at for e in rel if e.type is EventType.UNFOLLOWED_BACK]
        for event in rel:
            if event.type in ENDS or (
                event.type is EventType.UNFOLLOW and unfollowed and event.occurred_at >= unfollowed[0]
            ):
                out.add(event.event_id)
    return out


def _own(events: list[Event]) -> list[tuple[object, ...]]:
    """The followers' own events, without the ids (numbered across the whole stream) and the ends."""
    own, ends = (EventType.FOLLOW, EventType.UNFOLLOW, EventType.INTERACTION), _ends(events)
    return [
        (e.type, e.account_id, e.follower, e.interaction, e.occurred_at)
        for e in events
        if e.type in own and e.event_id not in ends
    ]


def test_the_brands_acts_leave_the_followers_own_events_as_they_were(multi: Sample, acting: Sample) -> None:
    events, personas = acting
    assert _own(events) == _own(multi[0])
    assert personas == multi[1]
    assert [e.occurred_at for e in events] == sorted(e.occurred_at for e in events)
    assert len({e.event_id for e in events}) == len(events)
    again = generate(followers=400, seed=3, brand_acts=True)
    assert generate(followers=400, seed=3, brand_acts=True) == again


def test_the_brand_blocks_spam_follows_influencers_back_and_engaged_followers_delete_posts(
    acting: Sample,
) -> None:
    events, personas = acting
    by_id = {e.event_id: e for e in events}
    rels = by_relationship(events)
    acts: Counter[tuple[EventType, str]] = Counter()
    for event in events:
        if event.type not in (EventType.BLOCKED, EventType.FOLLOWED_BACK, EventType.DELETED):
            continue
        acts[(event.type, personas[event.follower.id])] += 1
        follow = rels[(event.account_id, event.follower.id)][0]
        assert follow.type is EventType.FOLLOW
        assert follow.occurred_at < event.occurred_at
        if event.type is EventType.DELETED:
            assert event.deletes is not None
            post = by_id[event.deletes]
            assert post.interaction is not None
            assert post.interaction.kind.value in ("mention", "reply", "quote")
            assert (post.account_id, post.follower.id) == (event.account_id, event.follower.id)
            assert post.occurred_at < event.occurred_at
    spam = sum(1 for p in personas.values() if p == "spam")
    influencers = sum(1 for p in personas.values() if p == "influencer")
    assert set(acts) == {
        (EventType.BLOCKED, "spam"),
        (EventType.FOLLOWED_BACK, "influencer"),
        (EventType.DELETED, "engaged"),
    }
    assert 0.08 * spam < acts[(EventType.BLOCKED, "spam")] < 0.22 * spam
    assert 0.15 * influencers < acts[(EventType.FOLLOWED_BACK, "influencer")] < 0.45 * influencers
    assert acts[(EventType.DELETED, "engaged")] > 0


def _read(events: list[Event]) -> list[tuple[object, ...]]:
    """Each event as it reads without the ids (numbered across the stream): a deletion names its post
    by the post's time."""
    at = {e.event_id: e.occurred_at for e in events}
    return [
        (e.type, e.account_id, e.follower, e.interaction, e.occurred_at, e.deletes and at[e.deletes])
        for e in events
    ]


def test_the_accounts_ends_leave_the_brands_earlier_acts_as_they_were(
    acting: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sample, "_ends_on_x", lambda *args: None)
    without, _ = generate_with_personas(followers=3000, accounts=ACCOUNTS, seed=11, brand_acts=True)
    events, _ = acting
    ends = _ends(events)
    assert ends
    assert _read([e for e in events if e.event_id not in ends]) == _read(without)


def test_accounts_end_on_x_a_few_percent_and_as_x_and_the_brand_would(acting: Sample) -> None:
    events, personas = acting
    seen: Counter[tuple[str, str]] = Counter()
    for (_, follower), rel in by_relationship(events).items():
        persona, follow, kinds = personas[follower], rel[0], [e.type for e in rel]
        for event in rel:
            after = event.occurred_at - follow.occurred_at
            if event.type is EventType.SUSPENDED:  # a fake the brand did not block, days after its follow
                assert (persona, kinds) == ("spam", [EventType.FOLLOW, EventType.SUSPENDED])
                assert timedelta(days=2) <= after < timedelta(days=6)
                seen[("suspended", persona)] += 1
            elif event.type is EventType.DEACTIVATED:
                assert (persona, kinds) == ("ordinary", [EventType.FOLLOW, EventType.DEACTIVATED])
                assert timedelta(days=1) <= after <= timedelta(days=10)
                seen[("deactivated", persona)] += 1
            elif event.type is EventType.UNFOLLOWED_BACK and persona == "ordinary":
                # their block of the brand: the brand's unfollow and theirs at one instant (in the
                # detector's order), past a week
                assert kinds == [EventType.FOLLOW, EventType.UNFOLLOWED_BACK, EventType.UNFOLLOW]
                assert rel[2].occurred_at == event.occurred_at
                assert after > timedelta(days=7)
                seen[("blocked the brand", persona)] += 1
            else:
                assert event.type not in ENDS  # (no clean-up of the brand's follow-backs: module doc)
    counts = Counter(personas.values())
    # Measured at seed 11 (3,000 followers): about 90 of 600 fakes suspended, about 10 of 1,350
    # ordinary followers deactivated and about 15 blocked the brand.
    assert 0.05 * counts["spam"] < seen[("suspended", "spam")] < 0.25 * counts["spam"]
    assert 0 < seen[("deactivated", "ordinary")] < 0.02 * counts["ordinary"]
    assert 0 < seen[("blocked the brand", "ordinary")] < 0.03 * counts["ordinary"]
    assert sum(seen.values()) < 0.06 * len(personas)


def test_the_ends_make_no_churner_and_hold_the_follower_back(acting: Sample) -> None:
    events, personas = acting
    ends = _ends(events)
    decided: Counter[tuple[EventType, DecisionClass]] = Counter()
    for (_, follower), rel in fold(events).items():
        if personas[follower] == "churner" or not any(e.event_id in ends for e, _ in rel):
            continue
        assert rel[-1][1].patterns == (), follower  # (an unfollow in return, a block past a week)
        for event, annotation in rel:
            if event.type is EventType.UNFOLLOWED_BACK:  # ends the brand's follow, not theirs
                assert (annotation.following, annotation.followed_back_at) == (True, None)
        # The brand's follow-backs and unfollows decide nothing: the follower's last event does.
        event, annotation = [
            (e, a) for e, a in rel if e.type not in (EventType.FOLLOWED_BACK, EventType.UNFOLLOWED_BACK)
        ][-1]
        decided[(event.type, score(AnnotatedEvent(event=event, relationship=annotation)).decision_class)] += 1
    assert set(decided) <= {
        (EventType.SUSPENDED, DecisionClass.IGNORE),  # held back: "not available on X"
        (EventType.DEACTIVATED, DecisionClass.WITHDRAWN),
        (EventType.UNFOLLOW, DecisionClass.WITHDRAWN),  # their block of the brand, or in return
    }
    assert {kind for kind, _ in decided} == {EventType.SUSPENDED, EventType.DEACTIVATED, EventType.UNFOLLOW}
