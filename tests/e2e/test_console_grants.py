"""Grants in the console, on both stores: the merchant page lists the requests waiting for its
answer and the grants' history with their use; opening a request records who saw it; the
merchant approves (confirmed) or denies (with a reason) with the session's CSRF token; staff
give the second approval where the policy asks, never for their own grant; a merchant never
reaches another's grants; the access log never holds an e-mail link's token."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console_support import Console, form_token, login, open_console
from guard_support import POLICY
from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.config import Settings
from sentinelle.guard import grants as workflow
from sentinelle.timeutil import HOUR
from sentinelle.web.pages.grants import RedactLinks

USERS = {
    "owner@shop1.example": (Role.MERCHANT, "m-1"),
    "owner@shop2.example": (Role.MERCHANT, "m-2"),
    "rita@platform.example": (Role.RESPONDER, None),
    "agent-1@platform.example": (Role.RESPONDER, None),  # the grantee, as an account
    "aude@platform.example": (Role.AUDITOR, None),
}


class Grants(Console):
    def as_(self, email: str) -> httpx.Client:
        client = self.client()
        assert login(client, email).status_code == 303
        return client

    def ask(self, merchant: str = "m-1", actor: str = "agent-1") -> str:
        key = create_key(self.store, name=f"guard-{merchant}-{actor}", role=Role.GUARD, by="t")
        body = {"actor": actor, "merchant": merchant, "actions": ["export"],
                "data": ["contact", "address"], "max_records": 120,
                "reason": "customers of the recalled kettle"}  # fmt: skip
        response = self.client().post(
            "/v1/grants", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 201, response.text
        grant_id: str = response.json()["id"]
        return grant_id

    def state(self, grant_id: str) -> str:
        row = self.store.grant(grant_id)
        assert row is not None
        return row.state


@pytest.fixture
def console(settings: Settings, tmp_path: Path) -> Iterator[Grants]:
    policy = tmp_path / "guard.toml"
    policy.write_text(POLICY)
    for made in open_console(settings.model_copy(update={"guard_policy": policy}), Grants):
        for email, (role, merchant) in USERS.items():
            made.user(email, role, merchant)
        yield made


def _post(client: httpx.Client, page: str, action: str, data: dict[str, Any]) -> httpx.Response:
    token = form_token(client.get(page))
    response: httpx.Response = client.post(action, data={**data, "csrf_token": token})
    return response


def test_the_merchant_sees_waiting_requests_and_answers_them(console: Grants) -> None:
    first, second = console.ask(), console.ask(actor="agent-2")
    owner = console.as_("owner@shop1.example")
    page = owner.get("/merchants/m-1")
    assert page.status_code == 200
    assert "Requests waiting for your approval" in page.text
    assert f'action="/merchants/m-1/grants/{first}/approve"' in page.text
    assert "customers of the recalled kettle" in page.text
    # Opening the request records who saw it (once per person).
    grant_page = f"/merchants/m-1/grants/{first}"
    assert owner.get(grant_page).status_code == 200
    assert owner.get(grant_page).status_code == 200
    seen = [
        s for s in workflow.grant_history(console.store, "m-1", first).steps if s.kind == "seen"
    ]
    assert [s.by for s in seen] == ["owner@shop1.example"]
    # Approving needs the confirmation and the session's CSRF token.
    unconfirmed = _post(owner, grant_page, f"{grant_page}/approve", {})
    assert unconfirmed.status_code == 422 and console.state(first) == "requested"
    forged = owner.post(f"{grant_page}/approve", data={"confirm": "yes", "csrf_token": "x"})
    assert forged.status_code == 403 and console.state(first) == "requested"
    approved = _post(owner, grant_page, f"{grant_page}/approve", {"confirm": "yes"})
    assert approved.status_code == 303 and console.state(first) == "approved"
    assert "Approved" in owner.get(approved.headers["location"]).text
    # Denying needs a reason.
    second_page = f"/merchants/m-1/grants/{second}"
    blank = _post(owner, second_page, f"{second_page}/deny", {"reason": " "})
    assert blank.status_code == 422 and "Reason: say why" in blank.text
    # ... of at most 256 characters, as the API's body (the same model checks both).
    long = _post(owner, second_page, f"{second_page}/deny", {"reason": "x" * 257})
    assert long.status_code == 422 and "Reason: at most 256 characters" in long.text
    # The refused text is kept, in the form it came from (escaped), to be mended.
    kept = _post(owner, second_page, f"{second_page}/deny", {"reason": "<b>" + "y" * 260})
    assert kept.status_code == 422
    assert f'id="deny-reason" maxlength="256" required size="50" value="&lt;b&gt;{"y" * 260}"' in (
        kept.text
    )
    assert console.state(second) == "requested"
    denied = _post(owner, second_page, f"{second_page}/deny", {"reason": "not needed"})
    assert denied.status_code == 303 and console.state(second) == "denied"
    history = owner.get("/merchants/m-1").text
    assert "No request is waiting for an answer." in history
    assert "state-approved" in history and "state-denied" in history
    assert f'href="/merchants/m-1/grants/{first}#uses">0 accesses' in history


def test_staff_give_the_second_approval_but_never_for_their_own_grant(console: Grants) -> None:
    grant_id = console.ask(merchant="m-2")
    page = f"/merchants/m-2/grants/{grant_id}"
    grantee = console.as_("agent-1@platform.example")
    shown = grantee.get(page)
    assert shown.status_code == 200 and f'action="{page}/approve"' not in shown.text
    assert "neither the grantee nor whoever requested it" in shown.text
    refused = _post(grantee, page, f"{page}/approve", {"confirm": "yes"})
    assert refused.status_code == 403 and console.state(grant_id) == "requested"
    rita = console.as_("rita@platform.example")
    owner = console.as_("owner@shop2.example")
    assert _post(owner, page, f"{page}/approve", {"confirm": "yes"}).status_code == 303
    assert console.state(grant_id) == "requested"  # the staff approval is still missing
    assert "Requests waiting for your approval" in rita.get("/merchants/m-2").text
    assert _post(rita, page, f"{page}/approve", {"confirm": "yes"}).status_code == 303
    assert console.state(grant_id) == "approved"
    row = console.store.grant(grant_id)
    assert row is not None and "rita@platform.example" in row.approvals_json
    # An auditor reads it and answers nothing.
    auditor = console.as_("aude@platform.example")
    assert auditor.get(page).status_code == 200
    assert (
        auditor.post(f"{page}/revoke", data={"reason": "x", "csrf_token": "x"}).status_code == 403
    )


def test_a_merchant_never_reaches_another_merchants_grants(console: Grants) -> None:
    theirs = console.ask(merchant="m-2")
    owner = console.as_("owner@shop1.example")
    assert owner.get(f"/merchants/m-2/grants/{theirs}").status_code == 403
    assert owner.get("/merchants/m-2").status_code == 403
    token = form_token(owner.get("/merchants/m-1"))
    for path in (
        f"/merchants/m-2/grants/{theirs}/approve",
        f"/merchants/m-1/grants/{theirs}/approve",
    ):
        response = owner.post(path, data={"confirm": "yes", "csrf_token": token})
        assert response.status_code in (403, 404), path
    assert owner.get(f"/merchants/m-1/grants/{theirs}").status_code == 404
    assert theirs not in owner.get("/merchants/m-1").text
    assert console.state(theirs) == "requested"
    assert workflow.grant_history(console.store, "m-2", theirs).seen_by == ()


def test_an_expired_request_stays_in_history_with_who_saw_it(console: Grants) -> None:
    grant_id = console.ask()
    owner = console.as_("owner@shop1.example")
    owner.get(f"/merchants/m-1/grants/{grant_id}")
    console.clock.advance(24 * HOUR + 1)
    owner = console.as_("owner@shop1.example")  # a new session (the first one went idle)
    page = owner.get(f"/merchants/m-1/grants/{grant_id}")
    assert "state-expired" in page.text and "owner@shop1.example" in page.text
    assert "nobody answered the request before its deadline" in page.text
    assert f'action="/merchants/m-1/grants/{grant_id}/approve"' not in page.text
    assert console.store.event_by_id(f"{grant_id}-expired") is not None


def test_the_access_log_never_holds_a_links_token() -> None:
    token = "t" * 43
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/grant-links/g-1/{token}/approve", "1.1", 200), None,
    )  # fmt: skip
    assert RedactLinks().filter(record)
    assert token not in record.getMessage()
    assert "/grant-links/g-1/…/approve" in record.getMessage()
    assert logging.getLogger("uvicorn.access").filters  # installed on import


def _deadline(page: str) -> tuple[str, str] | None:
    """The grant page's deadline line (its term and the time), if it shows one."""
    found = re.search(
        r"<dt>(Answer by|Expires|Expired|Expiry|Answer before|Holds until)</dt>", page
    )
    return (found.group(1), page[found.end() : found.end() + 80]) if found else None


def test_staff_see_who_the_request_waits_for(console: Grants) -> None:
    console.ask()  # m-1: the merchant's approval alone
    rita = console.as_("rita@platform.example")
    page = rita.get("/merchants/m-1").text
    assert "Requests waiting for the merchant's approval" in page
    assert "Requests waiting for your approval" not in page
    assert "You cannot answer it" in page
    owner = console.as_("owner@shop1.example")
    assert "Requests waiting for your approval" in owner.get("/merchants/m-1").text


def test_a_grants_time_limit_says_what_it_is_in_its_state(console: Grants) -> None:
    asked, approved = console.ask(), console.ask(actor="agent-2")
    owner = console.as_("owner@shop1.example")
    page = f"/merchants/m-1/grants/{asked}"
    shown = _deadline(owner.get(page).text)
    assert shown is not None and shown[0] == "Answer by"
    assert "answer by <time" in owner.get("/merchants/m-1").text
    assert _post(owner, page, f"{page}/deny", {"reason": "not needed"}).status_code == 303
    denied = owner.get(page).text
    assert "state-denied" in denied and _deadline(denied) is None  # no deadline any more
    done = f"/merchants/m-1/grants/{approved}"
    assert _post(owner, done, f"{done}/approve", {"confirm": "yes"}).status_code == 303
    shown = _deadline(owner.get(done).text)
    assert shown is not None and shown[0] == "Expires"
    rows = re.findall(r"<tr>\s*<td><a href=\"[^\"]+/grants/(g-[^\"]+)\">.*?</tr>", owner.get(
        "/merchants/m-1").text, re.S)  # fmt: skip
    assert set(rows) == {asked, approved}
    history = owner.get("/merchants/m-1").text
    row_of = {g: re.search(rf"grants/{g}\">.*?</tr>", history, re.S) for g in rows}
    denied_row, approved_row = row_of[asked], row_of[approved]
    assert denied_row is not None and approved_row is not None
    assert "<td>—</td>" in denied_row.group(0) and "expires <time" not in denied_row.group(0)
    assert "expires <time" in approved_row.group(0)


def test_seen_by_names_each_viewer_once(console: Grants) -> None:
    grant_id = console.ask()
    page = f"/merchants/m-1/grants/{grant_id}"
    for email in ("rita@platform.example", "aude@platform.example", "owner@shop1.example"):
        viewer = console.as_(email)
        assert viewer.get(page).status_code == 200
        assert viewer.get(page).status_code == 200  # once per person
    seen = re.search(r'<dd class="seen-by">(.*?)</dd>', console.as_("owner@shop1.example").get(
        page).text)  # fmt: skip
    assert seen is not None
    # Staff are "platform staff" to the merchant: one entry, with how many people.
    assert sorted(seen.group(1).split(", ")) == ["owner@shop1.example", "platform staff (2 people)"]
