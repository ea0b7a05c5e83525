"""The brand's own follow-back tooling: the recorded action POSTed as JSON to a configured URL.

followback never follows anyone; this tells the brand's tooling that a person decided to, and it
carries the idempotency key so that tooling can recognise a repeat.
"""

from __future__ import annotations

import httpx

from services.notifier.channels import Outgoing
from services.notifier.channels.http import post_json


class FollowBackWebhook:
    name = "follow_back_webhook"
    deduplicates = False

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, message: Outgoing) -> None:
        body = {"idempotency_key": message.idempotency_key, **message.payload}
        await post_json(self.client, message.target, body, message.idempotency_key)
