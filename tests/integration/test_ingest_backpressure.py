"""Back-pressure: while the broker is down ingest answers 503 with Retry-After; then it recovers."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from followback.infra import kafka as local_kafka
from services.ingest.app import create_app
from shared.events import Event
from shared.settings import IngestSettings, Settings
from tests.conftest import Infra
from tests.support import T0, event, read_topic

pytestmark = pytest.mark.integration


async def test_503_while_the_broker_is_stopped_and_202_after_it_restarts_with_nothing_lost(
    infra: Infra, settings: Settings
) -> None:
    if infra.bootstrap != local_kafka.bootstrap() or not local_kafka.running():
        pytest.skip("needs the broker of the local launcher, which this test stops and restarts")
    config = settings.model_copy(update={"ingest": IngestSettings(publish_timeout_s=2, retry_after_s=3)})
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest", timeout=30) as client:
            before = await client.post("/v1/events", json=event("bp1", "follow", "801", T0))
            assert before.status_code == 202

            await asyncio.to_thread(local_kafka.stop)
            try:
                during = await client.post("/v1/events", json=event("bp2", "follow", "802", T0))
                assert during.status_code == 503, during.text
                assert during.headers["retry-after"] == "3"
                assert (await client.get("/readyz")).status_code == 503
            finally:
                await asyncio.to_thread(local_kafka.start)

            # A client honouring Retry-After sends the refused request again until it is accepted.
            deadline = time.monotonic() + 60
            after = during
            while after.status_code != 202 and time.monotonic() < deadline:
                await asyncio.sleep(1)
                after = await client.post("/v1/events", json=event("bp2", "follow", "802", T0))
            assert after.status_code == 202, after.text
            assert (await client.get("/readyz")).status_code == 200

    records = await read_topic(config, config.topic("events"), 2, timeout=20)
    assert {Event.model_validate_json(r.value).event_id for r in records} == {"bp1", "bp2"}
