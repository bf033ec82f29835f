"""``/register`` (the breach register, GDPR Art. 33(5)), ``/ledger`` (the latest signed
checkpoint, the verifier key, an event's inclusion proof by id) and ``/merchants/{merchant}``
(a merchant's accesses, filtered, each with its proof, as ``GET
/v1/merchants/{merchant}/accesses`` serves them: the same function answers both, with the same
filters and the same policy for showing staff; the browser checks every proof itself with
``/static/proofs.js``; above them, the grants panel of :mod:`sentinelle.web.pages.grants`:
requests waiting for an answer, the grants' history)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError

from sentinelle.access import Permission
from sentinelle.api.deps import Reader, reading
from sentinelle.api.routes.merchants import (
    NO_FILTERS,
    AccessesPage,
    AccessFilters,
    accesses_page,
    names_staff,
    pseudonyms_of,
)
from sentinelle.errors import Error, NotFoundError
from sentinelle.events import ACCESS_ACTIONS, DATA_CATEGORIES
from sentinelle.store.accesses import ACTOR_KINDS, OUTCOMES
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


def _day_bounds(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The console's filter form gives days (``since``: from that UTC day, ``until``: through
    that UTC day); the API takes instants. Anything else is passed on as given."""
    out = []
    for name, value in pairs:
        if name in ("since", "until") and _DAY.fullmatch(value):
            day = dt.date.fromisoformat(value)
            if name == "until":
                day += dt.timedelta(days=1)
            value = f"{day.isoformat()}T00:00:00Z"
        out.append((name, value))
    return [(n, v) for n, v in out if v != ""]


@router.get("/merchants/{merchant}")
async def merchant(request: Request, merchant: str) -> Response:
    """A merchant's accesses, newest first, filtered, each with its inclusion proof (checked
    in the browser by ``/static/proofs.js``), and the link to their CSV export."""
    seen = await viewer(request, Permission.MERCHANT_ACCESSES, merchant=merchant)
    state = state_of(request)
    cursor = request.query_params.get("cursor") or None
    name_staff = names_staff(seen.principal, state.settings.merchant_staff_identity)
    pseudonyms = pseudonyms_of(state)
    problem = ""
    filters = NO_FILTERS
    try:
        filters = AccessFilters.from_params(_day_bounds(request.query_params.multi_items()))
    except RequestValidationError as exc:
        problem = "Filters not applied: " + "; ".join(
            f"{e['loc'][1] if len(e['loc']) > 1 else 'filters'}: "
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )

    def work(given: str | None) -> Callable[[Reader], AccessesPage]:
        return lambda r: accesses_page(
            r,
            merchant,
            cursor=given,
            limit=PAGE,
            filters=filters if given is None else NO_FILTERS,
            name_staff=name_staff,
            pseudonyms=pseudonyms,
        )

    try:
        page = await reading(state, work(cursor))
    except RequestValidationError:
        problem = "The page link is not valid any more: showing the newest accesses."
        page = await reading(state, work(None))
    base = f"/merchants/{quote(merchant, safe='')}"
    next_url = f"{base}?" + urlencode({"cursor": page.next}) if page.next else None
    export = f"/v1{base}/accesses.csv" + (
        "?" + urlencode(page.filters.params()) if page.filters.any else ""
    )
    panel = None if cursor else await grants_panel(request, seen, merchant)  # first page only
    return render(
        "merchant.html",
        viewer=seen,
        section="/merchants",
        merchant=merchant,
        page=page,
        form=_form_values(page.filters),
        choices=_CHOICES,
        name_staff=name_staff,
        base=base,
        next_url=next_url,
        export_url=export,
        error=problem,
        server_problem=page.problem,
        grants=panel,
    )


def _form_values(filters: AccessFilters) -> dict[str, str]:
    """The filter form's fields as the page shows them (days for the time window)."""
    values: dict[str, str] = {}
    if filters.since is not None:
        values["since"] = filters.since.date().isoformat()
    if filters.until is not None:
        last = filters.until - dt.timedelta(microseconds=1)
        values["until"] = last.date().isoformat()
    for name in ("kind", "action", "outcome", "category"):
        chosen = getattr(filters, name)
        values[name] = chosen[0] if len(chosen) == 1 else ""
    if filters.justified is not None:
        values["justified"] = "true" if filters.justified else "false"
    values["customer"] = filters.customer or ""
    return values


_CHOICES: Final = {
    "kind": ACTOR_KINDS,
    "action": ACCESS_ACTIONS,
    "outcome": OUTCOMES,
    "category": DATA_CATEGORIES,
}
_DAY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
