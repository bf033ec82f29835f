"""The console: server-rendered pages (Jinja2) for people, served by the API's process.

Pages: ``/login`` and ``/logout`` (:mod:`.auth`); ``/`` (open incidents and new alerts, or
a merchant's accesses); ``/alerts`` (the queue, bulk triage) and ``/alerts/{id}``;
``/actors`` and ``/actors/{actor}``; ``/incidents`` and ``/incidents/{id}`` (clock, scope,
severity, duties, phases, notices, and their actions); ``/register``; ``/ledger`` (checkpoint,
verifier key, proof lookup); ``/merchants/{merchant}`` (a merchant's accesses with proofs).

Each page checks its viewer's role with the REST API's own rule
(:func:`sentinelle.access.authorize`): without a session it sends the browser to ``/login``,
with a role that lacks the permission it answers 403. Forms that change something carry the
session's CSRF token (:func:`.common.posted`). Pages work without script; one small script
of ours (``/static/console.js``) shows times in the viewer's zone and runs the countdowns.
Every console response carries :data:`SECURITY_HEADERS`: a strict Content-Security-Policy
(scripts and styles from this origin only, nothing inline, no frames, forms post here only).
"""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI, Request, Response
from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentinelle.web import auth, pages
from sentinelle.web.common import Refusal

__all__ = ["SECURITY_HEADERS", "install"]

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
# The API's own paths: JSON for programs, and FastAPI's documentation pages (which load their
# script from a CDN, so the console's policy would break them).
_API: Final = ("/v1/", "/health", "/metrics", "/openapi.json", "/docs", "/redoc")


class _SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response but the API's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else "/v1/"
        if path.startswith(_API):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refused(_: Request, exc: Exception) -> Response:
    if not isinstance(exc, Refusal):  # pragma: no cover - registered for Refusal only
        raise exc
    return exc.response


def install(app: FastAPI) -> None:
    """Serve the console from ``app``: its pages, its static files, its headers."""
    app.include_router(auth.router)
    for router in pages.ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    app.add_exception_handler(Refusal, _refused)
    app.add_middleware(_SecurityHeaders)
