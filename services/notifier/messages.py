"""What a push, a digest, a retraction and a follow-back request say, rendered from an outbox payload.

Payloads hold data (handle, score, reasons, links), never finished text, so every channel renders
them in its own format at send time. A payload may have lost its handle and name (``followback
forget``): it then names the follower by id.
"""

from __future__ import annotations

import re
from typing import Any

# Why a pushed follower was taken back, by the decision class that retracted them.
RETRACTION_WHY = {
    "withdrawn": "unfollowed",
    "churner": "turned out to be a follow-then-unfollow churner",
    "spam": "turned out to be spam",
    "harmful": "matched the brand's block list",
    "blocked": "was blocked by the brand",  # (harmful: retraction.BLOCKED)
    "suspended": "is no longer available on X",  # (ignore: retraction.SUSPENDED)
    "deactivated": "is no longer available on X",  # (withdrawn: retraction.DEACTIVATED)
}


# Unicode's control characters (Cc) and its line and paragraph separators (Zl, Zp).
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _one_line(text: str) -> str:
    """A follower's text on one line: each run of control characters and line or paragraph
    separators one space. A name with a line break (a newline, U+2028, U+0085: anything
    ``str.splitlines`` splits at) made every e-mail about its follower fail (a header holds no line
    break), and in a Slack message it could start a line of its own ("Decide in the review queue:
    <another link>")."""
    return _BREAKS.sub(" ", text)


def _who(payload: dict[str, Any]) -> str:
    """``@handle (name)``; a follower with no handle (``followback forget`` erased it) by their id."""
    handle = _one_line(str(payload.get("screen_name") or ""))
    name = _one_line(str(payload.get("name") or ""))
    if not handle:
        return f"follower {payload['follower_id']}" if payload.get("follower_id") else "a follower"
    return f"@{handle} ({name})" if name else f"@{handle}"


def _reasons(payload: dict[str, Any], top: int = 3) -> str:
    parts = []
    for reason in payload.get("reasons", [])[:top]:
        points = float(reason.get("contribution", 0))
        parts.append(f"{reason.get('signal', '?')} {points:+.0f}")
    return ", ".join(parts)


def push_subject(payload: dict[str, Any]) -> str:
    return f"[{payload.get('account_id', '?')}] worth following back: {_who(payload)}"


def push_text(payload: dict[str, Any]) -> str:
    """One short paragraph: who, the score, the strongest reasons, where to decide."""
    account, who, score = payload.get("account_id", "?"), _who(payload), float(payload.get("score", 0))
    cls = str(payload.get("class") or "high_value")  # (a payload written before it named the class)
    if cls == "high_value":
        lines = [f"New high-value follower of {account}: {who}, score {score:.0f}."]
    else:  # pushed because a person asked to always hear about this follower
        lines = [f"Follower of {account} you always want to hear about: {who}, {cls.replace('_', ' ')}, "
                 f"score {score:.0f}."]  # fmt: skip
    if reasons := _reasons(payload):
        lines.append(f"Why: {reasons}.")
    if payload.get("url"):
        lines.append(f"Decide in the review queue: {payload['url']}")
    return "\n".join(lines)


def _followers(payload: dict[str, Any]) -> str:
    count = len(payload.get("followers", []))
    return f"{count} follower{'' if count == 1 else 's'}"


def digest_subject(payload: dict[str, Any]) -> str:
    return (
        f"[{payload.get('account_id', '?')}] {_followers(payload)} worth following back, "
        f"{payload.get('period', '?')}"
    )


def digest_text(payload: dict[str, Any]) -> str:
    """One line per follower (who, score, the strongest reasons, their link), highest score first."""
    lines = [
        f"{_followers(payload)} worth following back for {payload.get('account_id', '?')}, "
        f"{payload.get('period', '?')}:"
    ]
    for follower in payload.get("followers", []):
        line = f"- {_who(follower)}, score {float(follower.get('score', 0)):.0f}."
        if reasons := _reasons(follower):
            line += f" Why: {reasons}."
        if follower.get("url"):
            line += f" {follower['url']}"
        lines.append(line)
    if payload.get("url"):
        lines.append(f"Decide in the review queue: {payload['url']}")
    return "\n".join(lines)


def retraction_subject(payload: dict[str, Any]) -> str:
    return f"[{payload.get('account_id', '?')}] retracted: {_who(payload)}"


def retraction_text(payload: dict[str, Any]) -> str:
    why = RETRACTION_WHY.get(str(payload.get("retracted_as")), "left")
    return (
        f"Retracted: {_who(payload)} {why} before anyone acted; "
        f"removed from the review queue of {payload.get('account_id', '?')}. No action needed."
    )


def subject(kind: str, payload: dict[str, Any]) -> str:
    if kind == "digest":
        return digest_subject(payload)
    return retraction_subject(payload) if kind == "retraction" else push_subject(payload)


def text(kind: str, payload: dict[str, Any]) -> str:
    if kind == "digest":
        return digest_text(payload)
    return retraction_text(payload) if kind == "retraction" else push_text(payload)
