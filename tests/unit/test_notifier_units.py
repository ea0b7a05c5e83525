"""The notifier's pure parts: password hashes, signed sessions, messages, back-off, page filters."""

from __future__ import annotations

import asyncio
import random
import time

import asyncpg
from starlette.requests import Request

from services.notifier import messages
from services.notifier.channels import Outgoing
from services.notifier.channels.email import compose, message_id
from services.notifier.channels.slack import escape
from services.notifier.delivery import DeliveryWorker, backoff_s
from services.notifier.passwords import hash_password, is_hash, verify_password
from services.notifier.web.app import _form, _safe_back
from services.notifier.web.auth import Session, Signer
from services.notifier.web.listing import Filters, deciding_first
from shared.settings import NotifierSettings

PAYLOAD = {
    "account_id": "brand",
    "follower_id": "42",
    "screen_name": "ana_roasts",
    "name": "Ana <b>Costa</b>",
    "score": 87.4,
    "reasons": [
        {"signal": "engagement", "contribution": 30.2},
        {"signal": "topic_match", "contribution": 12},
        {"signal": "inactive", "contribution": -4},
        {"signal": "lists", "contribution": 2},
    ],
    "url": "http://queue.example/?account=brand",
}


def test_a_password_hash_verifies_only_its_password() -> None:
    stored = hash_password("correct horse battery staple")
    assert is_hash(stored)
    assert stored != hash_password("correct horse battery staple")  # salted
    assert verify_password("correct horse battery staple", stored)
    assert not verify_password("correct horse battery stapler", stored)
    assert not verify_password("anything", "plain-text-password")
    assert not verify_password("anything", "scrypt$1$1$1$!!$!!")


def test_a_session_survives_signing_and_nothing_else_does() -> None:
    signer = Signer(b"k" * 32, max_age_s=60, secure=False)
    session = Session.fresh("ana")
    token = signer.sign("session", {"u": session.user, "c": session.csrf, "t": session.issued})
    assert signer.load_session(token) == session
    body, mac = token.split(".")
    forged = Signer(b"x" * 32, 60, False).sign("session", {"u": "root", "c": "c", "t": int(time.time())})
    assert signer.load_session(forged) is None
    assert signer.load_session(body + "." + mac[:-2] + "AA") is None
    assert signer.load_session(None) is None
    # A notice signed for another purpose is not a session.
    assert signer.load_session(signer.sign("notice", {"u": "ana", "c": "c", "t": int(time.time())})) is None
    old = signer.sign("session", {"u": "ana", "c": "c", "t": int(time.time()) - 61})
    assert signer.load_session(old) is None
    assert session.csrf_matches(session.csrf)
    assert not session.csrf_matches(None)
    assert not session.csrf_matches(session.csrf[:-1])


def test_push_and_retraction_texts_name_the_follower_the_score_and_the_strongest_reasons() -> None:
    assert messages.push_text(PAYLOAD) == (
        "New high-value follower of brand: @ana_roasts (Ana <b>Costa</b>), score 87.\n"
        "Why: engagement +30, topic_match +12, inactive -4.\n"
        "Decide in the review queue: http://queue.example/?account=brand"
    )
    assert messages.retraction_text({**PAYLOAD, "retracted_as": "withdrawn"}).startswith(
        "Retracted: @ana_roasts (Ana <b>Costa</b>) unfollowed before anyone acted"
    )
    # Slack would turn <...> into links or mentions: a name cannot write "<!channel>".
    assert escape("<!channel> & <b>") == "&lt;!channel&gt; &amp; &lt;b&gt;"


def test_a_follower_whose_handle_was_erased_is_named_by_id() -> None:
    erased = {key: value for key, value in PAYLOAD.items() if key not in ("screen_name", "name")}
    assert messages.push_subject(erased) == "[brand] worth following back: follower 42"
    assert messages.push_text(erased).startswith("New high-value follower of brand: follower 42, score 87.")
    assert messages.retraction_text({**erased, "retracted_as": "spam"}).startswith("Retracted: follower 42 ")


def test_a_retraction_mail_answers_its_push() -> None:
    retraction = Outgoing(1, "push:d1:email:retraction", "email", "retraction", "a@b.example, c@d.example",
                          {**PAYLOAD, "retracted_as": "churner", "push_key": "push:d1:email"}, 1)  # fmt: skip
    mail = compose(retraction, "followback@brand.example")
    assert mail["Message-ID"] == message_id("push:d1:email:retraction")
    assert mail["In-Reply-To"] == message_id("push:d1:email")
    assert mail["To"] == "a@b.example, c@d.example"
    assert mail["Subject"] == "[brand] retracted: @ana_roasts (Ana <b>Costa</b>)"


def test_a_name_with_a_line_break_is_one_line_in_every_message_and_its_mail_can_be_sent() -> None:
    """A line break in a name (one of the many ``str.splitlines`` knows) made ``compose`` raise for
    every e-mail about the follower, retried until dead; in Slack it started a line of its own."""
    for brk in ("\r\n", "\n", "\u2028", "\x85", "\x0b", "\x1c"):
        payload = {**PAYLOAD, "name": f"Ana{brk}Decide in the review queue: https://phish.example",
                   "screen_name": f"ana{brk}x"}  # fmt: skip
        for kind in ("push", "retraction"):
            message = Outgoing(1, "push:d1:email", "email", kind, "a@b.example", payload, 1)
            mail = compose(message, "f@b.example")
            assert mail["Subject"].endswith("@ana x (Ana Decide in the review queue: https://phish.example)")
        assert (
            messages.push_text(payload)
            .splitlines()[0]
            .endswith("@ana x (Ana Decide in the review queue: https://phish.example), score 87.")
        )
        digest = messages.digest_text({"account_id": "brand", "period": "p", "followers": [payload]})
        assert len(digest.splitlines()) == 2
    # Emoji sequences (joiners, variation selectors) are left as they are.
    assert messages.push_subject({**PAYLOAD, "name": "Ana \U0001f469\u200d\U0001f4bb\ufe0f"}).endswith(
        "(Ana \U0001f469\u200d\U0001f4bb\ufe0f)"
    )


def test_a_cookie_with_a_character_beyond_ascii_is_no_session_rather_than_an_error() -> None:
    """``hmac.compare_digest`` raises TypeError for such str: every page answered 500."""
    signer = Signer(b"k" * 32, max_age_s=60, secure=False)
    assert signer.load_session("abc.\xe9\xe9") is None
    assert signer.unsign("notice", "\xe9.abc") is None


async def test_an_oversized_form_is_refused_before_it_is_read() -> None:
    """The whole body was read into memory first: a 400 MB POST to /login, no login needed, took
    the notifier's memory from 110 MB to over 760 MB."""
    for declared in (True, False):
        sent = 0

        async def receive() -> dict[str, object]:
            nonlocal sent
            sent += 1
            return {"type": "http.request", "body": b"a" * 1024 * 1024, "more_body": sent < 1000}

        headers = [(b"content-type", b"application/x-www-form-urlencoded")]
        if declared:
            headers.append((b"content-length", str(1000 * 1024 * 1024).encode()))
        scope = {"type": "http", "method": "POST", "path": "/login", "headers": headers, "query_string": b""}
        assert await _form(Request(scope, receive)) is None
        assert sent <= 1, f"{sent} MiB read (content-length given: {declared})"
    small = [(b"content-type", b"application/x-www-form-urlencoded")]

    async def one() -> dict[str, object]:
        return {"type": "http.request", "body": b"a=1&b=%C3%A9", "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/login", "headers": small, "query_string": b""}
    assert await _form(Request(scope, one)) == {"a": "1", "b": "\u00e9"}


def test_back_off_doubles_up_to_the_cap_with_jitter_below_the_ceiling() -> None:
    settings = NotifierSettings(retry_base_s=2, retry_cap_s=60)
    rng = random.Random(7)
    waits = [backoff_s(n, settings, rng) for n in range(1, 9)]
    ceilings = [2, 4, 8, 16, 32, 60, 60, 60]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True))


def test_page_filters_fall_back_to_defaults_and_back_links_stay_on_this_site() -> None:
    parsed = Filters.parse({"class": "worth_following", "sort": "1; DROP TABLE x", "page": "-3", "q": "@Ana"})
    assert (parsed.cls, parsed.sort, parsed.page, parsed.q) == ("worth_following", "score", 1, "Ana")
    assert parsed.query(page=2) == {"class": "worth_following", "q": "Ana", "page": "2"}
    assert _safe_back("/?class=any") == "/?class=any"
    for hostile in ("https://evil.example/", "//evil.example", "/\\evil.example", "", None):
        assert _safe_back(hostile) == "/"


async def test_the_delivery_worker_outlives_an_unexpected_error_of_a_round() -> None:
    # What asyncpg raised when PostgreSQL stopped under a send (tests/faults/test_postgres_outage.py):
    # neither an OSError nor one of its own PostgresError or InterfaceError.
    went_on = asyncio.Event()

    class Flaky(DeliveryWorker):
        rounds = 0

        async def step(self) -> bool:
            self.rounds += 1
            if self.rounds == 1:
                raise asyncpg.InternalClientError(
                    "cannot switch to state 15; another operation (2) is in progress"
                )
            went_on.set()
            return False

    worker = Flaky(None, {}, NotifierSettings(poll_interval_s=0.01))
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(went_on.wait(), 5)  # the next round came, after the back-off
        assert not task.done()
    finally:
        task.cancel()


def test_the_reasons_that_decided_a_class_by_rule_lead_its_why() -> None:
    scored = [
        {"signal": "engagement", "contribution": 30.0},
        {"signal": "relevance", "contribution": 12.0},
        {"signal": "influence", "contribution": 9.0},
        {"signal": "churn", "contribution": 0},
    ]
    assert [r["signal"] for r in deciding_first("churner", scored)] == [
        "churn", "engagement", "relevance", "influence"
    ]  # fmt: skip
    blocked = [*scored[:3], {"signal": "blocked_term", "contribution": 0}]
    assert deciding_first("harmful", blocked)[0]["signal"] == "blocked_term"
    begging = [
        *scored[:3],
        {"signal": "bot_probability", "contribution": 0},
        {"signal": "begs_for_follow_back"},
    ]
    assert [r["signal"] for r in deciding_first("spam", begging)][:2] == [
        "bot_probability",
        "begs_for_follow_back",
    ]
    # a class decided by points keeps the scorer's order
    assert deciding_first("high_value", scored) == scored


def test_the_queue_shows_a_score_to_the_tenth_never_rounded_up_to_a_threshold() -> None:
    """69.96 under a high-value threshold of 70 showed as "70 · worth following" (helper-52)."""
    from services.notifier.web.app import score_text

    assert [score_text(s) for s in (69.96, 70.0, 87.25, 0.0, 100.0, 50.1)] == [
        "69.9", "70.0", "87.2", "0.0", "100.0", "50.1",
    ]  # fmt: skip
