"""Replay folds in the detector's order, and decides each event under the configuration it was
recorded with."""

from __future__ import annotations

from datetime import datetime, timedelta

from followback.eventlog import Record, Window
from followback.replay import (
    Configs,
    Difference,
    Made,
    Recorded,
    Scored,
    _signals,
    arrived_out_of_order,
    caveats,
    compare,
    looked_up_ids,
    recompute,
)
from services.churn.patterns import ChurnRules
from services.scorer.scoring import SCORER_VERSION, ScoringRules, rules_label, split_label
from shared.accounts import AccountConfig, VersionedConfig
from shared.decisions import Decision, DecisionClass
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
        RECORDS, Window(), ScoringRules(), {"brand": V2}, ChurnRules(), under={"e1": made(V1), "e3": made(V2)}
    )
    assert [decided[e].config_version.rsplit("/", 1)[1] for e in ("e1", "e2", "e3")] == [
        "brand@v1",
        "brand@v1",
        "brand@v2",
    ]
    assert decided["e2"].decision_class is DecisionClass.WORTH_FOLLOWING
    assert decided["e3"].decision_class is DecisionClass.HIGH_VALUE
    # Before its first recorded decision, a relationship is decided under the fallback (the newest).
    _, _, later = recompute(
        RECORDS, Window(), ScoringRules(), {"brand": V2}, ChurnRules(), under={"e3": made(V1)}
    )
    assert later["e1"].config_version.endswith("/brand@v2")
    assert later["e3"].config_version.endswith("/brand@v1")


def made(config: VersionedConfig | None, account: str = "brand", follower: str = "f1") -> Made:
    return Made(account, follower, config)


def test_an_event_id_another_relationship_recorded_tells_nothing_of_this_ones_configuration() -> None:
    _, _, decided = recompute(
        RECORDS, Window(), ScoringRules(), {"brand": V2}, ChurnRules(),
        under={"e1": made(V1, follower="someone else"), "e2": made(V1, account="brand_eu")},
    )  # fmt: skip
    assert {d.config_version.rsplit("/", 1)[1] for d in decided.values()} == {"brand@v2"}


def test_a_recorded_config_version_names_the_brands_configuration_or_none() -> None:
    eu = VersionedConfig(account_id="brand/eu", version=2, config=AccountConfig())
    configs = Configs({"brand": V2}, {"brand": {1: V1, 2: V2}, "brand/eu": {2: eu}}, "recorded")
    under = configs.under(
        {
            "a": Scored("brand", "f1", "1+ab12cd34/brand@v1"),
            "b": Scored("brand", "f1", "7/brand@v2"),  # a label from before the fingerprint
            "c": Scored("brand", "f1", "1+ab12cd34/default"),
            "d": Scored("brand/eu", "f2", "1+ab12cd34/brand/eu@v2"),  # a slash in the account
        }
    )
    assert under == {
        "a": Made("brand", "f1", V1),
        "b": Made("brand", "f1", V2),
        "c": Made("brand", "f1", None),
        "d": Made("brand/eu", "f2", eu),
    }
    assert Configs({"brand": V2}).under({"a": Scored("brand", "f1", "1/brand@v1")}) is None  # latest


def test_a_recorded_label_splits_into_the_global_rules_and_the_brands_version() -> None:
    assert split_label("1+ab12cd34/brand@v3", "brand") == ("1+ab12cd34", 3)
    assert split_label("1+ab12cd34/default", "brand") == ("1+ab12cd34", None)
    assert split_label("v/2/brand/eu@v12", "brand/eu") == ("v/2", 12)  # slashes in either part
    assert split_label("1/other@v3", "brand") == ("1/other@v3", None)  # not this account's


def test_a_replay_warns_of_a_log_without_history_and_of_decisions_made_under_other_rules() -> None:
    rules, churn = ScoringRules(), ChurnRules().fingerprint
    now = (SCORER_VERSION, rules_label(rules, churn))
    since = START + timedelta(days=3)
    assert caveats(Window(since=since), rules, START, {now: 40}, churn_rules=churn) == []
    assert caveats(Window(), rules, None, {}, churn_rules=churn) == []
    [empty] = caveats(Window(since=since), rules, since, {now: 40}, churn_rules=churn)
    assert "no event before --since" in empty
    [other] = caveats(Window(), rules, START, {now: 40, ("0.2.0", "1+00000000"): 3}, churn_rules=churn)
    assert other.startswith("3 recorded decision(s) were made by scorer 0.2.0 under rules 1+00000000")
    # Labels from before the fingerprint compare by name only.
    assert (
        caveats(Window(), rules, START, {(SCORER_VERSION, rules.config_version): 5}, churn_rules=churn) == []
    )
    [renamed] = caveats(Window(), rules, START, {(SCORER_VERSION, "0"): 5}, churn_rules=churn)
    assert "under rules 0;" in renamed
    [skipped] = caveats(Window(), rules, START, {now: 40}, not_events=3, churn_rules=churn)
    assert skipped.startswith("3 record(s) of the log read are not events and were skipped")
    [guessed] = caveats(Window(), rules, START, {now: 40}, guessed=2, churn_rules=churn)
    assert guessed.startswith("2 event id(s) are each under more than one follower")
    # A name that merely ends like a fingerprint ("rel+20250101"), recorded before fingerprints.
    dated = ScoringRules(config_version="rel+20250101")
    assert caveats(Window(), dated, START, {(SCORER_VERSION, "rel+20250101"): 5}, churn_rules=churn) == []


def test_a_replay_warns_of_decisions_made_under_other_churn_rules_and_says_which_rules_differ() -> None:
    rules, churn = ScoringRules(), ChurnRules().fingerprint
    other = ChurnRules(serial_cycles=3).fingerprint
    now, then = rules_label(rules, churn), rules_label(rules, other)
    assert caveats(Window(), rules, START, {(SCORER_VERSION, now): 40}, churn_rules=churn) == []
    [moved] = caveats(Window(), rules, START, {(SCORER_VERSION, then): 2}, churn_rules=churn)
    assert moved == (
        f"2 recorded decision(s) were made by scorer {SCORER_VERSION} under rules {then}; this replay "
        f"runs scorer {SCORER_VERSION} under rules {now} (other churn rules: FOLLOWBACK_CHURN__*)"
    )
    # A label from before churn rules were recorded says nothing of them; its scoring part still counts.
    assert caveats(Window(), rules, START, {(SCORER_VERSION, rules_label(rules)): 5}, churn_rules=churn) == []
    stricter = rules_label(ScoringRules(high_value_threshold=80), other)
    [every] = caveats(Window(), rules, START, {("0.1.0", stricter): 1}, churn_rules=churn)
    assert every.endswith(
        "(another scorer version, other scoring rules: FOLLOWBACK_SCORING__*, "
        "other churn rules: FOLLOWBACK_CHURN__*)"
    )


def test_a_replay_after_an_upgrade_names_the_earlier_release_s_detector_not_other_settings() -> None:
    """The release before the glitch rule's change (5968516) stamped churn:dc2a9d8e on decisions
    under the default FOLLOWBACK_CHURN__* values: an upgraded replay used to call that 'other churn
    rules: FOLLOWBACK_CHURN__*', sending the reader to look for a setting nobody had changed."""
    rules, churn = ScoringRules(), ChurnRules()
    assert {"dc2a9d8e", "2679d5ca"} <= churn.earlier_fingerprints  # as recorded by the releases before
    assert churn.fingerprint not in churn.earlier_fingerprints
    then = rules_label(rules, "dc2a9d8e")
    [upgraded] = caveats(
        Window(), rules, START, {(SCORER_VERSION, then): 119},
        churn_rules=churn.fingerprint, earlier_churn_rules=churn.earlier_fingerprints,
    )  # fmt: skip
    assert upgraded.endswith(
        "(the churn detector of an earlier release: the same FOLLOWBACK_CHURN__* values, "
        "annotated under its rules (see Upgrading in the README))"
    )
    # Other values under the earlier meaning are still other settings.
    longer = ChurnRules(quick_unfollow_window=timedelta(days=8)).earlier_fingerprints
    [moved] = caveats(
        Window(), rules, START, {(SCORER_VERSION, rules_label(rules, next(iter(longer)))): 2},
        churn_rules=churn.fingerprint, earlier_churn_rules=churn.earlier_fingerprints,
    )  # fmt: skip
    assert moved.endswith("(other churn rules: FOLLOWBACK_CHURN__*)")


def test_a_difference_says_whether_its_followers_events_reached_the_log_out_of_event_time_order() -> None:
    follow = Record(event("z-follow", EventType.FOLLOW, "brand", START), b"")
    like = Record(
        event("a-like", EventType.INTERACTION, "brand", START), b""
    )  # same second: after the follow
    later = Record(event("b-like", EventType.INTERACTION, "brand", START + timedelta(minutes=5)), b"")
    other = PROFILE.model_copy(update={"id": "f2"})
    theirs = [Record(e.event.model_copy(update={"follower": other, "event_id": e.event.event_id + "-2"}), b"")
              for e in (follow, like, later)]  # fmt: skip
    records = [follow, later, like, *theirs]  # f1's like of the first second came after the later one
    found = arrived_out_of_order([difference("f1"), difference("f2")], records, [0, 1, 2, 3, 4, 5], Window())
    assert [(d.follower_id, d.arrived_out_of_order) for d in found] == [("f1", True), ("f2", False)]
    # Within one second the detector's order counts: follow, then like.
    [in_order] = arrived_out_of_order([difference("f1")], [like, follow], [1, 0], Window())
    [like_first] = arrived_out_of_order([difference("f1")], [like, follow], [0, 1], Window())
    assert (in_order.arrived_out_of_order, like_first.arrived_out_of_order) == (False, True)
    # A batch that landed twice is not out of order: a repeated id counts where it came first.
    [again] = arrived_out_of_order([difference("f1")], [follow, like, follow, like], [0, 1, 2, 3], Window())
    assert not again.arrived_out_of_order
    # Events after the window's end out of order among themselves decide nothing in it: they do not count.
    latest = Record(event("c-like", EventType.INTERACTION, "brand", START + timedelta(minutes=9)), b"")
    cut = Window(until=START + timedelta(minutes=1))
    arrivals = [follow, like, latest, later]
    [after_the_end] = arrived_out_of_order([difference("f1")], arrivals, [0, 1, 2, 3], cut)
    assert not after_the_end.arrived_out_of_order
    # One after the window's end that arrived before an event in the window does: live, the event in
    # the window was decided after it (a range cut off before the later event still says so).
    assert arrived_out_of_order([difference("f1")], records, [0, 1, 2, 3, 4, 5], cut)[0].arrived_out_of_order


def difference(follower: str) -> Difference:
    return Difference("e", "brand", follower, None, ("ignore", 1.0), ())


def test_a_replay_reads_the_configurations_of_earlier_events_only_for_relationships_it_compares() -> None:
    other = PROFILE.model_copy(update={"id": "f2"})
    quiet = [Record(r.event.model_copy(update={"follower": other, "event_id": r.event.event_id + "-2"}), b"")
             for r in RECORDS[:2]]  # fmt: skip
    since = START + timedelta(days=2)  # e3 of f1 is in the window; f2 has nothing there
    assert looked_up_ids([*RECORDS, *quiet], Window(since=since)) == (["e3"], ["e1", "e2"])
    assert looked_up_ids([*RECORDS, *quiet], Window(since=since, account="brand_eu")) == ([], [])


def test_an_event_replay_records_no_version_on_is_compared_with_the_decision_standing_after_it() -> None:
    """Live, e1 was decided high_value under v1; the brand then raised its threshold (v2), and e2, a
    follow again that scores the same, recorded worth_following under v2. Replayed under v2
    throughout, e2 records nothing new because the follower already stands at worth_following with
    the same points: no difference (it used to be one, with nothing recomputed and every reason
    "changed"). Under v1 the follower still stands at high_value after e2: a difference, showing
    what stands."""
    records = [
        Record(event("e1", EventType.FOLLOW, "brand", START), b""),
        Record(event("e2", EventType.FOLLOW, "brand", START + timedelta(days=1)), b""),
    ]

    def at(version: int, high_value: float) -> VersionedConfig:
        config = AccountConfig(
            topics=["coffee"], high_value_threshold=high_value, worth_following_threshold=0
        )
        return VersionedConfig(account_id="brand", version=version, config=config)

    points = recompute(records, Window(), ScoringRules(), {"brand": at(1, 100)}, ChurnRules())[2]["e1"].score
    v1, v2 = at(1, points - 1), at(2, points + 1)
    _, _, live = recompute(
        records, Window(), ScoringRules(), {"brand": v2}, ChurnRules(), under={"e1": made(v1), "e2": made(v2)}
    )
    assert [live[e].decision_class for e in ("e1", "e2")] == [
        DecisionClass.HIGH_VALUE,
        DecisionClass.WORTH_FOLLOWING,
    ]
    recorded = {
        e: Recorded("brand", "f1", d.decision_class.value, d.score, _signals(d.reasons), d.config_version, "")
        for e, d in live.items()
    }
    found = {}
    for name, config in (("v1", v1), ("v2", v2)):
        stood: dict[str, Decision] = {}
        _, in_window, decided = recompute(
            records, Window(), ScoringRules(), {"brand": config}, ChurnRules(), stood=stood
        )
        assert "e2" not in decided  # the follow again scores the same: no new version
        found[name] = [(d.event_id, d.recorded, d.recomputed, d.reasons_changed, d.stands)
                       for d in compare(in_window, decided, recorded, stood)]  # fmt: skip
    score = round(points, 2)
    assert found["v2"] == [("e1", ("high_value", score), ("worth_following", score), (), False)]
    assert found["v1"] == [("e2", ("worth_following", score), ("high_value", score), (), True)]


def test_an_event_that_scores_the_same_as_the_standing_version_is_compared_by_its_own_reasons() -> None:
    """Live, e1 was decided under v1 (topics alone); then the brand made the follower a VIP and a
    customer (v2), and e2, a like, recorded high_value at 100 under v2. Replayed under v2, e1 is
    high_value at 100 already, so e2 records nothing new; its own scoring, engagement among its
    reasons, is what live recorded: no difference (compared with e1's reasons, it was one)."""
    records = [
        Record(event("e1", EventType.FOLLOW, "brand", START), b""),
        Record(event("e2", EventType.INTERACTION, "brand", START + timedelta(days=1)), b""),
    ]
    v1 = VersionedConfig(account_id="brand", version=1, config=AccountConfig(topics=["coffee"]))
    listed = AccountConfig(topics=["coffee"], vips=["f1"], customers=["f1"])
    v2 = VersionedConfig(account_id="brand", version=2, config=listed)
    _, _, live = recompute(
        records, Window(), ScoringRules(), {"brand": v2}, ChurnRules(), under={"e1": made(v1), "e2": made(v2)}
    )
    assert (live["e1"].score < 100, live["e2"].score) == (True, 100)
    assert "engagement" in {r.signal for r in live["e2"].reasons}
    recorded = {
        e: Recorded("brand", "f1", d.decision_class.value, d.score, _signals(d.reasons), d.config_version, "")
        for e, d in live.items()
    }
    stood: dict[str, Decision] = {}
    _, in_window, decided = recompute(
        records, Window(), ScoringRules(), {"brand": v2}, ChurnRules(), stood=stood
    )
    assert (decided["e1"].score, "e2" in decided) == (100, False)  # e2 scores the same: no new version
    assert [d.event_id for d in compare(in_window, decided, recorded, stood)] == ["e1"]


def test_a_recorded_and_a_recomputed_decision_of_one_id_under_two_followers_are_two_differences() -> None:
    """An id reused by another follower, whose copy the detector kept the record does not say:
    live decided follower f2's, replay f1's. Each relationship's difference is reported under its
    own follower, instead of one pairing f2's recorded decision with f1's recomputed one."""
    records = [Record(event("e1", EventType.FOLLOW, "brand", START), b"")]
    _, in_window, decided = recompute(records, Window(), ScoringRules(), {}, ChurnRules())
    mine = decided["e1"]
    theirs = Recorded("brand", "f2", "churner", 0.0, {"churn": -50.0}, "1", "")
    found = [(d.follower_id, d.recorded, d.recomputed) for d in compare(in_window, decided, {"e1": theirs})]
    assert found == [
        ("f2", ("churner", 0.0), None),
        ("f1", None, (mine.decision_class.value, round(mine.score, 2))),
    ]
    # The same relationship is compared as one, as ever.
    same = Recorded("brand", "f1", mine.decision_class.value, mine.score, _signals(mine.reasons), "1", "")
    assert compare(in_window, decided, {"e1": same}) == []


def test_a_block_of_the_brand_posted_unfollow_first_is_not_out_of_order_when_folded_in_time() -> None:
    """Ingest posts a follower's block of the brand as their unfollow, then the brand's unfollowed_back,
    at one instant; the detector ranks unfollowed_back first. It decides nothing, and folded in time
    (pending, sorted in) it ends as in either order: the unfollow is revised and decided again."""
    follow = Record(event("f", EventType.FOLLOW, "brand", START), b"")
    back = Record(event("b", EventType.FOLLOWED_BACK, "brand", START + timedelta(minutes=1)), b"")
    blocked_at = START + timedelta(days=1)
    unfollow = Record(event("u", EventType.UNFOLLOW, "brand", blocked_at), b"")
    brand_unfollow = Record(event("ub", EventType.UNFOLLOWED_BACK, "brand", blocked_at), b"")
    log = [follow, back, unfollow, brand_unfollow]  # ingest's order
    [found] = arrived_out_of_order([difference("f1")], log, [0, 1, 2, 3], Window(), folded_in_time={"ub"})
    assert not found.arrived_out_of_order
    assert caveats(Window(), ScoringRules(), START, {}, 0, churn_rules="c") == []


def test_an_event_that_arrived_late_or_that_decides_is_still_out_of_order() -> None:
    follow = Record(event("f", EventType.FOLLOW, "brand", START), b"")
    blocked_at = START + timedelta(days=1)
    unfollow = Record(event("u", EventType.UNFOLLOW, "brand", blocked_at), b"")
    brand_unfollow = Record(event("ub", EventType.UNFOLLOWED_BACK, "brand", blocked_at), b"")
    log = [follow, unfollow, brand_unfollow]
    # Folded late (after everything settled): the unfollow's settled annotation is not revised.
    [late] = arrived_out_of_order([difference("f1")], log, [0, 1, 2], Window(), folded_in_time=())
    assert late.arrived_out_of_order
    # An hour late: it arrived after an event of a later instant.
    later = Record(event("l", EventType.INTERACTION, "brand", blocked_at + timedelta(hours=1)), b"")
    [hour] = arrived_out_of_order(
        [difference("f1")],
        [follow, unfollow, later, brand_unfollow],
        [0, 1, 2, 3],
        Window(),
        folded_in_time={"ub"},
    )
    assert hour.arrived_out_of_order
    # A like of the instant that arrived after the unfollow decides: live the unfollow's version
    # stood for a newer event and the like decided nothing; replay decides it.
    like = Record(event("a-like", EventType.INTERACTION, "brand", blocked_at), b"")
    [decides] = arrived_out_of_order(
        [difference("f1")], [follow, unfollow, like], [0, 1, 2], Window(), folded_in_time={"a-like"}
    )
    assert decides.arrived_out_of_order
    # Two events of the relationship at that instant arrived before it: the revised older one may
    # decide nothing live (its relationship's version stands for the newer one).
    block = Record(event("x", EventType.BLOCKED, "brand", blocked_at), b"")
    [two] = arrived_out_of_order(
        [difference("f1")],
        [follow, unfollow, block, brand_unfollow],
        [0, 1, 2, 3],
        Window(),
        folded_in_time={"ub"},
    )
    assert two.arrived_out_of_order
