"""Replay folds in the detector's order, and decides each event under the configuration it was
recorded with."""

from __future__ import annotations

from datetime import datetime, timedelta

from followback.eventlog import Record, Window
from followback.replay import Configs, Recorded, caveats, recompute, split_label
from services.churn.patterns import ChurnRules
from services.scorer.scoring import SCORER_VERSION, ScoringRules, rules_label
from shared.accounts import AccountConfig, VersionedConfig
from shared.decisions import DecisionClass
from shared.events import Event, EventType, Interaction, InteractionKind
from tests.unit.test_replay_account import PROFILE, START


def event(event_id: str, kind: EventType, account: str, at: datetime) -> Event:
    like = (
        Interaction(kind=InteractionKind.LIKE, text="love the new roast")
        if kind is EventType.INTERACTION
        else None
    )
    return Event(
        event_id=event_id, type=kind, platform="x", account_id=account, follower=PROFILE, occurred_at=at,
        interaction=like,
    )  # fmt: skip


def test_a_like_logged_before_its_follow_in_the_same_second_is_decided_after_the_follow() -> None:
    """The detector orders a follower's events by (time, follow before interaction, id): the like
    is a follower's like, whichever of the two the log holds first."""
    follow = Record(event("z-follow", EventType.FOLLOW, "brand", START), b"")
    like = Record(event("a-like", EventType.INTERACTION, "brand", START), b"")
    _, in_window, like_first = recompute([like, follow], Window(), ScoringRules(), {}, ChurnRules())
    _, _, follow_first = recompute([follow, like], Window(), ScoringRules(), {}, ChurnRules())
    assert in_window == ["z-follow", "a-like"]
    assert like_first == follow_first
    assert set(like_first) == {"z-follow", "a-like"}  # the like moved the follower's score


def brand(version: int, high_value: float) -> VersionedConfig:
    config = AccountConfig(topics=["coffee"], high_value_threshold=high_value)
    return VersionedConfig(account_id="brand", version=version, config=config)


V1, V2 = brand(1, 99), brand(2, 1)  # nobody is high value under v1, everybody who is worth it under v2
STEPS = [(EventType.FOLLOW, 0), (EventType.INTERACTION, 1), (EventType.INTERACTION, 2)]
RECORDS = [Record(event(f"e{n}", kind, "brand", START + timedelta(days=day)), b"") for n, (kind, day) in
           enumerate(STEPS, 1)]  # fmt: skip


def test_each_event_is_decided_under_the_configuration_of_its_relationships_latest_recorded_decision() -> (
    None
):
    # e1 was recorded under v1, e2 recorded nothing (v1 still stood), e3 was recorded under v2.
    _, _, decided = recompute(
        RECORDS, Window(), ScoringRules(), {"brand": V2}, ChurnRules(), under={"e1": V1, "e3": V2}
    )
    assert [decided[e].config_version.rsplit("/", 1)[1] for e in ("e1", "e2", "e3")] == [
        "brand@v1",
        "brand@v1",
        "brand@v2",
    ]
    assert decided["e2"].decision_class is DecisionClass.WORTH_FOLLOWING
    assert decided["e3"].decision_class is DecisionClass.HIGH_VALUE
    # Before its first recorded decision, a relationship is decided under the fallback (the newest).
    _, _, later = recompute(RECORDS, Window(), ScoringRules(), {"brand": V2}, ChurnRules(), under={"e3": V1})
    assert later["e1"].config_version.endswith("/brand@v2")
    assert later["e3"].config_version.endswith("/brand@v1")


def recorded(config_version: str) -> Recorded:
    return Recorded("brand", "f1", "ignore", 10.0, {}, config_version, SCORER_VERSION)


def test_a_recorded_config_version_names_the_brands_configuration_or_none() -> None:
    configs = Configs({"brand": V2}, {"brand": {1: V1, 2: V2}}, "recorded")
    under = configs.under(
        {"a": recorded("1/brand@v1"), "b": recorded("7/brand@v2"), "c": recorded("1/default")}
    )
    assert under == {"a": V1, "b": V2, "c": None}
    assert Configs({"brand": V2}).under({"a": recorded("1/brand@v1")}) is None  # latest: nothing to follow


def test_a_recorded_label_splits_into_the_global_rules_and_the_brands_version() -> None:
    assert split_label("1+ab12cd34/brand@v3", "brand") == ("1+ab12cd34", 3)
    assert split_label("1+ab12cd34/default", "brand") == ("1+ab12cd34", None)
    assert split_label("v/2/brand/eu@v12", "brand/eu") == ("v/2", 12)  # slashes in either part
    assert split_label("1/other@v3", "brand") == ("1/other@v3", None)  # not this account's


def test_a_replay_warns_of_a_log_without_history_and_of_decisions_made_under_other_rules() -> None:
    rules = ScoringRules()
    now = (SCORER_VERSION, rules_label(rules))
    since = START + timedelta(days=3)
    assert caveats(Window(since=since), rules, START, {now: 40}) == []
    assert caveats(Window(), rules, None, {}) == []
    [empty] = caveats(Window(since=since), rules, since, {now: 40})
    assert "no event before --since" in empty
    [other] = caveats(Window(), rules, START, {now: 40, ("0.2.0", "1+00000000"): 3})
    assert other.startswith("3 recorded decision(s) were made by scorer 0.2.0 under rules 1+00000000")
