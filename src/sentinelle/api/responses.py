"""What the API documents beyond the happy path: the error body, the error statuses each route
may answer with, and the RFC 3339 time its parameters take.

Every status a route can answer with is declared in the OpenAPI document with its body, so a
client (and ``tests/e2e/test_api_schema.py``, which checks every answer against the document)
can rely on it. A 500 is never declared: it is a bug.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Final

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator

from sentinelle.timeutil import MAX_US, MIN_US, TIME_RANGE, to_us

__all__ = [
    "BAD_BODY",
    "CONFLICT",
    "GUARDED",
    "NOT_FOUND",
    "ErrorBody",
    "Rfc3339",
]


class ErrorBody(BaseModel):
    """An error: ``detail`` says what went wrong (FastAPI's own 422 gives a list there); a
    refused batch or input also lists its ``errors`` (``truncated`` when there were more)."""

    detail: str | list[dict[str, Any]]
    errors: list[dict[str, Any]] | None = None
    truncated: bool | None = None


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Every guarded route (see ``create_app``): no valid key, a role without the permission, an
# invalid parameter or body, the store's write lock held by another process.
GUARDED: Final[dict[int | str, dict[str, Any]]] = {
    401: _error("Missing or invalid API key (`Authorization: Bearer <key>`)"),
    403: _error("The key's role does not grant this route's permission"),
    422: _error("Invalid parameters or body; `errors` lists the problems"),
    503: _error("Another process holds the store's write lock: retry after `Retry-After`"),
}
NOT_FOUND: Final[dict[int | str, dict[str, Any]]] = {404: _error("Not found")}
CONFLICT: Final[dict[int | str, dict[str, Any]]] = {
    409: _error("The request conflicts with the incident's state")
}
BAD_BODY: Final[dict[int | str, dict[str, Any]]] = {
    400: _error("The body could not be read as JSON (e.g. it is not UTF-8)")
}

_RFC3339_START: Final = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]")


def _text_time(value: object) -> object:
    """Only an RFC 3339 text (or a datetime): pydantic alone also takes a number of seconds
    since the epoch ('5' or 5), which the document does not promise and nobody means."""
    if isinstance(value, str) and not _RFC3339_START.match(value):
        raise ValueError("expected an RFC 3339 time, e.g. 2026-11-03T10:00:00Z")
    if isinstance(value, int | float):
        raise ValueError("expected an RFC 3339 time (text), not a number")
    return value


def _in_range(value: dt.datetime) -> dt.datetime:
    """A time Sentinelle can work with (:data:`~sentinelle.timeutil.TIME_RANGE`): an offset
    must not carry it past the years a date has, nor a deadline derived from it."""
    if not MIN_US <= to_us(value) < MAX_US:
        raise ValueError(f"out of range: a time must be {TIME_RANGE}")
    return value


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_text_time), AfterValidator(_in_range)]
