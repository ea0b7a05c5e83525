"""Scoring: a pure function from an annotated event and the scoring rules to a decision.

Each signal yields a :class:`Reason` with its value and its contribution in points; the score is
50 plus the contributions, clamped to 0-100. The class follows from hard rules first, in this order:
the brand's block of the follower and its block lists (``harmful``), churn (``churner``), X's
suspension of the follower's account (``ignore``), the follower's deactivation of it and leaving
(``withdrawn``), the brand's VIPs and customers (``high_value``: always worth a look), the
authenticity model (``spam``); then from the score thresholds (the brand's own, where it set
them). No I/O, no wall clock: "now" is the event's own time. The brand's signals come from
:mod:`services.scorer.brand`.

The account's states come after the verdicts that hold whatever X does (the brand's own, and
churn: a churner suspended is still one when the suspension is lifted, and stays one meanwhile
instead of moving to ``ignore`` and back), and before everything that could push the follower: no
one can follow back a suspended or deactivated account. A suspension is ``ignore``, not ``spam``: X
suspends for spam and platform manipulation, but also an account it believes hacked; it is never
pushed (the notifier retracts a push by its reason, :data:`SUSPENDED_RULE`). A deactivation is
``withdrawn``: the follower left X (for now: a reactivation within X's window, like a lifted
suspension, decides again as usual).

Authenticity comes from the fitted model of :mod:`services.scorer.authenticity`: the class is
``spam`` when its bot probability reaches the artefact's threshold (``ScoringRules.spam_probability``
overrides it). Its points: a follower the model gives bot probability ``p`` loses
``authenticity_points * p`` points (default 50; a typical genuine profile, p well under 1%, loses
next to nothing), shared among the features that pushed towards "bot" in proportion to their
log-odds contributions. Each such feature is one reason (its value, its points, its log-odds in the
detail); features that pushed towards "genuine" take no points (the value signals below already
reward followers, lists and activity); one ``bot_probability`` reason records p and the model version.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, fields, replace
from datetime import datetime
from functools import cached_property
from typing import NamedTuple

from services.scorer.authenticity import BEGGING, Assessment, assess, profile_text
from services.scorer.brand import assess_brand
from shared.accounts import VersionedConfig
from shared.decisions import Decision, DecisionClass, Reason, decision_id_for
from shared.events import EventType, Order, Profile, after_all, event_order, order_of
from shared.relationships import AnnotatedEvent

SCORER_VERSION = (
    "0.5.0"  # 0.4.0: follow-back begging is spam by rule; 0.5.0: its own pattern (ASKS_FOR_FOLLOW_BACK)
)
# The brand's part of a config_version: "1+5d41402a+churn:9f8e7d6c/brand@v3".
_BRAND_VERSION = re.compile(r"@v(\d+)\Z")
CHURN_PART = "+churn:"  # before the churn rules' fingerprint in a rules label
_RULES_LABEL = re.compile(rf"\+([0-9a-f]{{8}})(?:{re.escape(CHURN_PART)}([0-9a-f]{{8}}))?\Z")

_BEGGING = BEGGING  # kept importable here: the begging pattern now lives with the model's features

# The begging rule's own pattern: an ask for follow-backs, in so many words. The model's feature
# (``BEGGING``) is fitted on its own pattern, which also reads "gain followers" (a bot's tell, but
# also a social-media coach's bio: "I help cafes gain followers"); the rule, which overrides every
# point, takes explicit asks only, and also the variants the feature's pattern misses ("follow me
# back", "follow for follow", "#ifollowback"). Whole words, as in the feature: "_" and "-" separate.
_WORD_START, _WORD_END = r"(?<![a-z0-9])", r"(?![a-z0-9])"
# ... but a "back" that a hyphen joins to the next word is another word: "I follow back-end news".
_BACK_END = r"(?![a-z0-9]|-[a-z0-9])"
ASKS_FOR_FOLLOW_BACK = re.compile(
    rf"{_WORD_START}(?:i[\s_-]*)?follow(?:[\s_-]*me)?[\s_-]*back{_BACK_END}"
    rf"|{_WORD_START}(?:f4f|follow[\s_-]*(?:4|for)[\s_-]*follow){_WORD_END}"
    rf"|teamfollowback|#tfb{_WORD_END}",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ScoringRules:
    high_value_threshold: float = 70.0
    worth_following_threshold: float = 50.0
    # Bot probability at or beyond which a follower is spam; None: the model artefact's threshold.
    spam_probability: float | None = None
    # Points a certain bot (p = 1) loses; a follower with bot probability p loses p times this.
    authenticity_points: float = 50.0
    config_version: str = "1"  # the operator's name for these rules (FOLLOWBACK_SCORING__CONFIG_VERSION)

    @cached_property
    def fingerprint(self) -> str:
        """A digest of the rules' values (all but the name): a decision names the rules it was made
        under even when a threshold changed and the name did not."""
        values = tuple(getattr(self, f.name) for f in fields(self) if f.name != "config_version")
        return hashlib.sha256(repr(values).encode()).hexdigest()[:8]


def _authenticity(assessment: Assessment, rules: ScoringRules) -> list[Reason]:
    """The model's verdict as reasons: bot-ward features share ``authenticity_points * p`` points."""
    penalty = rules.authenticity_points * assessment.probability
    botward = [c for c in assessment.contributions if c.log_odds > 0]
    pushed = sum(c.log_odds for c in botward)
    reasons = [
        Reason(
            signal="bot_probability",
            value=round(assessment.probability, 4),
            contribution=0.0 if botward else round(-penalty, 2) or 0.0,
            detail=f"{assessment.model_version}: log-odds {assessment.logit:+.2f}; spam at p >= "
            f"{_threshold(assessment, rules):g}; {penalty:.2f} points shared by the features towards bot",
        )
    ]
    for c in botward:
        points = round(-penalty * c.log_odds / pushed, 2)
        if points:
            reasons.append(
                Reason(
                    signal=c.feature,
                    value=c.value,
                    contribution=points,
                    detail=f"{c.detail}: {c.log_odds:+.2f} log-odds towards bot",
                )
            )
    return reasons


BEGGING_RULE = "begs_for_follow_back"  # the reason of a follower who is spam because they beg
BLOCKED_RULE = "blocked_by_brand"  # the reason of a follower who is harmful because the brand blocks them
SUSPENDED_RULE = "suspended_by_platform"  # ... who is ignored because X suspended their account
DEACTIVATED_RULE = "account_deactivated"  # ... who is withdrawn because they deactivated their account
# The account states on X a decision may rest on, by the reason of their hard rule.
ACCOUNT_STATES = {SUSPENDED_RULE: "suspended", DEACTIVATED_RULE: "deactivated"}


def account_state(decision: Decision) -> str | None:
    """The account's state on X a decision rests on (``suspended``, ``deactivated``), or None."""
    return next((ACCOUNT_STATES[r.signal] for r in decision.reasons if r.signal in ACCOUNT_STATES), None)


# A begging phrase the profile refuses ("I don't follow back", "never ask me to follow back",
# "no F4F") is no begging: the words before it name a refusal, with at most three words between.
_REFUSAL = re.compile(
    r"(?<![a-z0-9])(?:no|not|never|cannot|dont|doesnt|wont|cant|stop|without|\w+n['\u2019]t)"
    r"(?:[ \t]+[\w'\u2019]+){0,3}[ \t]*\Z",
    re.IGNORECASE,
)


def _begging_text(profile: Profile) -> str | None:
    """What the follower wrote to ask for follow-backs (:data:`ASKS_FOR_FOLLOW_BACK`), or None; a
    phrase the profile refuses does not count (a "follow back" after "I don't" is no begging)."""
    text = profile_text(profile)
    for match in ASKS_FOR_FOLLOW_BACK.finditer(text):
        if not _REFUSAL.search(text[max(0, match.start() - 60) : match.start()]):
            return match.group(0)
    return None


def _state_reason(signal: str, since: datetime, detail: str) -> Reason:
    """The account's state on X as a hard rule's reason: no points, its value since when."""
    return Reason(signal=signal, value=since.isoformat(), contribution=0, detail=detail)


def _threshold(assessment: Assessment, rules: ScoringRules) -> float:
    return assessment.threshold if rules.spam_probability is None else rules.spam_probability


def _value(annotated: AnnotatedEvent) -> list[Reason]:
    profile = annotated.event.follower
    rel = annotated.relationship
    reasons: list[Reason] = []
    if rel.interactions:
        points = min(30.0, 15.0 + 5.0 * math.log2(rel.interactions))
        reasons.append(
            Reason(
                signal="engagement",
                value=rel.interactions,
                contribution=round(points, 2),
                detail="interactions with the brand",
            )
        )
    influence = math.log10(profile.followers_count + 1)
    if influence >= 2:
        reasons.append(
            Reason(
                signal="influence",
                value=profile.followers_count,
                contribution=round(min(15.0, 3.0 * (influence - 1)), 2),
                detail="followers on a log scale",
            )
        )
    if profile.listed_count is not None and profile.listed_count >= 5:
        reasons.append(
            Reason(
                signal="listed",
                value=profile.listed_count,
                contribution=round(min(8.0, 2.0 * math.log10(profile.listed_count + 1) * 2), 2),
                detail="on others' lists",
            )
        )
    if profile.verified:
        reasons.append(Reason(signal="verified", value=True, contribution=5, detail="verified"))
    # An interaction with the brand is itself a post, so it counts as activity too.
    seen = [t for t in (profile.last_status_at, rel.last_interaction_at) if t is not None]
    if seen:
        idle_days = (annotated.event.occurred_at - max(seen)).total_seconds() / 86400
        if idle_days > 90:
            reasons.append(
                Reason(
                    signal="inactive",
                    value=round(idle_days),
                    contribution=-15,
                    detail="no post in over 90 days",
                )
            )
        elif idle_days <= 7:
            reasons.append(
                Reason(
                    signal="active",
                    value=round(idle_days, 1),
                    contribution=5,
                    detail="posted this week",
                )
            )
    return reasons


DEFAULT_RULES = ScoringRules()


def rules_label(rules: ScoringRules, churn_rules: str | None = None) -> str:
    """The global rules a decision was made under: the scoring rules' name and their values'
    fingerprint, then the fingerprint of the churn rules its annotation was folded under
    (``Annotation.churn_rules``; left out when the annotation does not name them):
    ``1+5d41402a+churn:9f8e7d6c``."""
    scoring = f"{rules.config_version}+{rules.fingerprint}"
    return scoring if churn_rules is None else f"{scoring}{CHURN_PART}{churn_rules}"


def config_label(rules: ScoringRules, brand: VersionedConfig | None, churn_rules: str | None = None) -> str:
    """The configuration a decision was made under: the global rules' (:func:`rules_label`) and the
    brand's version (``1+5d41402a+churn:9f8e7d6c/brand@v3``; ``.../default`` before the brand had one)."""
    return f"{rules_label(rules, churn_rules)}/{brand.label if brand else 'default'}"


class RulesLabel(NamedTuple):
    """A recorded rules label (:func:`rules_label`) read back; a part it lacks is None (a label from
    before the part was recorded: ``1`` has only the name, ``1+5d41402a`` no churn rules)."""

    name: str
    scoring: str | None
    churn: str | None

    @classmethod
    def parse(cls, label: str) -> RulesLabel:
        found = _RULES_LABEL.search(label)
        if found is None:
            return cls(label, None, None)
        return cls(label[: found.start()], found.group(1), found.group(2))


def split_label(label: str, account: str) -> tuple[str, int | None]:
    """A recorded ``config_version`` (:func:`config_label`, read back) as the global
    rules' label and the account's configuration version (None: ``default``, the account had none)."""
    if label.endswith("/default"):
        return label.removesuffix("/default"), None
    found = _BRAND_VERSION.search(label)
    if found is not None and label.endswith(brand := f"/{account}@v{found.group(1)}"):
        return label.removesuffix(brand), int(found.group(1))
    return label, None


def score(
    annotated: AnnotatedEvent, rules: ScoringRules = DEFAULT_RULES, brand: VersionedConfig | None = None
) -> Decision:
    """Decide what one follower is worth to the brand, with every reason."""
    event = annotated.event
    profile = event.follower
    rel = annotated.relationship
    config = brand.config if brand else None
    assessment = assess(profile, event.occurred_at)
    view = assess_brand(profile, config)
    reasons = _authenticity(assessment, rules) + _value(annotated) + view.reasons
    total = 50.0 + sum(r.contribution for r in reasons)
    points = max(0.0, min(100.0, round(total, 2)))
    high, worth = rules.high_value_threshold, rules.worth_following_threshold
    if config is not None:  # the brand's own thresholds, where it set them
        high = high if config.high_value_threshold is None else config.high_value_threshold
        worth = worth if config.worth_following_threshold is None else config.worth_following_threshold

    if rel.blocked_at is not None:  # (a 'blocked' event, until an 'unblocked' one or a new follow)
        reasons.append(
            Reason(
                signal=BLOCKED_RULE,
                value=rel.blocked_at.isoformat(),
                contribution=0,
                detail="the brand blocks this follower",
            )
        )
    if view.harmful or rel.blocked_at is not None:
        cls = DecisionClass.HARMFUL
    elif rel.patterns:
        reasons.append(
            Reason(
                signal="churn",
                value=",".join(rel.patterns),
                contribution=0,
                detail=f"{rel.unfollows} unfollow(s), {rel.cycles_in_horizon} cycle(s) in horizon",
            )
        )
        cls = DecisionClass.CHURNER
    elif rel.suspended_at is not None:  # (a 'suspended' event, until an 'unsuspended' one or a new follow)
        reasons.append(_state_reason(SUSPENDED_RULE, rel.suspended_at, "not available on X (suspended)"))
        cls = DecisionClass.IGNORE
    elif rel.deactivated_at is not None:  # (a 'deactivated' event, until a 'reactivated' one or a new follow)
        reasons.append(
            _state_reason(DEACTIVATED_RULE, rel.deactivated_at, "not available on X (deactivated)")
        )
        cls = DecisionClass.WITHDRAWN
    elif not rel.following:  # (a late unfollow older than a settled follow changed nothing: still following)
        cls = DecisionClass.WITHDRAWN
    elif view.always_worth_a_look:
        cls = DecisionClass.HIGH_VALUE
    elif assessment.probability >= _threshold(assessment, rules):
        cls = DecisionClass.SPAM
    elif (begging := _begging_text(annotated.event.follower)) is not None:
        # The spec's "never follow back" names follow-back begging outright: a follow-for-follow
        # account with a real audience has a low bot probability, and was pushed as high value.
        reasons.append(
            Reason(
                signal=BEGGING_RULE,
                value=begging,
                contribution=0,
                detail="asks for follow-backs: spam by rule",
            )
        )
        cls = DecisionClass.SPAM
    elif points >= high:
        cls = DecisionClass.HIGH_VALUE
    elif points >= worth:
        cls = DecisionClass.WORTH_FOLLOWING
    else:
        cls = DecisionClass.IGNORE

    ordered = tuple(sorted(reasons, key=lambda r: (-abs(r.contribution), r.signal)))
    return Decision(
        decision_id=decision_id_for(event.event_id, rel.revision),
        account_id=event.account_id,
        follower_id=profile.id,
        screen_name=profile.screen_name,
        decision_class=cls,
        score=points,
        reasons=ordered,
        scorer_version=SCORER_VERSION,
        config_version=config_label(rules, brand, rel.churn_rules),
        event_ids=(event.event_id,),
        occurred_at=event.occurred_at,
        revision=rel.revision,
        event_type=event.type,
        followed_at=rel.last_follow_at,  # the notifier tells the follow apart from its later events by it
    )


@dataclass(frozen=True)
class Current:
    """The relationship's latest recorded decision, as far as the next one depends on it."""

    decision_class: DecisionClass
    score: float
    version: int
    # Where in event time the version stands: the event it was decided on, or a newer one scored
    # the same since (:meth:`seen`). Its time (None: unknown, and no annotation is older) ...
    occurred_at: datetime | None
    # ... and its type and id, its place among the events of one instant (None: recorded before
    # decisions kept the type; then only an older instant counts as older).
    event_type: EventType | None = None
    event_id: str | None = None
    # The account's state on X it rests on (:func:`account_state`): a suspension moves neither the
    # class of an ``ignore`` follower nor the score, and must still be recorded (the notifier retracts
    # the push such a follower may keep, and refuses Follow back).
    account_state: str | None = None

    @classmethod
    def after(cls, previous: Current | None, decision: Decision) -> Current:
        """The relationship's latest version once ``decision`` is recorded on top of ``previous``."""
        version = previous.version + 1 if previous is not None else 1
        return cls(
            decision.decision_class,
            decision.score,
            version,
            decision.occurred_at,
            decision.event_type,
            decision.event_ids[0] if decision.event_ids else None,
            account_state(decision),
        )

    def newer_than(self, annotated: AnnotatedEvent) -> bool:
        """Whether this version stands for an event after the one ``annotated`` describes the
        relationship as of, in the detector's order (event time, type, id). A late event's
        annotation is as of the end of its ``as_of`` instant."""
        as_of = annotated.relationship.as_of
        event = annotated.event
        if as_of is not None:
            return self._after(after_all(as_of))
        return self._after(event_order(event))

    def seen(self, annotated: AnnotatedEvent) -> Current:
        """This version standing for ``annotated``'s event too, when that event scored the same and
        is newer than the one it stood for: an event between the two that arrives afterwards then
        describes the relationship as of before the newest one scored (its profile snapshot, say,
        is older) and decides nothing. A late event moves nothing: every pending event is newer
        than what its annotation describes."""
        if annotated.relationship.as_of is not None or self.newer_than(annotated):
            return self
        event = annotated.event
        return self.standing_for(event.occurred_at, event.type, event.event_id)

    def standing_for(self, occurred_at: datetime, event_type: EventType, event_id: str) -> Current:
        """This version moved to that event, when it is newer than where the version stands."""
        if self._after(order_of(occurred_at, event_type, event_id)):
            return self
        return replace(self, occurred_at=occurred_at, event_type=event_type, event_id=event_id)

    def _after(self, place: Order) -> bool:
        if self.occurred_at is None:
            return False
        if self.event_type is None or self.event_id is None:
            return place[0] < self.occurred_at
        return place < order_of(self.occurred_at, self.event_type, self.event_id)


def next_version(
    current: Current | None,
    annotated: AnnotatedEvent,
    rules: ScoringRules = DEFAULT_RULES,
    brand: VersionedConfig | None = None,
) -> tuple[Decision | None, Current | None]:
    """The decision to record for this event (None: nothing changes, see :func:`next_decision`)
    and the relationship's latest version after it: what the scorer, replay and the tests step a
    relationship with. An event that scored the same as the latest version moves where that
    version stands (:meth:`Current.seen`)."""
    decision = next_decision(current, annotated, rules, brand)
    if decision is not None:
        return decision, Current.after(current, decision)
    if current is not None and annotated.decides:
        return None, current.seen(annotated)
    return None, current


def next_decision(
    current: Current | None,
    annotated: AnnotatedEvent,
    rules: ScoringRules = DEFAULT_RULES,
    brand: VersionedConfig | None = None,
) -> Decision | None:
    """The decision to record for this event, or None when nothing changes.

    A new version is recorded when the class or the score moves, or the account's state on X the
    class rests on (:func:`account_state`: ``ignore`` while suspended is ``ignore`` too). An event
    about someone who is not a follower and was never decided on (an interaction from a stranger)
    records nothing.

    Nor does a block of someone never decided on (nothing to take back), nor X's suspension of their
    account (a deactivation is ``withdrawn``, like leaving).

    Nor does an event whose annotation describes the relationship as of a place in event time
    before the event the latest version stands for (:class:`Current`: decided on, or scored the
    same since): the detector revises the newer (pending) events' annotations with what it
    changes, and those are decided again (a like from a minute before the follow, delivered after
    it, must not make the follower "withdrawn"). An annotation is as of its event's place, or, for
    a late event (folded after everything settled, past the grace period), as of the newest settled
    time (``as_of``): newer pending events are not in it.
    """
    if not annotated.decides:  # the detector's "retained" notices and the brand's follow-backs
        return None
    if current is not None and current.newer_than(annotated):
        return None
    decision = score(annotated, rules, brand)
    if current is None:
        # Nobody to take back: one who left (or deactivated their account), whom the brand blocked, or
        # whose account X suspended, before any decision.
        rel = annotated.relationship
        if decision.decision_class is DecisionClass.WITHDRAWN or rel.blocked_at or rel.suspended_at:
            return None
        return decision
    if (
        current.decision_class is decision.decision_class
        and current.score == decision.score
        and current.account_state == account_state(decision)
    ):
        return None
    return decision
