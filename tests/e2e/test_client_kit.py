"""The client kit against Sentinelle's real API (uvicorn on loopback), on both stores: every
decision is in the ledger under the event the client is told; a retry after a lost answer is
recorded once; a 4xx is not retried; when Sentinelle is down a view fails open and its access
reaches the ledger exactly once when Sentinelle is back, an export fails closed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from kit_support import Sentinelle

from sentinelle.client import OPEN_REASON, GuardClient, GuardRequestError
from sentinelle.config import Settings

POLICY = """
[teams.tier1]
actions = ["view", "search", "export"]
channels = ["support_console", "export"]
categories = ["contact", "address", "order_details", "payment_partial"]
"""
ASK = {"actor": "agent-1", "team": "tier1", "merchant": "m-1"}


@pytest.fixture
def sentinelle(settings: Settings, tmp_path: Path) -> Iterator[Sentinelle]:
    policy = tmp_path / "guard.toml"
    policy.write_text(POLICY)
    server = Sentinelle(settings, policy)
    server.start()
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    tickets = [
        {
            "id": "k-1",
            "type": "ticket.opened",
            "ticket": "T-1",
            "merchant": "m-1",
            "reason": "shipping_question",
            "time": at,
        },
        {
            "id": "k-2",
            "type": "ticket.assigned",
            "ticket": "T-1",
            "merchant": "m-1",
            "actor": "agent-1",
            "time": at,
        },
    ]
    assert server.post("/v1/events", tickets, key="ingest").status_code == 200
    try:
        yield server
    finally:
        if server.running:
            server.stop()


class Faulty(httpx.BaseTransport):
    """Real HTTP to the server; the answers of the first ``lose`` requests are lost (a read
    timeout after the server answered). Records every body sent."""

    def __init__(self, lose: int = 0) -> None:
        self.inner = httpx.HTTPTransport()
        self.lose = lose
        self.bodies: list[dict[str, object]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.read()))
        response = self.inner.handle_request(request)
        response.read()
        if len(self.bodies) <= self.lose:
            raise httpx.ReadTimeout("answer lost", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def _client(server: Sentinelle, **options: object) -> GuardClient:
    options = {"timeout": 2.0, **options}
    return GuardClient(
        server.url,
        server.keys["guard"],
        events_key=server.keys["ingest"],
        **options,  # type: ignore[arg-type]
    )


def test_each_decision_is_in_the_ledger_under_its_event(sentinelle: Sentinelle) -> None:
    with _client(sentinelle) as client:
        allowed = client.decide(**ASK, action="view", data=["address", "contact"], ticket="T-1")
        denied = client.decide(**ASK, action="view", data=["contact"])  # no ticket
        pending = client.decide(
            **ASK, action="export", data=["contact"], channel="export", count=200
        )
    assert allowed.decision == "allow" and allowed.mask == ("contact",)
    assert not allowed.unreachable and allowed.expires is None
    assert denied.decision == "deny" and "ticket" in denied.reasons[0]
    assert pending.decision == "pending" and pending.approvers == ("merchant",)
    for decision, outcome in ((allowed, "allowed"), (denied, "denied"), (pending, "denied")):
        assert decision.event is not None
        event = sentinelle.event(decision.event)
        assert event is not None and event["outcome"] == outcome


def test_a_retry_after_a_lost_answer_is_recorded_once(sentinelle: Sentinelle) -> None:
    before = sentinelle.ledger_size()
    faulty = Faulty(lose=1)
    with _client(sentinelle, transport=faulty) as client:
        decision = client.decide(**ASK, action="view", data=["address"], ticket="T-1")
    assert decision.decision == "allow" and not decision.unreachable
    assert len(faulty.bodies) == 2  # the lost answer, then the retry
    first, second = faulty.bodies
    assert first == second and str(first["request_id"]).startswith("req-")
    assert sentinelle.ledger_size() == before + 1  # one decision, one event
    assert decision.event is not None and sentinelle.event(decision.event) is not None


def test_a_given_request_id_is_sent_and_answered_the_same(sentinelle: Sentinelle) -> None:
    with _client(sentinelle) as client:
        first = client.decide(
            **ASK, action="view", data=["address"], ticket="T-1", request_id="console-42"
        )
        again = client.decide(
            **ASK, action="view", data=["address"], ticket="T-1", request_id="console-42"
        )
        with pytest.raises(GuardRequestError) as conflict:  # the same id, another request
            client.decide(
                **ASK, action="view", data=["contact"], ticket="T-1", request_id="console-42"
            )
    assert first == again
    assert conflict.value.status == 409


def test_a_4xx_is_not_retried_and_names_the_field(sentinelle: Sentinelle) -> None:
    faulty = Faulty()
    before = sentinelle.ledger_size()
    with _client(sentinelle, transport=faulty) as client:
        with pytest.raises(GuardRequestError) as refused:
            # The client checks the request as the server does (a 65-character team is
            # refused before sending); its request_id is the server's to check.
            client.decide(**ASK, action="view", data=["address"], request_id="r" * 129)
    assert refused.value.status == 422 and "request_id" in refused.value.detail
    assert len(faulty.bodies) == 1
    assert sentinelle.ledger_size() == before  # nothing written


def test_down_a_view_fails_open_an_export_closed_recorded_once_back(
    sentinelle: Sentinelle, tmp_path: Path
) -> None:
    # The default timeout: a stopped server refuses the connection at once, and the flush
    # after the restart is the restarted server's first request (0.5 s failed it once on a
    # loaded host).
    client = _client(sentinelle, flush_interval=3600)
    try:
        sentinelle.stop()
        view = client.decide(**ASK, action="view", data=["address"], ticket="T-1")
        export = client.decide(
            **ASK, action="export", data=["contact"], channel="export", count=200
        )
        bulk = client.decide(**ASK, action="search", data=["contact"], count=10)
        assert view.decision == "allow" and view.unreachable and view.mask == ()
        assert "fail open" in view.reasons[0] and "cannot connect" in view.reasons[0]
        assert export.decision == "deny" and export.unreachable
        assert "export requests fail closed" in export.reasons[0]
        assert bulk.decision == "deny" and "bulk lists" in bulk.reasons[0]
        assert client.pending == 3  # the view served and the two refusals, queued
        sentinelle.start()  # back, on the same port and store
        size = sentinelle.ledger_size()
        assert client.flush() == 3
        assert client.flush() == 0
    finally:
        client.close()
    assert view.event is not None and export.event is not None
    served = sentinelle.event(view.event)
    assert served is not None
    assert served["outcome"] == "allowed"
    assert served["justification"] == {"reason": OPEN_REASON, "ticket": "T-1"}
    refused = sentinelle.event(export.event)
    assert refused is not None and refused["outcome"] == "denied"
    assert sentinelle.ledger_size() == size + 3
    # Sent again (a lost answer, another process's journal): still once in the ledger.
    again = sentinelle.post("/v1/events", [served], key="ingest")
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    assert sentinelle.ledger_size() == size + 3


def test_events_kept_in_the_journal_reach_the_ledger_from_another_client(
    sentinelle: Sentinelle, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    port = sentinelle.port
    sentinelle.stop()
    down = _client(sentinelle, timeout=0.3, journal=journal, flush_interval=3600)
    view = down.decide(**ASK, action="view", data=["address"], ticket="T-1")
    down.close()  # cannot send: written to the journal
    assert view.unreachable and [p.suffix for p in journal.iterdir()] == [".ndjson"]
    sentinelle.start()
    assert sentinelle.port == port
    with _client(sentinelle, journal=journal, flush_interval=3600) as up:
        assert up.flush() == 1
    assert list(journal.iterdir()) == []
    assert view.event is not None and sentinelle.event(view.event) is not None
