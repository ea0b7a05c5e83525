"""A JSON POST with an idempotency key, its failures sorted into retry, permanent and in doubt."""

from __future__ import annotations

from typing import Any

import httpx

from services.notifier.channels import InDoubtError, PermanentError, RetryableError

# Answers after which the same request may well succeed later.
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


async def post_json(client: httpx.AsyncClient, url: str, body: dict[str, Any], key: str) -> None:
    """POST ``body``; raises a channel error unless the receiver answered 2xx."""
    try:
        response = await client.post(url, json=body, headers={"Idempotency-Key": key})
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
        raise RetryableError(f"could not connect: {type(error).__name__}: {error}") from error
    except httpx.TransportError as error:
        # The request may have been received before the connection broke or timed out.
        raise InDoubtError(f"no answer: {type(error).__name__}: {error}") from error
    if response.is_success:
        return
    detail = f"HTTP {response.status_code}: {response.text[:200]}"
    if response.status_code in RETRYABLE_STATUS:
        raise RetryableError(detail)
    raise PermanentError(detail)
