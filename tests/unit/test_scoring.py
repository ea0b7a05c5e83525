"""Scoring: the class and the reasons for followers a brand would recognise."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.churn.rules import ChurnRules, apply
from services.scorer.scoring import (
    Current,
    RulesLabel,
    ScoringRules,
    next_decision,
    score,
    split_label,
)
from shared.decisions import Decision, DecisionClass, decision_id_for
from shared.events import Event, EventType
from shared.relationships import AnnotatedEvent, RelationshipState
from shared.settings import ChurnSettings
from tests.support import REAL_PERSON, SPAM_ACCOUNT, T0, event


def annotated(steps: list[tuple[str, timedelta]], profile: dict[str, Any]) -> AnnotatedEvent:
    """The last event of a history, annotated by the churn rules."""
    state = RelationshipState()
    last = None
    for n, (kind, at) in enumerate(steps):
        interaction = "reply" if kind == "interaction" else None
        ev = Event.model_validate(event(f"e{n}", kind, "9", at, profile, interaction=interaction))
        state, note = apply(state, ev)
        last = AnnotatedEvent(event=ev, relationship=note)
    assert last is not None
    return last


FOLLOW = [("follow", timedelta(0))]


def test_a_follow_back_begging_fake_account_is_spam_with_its_reasons() -> None:
    decision = score(annotated(FOLLOW, SPAM_ACCOUNT))
    assert decision.decision_class is DecisionClass.SPAM
    points = {r.signal: r.contribution for r in decision.reasons}
    # The model's features: "few followers, follows far more" is one feature, friends per follower.
    for signal in ("follow_back_begging", "friends_per_follower", "posts", "default_image"):
        assert points[signal] < 0, signal


def test_a_follow_for_follow_account_with_a_real_audience_is_spam_by_rule() -> None:
    """helper-46: 50,000 followers, following as many, listed, a bio begging for follow-backs: the
    model's bot probability is about 0.005, and the follower was pushed as high value, though the
    spec says never to follow back follow-back begging."""
    hustler = {
        **REAL_PERSON,
        "description": "F4F | #TeamFollowBack | I follow back everyone",
        "followers_count": 50_000,
        "friends_count": 48_000,
        "listed_count": 40,
    }
    steps = [*FOLLOW, ("interaction", timedelta(hours=2))]
    decision = score(annotated(steps, hustler))
    assert decision.decision_class is DecisionClass.SPAM
    rule = {r.signal: r for r in decision.reasons}["begs_for_follow_back"]
    assert (rule.value, rule.contribution) == ("F4F", 0)
    assert decision.score >= 70  # (by points it would have been high value)
    # the same profile without the begging is what its points say
    assert (
        score(annotated(steps, {**hustler, "description": "Coffee"})).decision_class
        is DecisionClass.HIGH_VALUE
    )


def test_a_bio_that_refuses_follow_backs_is_not_begging() -> None:
    """helper-47: "I don't follow back" matched the begging pattern, and an engaged customer with
    it in their bio was spam by rule (pushes retracted, Follow back refused)."""
    steps = [*FOLLOW, ("interaction", timedelta(hours=2)), ("interaction", timedelta(days=1))]
    for bio in (
        "Coffee roaster in Porto. I don't follow back, sorry",
        "Please don\u2019t ask me to follow back",
        "Never ask me to follow back",
        "No F4F here",
    ):
        decision = score(annotated(steps, {**REAL_PERSON, "description": bio}))
        assert decision.decision_class is DecisionClass.HIGH_VALUE, bio
        assert "begs_for_follow_back" not in {r.signal for r in decision.reasons}, bio
    # a refusal elsewhere in the bio does not excuse begging
    for bio in ("No DMs. Follow back guaranteed", "Not a bot! F4F", "If you follow me, I follow back"):
        decision = score(annotated(steps, {**REAL_PERSON, "description": bio}))
        assert decision.decision_class is DecisionClass.SPAM, bio


def test_a_real_person_who_engages_is_high_value() -> None:
    steps = [*FOLLOW, ("interaction", timedelta(hours=2)), ("interaction", timedelta(days=1))]
    decision = score(annotated(steps, REAL_PERSON))
    assert decision.decision_class is DecisionClass.HIGH_VALUE
    assert decision.reasons[0].signal == "engagement"  # the strongest signal comes first


def test_a_real_person_who_only_follows_is_worth_following_not_pushed() -> None:
    decision = score(annotated(FOLLOW, REAL_PERSON))
    assert decision.decision_class is DecisionClass.WORTH_FOLLOWING


def test_a_quick_unfollower_is_a_churner() -> None:
    steps = [*FOLLOW, ("unfollow", timedelta(days=1))]
    decision = score(annotated(steps, REAL_PERSON))
    assert decision.decision_class is DecisionClass.CHURNER
    assert any(r.signal == "churn" and "quick_unfollow" in str(r.value) for r in decision.reasons)


def test_an_inactive_account_loses_points() -> None:
    idle = {**REAL_PERSON, "last_status_at": "2025-06-01T00:00:00Z"}
    active, inactive = score(annotated(FOLLOW, REAL_PERSON)), score(annotated(FOLLOW, idle))
    assert inactive.score < active.score
    assert any(r.signal == "inactive" for r in inactive.reasons)


def test_reasons_add_up_to_the_score_and_are_sorted_by_weight() -> None:
    decision = score(annotated([*FOLLOW, ("interaction", timedelta(hours=1))], REAL_PERSON))
    total = 50 + sum(r.contribution for r in decision.reasons)
    assert decision.score == max(0, min(100, round(total, 2)))
    weights = [abs(r.contribution) for r in decision.reasons]
    assert weights == sorted(weights, reverse=True)


def test_a_decision_records_its_provenance() -> None:
    item = annotated(FOLLOW, REAL_PERSON)
    rules = ScoringRules(config_version="7")
    decision = score(item, rules)
    assert decision.event_ids == (item.event.event_id,)
    assert decision.decision_id == decision_id_for(item.event.event_id)
    # The global rules (their name and values, the churn rules of the annotation), no brand configuration.
    assert item.relationship.churn_rules == ChurnRules().fingerprint
    assert decision.config_version == f"7+{rules.fingerprint}+churn:{ChurnRules().fingerprint}/default"
    # A threshold changed under the same name: the label tells the two apart.
    stricter = score(item, ScoringRules(config_version="7", high_value_threshold=80))
    assert stricter.config_version != decision.config_version
    assert stricter.config_version.startswith("7+")
    assert score(item, ScoringRules(config_version="7")).config_version == decision.config_version
    assert decision.occurred_at == item.event.occurred_at


def test_a_decision_carries_the_time_of_the_follow_it_is_about() -> None:
    """The notifier tells a like of a follow the brand followed back on X (and later unfollowed)
    from a follow after that unfollow by it: a decision on the like is of the follow at T0, one on
    the follow again of the follow at 3 hours."""
    like = annotated([*FOLLOW, ("interaction", timedelta(hours=2))], REAL_PERSON)
    assert like.relationship.last_follow_at == T0
    assert score(like).followed_at == T0
    assert score(like).occurred_at == T0 + timedelta(hours=2)
    again = [*FOLLOW, ("unfollow", timedelta(hours=1)), ("follow", timedelta(hours=3)),
             ("interaction", timedelta(hours=4))]  # fmt: skip
    assert score(annotated(again, REAL_PERSON)).followed_at == T0 + timedelta(hours=3)
    # on the wire and read back
    decision = score(like)
    assert Decision.model_validate_json(decision.model_dump_json(by_alias=True)).followed_at == T0
    assert '"followed_at":"2026-03-01T09:00:00Z"' in decision.model_dump_json(by_alias=True)


def test_a_decision_without_a_follow_time_serializes_as_before() -> None:
    """A decision with no follow time (none known, or read back from before decisions kept it) is the
    same JSON as before the field was added."""
    decision = Decision.model_validate(
        {
            "decision_id": decision_id_for("e1"), "account_id": "brand", "follower_id": "9",
            "screen_name": "ana", "class": "high_value", "score": 80.5,
            "reasons": [{"signal": "engagement", "value": 3, "contribution": 30.5}],
            "scorer_version": "0.5.0", "config_version": "1", "event_ids": ["e1"],
            "occurred_at": "2026-03-01T09:00:00Z", "revision": 0, "event_type": "follow",
        }
    )  # fmt: skip
    assert decision.followed_at is None
    assert decision.model_dump_json(by_alias=True) == (
        '{"schema_version":1,"decision_id":"' + decision_id_for("e1") + '","account_id":"brand",'
        '"follower_id":"9","screen_name":"ana","class":"high_value","score":80.5,"reasons":[{"signal":'
        '"engagement","value":3,"contribution":30.5,"detail":""}],"scorer_version":"0.5.0",'
        '"config_version":"1","event_ids":["e1"],"occurred_at":"2026-03-01T09:00:00Z","revision":0,'
        '"event_type":"follow"}'
    )
    assert "followed_at" not in decision.model_dump(by_alias=True)


def test_the_churn_rules_fingerprint_is_the_settings_and_stays_the_same_across_releases() -> None:
    # Recorded labels are compared with a replay's: the digest of the default rules must not move
    # with field order, a Python version or how a duration was written (7 days, 604800.0 seconds);
    # only with the rules' meaning (patterns.MEANING; "dc2a9d8e" was the first meaning's, "2679d5ca"
    # the second's).
    assert ChurnRules().fingerprint == ChurnRules.from_settings(ChurnSettings()).fingerprint == "2f6886cf"
    assert ChurnRules(quick_unfollow_window=timedelta(seconds=604800.0)).fingerprint == "2f6886cf"


def test_a_decision_names_the_churn_rules_its_annotation_was_folded_under() -> None:
    shorter = ChurnRules(quick_unfollow_window=timedelta(days=1))
    assert shorter.fingerprint != ChurnRules().fingerprint
    assert ChurnRules(quick_unfollow_window=timedelta(days=1)).fingerprint == shorter.fingerprint
    ev = Event.model_validate(event("e0", "follow", "9", timedelta(0), REAL_PERSON))
    _, note = apply(RelationshipState(), ev, shorter)
    decision = score(AnnotatedEvent(event=ev, relationship=note), ScoringRules(config_version="7"))
    assert note.churn_rules == shorter.fingerprint
    assert RulesLabel.parse(split_label(decision.config_version, ev.account_id)[0]) == RulesLabel(
        "7", ScoringRules(config_version="7").fingerprint, shorter.fingerprint
    )
    # An annotation from a detector before churn rules were named: the label has no churn part.
    unnamed = AnnotatedEvent(event=ev, relationship=note.model_copy(update={"churn_rules": None}))
    assert score(unnamed, ScoringRules(config_version="7")).config_version == (
        f"7+{ScoringRules(config_version='7').fingerprint}/default"
    )
    assert RulesLabel.parse("7") == RulesLabel("7", None, None)


def test_thresholds_come_from_the_rules() -> None:
    item = annotated(FOLLOW, REAL_PERSON)
    assert score(item, ScoringRules(high_value_threshold=10)).decision_class is DecisionClass.HIGH_VALUE


def test_next_decision_records_only_changes() -> None:
    first = annotated(FOLLOW, REAL_PERSON)
    decided = next_decision(None, first)
    assert decided is not None
    same = Current(decided.decision_class, decided.score, 1, decided.occurred_at)
    assert next_decision(same, first) is None
    engaged = annotated([*FOLLOW, ("interaction", timedelta(hours=1))], REAL_PERSON)
    raised = next_decision(same, engaged)
    assert raised is not None
    assert raised.decision_class is DecisionClass.HIGH_VALUE


def test_an_interaction_from_a_stranger_records_nothing() -> None:
    stranger = annotated([("interaction", timedelta(0))], REAL_PERSON)
    assert next_decision(None, stranger) is None


def test_begging_is_matched_on_words_not_inside_other_words() -> None:
    from services.scorer.scoring import _BEGGING

    for text in ["follow back", "F4F", "#TeamFollowBack", "I follow back everyone", "followback pls"]:
        assert _BEGGING.search(text), text
    for text in ["I follow backend news", "softfb", "follow backcountry skiing"]:
        assert not _BEGGING.search(text), text


def test_an_annotation_older_than_the_latest_decision_records_nothing() -> None:
    """An event's annotation is the relationship as of its own time; what it changes reaches the
    newer events through their revised annotations. A late event (past the grace period) is
    folded after everything settled: its annotation is as of the newest settled time (``as_of``),
    which may be newer than the latest decision's event, and then it decides."""
    item = annotated(FOLLOW, REAL_PERSON)
    decided = score(item)
    at = item.event.occurred_at
    newer = Current(DecisionClass.HIGH_VALUE, 99.0, 1, at + timedelta(minutes=1))
    assert next_decision(newer, item) is None
    # An event of the same time (or newer) decides as ever.
    assert next_decision(Current(DecisionClass.HIGH_VALUE, 99.0, 1, at), item) == decided

    def late(as_of: datetime) -> AnnotatedEvent:
        note = item.relationship.model_copy(update={"late": True, "as_of": as_of})
        return item.model_copy(update={"relationship": note})

    assert next_decision(newer, late(at + timedelta(minutes=2))) == score(late(at + timedelta(minutes=2)))
    assert next_decision(newer, late(at + timedelta(seconds=30))) is None


def test_within_one_second_the_detectors_order_tells_an_older_annotation() -> None:
    """Events of one second are ordered follow, interaction, unfollow, then by id (the detector's
    order): a follow of the second of the latest decision's unfollow describes the relationship as
    of before it and decides nothing; an unfollow of the second of a decided follow does. Decisions
    recorded before they kept their event's type compare by time only, as before."""
    follow = annotated(FOLLOW, REAL_PERSON)
    at, event_id = follow.event.occurred_at, follow.event.event_id
    on_unfollow = Current(DecisionClass.WITHDRAWN, 50.0, 2, at, EventType.UNFOLLOW, "z")
    assert next_decision(on_unfollow, follow) is None
    on_later_follow = Current(DecisionClass.WITHDRAWN, 50.0, 2, at, EventType.FOLLOW, event_id + "z")
    assert next_decision(on_later_follow, follow) is None
    on_itself = Current(DecisionClass.WITHDRAWN, 50.0, 2, at, EventType.FOLLOW, event_id)
    assert next_decision(on_itself, follow) == score(follow)  # its own revision decides
    unknown = Current(DecisionClass.WITHDRAWN, 50.0, 2, at)  # recorded before 0013
    assert next_decision(unknown, follow) == score(follow)
    # A late event's annotation is as of the end of its ``as_of`` second: after all of it.
    note = follow.relationship.model_copy(update={"late": True, "as_of": at})
    assert next_decision(on_unfollow, follow.model_copy(update={"relationship": note})) is not None
    # A decision remembers the type of the event it was decided on.
    assert Current.after(None, score(follow)) == Current(
        score(follow).decision_class, score(follow).score, 1, at, EventType.FOLLOW, event_id
    )


def test_a_direct_message_whose_user_object_lacks_likes_and_lists_does_not_lower_the_follower() -> None:
    """helper-46: X's direct-message user objects carry no favourites or listed count; read as 0, the
    DM (the strongest engagement) made its sender "never liked a post" and dropped them from
    worth_following 53.71 to ignore 44.5. Unknown is now None, neither 0 nor a sign of a bot."""
    full = {**REAL_PERSON, "followers_count": 300, "friends_count": 4000}
    thin = {k: v for k, v in full.items() if k not in ("favourites_count", "listed_count", "created_at")}
    state = RelationshipState()
    follow = Event.model_validate(event("e0", "follow", "9", timedelta(0), full))
    state, note = apply(state, follow)
    on_follow = score(AnnotatedEvent(event=follow, relationship=note))
    dm = Event.model_validate(
        event("e1", "interaction", "9", timedelta(days=1), thin, interaction="direct_message")
    )
    assert dm.follower.favourites_count is None
    state, note = apply(state, dm)
    on_dm = score(AnnotatedEvent(event=dm, relationship=note))
    assert "never_liked" not in {r.signal for r in on_dm.reasons}
    assert on_dm.score > on_follow.score  # the engagement counts; the unknown counts take nothing


def test_the_begging_rule_takes_asks_for_follow_backs_not_growth_talk() -> None:
    """The rule overrides every point, so it takes explicit asks only, and those the model's feature
    pattern misses: a social-media coach "helping cafes gain followers" was spam by rule (helper-47),
    while "follow me back" and "#ifollowback" were not begging."""
    steps = [*FOLLOW, ("interaction", timedelta(hours=2)), ("interaction", timedelta(days=1))]
    for bio in ("Social media coach: I help cafes gain followers", "Gain followers with better photos"):
        decision = score(annotated(steps, {**REAL_PERSON, "description": bio}))
        assert decision.decision_class is DecisionClass.HIGH_VALUE, bio
        assert "begs_for_follow_back" not in {r.signal for r in decision.reasons}, bio
    for bio, asked in (
        ("Please follow me back!", "follow me back"),
        ("#ifollowback #coffee", "ifollowback"),
        ("follow for follow", "follow for follow"),
        ("Follow-4-follow always", "Follow-4-follow"),
        ("I follow back, promise", "I follow back"),
    ):
        decision = score(annotated(steps, {**REAL_PERSON, "description": bio}))
        assert decision.decision_class is DecisionClass.SPAM, bio
        assert {r.signal: r.value for r in decision.reasons}["begs_for_follow_back"] == asked, bio
    for bio in (
        "Unfollow backlog cleared",
        "I follow backend news",
        "I don't follow for follow",
        "Staff engineer. I follow back-end and infra news",  # (was spam by rule: "follow back")
        "Runner: I follow back-to-back marathons",
    ):
        decision = score(annotated(steps, {**REAL_PERSON, "description": bio}))
        assert decision.decision_class is DecisionClass.HIGH_VALUE, bio
