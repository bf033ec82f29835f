"""The report for the supervisory authority: an incident's facts and decisions laid out like
the authority's breach-notification form.

The layout follows the EDPB common personal data breach notification template (notification,
people, timeline, nature, data subjects, data, consequences, measures, communication to data
subjects, cross-border) and what the CNIL asks for in an initial or complementary notification
(``breach-law.md`` §4-4.1), covering GDPR Art. 33(3)(a)-(d) and the reasons for a delay
(Art. 33(1)). Nothing is invented: a fact not recorded yet is ``null`` in the JSON, its path is
listed in ``not_known``, and the printed forms say :data:`NOT_KNOWN`. No data subject is
identified: people and records are counts only, and neither the incident's actors nor the
merchants are named.

:func:`authority_report` builds the JSON form; its keys are stable:

* ``format``: ``"sentinelle/authority-report/v1"``; ``generated_at``: RFC 3339 UTC.
* ``notification``: ``incident`` (our reference), ``title``, ``state``, ``next_phase``
  (``initial``, ``complementary``, or ``null`` after the final one), ``complete`` (nothing
  in ``not_known``), ``authority_reference`` (the first reference the authority gave), and
  ``phases`` (each phase sent: ``phase``, ``sent_at``, ``reference``, ``note``,
  ``delay_reasons``, ``deadline``, ``late``, ``by``, ``recorded_at``).
* ``controller``: ``name``, ``sector``, ``dpo_contact``.
* ``timeline``: ``breach_start``, ``breach_end``, ``discovered_at``, ``discovered_by``,
  ``discovered_how``, ``aware_at``, ``deadline``, ``notified_at`` (the initial notification),
  ``status``, ``on_time``, ``late_by_seconds``, ``delay_reasons``, ``summary``.
* ``nature``: ``breach_types``, ``cause`` (``source``, ``intent``, ``kind``), ``summary``,
  ``exfiltration``, ``recipients``, ``integrity``, ``availability``, ``encryption``,
  ``data_public_before``.
* ``subjects``: ``count``, ``approximate``, ``vulnerable``, ``public_figures``,
  ``contactable``.
* ``records``: ``count``, ``data_categories``.
* ``scope``: counts computed from the stored events (``merchants``, ``subjects``,
  ``records``, ``categories``, ``actors``, ``unjustified_only``), or ``null``.
* ``consequences``: ``risk`` (``high``, ``risk``, ``unlikely``), ``severity`` (the ENISA
  result: ``level``, ``score``, ``dpc``, ``ei``, ``cb``), ``description`` (what that ENISA
  level means for the people concerned).
* ``measures``: ``taken_or_proposed`` (the mitigations recorded).
* ``communication_to_subjects``: ``decided``, ``required``, ``status`` (``informed``,
  ``to_be_informed``, ``public_communication``, ``not_informed_exempt``,
  ``not_informed_not_high_risk``), ``at``, ``exemption``, ``public_communication``,
  ``reasons``, ``articles``.
* ``cross_border``: ``assessed_under``, ``jurisdictions``, ``notes``.
* ``clock``: the 72-hour clock (:meth:`sentinelle.incidents.Clock.to_dict`).
* ``assessment``: ``authority`` (``required``, ``deadline``, ``late``, ``reasons``,
  ``articles``), ``subjects`` (``required``, ``reasons``, ``articles``), ``assumptions``
  (``field``, ``statement``).
* ``not_known``: dotted paths of the facts still missing, e.g. ``controller.dpo_contact``.

:func:`render_authority_report_html` prints it as a self-contained page (print CSS, no
script, no external resource; Jinja2 with autoescape), :func:`render_authority_report_text`
as a short summary.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, Final

import jinja2

from sentinelle.detect.timeutil import iso, parse_time
from sentinelle.incidents import Clock, Incident, LogEntry, Phase, Scope
from sentinelle.store.base import now_us as _now_us

__all__ = [
    "FORMAT",
    "NOT_KNOWN",
    "SECTIONS",
    "authority_report",
    "render_authority_report_html",
    "render_authority_report_text",
]

FORMAT: Final = "sentinelle/authority-report/v1"
NOT_KNOWN: Final = "not known yet (to be provided in a complementary notification)"

# (id, heading) of the printed sections, in order; the HTML page has one <section id=…> each.
SECTIONS: Final = (
    ("notification", "1. Notification"),
    ("controller", "2. Controller and contact point"),
    ("timeline", "3. Timeline and the 72-hour deadline"),
    ("nature", "4. Nature of the breach"),
    ("subjects", "5. Data subjects and personal data records"),
    ("consequences", "6. Likely consequences"),
    ("measures", "7. Measures taken or proposed"),
    ("communication", "8. Communication to the data subjects"),
    ("cross-border", "9. Cross-border processing and jurisdictions"),
    ("assessment", "10. Assessment: reasons and articles applied"),
    ("not-known", "11. Information not known yet"),
)

# What each ENISA level means for the people concerned (ENISA 2013, severity levels).
_ENISA_MEANING: Final = {
    "low": "Few inconveniences, overcome without any problem (re-entering information, "
    "irritation).",
    "medium": "Significant inconveniences, overcome despite a few difficulties (extra costs, "
    "stress).",
    "high": "Significant consequences, overcome with serious difficulties (misappropriated "
    "funds, blacklisting, property damage).",
    "very_high": "Significant or irreversible consequences which may not be overcome (debt, "
    "long-term psychological or physical ailments).",
}

# Facts an authority expects (Art. 33(3)(a)-(d), EDPB template): a null here is "not known".
_EXPECTED: Final = (
    "controller.name",
    "controller.dpo_contact",
    "timeline.breach_start",
    "timeline.breach_end",
    "timeline.aware_at",
    "nature.cause",
    "nature.summary",
    "subjects.count",
    "records.count",
    "records.data_categories",
    "consequences.severity",
    "measures.taken_or_proposed",
    "communication_to_subjects.status",
    "cross_border.jurisdictions",
)


def authority_report(
    incident: Incident,
    log: Sequence[LogEntry],
    scope: Scope | Mapping[str, Any] | None = None,
    *,
    now_us: int | None = None,
) -> dict[str, Any]:
    """The report for the supervisory authority, as JSON-ready data (keys: module docstring).

    ``log`` is the incident's change log (:meth:`Incidents.log`); ``scope`` a computed
    :class:`Scope` or its ``to_dict()``, by default the last scope recorded in the log.
    ``now_us`` reads the 72-hour clock (default: now). Pure apart from that clock.
    """
    now = now_us if now_us is not None else _now_us()
    facts: dict[str, Any] = dict(incident.facts or {})
    assessment: dict[str, Any] = dict(incident.assessment or {})
    entries = [e for e in log if e.incident == incident.id]
    clock = Clock.of(incident, entries, now_us=now)
    authority = assessment.get("notify_authority") or {}
    subjects_duty = assessment.get("notify_subjects") or {}
    controller = facts.get("controller") or {}
    period = facts.get("period") or {}
    people = facts.get("subjects") or {}
    cause = facts.get("cause")
    clock_d = clock.to_dict()

    report: dict[str, Any] = {
        "format": FORMAT,
        "generated_at": iso(now),
        "notification": {
            "incident": incident.id,
            "title": incident.title,
            "state": incident.state.value,
            "next_phase": _next_phase(clock),
            "complete": False,  # set below, once not_known is known
            "authority_reference": next((p.reference for p in clock.phases if p.reference), None),
            "phases": clock_d["phases"],
        },
        "controller": {
            "name": controller.get("name"),
            "sector": controller.get("sector"),
            "dpo_contact": controller.get("dpo_contact"),
        },
        "timeline": {
            "breach_start": _time(period.get("start")),
            "breach_end": _time(period.get("end")),
            **_discovery(incident, entries),
            "aware_at": clock_d["aware_at"],
            "deadline": clock_d["deadline"],
            "notified_at": clock_d["initial_notification_at"],
            "status": clock_d["status"],
            "on_time": clock_d["on_time"],
            "late_by_seconds": clock_d["late_by_seconds"],
            "delay_reasons": clock_d["delay_reasons"],
            "summary": clock_d["summary"],
        },
        "nature": {
            "breach_types": facts.get("breach_types"),
            "cause": (
                {k: cause.get(k) for k in ("source", "intent", "kind")}
                if isinstance(cause, dict)
                else None
            ),
            "summary": facts.get("summary"),
            "exfiltration": facts.get("exfiltration"),
            "recipients": facts.get("recipients"),
            "integrity": facts.get("integrity"),
            "availability": facts.get("availability"),
            "encryption": facts.get("encryption"),
            "data_public_before": facts.get("data_public_before"),
        },
        "subjects": {
            "count": people.get("count"),
            "approximate": people.get("approximate"),
            "vulnerable": people.get("vulnerable"),
            "public_figures": people.get("public_figures"),
            "contactable": facts.get("subjects_contactable"),
        },
        "records": {
            "count": facts.get("records"),
            "data_categories": facts.get("data_categories"),
        },
        "scope": _scope_counts(scope, entries),
        "consequences": _consequences(assessment),
        "measures": {"taken_or_proposed": facts.get("mitigations") or None},
        "communication_to_subjects": _communication(facts, subjects_duty),
        "cross_border": {
            "assessed_under": assessment.get("jurisdiction"),
            "jurisdictions": facts.get("jurisdictions") or None,
            "notes": [
                a["statement"]
                for a in assessment.get("assumptions", [])
                if a.get("field") == "$.jurisdictions"
            ],
        },
        "clock": clock_d,
        "assessment": {
            "authority": {
                "required": authority.get("required"),
                "deadline": authority.get("deadline"),
                "late": authority.get("late"),
                "reasons": list(authority.get("reasons", [])),
                "articles": list(authority.get("articles", [])),
            },
            "subjects": {
                "required": subjects_duty.get("required"),
                "reasons": list(subjects_duty.get("reasons", [])),
                "articles": list(subjects_duty.get("articles", [])),
            },
            "assumptions": [
                {"field": a.get("field"), "statement": a.get("statement")}
                for a in assessment.get("assumptions", [])
            ],
        },
    }
    missing = [path for path in _EXPECTED if _at(report, path) is None]
    report["not_known"] = missing
    report["notification"]["complete"] = not missing
    return report


def render_authority_report_html(report: Mapping[str, Any]) -> str:
    """A printable, self-contained HTML page of :func:`authority_report`'s result.

    Every value is escaped (Jinja2 autoescape); the page has no script and loads nothing.
    """
    return (
        _environment()
        .get_template("report/authority-report.html.j2")
        .render(r=report, sections=dict(SECTIONS), not_known=NOT_KNOWN)
    )


def render_authority_report_text(report: Mapping[str, Any]) -> str:
    """A short plain-text summary of the report (what the CLI prints by default).

    A fact not known yet reads ``?``; the last line lists them all.
    """
    n, t = report["notification"], report["timeline"]
    sub, rec = report["subjects"], report["records"]
    risk, comm = report["consequences"], report["communication_to_subjects"]
    sev = risk["severity"]
    count = _number(sub["count"])
    if count is not None and sub["approximate"]:
        count = f"about {count}"
    lines = [
        f"{n['incident']}  {n['state']}  {n['title']}",
        f"  next notification: {n['next_phase'] or 'none (the final one was sent)'}"
        + ("" if n["complete"] else " (information incomplete)"),
        f"  72-hour clock: {t['summary']}",
        *(
            f"    {p['phase']} sent {p['sent_at']}"
            + (f" (reference {p['reference']})" if p["reference"] else "")
            for p in n["phases"]
        ),
        *([f"  reasons for the delay: {t['delay_reasons']}"] if t["delay_reasons"] else []),
        f"  controller: {_short(report['controller']['name'])}; "
        f"contact point: {_short(report['controller']['dpo_contact'])}",
        f"  breach: {_short(_join(report['nature']['breach_types']))}, "
        f"{_short(t['breach_start'])} – {_short(t['breach_end'])}; aware {_short(t['aware_at'])}",
        f"  data subjects: {_short(count)}; records: {_short(_number(rec['count']))}; "
        f"categories: {_short(_join(rec['data_categories']))}",
        f"  risk: {_short(risk['risk'])}; severity: "
        + (_short(None) if sev is None else f"{sev['level']} (SE = {sev['score']})"),
        f"  data subjects: {_short(comm['status'])}".replace("_", " "),
    ]
    if report["not_known"]:
        lines.append(f"  ? = {NOT_KNOWN}: {', '.join(report['not_known'])}")
    return "\n".join(lines) + "\n"


# -- building blocks -----------------------------------------------------------------------------
def _next_phase(clock: Clock) -> str | None:
    if clock.final is not None:
        return None
    return Phase.INITIAL.value if clock.initial is None else Phase.COMPLEMENTARY.value


def _discovery(incident: Incident, log: Sequence[LogEntry]) -> dict[str, Any]:
    """When and how the incident came to light (EDPB 3.1: "how it was discovered")."""
    opened = next((e for e in log if e.change == "opened"), None)
    alert = opened.details.get("alert") if opened is not None else None
    # Opened from an alert: the controller's own monitoring found it. Opened by hand, the
    # record does not say who found it (a data subject, a processor, the press…).
    return {
        "discovered_at": iso(incident.created_us),
        "discovered_by": "controller" if alert else None,
        "discovered_how": (
            f"a Sentinelle monitoring alert ({alert}) on access to customer data" if alert else None
        ),
    }


def _scope_counts(
    scope: Scope | Mapping[str, Any] | None, log: Sequence[LogEntry]
) -> dict[str, Any] | None:
    """Counts only: the merchants' and actors' ids and the subjects' stay out."""
    if isinstance(scope, Scope):
        data: Mapping[str, Any] | None = {
            **scope.to_dict(),
            "unjustified_only": scope.unjustified_only,
        }
    elif scope is not None:
        data = scope
    else:
        data = next((e.details.get("scope") for e in reversed(log) if e.change == "scope"), None)
    if not isinstance(data, Mapping):
        return None
    return {
        "merchants": data.get("merchants"),
        "subjects": data.get("subjects"),
        "records": data.get("records"),
        "categories": list(data.get("categories", [])),
        "actors": len(data.get("actors", [])),
        "unjustified_only": bool(data.get("unjustified_only", False)),
    }


def _consequences(assessment: Mapping[str, Any]) -> dict[str, Any]:
    sev = assessment.get("severity")
    authority = assessment.get("notify_authority")
    subjects = assessment.get("notify_subjects")
    risk: str | None = None
    if isinstance(authority, Mapping) and isinstance(subjects, Mapping):
        if subjects.get("required") or subjects.get("public_communication"):
            risk = "high"
        elif authority.get("required"):
            risk = "risk"
        else:
            risk = "unlikely"
    severity = (
        {k: sev.get(k) for k in ("level", "score", "dpc", "ei", "cb")}
        if isinstance(sev, Mapping)
        else None
    )
    return {
        "risk": risk,
        "severity": severity,
        "description": _ENISA_MEANING.get(str(severity["level"])) if severity else None,
    }


def _communication(facts: Mapping[str, Any], duty: Mapping[str, Any]) -> dict[str, Any]:
    """EDPB 4.4: were the data subjects informed, will they be, or why not."""
    notified = facts.get("notified") or {}
    at = _time(notified.get("subjects_at"))
    decided = bool(duty)
    status: str | None
    if at is not None:
        status = "informed"
    elif not decided:
        status = None
    elif duty.get("required"):
        status = "to_be_informed"
    elif duty.get("public_communication"):
        status = "public_communication"
    elif duty.get("exemption"):
        status = "not_informed_exempt"
    else:
        status = "not_informed_not_high_risk"
    return {
        "decided": decided,
        "required": duty.get("required"),
        "status": status,
        "at": at,
        "exemption": duty.get("exemption"),
        "public_communication": duty.get("public_communication"),
        "reasons": list(duty.get("reasons", [])),
        "articles": list(duty.get("articles", [])),
    }


def _time(value: Any) -> str | None:
    """RFC 3339 UTC of a recorded time (facts may carry another offset)."""
    if not isinstance(value, str):
        return None
    try:
        return iso(parse_time(value))
    except ValueError:
        return value


def _at(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for key in path.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _short(value: Any) -> str:
    return "?" if value is None else str(value)


def _join(values: Any) -> str | None:
    return ", ".join(str(v) for v in values) if values else None


def _number(value: Any) -> str | None:
    return f"{value:,}" if isinstance(value, int) else None


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sentinelle.notify", "templates"),
        autoescape=True,  # every value comes from people or the store: escape all of it
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["join_or_none"] = _join
    env.filters["number"] = _number
    return env
