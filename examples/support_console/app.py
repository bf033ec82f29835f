"""The console: FastAPI routes over the fake shop, each showing customer data guarded.

Who is asking comes from the ``X-Staff-Id``, ``X-Staff-Team`` and ``X-Staff-Role`` headers, as
a login proxy in front of the console would set them (a real console reads its own session;
never trust what a browser sends). A ticket is cited with ``?ticket=``, an emergency stated in
``X-Break-Glass``.

| route | asks Sentinelle for |
|---|---|
| ``GET /merchants/{m}/customers?limit=N`` | a ``search`` of N customers (contact, address) |
| ``GET /merchants/{m}/customers/{id}`` | a ``view`` of one customer (with orders, last digits) |
| ``GET /merchants/{m}/export`` | an ``export`` of every customer (channel ``export``) |
| ``GET /tickets`` | nothing: the staff member's tickets name customers by id only |
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request

from sentinelle.client import AsyncGuardClient, ClientError
from sentinelle.client.asgi import Guard, header, query_int

from .data import Shop, generate

_logger = logging.getLogger(__name__)

#: Which fields of the console's answers hold each data category: what masking hides.
FIELDS = {
    "contact": ["name", "email", "phone"],
    "address": ["street", "city", "postcode", "country"],
    "order_details": ["orders"],
    "payment_partial": ["card_last4"],
}
LIST_LIMIT = 20


def ticket_events(shop: Shop, at: datetime) -> list[dict[str, Any]]:
    """The tickets as the context events Sentinelle decides from (ids only; the same ids at
    every start, so sending them again is harmless)."""
    events: list[dict[str, Any]] = []
    for t in shop.tickets.values():
        base = {"ticket": t.id, "merchant": t.merchant, "by": "helpdesk", "time": at}
        events.append(
            {**base, "id": f"console-{t.id}-opened", "type": "ticket.opened", "reason": t.purpose}
        )
        events.append(
            {
                **base,
                "id": f"console-{t.id}-assigned",
                "type": "ticket.assigned",
                "actor": t.assignee,
            }
        )
        if t.state == "closed":
            events.append({**base, "id": f"console-{t.id}-closed", "type": "ticket.closed"})
    return events


def create_console(client: AsyncGuardClient, shop: Shop | None = None) -> FastAPI:
    """The console for ``shop`` (generated when not given), asking Sentinelle via ``client``.

    At start-up it sends its tickets to Sentinelle (queued if Sentinelle is down); at shutdown
    it closes the client, which sends what is still queued.
    """
    shop = shop or generate()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for event in ticket_events(shop, datetime.now(UTC) - timedelta(hours=1)):
            client.record(event)
        try:
            await client.flush()  # decisions need the tickets: send them now if we can
        except ClientError as exc:  # queued: sent when Sentinelle answers
            _logger.warning("tickets not sent yet: %s", exc.diagnostics())
        try:
            yield
        finally:
            await client.aclose()

    app = FastAPI(title="Example support console", lifespan=lifespan)
    app.state.shop = shop
    guard = Guard(
        client,
        fields=FIELDS,
        actor=header("X-Staff-Id"),
        team=header("X-Staff-Team"),
        role=header("X-Staff-Role"),
        break_glass=header("X-Break-Glass"),
    )
    app.state.guard = guard

    def customers_of(request: Request) -> int:
        return shop.count(request.path_params["merchant"])

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness."""
        return {"status": "ok"}

    @app.get("/tickets")
    async def tickets(request: Request) -> list[dict[str, str]]:
        """The tickets assigned to the staff member asking."""
        actor = request.headers.get("X-Staff-Id")
        if not actor:
            raise HTTPException(401, "no staff actor on this request")
        return [t.to_dict() for t in shop.tickets.values() if t.assignee == actor]

    @app.get("/merchants/{merchant}/customers")
    @guard.shows(action="search", data=["contact", "address"], count=query_int("limit", LIST_LIMIT))
    async def customer_list(merchant: str, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        """A page of the merchant's customers: ``limit`` or more is a bulk list (a grant)."""
        return shop.customer_list(merchant, limit)

    @app.get("/merchants/{merchant}/customers/{customer}")
    @guard.shows(
        action="view",
        data=["contact", "address", "order_details", "payment_partial"],
        subjects=lambda request: [request.path_params["customer"]],
    )
    async def customer(merchant: str, customer: str) -> dict[str, Any]:
        """One customer, with their orders and the last digits of their card."""
        found = shop.customers.get(merchant, {}).get(customer)
        if found is None:
            raise HTTPException(404, f"no customer {customer} at {merchant}")
        return found

    @app.get("/merchants/{merchant}/export")
    @guard.shows(action="export", data=["contact", "address"], channel="export", count=customers_of)
    async def export(merchant: str) -> list[dict[str, Any]]:
        """Every customer of the merchant (contact and address): needs an approved grant."""
        return shop.customer_list(merchant, shop.count(merchant))

    return app


def from_environment() -> FastAPI:
    """The console configured by the environment (``uvicorn --factory``): ``SENTINELLE_URL``
    (default ``http://127.0.0.1:8000``), ``SENTINELLE_GUARD_KEY`` (role ``guard``, required),
    ``SENTINELLE_INGEST_KEY`` (optional, role ``ingest``: another key for the tickets and the
    accesses served while Sentinelle was unreachable; default: the guard key) and
    ``CONSOLE_JOURNAL`` (a directory for events not yet sent)."""
    key = os.environ.get("SENTINELLE_GUARD_KEY")
    if not key:
        raise SystemExit("set SENTINELLE_GUARD_KEY to a key of role guard (sentinelle keys create)")
    journal = os.environ.get("CONSOLE_JOURNAL")
    client = AsyncGuardClient(
        os.environ.get("SENTINELLE_URL", "http://127.0.0.1:8000"),
        key,
        events_key=os.environ.get("SENTINELLE_INGEST_KEY"),
        journal=Path(journal) if journal else None,
    )
    return create_console(client)
