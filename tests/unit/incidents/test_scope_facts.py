"""Facts pre-filled from a scope: only what the ledger shows, nothing invented."""

from __future__ import annotations

from sentinelle.incidents import Incident, MerchantScope, Scope, State, facts_from_scope
from sentinelle.timeutil import parse_time

AWARE = parse_time("2026-11-20T09:00:00Z")
INCIDENT = Incident(
    id="inc-1",
    title="a false lead",
    state=State.OPEN,
    actors=("nobody-real",),
    from_us=parse_time("2026-11-01T00:00:00Z"),
    to_us=parse_time("2026-11-20T00:00:00Z"),
    created_us=AWARE,
    created_by="dpo",
)


def _scope(**merchants: MerchantScope) -> Scope:
    return Scope(
        incident=INCIDENT.id,
        actors=INCIDENT.actors,
        from_us=INCIDENT.from_us,
        to_us=INCIDENT.to_us,
        unjustified_only=True,
        per_merchant=dict(merchants),
    )


def test_an_empty_scope_claims_no_data_category() -> None:
    # Nothing invented: no category is known, so the facts name none (the contract wants one:
    # the people must state it, or there is no personal data breach to assess).
    facts = facts_from_scope(INCIDENT, _scope(), aware_us=AWARE)
    assert "data_categories" not in facts
    assert (facts["subjects"], facts["records"]) == ({"count": 0, "approximate": False}, 0)
    assert "period" not in facts


def test_the_categories_are_the_scopes() -> None:
    m = MerchantScope(merchant="m-1")
    m.categories.update({"order_details", "contact"})
    facts = facts_from_scope(INCIDENT, _scope(**{"m-1": m}), aware_us=AWARE)
    assert facts["data_categories"] == ["contact", "order_details"]
