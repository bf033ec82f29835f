"""What every console page shares: the templates, the session, the CSRF check of forms,
cookies and the answers (a page, a redirect, a refusal).

A page asks :func:`viewer` for the logged-in account and the permission it needs: without a
live session the browser is sent to ``/login``; with a role that lacks the permission it gets
a 403 page naming what is missing. The check is :func:`sentinelle.access.authorize`, the same
as the REST API's, so a page never shows what the API would refuse the same account.

A form that changes something carries the session's CSRF token in its hidden ``csrf_token``
field; :func:`posted` refuses it (403) otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import ErrorDetails

from sentinelle.access import ForbiddenError, Permission, Principal, authorize
from sentinelle.access.sessions import SESSION_COOKIE, csrf_matches, csrf_token
from sentinelle.api.deps import Reader, State, session_of
from sentinelle.errors import Error, ValidationError
from sentinelle.incidents import Clock, Incident
from sentinelle.timeutil import READABLE_TIME, UTC_TIME, from_us, iso, readable

__all__ = [
    "MAX_FORM",
    "Refusal",
    "Viewer",
    "clear_cookie",
    "env",
    "form_fields",
    "in_words",
    "plain",
    "posted",
    "render",
    "see_other",
    "set_cookie",
    "state_of",
    "validated",
    "viewer",
    "waiting_on",
    "with_clocks",
]

_HERE: Final = Path(__file__).parent
MAX_FORM: Final = 64 * 1024  # bytes: a facts form or a bulk triage of a few hundred alerts
#: New alerts counted per actor by :func:`waiting_on` (its pages show "99+" beyond).
WAITING_SHOWN: Final = 99

env: Final = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(default=True),
    auto_reload=False,
)


def _time(value: int | None) -> Markup:
    """A ``<time>`` in UTC; the console's script shows it in the viewer's zone (UTC on hover)."""
    if value is None:
        return Markup("—")
    text = iso(value)
    shown = readable(value)
    return Markup('<time datetime="{0}" title="{0}" data-local>{1}</time>').format(
        escape(text), escape(shown)
    )


def _day(value: int) -> str:
    return from_us(value).date().isoformat()


def _duration(seconds: float | int | None) -> str:
    """``2 d 5 h``, ``3 h 20 min``, ``45 min`` (negative: ``… ago``)."""
    if seconds is None:
        return "—"
    late = seconds < 0
    left = abs(int(seconds)) // 60
    days, rest = divmod(left, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if hours or days:
        parts.append(f"{hours} h")
    if not days:
        parts.append(f"{minutes} min")
    text = " ".join(parts)
    return f"{text} ago" if late else text


_LINKED: Final = re.compile(
    rf"\b(?P<alert>al-[0-9a-f]{{16}})\b|(?P<time>{UTC_TIME.pattern})|{READABLE_TIME.pattern}"
)


def _alert_links(text: str) -> Markup:
    """``text`` escaped, each alert id in it a link to that alert (a reason naming the alert a
    finding adds to), and each UTC time in it (``2026-11-18T18:20Z``, or as people read it:
    ``2026-11-18 18:20 UTC``) a ``<time>`` the console's script shows in the viewer's zone,
    as every other time on the page."""
    out, done = Markup(), 0
    for found in _LINKED.finditer(text):
        out += text[done : found.start()]  # a Markup escapes what is added to it
        if found["alert"]:
            out += Markup('<a href="/alerts/{0}">{0}</a>').format(found["alert"])
        elif found["time"]:
            out += Markup('<time datetime="{0}" title="{0}" data-local>{0}</time>').format(
                found["time"]
            )
        else:
            out += Markup(
                '<time datetime="{0}T{1}Z" title="{0}T{1}Z" data-local>{2}</time>'
            ).format(found["date"], found["minute"], found[0])
        done = found.end()
    return out + text[done:]


env.filters["time"] = _time
env.filters["alert_links"] = _alert_links
env.filters["day"] = _day
env.filters["duration"] = _duration
env.filters["iso"] = iso
env.filters["n"] = lambda value: f"{value:,}"  # 12,477
# A count of waiting_on's: "99+" beyond what it counts.
env.filters["waiting"] = lambda value: f"{WAITING_SHOWN}+" if value > WAITING_SHOWN else str(value)


def state_of(request: Request) -> State:
    """The API process's shared state (store, ledger, engine)."""
    state: State = request.app.state.sentinelle
    return state


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or state_of(request).settings.cookie_secure


def set_cookie(request: Request, response: Response, name: str, value: str, **extra: Any) -> None:
    """An HttpOnly, SameSite=Strict cookie for the whole console (Secure over HTTPS)."""
    response.set_cookie(
        name, value, httponly=True, samesite="strict", path="/", secure=_secure(request), **extra
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    """Remove a cookie set by :func:`set_cookie`."""
    response.delete_cookie(
        name, path="/", httponly=True, samesite="strict", secure=_secure(request)
    )


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The template ``name`` rendered with ``context``."""
    return HTMLResponse(env.get_template(name).render(**context), status_code=status_code)


def see_other(url: str) -> RedirectResponse:
    """303: after a form, the browser GETs ``url`` (a reload does not post again)."""
    return RedirectResponse(url, status_code=303)


class Viewer:
    """The logged-in account of a page, with its session's CSRF token for the page's forms."""

    __slots__ = ("csrf", "principal")

    def __init__(self, principal: Principal, csrf: str) -> None:
        self.principal = principal
        self.csrf = csrf

    def may(self, permission: Permission | str, merchant: str | None = None) -> bool:
        """Whether the account's role grants ``permission`` (on ``merchant``)."""
        try:
            authorize(self.principal, Permission(permission), merchant=merchant)
        except ForbiddenError:
            return False
        return True


class Refusal(Exception):  # noqa: N818 - it carries the answer, it is not an error
    """The answer a page gives instead of itself (to /login, or 403)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def viewer(
    request: Request, permission: Permission | None = None, *, merchant: str | None = None
) -> Viewer:
    """The page's viewer, if it may see it: raises :class:`Refusal` with a redirect to
    ``/login`` (no live session) or a 403 page (its role lacks ``permission``)."""
    principal = await run_in_threadpool(session_of, request)
    if principal is None:
        response: Response = see_other("/login")
        if request.cookies.get(SESSION_COOKIE):
            clear_cookie(request, response, SESSION_COOKIE)
        raise Refusal(response)
    seen = Viewer(principal, csrf_token(request.cookies[SESSION_COOKIE]))
    if permission is not None and not seen.may(permission, merchant):
        raise Refusal(
            render(
                "refused.html",
                403,
                viewer=seen,
                message=f"Your role ({principal.role.value}) may not see this page.",
            )
        )
    return seen


def with_clocks(r: Reader) -> list[tuple[Incident, Clock]]:
    """Every incident, oldest first, with its 72-hour clock now."""
    engine = r.engine
    return [(i, engine.clock(i.id)) for i in engine.incidents()]


def waiting_on(r: Reader, actors: Iterable[str]) -> dict[str, int]:
    """How many new alerts (waiting for triage) each of ``actors`` has, up to
    :data:`WAITING_SHOWN` + 1, those with none left out: what an open incident about them
    may already cover."""
    counts = {
        actor: len(r.store.alerts_by_severity(limit=WAITING_SHOWN + 1, actor=actor, status="new"))
        for actor in actors
    }
    return {actor: n for actor, n in counts.items() if n}


def plain(exc: Error) -> str:
    """An error of ours as one line for a page: each problem of a refused input by field."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{p.path}: {p.message}" if p.path else p.message for p in exc.problems)
    return exc.diagnostics()


_M = TypeVar("_M", bound=BaseModel)


# What a form asks when a field is left empty (else "fill it in").
_WHEN_MISSING: Final = {
    "reason": "say why",
    "status": "choose one",
    "state": "choose one",
    "phase": "choose one",
    "ids": "tick at least one",
}


def _in_words(error: ErrorDetails) -> str:
    """What a refused field needs, said as a person would (pydantic's error, by its type)."""
    kind, ctx = error["type"], error.get("ctx") or {}
    field = str(error["loc"][0]) if error["loc"] else ""
    choices = str(ctx.get("expected", "")).replace("'", "")
    said: dict[str, str] = {
        "missing": _WHEN_MISSING.get(field, "fill it in"),
        "string_too_short": _WHEN_MISSING.get(field, "fill it in"),
        "string_pattern_mismatch": _WHEN_MISSING.get(field, "fill it in"),
        "too_short": _WHEN_MISSING.get(field, "fill it in"),
        "less_than_equal": f"at most {ctx.get('le')}",
        "less_than": f"less than {ctx.get('lt')}",
        "greater_than_equal": f"at least {ctx.get('ge')}",
        "greater_than": f"more than {ctx.get('gt')}",
        "int_parsing": "a whole number",
        "int_from_float": "a whole number",
        "string_too_long": f"at most {ctx.get('max_length')} characters",
        "too_long": f"at most {ctx.get('max_length')}",
        "literal_error": f"one of {choices}",
        "enum": f"one of {choices}",
        "extra_forbidden": "not expected here",
    }
    return said.get(kind) or error["msg"].removeprefix("Value error, ")


def in_words(name: str) -> str:
    """A field's or fact's name as a label: ``subjects_contactable`` → ``Subjects contactable``."""
    words = name.replace("_", " ")
    return words[:1].upper() + words[1:]


def _label(field: str, labels: Mapping[str, str]) -> str:
    """A field's label on its form (else its name in words)."""
    return labels.get(field) or in_words(field) or "The form"


def validated(
    model: type[_M], values: dict[str, Any], labels: Mapping[str, str] | None = None
) -> tuple[_M | None, list[str]]:
    """A form's ``values`` as the REST API's body ``model`` (texts stripped, blank fields left
    out), so a form is held to exactly the API's rules; or ``None`` and what is wrong, one
    sentence per field, named by its label on the form (``labels``: field → label; else the
    field's name in words): "Reason: say why", "Suppress for (days): at most 90"."""
    given = {
        k: v.strip() if isinstance(v, str) else v
        for k, v in values.items()
        if v is not None and not (isinstance(v, str) and not v.strip())
    }
    try:
        return model.model_validate(given), []
    except PydanticValidationError as exc:
        said: list[str] = []
        for e in exc.errors():
            line = f"{_label(str(e['loc'][0]) if e['loc'] else '', labels or {})}: {_in_words(e)}"
            if line not in said:  # one line for every item of a list that is wrong alike
                said.append(line)
        return None, said


async def form_fields(request: Request, *, limit: int = MAX_FORM) -> list[tuple[str, str]] | None:
    """The posted form's text fields in order, or ``None`` when it is too large or no form."""
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > limit:
        return None
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    form = await request.form(max_files=0, max_fields=2000)
    return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]


async def posted(request: Request, seen: Viewer) -> list[tuple[str, str]]:
    """The form of a change, its CSRF token checked: raises :class:`Refusal` (400 for no
    readable form, 403 for a missing or wrong token)."""
    fields = await form_fields(request)
    if fields is None:
        raise Refusal(
            render("refused.html", 400, viewer=seen, message="The form could not be read.")
        )
    token = next((v for k, v in fields if k == "csrf_token"), None)
    if not csrf_matches(request.cookies.get(SESSION_COOKIE, ""), token):
        raise Refusal(
            render(
                "refused.html",
                403,
                viewer=seen,
                message="The form expired or was not ours (missing or wrong CSRF token).",
            )
        )
    return [(k, v) for k, v in fields if k != "csrf_token"]
