"""A small incident world shared by the engine and API tests: Ana reads two merchants'
customers, m-1 under a ticket assigned to her, m-2 without (so the scope has 6 data subjects
on every access, 4 on unjustified ones)."""

from __future__ import annotations

from typing import Any

FROM, TO = "2026-11-02T00:00:00Z", "2026-11-06T00:00:00Z"
ALL_SUBJECTS = 6  # c-0-*, c-1-*, c-2-*
UNJUSTIFIED_SUBJECTS = 4  # the m-2 accesses had no ticket


def incident_events() -> list[dict[str, Any]]:
    """The ticket's context events and Ana's three accesses."""
    events: list[dict[str, Any]] = [
        {
            "id": "t-1",
            "time": "2026-11-01T09:00:00Z",
            "type": "ticket.opened",
            "ticket": "T-1",
            "merchant": "m-1",
            "by": "cust",
        },
        {
            "id": "t-2",
            "time": "2026-11-01T09:05:00Z",
            "type": "ticket.assigned",
            "ticket": "T-1",
            "merchant": "m-1",
            "actor": "ana",
        },
    ]
    for i, (merchant, ticket) in enumerate([("m-1", "T-1"), ("m-2", None), ("m-2", None)]):
        event: dict[str, Any] = {
            "id": f"a-{i}",
            "time": f"2026-11-03T10:0{i}:00Z",
            "actor": {"id": "ana", "kind": "staff", "role": "support", "team": "tier1"},
            "action": "view",
            "merchant": merchant,
            "resource": {"type": "customer", "count": 2},
            "subjects": [f"c-{i}-a", f"c-{i}-b"],
            "data": ["contact", "address"],
            "channel": "support_console",
            "outcome": "allowed",
        }
        if ticket:
            event["justification"] = {"ticket": ticket, "reason": "customer_request"}
        events.append(event)
    return events
