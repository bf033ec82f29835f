"""The REST API (FastAPI): a thin layer over ingest and the ledger.

Every ``/v1/`` route needs an API key (``Authorization: Bearer …``, see ``sentinelle keys
create``). The API's description is public: ``/openapi.json``, ``/docs`` (Swagger UI, with
``/docs/oauth2-redirect``) and ``/redoc``; they describe the routes and hold no data.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, Final

import msgspec
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from sentinelle import __version__
from sentinelle.api.auth import authenticate
from sentinelle.config import Settings
from sentinelle.detect import Alert, DetectConfig, DetectionRunner, Severity
from sentinelle.errors import Error, NotFoundError, Problem, StoreBusyError, ValidationError
from sentinelle.ingest import Ingestor, IngestResult, deep_element
from sentinelle.ledger.log import Ledger
from sentinelle.store import ApiKey, Store, open_store

__all__ = ["MAX_BODY_BYTES", "create_app"]

MAX_BODY_BYTES: Final = 64 * 1024 * 1024
_array_of_raw: Final = msgspec.json.Decoder(list[msgspec.Raw])


class _State:
    """The store and ledger, used by one request at a time (one connection)."""

    def __init__(self, settings: Settings) -> None:
        self.store: Store = open_store(settings)
        self.ledger = Ledger.open(
            self.store, data_dir=settings.data_dir, origin=settings.log_origin
        )
        self.detect_config = DetectConfig.from_settings(settings)
        self.lock = threading.Lock()


def require_key(request: Request) -> ApiKey:
    """The API key the request presents. Raises 401 if missing, unknown or revoked."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    key = None
    if scheme.lower() == "bearer" and token:
        state: _State = request.app.state.sentinelle
        with state.lock:
            key = authenticate(state.store, token.strip())
    if key is None:
        raise HTTPException(
            status_code=401,
            detail="missing or invalid API key (Authorization: Bearer <key>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return key


def create_app(settings: Settings) -> FastAPI:
    """The API application for these settings."""
    state = _State(settings)

    @asynccontextmanager
    async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
        # A lifespan, not @app.on_event("shutdown"): FastAPI deprecates on_event.
        try:
            yield
        finally:
            state.store.close()

    app = FastAPI(
        title="Sentinelle",
        version=__version__,
        lifespan=_lifespan,
        # Every route needs a key; only the OpenAPI description is public.
        dependencies=[Depends(require_key)],
    )
    app.state.sentinelle = state

    @app.exception_handler(Error)
    async def _error(_: Request, exc: Error) -> JSONResponse:
        if isinstance(exc, StoreBusyError):  # another process holds the write lock: retry
            return JSONResponse(
                {"detail": exc.diagnostics()},
                status_code=503,
                headers={"Retry-After": str(exc.retry_after)},
            )
        status = 404 if isinstance(exc, NotFoundError) else 500
        return JSONResponse({"detail": exc.diagnostics()}, status_code=status)

    @app.exception_handler(ValidationError)
    async def _invalid(_: Request, exc: ValidationError) -> JSONResponse:
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

    @app.post("/v1/events", tags=["events"])
    async def post_events(request: Request) -> dict[str, Any]:
        """Ingest a batch: a JSON array of events, or NDJSON (one event per line).

        All or nothing: one invalid event refuses the batch (422) with up to 20 problems,
        each with its array index (0-based) or line number (1-based), field path and message.
        """
        body = bytearray()
        async for part in request.stream():
            body += part
            if len(body) > MAX_BODY_BYTES:
                raise HTTPException(413, f"batch larger than {MAX_BODY_BYTES} bytes; split it")
        items, unit = _split(bytes(body))

        def ingest() -> tuple[IngestResult, list[Alert]]:
            with state.lock:
                result = Ingestor(state.store, state.ledger).ingest(items, unit=unit)
                # Committed; detection follows, so a detector problem never loses events.
                return result, DetectionRunner(state.store, state.detect_config).catch_up()

        # The store is synchronous: keep the event loop free while a batch is written.
        result, alerts = await run_in_threadpool(ingest)
        medium = sum(1 for a in alerts if a.severity >= Severity.MEDIUM)
        return {**result.to_dict(), "alerts": len(alerts), "alerts_medium_plus": medium}

    @app.get("/v1/ledger/checkpoint", tags=["ledger"])
    def get_checkpoint() -> dict[str, Any]:
        """The latest signed checkpoint note."""
        with state.lock:
            cp = state.store.latest_checkpoint()
        if cp is None:
            raise HTTPException(404, "no checkpoint yet")
        return {"size": cp.size, "root_hash": cp.root.hex(), "note": cp.note}

    @app.get("/v1/ledger/proof/{event_id}", tags=["ledger"])
    def get_proof(event_id: str, size: int | None = None) -> dict[str, Any]:
        """Inclusion proof of an event (RFC 9162)."""
        with state.lock:
            return state.ledger.proof(event_id, size)

    return app


def _split(body: bytes) -> tuple[Iterator[tuple[int, bytes]] | list[tuple[int, bytes]], str]:
    """A JSON array (elements by 0-based index) or NDJSON (lines by 1-based number)."""
    if body.lstrip()[:1] == b"[":
        try:
            elements = _array_of_raw.decode(body)
        except msgspec.DecodeError as exc:
            raise ValidationError(
                [Problem(0, "$", f"not a valid JSON array ({exc})")], unit="index"
            ) from None
        except RecursionError:  # msgspec's depth guard: a problem of the sender, not a 500
            too_deep = "nested too deeply (an event is at most 3 levels deep)"
            raise ValidationError(
                [Problem(deep_element(body), "$", too_deep)], unit="index"
            ) from None
        return [(i, bytes(raw)) for i, raw in enumerate(elements)], "index"
    lines = [(n, line) for n, line in enumerate(body.split(b"\n"), 1) if line.strip()]
    return lines, "line"
