"""The X webhook's HMAC-SHA256 scheme: CRC challenge answers and request signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(secret: str, payload: bytes) -> str:
    """``sha256=`` + base64 of HMAC-SHA256(payload) under the consumer secret, as X sends it."""
    digest = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def crc_response(secret: str, crc_token: str) -> dict[str, str]:
    """The answer to X's CRC GET: proves we hold the consumer secret."""
    return {"response_token": sign(secret, crc_token.encode())}


def verify(secret: str, payload: bytes, header: str | None) -> bool:
    """Whether the signature header matches the body; constant-time."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, payload).encode(), header.strip().encode())
