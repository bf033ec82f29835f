"""``POST /v1/otlp/v1/logs``: OpenTelemetry logs over OTLP/HTTP → access events in the ledger,
then live detection (:mod:`sentinelle.connectors.otlp` reads and maps the request).

An OTLP exporter's endpoint is ``<sentinelle>/v1/otlp`` (it appends ``/v1/logs``), with the
header ``Authorization: Bearer <key>`` of a key that may send events (``events:write``: role
``ingest`` or ``guard``). Every answer speaks OTLP/HTTP: 200 with an
``ExportLogsServiceResponse`` (``partial_success`` names the refused records; the valid ones
of the same request are stored), and a ``google.rpc.Status`` for every error — 400 (not an
OTLP request), 401/403 (the key), 413 (too large), 415 (not protobuf or JSON, or an unknown
``Content-Encoding``), 503 (the store is busy: retry after ``Retry-After``, as exporters do) —
in the request's encoding (protobuf or JSON).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Final

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from sentinelle.access import Permission
from sentinelle.api.batches import deliver_later, read_body, store_batch
from sentinelle.api.deps import GuardedRoute, StateDep, guarded
from sentinelle.connectors.otlp import (
    CONTENT_TYPES,
    MAX_BODY_BYTES,
    PATH,
    Encoding,
    Mapped,
    OtlpRequestError,
    decode,
    decompress,
    encoding_of,
    export_response,
    map_logs,
    status_body,
)
from sentinelle.errors import StoreBusyError
from sentinelle.events import canonical
from sentinelle.ingest import IngestResult
from sentinelle.live import AfterBatch

__all__ = ["COUNTS_HEADER", "OtlpStatus", "router"]

_logger = logging.getLogger(__name__)

#: What became of the request's records, for people reading the exchange (OTLP's response
#: has no room for it): ``stored=3, duplicates=0, ignored=12, rejected=1``.
COUNTS_HEADER: Final = "X-Sentinelle-Log-Records"


class OtlpStatus(BaseModel):
    """A ``google.rpc.Status`` as OTLP/JSON writes it: ``code`` (google.rpc.Code) and
    ``message``. In protobuf for a protobuf request."""

    code: int
    message: str


def _encoding(request: Request) -> Encoding:
    """The encoding errors are answered in: the request's, JSON when it has none of OTLP's."""
    try:
        return encoding_of(request.headers.get("content-type"))
    except OtlpRequestError:
        return "json"


def _status(
    request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An error as OTLP answers it: a ``Status`` in the request's encoding."""
    encoding = _encoding(request)
    return Response(
        status_body(status, message, encoding),
        status_code=status,
        media_type=CONTENT_TYPES[encoding],
        headers=headers,
    )


class _OtlpRoute(GuardedRoute):
    """A :class:`GuardedRoute` (401/403 before the body is read) whose every refusal is an
    OTLP ``Status`` message, not the API's JSON ``detail``: the guard's and the body
    limit's (``HTTPException``), the request's (:class:`OtlpRequestError`) and a busy
    store's (503 with ``Retry-After``, which exporters honour)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def as_status(request: Request) -> Response:
            try:
                return await handle(request)
            except HTTPException as exc:
                return _status(request, exc.status_code, str(exc.detail), exc.headers)
            except OtlpRequestError as exc:
                return _status(request, exc.status, exc.message)
            except StoreBusyError as exc:
                headers = {"Retry-After": str(exc.retry_after)}
                return _status(request, 503, exc.diagnostics(), headers)

        return as_status


# Tagged "events": what the route does is ingest events (the schema tests walk the tags).
router = APIRouter(tags=["events"], route_class=_OtlpRoute)


def _status_doc(description: str) -> dict[str, Any]:
    """An error's documentation: a ``Status`` in JSON (the model) or protobuf."""
    binary = {"type": "string", "format": "binary", "description": "google.rpc.Status"}
    return {
        "model": OtlpStatus,
        "description": description,
        "content": {CONTENT_TYPES["protobuf"]: {"schema": binary}},
    }


_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "Accepted: an ExportLogsServiceResponse; partial_success counts and "
        "names the records refused (the others are stored), then live detection's warnings. "
        f"{COUNTS_HEADER} says what "
        "became of every record",
        "headers": {COUNTS_HEADER: {"schema": {"type": "string"}}},
        "content": {
            CONTENT_TYPES["protobuf"]: {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "ExportLogsServiceResponse",
                }
            },
            CONTENT_TYPES["json"]: {
                "schema": {
                    "type": "object",
                    "properties": {
                        "partialSuccess": {
                            "type": "object",
                            "properties": {
                                "rejectedLogRecords": {"type": "string"},
                                "errorMessage": {"type": "string"},
                            },
                        }
                    },
                }
            },
        },
    },
    400: _status_doc("Not an ExportLogsServiceRequest (the message says why)"),
    401: _status_doc("Missing or invalid API key (`Authorization: Bearer <key>`)"),
    403: _status_doc("The key's role does not grant events:write"),
    413: _status_doc(f"Body larger than {MAX_BODY_BYTES} bytes, or inflating beyond"),
    415: _status_doc(
        "Content-Type not application/x-protobuf or application/json, or a "
        "Content-Encoding other than gzip, deflate or none"
    ),
    503: _status_doc("The store is busy: retry after `Retry-After`"),
}
_REQUEST: Final[dict[str, Any]] = {
    "required": True,
    "content": {
        CONTENT_TYPES["protobuf"]: {
            "schema": {
                "type": "string",
                "format": "binary",
                "description": "ExportLogsServiceRequest (opentelemetry-proto)",
            }
        },
        CONTENT_TYPES["json"]: {
            "schema": {
                "type": "object",
                "description": "ExportLogsServiceRequest in OTLP/JSON (hex trace and span ids)",
            }
        },
    },
}
_POST = guarded(Permission.EVENTS_WRITE)
_POST["openapi_extra"] = {**_POST["openapi_extra"], "requestBody": _REQUEST}


@router.post(
    PATH,
    response_class=Response,
    responses=_RESPONSES,
    **_POST,
)
async def post_logs(request: Request, state: StateDep, background: BackgroundTasks) -> Response:
    """Store the access events of the log records with ``sentinelle.*`` attributes
    (docs/connectors.md): records without them are ignored; a record that cannot be mapped
    is refused in ``partial_success`` and the others stored; live detection's warnings are
    said there too, with nothing rejected when none was. A request sent again stores
    nothing twice (each event's id comes from its record)."""
    # Every refusal raised here is answered as a Status by the route class (_OtlpRoute).
    encoding = encoding_of(request.headers.get("content-type"))
    too_large = f"body larger than {MAX_BODY_BYTES} bytes; send less"
    body = await read_body(request, too_large, limit=MAX_BODY_BYTES)
    coding = request.headers.get("content-encoding")

    def read() -> Mapped:
        return map_logs(decode(decompress(body, coding), encoding))

    mapped = await run_in_threadpool(read)  # protobuf and mapping: off the event loop
    result, after = IngestResult(), AfterBatch()
    if mapped.events:
        items = [(i, canonical(event)) for i, event in enumerate(mapped.events)]
        result, after = await store_batch(state, items, unit="index")
        deliver_later(state, background)
    counts = (
        f"stored={result.stored}, duplicates={result.duplicates}, "
        f"ignored={mapped.ignored}, rejected={len(mapped.rejected)}"
    )
    _logger.debug("OTLP logs: %s", counts)  # counts only: records hold identifiers
    return Response(
        export_response(mapped, encoding, after.notes),
        media_type=CONTENT_TYPES[encoding],
        headers={COUNTS_HEADER: counts},
        background=background,
    )
