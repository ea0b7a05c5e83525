"""Sessions and CSRF for the review queue: a signed cookie, a token per session, constant-time checks.

The session cookie holds the user (none before login), the session's CSRF token, when it was
issued and a key of the user's password hash at login (a MAC of it, see ``Signer.credential_key``),
signed with HMAC-SHA256 under the configured secret. The review queue checks that key against the
user's current hash on every request, so removing a user (``followback user remove``) or setting a
new password ends their sessions at once, rather than when the cookie expires. It is HttpOnly,
SameSite=Lax, and Secure in production. Every form carries the session's token; a POST without the
matching token (a forged form on another site cannot read it) is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from starlette.responses import Response

COOKIE = "followback_session"
FLASH = "followback_flash"


@dataclass(frozen=True)
class Session:
    user: str | None
    csrf: str
    issued: int
    key: str = ""  # the user's credential key at login (``Signer.credential_key``); "" before login

    @classmethod
    def fresh(cls, user: str | None = None, key: str = "") -> Session:
        """A new session with a new CSRF token (on login, so a token seen before login is useless)."""
        return cls(user=user, csrf=secrets.token_urlsafe(32), issued=int(time.time()), key=key)

    def csrf_matches(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), str(token).encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and checks short values (the session, the one-time notice) under one secret."""

    def __init__(self, secret: bytes, max_age_s: int, secure: bool) -> None:
        self.secret, self.max_age_s, self.secure = secret, max_age_s, secure

    def _mac(self, purpose: str, body: str) -> str:
        return _b64(hmac.new(self.secret, f"{purpose}.{body}".encode(), hashlib.sha256).digest())

    def sign(self, purpose: str, value: object) -> str:
        body = _b64(json.dumps(value, separators=(",", ":")).encode())
        return f"{body}.{self._mac(purpose, body)}"

    def credential_key(self, password_hash: str) -> str:
        """What a session keeps of the user's password hash: a MAC, so the cookie reveals nothing of it."""
        return self._mac("credential", password_hash)

    def unsign(self, purpose: str, token: str | None) -> object | None:
        if not token or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500 on
        # every page while a browser sent such a cookie), and a cookie's text is whatever it sends.
        if not hmac.compare_digest(mac.encode(), self._mac(purpose, body).encode()):
            return None
        try:
            value: object = json.loads(_unb64(body))
        except ValueError:
            return None
        return value

    def load_session(self, cookie: str | None) -> Session | None:
        """The session in a cookie, if its signature holds and it has not expired."""
        value = self.unsign("session", cookie)
        if not isinstance(value, dict):
            return None
        try:
            session = Session(
                user=value["u"], csrf=str(value["c"]), issued=int(value["t"]), key=str(value.get("k", ""))
            )
        except (KeyError, TypeError, ValueError):
            return None
        if time.time() - session.issued > self.max_age_s:
            return None
        return session

    def store_session(self, response: Response, session: Session) -> None:
        value = self.sign(
            "session", {"u": session.user, "c": session.csrf, "t": session.issued, "k": session.key}
        )
        response.set_cookie(
            COOKIE, value, max_age=self.max_age_s, httponly=True, samesite="lax", secure=self.secure, path="/"
        )

    def store_notice(self, response: Response, text: str) -> None:
        response.set_cookie(
            FLASH, self.sign("notice", text[:300]), max_age=60, httponly=True, samesite="lax",
            secure=self.secure, path="/",
        )  # fmt: skip
