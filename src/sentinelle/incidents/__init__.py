"""Incidents: records with a checked lifecycle and a change log, their scope computed from
the stored events, and the breach register (GDPR Art. 33(5)).

Start with :class:`Incidents` (read, open, advance, record the phases notified to the
authority, with their 72-hour :class:`Clock`), :func:`compute_scope` and :func:`register`.
The workflow that strings them together (assess, notices) is :mod:`sentinelle.response`.
"""

from __future__ import annotations

from sentinelle.incidents.facts import facts_from_scope
from sentinelle.incidents.model import (
    AUTHORITY_DEADLINE,
    DEFAULT_SCOPE_BASIS,
    AuthorityNotification,
    Change,
    Clock,
    ClockStatus,
    Incident,
    IncidentInputError,
    LogEntry,
    Phase,
    ScopeBasis,
    State,
    TransitionError,
    check_notification,
    nothing_to_notify,
)
from sentinelle.incidents.records import ALERT_LOOKBACK_DAYS, Incidents
from sentinelle.incidents.register import CSV_COLUMNS, register, register_csv
from sentinelle.incidents.scope import MerchantScope, Scope, compute_scope

__all__ = [
    "ALERT_LOOKBACK_DAYS",
    "AUTHORITY_DEADLINE",
    "CSV_COLUMNS",
    "DEFAULT_SCOPE_BASIS",
    "AuthorityNotification",
    "Change",
    "Clock",
    "ClockStatus",
    "Incident",
    "IncidentInputError",
    "Incidents",
    "LogEntry",
    "MerchantScope",
    "Phase",
    "Scope",
    "ScopeBasis",
    "State",
    "TransitionError",
    "check_notification",
    "nothing_to_notify",
    "compute_scope",
    "facts_from_scope",
    "register",
    "register_csv",
]
