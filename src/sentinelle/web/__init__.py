"""The console: server-rendered pages (Jinja2) for people, served by the API's process.

For now: ``GET /login`` (the form), ``POST /login``, ``POST /logout`` and ``GET /`` (who is
logged in). Pages use no script and no external resource; every response of theirs carries
a strict Content-Security-Policy and the other headers of :data:`SECURITY_HEADERS`.

Every form carries a CSRF token: the login form a random one that must match a cookie set
with the form (double submit, before any session exists), every other form the session's own
(:func:`sentinelle.access.sessions.csrf_token`). A missing or wrong token answers 403.

Cookies are HttpOnly, SameSite=Strict (Lax would send them on a cross-site top-level GET),
Path=/, and Secure over HTTPS or when ``cookie_secure`` says so (a proxy ends TLS).
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentinelle.access import Principal
from sentinelle.access.sessions import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    LoginLockedError,
    csrf_matches,
    csrf_token,
    log_in,
    log_out,
)
from sentinelle.api.deps import State, session_of

__all__ = ["SECURITY_HEADERS", "install", "router"]

_HERE: Final = Path(__file__).parent
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
_PAGES: Final = frozenset({"/", "/login", "/logout"})
_STATIC: Final = "/static"
_MAX_FORM: Final = 8 * 1024  # bytes: an e-mail, a password and a token
_GENERIC: Final = "Wrong e-mail or password."
_env: Final = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(default=True),
    auto_reload=False,
)

router = APIRouter(include_in_schema=False)


def _state(request: Request) -> State:
    state: State = request.app.state.sentinelle
    return state


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or _state(request).settings.cookie_secure


def _set_cookie(request: Request, response: Response, name: str, value: str, **extra: Any) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        path="/",
        secure=_secure(request),
        **extra,
    )


def _clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="strict", secure=_secure(request)
    )


def _render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_env.get_template(name).render(**context), status_code=status)


def _login_page(
    request: Request, *, status: int = 200, message: str = "", email: str = ""
) -> HTMLResponse:
    """The form, with a fresh pre-session CSRF token in the field and its cookie."""
    token = secrets.token_urlsafe(32)
    response = _render("login.html", status, csrf=token, message=message, email=email)
    _set_cookie(request, response, LOGIN_CSRF_COOKIE, token)
    return response


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def _session(request: Request) -> Principal | None:
    return await run_in_threadpool(session_of, request)


async def _form(request: Request) -> dict[str, str] | None:
    """The posted form's text fields, or ``None`` when it is too large or not a form."""
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > _MAX_FORM:
        return None
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    form = await request.form(max_files=0, max_fields=8)
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.get("/")
async def home(request: Request) -> Response:
    """Who is logged in; without a live session, the login form."""
    principal = await _session(request)
    if principal is None:
        response: Response = _see_other("/login")
        if request.cookies.get(SESSION_COOKIE):
            _clear_cookie(request, response, SESSION_COOKIE)
        return response
    return _render(
        "home.html", principal=principal, csrf=csrf_token(request.cookies[SESSION_COOKIE])
    )


@router.get("/login")
async def login_form(request: Request) -> Response:
    """The login form (or the home page, for a live session)."""
    if await _session(request) is not None:
        return _see_other("/")
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the e-mail and password; start a session and go home, or show the form again."""
    form = await _form(request)
    if form is None:
        return _login_page(request, status=400, message="The form could not be read.")
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    presented = form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(expected.encode(), presented.encode()):
        return _login_page(
            request, status=403, message="The form expired or was not ours: please log in again."
        )
    email = form.get("email", "")[:254]
    password = form.get("password", "")
    state = _state(request)
    address = request.client.host if request.client else None

    def attempt() -> Any:
        with state.lock:
            try:
                return log_in(
                    state.store,
                    email,
                    password,
                    address=address,
                    settings=state.settings,
                    clock=state.clock,
                )
            except LoginLockedError as exc:
                return exc

    result = await run_in_threadpool(attempt)
    if isinstance(result, LoginLockedError):
        minutes = -(-result.retry_after // 60)
        response: Response = _login_page(
            request,
            status=429,
            message=f"Too many failed logins: try again in {minutes} minute(s).",
            email=email,
        )
        response.headers["Retry-After"] = str(result.retry_after)
        return response
    if result is None:
        return _login_page(request, message=_GENERIC, email=email)
    response = _see_other("/")
    _set_cookie(
        request,
        response,
        SESSION_COOKIE,
        result.token,
        max_age=state.settings.session_max_age,
    )
    _clear_cookie(request, response, LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (its CSRF token is required) and go to the login form."""
    token = request.cookies.get(SESSION_COOKIE, "")
    form = await _form(request)
    if token and (form is None or not csrf_matches(token, form.get("csrf_token"))):
        return HTMLResponse("Missing or wrong CSRF token.", status_code=403)
    if token:
        state = _state(request)

        def end() -> bool:
            with state.lock:
                return log_out(state.store, token)

        await run_in_threadpool(end)
    response = _see_other("/login")
    _clear_cookie(request, response, SESSION_COOKIE)
    return response


class _SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to the console's pages and static files."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path not in _PAGES and not path.startswith(_STATIC + "/"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Serve the console from ``app``: its pages, its static files, its headers."""
    app.include_router(router)
    app.mount(_STATIC, StaticFiles(directory=_HERE / "static"), name="static")
    app.add_middleware(_SecurityHeaders)
