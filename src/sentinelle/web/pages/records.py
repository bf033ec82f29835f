"""``/register`` (the breach register, GDPR Art. 33(5)), ``/ledger`` (the latest signed
checkpoint, the verifier key, an event's inclusion proof by id) and ``/merchants/{merchant}``
(a merchant's accesses, each with its proof, as ``GET /v1/merchants/{merchant}/accesses``
serves them: the same function answers both; above them, the grants panel of
:mod:`sentinelle.web.pages.grants`: requests waiting for an answer, the grants' history)."""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError

from sentinelle.access import Permission
from sentinelle.api.deps import Reader, reading
from sentinelle.api.routes.merchants import accesses_page
from sentinelle.errors import Error, NotFoundError
from sentinelle.web.common import render, state_of, viewer, with_clocks
from sentinelle.web.pages.grants import grants_panel

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

PAGE: Final = 50


@router.get("/register")
async def register(request: Request) -> Response:
    """The breach register: every incident, its facts, decisions and clock."""
    seen = await viewer(request, Permission.REGISTER_READ)
    state = state_of(request)

    rows = await reading(state, with_clocks)
    return render("register.html", viewer=seen, section="/register", rows=rows)


@router.get("/ledger")
async def ledger(request: Request) -> Response:
    """The latest checkpoint and verifier key; with ``?event=ID``, that event's proof."""
    seen = await viewer(request, Permission.LEDGER_PROOF)
    state = state_of(request)
    event = request.query_params.get("event", "").strip()[:200]

    def work(r: Reader) -> dict[str, Any]:  # one read transaction: proof and checkpoint agree
        out: dict[str, Any] = {"checkpoint": r.store.latest_checkpoint(), "proof": None}
        if event:
            try:
                out["proof"] = r.ledger.proof(event, None)
            except NotFoundError as exc:
                out["problem"] = str(exc.args[0]) if exc.args else "no such event"
            except Error as exc:
                out["problem"] = exc.diagnostics()
        return out

    found = await reading(state, work)
    status = 404 if found.get("problem") else 200
    return render(
        "ledger.html",
        status,
        viewer=seen,
        section="/ledger",
        event=event,
        key=state.ledger.key.verifier_key(),
        **found,
    )


@router.get("/merchants/{merchant}")
async def merchant(request: Request, merchant: str) -> Response:
    """A merchant's accesses, newest first, each with its inclusion proof."""
    seen = await viewer(request, Permission.MERCHANT_ACCESSES, merchant=merchant)
    state = state_of(request)
    cursor = request.query_params.get("cursor") or None
    problem = ""
    try:
        page = await reading(state, lambda r: accesses_page(r, merchant, cursor=cursor, limit=PAGE))
    except RequestValidationError:
        problem = "The page link is not valid any more: showing the newest accesses."
        page = await reading(state, lambda r: accesses_page(r, merchant, limit=PAGE))
    next_url = f"/merchants/{merchant}?" + urlencode({"cursor": page.next}) if page.next else None
    items = [
        {"event": json.loads(body), "leaf_index": seq, "proof": [h.hex() for h in path]}
        for (seq, body), path in zip(page.rows, page.proofs, strict=True)
    ]
    panel = None if cursor else await grants_panel(request, seen, merchant)  # first page only
    return render(
        "merchant.html",
        viewer=seen,
        section="/merchants",
        merchant=merchant,
        page=page,
        items=items,
        next_url=next_url,
        error=problem,
        grants=panel,
    )
