"""The console's side of the automatic response, on both stores: a suspended actor is marked in
/actors and bannered on their page with a lift form (reason required, CSRF checked); lifting
is logged with who and why; a break-glass alert's page asks for its review."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console_support import Console, form_token, login, open_console
from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.config import Settings
from sentinelle.timeutil import MINUTE, iso, now_us

POLICY = """
[teams.tier1]
actions = ["view", "search"]
channels = ["support_console"]
categories = ["contact", "address", "order_details"]
"""
NO_TICKET = "deny: No ticket is cited, and no approved, live grant covers it: denied."


@pytest.fixture
def console(settings: Settings, tmp_path: Path) -> Iterator[Console]:
    policy = tmp_path / "guard.toml"
    policy.write_text(POLICY)
    yield from open_console(settings.model_copy(update={"guard_policy": policy}))


def _suspend(console: Console) -> str:
    """Six denials at six merchants an hour ago, through the API: agent-1 is suspended."""
    key = create_key(console.store, name="ingest", role=Role.ADMIN, by="t")
    start = now_us() - 60 * MINUTE  # dated by the wall clock: the actor page's window
    events = [
        {"id": f"d-{i}", "time": iso(start + i * MINUTE),
         "actor": {"id": "agent-1", "kind": "staff", "team": "tier1"}, "action": "view",
         "merchant": f"m-{i}", "data": ["contact"], "channel": "support_console",
         "justification": {"reason": NO_TICKET}, "outcome": "denied"}
        for i in range(6)
    ]  # fmt: skip
    answer = console.client().post(
        "/v1/events", json=events, headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 200, answer.text
    [suspended] = answer.json()["suspended"]
    alert: str = suspended["alert"]
    return alert


def _as(console: Console, email: str, role: Role) -> Any:
    client = console.client()
    assert login(client, console.user(email, role)).status_code == 303
    return client


def test_a_suspension_is_shown_and_lifted_with_a_reason(console: Console) -> None:
    alert = _suspend(console)
    responder = _as(console, "responder@example.org", Role.RESPONDER)
    listed = responder.get("/actors")
    assert listed.status_code == 200
    assert "Suspended now, pending review" in listed.text and ">agent-1</a>" in listed.text
    page = responder.get("/actors/agent-1")
    assert page.status_code == 200
    assert "Suspended since" in page.text and f'href="/alerts/{alert}"' in page.text
    assert "/actors/agent-1/suspension/lift" in page.text
    # An auditor sees the banner but no lift form.
    auditor = _as(console, "auditor@example.org", Role.AUDITOR)
    seen = auditor.get("/actors/agent-1")
    assert "Suspended since" in seen.text and "suspension/lift" not in seen.text
    refused = auditor.post("/actors/agent-1/suspension/lift",
                           data={"reason": "x", "csrf_token": form_token(seen)})  # fmt: skip
    assert refused.status_code == 403
    # No CSRF token, or no reason: nothing lifted.
    action = "/actors/agent-1/suspension/lift"
    assert responder.post(action, data={"reason": "checked"}).status_code == 403
    blank = responder.post(action, data={"reason": "  ", "csrf_token": form_token(page)})
    assert blank.status_code == 422 and "The suspension was not lifted" in blank.text
    assert console.store.suspended("agent-1")
    lifted = responder.post(
        action, data={"reason": "merchant lists were a test import", "csrf_token": form_token(page)}
    )
    assert lifted.status_code == 303
    assert lifted.headers["location"] == "/actors/agent-1?lifted=1"
    assert not console.store.suspended("agent-1")
    after = responder.get(lifted.headers["location"])
    assert "The suspension was lifted." in after.text and "Suspended since" not in after.text
    assert "merchant lists were a test import" in after.text  # the history: who and why
    assert "responder@example.org" in after.text
    assert "Suspended now" not in responder.get("/actors").text
    again = responder.post(action, data={"reason": "again", "csrf_token": form_token(page)})
    assert again.status_code == 422 and "not suspended" in again.text


def test_a_break_glass_alert_asks_for_its_review(console: Console) -> None:
    key = create_key(console.store, name="console-app", role=Role.GUARD, by="t")
    decided = console.client().post(
        "/v1/access/decide",
        json={"actor": "agent-2", "team": "tier1", "merchant": "m-9", "action": "view",
              "data": ["contact"], "channel": "support_console",
              "break_glass": "caller locked out, fraud in progress"},
        headers={"Authorization": f"Bearer {key}"},
    )  # fmt: skip
    assert decided.status_code == 200 and decided.json()["break_glass"] is True
    [row] = console.store.alerts(actor="agent-2")
    assert row.detector == "break_glass"
    responder = _as(console, "responder@example.org", Role.RESPONDER)
    page = responder.get(f"/alerts/{row.id}")
    assert page.status_code == 200
    assert "Review this break-glass access" in page.text
    assert "caller locked out, fraud in progress" in page.text
    accepted = responder.post(
        f"/alerts/{row.id}/triage",
        data={"status": "acknowledged", "reason": "confirmed with the caller",
              "csrf_token": form_token(page)},
    )  # fmt: skip
    assert accepted.status_code == 303
    [decision] = console.store.triage_history([row.id])[row.id]
    assert (decision.status, decision.reason) == ("acknowledged", "confirmed with the caller")
