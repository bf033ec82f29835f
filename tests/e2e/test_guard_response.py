"""The automatic response, end to end on both stores: a high alert raised by a batch of events
or by decisions suspends its actor before the answer returns (grants revoked in the ledger,
the alert escalated into an incident), the next decision is a denial, a responder lifts the
suspension with a reason; break-glass decisions raise their alert at once without suspending;
repeated denials raise a probing alert."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_api_guard import NOW, POLICY, Api, _grant, _make

from sentinelle.config import Settings
from sentinelle.detect import DetectionRunner
from sentinelle.detect.runner import alert_from_row
from sentinelle.guard.respond import SENTINELLE, respond
from sentinelle.ingest import Ingestor

NO_TICKET = "deny: No ticket is cited, and no approved, live grant covers it: denied."


def _alerts(api: Api, actor: str = "agent-1") -> dict[str, Any]:
    """The actor's alerts by detector."""
    found = (alert_from_row(r) for r in api.state.store.alerts(actor=actor))
    return {a.detector: a for a in found}


def _get(api: Api, path: str) -> Any:
    return api.client.get(path, headers={"Authorization": f"Bearer {api.keys['admin']}"})


def _with(settings: Settings, tmp_path: Path, response: str = "") -> Iterator[Api]:
    policy = tmp_path / "guard.toml"
    policy.write_text(POLICY + response)
    yield from _make(settings, policy)


@pytest.fixture
def api(settings: Settings, tmp_path: Path) -> Iterator[Api]:
    yield from _with(settings, tmp_path)


def _approved_grant(api: Api) -> str:
    grant: str = _grant(api)["id"]
    approved = api.post(f"/v1/merchants/m-1/grants/{grant}/approve", None, key="m-1")
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    return grant


def _denials(merchants: int, *, prefix: str = "d") -> list[dict[str, Any]]:
    """Denied accesses by agent-1, one a minute, at ``merchants`` merchants."""
    return [
        {"id": f"{prefix}-{i}", "time": f"2026-11-05T09:{10 + i:02d}:00Z",
         "actor": {"id": "agent-1", "kind": "staff", "team": "tier1"}, "action": "view",
         "merchant": f"m-{10 + i}", "data": ["contact"], "channel": "support_console",
         "justification": {"reason": NO_TICKET}, "outcome": "denied"}
        for i in range(merchants)
    ]  # fmt: skip


def test_a_high_alert_in_a_batch_suspends_before_the_answer(api: Api) -> None:
    grant = _approved_grant(api)
    assert api.decide(ticket="T-1")["decision"] == "allow"
    answer = api.post("/v1/events", _denials(6), key="admin")
    assert answer.status_code == 200, answer.text
    [suspended] = answer.json()["suspended"]
    alert = _alerts(api)["probing"]
    assert suspended["actor"] == "agent-1" and suspended["alert"] == alert.id
    assert (suspended["detector"], suspended["severity"]) == ("probing", "high")
    assert suspended["revoked"] == [grant]
    # The next decision is a denial, whatever the ticket says.
    denied = api.decide(ticket="T-1")
    assert denied["decision"] == "deny"
    assert "suspended pending review" in denied["reasons"][0]
    # The grant is revoked in the ledger, by the automatic response, naming the alert.
    revoked = api.state.store.event_by_id(f"{grant}-revoked")
    assert revoked is not None and f'"by":"{SENTINELLE}"' in revoked[1].replace(" ", "")
    assert alert.id in revoked[1]
    # The alert is escalated into a new incident, by sentinelle, saying why.
    [decision] = api.state.store.triage_history([alert.id])[alert.id]
    assert (decision.status, decision.by) == ("escalated", SENTINELLE)
    assert decision.incident == suspended["incident"] is not None
    incident = _get(api, f"/v1/incidents/{decision.incident}")
    assert incident.status_code == 200 and "agent-1" in incident.text
    # The actor's page shows the suspension, the alert and why.
    shown = _get(api, "/v1/actors/agent-1").json()["suspension"]
    assert shown["active"] is True and shown["by"] == SENTINELLE and shown["alert"] == alert.id
    assert "probing" in shown["reason"] and "high" in shown["reason"]
    assert [s["kind"] for s in shown["history"]] == ["suspended"]
    # More of the same alert does not suspend again, nor open another incident.
    again = api.post("/v1/events", _denials(8, prefix="e"), key="admin")
    assert again.status_code == 200 and again.json()["suspended"] == []
    assert len(api.state.store.triage_history([alert.id])[alert.id]) == 1


def test_lifting_needs_a_reason_and_is_logged_with_who_and_why(api: Api) -> None:
    path = "/v1/actors/agent-1/suspension/lift"
    assert api.post(path, {"reason": "checked"}, key="responder").status_code == 404
    assert api.post("/v1/events", _denials(6), key="admin").json()["suspended"]
    assert api.decide(ticket="T-1")["decision"] == "deny"
    for bad in ({}, {"reason": ""}, {"reason": "   "}):
        refused = api.post(path, bad, key="responder")
        assert refused.status_code == 422, refused.text
    assert api.post(path, {"reason": "checked"}, key="guard").status_code == 403
    assert api.decide(ticket="T-1")["decision"] == "deny"  # nothing was lifted
    lifted = api.post(path, {"reason": "tickets were migrated; checked with the lead"},
                      key="responder")  # fmt: skip
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["lifted_by"] == "key:resp"
    assert api.decide(ticket="T-1")["decision"] == "allow"
    shown = _get(api, "/v1/actors/agent-1").json()["suspension"]
    assert shown["active"] is False and shown["lifted_by"] == "key:resp"
    assert shown["lift_reason"] == "tickets were migrated; checked with the lead"
    steps = [(s["kind"], s["by"]) for s in shown["history"]]
    assert steps == [("suspended", SENTINELLE), ("lifted", "key:resp")]
    assert api.post(path, {"reason": "again"}, key="responder").status_code == 404


@pytest.mark.parametrize(
    "response",
    ['[response]\nexempt = ["break_glass", "probing"]\n', '[response]\nsuspend_at = "never"\n'],
    ids=["exempt", "never"],
)
def test_exempt_detectors_and_never_do_not_suspend(
    settings: Settings, tmp_path: Path, response: str
) -> None:
    for api in _with(settings, tmp_path, response):
        answer = api.post("/v1/events", _denials(6), key="admin")
        assert answer.status_code == 200 and answer.json()["suspended"] == []
        assert str(_alerts(api)["probing"].severity) == "high"  # the alert is there
        assert api.decide(ticket="T-1")["decision"] == "allow"
        assert not api.state.store.suspended("agent-1")


def test_a_break_glass_alert_exists_when_the_decision_is_answered(api: Api) -> None:
    stated = "customer locked out of the account, urgent"
    answer = api.decide(merchant="m-2", data=["contact"], break_glass=stated)
    assert answer["decision"] == "allow" and answer["break_glass"] is True
    grant = answer["grant"]
    assert grant == f"bg-{answer['event']}"
    alert = _alerts(api)["break_glass"]  # read right after the answer: it exists
    assert str(alert.severity) == "high" and alert.merchants == ["m-2"]
    assert answer["event"] in alert.events
    [reason] = alert.reasons
    assert "agent-1 used break-glass at merchant m-2" in reason
    assert "customer locked out of the account, urgent" in reason
    assert "until 2026-11-05 11:00 UTC" in reason  # the default hour
    # In the ledger: the access cites the self-approved grant, in the same group write.
    event = api.state.store.event_by_id(answer["event"])
    assert event is not None and f'"grant":"{grant}"' in event[1].replace(" ", "")
    approved = api.state.store.event_by_id(f"{grant}-approved")
    assert approved is not None and '"by":"agent-1"' in approved[1].replace(" ", "")
    # A review, not a suspension (break_glass is exempt by default).
    assert not api.state.store.suspended("agent-1")
    assert api.decide(ticket="T-1")["decision"] == "allow"


def test_repeated_denied_decisions_raise_probing_and_a_few_do_not(api: Api) -> None:
    contact = ["contact"]
    for merchant in ("m-1", "m-2"):
        assert api.decide(merchant=merchant, data=contact)["decision"] == "deny"
    assert "probing" not in _alerts(api)  # two denials are nothing
    assert api.decide(merchant="m-3", data=contact, ticket="T-1")["decision"] == "deny"
    alert = _alerts(api)["probing"]  # three merchants: medium, at once
    assert str(alert.severity) == "medium"
    assert alert.reasons == [
        "agent-1 had 3 requests denied within a minute at 3 merchants: no ticket (2), "
        "ticket of another merchant (1)."
    ]
    assert not api.state.store.suspended("agent-1")  # medium does not suspend
    for merchant in ("m-4", "m-5", "m-6"):
        api.decide(merchant=merchant, data=contact)
    # The sixth merchant made it high: suspended before that answer returned.
    assert str(_alerts(api)["probing"].severity) == "high"
    assert "suspended pending review" in api.decide(ticket="T-1")["reasons"][0]


class _BrokenLedger:
    """A ledger whose every use fails (a disk gone): the response must not raise."""

    def __getattr__(self, name: str) -> Any:
        raise OSError("the ledger's disk is gone")


def test_a_failed_step_is_reported_and_completed_when_the_alert_is_raised_again(
    api: Api,
) -> None:
    grant = _approved_grant(api)
    state = api.state
    policy = state.guard_policy.get()
    # Detection alone first (no response yet), then the response with a ledger that fails.
    assert api.post("/v1/events", _denials(2), key="admin").status_code == 200
    assert "probing" not in _alerts(api)
    high = _denials(6, prefix="f")
    Ingestor(state.store, state.ledger).ingest(
        [(i, json.dumps(e)) for i, e in enumerate(high)], unit="index"
    )
    alerts = DetectionRunner(state.store, state.detect_config).catch_up()
    broken = respond(state.store, _BrokenLedger(), state.engine, policy, alerts, now_us=NOW)  # type: ignore[arg-type]
    assert broken.suspended == [] and "failed for alert" in broken.notes[0]
    assert state.store.suspended("agent-1")  # step 1 held: decisions are denied
    assert state.store.grant(grant).state == "approved"  # step 2 failed
    # Raised again: the grant is revoked and the alert escalated, the suspension kept.
    done = respond(state.store, state.ledger, state.engine, policy, alerts, now_us=NOW)
    [suspended] = done.suspended
    assert suspended.revoked == (grant,) and suspended.incident is not None
    assert state.store.grant(grant).state == "revoked"
    assert (
        respond(state.store, state.ledger, state.engine, policy, alerts, now_us=NOW).suspended == []
    )
