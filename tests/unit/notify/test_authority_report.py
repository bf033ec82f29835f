"""The authority report built from an incident, its log and scope: no store, no clock read."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sentinelle.assess import assess
from sentinelle.detect.timeutil import HOUR, parse_time
from sentinelle.incidents import Incident, LogEntry, MerchantScope, Scope, State
from sentinelle.incidents.model import AUTHORITY_NOTIFIED, AuthorityNotification, Phase
from sentinelle.notify.report import (
    NOT_KNOWN,
    SECTIONS,
    authority_report,
    render_authority_report_html,
    render_authority_report_text,
)

AWARE = "2026-11-20T08:00:00Z"
NOW = parse_time("2026-11-21T08:00:00Z")
COMPLETE: dict[str, Any] = {
    "aware_at": AWARE,
    "title": "t",
    "summary": "An agent exported customer lists.",
    "breach_types": ["confidentiality"],
    "data_categories": ["contact"],
    "period": {"start": "2026-11-01T00:00:00+01:00", "end": "2026-11-10T00:00:00Z"},
    "cause": {"source": "internal", "intent": "malicious", "kind": "insider_abuse"},
    "controller": {"name": "Shop", "sector": "retail", "dpo_contact": "dpo@shop.example"},
    "subjects": {"count": 3, "approximate": False},
    "records": 3,
    "mitigations": ["account suspended"],
    "jurisdictions": ["EU-FR"],
    "notified": {"subjects_at": "2026-11-22T00:00:00Z"},
}


def incident(facts: dict[str, Any] | None, state: State = State.ASSESSED) -> Incident:
    decision = None
    if facts is not None:
        decision = assess(facts, now=dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC))
    return Incident(
        id="inc-1",
        title="<i>t</i>",
        state=state,
        actors=("agent-7",),
        from_us=0,
        to_us=1,
        created_us=parse_time("2026-11-19T00:00:00Z"),
        created_by="dpo",
        facts=facts,
        assessment=decision,
    )


def scope() -> Scope:
    found = Scope(incident="inc-1", actors=("agent-7",), from_us=0, to_us=1, unjustified_only=True)
    found.per_merchant["m-1"] = MerchantScope(
        merchant="m-1", subject_ids={"cust-a", "cust-b", "cust-c"}, records=3
    )
    return found


def test_complete_facts_leave_nothing_unknown() -> None:
    report = authority_report(incident(COMPLETE), [], scope(), now_us=NOW)
    assert report["not_known"] == []
    assert report["notification"]["complete"] is True
    assert report["timeline"]["breach_start"] == "2026-10-31T23:00:00Z"  # UTC
    assert report["communication_to_subjects"]["status"] == "informed"
    assert report["communication_to_subjects"]["at"] == "2026-11-22T00:00:00Z"
    assert report["scope"] == {
        "merchants": 1,
        "subjects": 3,
        "records": 3,
        "categories": [],
        "actors": 1,
        "unjustified_only": True,
    }
    text = (
        repr(report) + render_authority_report_html(report) + render_authority_report_text(report)
    )
    for secret in ("cust-a", "cust-b", "cust-c", "m-1", "agent-7"):
        assert secret not in text


def test_without_facts_everything_is_not_known() -> None:
    report = authority_report(incident(None, State.OPEN), [], now_us=NOW)
    assert report["timeline"]["status"] == "unknown"
    assert report["consequences"] == {"risk": None, "severity": None, "description": None}
    assert report["communication_to_subjects"]["status"] is None
    assert report["notification"]["next_phase"] == "initial"
    assert "controller.name" in report["not_known"]
    page = render_authority_report_html(report)
    assert page.count(NOT_KNOWN) >= len(report["not_known"])
    assert all(f'<section id="{s}">' in page for s, _ in SECTIONS)
    assert "&lt;i&gt;t&lt;/i&gt;" in page


@pytest.mark.parametrize(
    ("given", "status"),
    [
        ({}, "not_informed_not_high_risk"),
        ({"data_categories": ["credentials"], "credentials_for": "financial"}, "to_be_informed"),
        (
            {
                "data_categories": ["credentials"],
                "credentials_for": "financial",
                "subjects_contactable": False,
            },
            "public_communication",
        ),
    ],
)
def test_communication_to_subjects(given: dict[str, Any], status: str) -> None:
    facts = {k: v for k, v in COMPLETE.items() if k != "notified"} | given
    report = authority_report(incident(facts), [], now_us=NOW)
    assert report["communication_to_subjects"]["status"] == status
    assert report["communication_to_subjects"]["decided"] is True


def test_phases_and_the_next_one() -> None:
    deadline = parse_time(AWARE) + 72 * HOUR
    log = [
        LogEntry(
            "inc-1",
            NOW + i,
            "dpo",
            AUTHORITY_NOTIFIED,
            AuthorityNotification(
                phase=phase, sent_us=deadline - HOUR + i, by="dpo", recorded_us=NOW + i
            ).details(),
        )
        for i, phase in enumerate([Phase.INITIAL, Phase.FINAL])
    ]
    report = authority_report(incident(COMPLETE, State.NOTIFYING), log, now_us=NOW)
    assert report["notification"]["next_phase"] is None
    assert [p["phase"] for p in report["notification"]["phases"]] == ["initial", "final"]
    assert report["timeline"]["on_time"] is True
