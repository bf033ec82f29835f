"""The grants API end to end on both stores, with real SMTP: requests, approvals where the
policy asks for them, denial, revocation, lists and one grant's history, merchant isolation,
bad input, and the one-time e-mail links a merchant is sent (followed over HTTP)."""

from __future__ import annotations

import email
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from guard_support import POLICY as GRANTS_POLICY
from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.timeutil import HOUR, parse_time
from smtpsink import SmtpSink

POLICY = GRANTS_POLICY + '\n[merchants.m-3]\napprovers = ["staff"]\n'  # m-3: staff only
NOW = parse_time("2026-11-05T10:00:00Z")
LINK = re.compile(
    r"https://sentinelle\.example(/grant-links/[^/\s]+/([A-Za-z0-9_-]{43})/(approve|deny))"
)


@dataclass
class Api:
    client: TestClient
    keys: dict[str, str]
    state: Any

    def call(self, method: str, path: str, body: Any = None, *, key: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[key]}"}
        response: httpx.Response = self.client.request(method, path, json=body, headers=headers)
        return response

    def ask(self, merchant: str = "m-1", key: str = "guard", **fields: Any) -> dict[str, Any]:
        body = {"actor": "agent-1", "merchant": merchant, "actions": ["export"],
                "data": ["contact"], "max_records": 300, "reason": "recall", **fields}  # fmt: skip
        response = self.call("POST", "/v1/grants", body, key=key)
        assert response.status_code == 201, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def event(self, event_id: str) -> dict[str, Any] | None:
        found = self.state.store.event_by_id(event_id)
        return None if found is None else dict(json.loads(found[1]))


def _make(settings: Settings, tmp_path: Path) -> Iterator[Api]:
    policy = tmp_path / "guard.toml"
    policy.write_text(POLICY)
    app = create_app(settings.model_copy(update={"guard_policy": policy}))
    state = app.state.sentinelle
    state.clock = lambda: NOW
    with TestClient(app, follow_redirects=False) as client:
        store = state.store
        keys = {
            "guard": create_key(store, name="console", role=Role.GUARD, by="t"),
            "responder": create_key(store, name="resp", role=Role.RESPONDER, by="t"),
            "agent": create_key(store, name="agent-1", role=Role.RESPONDER, by="t"),
            "reader": create_key(store, name="reader", role=Role.READER, by="t"),
            "m-1": create_key(store, name="shop1", role=Role.MERCHANT, merchant="m-1", by="t"),
            "m-2": create_key(store, name="shop2", role=Role.MERCHANT, merchant="m-2", by="t"),
        }
        yield Api(client, keys, state)


@pytest.fixture
def api(settings: Settings, tmp_path: Path) -> Iterator[Api]:
    yield from _make(settings, tmp_path)


@pytest.fixture
def mailing(settings: Settings, tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[Api]:
    directory = tmp_path / "merchants.csv"
    directory.write_text("subject,merchant,email,name,locale\nm-1,,owner@shop1.example,Shop 1,en\n")
    configured = settings.model_copy(
        update={
            "smtp": f"127.0.0.1:{smtp_sink.port}",
            "smtp_tls": "none",
            "notify_from": "Sentinelle <guard@platform.example>",
            "merchant_directory": str(directory),
            "public_url": "https://sentinelle.example",
        }
    )
    yield from _make(configured, tmp_path)


def test_request_deny_and_history(api: Api) -> None:
    grant = api.ask()
    assert grant["state"] == "requested" and grant["approvers"] == ["merchant"]
    assert grant["expires"] == "2026-11-06T10:00:00Z"  # answer within approval.request_hours
    assert grant["email"]["sent"] is False and "SENTINELLE_PUBLIC_URL" in grant["email"]["detail"]
    path = f"/v1/merchants/m-1/grants/{grant['id']}"
    assert api.call("POST", f"{path}/deny", {"reason": ""}, key="m-1").status_code == 422
    denied = api.call("POST", f"{path}/deny", {"reason": "no recall planned"}, key="m-1")
    assert denied.status_code == 200 and denied.json()["state"] == "denied"
    assert api.call("POST", f"{path}/approve", key="m-1").status_code == 409
    detail = api.call("GET", path, key="m-1").json()
    assert [s["kind"] for s in detail["history"]] == ["requested", "denied"]
    assert detail["history"][1]["by"] == "key:shop1" and detail["uses"] == 0
    assert detail["history"][1]["event"] == f"{grant['id']}-denied"
    assert api.event(f"{grant['id']}-denied")["reason"] == "no recall planned"  # type: ignore[index]


def test_no_e_mail_where_the_policy_asks_no_merchant_approval(mailing: Api) -> None:
    grant = mailing.ask(merchant="m-3")
    assert grant["approvers"] == ["staff"]
    assert grant["email"] == {"sent": False, "detail": "no merchant approval is needed",
                              "recipients": 0}  # fmt: skip


def test_staff_approval_only_where_the_policy_asks_and_never_ones_own(api: Api) -> None:
    one = api.ask()  # m-1: the merchant only
    staff = api.call("POST", f"/v1/merchants/m-1/grants/{one['id']}/approve", key="responder")
    assert staff.status_code == 409 and "not staff" in staff.json()["detail"]
    two = api.ask(merchant="m-2", key="responder")  # m-2: merchant and staff
    path = f"/v1/merchants/m-2/grants/{two['id']}"
    assert api.call("POST", f"{path}/approve", key="responder").status_code == 403  # requester
    assert api.call("POST", f"{path}/approve", key="agent").status_code == 403  # grantee
    assert api.call("POST", f"{path}/deny", {"reason": "x"}, key="agent").status_code == 403
    merchant = api.call("POST", f"{path}/approve", key="m-2")
    assert merchant.status_code == 200 and merchant.json()["state"] == "requested"
    three = api.ask(merchant="m-2")  # asked by the guard: the responder may be the staff
    api.call("POST", f"/v1/merchants/m-2/grants/{three['id']}/approve", key="m-2")
    done = api.call("POST", f"/v1/merchants/m-2/grants/{three['id']}/approve", key="responder")
    assert done.status_code == 200 and done.json()["state"] == "approved"
    assert done.json()["expires"] == "2026-11-05T18:00:00Z"


def test_a_merchant_reaches_only_its_own_grants(api: Api) -> None:
    mine, theirs = api.ask(), api.ask(merchant="m-2")
    assert api.call("GET", "/v1/merchants/m-2/grants", key="m-1").status_code == 403
    assert api.call("GET", f"/v1/merchants/m-2/grants/{theirs['id']}", key="m-1").status_code == 403
    # Another merchant's grant under one's own merchant: not found, and nothing changes.
    for verb in ("approve", "deny", "revoke"):
        path = f"/v1/merchants/m-1/grants/{theirs['id']}/{verb}"
        assert api.call("POST", path, {"reason": "x"} if verb != "approve" else None,
                        key="m-1").status_code == 404  # fmt: skip
    listed = api.call("GET", "/v1/merchants/m-1/grants", key="m-1").json()
    assert [g["id"] for g in listed["grants"]] == [mine["id"]] and listed["next"] is None
    assert api.call("GET", "/v1/merchants/m-2/grants", key="reader").status_code == 200
    by_actor = api.call("GET", "/v1/grants?actor=agent-1", key="responder").json()
    assert {g["id"] for g in by_actor["grants"]} == {mine["id"], theirs["id"]}
    assert api.call("GET", "/v1/grants?actor=agent-1", key="m-1").status_code == 403
    assert api.call("GET", "/v1/grants?actor=agent-1", key="reader").status_code == 403
    assert api.state.store.grant(theirs["id"]).state == "requested"


def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(api: Api) -> None:
    size = api.state.store.ledger_size()
    body = {"actor": "agent-1", "merchant": "m-1", "actions": ["exprot"], "data": ["contact"],
            "reason": "x"}  # fmt: skip
    bad = api.call("POST", "/v1/grants", body, key="guard")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-2:] == ["actions", 0]
    purpose = api.call("POST", "/v1/grants", {**body, "actions": ["export"], "purpose": "nope"},
                       key="guard")  # fmt: skip
    assert purpose.status_code == 422 and purpose.json()["detail"].startswith("purpose:")
    cursor = api.call("GET", "/v1/merchants/m-1/grants?cursor=x", key="m-1")
    assert cursor.status_code == 422 and cursor.json()["detail"][0]["loc"] == ["query", "cursor"]
    assert api.state.store.ledger_size() == size
    assert api.call("GET", "/v1/merchants/m-1/grants", key="m-1").json()["grants"] == []


def test_a_nul_character_is_refused_by_the_request_naming_its_field(api: Api) -> None:
    # Before: 422 "batch refused" naming the grant.requested event's "$.reason", not the request.
    size = api.state.store.ledger_size()
    body = {"actor": "agent-1", "merchant": "m-1", "actions": ["export"], "data": ["contact"],
            "max_records": 3, "reason": "recall"}  # fmt: skip
    for field in ("reason", "ticket", "actor", "merchant", "purpose"):
        bad = api.call("POST", "/v1/grants", {**body, field: "a\x00b"}, key="guard")
        assert bad.status_code == 422, (field, bad.text)
        (problem,) = bad.json()["detail"]
        assert problem["loc"] == ["body", field]
        assert "contains a NUL character" in problem["msg"]
    grant = api.ask()
    for answer in ("deny", "revoke"):
        path = f"/v1/merchants/m-1/grants/{grant['id']}/{answer}"
        bad = api.call("POST", path, {"reason": "no\x00"}, key="m-1")
        assert bad.status_code == 422, bad.text
        assert bad.json()["detail"][0]["loc"] == ["body", "reason"]
    assert api.state.store.ledger_size() == size + 1  # the one request asked, nothing else


def test_unanswered_requests_expire_once_and_stay_listed(api: Api) -> None:
    grant = api.ask()
    api.state.clock = lambda: NOW + 24 * HOUR
    listed = api.call("GET", "/v1/merchants/m-1/grants", key="m-1").json()["grants"]
    assert [g["state"] for g in listed] == ["expired"]
    assert api.event(f"{grant['id']}-expired")["type"] == "grant.expired"  # type: ignore[index]
    size = api.state.store.ledger_size()
    api.call("GET", "/v1/merchants/m-1/grants", key="m-1")
    # Sentinelle's own step is named to the merchant, as a service is: not hidden as staff.
    seen = api.call("GET", f"/v1/merchants/m-1/grants/{grant['id']}", key="m-1").json()
    assert [s["by"] for s in seen["history"] if s["kind"] == "expired"] == ["sentinelle"]
    late = api.call("POST", f"/v1/merchants/m-1/grants/{grant['id']}/approve", key="m-1")
    assert late.status_code == 409 and api.state.store.ledger_size() == size


def _links(sink: SmtpSink) -> tuple[str, str, str]:
    (message,) = sink.messages()
    text = email.message_from_bytes(message.data).get_payload(decode=True).decode()  # type: ignore[union-attr]
    found = {m.group(3): m for m in LINK.finditer(text)}
    assert message.rcpts == ("owner@shop1.example",)
    return found["approve"].group(1), found["deny"].group(1), found["approve"].group(2)


def test_the_merchant_approves_by_e_mail_link_once(
    mailing: Api, smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    grant = mailing.ask()
    assert grant["email"] == {"sent": True, "detail": "e-mailed to merchant m-1", "recipients": 1}
    approve, deny, token = _links(smtp_sink)
    assert token not in caplog.text
    size = mailing.state.store.ledger_size()
    # Opening the link (a mail scanner does) shows a confirmation and changes nothing.
    page = mailing.client.get(approve)
    assert page.status_code == 200 and "Yes, approve" in page.text
    assert mailing.state.store.ledger_size() == size
    assert mailing.state.store.grant(grant["id"]).state == "requested"
    done = mailing.client.post(approve, data={"confirm": "yes"})
    assert done.status_code == 200 and "The access is granted until" in done.text
    event = mailing.event(f"{grant['id']}-approved-merchant")
    assert event is not None and event["by"] == "merchant:m-1 (e-mail link)"
    # Used: both links of the pair are dead, and say so; nothing more is written.
    size = mailing.state.store.ledger_size()
    for link, data in ((approve, {"confirm": "yes"}), (deny, {"reason": "changed my mind"})):
        again = mailing.client.post(link, data=data)
        assert again.status_code == 410 and "used already" in again.text
    assert mailing.state.store.ledger_size() == size
    detail = mailing.call("GET", f"/v1/merchants/m-1/grants/{grant['id']}", key="m-1").json()
    kinds = [s["kind"] for s in detail["history"]]
    assert kinds == ["requested", "link_sent", "approved", "link_used"]
    # The history says until when the links held as people read times (to the minute, UTC).
    sent = detail["history"][1]["reason"]
    assert re.search(r"valid until \d{4}-\d\d-\d\d \d\d:\d\d UTC$", sent), sent
    assert token not in json.dumps(detail)


def test_expired_tampered_and_denied_links(mailing: Api, smtp_sink: SmtpSink) -> None:
    grant = mailing.ask()
    approve, deny, token = _links(smtp_sink)
    other = mailing.ask(actor="agent-2")
    tampered = mailing.client.get(approve.replace(grant["id"], other["id"]))
    assert tampered.status_code == 404 and "altered" in tampered.text
    unknown = mailing.client.post(approve.replace(token, "B" * 43), data={"confirm": "yes"})
    assert unknown.status_code == 404 and "not one Sentinelle sent" in unknown.text
    no_reason = mailing.client.post(deny, data={"reason": " "})
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    # held to the API's rules: not cut short silently, no NUL character
    too_long = mailing.client.post(deny, data={"reason": "x" * 257})
    assert too_long.status_code == 422 and "at most 256 characters" in too_long.text
    nul = mailing.client.post(deny, data={"reason": "no\x00"})
    assert nul.status_code == 422 and "NUL" in nul.text
    assert mailing.state.store.grant(grant["id"]).state == "requested"
    denied = mailing.client.post(deny, data={"reason": "we never export"})
    assert denied.status_code == 200 and "denied" in denied.text
    assert mailing.state.store.grant(grant["id"]).state == "denied"
    # The other request's link expires with the policy's link_hours (24 h by default).
    second = smtp_sink.messages()[1]
    link = LINK.search(email.message_from_bytes(second.data).get_payload(decode=True).decode())  # type: ignore[union-attr]
    assert link is not None
    mailing.state.clock = lambda: NOW + 24 * HOUR
    expired = mailing.client.post(link.group(1), data={"confirm": "yes"})
    assert expired.status_code == 410 and "expired" in expired.text
    assert mailing.state.store.grant(other["id"]).state in ("requested", "expired")
    assert mailing.event(f"{other['id']}-approved-merchant") is None
