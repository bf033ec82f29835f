"""``POST /v1/access/decide`` and the grants API, end to end on both stores: every decision is
in the ledger (an access event with its outcome) before it is answered; grants are requested,
approved by someone else than the grantee, revoked, and only a live approved one is used."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.timeutil import HOUR, parse_time

POLICY = """
[teams.tier1]
actions = ["view", "search", "export"]
channels = ["support_console", "export"]
categories = ["contact", "address", "order_details", "payment_partial"]
"""
NOW = parse_time("2026-11-05T10:00:00Z")
TICKETS = [
    {"type": "ticket.opened", "ticket": "T-1", "merchant": "m-1", "reason": "shipping_question"},
    {"type": "ticket.assigned", "ticket": "T-1", "merchant": "m-1", "actor": "agent-1"},
    {"type": "ticket.opened", "ticket": "T-2", "merchant": "m-2"},
    {"type": "ticket.assigned", "ticket": "T-2", "merchant": "m-2", "actor": "agent-1"},
    {"type": "ticket.opened", "ticket": "T-3", "merchant": "m-1"},
    {"type": "ticket.assigned", "ticket": "T-3", "merchant": "m-1", "actor": "agent-1"},
    {"type": "ticket.closed", "ticket": "T-3", "merchant": "m-1"},
    # A help desk that sends one event: the ticket opened for its assignee.
    {"type": "ticket.opened", "ticket": "T-4", "merchant": "m-1", "actor": "agent-1"},
]


@dataclass
class Api:
    client: TestClient
    keys: dict[str, str]
    state: Any

    def post(self, path: str, body: Any, *, key: str = "guard") -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[key]}"}
        response: httpx.Response = self.client.post(path, json=body, headers=headers)
        return response

    def decide(self, **fields: Any) -> dict[str, Any]:
        body = {
            "actor": "agent-1",
            "team": "tier1",
            "merchant": "m-1",
            "action": "view",
            "data": ["address", "contact"],
            "channel": "support_console",
            **fields,
        }
        response = self.post("/v1/access/decide", body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def recorded(self, event_id: str) -> dict[str, Any]:
        """The event's body, after checking its inclusion proof is served."""
        headers = {"Authorization": f"Bearer {self.keys['admin']}"}
        proof = self.client.get(f"/v1/ledger/proof/{event_id}", headers=headers)
        assert proof.status_code == 200, proof.text
        return _body(self.state, event_id)


def _body(state: Any, event_id: str) -> dict[str, Any]:
    found = state.store.event_by_id(event_id)
    assert found is not None, f"{event_id} is not stored"
    body: dict[str, Any] = json.loads(found[1])
    return body


def _make(settings: Settings, policy: Path | None, tag: str = "") -> Iterator[Api]:
    app = create_app(settings.model_copy(update={"guard_policy": policy}))
    state = app.state.sentinelle
    state.clock = lambda: NOW
    with TestClient(app) as client:
        keys = {
            "guard": create_key(state.store, name=f"console{tag}", role=Role.GUARD, by="t"),
            "admin": create_key(state.store, name=f"admin{tag}", role=Role.ADMIN, by="t"),
            "responder": create_key(state.store, name=f"resp{tag}", role=Role.RESPONDER, by="t"),
            "m-1": create_key(
                state.store, name=f"shop1{tag}", role=Role.MERCHANT, merchant="m-1", by="t"
            ),
            "agent": create_key(state.store, name=f"agent-1{tag}", role=Role.RESPONDER, by="t"),
        }
        api = Api(client, keys, state)
        events = [
            {**e, "id": f"c-{i}", "time": f"2026-11-05T09:0{i}:00Z", "by": "helpdesk"}
            for i, e in enumerate(TICKETS)
        ]
        assert api.post("/v1/events", events, key="admin").status_code == 200
        yield api


@pytest.fixture
def api(settings: Settings, tmp_path: Path) -> Iterator[Api]:
    policy = tmp_path / "guard.toml"
    policy.write_text(POLICY)
    yield from _make(settings, policy)


def test_open_assigned_ticket_allows_with_mask_recorded_in_the_ledger(api: Api) -> None:
    answer = api.decide(ticket="T-1")
    assert answer["decision"] == "allow"
    assert answer["mask"] == ["contact"]  # shipping_question shows the address only
    assert answer["grant"] is None and answer["expires"] is None
    event = api.recorded(answer["event"])
    assert event["outcome"] == "allowed"
    assert event["justification"]["ticket"] == "T-1"
    assert event["actor"] == {"id": "agent-1", "kind": "staff", "team": "tier1"}
    assert event["data"] == ["address"]  # what was shown: the masked contact did not leave


def test_a_ticket_opened_for_the_actor_is_theirs_as_detection_reads_it(api: Api) -> None:
    answer = api.decide(ticket="T-4", data=["order_details"])
    assert answer["decision"] == "allow", answer
    assert api.recorded(answer["event"])["outcome"] == "allowed"
    colleague = api.decide(ticket="T-4", actor="agent-2", data=["order_details"])
    assert colleague["decision"] == "deny", colleague
    assert "assigned to agent-1, not to you" in colleague["reasons"][0]


@pytest.mark.parametrize("ticket", ["T-2", "T-3", None, "T-404"])
def test_a_ticket_that_does_not_justify_denies_recorded(api: Api, ticket: str | None) -> None:
    answer = api.decide(**({"ticket": ticket} if ticket else {}))
    assert answer["decision"] == "deny", answer
    assert api.recorded(answer["event"])["outcome"] == "denied"


def _grant(api: Api, **fields: Any) -> dict[str, Any]:
    body = {
        "actor": "agent-1",
        "merchant": "m-1",
        "actions": ["export"],
        "data": ["contact", "address"],
        "max_records": 500,
        "reason": "customer list for the merchant's recall",
        **fields,
    }
    response = api.post("/v1/grants", body)
    assert response.status_code == 201, response.text
    grant: dict[str, Any] = response.json()
    return grant


def test_export_waits_for_an_approved_grant_then_uses_it(api: Api) -> None:
    export = {"action": "export", "channel": "export", "count": 200}
    pending = api.decide(**export)
    assert pending["decision"] == "pending" and pending["approvers"] == ["merchant"]
    assert api.recorded(pending["event"])["outcome"] == "denied"  # not served while pending
    grant = _grant(api)
    assert grant["state"] == "requested"
    assert api.decide(**export)["decision"] == "pending"  # requested is not approved
    approve = f"/v1/merchants/m-1/grants/{grant['id']}/approve"
    approved = api.post(approve, None, key="m-1")
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    assert approved.json()["approvals"][0]["by"] == "key:shop1"
    allowed = api.decide(**export)
    assert allowed["decision"] == "allow" and allowed["grant"] == grant["id"]
    assert allowed["expires"] == "2026-11-05T18:00:00Z"  # 8 hours, the default
    event = api.recorded(allowed["event"])
    assert event["justification"]["grant"] == grant["id"] and event["resource"]["count"] == 200
    # The grant's changes are in the ledger too.
    assert _body(api.state, f"{grant['id']}-approved-merchant")["by"] == "key:shop1"
    assert api.post(approve, None, key="m-1").status_code == 409  # approved already


def test_revoked_or_expired_grants_are_not_used(api: Api) -> None:
    export = {"action": "export", "channel": "export", "count": 20}
    for revoke in (True, False):
        grant = _grant(api)
        path = f"/v1/merchants/m-1/grants/{grant['id']}"
        assert api.post(f"{path}/approve", None, key="m-1").status_code == 200
        if revoke:
            revoked = api.post(f"{path}/revoke", {"reason": "recall done"}, key="responder")
            assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
            assert _body(api.state, f"{grant['id']}-revoked")["by"] == "key:resp"
        else:
            api.state.clock = lambda: NOW + 8 * HOUR  # at its expiry instant it no longer holds
        assert api.decide(**export)["decision"] == "pending"


def test_nobody_approves_their_own_grant(api: Api) -> None:
    # The grantee (a responder key named like the actor) and the requester may not approve.
    mine = _grant(api, actor="agent-1")
    staff_policy_path = f"/v1/merchants/m-1/grants/{mine['id']}/approve"
    assert api.post(staff_policy_path, None, key="agent").status_code == 403
    asked = api.post(
        "/v1/grants",
        {"actor": "agent-2", "merchant": "m-1", "actions": ["export"], "data": ["contact"],
         "reason": "recall"},
        key="responder",
    )  # fmt: skip
    assert asked.status_code == 201
    path = f"/v1/merchants/m-1/grants/{asked.json()['id']}/approve"
    assert api.post(path, None, key="responder").status_code == 403
    # Another merchant's key cannot reach it; a wrong merchant in the path is a 404.
    assert (
        api.post(f"/v1/merchants/m-2/grants/{mine['id']}/approve", None, key="admin").status_code
        == 404
    )


def test_a_suspended_actor_is_denied(api: Api) -> None:
    with api.state.store.writer() as w:
        w.suspend("agent-1", by="response", reason="alert a-1", at_us=NOW - HOUR)
    answer = api.decide(ticket="T-1")
    assert answer["decision"] == "deny" and "suspended" in answer["reasons"][0]
    assert api.recorded(answer["event"])["outcome"] == "denied"


def test_a_request_id_is_recorded_once_and_answered_the_same(api: Api) -> None:
    first = api.decide(ticket="T-1", request_id="r-1")
    size = api.state.store.ledger_size()
    api.state.clock = lambda: NOW + HOUR
    assert api.decide(ticket="T-1", request_id="r-1") == first
    assert api.state.store.ledger_size() == size
    other = api.post(
        "/v1/access/decide",
        {"actor": "agent-1", "team": "tier1", "merchant": "m-1", "action": "search",
         "data": ["contact"], "channel": "support_console", "request_id": "r-1"},
    )  # fmt: skip
    assert other.status_code == 409


def test_an_invalid_request_is_refused_naming_the_field(api: Api) -> None:
    response = api.post(
        "/v1/access/decide",
        {"actor": "a", "merchant": "m-1", "action": "exprot", "data": ["contact"],
         "channel": "support_console"},
    )  # fmt: skip
    assert response.status_code == 422
    assert response.json()["detail"].startswith('action: "exprot" is not an action')
    # A subject the access event could not record is refused before deciding (it would fail
    # the ledger write of every decision written with it).
    body = {"actor": "agent-1", "team": "tier1", "merchant": "m-1", "action": "view",
            "data": ["contact"], "channel": "support_console", "subjects": ["c" * 129]}  # fmt: skip
    size = api.state.store.ledger_size()
    response = api.post("/v1/access/decide", body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("$.subjects[0]: Expected `str` of length <= 128")
    assert api.state.store.ledger_size() == size
    # A NUL the ledger cannot store: the request's own field is named (before: a 422 of the
    # group's batch, "$.actor.id" of an access event, for every decision written with it).
    response = api.post("/v1/access/decide", {**body, "subjects": ["c-1"], "actor": "a\x00b"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == (
        "actor: contains a NUL character (\\u0000), which cannot be stored"
    )
    assert api.state.store.ledger_size() == size


def test_a_key_given_twice_is_refused_naming_it_as_ingest_does(api: Api) -> None:
    # Before: decided for the last "actor" (agent-1, whose ticket allows), while a proxy in
    # front that checked the first saw someone else.
    raw = (
        b'{"actor":"intruder","team":"tier1","merchant":"m-1","action":"view",'
        b'"data":["address"],"channel":"support_console","ticket":"T-1","actor":"agent-1"}'
    )
    size = api.state.store.ledger_size()
    headers = {"Authorization": f"Bearer {api.keys['guard']}", "Content-Type": "application/json"}
    response = api.client.post("/v1/access/decide", content=raw, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == (
        '$.actor: duplicate key "actor" in one object (each key once)'
    )
    nested = raw.replace(b'"T-1"', b'"T-1","source":{"ip":"10.0.0.1","ip":"10.6.6.6"}')
    response = api.client.post(
        "/v1/access/decide", content=nested.replace(b',"actor":"agent-1"', b""), headers=headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith('$.source.ip: duplicate key "ip"')
    assert api.state.store.ledger_size() == size  # nothing decided, nothing recorded


def test_without_a_policy_the_guard_answers_503_naming_the_setting(
    settings: Settings, tmp_path: Path
) -> None:
    for api in _make(settings, None):
        response = api.post("/v1/access/decide", {})
        assert response.status_code == 503
        assert "SENTINELLE_GUARD_POLICY" in response.json()["detail"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[teams.t]\nactions = ['exprot']\n")
    for api in _make(settings, bad, "-2"):
        response = api.post("/v1/grants", {})
        assert response.status_code in (422, 503)
        # a grant request the body check lets through meets the policy's 503 too
        asked = api.post(
            "/v1/grants",
            {"actor": "agent-1", "merchant": "m-1", "actions": ["export"], "data": ["contact"],
             "reason": "recall"},
        )  # fmt: skip
        assert asked.status_code == 503 and "exprot" in asked.json()["detail"]
        decided = api.post("/v1/access/decide", {})
        assert decided.status_code == 503 and "exprot" in decided.json()["detail"]
