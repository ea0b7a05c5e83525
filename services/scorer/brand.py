"""What the brand itself says about a follower: its block lists, its VIPs and customers, its topics.

Pure functions of the profile snapshot and the brand's configuration (:mod:`shared.accounts`).
Lists hold ids or handles, already lower-cased without ``@``; terms and topics match whole words
of the handle, the name and the bio, case-insensitively ("_" separates words, as in handles).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.scorer.authenticity import profile_text
from shared.accounts import AccountConfig
from shared.decisions import Reason
from shared.events import Profile

RELEVANCE_POINTS_PER_MATCH = 6.0
RELEVANCE_POINTS_MAX = 15.0
LISTED_PERSON_POINTS = 25.0


@dataclass(frozen=True)
class BrandView:
    reasons: list[Reason] = field(default_factory=list)
    harmful: bool = False
    always_worth_a_look: bool = False


def _who(profile: Profile) -> set[str]:
    return {profile.id.lower(), profile.screen_name.lower()} - {""}


def _is_word(char: str) -> bool:
    return char.isalnum()  # what ``[^\W_]`` matches in a str pattern: ``\w`` but "_"


def _occurs(term: str, text: str) -> bool:
    r"""Whether ``term`` occurs in ``text`` as whole words: with no letter or digit just before or
    just after it, as ``(?<![^\W_])term(?![^\W_])`` finds it, without compiling a pattern per term
    (a brand's 50,000 topics took 4 s an event: more than the pattern cache holds). "_" separates
    words, as in handles: "crypto" is a word of ``crypto_king`` (as for the begging pattern)."""
    start = text.find(term)
    while start != -1:
        end = start + len(term)
        if (start == 0 or not _is_word(text[start - 1])) and (end == len(text) or not _is_word(text[end])):
            return True
        start = text.find(term, start + 1)
    return False


def _matches(terms: list[str], text: str) -> list[str]:
    return [t for t in terms if _occurs(t, text)]


def assess_brand(profile: Profile, config: AccountConfig | None) -> BrandView:
    """The brand's own signals for this follower (none without a configuration)."""
    if config is None:
        return BrandView()
    who = _who(profile)
    text = profile_text(profile).lower()
    reasons: list[Reason] = []

    blocked = sorted(who & set(config.blocked_accounts))
    terms = _matches(config.blocked_terms, text)
    if blocked:
        reasons.append(Reason(signal="blocked_account", value=blocked[0], contribution=0,
                              detail="on the brand's block list"))  # fmt: skip
    if terms:
        reasons.append(Reason(signal="blocked_term", value=",".join(terms), contribution=0,
                              detail="profile uses a term the brand blocks"))  # fmt: skip

    listed = False
    for signal, names, detail in (
        ("vip", config.vips, "on the brand's VIP list"),
        ("customer", config.customers, "a known customer"),
    ):
        if who & set(names):
            listed = True
            reasons.append(
                Reason(signal=signal, value=True, contribution=LISTED_PERSON_POINTS, detail=detail)
            )

    topics = _matches(config.topics + config.keywords, text)
    if topics:
        points = min(RELEVANCE_POINTS_MAX, RELEVANCE_POINTS_PER_MATCH * len(topics))
        reasons.append(Reason(signal="relevance", value=",".join(topics), contribution=points,
                              detail="profile matches the brand's topics"))  # fmt: skip
    return BrandView(reasons=reasons, harmful=bool(blocked or terms), always_worth_a_look=listed)
