"""The ingest API on the real broker: every input form lands keyed by follower; bad input never does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from services.ingest.app import create_app
from services.ingest.signatures import sign
from shared.events import Event
from shared.settings import IngestSettings, Settings
from tests.support import T0, end_offsets, event, read_topic

pytestmark = pytest.mark.integration

TOKEN = "test-token-1"
SECRET = "x-consumer-secret"
X_DATA = Path(__file__).resolve().parents[1] / "data" / "x"


@pytest.fixture
def ingest_settings(settings: Settings) -> Settings:
    ingest = IngestSettings(
        tokens=[SecretStr(TOKEN)],
        x_consumer_secret=SecretStr(SECRET),
        max_body_bytes=64 * 1024,
        max_events=50,
    )
    return settings.model_copy(update={"ingest": ingest})


@pytest.fixture
async def client(ingest_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ingest_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest", headers=headers) as c:
            yield c


async def landed(settings: Settings, count: int) -> list[Any]:
    return await read_topic(settings, settings.topic("events"), count, timeout=10)


async def test_one_event_an_array_and_ndjson_land_keyed_by_follower(
    client: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    one = event("i1", "follow", "501", T0)
    batch = [event("i2", "follow", "502", T0), event("i3", "interaction", "501", T0, interaction="like")]
    ndjson = "\n".join(json.dumps(event(f"i{n}", "follow", f"5{n:02d}", T0)) for n in (4, 5)) + "\n"

    answers = [
        await client.post("/v1/events", json=one),
        await client.post("/v1/events", json=batch),
        await client.post("/v1/events", content=ndjson, headers={"Content-Type": "application/x-ndjson"}),
    ]
    assert [(a.status_code, a.json()["accepted"]) for a in answers] == [(202, 1), (202, 2), (202, 2)]

    records = await landed(ingest_settings, 5)
    keyed = {Event.model_validate_json(r.value).event_id: r.key for r in records}
    assert keyed == {"i1": b"501", "i2": b"502", "i3": b"501", "i4": b"504", "i5": b"505"}
    # One follower's events share a partition, so they stay in order.
    partitions = {r.partition for r in records if r.key == b"501"}
    assert len(partitions) == 1


def _bad_requests() -> list[tuple[str, dict[str, Any], int, str]]:
    good = event("b0", "follow", "600", T0)
    wrong_type = {**good, "follower": {**good["follower"], "friends_count": "lots"}}
    missing = {k: v for k, v in good.items() if k != "account_id"}
    unknown = {**good, "type": "block"}
    not_rfc3339 = {**good, "occurred_at": "03/01/2026 09:00"}
    two_days_ahead = event("b1", "follow", "601", datetime.now(UTC) + timedelta(days=2))  # skew: 1 day
    return [
        ("malformed JSON", {"content": b'{"event_id": '}, 400, "(body)"),
        ("wrong types", {"json": [good, wrong_type]}, 422, "follower.friends_count"),
        ("missing field", {"json": missing}, 422, "account_id"),
        ("unknown event type", {"json": unknown}, 422, "type"),
        ("timestamp not RFC 3339", {"json": not_rfc3339}, 422, "occurred_at"),
        ("dated two days after it arrived", {"json": [good, two_days_ahead]}, 422, "occurred_at"),
        # (helper-46: its follower 123 was taken for x's follower 123: one relationship, one churn)
        ("a network not read yet", {"json": [good, {**good, "platform": "instagram"}]}, 422, "platform"),
        ("oversize body", {"content": b"[" + b" " * 70_000 + b"]"}, 413, ""),
        ("too many events", {"json": [good] * 51}, 413, ""),
    ]


@pytest.mark.parametrize(("case", "request_args", "status", "field"), _bad_requests())
async def test_bad_input_gets_a_clear_4xx_and_publishes_nothing(
    client: httpx.AsyncClient,
    ingest_settings: Settings,
    case: str,
    request_args: dict[str, Any],
    status: int,
    field: str,
) -> None:
    before = await end_offsets(ingest_settings, ingest_settings.topic("events"))
    answer = await client.post("/v1/events", **request_args)
    assert answer.status_code == status, (case, answer.text)
    if field:
        assert field in [e["field"] for e in answer.json()["errors"]], answer.text
    assert await end_offsets(ingest_settings, ingest_settings.topic("events")) == before


async def test_a_missing_or_wrong_token_is_refused(
    client: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    one = event("t1", "follow", "700", T0)
    missing = await client.post("/v1/events", json=one, headers={"Authorization": ""})
    wrong = await client.post("/v1/events", json=one, headers={"Authorization": "Bearer nope"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.headers["www-authenticate"] == "Bearer"
    assert await end_offsets(ingest_settings, ingest_settings.topic("events")) == 0


async def test_the_webhook_answers_crc_and_publishes_signed_activity_once_per_id(
    client: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    crc = await client.get("/v1/webhooks/x", params={"crc_token": "challenge"})
    assert crc.json() == {"response_token": sign(SECRET, b"challenge")}

    body = (X_DATA / "follow_events.json").read_bytes()
    signed = {"x-twitter-webhooks-signature": sign(SECRET, body)}
    first = await client.post("/v1/webhooks/x", content=body, headers=signed)
    again = await client.post("/v1/webhooks/x", content=body, headers=signed)  # a re-delivery
    # Ana's follow and unfollow, and the brand's own unfollow of 777 (an unfollowed_back event of 777's)
    assert (first.status_code, first.json()["accepted"]) == (200, 3)
    assert again.json()["accepted"] == 3

    records = await landed(ingest_settings, 6)
    ids = [Event.model_validate_json(r.value).event_id for r in records]
    assert len(ids) == 6
    assert len(set(ids)) == 3  # the re-delivery carries the same event ids
    assert {r.key for r in records} == {b"1462352436237893632", b"777"}


async def test_the_crc_answer_never_signs_a_body_an_outsider_could_post(
    client: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    """The CRC answer is the HMAC a POST's signature is: asked to sign a payload, it signed it, and
    anyone could publish follows and interactions in any follower's name (helper-51)."""
    body = (X_DATA / "follow_events.json").read_bytes().decode()
    crc = await client.get("/v1/webhooks/x", params={"crc_token": body})
    assert crc.status_code == 400
    assert "response_token" not in crc.json()
    spaced = await client.get("/v1/webhooks/x", params={"crc_token": " \ufeff" + body})
    assert spaced.status_code == 400
    assert await end_offsets(ingest_settings, ingest_settings.topic("events")) == 0


@pytest.mark.parametrize(
    "body",
    [
        b'{"for_user_id": "1", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"for_user_id": "1", "follow_events": [{"created_timestamp": ' + b"9" * 5000 + b"}]}",
    ],
    ids=["nested-5000-deep", "integer-of-5000-digits"],
)
async def test_a_signed_body_python_cannot_read_gets_a_400_not_a_500(
    client: httpx.AsyncClient, body: bytes
) -> None:
    answer = await client.post(
        "/v1/webhooks/x", content=body, headers={"x-twitter-webhooks-signature": sign(SECRET, body)}
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "(body)"


async def test_a_bad_or_missing_signature_is_refused_and_publishes_nothing(
    client: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    body = (X_DATA / "activity_events.json").read_bytes()
    forged = await client.post(
        "/v1/webhooks/x", content=body, headers={"x-twitter-webhooks-signature": sign("guess", body)}
    )
    unsigned = await client.post("/v1/webhooks/x", content=body)
    assert (forged.status_code, unsigned.status_code) == (401, 401)
    assert await end_offsets(ingest_settings, ingest_settings.topic("events")) == 0


async def test_a_signed_payload_not_in_xs_shape_gets_a_422_naming_the_part_and_publishes_nothing(
    client: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    """It answered 500 with a traceback (helper-40)."""
    payload = json.loads((X_DATA / "follow_events.json").read_bytes())
    payload["follow_events"][1]["source"] = "abc"
    body = json.dumps(payload).encode()
    answer = await client.post(
        "/v1/webhooks/x", content=body, headers={"x-twitter-webhooks-signature": sign(SECRET, body)}
    )
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"index": None, "field": "follow_events[1].source", "message": "should be an object"}
    ]
    assert await end_offsets(ingest_settings, ingest_settings.topic("events")) == 0


async def test_a_payload_about_no_brand_account_and_no_follower_is_answered_200(
    client: httpx.AsyncClient, ingest_settings: Settings
) -> None:
    """X's subscription revoke (``user_event``) names no ``for_user_id``: it got a 422, which X
    retries as a failed delivery; activity that needs the brand and names none is still refused."""
    revoke = {
        "user_event": {
            "revoke": {
                "date_time": "2018-05-24T09:48:12+00:00",
                "target": {"app_id": "13090192"},
                "source": {"user_id": "63046977"},
            }
        }
    }
    answers = []
    for payload in (revoke, {"follow_events": [{"type": "follow"}]}):
        body = json.dumps(payload).encode()
        signed = {"x-twitter-webhooks-signature": sign(SECRET, body)}
        answers.append(await client.post("/v1/webhooks/x", content=body, headers=signed))
    assert answers[0].status_code == 200
    assert answers[0].json() == {"accepted": 0, "skipped": ["user_event (about no brand account)"]}
    assert answers[1].status_code == 422
    assert answers[1].json()["errors"][0]["field"] == "for_user_id"
    assert await end_offsets(ingest_settings, ingest_settings.topic("events")) == 0


async def test_metrics_count_accepted_events_by_type_and_rejections_by_status_and_path(
    client: httpx.AsyncClient,
) -> None:
    def value(text: str, line_start: str) -> float:
        found = [line for line in text.splitlines() if line.startswith(line_start)]
        return float(found[0].split()[-1]) if found else 0.0

    before = (await client.get("/metrics/")).text
    await client.post(
        "/v1/events", json=[event("m1", "follow", "901", T0), event("m2", "unfollow", "901", T0)]
    )
    await client.post("/v1/events", json={"event_id": "bad"})
    # A webhook signed with another secret (FollowbackIngestUnauthorized reads these by path), and a
    # made-up path, counted as "other" so that requests to any path add no series.
    body = (X_DATA / "activity_events.json").read_bytes()
    await client.post(
        "/v1/webhooks/x", content=body, headers={"x-twitter-webhooks-signature": sign("old", body)}
    )
    await client.post("/v1/no-such-thing-4711", json={})
    after = (await client.get("/metrics/")).text

    follows = 'followback_events_received_total{type="follow"}'
    unfollows = 'followback_events_received_total{type="unfollow"}'
    rejected = 'followback_ingest_rejected_total{path="/v1/events",status="422"}'
    unsigned = 'followback_ingest_rejected_total{path="/v1/webhooks/x",status="401"}'
    elsewhere = 'followback_ingest_rejected_total{path="other",status="404"}'
    assert value(after, follows) - value(before, follows) == 1
    assert value(after, unfollows) - value(before, unfollows) == 1
    assert value(after, rejected) - value(before, rejected) == 1
    assert value(after, unsigned) - value(before, unsigned) == 1
    assert value(after, elsewhere) - value(before, elsewhere) == 1
    assert "no-such-thing-4711" not in after


async def test_readiness_reports_kafka(client: httpx.AsyncClient) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "kafka": "ok"}
