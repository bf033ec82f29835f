"""Logging in and out: ``GET /login`` (the form), ``POST /login``, ``GET`` and ``POST
/login/totp`` (the second factor's code, for accounts that have one), ``POST /logout``.

The login form, before any session exists, carries a random CSRF token in its field and in a
cookie (double submit); every other form the session's own token. Cookies are HttpOnly,
SameSite=Strict (Lax would send them on a cross-site top-level GET), Path=/, and Secure over
HTTPS or when ``cookie_secure`` says so (a proxy ends TLS).

For an account with TOTP, the right password opens no session: it answers the code's form and
sets the challenge's cookie (``sentinelle_login_totp``, 5 minutes); the form, also a
double-submit CSRF form, posts the code to ``/login/totp``, which starts the session.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from sentinelle.access.sessions import (
    CHALLENGE_COOKIE,
    CHALLENGE_SECONDS,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    LoginExpiredError,
    LoginLockedError,
    LoginResult,
    SecondStep,
    TotpRequiredError,
    complete_login,
    csrf_matches,
    log_in,
    log_out,
)
from sentinelle.access.totp import TotpKeyError
from sentinelle.api.deps import State, locked, session_of
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
_WRONG_CODE: Final = "Wrong code: enter the code your authenticator app shows now."
_EXPIRED: Final = "Your login expired (or was already used): please log in again."
_log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)


def _login_page(
    request: Request, *, status: int = 200, message: str = "", email: str = ""
) -> HTMLResponse:
    """The form, with a fresh pre-session CSRF token in the field and its cookie."""
    token = secrets.token_urlsafe(32)
    response = render("login.html", status, csrf=token, message=message, email=email)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token)
    return response


def _code_page(request: Request, *, status: int = 200, message: str = "") -> HTMLResponse:
    """The second step's form, with a fresh pre-session CSRF token in the field and cookie."""
    token = secrets.token_urlsafe(32)
    response = render("login_totp.html", status, csrf=token, message=message)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token)
    return response


def _double_submitted(request: Request, form: dict[str, str]) -> bool:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    presented = form.get("csrf_token", "")
    return bool(expected) and hmac.compare_digest(expected.encode(), presented.encode())


def _locked(request: Request, exc: LoginLockedError, email: str = "") -> Response:
    minutes = -(-exc.retry_after // 60)
    response = _login_page(
        request,
        status=429,
        message=f"Too many failed logins: try again in {minutes} minute(s).",
        email=email,
    )
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _logged_in(request: Request, result: LoginResult) -> Response:
    response = see_other("/")
    set_cookie(
        request,
        response,
        SESSION_COOKIE,
        result.token,
        max_age=state_of(request).settings.session_max_age,
    )
    clear_cookie(request, response, LOGIN_CSRF_COOKIE)
    clear_cookie(request, response, CHALLENGE_COOKIE)
    return response


async def _answer(state: State, step: Callable[[], Any], *refusals: type[Exception]) -> Any:
    """Run a login step on the store (under its lock): its result, or the refusal it raised
    among ``refusals`` (each answered with its own page)."""
    try:
        return await locked(state, step)
    except refusals as exc:
        return exc


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
    if not _double_submitted(request, form):
        return _login_page(
            request, status=403, message="The form expired or was not ours: please log in again."
        )
    email = form.get("email", "")[:254]
    password = form.get("password", "")
    state = state_of(request)
    address = request.client.host if request.client else None

    def attempt() -> Any:
        return log_in(
            state.store,
            email,
            password,
            address=address,
            settings=state.settings,
            clock=state.clock,
        )

    result = await _answer(state, attempt, LoginLockedError, TotpRequiredError)
    if isinstance(result, LoginLockedError):
        return _locked(request, result, email)
    if isinstance(result, TotpRequiredError):
        return _login_page(
            request,
            status=403,
            message=f"Accounts of the role {result.role.value} need a second factor (TOTP) "
            "and yours has none yet: ask an administrator to enrol you "
            "(sentinelle users totp enable).",
            email=email,
        )
    if result is None:
        return _login_page(request, message=_GENERIC, email=email)
    if isinstance(result, SecondStep):
        response: Response = _code_page(request)
        set_cookie(request, response, CHALLENGE_COOKIE, result.token, max_age=CHALLENGE_SECONDS)
        return response
    return _logged_in(request, result)


@router.get("/login/totp")
async def code_form(request: Request) -> Response:
    """The second step's form, while a challenge's cookie is there (else the login form)."""
    if not request.cookies.get(CHALLENGE_COOKIE):
        return see_other("/login")
    return _code_page(request)


@router.post("/login/totp")
async def login_code(request: Request) -> Response:
    """Check the TOTP code of the login whose password was right; start its session, or ask
    again (a wrong code), or go back to the login form (expired, locked)."""
    challenge = request.cookies.get(CHALLENGE_COOKIE, "")
    fields = await form_fields(request, limit=_MAX_LOGIN_FORM)
    if fields is None:
        return _code_page(request, status=400, message="The form could not be read.")
    form = dict(fields)
    if not _double_submitted(request, form):
        return _code_page(
            request, status=403, message="The form expired or was not ours: enter the code again."
        )
    code = form.get("code", "")[:32]
    state = state_of(request)
    address = request.client.host if request.client else None

    def attempt() -> Any:
        return complete_login(
            state.store,
            challenge,
            code,
            address=address,
            settings=state.settings,
            clock=state.clock,
        )

    result = await _answer(state, attempt, LoginLockedError, LoginExpiredError, TotpKeyError)
    if isinstance(result, LoginResult):
        return _logged_in(request, result)
    if result is None:
        return _code_page(request, message=_WRONG_CODE)
    response: Response
    if isinstance(result, LoginLockedError):
        response = _locked(request, result)
    elif isinstance(result, TotpKeyError):
        _log.error("second factor not checked: %s", result)
        response = _login_page(
            request,
            status=503,
            message="The second factor cannot be checked now: please tell an administrator.",
        )
    else:
        response = _login_page(request, message=_EXPIRED)
    clear_cookie(request, response, CHALLENGE_COOKIE)
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

        await locked(state, lambda: log_out(state.store, token))
    response = see_other("/login")
    clear_cookie(request, response, SESSION_COOKIE)
    return response
