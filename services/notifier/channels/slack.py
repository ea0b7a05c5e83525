"""A Slack-compatible incoming webhook: ``{"text": ...}`` POSTed to the configured URL."""

from __future__ import annotations

import httpx

from services.notifier import messages
from services.notifier.channels import Outgoing
from services.notifier.channels.http import post_json


def escape(text: str) -> str:
    """Slack's escaping: names and bios must not become links or @channel mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackChannel:
    name = "slack"
    deduplicates = False

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, message: Outgoing) -> None:
        body = {"text": escape(messages.text(message.kind, message.payload))}
        await post_json(self.client, message.target, body, message.idempotency_key)
