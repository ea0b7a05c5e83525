"""Scoring: a pure function from an annotated event and the scoring rules to a decision.

Each signal yields a :class:`Reason` with its value and its contribution in points; the score is
50 plus the contributions, clamped to 0-100. The class follows from hard rules first (churn, spam)
and then from the score thresholds. No I/O, no wall clock: "now" is the event's own time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from shared.decisions import Decision, DecisionClass, Reason, decision_id_for
from shared.events import EventType, Profile
from shared.relationships import AnnotatedEvent

SCORER_VERSION = "0.1.0"

_BEGGING = re.compile(
    r"\bfollow\s*back\b|\bf4f\b|\bfollow4follow\b|teamfollowback|\bi\s+follow\s+back\b|"
    r"\bgain\s+followers\b|#tfb\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ScoringRules:
    high_value_threshold: float = 70.0
    worth_following_threshold: float = 50.0
    # Authenticity penalty (sum of negative authenticity points) at or beyond which it is spam.
    spam_penalty: float = 40.0
    config_version: str = "1"


def _authenticity(profile: Profile, at_days: float | None) -> list[Reason]:
    reasons: list[Reason] = []

    def add(signal: str, value: float | int | str | bool | None, points: float, why: str) -> None:
        reasons.append(Reason(signal=signal, value=value, contribution=points, detail=why))

    if profile.followers_count < 30:
        add("few_followers", profile.followers_count, -15, "fewer than 30 followers")
    if profile.statuses_count < 50:
        add("few_posts", profile.statuses_count, -15, "fewer than 50 posts")
    if profile.listed_count == 0:
        add("on_no_list", 0, -5, "listed by nobody")
    if not profile.description.strip():
        add("no_bio", True, -5, "empty profile description")
    if profile.default_profile_image:
        add("default_image", True, -10, "default profile image")
    if profile.friends_count >= 50 * max(profile.followers_count, 1) and profile.friends_count > 100:
        add("follows_far_more", profile.friends_count, -15, "friends >= 50 x followers")
    elif profile.friends_count > 2 * profile.followers_count and profile.friends_count > 500:
        add("follows_more", profile.friends_count, -5, "friends > 2 x followers")
    if profile.favourites_count == 0:
        add("never_liked", 0, -5, "has never liked a post")
    begging = _BEGGING.search(f"{profile.screen_name} {profile.name} {profile.description}")
    if begging:
        add("follow_back_begging", begging.group(0), -40, "asks for follow-backs")
    if at_days is not None and at_days < 30:
        add("new_account", round(at_days, 1), -5, "account younger than 30 days")
    return reasons


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
    if profile.listed_count >= 5:
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


def score(annotated: AnnotatedEvent, rules: ScoringRules = ScoringRules()) -> Decision:
    """Decide what one follower is worth to the brand, with every reason."""
    event = annotated.event
    profile = event.follower
    rel = annotated.relationship
    age_days = (
        (event.occurred_at - profile.created_at).total_seconds() / 86400 if profile.created_at else None
    )
    authenticity = _authenticity(profile, age_days)
    reasons = authenticity + _value(annotated)
    total = 50.0 + sum(r.contribution for r in reasons)
    points = max(0.0, min(100.0, round(total, 2)))
    penalty = -sum(r.contribution for r in authenticity)

    if rel.patterns:
        reasons.append(
            Reason(
                signal="churn",
                value=",".join(rel.patterns),
                contribution=0,
                detail=f"{rel.unfollows} unfollow(s), {rel.cycles_in_horizon} cycle(s) in horizon",
            )
        )
        cls = DecisionClass.CHURNER
    elif event.type is EventType.UNFOLLOW or not rel.following:
        cls = DecisionClass.WITHDRAWN
    elif penalty >= rules.spam_penalty:
        cls = DecisionClass.SPAM
    elif points >= rules.high_value_threshold:
        cls = DecisionClass.HIGH_VALUE
    elif points >= rules.worth_following_threshold:
        cls = DecisionClass.WORTH_FOLLOWING
    else:
        cls = DecisionClass.IGNORE

    ordered = tuple(sorted(reasons, key=lambda r: (-abs(r.contribution), r.signal)))
    return Decision(
        decision_id=decision_id_for(event.event_id),
        account_id=event.account_id,
        follower_id=profile.id,
        screen_name=profile.screen_name,
        decision_class=cls,
        score=points,
        reasons=ordered,
        scorer_version=SCORER_VERSION,
        config_version=rules.config_version,
        event_ids=(event.event_id,),
        occurred_at=event.occurred_at,
    )


@dataclass(frozen=True)
class Current:
    """The relationship's latest recorded decision, as far as the next one depends on it."""

    decision_class: DecisionClass
    score: float
    version: int


def next_decision(
    current: Current | None, annotated: AnnotatedEvent, rules: ScoringRules = ScoringRules()
) -> Decision | None:
    """The decision to record for this event, or None when nothing changes.

    A new version is recorded when the class or the score moves. An event about someone who is
    not a follower and was never decided on (an interaction from a stranger) records nothing.
    """
    decision = score(annotated, rules)
    if current is None:
        if decision.decision_class is DecisionClass.WITHDRAWN:
            return None
        return decision
    if current.decision_class is decision.decision_class and current.score == decision.score:
        return None
    return decision
