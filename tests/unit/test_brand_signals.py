"""The brand's own signals: block lists make a follower harmful, VIPs and customers are always worth a
look, profiles that match the brand's topics gain points, and the brand's thresholds apply."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.churn.rules import ChurnRules, apply
from services.scorer import brand
from services.scorer.brand import RELEVANCE_POINTS_MAX, RELEVANCE_POINTS_PER_MATCH, assess_brand
from services.scorer.scoring import ScoringRules, score
from shared.accounts import AccountConfig, VersionedConfig
from shared.decisions import Decision, DecisionClass
from shared.events import Event, Profile
from shared.relationships import AnnotatedEvent, RelationshipState
from tests.support import REAL_PERSON, SPAM_ACCOUNT, event

RULES = ScoringRules(config_version="3")


def decide(profile: dict[str, Any], config: AccountConfig | None, steps: int = 0) -> Decision:
    """The decision on a follow (then ``steps`` unfollow/follow cycles a day apart)."""
    state = RelationshipState()
    kinds = ["follow"] + ["unfollow", "follow"] * steps
    annotated = None
    for n, kind in enumerate(kinds):
        ev = Event.model_validate(event(f"b{n}", kind, "55", timedelta(days=n), profile))
        state, note = apply(state, ev)
        annotated = AnnotatedEvent(event=ev, relationship=note)
    assert annotated is not None
    brand = VersionedConfig(account_id="brand", version=4, config=config) if config else None
    return score(annotated, RULES, brand)


def signals(decision: Decision) -> dict[str, float]:
    return {r.signal: r.contribution for r in decision.reasons}


def test_a_blocked_term_in_the_bio_makes_the_follower_harmful() -> None:
    person = {**REAL_PERSON, "description": "Crypto giveaway every day! DM me"}
    decision = decide(person, AccountConfig(blocked_terms=["crypto giveaway"]))
    assert decision.decision_class is DecisionClass.HARMFUL
    assert signals(decision)["blocked_term"] == 0


def test_a_blocked_term_matches_whole_words_only() -> None:
    person = {**REAL_PERSON, "description": "Scunthorpe coffee fan"}
    assert decide(person, AccountConfig(blocked_terms=["cunt"])).decision_class is not DecisionClass.HARMFUL


def test_an_underscore_separates_words_as_in_handles() -> None:
    """helper-46: a blocked "crypto" missed @crypto_king, and the topic "coffee" @coffee_lover."""
    king = {**REAL_PERSON, "screen_name": "crypto_king", "description": "", "name": "K"}
    assert decide(king, AccountConfig(blocked_terms=["crypto"])).decision_class is DecisionClass.HARMFUL
    lover = {**REAL_PERSON, "screen_name": "coffee_lover", "description": "", "name": "L"}
    assert signals(decide(lover, AccountConfig(topics=["coffee"])))["relevance"] > 0
    assert "relevance" not in signals(
        decide({**lover, "screen_name": "coffeelover"}, AccountConfig(topics=["coffee"]))
    )


def test_a_blocked_account_is_harmful_even_when_it_would_be_high_value() -> None:
    config = AccountConfig(blocked_accounts=["@ANA_ROASTS"], vips=["ana_roasts"])
    assert decide(REAL_PERSON, config).decision_class is DecisionClass.HARMFUL


def test_a_vip_is_high_value_even_when_the_model_doubts_the_profile() -> None:
    vip = {**SPAM_ACCOUNT, "screen_name": "big_client"}
    plain = decide(vip, None)
    listed = decide(vip, AccountConfig(vips=["big_client"]))
    assert plain.decision_class is DecisionClass.SPAM
    assert listed.decision_class is DecisionClass.HIGH_VALUE
    assert "vip" in signals(listed)


def test_a_known_customer_who_churns_is_still_a_churner() -> None:
    decision = decide(REAL_PERSON, AccountConfig(customers=["55"]), steps=1)
    assert decision.decision_class is DecisionClass.CHURNER


def test_relevance_adds_points_per_matched_topic_up_to_a_cap() -> None:
    base = decide(REAL_PERSON, AccountConfig())
    one = decide(REAL_PERSON, AccountConfig(topics=["coffee"]))
    many = decide(REAL_PERSON, AccountConfig(topics=["coffee", "cyclist", "cafe"], keywords=["porto"]))
    assert signals(one)["relevance"] == RELEVANCE_POINTS_PER_MATCH
    assert one.score == round(base.score + RELEVANCE_POINTS_PER_MATCH, 2)
    assert signals(many)["relevance"] == RELEVANCE_POINTS_MAX
    assert "relevance" not in signals(base)


def test_the_brands_thresholds_replace_the_global_ones() -> None:
    default = decide(REAL_PERSON, AccountConfig())
    strict = decide(REAL_PERSON, AccountConfig(worth_following_threshold=99))
    eager = decide(REAL_PERSON, AccountConfig(high_value_threshold=default.score))
    assert default.decision_class is DecisionClass.WORTH_FOLLOWING
    assert strict.decision_class is DecisionClass.IGNORE
    assert eager.decision_class is DecisionClass.HIGH_VALUE  # the boundary itself is high value


def test_the_decision_names_the_brand_configuration_version() -> None:
    churn = ChurnRules().fingerprint  # the rules ``apply`` folds under by default
    assert (
        decide(REAL_PERSON, AccountConfig()).config_version == f"3+{RULES.fingerprint}+churn:{churn}/brand@v4"
    )
    assert decide(REAL_PERSON, None).config_version == f"3+{RULES.fingerprint}+churn:{churn}/default"


def test_no_configuration_means_no_brand_signals() -> None:
    view = assess_brand(Profile(id="1", screen_name="x"), None)
    assert (view.reasons, view.harmful, view.always_worth_a_look) == ([], False, False)


# Word characters (letters, digits, "_", a superscript digit, a combining accent) and others.
WORDS = st.text(
    st.sampled_from(["a", "b", "é", "_", "1", "²", " ", "-", "#", ".", "ß", "\u0301"]), max_size=12
)


@settings(max_examples=600, deadline=None)
@given(term=WORDS.filter(bool), text=WORDS)
def test_a_term_matches_as_the_whole_word_pattern_does(term: str, text: str) -> None:
    """Terms are found without a pattern per term (a brand's 50,000 topics took 4 s an event), with
    the same meaning: no letter or digit just before or after, as ``(?<![^\\W_])term(?![^\\W_])``."""
    pattern = re.search(rf"(?<![^\W_]){re.escape(term)}(?![^\W_])", text) is not None
    assert brand._occurs(term, text) is pattern
    assert brand._occurs(term, f"{text} {term}")  # (after a space, at the end: always whole)
