"""``/v1/connectors/{vendor}``: help-desk webhooks (Zendesk, Freshdesk, Jira Service
Management, Gorgias) → ticket context events in the ledger, then live detection.

These routes take no API key: a help desk cannot be given one to send (Jira and Gorgias send
only what their webhook screens allow). The vendor's signature is their authentication, or,
for vendors that sign nothing, a shared secret header (:mod:`sentinelle.connectors`): 401
without a valid one, before the body is parsed, and nothing stored. A receiver whose secret
is not configured answers 503 naming the variable to set. The OpenAPI document marks them
with ``x-sentinelle-auth: signature`` instead of a permission.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any, Final

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from sentinelle.api.batches import deliver_later, read_body, store_batch
from sentinelle.api.deps import StateDep
from sentinelle.api.responses import ErrorBody
from sentinelle.config import Settings
from sentinelle.connectors import (
    MAX_BODY_BYTES,
    VENDORS,
    NotConfiguredError,
    Receiver,
    SignatureError,
    encode,
    ticket_history,
)
from sentinelle.events import ContextEvent

__all__ = ["AUTH_KEY", "router"]

#: Marks, in the OpenAPI document, routes authenticated by the sender's signature.
AUTH_KEY: Final = "x-sentinelle-auth"
_RECEIVER: Final = "sentinelle_connectors"

# Tagged "events": what these routes do is ingest events, and the document's tags are the
# resources the schema tests walk (tests/e2e/test_api_schema.py).
router = APIRouter(prefix="/v1/connectors", tags=["events"])

_BODY: Final[dict[str, Any]] = {
    "required": True,
    "content": {"application/json": {"schema": {"type": "object"}}},
}


def receiver(request: Request, settings: Settings) -> Receiver:
    """The app's receiver, built from ``settings`` on first use (tests may set
    ``app.state.sentinelle_connectors`` first). Raises :class:`ConfigError`."""
    found = getattr(request.app.state, _RECEIVER, None)
    if not isinstance(found, Receiver):
        found = Receiver.from_settings(settings)
        setattr(request.app.state, _RECEIVER, found)
    return found


@router.post(
    "/{vendor}",
    responses={
        401: {"model": ErrorBody, "description": "Signature or shared secret missing or wrong"},
        404: {
            "model": ErrorBody,
            "description": "Not a connector: zendesk, freshdesk, jira, gorgias",
        },
        413: {"model": ErrorBody, "description": "Body larger than 1 MiB"},
        422: {"model": ErrorBody, "description": "The payload cannot be mapped (names the field)"},
        503: {"model": ErrorBody, "description": "The connector's secret is not configured"},
    },
    openapi_extra={AUTH_KEY: "signature", "requestBody": _BODY},
)
async def post_webhook(
    vendor: str, request: Request, state: StateDep, background: BackgroundTasks
) -> dict[str, Any]:
    """Receive one webhook of ``vendor``: check its signature, map it to ticket events, store
    them (a redelivery is stored once: ids come from the vendor's event ids, or, for the
    vendors that send a ticket's state, from that state and the ticket's stored events) and
    run live detection. A payload that is not about a ticket change maps to no event (200)."""
    if vendor not in VENDORS:
        raise HTTPException(404, f"no connector {vendor!r}: one of {', '.join(VENDORS)}")
    connectors = receiver(request, state.settings)
    if connectors.settings.webhook_secret(vendor) is None:
        raise HTTPException(503, NotConfiguredError(vendor).diagnostics())
    too_large = f"body larger than {MAX_BODY_BYTES} bytes"
    body = await read_body(request, too_large, limit=MAX_BODY_BYTES)
    headers = {k.lower(): v for k, v in request.headers.items()}
    now = dt.datetime.fromtimestamp(state.clock() / 1_000_000, tz=dt.UTC)

    def history(ticket: str) -> list[ContextEvent]:
        # A read connection, beside the writes: the ids that follow from what it reads are
        # derived from it, so two deliveries read alike derive the same (stored once).
        with state.readers.snapshot() as reader:
            return ticket_history(reader.store, ticket)

    try:
        events = await run_in_threadpool(
            partial(connectors.receive, vendor, headers, body, now=now, history=history)
        )
    except SignatureError as exc:  # the reason names the header, never the secret
        raise HTTPException(401, exc.diagnostics()) from None
    items = encode(events)
    if not items:
        return {"received": 0, "stored": 0, "events": []}
    result, after = await store_batch(state, items, unit="index")
    deliver_later(state, background)  # the alerts it raised, as after POST /v1/events
    return {**result.to_dict(), **after.to_dict(), "events": [e.id for e in events]}
