"""What the grants' tests share: the guard policy (team ``tier1``; merchant ``m-2`` asks for
the merchant's approval and staff's), and the grant and access of the staff-identity tests
(agent-7 at m-2)."""

from __future__ import annotations

from typing import Any, Final

#: The guard policy of the grants' tests. It ends in ``[merchants.m-2]``: a test may add keys
#: to that table, or tables of its own, after it.
POLICY: Final = """
[teams.tier1]
actions = ["view", "export"]
channels = ["support_console", "export"]
categories = ["contact", "address"]

[merchants.m-2]
approvers = ["merchant", "staff"]
"""

#: The request (``POST /v1/grants``) of agent-7's export of 40 of m-2's customers.
ASK_AGENT_7: Final = {"actor": "agent-7", "merchant": "m-2", "actions": ["export"],
                      "data": ["contact"], "max_records": 40, "reason": "recall"}  # fmt: skip


def access_citing(grant: str, time: str) -> dict[str, Any]:
    """agent-7's export (support, team tier1, from PT) of 40 of m-2's customers at ``time``
    (RFC 3339), citing ``grant``: event ``acc-1``."""
    return {
        "id": "acc-1",
        "time": time,
        "actor": {"id": "agent-7", "kind": "staff", "role": "support", "team": "tier1"},
        "action": "export",
        "merchant": "m-2",
        "resource": {"type": "customer", "count": 40},
        "data": ["contact"],
        "channel": "export",
        "outcome": "allowed",
        "source": {"country": "PT", "ip": "10.0.0.9"},
        "justification": {"grant": grant, "reason": "recall"},
    }
