"""The grant workflow on both stores: every change is a ``grant.*`` event in the ledger
before the row changes; nobody answers their own grant; only the approvals the policy asks
for; unanswered requests and spent grants expire once; ``revoke_all`` revokes every live grant
of an actor (the automatic response calls it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sentinelle.access import Principal, Role
from sentinelle.config import Settings
from sentinelle.guard import grants
from sentinelle.guard.grants import Actor, GrantAsk
from sentinelle.guard.policy import Policy, parse_policy
from sentinelle.ledger.log import Ledger
from sentinelle.store import Store, open_store
from sentinelle.timeutil import parse_time

NOW = parse_time("2026-11-05T10:00:00Z")
POLICY = """
[teams.tier1]
actions = ["view", "export"]
channels = ["support_console", "export"]
categories = ["contact", "address"]

[merchants.m-2]
approvers = ["merchant", "staff"]
grant_hours = 2
"""
SHOP1 = Actor.of(Principal("key", "shop1", Role.MERCHANT, "m-1"))
SHOP2 = Actor.of(Principal("key", "shop2", Role.MERCHANT, "m-2"))
RESPONDER = Actor.of(Principal("user", "rita@sentinelle.example", Role.RESPONDER))


@dataclass
class World:
    store: Store
    ledger: Ledger
    policy: Policy

    def ask(self, actor: str = "agent-1", merchant: str = "m-1", by: str = "key:console",
            at: int = NOW) -> str:  # fmt: skip
        ask = GrantAsk(actor, merchant, ("export",), ("contact",), "recall list", 200)
        return grants.request(self.store, self.ledger, self.policy, ask, by=by, now_us=at).id

    def event(self, event_id: str) -> dict[str, Any] | None:
        found = self.store.event_by_id(event_id)
        return None if found is None else dict(json.loads(found[1]))


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    store = open_store(settings)
    try:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin="test/log")
        yield World(store, ledger, parse_policy(POLICY))
    finally:
        store.close()


def test_revoke_all_revokes_every_live_grant_of_the_actor_once(world: World) -> None:
    approved = world.ask()
    grants.approve(world.store, world.ledger, world.policy, "m-1", approved, SHOP1, now_us=NOW)
    requested = world.ask(merchant="m-2")
    other = world.ask(actor="agent-2")
    denied = world.ask()
    grants.deny(world.store, world.ledger, world.policy, "m-1", denied, SHOP1,
                reason="no", now_us=NOW)  # fmt: skip
    size = world.store.ledger_size()
    revoked = grants.revoke_all(
        world.store, world.ledger, "agent-1", by="response", reason="alert a-1", now_us=NOW + 1
    )
    assert sorted(revoked) == sorted([approved, requested])
    assert world.store.ledger_size() == size + 2
    for grant_id in revoked:
        row = world.store.grant(grant_id)
        assert row is not None and row.state == "revoked"
        event = world.event(f"{grant_id}-revoked")
        assert event is not None
        assert event["type"] == "grant.revoked" and event["by"] == "response"
        assert event["reason"] == "alert a-1" and event["actor"] == "agent-1"
    assert world.store.grant(other).state == "requested"  # type: ignore[union-attr]
    assert world.store.grant(denied).state == "denied"  # type: ignore[union-attr]
    # Again: nothing is live any more, nothing is written.
    again = grants.revoke_all(
        world.store, world.ledger, "agent-1", by="response", reason="alert a-1", now_us=NOW + 2
    )
    assert again == [] and world.store.ledger_size() == size + 2
