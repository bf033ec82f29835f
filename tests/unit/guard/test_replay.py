"""``simulate --guard``'s replay follows tickets as the decision endpoint reads them from the
ledger: the staff member a ticket is opened for is its assignee, as when it is assigned later."""

from __future__ import annotations

import json

from sentinelle.guard.policy import parse_policy
from sentinelle.guard.replay import GuardReplay

POLICY = parse_policy(
    """
[teams.tier1]
actions = ["view"]
channels = ["support_console"]
categories = ["order_details"]
"""
)


def _access(event_id: str, actor: str) -> dict[str, object]:
    return {
        "id": event_id, "time": "2026-11-05T10:00:00Z",
        "actor": {"id": actor, "kind": "staff", "team": "tier1"}, "action": "view",
        "merchant": "m-1", "channel": "support_console", "data": ["order_details"],
        "outcome": "allowed", "justification": {"ticket": "T-1"},
    }  # fmt: skip


def test_a_ticket_opened_for_an_actor_is_assigned_to_them() -> None:
    opened = {
        "id": "c-1", "time": "2026-11-05T09:00:00Z", "type": "ticket.opened", "ticket": "T-1",
        "merchant": "m-1", "actor": "agent-1",
    }  # fmt: skip
    stream = [
        json.dumps(e).encode()
        for e in (opened, _access("a-1", "agent-1"), _access("a-2", "agent-2"))
    ]
    out = [json.loads(line) for line in GuardReplay(POLICY, break_glass_rate=0).lines(stream)]
    outcomes = {e["id"]: e.get("outcome") for e in out}
    assert outcomes["a-1"] == "allowed", out[1]
    assert outcomes["a-2"] == "denied"  # a colleague's ticket
