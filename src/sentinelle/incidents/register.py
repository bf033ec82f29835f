"""The breach register (GDPR Art. 33(5)): every incident with its facts, its effects, the
decisions taken and the reasoning behind them, as JSON or CSV.

"The controller shall document any personal data breaches, comprising the facts relating to
the personal data breach, its effects and the remedial action taken." Each entry holds the
incident's record (facts and assessment as last recorded) and its full change log: every
decision with who took it, when and why.

Each entry also carries ``authority_clock`` (:meth:`Clock.to_dict`): the 72-hour clock of
Art. 33(1), whether the initial notification was on time or late and why, and every phase
sent to the supervisory authority (Art. 33(4)).

The JSON form (:func:`register`) is the complete register. The CSV form
(:func:`register_csv`) is for spreadsheets: one row per incident, the decisions as one short
line each instead of their full details, and summary columns (:data:`CSV_COLUMNS`). Every
cell fits a spreadsheet cell (:data:`CELL_MAX`; longer text is cut with
:data:`TRUNCATED`) and no cell can start a formula.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any, Final

from sentinelle.incidents.model import Clock, LogEntry
from sentinelle.incidents.records import Incidents
from sentinelle.timeutil import now_us as _now_us

__all__ = ["CELL_MAX", "CSV_COLUMNS", "TRUNCATED", "csv_cell", "register", "register_csv"]

CSV_COLUMNS: Final = (
    "id",
    "title",
    "state",
    "actors",
    "from",
    "to",
    "created",
    "created_by",
    "facts",
    "assessment",
    # One line per decision (when, who, what, why); the full details are in the JSON form.
    "decisions",
    # Added with the notification phases; after the original columns so readers by position
    # keep working.
    "authority_deadline",
    "authority_status",
    "authority_initial_at",
    "authority_on_time",
    "authority_late_by_seconds",
    "authority_delay_reasons",
    "authority_phases",
    # Summary columns, added when the decisions became one line each.
    "decisions_count",
    "last_decision_at",
    "last_decision_by",
    "last_decision",
    "severity",
    "severity_score",
    "notify_authority_required",
    "notify_subjects_required",
    "notify_subjects_exemption",
    "authority_time_left_seconds",
    "authority_clock",
)

CELL_MAX: Final = 32_767
"""Most characters a spreadsheet cell holds (Excel's limit, counted in UTF-16 code units as
Excel counts them); no CSV cell is longer."""

TRUNCATED: Final = "… (truncated, see --json)"
"""Ends a cell whose text was cut to :data:`CELL_MAX`."""

_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may read as the start of a formula (OWASP, CSV injection)."""


def register(incidents: Incidents, *, now_us: int | None = None) -> list[dict[str, Any]]:
    """One entry per incident, oldest first: the record plus ``decisions`` (its change log)
    and ``authority_clock`` (the 72-hour clock as of ``now_us``, default now)."""
    now = now_us if now_us is not None else _now_us()
    log: dict[str, list[LogEntry]] = {}
    for entry in incidents.log():
        log.setdefault(entry.incident, []).append(entry)
    return [
        {
            **i.to_dict(),
            "decisions": [e.to_dict() for e in log.get(i.id, [])],
            "authority_clock": Clock.of(i, log.get(i.id, []), now_us=now).to_dict(),
        }
        for i in incidents.all()
    ]


def register_csv(incidents: Incidents, *, now_us: int | None = None) -> str:
    """The register as CSV (RFC 4180) for spreadsheets: one row per incident.

    Actors are joined by ``;``; facts and assessment are JSON text; ``decisions`` holds one
    line per decision (``at by change: reason``, with the states moved between, the phase
    sent or the scope's counts), the full details staying in :func:`register`. Then the
    72-hour clock: deadline, status, when the initial notification was sent, ``true``/
    ``false`` for on time (empty until sent), how late in seconds (also while overdue), the
    reasons for the delay and the phases as JSON text. Then the summary: how many decisions,
    the last one (when, who, what), the assessment's ENISA level and score, whether the
    authority and the people must be notified and the Art. 34(3) exemption, the seconds left
    on the clock and the clock in one sentence.

    Each cell passes through :func:`csv_cell`: at most :data:`CELL_MAX` characters, and none
    starts a formula.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in register(incidents, now_us=now_us):
        clock = entry["authority_clock"]
        decisions = entry["decisions"]
        last = decisions[-1] if decisions else None
        assessment = entry["assessment"] if isinstance(entry["assessment"], dict) else {}
        severity = _dict(assessment.get("severity"))
        authority = _dict(assessment.get("notify_authority"))
        subjects = _dict(assessment.get("notify_subjects"))
        row = [
            entry["id"],
            entry["title"],
            entry["state"],
            ";".join(entry["actors"]),
            entry["window"]["from"],
            entry["window"]["to"],
            entry["created"],
            entry["created_by"],
            _json(entry["facts"]),
            _json(entry["assessment"]),
            "\n".join(decision_line(d) for d in decisions),
            clock["deadline"],
            clock["status"],
            clock["initial_notification_at"],
            clock["on_time"],
            clock["late_by_seconds"],
            clock["delay_reasons"],
            _json(clock["phases"]),
            len(decisions),
            last["at"] if last else None,
            last["by"] if last else None,
            decision_line(last, when=False) if last else None,
            severity.get("level"),
            severity.get("score"),
            authority.get("required"),
            subjects.get("required"),
            subjects.get("exemption"),
            clock.get("time_left_seconds"),
            clock.get("summary"),
        ]
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


def csv_cell(value: Any) -> str:
    """``value`` as a safe spreadsheet cell: ``None`` empty, booleans ``true``/``false``,
    numbers and text as text; text a spreadsheet would run as a formula (starting with
    ``= + - @``, a tab or a carriage return) gets a leading apostrophe, and text longer than
    :data:`CELL_MAX` is cut, ending with :data:`TRUNCATED`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.startswith(_FORMULA_START):
        text = "'" + text
    if len(text) * 2 <= CELL_MAX or _utf16_len(text) <= CELL_MAX:
        return text
    keep = (CELL_MAX - len(TRUNCATED)) * 2  # the marker is in the BMP: one unit a character
    # Cut in UTF-16 so a character outside the BMP counts twice, as in Excel; "ignore" drops
    # half of a surrogate pair cut in two.
    head = text.encode("utf-16-le")[:keep].decode("utf-16-le", errors="ignore")
    return head + TRUNCATED


def decision_line(decision: dict[str, Any], *, when: bool = True) -> str:
    """One decision of the log (:meth:`LogEntry.to_dict`) as a line: when and who (unless
    ``when`` is false), the change, what it moved or sent, and the reason given."""
    details = _dict(decision.get("details"))
    text = str(decision.get("change", ""))
    for key, label in (("alert", "from alert"), ("audience", "to")):
        if isinstance(details.get(key), str):
            text += f" {label} {details[key]}"
    if isinstance(details.get("from"), str) and isinstance(details.get("to"), str):
        text += f" {details['from']} → {details['to']}"
    if isinstance(details.get("phase"), str):
        text += f" {details['phase']}"
        if isinstance(details.get("sent_at"), str):
            text += f" sent {details['sent_at']}"
        if isinstance(details.get("reference"), str):
            text += f" (reference {details['reference']})"
    scope = _dict(details.get("scope"))
    counts = _counts(scope, ("merchants", "subjects", "records"))
    if counts:
        text += f" {counts}"
    reason = details.get("reason")
    if isinstance(reason, str) and reason.strip():
        text += f": {' '.join(reason.split())}"
    if when:
        text = f"{decision.get('at', '')} {decision.get('by', '')} {text}"
    return text


def _counts(scope: dict[str, Any], names: Iterable[str]) -> str:
    parts = []
    for name in names:
        value = scope.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            parts.append(f"{value:,} {name}")
        elif isinstance(value, list):  # e.g. a scope's merchants as a list
            parts.append(f"{len(value):,} {name}")
    return ", ".join(parts)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)
