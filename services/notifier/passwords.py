"""Password hashes for the review queue's users: scrypt from the standard library.

The stored form is ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (salt and hash in URL-safe base64), so the
cost can be raised later without invalidating existing hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# scrypt's interactive-login parameters: ~16 MiB and tens of milliseconds per check.
N, R, P, LENGTH = 2**14, 8, 1, 32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in the stored form."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=LENGTH)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def is_hash(text: str) -> bool:
    parts = text.split("$")
    return len(parts) == 6 and parts[0] == "scrypt" and all(p.isdigit() for p in parts[1:4])


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; False for any malformed hash."""
    if not is_hash(stored):
        return False
    _, n, r, p, salt, expected = stored.split("$")
    try:
        digest = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(_unb64(expected))
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(digest, _unb64(expected))


# Checked against when the user does not exist, so a wrong name costs as long as a wrong password.
DECOY = hash_password(secrets.token_urlsafe(16))
