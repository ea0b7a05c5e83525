"""Hostile input at the ingest API: whatever arrives, the answer is a 2xx or a clear 4xx, never a 5xx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest.app import create_app
from shared.settings import Settings
from tests.support import T0, event

pytestmark = pytest.mark.integration

HOSTILE = st.sampled_from(
    [
        "'; DROP TABLE decisions; --",
        "<script>alert(1)</script>",
        "\u202e\u0000\ud7ff",
        "a" * 2000,
        "9" * 400,
        "{{7*7}}",
        "../../etc/passwd",
        "",
    ]
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(), HOSTILE)
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4)
)


def mutated_events() -> st.SearchStrategy[dict[str, Any]]:
    """Valid events with one field replaced by anything: the realistic shape of bad client input."""
    base = event("fz", "follow", "1", T0)
    fields = ["event_id", "type", "platform", "account_id", "occurred_at", "follower", "interaction"]
    profile_fields = ["id", "screen_name", "description", "followers_count", "created_at", "verified"]

    def top(field: str, value: Any) -> dict[str, Any]:
        return {**base, field: value}

    def inner(field: str, value: Any) -> dict[str, Any]:
        return {**base, "follower": {**base["follower"], field: value}}

    return st.one_of(
        st.builds(top, st.sampled_from(fields), JSON),
        st.builds(inner, st.sampled_from(profile_fields), JSON),
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as c:
            yield c


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(body=st.one_of(JSON.map(lambda v: json.dumps(v).encode()), st.binary(max_size=300)))
async def test_any_body_gets_a_2xx_or_a_4xx(client: httpx.AsyncClient, body: bytes) -> None:
    answer = await client.post("/v1/events", content=body)
    assert answer.status_code in {202, 400, 413, 422}, answer.text


@FUZZ
@given(item=mutated_events())
async def test_events_with_a_hostile_field_are_accepted_or_refused_naming_it(
    client: httpx.AsyncClient, item: dict[str, Any]
) -> None:
    answer = await client.post("/v1/events", content=json.dumps(item).encode())
    assert answer.status_code in {202, 422}, answer.text
    if answer.status_code == 422:
        assert all(error["field"] for error in answer.json()["errors"])
