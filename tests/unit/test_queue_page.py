"""The review queue page's template, rendered without a database."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from services.notifier import profiles
from services.notifier.web import app
from services.notifier.web.listing import CLASSES, SORTS, STATES, Filters, Page
from shared.accounts import STORED, AccountConfig, zone_of

NEW_YORK = zone_of(AccountConfig(timezone="America/New_York"))


def render_row(**row: Any) -> str:
    """The page with one row: an open high-value follower, with ``row``'s columns instead."""
    return render_rows(row)


def render_rows(*rows: dict[str, Any]) -> str:
    """The page with these rows: each an open high-value follower of a brand in UTC, with its columns
    instead."""
    base = {
        "account_id": "brand", "follower_id": "42", "decision_id": "d1", "class": "high_value",
        "score": 80.0, "reasons": [], "screen_name": "ana", "profile": {}, "occurred_at": None,
        "state": "open", "decided_by": None, "decided_at": None, "push": None,
        "suppressed_reason": None, "notification": None, "preference": None, "erased": False,
        "interactions": None, "zone": UTC,
    }  # fmt: skip
    page = Page(rows=[{**base, **row} for row in rows], total=len(rows), pages=1)
    return app.environment().get_template("queue.html").render(
        user="ana", csrf="t", page=page, filters=Filters(), accounts=[], classes=CLASSES, states=STATES,
        sorts=list(SORTS), troubled=0, problems=[], notice="", here="/",
    )  # fmt: skip


def _render(profile: dict[str, Any]) -> str:
    return render_row(profile=profile)


def test_an_unknown_listed_count_is_not_shown_as_no_lists() -> None:
    """A direct message's user object carries no listed count (None: unknown, shared.events.Profile);
    the queue showed it as "0 lists", the very reading the scorer stopped making."""
    unknown = _render({"id": "42", "followers_count": 300, "listed_count": None})
    assert "lists</span>" not in unknown
    assert "<b>300</b> followers" in unknown
    left_out = _render({"id": "42", "followers_count": 300})  # (a snapshot without the key)
    assert "lists</span>" not in left_out
    assert "<b>0</b> lists" in _render({"id": "42", "listed_count": 0})
    assert "<b>1,200</b> lists" in _render({"id": "42", "listed_count": 1200})


def _seen(*times: datetime) -> Any:
    """A follower's interactions at these instants (the shape profiles.interactions gives)."""
    return profiles.Interactions(
        total=len(times), latest=[profiles.InteractionSeen(at=at, kind="reply", text="hi") for at in times]
    )


def page_text(page: str) -> str:
    """The page's text as a person reads it (the markup left out)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page))


def _machine_times(page: str) -> list[str]:
    return re.findall(r'<time datetime="([^"]+)"', page)


def test_each_row_shows_its_times_in_its_own_brands_zone_with_the_zone_named() -> None:
    """A follow-back at 03:12 UTC is 22:12 the evening before for a brand in New York: the queue said
    "03:12 UTC" to a New York team. Two brands on one page: each row on its own brand's clock."""
    followed = datetime(2026, 11, 28, 3, 12, tzinfo=UTC)
    replied = datetime(2026, 11, 28, 2, 30, tzinfo=UTC)
    new_york = {"account_id": "ny_brand", "follower_id": "1", "zone": NEW_YORK}
    utc = {"account_id": "utc_brand", "follower_id": "2", "zone": zone_of(None)}
    decided = {"state": "followed_back", "decided_by": "x", "decided": "on X", "decided_at": followed}
    page = render_rows(
        {**new_york, **decided, "interactions": _seen(replied)},
        {**utc, **decided, "interactions": _seen(replied)},
    )
    ny_row, utc_row = (page_text(part) for part in page.split('data-follower="')[1:])
    assert "followed back on X · 2026-11-27 22:12 EST" in ny_row
    assert "reply 2026-11-27 21:30 EST: hi" in ny_row
    assert "UTC" not in ny_row
    assert "followed back on X · 2026-11-28 03:12 UTC" in utc_row
    assert "reply 2026-11-28 02:30 UTC: hi" in utc_row
    # What machines read stays UTC, whatever the brand's zone.
    assert _machine_times(page) == ["2026-11-28T02:30:00Z", "2026-11-28T03:12:00Z"] * 2


def test_times_either_side_of_a_change_of_clocks_each_name_their_own_offset() -> None:
    """New York moved to summer time at 07:00 UTC on 2026-03-08: an hour apart in UTC, 01:30 EST
    and 03:30 EDT on the brand's clock (one abbreviation for both would be wrong by an hour)."""
    page = page_text(
        render_row(
            zone=NEW_YORK, state="dismissed", decided_by="ana",
            decided_at=datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
            interactions=_seen(datetime(2026, 3, 8, 6, 30, tzinfo=UTC)),
        )
    )  # fmt: skip
    assert "reply 2026-03-08 01:30 EST: hi" in page
    assert "dismissed by ana · 2026-03-08 03:30 EDT" in page


def test_a_zone_unknown_here_or_no_configuration_shows_utc() -> None:
    """A stored zone this machine's tz database does not know stands for UTC, as everywhere in the
    notifier (shared.accounts.zone_of); so does an account with no configuration."""
    unknown = AccountConfig.model_validate({"timezone": "Mars/Olympus_Mons"}, context=STORED)
    at = datetime(2026, 11, 28, 3, 12, tzinfo=UTC)
    for zone in (zone_of(unknown), zone_of(None)):
        page = page_text(render_row(zone=zone, state="dismissed", decided_by="ana", decided_at=at))
        assert "dismissed by ana · 2026-11-28 03:12 UTC" in page
