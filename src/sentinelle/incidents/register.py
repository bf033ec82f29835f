"""The breach register (GDPR Art. 33(5)): every incident with its facts, its effects, the
decisions taken and the reasoning behind them, as JSON or CSV.

"The controller shall document any personal data breaches, comprising the facts relating to
the personal data breach, its effects and the remedial action taken." Each entry holds the
incident's record (facts and assessment as last recorded) and its full change log: every
decision with who took it, when and why.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Final

from sentinelle.incidents.records import Incidents

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
)


def register(incidents: Incidents) -> list[dict[str, Any]]:
    """One entry per incident, oldest first: the record plus ``decisions`` (its change log)."""
    log: dict[str, list[dict[str, Any]]] = {}
    for entry in incidents.log():
        log.setdefault(entry.incident, []).append(entry.to_dict())
    return [{**i.to_dict(), "decisions": log.get(i.id, [])} for i in incidents.all()]


def register_csv(incidents: Incidents) -> str:
    """The register as CSV (RFC 4180): one row per incident; actors joined by ``;``, and
    facts, assessment and decisions as JSON text so nothing is lost."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in register(incidents):
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
            ]
        )
    return out.getvalue()


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True)
