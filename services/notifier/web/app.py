"""The review queue: a small server-rendered web app served by the notifier (no JavaScript).

Every page but the login needs a session; every POST needs the session's CSRF token. Templates are
rendered by Jinja2 with autoescaping on, so profile text (bios may contain markup or script) is
always shown as text. Responses carry a strict Content-Security-Policy that allows no script at all.
"""

from __future__ import annotations

import hmac
import logging
import math
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import asyncpg
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from services.notifier import outbox, users
from services.notifier.actions import Action, perform
from services.notifier.web import listing
from services.notifier.web.auth import COOKIE, FLASH, Session, Signer
from services.notifier.web.throttle import LoginThrottle, wait_text
from shared.settings import InsecureConfigurationError, Settings

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
MAX_FORM_BYTES = 16 * 1024
BIGINT_MAX = 2**63 - 1
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class WebState:
    """What the lifespan hands the web app once the service runs."""

    pool: asyncpg.Pool | None = None
    wake: Callable[[], None] = field(default=lambda: None)


def signer_for(settings: Settings) -> Signer:
    secret = settings.notifier.session_secret
    if secret is None:
        if settings.production:
            raise InsecureConfigurationError("FOLLOWBACK_NOTIFIER__SESSION_SECRET must be set in production")
        log.warning("no FOLLOWBACK_NOTIFIER__SESSION_SECRET: sessions end when the notifier restarts")
    key = secret.get_secret_value().encode() if secret else secrets.token_bytes(32)
    return Signer(key, settings.notifier.session_max_age_s, secure=settings.production)


def no_cookie_text(production: bool) -> str:
    """Why a login came without the cookie the login page set. In production the cookie is Secure,
    so a browser keeps it from a queue opened over plain HTTP (other than on the machine itself):
    "The form expired. Please try again." was said, on every try, for ever."""
    fix = (
        "open the review queue over HTTPS (its cookies are Secure in production) and allow cookies"
        if production
        else "allow cookies for this site"
    )
    return f"Your browser sent no session cookie: {fix}, then try again."


def score_text(score: float) -> str:
    """A score as the queue shows it: to the tenth, cut rather than rounded, so it never reads as a
    threshold it is below (69.96 under a high-value threshold of 70 read "70 · worth following")."""
    return f"{math.floor(round(score * 10, 6)) / 10:.1f}"


def local_time(at: datetime | None, zone: tzinfo | None = None) -> str:
    """An instant as the queue shows it: on the clock of the row's brand (``zone``, its newest
    configuration's ``timezone``), named by that zone's abbreviation or offset for that instant
    (``2026-11-27 22:12 EST``; ``EDT`` in summer), so a New York team never reads UTC as its own."""
    if at is None:
        return ""
    return f"{at.astimezone(zone or UTC):%Y-%m-%d %H:%M %Z}"


def utc_iso(at: datetime | None) -> str:
    """An instant for machines (a ``<time datetime>``): UTC, whatever the brand's zone."""
    return "" if at is None else f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def environment() -> Environment:
    """The queue's templates: autoescaped, with the filters its pages use (the tests render with it)."""
    templates = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True)
    )
    templates.filters["urlencode_query"] = lambda params: urlencode(params)
    templates.filters["score"] = score_text
    templates.filters["local_time"] = local_time
    templates.filters["utc_iso"] = utc_iso
    return templates


def _safe_back(value: str | None) -> str:
    """A same-site path to return to; anything else (another host, a scheme) goes home."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


async def _form(request: Request) -> dict[str, str] | None:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return None
    # Refused before it is read: ``request.body()`` held a body of any size in memory (twice, while
    # it joined the chunks), and /login reads it before anything else, for anyone.
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
    body = b"".join(chunks)
    form = dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
    if any("\x00" in key or "\x00" in value for key, value in form.items()):
        # PostgreSQL text cannot hold NUL: refused here, not as a database error (a 500) later.
        raise HTTPException(400, "Bad request: a form field holds a NUL character.")
    return form


def create_web_app(settings: Settings, state: WebState) -> Starlette:
    """The review queue's ASGI app; ``state.pool`` must be set before it serves a request."""
    signer = signer_for(settings)
    n = settings.notifier
    throttle = LoginThrottle(n.login_max_failures, n.login_max_failures_per_address, n.login_window_s)
    templates = environment()

    def pool() -> asyncpg.Pool:
        if state.pool is None:
            raise RuntimeError("the notifier is still starting")
        return state.pool

    def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(templates.get_template(name).render(**context), status_code=status)

    def session_of(request: Request) -> Session | None:
        return signer.load_session(request.cookies.get(COOKIE))

    async def reviewer_of(request: Request, conn: asyncpg.Connection) -> Session | None:
        """The logged-in session, if its user still exists with the password they logged in with: a
        user removed, or given a new password, since is logged out (the cookie alone would last)."""
        session = session_of(request)
        if session is None or session.user is None:
            return None
        hashed = await users.password_hash(conn, settings.notifier.users, str(session.user))
        if hashed is None or not hmac.compare_digest(session.key, signer.credential_key(hashed)):
            return None
        return session

    def login_form(request: Request, status: int = 200, error: str = "") -> Response:
        session = session_of(request) or Session.fresh()
        response = render("login.html", status, csrf=session.csrf, error=error,
                          back=_safe_back(request.query_params.get("back")))  # fmt: skip
        signer.store_session(response, session)
        return response

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return login_form(request)
        form = await _form(request)
        session = session_of(request)
        if COOKIE not in request.cookies:  # (see no_cookie_text)
            return login_form(request, 403, no_cookie_text(settings.production))
        if form is None or session is None or not session.csrf_matches(form.get("csrf")):
            return login_form(request, 403, "The form expired. Please try again.")
        name, password = form.get("username", "").strip()[:100], form.get("password", "")
        address = request.client.host if request.client else ""
        if (wait := throttle.retry_after(name, address)) > 0:
            # The password is not even checked: a guesser learns nothing until the window has passed.
            if throttle.refusal_to_record(name, address):  # once per blocked name or address a window
                async with pool().acquire() as conn:
                    await _audit(conn, name, "login_throttled")
            response = login_form(request, 429, f"Too many failed logins. Try again in {wait_text(wait)}.")
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        # Counted before the first await, so parallel attempts cannot all pass the check above.
        attempt = throttle.failed(name, address)
        async with pool().acquire() as conn:
            hashed = (
                await users.verified_hash(conn, settings.notifier.users, name, password) if name else None
            )
            await _audit(conn, name, "login" if hashed else "login_failed")
        if hashed is None:
            return login_form(request, 401, "Wrong user name or password.")
        throttle.succeeded(name, address, attempt)
        response = RedirectResponse(_safe_back(form.get("back")), status_code=303)
        signer.store_session(response, Session.fresh(name, signer.credential_key(hashed)))
        return response

    async def logout(request: Request) -> Response:
        form = await _form(request)
        session = session_of(request)
        if form is None or session is None or not session.csrf_matches(form.get("csrf")):
            return PlainTextResponse("Forbidden: missing or wrong form token.", status_code=403)
        response = RedirectResponse("/login", status_code=303)
        signer.store_session(response, Session.fresh())
        return response

    async def queue(request: Request) -> Response:
        filters = listing.Filters.parse(request.query_params)
        async with pool().acquire() as conn:
            session = await reviewer_of(request, conn)
            if session is None:
                back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse("/login?" + urlencode({"back": back}), status_code=303)
            page = await listing.queue_page(conn, filters, settings.notifier.page_size)
            accounts = await listing.accounts(conn)
            troubled, problems = await listing.troubled_deliveries(conn)
        notice = signer.unsign("notice", request.cookies.get(FLASH))
        response = render(
            "queue.html", user=session.user, csrf=session.csrf, page=page, filters=filters, accounts=accounts,
            classes=listing.CLASSES, states=listing.STATES, sorts=list(listing.SORTS), troubled=troubled,
            problems=problems, notice=notice if isinstance(notice, str) else "",
            here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        )  # fmt: skip
        if notice is not None:
            response.delete_cookie(FLASH, path="/")
        return response

    async def guarded_form(request: Request) -> tuple[Session, dict[str, str]] | Response:
        """The session and form of a POST, or the refusal: no session 401, no or wrong token 403."""
        async with pool().acquire() as conn:
            session = await reviewer_of(request, conn)
        if session is None:
            return PlainTextResponse("Unauthorized: log in first.", status_code=401)
        form = await _form(request)
        if form is None or not session.csrf_matches(form.get("csrf")):
            log.warning(
                "refused a POST to %s by %s: missing or wrong CSRF token", request.url.path, session.user
            )
            return PlainTextResponse("Forbidden: missing or wrong form token.", status_code=403)
        return session, form

    async def act(request: Request) -> Response:
        guarded = await guarded_form(request)
        if isinstance(guarded, Response):
            return guarded
        session, form = guarded
        try:
            action = Action(form.get("action", ""))
        except ValueError:
            return PlainTextResponse("Bad request: unknown action.", status_code=400)
        async with pool().acquire() as conn:
            outcome = await perform(
                conn, actor=str(session.user), action=action, account_id=form.get("account_id", ""),
                follower_id=form.get("follower_id", ""), events_topic=settings.topic("events"),
            )  # fmt: skip
        if outcome.done:
            state.wake()
        response = RedirectResponse(_safe_back(form.get("back")), status_code=303)
        signer.store_notice(response, outcome.message)
        return response

    async def retry_delivery(request: Request) -> Response:
        guarded = await guarded_form(request)
        if isinstance(guarded, Response):
            return guarded
        session, form = guarded
        try:
            delivery_id = int(form.get("delivery_id", ""))
        except ValueError:
            return PlainTextResponse("Bad request: delivery_id.", status_code=400)
        if not 0 < delivery_id <= BIGINT_MAX:  # beyond a bigint, PostgreSQL could not even compare it
            return PlainTextResponse("Bad request: delivery_id.", status_code=400)
        async with pool().acquire() as conn, conn.transaction():
            retried = await outbox.retry_dead(conn, delivery_id)
            if retried is not None:  # under the delivery's relationship, so explain shows it
                await conn.execute(
                    "INSERT INTO review_audit (action_id, actor, action, account_id, follower_id, detail) "
                    "VALUES ($1, $2, 'retry_delivery', $3, $4, $5)",
                    str(uuid.uuid4()), session.user, *retried, {"delivery_id": delivery_id},
                )  # fmt: skip
        state.wake()
        response = RedirectResponse(_safe_back(form.get("back")), status_code=303)
        signer.store_notice(response, "Delivery retried." if retried else "That delivery is not dead.")
        return response

    async def stylesheet(request: Request) -> Response:
        return FileResponse(HERE / "static" / "queue.css", media_type="text/css")

    async def headers(request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    async def _audit(conn: asyncpg.Connection, name: str, action: str) -> None:
        await conn.execute(
            "INSERT INTO review_audit (action_id, actor, action) VALUES ($1, $2, $3)",
            str(uuid.uuid4()), name or "(empty)", action,
        )  # fmt: skip

    return Starlette(
        routes=[
            Route("/", queue, methods=["GET"]),
            Route("/login", login, methods=["GET", "POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/actions", act, methods=["POST"]),
            Route("/deliveries/retry", retry_delivery, methods=["POST"]),
            Route("/static/queue.css", stylesheet, methods=["GET"]),
        ],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=headers)],
    )
