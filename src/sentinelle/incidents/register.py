"""The breach register (GDPR Art. 33(5)): every incident with its facts, its effects, the
decisions taken and the reasoning behind them, as JSON or CSV.

"The controller shall document any personal data breaches, comprising the facts relating to
the personal data breach, its effects and the remedial action taken." Each entry holds the
incident's record (facts and assessment as last recorded) and its full change log: every
decision with who took it, when and why.

Each entry also carries ``authority_clock`` (:meth:`Clock.to_dict`): the 72-hour clock of
Art. 33(1), whether the initial notification was on time or late and why, and every phase
sent to the supervisory authority (Art. 33(4)). The CSV keeps its first columns as they were
and adds the clock's at the end (:data:`CSV_COLUMNS`).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Final

from sentinelle.incidents.model import Clock, LogEntry
from sentinelle.incidents.records import Incidents
from sentinelle.store.base import now_us as _now_us

__all__ = ["CSV_COLUMNS", "register", "register_csv"]

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
)


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
    """The register as CSV (RFC 4180): one row per incident; actors joined by ``;``, and
    facts, assessment and decisions as JSON text so nothing is lost.

    The last columns are the 72-hour clock: deadline, status, when the initial notification
    was sent, ``true``/``false`` for on time (empty until sent), how late in seconds (also
    while overdue), the reasons for the delay, and the phases as JSON text.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in register(incidents, now_us=now_us):
        clock = entry["authority_clock"]
        on_time = clock["on_time"]
        late_by = clock["late_by_seconds"]
        writer.writerow(
            [
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
                _json(entry["decisions"]),
                clock["deadline"] or "",
                clock["status"],
                clock["initial_notification_at"] or "",
                "" if on_time is None else str(on_time).lower(),
                "" if late_by is None else str(late_by),
                clock["delay_reasons"] or "",
                _json(clock["phases"]),
            ]
        )
    return out.getvalue()


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True)
