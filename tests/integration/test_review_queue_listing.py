"""The review queue's listing queries on a real database: the account list, the filters, sorts and
pages, and each follower's interactions, as the page shows them."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from services.notifier import profiles
from services.notifier.web import listing
from shared import accounts

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def add_item(
    conn: asyncpg.Connection,
    account: str,
    follower: str,
    *,
    cls: str = "high_value",
    state: str = "open",
    score: float = 80,
    minutes: int = 0,
    screen_name: str = "",
) -> None:
    await conn.execute(
        """
        INSERT INTO review_items (account_id, follower_id, decision_id, version, class, score, reasons,
                                  screen_name, profile, occurred_at, state, decided_by, decided_at)
        VALUES ($1, $2, gen_random_uuid(), 1, $3, $4, '[]', $5, '{}', $6, $7,
                CASE WHEN $7 = 'open' THEN NULL ELSE 'someone' END,
                CASE WHEN $7 = 'open' THEN NULL ELSE now() END)
        """,
        account,
        follower,
        cls,
        score,
        screen_name or f"user_{follower}",
        T0 + timedelta(minutes=minutes),
        state,
    )


async def add_event(
    conn: asyncpg.Connection,
    event_id: str,
    account: str,
    follower: str,
    kind: str,
    minutes: int,
    text: str = "",
) -> None:
    event: dict[str, object] = {
        "event_id": event_id,
        "type": kind,
        "account_id": account,
        "follower": {"id": follower},
    }
    if kind == "interaction":
        event["interaction"] = {"kind": "reply", "text": text}
    await conn.execute(
        "INSERT INTO churn_processed (event_id, account_id, follower_id, occurred_at, annotated) "
        "VALUES ($1, $2, $3, $4, $5::text::jsonb)",
        event_id,
        account,
        follower,
        T0 + timedelta(minutes=minutes),
        json.dumps({"event": event, "relationship": {"revision": 0}}),
    )


async def test_accounts_lists_every_account_once_in_order_including_one_with_a_single_item(
    conn: asyncpg.Connection,
) -> None:
    assert await listing.accounts(conn) == []
    for i in range(30):
        await add_item(conn, "brand", f"f{i}")
    for i in range(3):
        await add_item(conn, "Zeta", f"f{i}")
    await add_item(conn, "alone", "f0")
    await add_item(conn, "", "empty-account")  # an empty id is still an account the table holds
    expected = [
        r["account_id"] for r in await conn.fetch("SELECT DISTINCT account_id FROM review_items ORDER BY 1")
    ]
    assert await listing.accounts(conn) == expected
    assert set(expected) == {"brand", "Zeta", "alone", ""}


async def test_filters_sorts_and_pages_list_what_the_plain_query_lists(conn: asyncpg.Connection) -> None:
    classes = ("high_value", "worth_following", "ignore")
    states = ("open", "dismissed", "followed_back")
    for i in range(60):
        await add_item(
            conn,
            "brand" if i % 4 else "other",
            f"{1000 + i}",
            cls=classes[i % 3],
            state=states[(i // 3) % 3],
            score=float(50 + (i * 7) % 13),  # ties on score, broken by time, then by id
            minutes=(i * 5) % 17,  # and ties on time, broken by id
            screen_name=f"Handle{i}",
        )

    async def reference(f: listing.Filters, size: int) -> tuple[int, list[tuple[str, str]]]:
        where = """
            ($1 = 'any' OR r.class = $1) AND ($2 = 'any' OR r.state = $2) AND ($3 = '' OR r.account_id = $3)
            AND ($4 = '' OR r.follower_id = $4 OR lower(r.screen_name) = lower($4))
        """
        args = (f.cls, f.state, f.account, f.q)
        total = await conn.fetchval(f"SELECT count(*) FROM review_items r WHERE {where}", *args)  # noqa: S608
        rows = await conn.fetch(
            f"SELECT account_id, follower_id FROM review_items r WHERE {where} "  # noqa: S608
            f"ORDER BY {listing.SORTS[f.sort]} LIMIT $5 OFFSET $6",
            *args,
            size,
            (f.page - 1) * size,
        )
        return int(total), [(r["account_id"], r["follower_id"]) for r in rows]

    cases = [
        {"class": c, "state": s, "sort": sort, "page": str(page)}
        for c in (*classes[:2], "any")
        for s in ("open", "any")
        for sort in listing.SORTS
        for page in (1, 2, 4)
    ] + [
        {"class": "any", "state": "any", "account": "other"},
        {"class": "any", "state": "any", "account": "other", "sort": "oldest", "page": "2"},
        {"class": "any", "state": "any", "q": "1007"},  # by id
        {"class": "any", "state": "any", "q": "@HANDLE7"},  # by handle, whatever its case
        {"class": "any", "state": "any", "q": "Handle"},  # an exact match, not a prefix
        {"class": "any", "state": "any", "q": "handle8", "account": "other"},
        {"class": "any", "state": "any", "q": "handle8", "account": "brand"},
        {"class": "worth_following", "state": "dismissed", "account": "brand"},
    ]
    for params in cases:
        f = listing.Filters.parse(params)
        page = await listing.queue_page(conn, f, 7)
        total, keys = await reference(f, 7)
        assert (page.total, [(r["account_id"], r["follower_id"]) for r in page.rows]) == (total, keys), params
        assert page.pages == max(1, -(-total // 7))
    assert (
        await listing.queue_page(
            conn, listing.Filters.parse({"q": "handle7", "class": "any", "state": "any"}), 7
        )
    ).total == 1
    assert (
        await listing.queue_page(
            conn, listing.Filters.parse({"q": "Handle", "class": "any", "state": "any"}), 7
        )
    ).total == 0


async def test_interactions_give_each_relationship_its_newest_five_and_its_count(
    conn: asyncpg.Connection,
) -> None:
    # One follower with 8 interactions on "brand" among follows and unfollows, 3 on "other"; a
    # second follower with none; one interaction's annotation revised (stored again).
    await add_event(conn, "f1", "brand", "fan", "follow", 0)
    for i in range(8):
        await add_event(conn, f"b{i}", "brand", "fan", "interaction", 10 + i, f"brand says {i}")
        await add_event(conn, f"u{i}", "brand", "fan", "unfollow" if i % 2 else "follow", 11 + i)
    for i in range(3):
        await add_event(conn, f"o{i}", "other", "fan", "interaction", 100 + i, f"other says {i}")
    await add_event(conn, "f2", "brand", "quiet", "follow", 0)
    await conn.execute(
        "UPDATE churn_processed SET annotated = jsonb_set(annotated, '{relationship,revision}', '1') "
        "WHERE event_id = 'b7'"
    )
    seen = await profiles.interactions(conn, [("brand", "fan"), ("other", "fan"), ("brand", "quiet")])
    assert set(seen) == {("brand", "fan"), ("other", "fan")}  # none: no entry, as before
    brand, other = seen[("brand", "fan")], seen[("other", "fan")]
    assert brand.total == 8
    assert [s.text for s in brand.latest] == [f"brand says {i}" for i in (7, 6, 5, 4, 3)]
    assert [s.at for s in brand.latest] == [T0 + timedelta(minutes=10 + i) for i in (7, 6, 5, 4, 3)]
    assert {s.kind for s in brand.latest} == {"reply"}
    assert other.total == 3
    assert [s.text for s in other.latest] == [f"other says {i}" for i in (2, 1, 0)]
    assert await profiles.interactions(conn, []) == {}
    assert (await profiles.interactions(conn, [("brand", "fan")], per_follower=2))[
        ("brand", "fan")
    ].total == 8


async def test_each_row_carries_its_brands_zone_from_its_newest_configuration(
    conn: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """The page's times are on each brand's clock: its newest configuration's zone (an older version's
    is history), UTC for a brand with none or with a stored zone this machine does not know (warned
    of once, not on every page load)."""
    await accounts.save(conn, "ny", accounts.AccountConfig(timezone="Europe/Paris"), "test")
    await accounts.save(conn, "ny", accounts.AccountConfig(timezone="America/New_York"), "test")
    await conn.execute(  # stored by a machine whose tz database knew it: this one does not
        "INSERT INTO account_configs (account_id, version, config) VALUES ('elsewhere', 1, $1::text::jsonb)",
        json.dumps({"timezone": "Mars/Olympus_Mons"}),
    )
    for account in ("ny", "plain", "elsewhere"):
        await add_item(conn, account, "f1")
        await add_item(conn, account, "f2")
    with caplog.at_level(logging.WARNING, logger=accounts.log.name):
        for _ in range(3):
            page = await listing.queue_page(conn, listing.Filters(), 10)
    warned = [r.getMessage() for r in caplog.records if r.name == accounts.log.name]
    assert warned == [
        "elsewhere's time zone 'Mars/Olympus_Mons' is unknown here (its tz database); using UTC"
    ]
    assert {(r["account_id"], r["follower_id"]): r["zone"] for r in page.rows} == {
        ("ny", "f1"): ZoneInfo("America/New_York"), ("ny", "f2"): ZoneInfo("America/New_York"),
        ("plain", "f1"): UTC, ("plain", "f2"): UTC,
        ("elsewhere", "f1"): UTC, ("elsewhere", "f2"): UTC,
    }  # fmt: skip
    assert (await listing.queue_page(conn, listing.Filters(account="nobody"), 10)).rows == []
