"""The example support console (``examples/support_console``) wired through the client kit,
against Sentinelle's real API (uvicorn on loopback) with the example's own policy, on both
stores: no customer list reaches the console's user without an allowed decision, what is
served is masked as decided and its decision is in the ledger, and when Sentinelle is down a
single view is served (recorded once Sentinelle is back) while an export is refused."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from kit_support import Sentinelle

from sentinelle.client import OPEN_REASON, AsyncGuardClient
from sentinelle.client.asgi import MASKED
from sentinelle.config import Settings

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # examples/ is not installed: import it from the checkout
from examples.support_console.app import create_console  # noqa: E402

POLICY = ROOT / "examples" / "support_console" / "policy.toml"
AGENT = {"X-Staff-Id": "agent-1", "X-Staff-Team": "tier1"}
CONTACT = ("name", "email", "phone")


@dataclass
class World:
    sentinelle: Sentinelle
    console: TestClient
    client: AsyncGuardClient

    def get(self, path: str, **headers: str) -> httpx.Response:
        response: httpx.Response = self.console.get(path, headers={**AGENT, **headers})
        return response

    def served(self, response: httpx.Response) -> dict[str, Any]:
        """The ledger's record of a served answer: its decision event, outcome allowed."""
        assert response.status_code == 200, response.text
        event = self.sentinelle.event(response.headers["Sentinelle-Event"])
        assert event is not None, "a served answer without its decision in the ledger"
        assert event["outcome"] == "allowed"
        return event

    def refused(self, response: httpx.Response, status: int) -> dict[str, Any]:
        assert response.status_code == status, response.text
        detail: dict[str, Any] = response.json()["detail"]
        assert detail["event"] == response.headers["Sentinelle-Event"]
        event = self.sentinelle.event(detail["event"])
        assert event is not None and event["outcome"] == "denied"
        return detail


@pytest.fixture
def world(settings: Settings, tmp_path: Path) -> Iterator[World]:
    sentinelle = Sentinelle(settings, POLICY)
    sentinelle.start()
    client = AsyncGuardClient(
        sentinelle.url,
        sentinelle.keys["guard"],
        events_key=sentinelle.keys["ingest"],
        timeout=10.0,  # a loaded test host must not look like Sentinelle down
        flush_interval=3600,
    )
    try:
        with TestClient(create_console(client)) as console:
            assert sentinelle.event("console-T-100-assigned") is not None  # sent at start
            yield World(sentinelle, console, client)
    finally:
        if sentinelle.running:
            sentinelle.stop()


def test_no_customer_list_without_an_allowed_decision(world: World) -> None:
    # No ticket, another merchant's ticket, a closed one: denied, nothing listed.
    for query in ("", "&ticket=T-200", "&ticket=T-102"):
        detail = world.refused(world.get(f"/merchants/m-1/customers?limit=5{query}"), 403)
        assert detail["decision"] == "deny"
    # A bulk list (10 or more) citing another merchant's ticket: denied, not pending.
    world.refused(world.get("/merchants/m-1/customers?limit=20&ticket=T-200"), 403)
    # A bulk list without an approved grant: pending, nothing listed.
    bulk = "/merchants/m-1/customers?limit=20&ticket=T-100"
    pending = world.refused(world.get(bulk), 409)
    assert pending["decision"] == "pending" and pending["approvers"] == ["merchant"]
    # A grant the merchant approved: listed, masked as decided (the ticket's purpose,
    # shipping_question, shows the address, not the contact details).
    grant = world.sentinelle.approved_grant()
    response = world.get(bulk)
    event = world.served(response)
    assert event["justification"]["grant"] == grant and event["resource"] == {"count": 20}
    assert response.headers["Sentinelle-Mask"] == "contact"
    rows = response.json()
    assert len(rows) == 20
    assert all(row[f] == MASKED for row in rows for f in CONTACT)
    assert all(row["city"] != MASKED and "@" not in str(row) for row in rows)


def test_a_small_list_and_a_view_with_the_agents_ticket_are_masked(world: World) -> None:
    small = world.get("/merchants/m-1/customers?limit=5&ticket=T-100")
    world.served(small)
    assert len(small.json()) == 5 and small.json()[0]["email"] == MASKED
    view = world.get("/merchants/m-1/customers/c-m-1-0001?ticket=T-101")  # refund
    event = world.served(view)
    assert event["subjects"] == ["c-m-1-0001"] and event["justification"]["ticket"] == "T-101"
    customer = view.json()
    # refund shows order_details and payment_partial; contact and address are masked.
    assert customer["orders"] != MASKED and customer["card_last4"] != MASKED
    assert customer["email"] == MASKED and customer["street"] == MASKED
    assert view.headers["Sentinelle-Mask"] == "contact,address"


def test_an_export_waits_for_the_merchants_approval(world: World) -> None:
    export = "/merchants/m-1/export?ticket=T-100"
    world.refused(world.get(export), 409)
    world.sentinelle.approved_grant(actions=["export"], data=["address"])
    response = world.get(export)
    event = world.served(response)
    assert event["channel"] == "export" and event["resource"] == {"count": 40}
    assert len(response.json()) == 40


def test_no_actor_or_a_bad_limit_is_refused_before_deciding(world: World) -> None:
    size = world.sentinelle.ledger_size()
    assert world.console.get("/merchants/m-1/customers?ticket=T-100").status_code == 401
    bad = world.get("/merchants/m-1/customers?limit=-3&ticket=T-100")
    assert bad.status_code == 422 and "count" in bad.text
    assert world.sentinelle.ledger_size() == size


def test_sentinelle_down_a_view_is_served_and_recorded_once_back(world: World) -> None:
    world.sentinelle.stop()
    world.client.timeout = 0.3  # connections are refused: give up soon
    view = world.get("/merchants/m-1/customers/c-m-1-0001?ticket=T-100")
    assert view.status_code == 200, view.text
    assert view.headers["Sentinelle-Unreachable"] == "fail-open"
    assert view.json()["email"] != MASKED  # no decision to mask by: served as asked
    export = world.get("/merchants/m-1/export?ticket=T-100")
    assert export.status_code == 503 and export.json()["detail"]["decision"] == "deny"
    listing = world.get("/merchants/m-1/customers?limit=20&ticket=T-100")
    assert listing.status_code == 503 and "bulk lists" in listing.text
    assert world.client.pending == 3
    world.sentinelle.start()
    size = world.sentinelle.ledger_size()
    assert asyncio.run(world.client.flush()) == 3
    assert asyncio.run(world.client.flush()) == 0
    event = world.served(view)  # the access served open, now in the ledger
    assert event["justification"]["reason"] == OPEN_REASON
    assert world.sentinelle.ledger_size() == size + 3
