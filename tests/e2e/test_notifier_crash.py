"""The notifier killed with SIGKILL mid-delivery: after a restart nothing is sent twice."""

from __future__ import annotations

import asyncio
from collections import Counter

import asyncpg
import pytest

from followback import runner
from shared.settings import Settings
from tests.e2e.conftest import as_env
from tests.notifier_support import configure, decision, send
from tests.receivers import WebhookReceiver
from tests.support import eventually

pytestmark = pytest.mark.e2e


def notifier_env(settings: Settings) -> dict[str, str]:
    return {
        **as_env(settings),
        "FOLLOWBACK_NOTIFIER__CLAIM_BATCH": "1",  # one send at a time, so the kill lands inside one
        "FOLLOWBACK_NOTIFIER__POLL_INTERVAL_S": "0.1",
        "FOLLOWBACK_NOTIFIER__LEASE_S": "2",
    }


async def test_no_push_is_sent_twice_after_the_notifier_is_killed_mid_delivery(
    e2e_settings: Settings, db: asyncpg.Connection
) -> None:
    with WebhookReceiver(delay_s=1.0) as slack:
        await configure(db, "brand", slack_webhook_url=slack.url())
        await send(e2e_settings, db, [(decision(str(f), "high_value", 70 + f), 1) for f in range(1, 6)])

        first = runner.spawn(["notifier"], env=notifier_env(e2e_settings))[0]
        try:
            # The receiver records a request before it answers: kill while the answer is pending.
            await eventually(lambda: asyncio.sleep(0, len(slack.posts)), lambda n: n >= 1, timeout=60)
            first.kill()
            first.wait()
        finally:
            runner.stop([first])
        in_flight = slack.posts[0].key
        slack.delay_s = 0.0

        second = runner.spawn(["notifier"], env=notifier_env(e2e_settings))
        try:
            runner.wait_healthy(e2e_settings, ["notifier"], timeout=60)

            async def settled() -> list[tuple[str, str]]:
                rows = await db.fetch("SELECT idempotency_key, status FROM deliveries ORDER BY 1")
                return [(r["idempotency_key"], r["status"]) for r in rows]

            states = await eventually(
                settled, lambda rows: sorted(s for _, s in rows) == ["sent"] * 4 + ["unknown"], timeout=60
            )
        finally:
            runner.stop(second)

    assert Counter(p.key for p in slack.posts) == Counter({key: 1 for key, _ in states})
    # The send the kill interrupted may have arrived (here it did): it is marked, never repeated.
    assert dict(states)[in_flight] == "unknown"
    error = await db.fetchval("SELECT last_error FROM deliveries WHERE idempotency_key = $1", in_flight)
    assert "interrupted mid-send" in error
