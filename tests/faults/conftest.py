"""The reference every fault test compares with: the sample stream through an undisturbed pipeline."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from followback import sample
from shared.events import Event
from tests.conftest import Infra, isolated_settings
from tests.e2e.conftest import with_free_ports
from tests.faults.harness import Outcome, Sender, Services, ingest_url, run_stream

SEED = 9
FOLLOWERS = 2000  # about 3,000 events
DRAIN_TIMEOUT_S = 150


@dataclass(frozen=True)
class Reference:
    events: list[Event]
    outcome: Outcome
    seconds: float  # from the first post to the drained pipeline


@pytest.fixture(scope="session")
async def reference(infra: Infra) -> Reference:
    """Computed once per session in its own database and topics (dropped afterwards)."""
    events = sample.generate(followers=FOLLOWERS, seed=SEED)
    async with isolated_settings(infra) as isolated:
        config = with_free_ports(isolated)
        sender = Sender(ingest_url(config))
        run = await run_stream(
            config, Services(config), lambda: sender.stream(events, batch=500, pause_s=0),
            drain_timeout_s=DRAIN_TIMEOUT_S, events=len(events),
        )  # fmt: skip
        found, seconds = run.outcome, run.seconds
    assert found.processed == {e.event_id for e in events}
    assert found.alerts, "the sample stream raises churn alerts, so the fault tests compare them"
    assert set(found.open_pushes().values()) == {"sent"}, found.errors
    assert max(Counter(post.key for post in run.posts).values()) == 1
    return Reference(events, found, seconds)
