"""Logging in and out: ``GET /login`` (the form), ``POST /login``, ``POST /logout``.

The login form, before any session exists, carries a random CSRF token in its field and in a
cookie (double submit); every other form the session's own token. Cookies are HttpOnly,
SameSite=Strict (Lax would send them on a cross-site top-level GET), Path=/, and Secure over
HTTPS or when ``cookie_secure`` says so (a proxy ends TLS).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from sentinelle.access.sessions import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    LoginLockedError,
    csrf_matches,
    log_in,
    log_out,
)
from sentinelle.api.deps import session_of
from sentinelle.web.common import (
    clear_cookie,
    form_fields,
    render,
    see_other,
    set_cookie,
    state_of,
)

__all__ = ["router"]

_MAX_LOGIN_FORM: Final = 8 * 1024  # bytes: an e-mail, a password and a token
_GENERIC: Final = "Wrong e-mail or password."

router = APIRouter(include_in_schema=False)


def _login_page(
    request: Request, *, status: int = 200, message: str = "", email: str = ""
) -> HTMLResponse:
    """The form, with a fresh pre-session CSRF token in the field and its cookie."""
    token = secrets.token_urlsafe(32)
    response = render("login.html", status, csrf=token, message=message, email=email)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token)
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    """The login form (or the home page, for a live session)."""
    if await run_in_threadpool(session_of, request) is not None:
        return see_other("/")
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the e-mail and password; start a session and go home, or show the form again."""
    fields = await form_fields(request, limit=_MAX_LOGIN_FORM)
    if fields is None:
        return _login_page(request, status=400, message="The form could not be read.")
    form = dict(fields)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    presented = form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(expected.encode(), presented.encode()):
        return _login_page(
            request, status=403, message="The form expired or was not ours: please log in again."
        )
    email = form.get("email", "")[:254]
    password = form.get("password", "")
    state = state_of(request)
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
    response = see_other("/")
    set_cookie(
        request, response, SESSION_COOKIE, result.token, max_age=state.settings.session_max_age
    )
    clear_cookie(request, response, LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (its CSRF token is required) and go to the login form."""
    token = request.cookies.get(SESSION_COOKIE, "")
    fields = await form_fields(request, limit=_MAX_LOGIN_FORM)
    form = dict(fields or [])
    if token and (fields is None or not csrf_matches(token, form.get("csrf_token"))):
        return HTMLResponse("Missing or wrong CSRF token.", status_code=403)
    if token:
        state = state_of(request)

        def end() -> bool:
            with state.lock:
                return log_out(state.store, token)

        await run_in_threadpool(end)
    response = see_other("/login")
    clear_cookie(request, response, SESSION_COOKIE)
    return response
