"""The REST API (FastAPI): a thin layer over ingest, the ledger and the response engine.

Every ``/v1/`` route needs an API key (``Authorization: Bearer …``, see ``sentinelle keys
create``) whose role grants the route's permission (:mod:`sentinelle.access`); the permission
of each route is in the OpenAPI document as ``x-sentinelle-permission``. Public: ``/health``
and the API's description, ``/openapi.json`` and ``/docs`` (its reference as a plain page,
:mod:`sentinelle.api.reference`); they hold no data. A console session
(:mod:`sentinelle.web`) may stand for the key, with its CSRF token on changes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from sentinelle import __version__
from sentinelle.access import ForbiddenError
from sentinelle.api import reference
from sentinelle.api.batches import MAX_BODY_BYTES
from sentinelle.api.deps import State
from sentinelle.api.responses import GUARDED
from sentinelle.api.routes import (
    actors,
    alerts,
    connectors,
    events,
    feeds,
    grants,
    guard,
    incidents,
    integrations,
    ledger,
    merchants,
    metrics,
    notices,
    otlp,
    scim,
    slices,
)
from sentinelle.config import Settings
from sentinelle.connectors import outbound
from sentinelle.errors import Error, NotFoundError, StoreBusyError, ValidationError
from sentinelle.incidents import TransitionError
from sentinelle.live import send_out
from sentinelle.response import ConflictError, LeaseHeldError
from sentinelle.web import install as install_console

__all__ = ["MAX_BODY_BYTES", "create_app"]

# Errors that say the request conflicts with the incident's state (HTTP 409).
_CONFLICTS = (TransitionError, ConflictError, LeaseHeldError)


#: Seconds a round of the alert destinations under way may take to end at shutdown.
_ROUND_GRACE = 10.0


def _outbound_rounds(settings: Settings, stop: asyncio.Event) -> asyncio.Task[None] | None:
    """The server's own rounds of the alert destinations (:func:`sentinelle.live.send_out`),
    every ``outbound_every`` seconds until ``stop``; none without a destination or with 0."""
    every = settings.outbound_every
    if not every or not outbound.configured(settings):
        return None

    async def rounds() -> None:
        while True:
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
                return
            except TimeoutError:
                await run_in_threadpool(send_out, settings)

    return asyncio.create_task(rounds(), name="sentinelle-outbound-rounds")


def create_app(settings: Settings) -> FastAPI:
    """The API application for these settings."""
    state = State(settings)

    @asynccontextmanager
    async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
        # A lifespan, not @app.on_event("shutdown"): FastAPI deprecates on_event.
        stop = asyncio.Event()
        rounds = _outbound_rounds(settings, stop)
        # The merchant map, built ahead in a daemon thread (it never writes: a shutdown
        # meanwhile loses nothing).
        state.warming = threading.Thread(
            target=state.warm_slices, name="sentinelle-merchant-map", daemon=True
        )
        state.warming.start()
        try:
            yield
        finally:
            stop.set()
            if rounds is not None:  # a round under way may finish (its rows are leased)
                await asyncio.wait({rounds}, timeout=_ROUND_GRACE)
                rounds.cancel()
            # Runs under way get a bounded wait, then are left (a killed run, resumable).
            await run_in_threadpool(state.notice_runs.close)
            state.close()  # the read connections and the store

    # /docs is this project's own page (no script from a CDN: api.reference); no ReDoc.
    app = FastAPI(
        title="Sentinelle",
        version=__version__,
        lifespan=_lifespan,
        docs_url=None,
        redoc_url=None,
    )
    reference.install(app)
    app.state.sentinelle = state

    @app.exception_handler(Error)
    async def _error(_: Request, exc: Error) -> JSONResponse:
        if isinstance(exc, StoreBusyError):  # another process holds the write lock: retry
            return JSONResponse(
                {"detail": exc.diagnostics()},
                status_code=503,
                headers={"Retry-After": str(exc.retry_after)},
            )
        status = (
            404
            if isinstance(exc, NotFoundError)
            else 403
            if isinstance(exc, ForbiddenError)
            else 409
            if isinstance(exc, _CONFLICTS)
            else 500
        )
        return JSONResponse({"detail": exc.diagnostics()}, status_code=status)

    @app.exception_handler(ValidationError)
    async def _invalid(_: Request, exc: ValidationError) -> JSONResponse:
        if exc.unit in ("line", "index"):  # a batch of events
            return JSONResponse(
                {
                    "detail": "batch refused, nothing was written",
                    "errors": [
                        {exc.unit: p.location, "path": p.path, "message": p.message}
                        for p in exc.problems
                    ],
                    "truncated": exc.truncated,
                },
                status_code=422,
            )
        return JSONResponse(
            {
                "detail": exc.diagnostics(),
                "errors": [{"path": p.path, "message": p.message} for p in exc.problems],
            },
            status_code=422,
        )

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers (public, holds no data)."""
        return {"status": "ok", "version": __version__}

    # Every /v1 route may answer 401, 403, 422 and 503 (documented with their body). The
    # guard's decision first: the platform asks it before every view of customer data, and
    # routes are matched in order.
    app.include_router(guard.router, responses=GUARDED)
    app.include_router(connectors.router)  # signed by the vendor, not a key (docs/connectors.md)
    app.include_router(otlp.router)  # OTLP/HTTP: its errors are google.rpc.Status messages
    app.include_router(scim.router)  # SCIM 2.0: its errors are SCIM Error bodies
    routed = (events, ledger, alerts, feeds, incidents, notices, merchants, slices, actors, metrics)
    for module in routed:
        app.include_router(module.router, responses=GUARDED)
    for router in (grants.requests, grants.router):  # the guard's grants (docs/guard.md)
        app.include_router(router, responses=GUARDED)
    for router in (integrations.router, integrations.merchant_router):  # docs/detection.md
        app.include_router(router, responses=GUARDED)
    install_console(app)  # /login, /logout, / and /static (sentinelle.web)
    return app
