"""``/v1/events``: batches of access and context events into the ledger, then live detection."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

import msgspec
from fastapi import APIRouter, BackgroundTasks, Request

from sentinelle.access import Permission
from sentinelle.api.batches import MAX_BODY_BYTES, deliver_later, read_body, store_batch
from sentinelle.api.deps import GuardedRoute, StateDep, guarded
from sentinelle.api.responses import ErrorBody
from sentinelle.api.routes.metrics import ingest_metrics
from sentinelle.errors import Problem, ValidationError
from sentinelle.events.parse import json_problem
from sentinelle.ingest import deep_element

__all__ = ["router"]

_array_of_raw: Final = msgspec.json.Decoder(list[msgspec.Raw])
_any: Final = msgspec.json.Decoder()


router = APIRouter(prefix="/v1/events", tags=["events"], route_class=GuardedRoute)

# The route reads its body itself (a stream, up to MAX_BODY_BYTES), so FastAPI cannot describe
# it: the document says here what it takes. Each event is checked against the event schemas
# (``sentinelle/events/schemas``); a refused batch is a 422 listing the problems.
_BODY: Final[dict[str, Any]] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "array", "items": {"type": "object"}},
        },
        "application/x-ndjson": {
            "schema": {"type": "string", "description": "One event (a JSON object) per line"},
        },
    },
}
_POST = guarded(Permission.EVENTS_WRITE)
_POST["openapi_extra"] = {**_POST["openapi_extra"], "requestBody": _BODY}


@router.post(
    "",
    responses={413: {"model": ErrorBody, "description": "Body larger than 64 MiB: split it"}},
    **_POST,
)
async def post_events(
    request: Request, state: StateDep, background: BackgroundTasks
) -> dict[str, Any]:
    """Ingest a batch: a JSON array of events, or NDJSON (one event per line).

    All or nothing: one invalid event refuses the batch (422) with up to 20 problems,
    each with its array index (0-based) or line number (1-based), field path and message.
    """
    with ingest_metrics(request.app).batch() as batch:  # GET /metrics: outcome and latency
        body = await read_body(request, f"batch larger than {MAX_BODY_BYTES} bytes; split it")
        items, unit = _split(body)
        batch.received = len(items) if isinstance(items, list) else 0
        result, after = await store_batch(state, items, unit=unit)
        batch.stored, batch.duplicates = result.stored, result.duplicates
    deliver_later(state, background)
    return {**result.to_dict(), **after.to_dict()}


def _array_problem(body: bytes, exc: msgspec.DecodeError) -> Problem:
    """What is wrong with a JSON array msgspec refused, at the first element at fault (found
    again with the standard library's decoder, element by element: the error path only)."""
    try:
        text = body.decode()
    except UnicodeDecodeError as bad:
        return Problem(0, "$", f"not valid UTF-8 (byte {bad.start})")
    decoder = json.JSONDecoder()
    at, index = text.index("[") + 1, 0
    try:
        while (at := _skip(text, at)) < len(text) and text[at] != "]":
            try:
                _, end = decoder.raw_decode(text, at)
            except json.JSONDecodeError as bad:
                return Problem(
                    index, "$", f"not valid JSON ({bad.msg}: line {bad.lineno} column {bad.colno})"
                )
            element = text[at:end].encode()
            try:
                _any.decode(element)  # what the standard library takes and msgspec does not
            except msgspec.DecodeError as refused:
                return Problem(index, "$", json_problem(element, refused))
            at = _skip(text, end)
            if text[at : at + 1] != ",":
                break
            at, index = at + 1, index + 1
    except RecursionError:
        pass
    return Problem(index, "$", f"not a valid JSON array ({exc})")


def _skip(text: str, at: int) -> int:
    """The first position from ``at`` that is not JSON whitespace."""
    while at < len(text) and text[at] in " \t\n\r":
        at += 1
    return at


def _split(body: bytes) -> tuple[Iterator[tuple[int, bytes]] | list[tuple[int, bytes]], str]:
    """A JSON array (elements by 0-based index) or NDJSON (lines by 1-based number)."""
    if body.lstrip()[:1] == b"[":
        try:
            elements = _array_of_raw.decode(body)
        except msgspec.DecodeError as exc:
            raise ValidationError([_array_problem(body, exc)], unit="index") from None
        except RecursionError:  # msgspec's depth guard: a problem of the sender, not a 500
            too_deep = "nested too deeply (an event is at most 3 levels deep)"
            raise ValidationError(
                [Problem(deep_element(body), "$", too_deep)], unit="index"
            ) from None
        return [(i, bytes(raw)) for i, raw in enumerate(elements)], "index"
    lines = [(n, line) for n, line in enumerate(body.split(b"\n"), 1) if line.strip()]
    return lines, "line"
