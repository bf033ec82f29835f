"""The guard's detectors (sentinelle.detect.guard_signals): ``break_glass`` on self-approved
grants, ``probing`` on denied requests, and ``denial_kind`` on the reasons the guard really
writes (decided here by :func:`sentinelle.guard.decide`, so a change of wording shows)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sentinelle.detect import DetectConfig, Engine, Severity
from sentinelle.detect.guard_signals import denial_kind
from sentinelle.events import decode_event
from sentinelle.events.model import Justification
from sentinelle.guard import AccessRequest, TicketView, decide, parse_policy
from sentinelle.guard.recording import access_event
from sentinelle.timeutil import MINUTE, iso, parse_time

POLICY = parse_policy("""
[teams.tier1]
actions = ["view", "search", "export"]
channels = ["support_console", "export"]
categories = ["contact", "address", "order_details"]
purposes = ["general", "shipping_question", "order_question"]
""")
T0 = parse_time("2026-11-05T10:00:00Z")
OPEN = TicketView(id="T-1", state="open", merchant="m-1", assignees=frozenset({"agent-1"}))


def _reason(view: TicketView | None = None, *, suspended: bool = False, **fields: Any) -> str:
    """The ``justification.reason`` of the access event recording this request's decision."""
    request = AccessRequest(**{"actor": "agent-1", "team": "tier1", "merchant": "m-1",
                               "action": "view", "data": ["contact"],
                               "channel": "support_console", **fields})  # fmt: skip
    decision = decide(POLICY, request, ticket=view, grants=(), suspended=suspended, now_us=T0)
    event = access_event("e-1", request, decision, T0)
    assert isinstance(event.justification, Justification)
    reason = event.justification.reason
    assert isinstance(reason, str)
    return reason


@pytest.mark.parametrize(
    ("ticket", "fields", "kind"),
    [
        (None, {}, "no ticket"),
        (None, {"ticket": "nope"}, "not a ticket id"),
        (None, {"ticket": "T-404"}, "unknown ticket"),
        (OPEN, {"ticket": "T-1", "merchant": "m-2"}, "ticket of another merchant"),
        (None, {"team": "tier9"}, "team not in the policy"),
        (None, {"action": "delete"}, "action not allowed to them"),
        (None, {"channel": "api"}, "channel not allowed to them"),
        (None, {"data": ["financial"]}, "nothing they may see"),
        (None, {"purpose": "fraud_review"}, "purpose not theirs"),
        (None, {"break_glass": "short"}, "break-glass refused"),
        (None, {"action": "export", "channel": "export", "count": 50}, None),  # pending
        (OPEN, {"ticket": "T-1", "suspended": True}, None),  # the suspension, not a probe
    ],
    ids=lambda v: str(v) if isinstance(v, str) or v is None else "",
)
def test_denial_kind_reads_the_guards_reasons(
    ticket: TicketView | None, fields: dict[str, Any], kind: str | None
) -> None:
    suspended = fields.pop("suspended", False)
    assert denial_kind(_reason(ticket, suspended=suspended, **fields)) == kind


@pytest.mark.parametrize(
    ("ticket", "kind"),
    [
        (
            TicketView(id="T-1", state="closed", merchant="m-1", assignees=frozenset({"agent-1"})),
            "closed ticket",
        ),
        (
            TicketView(id="T-1", state="open", merchant="m-1", assignees=frozenset({"agent-7"})),
            "someone else's ticket",
        ),
    ],  # fmt: skip
)
def test_denial_kind_of_tickets_that_do_not_justify(ticket: TicketView, kind: str) -> None:
    assert denial_kind(_reason(ticket, ticket="T-1")) == kind


def test_denial_kind_of_other_denials() -> None:
    assert denial_kind("blocked by the shop's firewall") == "other reason"
    assert denial_kind("") == "other reason"
    assert denial_kind("pending: Export needs approval") is None


# -- probing -----------------------------------------------------------------------------------


def _denied(i: int, minute: float, merchant: str = "m-1", **just: str) -> dict[str, Any]:
    return {
        "id": f"d-{i}", "time": iso(T0 + int(minute * MINUTE)),
        "actor": {"id": "agent-1", "kind": "staff", "team": "tier1"}, "action": "view",
        "merchant": merchant, "data": ["contact"], "channel": "support_console",
        "justification": {"reason": "deny: No ticket is cited: denied.", **just},
        "outcome": "denied",
    }  # fmt: skip


def _run(raw: list[dict[str, Any]], **probing: Any) -> list[Any]:
    config = DetectConfig(detectors={"probing": probing} if probing else {})
    engine = Engine(config)
    alerts = engine.run(decode_event(json.dumps(e)) for e in raw)
    return [a for a in alerts if a.detector == "probing"]


def test_a_few_denials_are_nothing() -> None:
    assert _run([_denied(i, i) for i in range(4)]) == []
    assert _run([_denied(0, 0, "m-1"), _denied(1, 1, "m-2")]) == []


@pytest.mark.parametrize(
    ("events", "severity", "reason"),
    [
        (
            [_denied(i, i * 8) for i in range(5)],
            Severity.MEDIUM,
            "agent-1 had 5 requests denied in 32 minutes at 1 merchant: no ticket (5).",
        ),
        (
            [_denied(i, i, f"m-{i}") for i in range(3)],
            Severity.MEDIUM,
            "agent-1 had 3 requests denied in 2 minutes at 3 merchants: no ticket (3).",
        ),
        (
            [_denied(i, 0, ticket=f"T-{i}") for i in range(3)],
            Severity.MEDIUM,
            "agent-1 had 3 requests denied within a minute at 1 merchant, citing 3 different "
            "tickets: no ticket (3).",
        ),
        (
            [_denied(i, i * 5, f"m-{i % 7}") for i in range(12)],
            Severity.HIGH,
            "agent-1 had 12 requests denied in 55 minutes at 7 merchants: no ticket (12).",
        ),
        (
            [_denied(i, i * 2) for i in range(15)],
            Severity.HIGH,
            "agent-1 had 15 requests denied in 28 minutes at 1 merchant: no ticket (15). They "
            "went on after 5 denials.",
        ),
    ],  # fmt: skip
    ids=["five", "three-merchants", "three-tickets", "seven-merchants", "went-on"],
)
def test_probing_fires_on_repeated_denials(
    events: list[dict[str, Any]], severity: Severity, reason: str
) -> None:
    [alert] = _run(events)
    assert alert.severity == severity
    assert alert.reasons == [reason]
    assert set(alert.events) <= {e["id"] for e in events}  # one alert gathers the findings
    assert alert.merchants == sorted({e["merchant"] for e in events})


def test_probing_names_each_kind_of_denial() -> None:
    events = [_denied(i, i) for i in range(3)]
    events += [
        {**_denied(3 + i, 3 + i, "m-2"),
         "justification": {"ticket": "T-1", "reason": "deny: Ticket T-1 belongs to merchant "
                           "m-1, not m-2, and no approved, live grant covers it: denied."}}
        for i in range(2)
    ]  # fmt: skip
    [alert] = _run(events)
    assert alert.reasons == [
        "agent-1 had 5 requests denied in 4 minutes at 2 merchants: no ticket (3), ticket of "
        "another merchant (2)."
    ]


def test_denials_out_of_the_window_are_forgotten() -> None:
    # Four denials an hour apart never make five within an hour.
    assert _run([_denied(i, i * 61) for i in range(10)]) == []
    # A shorter window of the configuration.
    assert _run([_denied(i, i * 8) for i in range(5)], window_minutes=30) == []
    assert _run([_denied(i, i) for i in range(2)], min_denials=2)


def test_pending_suspended_and_allowed_requests_do_not_count() -> None:
    pending = [{**_denied(i, i), "justification": {"reason": "pending: Export needs approval"}}
               for i in range(6)]  # fmt: skip
    suspended = [
        {**_denied(i, i, f"m-{i}"),
         "justification": {"reason": "deny: agent-1 is suspended pending review of a "
                           "high-severity alert: every access is denied."}}
        for i in range(6)
    ]  # fmt: skip
    allowed = [{**_denied(i, i, f"m-{i}"), "outcome": "allowed"} for i in range(6)]
    for events in (pending, suspended, allowed):
        assert _run(events) == []


def test_its_memory_is_bounded_and_saved_with_the_state() -> None:
    engine = Engine()
    for i in range(2000):
        engine.process(decode_event(json.dumps(_denied(i, i / 100))))
    recent = engine.state.context.actors["agent-1"].marks["probing"]
    assert len(recent) == 500
    # Live: the state saved between batches carries the denials on.
    first = Engine()
    first.run(decode_event(json.dumps(_denied(i, i))) for i in range(3))
    again = Engine(state=Engine.load_state(first.dump_state()))
    alerts = again.run(decode_event(json.dumps(_denied(i, i))) for i in range(3, 5))
    assert [a.detector for a in alerts] == ["probing"]


# -- break-glass -------------------------------------------------------------------------------


def _grant(by: str, kind: str = "grant.approved", **more: Any) -> dict[str, Any]:
    return {
        "id": "bg-dec-1-approved", "time": iso(T0), "type": kind, "grant": "bg-dec-1",
        "actor": "agent-1", "merchant": "m-3", "by": by,
        "reason": "break-glass: customer locked out, card fraud in progress",
        "expires": "2026-11-05T11:00:00Z", **more,
    }  # fmt: skip


def test_a_self_approved_grant_raises_a_high_alert_for_review() -> None:
    [alert] = Engine().run([decode_event(json.dumps(_grant("agent-1")))])
    assert (alert.detector, alert.severity, alert.actor) == (
        "break_glass",
        Severity.HIGH,
        "agent-1",
    )
    assert alert.merchants == ["m-3"]
    assert alert.events == ["bg-dec-1-approved", "dec-1"]
    assert alert.reasons == [
        'agent-1 used break-glass at merchant m-3: they stated "customer locked out, card fraud '
        "in progress\" and were allowed access to its customers' data without a ticket or an "
        "approval, until 2026-11-05 11:00 UTC (grant bg-dec-1). A responder must review it: "
        "accept it (acknowledge) or escalate it."
    ]


@pytest.mark.parametrize(
    "event",
    [_grant("key:shop1"), _grant("agent-1", "grant.requested"), _grant("agent-1", "grant.revoked")],
    ids=["approved-by-merchant", "requested", "revoked"],
)
def test_other_grant_events_are_no_break_glass(event: dict[str, Any]) -> None:
    assert Engine().run([decode_event(json.dumps(event))]) == []
