"""The authority report built from an incident, its log and scope: no store, no clock read."""

from __future__ import annotations

import datetime as dt
import re
import typing
from typing import Any

import msgspec.inspect as mi
import pytest

from sentinelle.assess import Facts, evaluate, parse_facts
from sentinelle.config import Settings
from sentinelle.incidents import Incident, LogEntry, MerchantScope, Scope, State
from sentinelle.incidents.model import AUTHORITY_NOTIFIED, AuthorityNotification, Phase
from sentinelle.notify.report import (
    FACTS_SHOWN,
    NOT_KNOWN,
    SECTIONS,
    authority_report,
    configured_controller,
    render_authority_report_html,
    render_authority_report_text,
)
from sentinelle.timeutil import HOUR, parse_time

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
    """The incident as recorded: typed facts and the assessment they give (or neither)."""
    typed = parse_facts(facts) if facts is not None else None
    decision = None
    if typed is not None:
        decision = evaluate(typed, now=dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC))
    return Incident(
        id="inc-1",
        title="<i>t</i>",
        state=state,
        actors=("agent-7",),
        from_us=0,
        to_us=1,
        created_us=parse_time("2026-11-19T00:00:00Z"),
        created_by="dpo",
        facts=typed,
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


def test_the_printed_report_reads_times_as_people_do() -> None:
    # Not 2026-11-20T08:00:00Z, nor with microseconds: the minute, in UTC; exact on hover.
    page = render_authority_report_html(authority_report(incident(COMPLETE), [], now_us=NOW))
    aware = '<time datetime="2026-11-20T08:00:00Z" title="2026-11-20T08:00:00Z">'
    assert f"{aware}2026-11-20 08:00 UTC</time>" in page
    assert ">2026-11-21 08:00 UTC</time> · GDPR Art. 33" in page  # generated at
    assert "T08:00:00Z:" not in page  # within a sentence too (the clock's status)


def test_the_settings_give_the_controller_the_facts_leave_out() -> None:
    # The shop's name and DPO contact its notices are signed with: not "not known yet".
    facts = {k: v for k, v in COMPLETE.items() if k != "controller"}
    settings = Settings(shop_name="Demo Shop", dpo_contact="dpo@shop.example")
    report = authority_report(
        incident(facts), [], now_us=NOW, controller=configured_controller(settings)
    )
    assert report["controller"] == {
        "name": "Demo Shop",
        "sector": None,
        "dpo_contact": "dpo@shop.example",
    }
    assert "controller.name" not in report["not_known"]
    assert "controller.dpo_contact" not in report["not_known"]
    # What the facts state wins; without settings, nothing is filled in.
    stated = authority_report(
        incident(COMPLETE), [], now_us=NOW, controller=configured_controller(settings)
    )
    assert stated["controller"]["name"] == "Shop"
    bare = authority_report(
        incident(facts),
        [],
        now_us=NOW,
        controller=configured_controller(Settings(shop_name=None, dpo_contact=None)),
    )
    assert "controller.name" in bare["not_known"]


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


# --- what is missing is named by the facts key to add ------------------------------------------


def _member(kind: mi.Type) -> mi.Type:
    """A member's type without its ``Annotated`` constraints (msgspec drops ``| UnsetType``)."""
    while isinstance(kind, mi.Metadata):
        kind = kind.type
    assert not isinstance(kind, mi.UnionType), kind  # optional members are absent, never null
    return kind


def facts_paths(struct: mi.StructType, prefix: str = "") -> dict[str, mi.Type]:
    """Every key path of the facts file (``cause``, ``cause.intent``, …) and its type."""
    out: dict[str, mi.Type] = {}
    for field in struct.fields:
        path, kind = prefix + field.encode_name, _member(field.type)
        out[path] = kind
        if isinstance(kind, mi.StructType):
            out |= facts_paths(kind, f"{path}.")
    return out


PATHS = facts_paths(typing.cast(mi.StructType, mi.type_info(Facts)))


def sample(kind: mi.Type) -> Any:
    """A valid value of a facts member (the first of an enum)."""
    kind = _member(kind)
    if isinstance(kind, mi.LiteralType):
        return kind.values[0]
    if isinstance(kind, mi.BoolType):
        return True
    if isinstance(kind, mi.IntType | mi.FloatType):
        return 1
    if isinstance(kind, mi.StrType):
        return "x"
    if isinstance(kind, mi.DateTimeType):
        return "2026-11-01T00:00:00Z"
    if isinstance(kind, mi.ListType):
        return [sample(kind.item_type)]
    raise AssertionError(f"no sample for {kind}")


def named(report: dict[str, Any]) -> list[str]:
    return [*report["not_known"], *report["not_stated"]]


def test_every_missing_item_is_named_by_a_path_of_the_facts() -> None:
    assert {"summary", "cause.intent", "encryption.state", "recipients"} <= set(PATHS)
    keys = [key for _, key, _ in FACTS_SHOWN]
    assert sorted(set(keys)) == sorted(keys)  # each key fills one value shown
    assert not set(keys) - set(PATHS), "the report names a key the facts do not have"
    # Without facts, every name the report can produce is produced, in the list and the page.
    report = authority_report(incident(None, State.OPEN), [], now_us=NOW)
    assert sorted(named(report)) == sorted(keys)
    page = render_authority_report_html(report)
    hinted = re.findall(r'<span class="key">\(facts keys? (.*?)\)</span>', page)
    codes = {code for hint in hinted for code in re.findall(r"<code>(.*?)</code>", hint)}
    assert codes and codes <= set(PATHS)
    # Each value the table names a key for is one the report has (the table did not go stale).
    report = authority_report(incident(COMPLETE), [], now_us=NOW)
    for where, _, _ in FACTS_SHOWN:
        value: Any = report
        for part in where.split("."):
            assert isinstance(value, dict) and part in value, where
            value = value[part]


def test_adding_exactly_the_keys_named_completes_the_report() -> None:
    minimal = {k: COMPLETE[k] for k in ("aware_at", "breach_types", "data_categories")}
    report = authority_report(incident(minimal), [], now_us=NOW)
    assert report["notification"]["complete"] is False
    assert {"summary", "cause.intent", "controller.name"} <= set(report["not_known"])
    assert {"encryption.state", "recipients"} <= set(report["not_stated"])
    facts: dict[str, Any] = dict(minimal)
    for key in named(report):
        *parents, last = key.split(".")
        holder = facts
        for parent in parents:
            holder = holder.setdefault(parent, {})
        holder[last] = sample(PATHS[key])
    report = authority_report(incident(facts), [], now_us=NOW)
    assert (report["not_known"], report["not_stated"]) == ([], [])
    assert report["notification"]["complete"] is True
    assert NOT_KNOWN not in render_authority_report_text(report)


def test_a_partly_known_cause_names_the_members_missing() -> None:
    facts = COMPLETE | {"cause": {"intent": "accidental"}, "summary": "x"}
    del facts["summary"]
    report = authority_report(incident(facts), [], now_us=NOW)
    assert report["nature"]["cause"] == {"source": None, "intent": "accidental", "kind": None}
    assert report["not_known"] == ["cause.source", "cause.kind", "summary"]
    assert report["notification"]["complete"] is False
    page = render_authority_report_html(report)
    assert (
        f'source: <span class="unknown">{NOT_KNOWN}</span> '
        '<span class="key">(facts key <code>cause.source</code>)</span>'
    ) in page
    assert "intent: accidental" in page
    text = render_authority_report_text(report)
    assert text.endswith(f"? = {NOT_KNOWN}: cause.source, cause.kind, summary\n")
