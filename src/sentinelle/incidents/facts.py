"""Incident facts pre-filled from a scope, for the assessment.

What the ledger establishes — data categories, how many people and records, the period, and,
for an incident about staff actors, an internal cause — is filled in from the scope; what
only people know (when the DPO became aware, encryption, recipients, mitigations…) comes from
a facts file, whose values win. Missing facts are left out: the assessment states the
assumption it made and which answer would change its decision. Nothing is invented: a scope
with no access gives no data category, and the facts must then state one (or there is no
personal data breach to assess).
"""

from __future__ import annotations

from typing import Any

from sentinelle.incidents.model import Incident
from sentinelle.incidents.scope import Scope
from sentinelle.timeutil import iso

__all__ = ["facts_from_scope"]


def facts_from_scope(
    incident: Incident,
    scope: Scope,
    *,
    aware_us: int,
    insider_alerts: bool = False,
    given: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Facts (``incident-facts.schema.json``) from the scope, overridden by ``given``.

    With ``insider_alerts`` (the actors raised medium-or-higher alerts in the window), the cause
    is recorded as malicious insider abuse; a facts file can say otherwise.
    """
    facts: dict[str, Any] = {
        "title": incident.title,
        "aware_at": iso(aware_us),
        "breach_types": ["confidentiality"],
        "subjects": {"count": len(scope.subject_ids), "approximate": False},
        "records": scope.records,
    }
    if scope.categories:  # an empty scope names none: the facts must (nothing is invented)
        facts["data_categories"] = list(scope.categories)
    if scope.per_merchant:
        facts["period"] = {
            "start": iso(min(m.first_us for m in scope.per_merchant.values())),
            "end": iso(max(m.last_us for m in scope.per_merchant.values())),
        }
    if incident.actors:
        # People with legitimate access: an internal cause. Alerts on them make it abuse; the
        # DPO can still say otherwise in the facts file.
        facts["cause"] = {"source": "internal", "kind": "insider_abuse"}
        if insider_alerts:
            facts["cause"]["intent"] = "malicious"
    for key, value in (given or {}).items():
        if isinstance(value, dict) and isinstance(facts.get(key), dict):
            facts[key] = {**facts[key], **value}
        else:
            facts[key] = value
    return facts
