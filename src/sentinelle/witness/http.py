"""The witness over HTTP: ``POST /add-checkpoint`` (C2SP ``tlog-witness``), a tiny ASGI app.

Requests need no authentication: the spec has none beyond the log's signature on the
checkpoint, which the witness verifies against the keys it is configured with; anyone may
submit a log's signed checkpoint, and it is cosigned only if it extends the last one. The
answer to a success is the cosignature line(s), ``text/plain``; a 409 for a wrong ``old``
size carries the witness's size as ``text/x.tlog.size``; other refusals a one-line reason.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from sentinelle.ledger.witnessing import SIZE_MEDIA_TYPE
from sentinelle.witness.witness import MAX_REQUEST, Witness, WitnessRefusedError

__all__ = ["create_witness_app"]


def create_witness_app(witness: Witness) -> FastAPI:
    """The ASGI application serving ``witness``."""
    app = FastAPI(
        title="Sentinelle witness",
        description="C2SP tlog-witness: POST /add-checkpoint.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_REQUEST:
                return PlainTextResponse(f"the request is larger than {MAX_REQUEST} bytes\n", 413)
        try:
            lines = await run_in_threadpool(witness.add_checkpoint, bytes(body))
        except WitnessRefusedError as refusal:
            if refusal.status == 409 and refusal.size is not None:
                # The spec's body for a 409: the size last cosigned, in decimal. The reason goes
                # in a header, for people reading logs.
                # Exactly the spec's Content-Type: media_type= would append a charset.
                return Response(
                    f"{refusal.size}\n",
                    409,
                    headers={
                        "Content-Type": SIZE_MEDIA_TYPE,
                        "X-Witness-Reason": _header_safe(str(refusal)),
                    },
                )
            return PlainTextResponse(f"{refusal}\n", refusal.status)
        return PlainTextResponse(lines)

    return app


def _header_safe(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")[:500]
