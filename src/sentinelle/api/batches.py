"""What the API's routes that take batches of events share (``POST /v1/events``, the OTLP
receiver, the help-desk webhooks): reading the body as it streams in, storing the batch and
what follows it, and the delivery to the alert destinations after the answer. One path, so
the routes cannot drift apart (the OTLP receiver's copy of the delivery condition once did)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from fastapi import BackgroundTasks, HTTPException, Request

from sentinelle.api.deps import State, locked
from sentinelle.connectors import outbound
from sentinelle.ingest import Ingestor, IngestResult
from sentinelle.live import AfterBatch, send_out

__all__ = ["MAX_BODY_BYTES", "deliver_later", "read_body", "store_batch"]

#: The largest body ``POST /v1/events`` and the OTLP receiver read.
MAX_BODY_BYTES: Final = 64 * 1024 * 1024


async def store_batch(
    state: State, items: Iterable[tuple[int, bytes]], *, unit: str
) -> tuple[IngestResult, AfterBatch]:
    """Ingest ``items`` (``(location, raw JSON)``) as one batch, then what follows a committed
    batch (:meth:`State.after_batch`: live detection, the response): one request at a time,
    off the event loop. Raises as :meth:`Ingestor.ingest` (``ValidationError``, nothing
    stored) and ``StoreBusyError``."""

    def ingest() -> tuple[IngestResult, AfterBatch]:
        result = Ingestor(state.store, state.ledger).ingest(items, unit=unit)
        # Committed; detection and the response follow, so their problems never lose events.
        return result, state.after_batch()

    # The store is synchronous: keep the event loop free while a batch is written.
    return await locked(state, ingest)


async def read_body(request: Request, too_large: str, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request's body, read as it streams in: refused once it passes ``limit`` bytes, so a
    larger body is never held whole. Raises :class:`HTTPException` 413 (``too_large``)."""
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise HTTPException(413, too_large)
    return bytes(body)


def deliver_later(state: State, background: BackgroundTasks) -> None:
    """After a stored batch, when an alert destination is configured (webhooks, syslog or
    e-mail): the deliveries due (:func:`sentinelle.live.send_out`) after the answer, on a
    connection of its own, so a slow webhook never holds the store; without the deadline check,
    which the batch's :meth:`State.after_batch` ran at the API's clock."""
    if outbound.configured(state.settings):
        background.add_task(send_out, state.settings, deadlines=False)
