"""Hostile forms at the review queue (property-based): every POST route (login, logout, the actions
including the notify preferences, delivery retry) gets arbitrary fields and values (huge, unicode,
NUL, SQL and script injection, missing, duplicated, wrong types, wrong content types, raw bytes),
without a session, with a forged one, with an anonymous one and with a logged-in one and its CSRF
token. The answer is never a 5xx; a refusal is a 4xx and changes nothing in PostgreSQL (a refused
login only appends its own ``login_failed`` / ``login_throttled`` audit entry, by design). The queue
page's filters (GET) take any query and answer 200 with the values escaped.

The review queue's web app runs in process on the real database (the service's pooled role).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlencode

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.notifier import intake
from services.notifier.actions import Action
from services.notifier.passwords import hash_password
from services.notifier.web.app import WebState, create_web_app
from services.notifier.web.auth import COOKIE
from shared.db import create_pool
from shared.settings import NotifierSettings, Settings
from tests.notifier_support import decision, record

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
ROUTES = ("/login", "/logout", "/actions", "/deliveries/retry")
FIELDS = ("csrf", "username", "password", "back", "action", "account_id", "follower_id", "delivery_id")
HOSTILE = st.sampled_from(
    [
        "'; DROP TABLE review_items; --",
        "1 OR 1=1",
        "brand' OR '1'='1",
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "{{7*7}}",
        "\u0000",
        "ana\u0000",
        "\u202e\ufeff\U0001f600",
        "Ωmega ünïcödé 漢字",
        "a" * 3000,
        "9" * 40,
        "-1",
        "0",
        "1e309",
        "NaN",
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "\r\nSet-Cookie: x=1",
        "",
    ]
)
# Values a real form would hold, so the fuzzer also reaches the paths behind the checks.
REAL = st.sampled_from(["ana", PASSWORD, "brand", "10", "11", "1", "2", "/", "/?state=open", *Action])
VALUES = st.one_of(HOSTILE, REAL, st.text(max_size=60), st.integers().map(str))
NAMES = st.one_of(st.sampled_from(FIELDS), st.text(max_size=20), st.sampled_from(["csrf[]", "delivery_id[]"]))
PAIRS = st.lists(st.tuples(NAMES, VALUES), max_size=8)
CONTENT_TYPES = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/json",
        "multipart/form-data; boundary=xyz",
        "text/plain",
        None,
    ]
)
SESSIONS = st.sampled_from(["none", "forged", "anonymous", "user"])
TRIED: Counter[tuple[str, str, int]] = Counter()


@dataclass
class Queue:
    client: httpx.AsyncClient
    db: asyncpg.Connection
    anonymous: tuple[str, str]  # (cookie, csrf) of a session before login
    user: tuple[str, str]  # (cookie, csrf) of ana's session


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _session(client: httpx.AsyncClient, response: httpx.Response) -> tuple[str, str]:
    cookie = response.cookies[COOKIE]
    match = CSRF.search(response.text)
    assert match, response.text
    client.cookies.clear()
    return cookie, match.group(1)


@pytest.fixture
async def queue(settings: Settings, db: asyncpg.Connection) -> AsyncIterator[Queue]:
    notifier = NotifierSettings(users={"ana": hash_password(PASSWORD)})  # type: ignore[dict-item]
    config = settings.model_copy(update={"notifier": notifier})
    # A queue with a high-value follower (pushed), a worth-following one, and a dead delivery.
    await record(db, [(decision("10", "high_value", 88.0), 1), (decision("11", "worth_following", 60.0), 1)])
    TRIED.clear()
    pool = await create_pool(config.postgres)
    async with pool.acquire() as conn, conn.transaction():
        await intake.record(
            conn,
            [decision("10", "high_value", 88.0), decision("11", "worth_following", 60.0)],
            intake.IntakeSettings(notifier=notifier, queue_url="http://queue"),
        )
    await db.execute(
        """
        INSERT INTO deliveries (idempotency_key, account_id, follower_id, channel, kind, target, payload,
            status, attempts, last_error)
        VALUES ('fuzz-dead', 'brand', '10', 'slack', 'push', 'http://127.0.0.1:9/', '{}', 'dead', 8, 'gone')
        """
    )
    web = create_web_app(config, WebState(pool=pool))
    transport = httpx.ASGITransport(app=web)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://queue") as client:
            anonymous = await _session(client, await client.get("/login"))
            login = await client.post(
                "/login",
                data={"csrf": anonymous[1], "username": "ana", "password": PASSWORD, "back": "/"},
                headers={"Cookie": f"{COOKIE}={anonymous[0]}"},
            )
            assert login.status_code == 303, login.text
            cookie = login.cookies[COOKIE]
            client.cookies.clear()
            page = await client.get("/", headers={"Cookie": f"{COOKIE}={cookie}"})
            assert page.status_code == 200
            match = CSRF.search(page.text)
            assert match, page.text
            user = (cookie, match.group(1))
            yield Queue(client, db, anonymous, user)
    finally:
        await pool.close()
        print("\nreview queue fuzz: (route, session, status) -> cases:")
        for key, count in sorted(TRIED.items()):
            print(f"  {key}: {count}")
        print(f"  total: {sum(TRIED.values())}")


async def snapshot(db: asyncpg.Connection) -> tuple[dict[str, str], list[str]]:
    """A digest of every table but the review audit, and the audit's actions in order."""
    tables = await db.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'review_audit' "
        "ORDER BY tablename"
    )
    digests = {}
    for row in tables:
        name = row["tablename"]
        digests[name] = await db.fetchval(
            f"SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM \"{name}\" t"  # noqa: S608
        )
    audit = await db.fetch("SELECT action FROM review_audit ORDER BY at, action_id")
    return digests, [r["action"] for r in audit]


def body_of(pairs: list[tuple[str, str]], csrf: str | None, raw: bytes | None) -> bytes:
    if raw is not None:
        return raw
    fields = ([("csrf", csrf)] if csrf is not None else []) + pairs
    return urlencode(fields).encode()


FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(
    route=st.sampled_from(ROUTES),
    session=SESSIONS,
    with_token=st.booleans(),
    pairs=PAIRS,
    content_type=CONTENT_TYPES,
    raw=st.one_of(st.none(), st.none(), st.binary(max_size=200), st.just(b"a=" + b"x" * 20_000)),
)
async def test_no_form_gets_a_5xx_and_a_refusal_changes_nothing(
    queue: Queue,
    route: str,
    session: str,
    with_token: bool,
    pairs: list[tuple[str, str]],
    content_type: str | None,
    raw: bytes | None,
) -> None:
    cookie, csrf = {
        "none": (None, None),
        "forged": ("eyJ1IjoiYW5hIn0.forged", "forged"),
        "anonymous": queue.anonymous,
        "user": queue.user,
    }[session]
    headers = {}
    if cookie is not None:
        headers["Cookie"] = f"{COOKIE}={cookie}"
    if content_type is not None:
        headers["Content-Type"] = content_type
    before = await snapshot(queue.db)

    queue.client.cookies.clear()
    answer = await queue.client.post(route, content=body_of(pairs, csrf if with_token else None, raw),
                                     headers=headers)  # fmt: skip
    TRIED[(route, session, answer.status_code)] += 1

    assert answer.status_code < 500, answer.text
    assert answer.status_code == 303 or 400 <= answer.status_code < 500, answer.status_code
    if answer.status_code >= 400:
        tables, audit = await snapshot(queue.db)
        assert tables == before[0], f"a refused POST {route} ({answer.status_code}) changed a table"
        added = audit[len(before[1]) :]
        assert audit[: len(before[1])] == before[1]
        allowed = {"login_failed", "login_throttled"} if route == "/login" else set()
        assert set(added) <= allowed, f"a refused POST {route} ({answer.status_code}) audited {added}"


ROUTE_FIELDS = {
    "/login": ("username", "password", "back"),
    "/logout": ("back",),
    "/actions": ("action", "account_id", "follower_id", "back"),
    "/deliveries/retry": ("delivery_id", "back"),
}

# Real values half the time, so the hostile one in another field reaches the code behind the checks.
FIELD_VALUES = {
    "action": st.one_of(st.sampled_from(list(Action)).map(str), VALUES),
    "account_id": st.one_of(st.just("brand"), VALUES),
    "follower_id": st.one_of(st.sampled_from(["10", "11"]), VALUES),
    "username": st.one_of(st.just("ana"), VALUES),
}


@st.composite
def route_forms(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    """A route and its own fields, each missing, real, hostile or any text, plus unknown fields."""
    route = draw(st.sampled_from(ROUTES))
    fields = draw(
        st.fixed_dictionaries({}, optional={f: FIELD_VALUES.get(f, VALUES) for f in ROUTE_FIELDS[route]})
    )
    extra = draw(st.lists(st.tuples(st.text(max_size=10).filter(lambda n: n != "csrf"), VALUES), max_size=2))
    return route, [*fields.items(), *extra]


@FUZZ
@given(form=route_forms())
async def test_well_formed_forms_with_the_right_session_and_token_never_get_a_5xx(
    queue: Queue, form: tuple[str, list[tuple[str, str]]]
) -> None:
    """Past every check (the session of the route and its CSRF token): the fields themselves are hostile."""
    route, pairs = form
    cookie, csrf = queue.anonymous if route == "/login" else queue.user
    before = await snapshot(queue.db)
    queue.client.cookies.clear()
    answer = await queue.client.post(
        route,
        content=body_of(pairs, csrf, None),
        headers={"Cookie": f"{COOKIE}={cookie}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    TRIED[(route, "right session and token", answer.status_code)] += 1
    assert answer.status_code < 500, answer.text
    assert answer.status_code == 303 or 400 <= answer.status_code < 500, answer.status_code
    if answer.status_code >= 400:
        tables, audit = await snapshot(queue.db)
        assert tables == before[0], f"a refused POST {route} ({answer.status_code}) changed a table"
        allowed = {"login_failed", "login_throttled"} if route == "/login" else set()
        assert set(audit[len(before[1]) :]) <= allowed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(delivery_id=st.one_of(st.integers().map(str), HOSTILE, st.text(max_size=30)))
async def test_retry_with_any_delivery_id_is_a_redirect_or_a_4xx(queue: Queue, delivery_id: str) -> None:
    """The one numeric field, with the logged-in session and its token: any value, never a 5xx."""
    cookie, csrf = queue.user
    before = await snapshot(queue.db)
    queue.client.cookies.clear()
    answer = await queue.client.post(
        "/deliveries/retry",
        data={"csrf": csrf, "delivery_id": delivery_id, "back": "/"},
        headers={"Cookie": f"{COOKIE}={cookie}"},
    )
    TRIED[("/deliveries/retry", "user:delivery_id", answer.status_code)] += 1
    assert answer.status_code in {303, 400}, answer.text
    if answer.status_code == 400:
        assert await snapshot(queue.db) == before


async def test_the_logged_in_fixture_can_act(queue: Queue) -> None:
    """The fuzzer's valid session is really valid: a real action with its token is recorded."""
    cookie, csrf = queue.user
    answer = await queue.client.post(
        "/actions",
        data={"csrf": csrf, "action": "dismiss", "account_id": "brand", "follower_id": "11", "back": "/"},
        headers={"Cookie": f"{COOKIE}={cookie}"},
    )
    assert answer.status_code == 303
    state = await queue.db.fetchval("SELECT state FROM review_items WHERE follower_id = '11'")
    assert state == "dismissed"


QUERY_NAMES = st.one_of(
    st.sampled_from(["class", "state", "account", "sort", "q", "page"]), st.text(max_size=10)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.lists(st.tuples(QUERY_NAMES, VALUES), max_size=6))
async def test_the_queue_page_with_any_query_is_shown_and_escaped(
    queue: Queue, params: list[tuple[str, str]]
) -> None:
    """The filters of the page (GET, logged in): any values, never a 5xx, never echoed unescaped."""
    cookie, _ = queue.user
    queue.client.cookies.clear()
    answer = await queue.client.get(f"/?{urlencode(params)}", headers={"Cookie": f"{COOKIE}={cookie}"})
    TRIED[("/", "user:query", answer.status_code)] += 1
    assert answer.status_code == 200, answer.text
    assert "<script>alert(1)</script>" not in answer.text
    assert "<img src=x onerror" not in answer.text
