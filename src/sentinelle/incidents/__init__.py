"""Incidents: records with a checked lifecycle and a change log, their scope computed from
the stored events, and the breach register (GDPR Art. 33(5)).

Start with :class:`Incidents` (open, advance, record facts and assessments),
:func:`compute_scope` and :func:`register`.
"""

from __future__ import annotations

from sentinelle.incidents.facts import facts_from_scope
from sentinelle.incidents.model import (
    Incident,
    IncidentInputError,
    LogEntry,
    State,
    TransitionError,
)
from sentinelle.incidents.records import ALERT_LOOKBACK_DAYS, Incidents
from sentinelle.incidents.register import CSV_COLUMNS, register, register_csv
from sentinelle.incidents.scope import MerchantScope, Scope, compute_scope

__all__ = [
    "ALERT_LOOKBACK_DAYS",
    "CSV_COLUMNS",
    "Incident",
    "IncidentInputError",
    "Incidents",
    "LogEntry",
    "MerchantScope",
    "Scope",
    "State",
    "TransitionError",
    "compute_scope",
    "facts_from_scope",
    "register",
    "register_csv",
]
