"""Authenticity: how likely a follower's profile belongs to a fake or automated account, and why.

A logistic regression over a handful of robust, explainable profile features. Its weights live in a
small versioned JSON artefact (``models/authenticity-v1.json``) written by
``scripts/fit_authenticity.py`` from labelled accounts; nothing here learns at run time and no
third-party numeric library is needed.

Explanation. The model's log-odds of "bot" are split exactly into a base and one contribution per
feature::

    logit = base + sum(weight_f * (x_f - reference_f))        base = intercept + sum(weight_f * reference_f)

``reference`` is a typical genuine account (the median of the training humans for the counts, "absent"
for the yes/no features), so ``base`` is the log-odds of that typical genuine account and each
contribution says how far this feature moves the odds away from it: positive towards "bot",
negative towards "genuine".

Deliberately left out: language, time zone, UTC offset, profile colours and image URLs, location
text and the language of the bio. In the labelled data these reveal where the accounts were
collected (the genuine ones are mostly Italian), not whether they are genuine.

Pure: no I/O apart from reading the artefact once, no wall clock (the observation time is given).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache, cached_property
from pathlib import Path
from typing import Any, NamedTuple

from shared.events import Profile

MODEL_PATH = Path(__file__).resolve().parent / "models" / "authenticity-v1.json"

# Follow-back begging in the handle, the name or the bio. Whole words only ("follow backend" is
# not), where an underscore also separates words, as it does in handles ("f4f_anna").
_START, _END = r"(?<![a-z0-9])", r"(?![a-z0-9])"
BEGGING = re.compile(
    rf"{_START}(?:follow[\s_]*back|f4f|follow4follow|i[\s_]+follow[\s_]*back|gain[\s_]+followers){_END}"
    rf"|teamfollowback|#tfb{_END}",
    re.IGNORECASE,
)

NEW_ACCOUNT_DAYS = 30.0
# Beyond 100 friends per follower (or followers per friend) the ratio tells nothing more, and it must
# not drown every other signal: its log is limited to +-2.
RATIO_LIMIT = 2.0

Shown = float | int | str | bool | None


def _log_count(n: int) -> float:
    return math.log10(1 + n)


def _age_days(profile: Profile, observed_at: datetime) -> float | None:
    if profile.created_at is None:
        return None
    return (observed_at - profile.created_at).total_seconds() / 86400


def profile_text(profile: Profile) -> str:
    """What the text signals read of a profile: the handle, the name and the bio."""
    return f"{profile.screen_name} {profile.name} {profile.description}"


def _begging(profile: Profile) -> str | None:
    match = BEGGING.search(profile_text(profile))
    return match.group(0) if match else None


@dataclass(frozen=True)
class Feature:
    """One model input: its name and how it is computed (see :func:`observe`)."""

    name: str
    detail: str


def _ratio(profile: Profile) -> float:
    return (1 + profile.friends_count) / (1 + profile.followers_count)


# The order here is the order of the artefact's feature list.
FEATURES: tuple[Feature, ...] = (
    Feature("followers", "log10(1 + followers)"),
    Feature("posts", "log10(1 + posts)"),
    Feature("friends_per_follower", f"log10((1 + friends) / (1 + followers)), limited to +-{RATIO_LIMIT:g}"),
    Feature("on_no_list", "listed by nobody"),
    Feature("never_liked", "has never liked a post"),
    Feature("no_bio", "empty profile description"),
    Feature("no_url", "no link in the profile"),
    Feature("follow_back_begging", "asks for follow-backs in the handle, name or bio"),
    Feature("default_image", "default profile image"),
    Feature("new_account", f"account younger than {NEW_ACCOUNT_DAYS:g} days when observed"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
_BY_NAME = {f.name: f for f in FEATURES}


def observe(profile: Profile, observed_at: datetime) -> dict[str, tuple[float, Shown]]:
    """Every feature of one profile observed at ``observed_at``: its model input and what is shown
    for it (a count, a ratio, yes/no, the begging text), computed in one pass (a hot path: once per
    scored event)."""
    ratio = _ratio(profile)
    no_list = profile.listed_count == 0  # (an unknown count, None, is neither: the reference's input)
    never_liked = profile.favourites_count == 0
    no_bio = not profile.description.strip()
    no_url = not (profile.url or "").strip()
    begging = _begging(profile)
    age = _age_days(profile, observed_at)
    new = age is not None and age < NEW_ACCOUNT_DAYS
    return {
        "followers": (_log_count(profile.followers_count), profile.followers_count),
        "posts": (_log_count(profile.statuses_count), profile.statuses_count),
        "friends_per_follower": (max(-RATIO_LIMIT, min(RATIO_LIMIT, math.log10(ratio))), round(ratio, 2)),
        "on_no_list": (1.0 if no_list else 0.0, no_list),
        "never_liked": (1.0 if never_liked else 0.0, never_liked),
        "no_bio": (1.0 if no_bio else 0.0, no_bio),
        "no_url": (1.0 if no_url else 0.0, no_url),
        "follow_back_begging": (0.0 if begging is None else 1.0, begging or False),
        "default_image": (1.0 if profile.default_profile_image else 0.0, profile.default_profile_image),
        "new_account": (1.0 if new else 0.0, None if age is None else round(age, 1)),
    }


def feature_inputs(profile: Profile, observed_at: datetime) -> dict[str, float]:
    """Every feature's model input for one profile observed at ``observed_at``, in model order."""
    observed = observe(profile, observed_at)
    return {name: observed[name][0] for name in FEATURE_NAMES}


class Contribution(NamedTuple):
    """One feature's share of the decision: what was seen and how far it moved the log-odds."""

    feature: str
    value: Shown  # what the profile shows (a count, a ratio, yes/no, the begging text)
    input: float  # the model input computed from it
    weight: float
    log_odds: float  # weight * (input - reference): > 0 towards bot, < 0 towards genuine
    detail: str


@dataclass(frozen=True)
class Assessment:
    """The model's verdict on one profile: the bot probability and every feature's contribution."""

    probability: float
    logit: float
    base_log_odds: float  # the log-odds of the reference (typical genuine) account
    contributions: tuple[Contribution, ...]
    threshold: float
    model_version: str

    @property
    def is_bot(self) -> bool:
        return self.probability >= self.threshold


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True)
class Model:
    """A fitted authenticity model, as stored in its JSON artefact."""

    version: str
    features: tuple[str, ...]
    weights: dict[str, float]
    intercept: float
    reference: dict[str, float]
    threshold: float
    provenance: dict[str, Any]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Model:
        try:
            features = tuple(str(f) for f in data["features"])
            unknown = [f for f in features if f not in _BY_NAME]
            if unknown:
                raise ValueError(f"the artefact names unknown features: {', '.join(unknown)}")
            weights = {f: float(data["weights"][f]) for f in features}
            reference = {f: float(data["reference"][f]) for f in features}
            threshold = float(data["threshold"])
            if not 0.0 < threshold < 1.0:
                raise ValueError(f"threshold {threshold} is not a probability strictly between 0 and 1")
            return cls(
                version=str(data["version"]),
                features=features,
                weights=weights,
                intercept=float(data["intercept"]),
                reference=reference,
                threshold=threshold,
                provenance=dict(data.get("training", {})),
            )
        except KeyError as missing:
            raise ValueError(f"the authenticity artefact lacks {missing}") from missing

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> Model:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    @cached_property
    def base_log_odds(self) -> float:
        return self.intercept + sum(self.weights[f] * self.reference[f] for f in self.features)

    @cached_property
    def _terms(self) -> tuple[tuple[str, str, float, float], ...]:
        """Each feature's name, detail, weight and reference, in model order."""
        return tuple(
            (name, _BY_NAME[name].detail, self.weights[name], self.reference[name]) for name in self.features
        )

    def assess(self, profile: Profile, observed_at: datetime) -> Assessment:
        observed = observe(profile, observed_at)
        contributions = tuple(
            Contribution(name, observed[name][1], x, weight, weight * (x - reference), detail)
            for name, detail, weight, reference in self._terms
            for x in (observed[name][0],)
        )
        base = self.base_log_odds
        logit = base + sum(c.log_odds for c in contributions)
        return Assessment(
            probability=_sigmoid(logit),
            logit=logit,
            base_log_odds=base,
            contributions=contributions,
            threshold=self.threshold,
            model_version=self.version,
        )


@cache
def load_model(path: Path = MODEL_PATH) -> Model:
    """The artefact at ``path``, read once per process."""
    return Model.load(path)


def assess(profile: Profile, observed_at: datetime) -> Assessment:
    """The shipped model's assessment of ``profile`` as observed at ``observed_at`` (event time)."""
    return load_model().assess(profile, observed_at)
