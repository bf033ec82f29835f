"""The report for the supervisory authority: an incident's facts and decisions laid out like
the authority's breach-notification form.

The layout follows the EDPB common personal data breach notification template (notification,
people, timeline, nature, data subjects, data, consequences, measures, communication to data
subjects, cross-border) and what the CNIL asks for in an initial or complementary notification
(``breach-law.md`` §4-4.1), covering GDPR Art. 33(3)(a)-(d) and the reasons for a delay
(Art. 33(1)). Nothing is invented: a fact not recorded yet is ``null`` in the JSON, its facts
key is listed in ``not_known`` or ``not_stated``, and the printed forms say :data:`NOT_KNOWN`
and name that key. No data subject is identified: people and records are counts only, and
neither the incident's actors nor the merchants are named.

:func:`authority_report` builds the JSON form; its keys are stable:

* ``format``: ``"sentinelle/authority-report/v1"``; ``generated_at``: RFC 3339 UTC.
* ``notification``: ``incident`` (our reference), ``title``, ``state``, ``next_phase``
  (``initial``, ``complementary``, or ``null`` after the final one), ``complete`` (assessed,
  and nothing Art. 33(3) asks for is in ``not_known``), ``authority_reference`` (the first
  reference the authority gave), and ``phases`` (each phase sent: ``phase``, ``sent_at``,
  ``reference``, ``note``, ``delay_reasons``, ``deadline``, ``late``, ``by``,
  ``recorded_at``).
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
* ``not_known``: the facts keys still missing among those Art. 33(3) and the EDPB template
  ask for, as dotted paths in the facts file (e.g. ``summary``, ``cause.intent``,
  ``controller.dpo_contact``): add exactly those keys to the facts and assess again.
* ``not_stated``: the facts keys of the other facts the report shows as ``null`` (e.g.
  ``recipients``, ``encryption.state``). :data:`FACTS_SHOWN` pairs each fact shown with its key.

:func:`render_authority_report_html` prints it as a self-contained page (print CSS, no
script, no external resource; Jinja2 with autoescape), :func:`render_authority_report_text`
as a short summary.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar

import jinja2
import msgspec
from markupsafe import Markup
from msgspec import UNSET, Struct, UnsetType

from sentinelle.assess import Assessment, Facts
from sentinelle.assess.facts import Controller, Period, Subjects
from sentinelle.config import Settings
from sentinelle.incidents import Clock, Incident, LogEntry, Phase, Scope
from sentinelle.timeutil import UTC_TIME, iso, parse_time, readable, to_us
from sentinelle.timeutil import now_us as _now_us

__all__ = [
    "FACTS_SHOWN",
    "FORMAT",
    "NOT_KNOWN",
    "SECTIONS",
    "authority_report",
    "configured_controller",
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

# Every fact the report shows, in the order shown: (where the report shows it, the facts key a
# DPO adds to the facts file to fill it in, whether Art. 33(3)(a)-(d) and the EDPB template ask
# for it). A ``null`` at the first is listed by the second, in ``not_known`` (asked for: the
# notification is incomplete) or ``not_stated``. Availability and encryption, shown as given,
# are named by their main member when left out; ``subjects.approximate`` only qualifies the
# count. Severity and the communication decision need an assessment, not a key: without one
# the report is incomplete. The tests check that every key is a path of :class:`Facts`.
FACTS_SHOWN: Final[tuple[tuple[str, str, bool], ...]] = (
    ("controller.name", "controller.name", True),
    ("controller.sector", "controller.sector", False),
    ("controller.dpo_contact", "controller.dpo_contact", True),
    ("timeline.breach_start", "period.start", True),
    ("timeline.breach_end", "period.end", True),
    ("timeline.aware_at", "aware_at", True),
    ("nature.breach_types", "breach_types", True),
    ("nature.cause.source", "cause.source", True),
    ("nature.cause.intent", "cause.intent", True),
    ("nature.cause.kind", "cause.kind", True),
    ("nature.summary", "summary", True),
    ("nature.exfiltration", "exfiltration", False),
    ("nature.recipients", "recipients", False),
    ("nature.integrity", "integrity", False),
    ("nature.availability", "availability.impact_on_subjects", False),
    ("nature.encryption", "encryption.state", False),
    ("nature.data_public_before", "data_public_before", False),
    ("subjects.count", "subjects.count", True),
    ("subjects.vulnerable", "subjects.vulnerable", False),
    ("subjects.public_figures", "subjects.public_figures", False),
    ("subjects.contactable", "subjects_contactable", False),
    ("records.count", "records", True),
    ("records.data_categories", "data_categories", True),
    ("measures.taken_or_proposed", "mitigations", True),
    ("cross_border.jurisdictions", "jurisdictions", True),
)

_T = TypeVar("_T")


def configured_controller(settings: Settings) -> Controller:
    """The controller as the deployment's settings know it: ``SENTINELLE_SHOP_NAME`` and
    ``SENTINELLE_DPO_CONTACT`` (the name and contact point its notices are signed with)."""
    return Controller(name=settings.shop_name or UNSET, dpo_contact=settings.dpo_contact or UNSET)


def _first(*values: str | UnsetType) -> str | UnsetType:
    """The first value set (and not blank), else unset."""
    return next((v for v in values if isinstance(v, str) and v.strip()), UNSET)


def authority_report(
    incident: Incident,
    log: Sequence[LogEntry],
    scope: Scope | Mapping[str, Any] | None = None,
    *,
    now_us: int | None = None,
    controller: Controller | None = None,
) -> dict[str, Any]:
    """The report for the supervisory authority, as JSON-ready data (keys: module docstring).

    ``log`` is the incident's change log (:meth:`Incidents.log`); ``scope`` a computed
    :class:`Scope` or its ``to_dict()``, by default the last scope recorded in the log.
    ``now_us`` reads the 72-hour clock (default: now). ``controller`` fills in what the facts
    leave out of the controller (the settings' shop name and DPO contact). Pure apart from
    that clock.
    """
    now = now_us if now_us is not None else _now_us()
    facts, assessment = incident.facts, incident.assessment
    entries = [e for e in log if e.incident == incident.id]
    clock = Clock.of(incident, entries, now_us=now)
    # A part left out of the facts (or no facts at all) reads as an empty one: None below.
    stated = (_known(facts.controller) if facts else None) or Controller()
    # What the facts leave out of the controller, the deployment's settings say (the shop's
    # name and DPO contact, which its notices are signed with): ``controller``.
    given = controller or Controller()
    controller = Controller(
        name=_first(stated.name, given.name),
        sector=_first(stated.sector, given.sector),
        dpo_contact=_first(stated.dpo_contact, given.dpo_contact),
    )
    period = (_known(facts.period) if facts else None) or Period()
    people = (_known(facts.subjects) if facts else None) or Subjects()
    cause = _known(facts.cause) if facts else None  # shown as null when left out entirely
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
            "name": _known(controller.name),
            "sector": _known(controller.sector),
            "dpo_contact": _known(controller.dpo_contact),
        },
        "timeline": {
            "breach_start": _time(period.start),
            "breach_end": _time(period.end),
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
            "breach_types": list(facts.breach_types) if facts else None,
            "cause": (
                {
                    "source": _known(cause.source),
                    "intent": _known(cause.intent),
                    "kind": _known(cause.kind),
                }
                if cause is not None
                else None
            ),
            "summary": _known(facts.summary) if facts else None,
            "exfiltration": _known(facts.exfiltration) if facts else None,
            "recipients": _known(facts.recipients) if facts else None,
            "integrity": _known(facts.integrity) if facts else None,
            "availability": _record(facts.availability) if facts else None,
            "encryption": _record(facts.encryption) if facts else None,
            "data_public_before": _known(facts.data_public_before) if facts else None,
        },
        "subjects": {
            "count": _known(people.count),
            "approximate": _known(people.approximate),
            "vulnerable": _known(people.vulnerable),
            "public_figures": _known(people.public_figures),
            "contactable": _known(facts.subjects_contactable) if facts else None,
        },
        "records": {
            "count": _known(facts.records) if facts else None,
            "data_categories": list(facts.data_categories) if facts else None,
        },
        "scope": _scope_counts(scope, entries),
        "consequences": _consequences(assessment),
        "measures": {"taken_or_proposed": _listed(facts.mitigations) if facts else None},
        "communication_to_subjects": _communication(facts, assessment),
        "cross_border": {
            "assessed_under": assessment.jurisdiction if assessment else None,
            "jurisdictions": _listed(facts.jurisdictions) if facts else None,
            "notes": [
                a.statement
                for a in (assessment.assumptions if assessment else ())
                if a.field == "$.jurisdictions"
            ],
        },
        "clock": clock_d,
        "assessment": _decisions(assessment),
    }
    missing = [(key, asked) for where, key, asked in FACTS_SHOWN if _at(report, where) is None]
    report["not_known"] = [key for key, asked in missing if asked]
    report["not_stated"] = [key for key, asked in missing if not asked]
    # Severity and the communication decision are unknown only while nothing is assessed.
    report["notification"]["complete"] = assessment is not None and not report["not_known"]
    return report


def render_authority_report_html(report: Mapping[str, Any]) -> str:
    """A printable, self-contained HTML page of :func:`authority_report`'s result.

    Every value is escaped (Jinja2 autoescape); the page has no script and loads nothing.
    """
    return (
        _environment()
        .get_template("report/authority-report.html.j2")
        .render(r=report, sections=dict(SECTIONS), not_known=NOT_KNOWN, facts_keys=_facts_keys)
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


def _consequences(assessment: Assessment | None) -> dict[str, Any]:
    if assessment is None:
        return {"risk": None, "severity": None, "description": None}
    subjects, sev = assessment.notify_subjects, assessment.severity
    if subjects.required or subjects.public_communication:
        risk = "high"
    elif assessment.notify_authority.required:
        risk = "risk"
    else:
        risk = "unlikely"
    return {
        "risk": risk,
        "severity": {
            "level": sev.level,
            "score": sev.score,
            "dpc": sev.dpc,
            "ei": sev.ei,
            "cb": sev.cb,
        },
        "description": _ENISA_MEANING.get(sev.level),
    }


def _communication(facts: Facts | None, assessment: Assessment | None) -> dict[str, Any]:
    """EDPB 4.4: were the data subjects informed, will they be, or why not."""
    notified = _known(facts.notified) if facts else None
    at = _time(notified.subjects_at) if notified is not None else None
    duty = assessment.notify_subjects if assessment else None
    status: str | None
    if at is not None:
        status = "informed"
    elif duty is None:
        status = None
    elif duty.required:
        status = "to_be_informed"
    elif duty.public_communication:
        status = "public_communication"
    elif duty.exemption:
        status = "not_informed_exempt"
    else:
        status = "not_informed_not_high_risk"
    return {
        "decided": duty is not None,
        "required": duty.required if duty else None,
        "status": status,
        "at": at,
        "exemption": duty.exemption if duty else None,
        "public_communication": duty.public_communication if duty else None,
        "reasons": list(duty.reasons) if duty else [],
        "articles": list(duty.articles) if duty else [],
    }


def _decisions(assessment: Assessment | None) -> dict[str, Any]:
    """The duties decided, their reasons and articles, and the assumptions made."""
    authority = assessment.notify_authority if assessment else None
    subjects = assessment.notify_subjects if assessment else None
    return {
        "authority": {
            "required": authority.required if authority else None,
            "deadline": _time(authority.deadline) if authority else None,
            "late": authority.late if authority else None,
            "reasons": list(authority.reasons) if authority else [],
            "articles": list(authority.articles) if authority else [],
        },
        "subjects": {
            "required": subjects.required if subjects else None,
            "reasons": list(subjects.reasons) if subjects else [],
            "articles": list(subjects.articles) if subjects else [],
        },
        "assumptions": [
            {"field": a.field, "statement": a.statement}
            for a in (assessment.assumptions if assessment else ())
        ],
    }


def _known(value: _T | UnsetType) -> _T | None:
    """A fact as recorded, ``None`` when the facts leave it out."""
    return None if isinstance(value, UnsetType) else value


def _listed(values: list[str] | UnsetType) -> list[str] | None:
    """A list fact, ``None`` when left out or empty."""
    return list(values) if not isinstance(values, UnsetType) and values else None


def _record(value: Struct | UnsetType) -> dict[str, Any] | None:
    """A part of the facts as its JSON object (the members given), ``None`` when left out."""
    if isinstance(value, UnsetType):
        return None
    out: dict[str, Any] = msgspec.to_builtins(value)
    return out


def _time(value: dt.datetime | UnsetType | None) -> str | None:
    """RFC 3339 UTC of a recorded time (facts may carry another offset)."""
    return iso(to_us(value)) if isinstance(value, dt.datetime) else None


def _facts_keys(where: str) -> list[str]:
    """The facts keys that fill in what the report shows at ``where`` (and below it)."""
    return [key for at, key, _ in FACTS_SHOWN if at == where or at.startswith(f"{where}.")]


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
    # The facts' floats (restored_within_hours) read 4 when whole, as they were typed.
    if isinstance(value, float):
        return f"{int(value):,}" if value.is_integer() else f"{value:,}"
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
    env.filters["when"] = _when
    return env


def _when(value: Any) -> Any:
    """Each RFC 3339 UTC time in a text as people read it (``2026-12-06 20:59 UTC``, the exact
    time in a ``<time>`` element; the rest escaped); any other value as it is."""
    if not isinstance(value, str) or not UTC_TIME.search(value):
        return value
    out, done = Markup(), 0
    for found in UTC_TIME.finditer(value):
        try:
            shown = readable(parse_time(found[0]))
        except ValueError:  # out of the range people give: left as it is
            continue
        out += value[done : found.start()]  # a Markup escapes what is added to it
        out += Markup('<time datetime="{0}" title="{0}">{1}</time>').format(found[0], shown)
        done = found.end()
    return out + value[done:]
