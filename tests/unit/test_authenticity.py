"""The authenticity model: its features, its explanation, its artefact and its fit."""

from __future__ import annotations

import importlib.util
import json
import math
import random
import sys
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from services.scorer.authenticity import (
    FEATURE_NAMES,
    MODEL_PATH,
    Model,
    assess,
    feature_inputs,
    load_model,
)
from services.scorer.scoring import SCORER_VERSION, ScoringRules, score
from shared.decisions import DecisionClass
from shared.events import Profile
from tests.support import REAL_PERSON, SPAM_ACCOUNT, T0
from tests.unit.test_scoring import FOLLOW, annotated

ROOT = Path(__file__).resolve().parents[2]
CRESCI = ROOT.parent / "shared/data/cresci-2015/accounts.csv"
AT = datetime(2026, 3, 1, tzinfo=UTC)


def profile(**fields: Any) -> Profile:
    return Profile.model_validate({"id": "1", **fields})


@cache
def fitting_script() -> ModuleType:
    """scripts/fit_authenticity.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("fit_authenticity", ROOT / "scripts/fit_authenticity.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_features_of_a_hand_made_profile() -> None:
    p = profile(
        screen_name="ana",
        name="Ana",
        description="Coffee roaster",
        url="https://example.com",
        followers_count=99,
        friends_count=999,
        statuses_count=9,
        favourites_count=0,
        listed_count=0,
        default_profile_image=True,
        created_at=AT - timedelta(days=10),
    )
    x = feature_inputs(p, AT)
    assert list(x) == list(FEATURE_NAMES)
    assert x["followers"] == pytest.approx(2.0)
    assert x["posts"] == pytest.approx(1.0)
    assert x["friends_per_follower"] == pytest.approx(1.0)  # (1 + 999) / (1 + 99) = 10
    assert (x["on_no_list"], x["never_liked"], x["default_image"], x["new_account"]) == (1, 1, 1, 1)
    assert (x["no_bio"], x["no_url"], x["follow_back_begging"]) == (0, 0, 0)


def test_yes_no_features_flip_at_their_edges() -> None:
    bare = profile(description="   ", url="", listed_count=3, favourites_count=1)
    x = feature_inputs(bare, AT)
    assert (x["no_bio"], x["no_url"], x["on_no_list"], x["never_liked"]) == (1, 1, 0, 0)
    assert x["new_account"] == 0  # no creation time: no evidence either way
    assert x["followers"] == x["posts"] == x["friends_per_follower"] == 0.0
    young, old = (profile(created_at=AT - timedelta(days=d)) for d in (29.9, 30.1))
    assert feature_inputs(young, AT)["new_account"] == 1
    assert feature_inputs(old, AT)["new_account"] == 0
    # The age is taken at the observation time given, never at today's date.
    assert feature_inputs(old, AT - timedelta(days=1))["new_account"] == 1


def test_begging_is_found_in_the_handle_the_name_or_the_bio() -> None:
    for fields in (
        {"screen_name": "f4f_anna"},
        {"name": "Follow Back 100%"},
        {"description": "#TeamFollowBack"},
    ):
        assert feature_inputs(profile(**fields), AT)["follow_back_begging"] == 1, fields
    assert feature_inputs(profile(description="I follow backend news"), AT)["follow_back_begging"] == 0
    shown = {
        c.feature: c.value for c in assess(profile(description="I follow back everyone"), AT).contributions
    }
    assert shown["follow_back_begging"] == "I follow back"


@pytest.mark.parametrize(
    "fields", [REAL_PERSON, SPAM_ACCOUNT, {}, {"followers_count": 5, "friends_count": 300}]
)
def test_contributions_add_up_to_the_logit(fields: dict[str, Any]) -> None:
    result = assess(Profile.model_validate({"id": "7", **fields}), T0)
    assert [c.feature for c in result.contributions] == list(load_model().features)
    assert result.base_log_odds + sum(c.log_odds for c in result.contributions) == pytest.approx(result.logit)
    assert result.probability == pytest.approx(1 / (1 + math.exp(-result.logit)))
    model = load_model()
    raw = model.intercept + sum(model.weights[c.feature] * c.input for c in result.contributions)
    assert raw == pytest.approx(result.logit)  # centring on the reference changes the split, not the sum
    for c in result.contributions:
        assert c.log_odds == pytest.approx(c.weight * (c.input - model.reference[c.feature]))


def test_the_shipped_model_tells_the_test_personas_apart() -> None:
    fake = assess(Profile.model_validate({"id": "1", **SPAM_ACCOUNT}), T0)
    real = assess(Profile.model_validate({"id": "2", **REAL_PERSON}), T0)
    assert fake.is_bot
    assert fake.probability > 0.99
    assert not real.is_bot
    assert real.probability < 0.01
    towards_bot = {c.feature for c in fake.contributions if c.log_odds > 0}
    assert {"friends_per_follower", "posts", "follow_back_begging", "default_image"} <= towards_bot


def test_the_artefact_loads_and_records_its_version_and_provenance() -> None:
    document = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    model = load_model()
    assert model.version == document["version"] == "authenticity-v1"
    assert model.features == FEATURE_NAMES
    assert 0 < model.threshold < 1
    assert document["training"]["data_sha256"]
    assert len(document["figures"]["cross_group"]) == 6
    assert {"accuracy", "precision", "recall", "f1", "mcc"} <= set(document["figures"]["cross_group_mean"])
    # Every fitted weight points the way its feature is documented to push, or is zero.
    assert model.weights["posts"] <= 0
    assert model.weights["followers"] <= 0
    assert all(model.weights[f] >= 0 for f in FEATURE_NAMES if f not in ("posts", "followers"))


def test_a_decision_records_the_model_version() -> None:
    decision = score(annotated(FOLLOW, SPAM_ACCOUNT))
    assert decision.scorer_version == SCORER_VERSION
    summary = next(r for r in decision.reasons if r.signal == "bot_probability")
    assert load_model().version in summary.detail
    probability = assess(annotated(FOLLOW, SPAM_ACCOUNT).event.follower, T0).probability
    assert summary.value == pytest.approx(probability, abs=1e-4)  # recorded to four decimals


def test_authenticity_points_are_the_bot_probability_shared_by_the_features_towards_bot() -> None:
    item = annotated(FOLLOW, SPAM_ACCOUNT)
    result = assess(item.event.follower, item.event.occurred_at)
    rules = ScoringRules(authenticity_points=40)
    decision = score(item, rules)
    features = {c.feature: c for c in result.contributions}
    model_reasons = [r for r in decision.reasons if r.signal in features]
    assert sum(r.contribution for r in model_reasons) == pytest.approx(-40 * result.probability, abs=0.05)
    pushed = sum(c.log_odds for c in result.contributions if c.log_odds > 0)
    for reason in model_reasons:
        share = features[reason.signal].log_odds / pushed
        assert reason.contribution == pytest.approx(-40 * result.probability * share, abs=0.01)


def test_the_spam_threshold_comes_from_the_artefact_and_the_rules_override_it() -> None:
    item = annotated(FOLLOW, REAL_PERSON)
    assert score(item).decision_class is DecisionClass.WORTH_FOLLOWING
    assert score(item, ScoringRules(spam_probability=1e-12)).decision_class is DecisionClass.SPAM
    # (a fake account that does not beg: begging is spam by rule, whatever the threshold)
    quiet = {**SPAM_ACCOUNT, "screen_name": "acc_48213", "name": "Acc", "description": ""}
    fake = annotated(FOLLOW, quiet)
    p = assess(fake.event.follower, fake.event.occurred_at).probability
    assert p >= load_model().threshold
    assert (
        score(fake, ScoringRules(spam_probability=min(1.0, p + 1e-9))).decision_class
        is not DecisionClass.SPAM
    )


def test_assessment_is_deterministic() -> None:
    p = Profile.model_validate({"id": "3", **SPAM_ACCOUNT})
    assert assess(p, T0) == assess(p, T0)
    assert Model.load(MODEL_PATH) == Model.load(MODEL_PATH)


def test_an_artefact_with_unknown_features_or_missing_parts_is_refused() -> None:
    document = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match="unknown features: lang"):
        Model.from_dict({**document, "features": [*document["features"], "lang"]})
    with pytest.raises(ValueError, match="intercept"):
        Model.from_dict({k: v for k, v in document.items() if k != "intercept"})
    with pytest.raises(ValueError, match="threshold"):
        Model.from_dict({**document, "threshold": 1.5})


def synthetic(n: int, seed: int) -> list[Any]:
    """Accounts drawn from a known model: bots have far more friends per follower and few posts."""
    fit = fitting_script()
    rng = random.Random(seed)
    out = []
    for i in range(n):
        is_bot = i % 2 == 0
        x = dict.fromkeys(FEATURE_NAMES, 0.0)
        x["friends_per_follower"] = rng.gauss(1.3 if is_bot else 0.3, 0.4)
        x["posts"] = rng.gauss(1.5 if is_bot else 2.8, 0.5)
        x["followers"] = rng.gauss(2.0, 0.5)  # says nothing
        x["no_bio"] = 1.0 if rng.random() < (0.4 if is_bot else 0.1) else 0.0
        x["no_url"] = 1.0 if rng.random() < 0.5 else 0.0  # says nothing
        out.append(fit.Sample(x, is_bot, "synthetic"))
    return out


def test_the_fit_is_deterministic_and_keeps_every_weight_to_its_documented_direction() -> None:
    fit = fitting_script()
    data = synthetic(600, seed=1)
    first, again = fit.fit(data), fit.fit(data)
    assert first == again
    _intercept, weights = first
    assert weights["friends_per_follower"] > 1
    assert weights["posts"] < -1
    assert weights["no_bio"] > 0
    assert all(weights[f] * fit.DIRECTION[f] >= 0 for f in weights)
    accuracy = fit.confusion(fit.build_model(data), synthetic(600, seed=2)).accuracy
    assert accuracy > 0.85


@pytest.mark.skipif(not CRESCI.is_file(), reason=f"the labelled cresci-2015 file is not at {CRESCI}")
def test_the_shipped_artefact_is_what_the_script_fits_from_the_data(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert fitting_script().main([str(CRESCI), "--check"]) == 0, capsys.readouterr().out
