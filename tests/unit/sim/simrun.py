"""Helpers for the simulator tests: the size of the shared small run and its indexes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SMALL: dict[str, Any] = {"merchants": 150, "agents": 30, "days": 30, "seed": 11}


@dataclass
class Run:
    """The lines, decoded events and ground truth of one simulation, with indexes."""

    lines: list[bytes]
    events: list[dict[str, Any]]
    truth: dict[str, Any]
    malicious: dict[str, str] = field(default_factory=dict)  # event id → scenario name
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → facts

    def __post_init__(self) -> None:
        for scenario in self.truth["scenarios"]:
            for event_id in scenario["events"]:
                self.malicious[event_id] = scenario["name"]
        for event in self.events:
            kind = event.get("type", "")
            if not kind.startswith("ticket."):
                continue
            facts = self.tickets.setdefault(event["ticket"], {"assignees": []})
            if kind == "ticket.opened":
                facts.update(merchant=event["merchant"], opened=event["time"], by=event["by"])
            elif kind == "ticket.assigned":
                facts["assignees"].append((event["actor"], event["by"], event["time"]))
            else:
                facts["closed"] = event["time"]

    def scenario(self, name: str) -> dict[str, Any]:
        """The truth entry of scenario ``name``."""
        return next(s for s in self.truth["scenarios"] if s["name"] == name)

    def access(self) -> list[dict[str, Any]]:
        """The access events."""
        return [e for e in self.events if "action" in e]

    def by_actor(self, actor: str) -> list[dict[str, Any]]:
        """The access events of ``actor``."""
        return [e for e in self.events if "action" in e and e["actor"]["id"] == actor]
