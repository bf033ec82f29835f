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

from guard_support import POLICY as GRANTS_POLICY
from sentinelle.access import Principal, Role
from sentinelle.config import Settings
from sentinelle.guard import grants
from sentinelle.guard.grants import Actor, GrantAsk
from sentinelle.guard.policy import Policy, parse_policy
from sentinelle.ledger.log import Ledger
from sentinelle.store import Store, open_store
from sentinelle.timeutil import HOUR, parse_time

NOW = parse_time("2026-11-05T10:00:00Z")
POLICY = GRANTS_POLICY + "grant_hours = 2\n"  # in [merchants.m-2]: its grants hold 2 h
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


def _state(world: World, grant_id: str) -> str:
    row = world.store.grant(grant_id)
    assert row is not None
    return row.state


def test_approval_exactly_where_the_policy_says(world: World) -> None:
    s, led, pol = world.store, world.ledger, world.policy
    one = world.ask()
    # m-1 needs the merchant only: a staff approval is not asked for.
    with pytest.raises(grants.GrantStateError, match="answered by merchant, not staff"):
        grants.approve(s, led, pol, "m-1", one, RESPONDER, now_us=NOW)
    assert _state(world, one) == "requested" and world.event(f"{one}-approved-staff") is None
    approved = grants.approve(s, led, pol, "m-1", one, SHOP1, now_us=NOW + HOUR)
    assert approved.state == "approved" and approved.expires_us == NOW + 9 * HOUR  # 8 h
    with pytest.raises(grants.GrantStateError, match="only a request"):
        grants.approve(s, led, pol, "m-1", one, SHOP1, now_us=NOW + HOUR)
    # m-2 needs the merchant and a staff member: one alone leaves it requested.
    two = world.ask(merchant="m-2")
    half = grants.approve(s, led, pol, "m-2", two, SHOP2, now_us=NOW)
    assert half.state == "requested" and half.expires_us == NOW + 24 * HOUR  # its deadline
    with pytest.raises(grants.GrantStateError, match="already has its merchant approval"):
        grants.approve(s, led, pol, "m-2", two, SHOP2, now_us=NOW)
    full = grants.approve(s, led, pol, "m-2", two, RESPONDER, now_us=NOW + HOUR)
    assert full.state == "approved" and full.expires_us == NOW + 3 * HOUR  # m-2: 2 hours
    event = world.event(f"{two}-approved-staff")
    assert event is not None and event["by"] == "rita@sentinelle.example"
    assert event["expires"] == "2026-11-05T13:00:00Z"
    # Another merchant's key never reaches it (as if it were not there).
    with pytest.raises(grants.GrantNotFoundError):
        grants.approve(s, led, pol, "m-1", two, SHOP1, now_us=NOW)


@pytest.mark.parametrize(
    "principal",
    [
        Principal("key", "agent-1", Role.RESPONDER),  # the grantee's key
        Principal("user", "Agent-1@shop.example", Role.DPO),  # the grantee's account
        Principal("key", "console", Role.ADMIN),  # the requester (key:console)
    ],
)
def test_nobody_answers_their_own_grant(world: World, principal: Principal) -> None:
    grant_id = world.ask(merchant="m-2")
    size = world.store.ledger_size()
    me = Actor.of(principal)
    with pytest.raises(grants.SelfApprovalError):
        grants.approve(world.store, world.ledger, world.policy, "m-2", grant_id, me, now_us=NOW)
    with pytest.raises(grants.SelfApprovalError):
        grants.deny(world.store, world.ledger, world.policy, "m-2", grant_id, me,
                    reason="mine", now_us=NOW)  # fmt: skip
    assert world.store.ledger_size() == size and _state(world, grant_id) == "requested"
    assert grants.refusal(world.policy, world.store.grant(grant_id), me, approving=True)  # type: ignore[arg-type]


def test_denial_is_an_event_and_ends_the_request(world: World) -> None:
    grant_id = world.ask()
    denied = grants.deny(world.store, world.ledger, world.policy, "m-1", grant_id, SHOP1,
                         reason="not for a recall", now_us=NOW + 5)  # fmt: skip
    assert denied.state == "denied"
    event = world.event(f"{grant_id}-denied")
    assert event is not None and event["type"] == "grant.denied"
    assert event["by"] == "key:shop1" and event["reason"] == "not for a recall"
    with pytest.raises(grants.GrantStateError):
        grants.approve(world.store, world.ledger, world.policy, "m-1", grant_id, SHOP1,
                       now_us=NOW + 6)  # fmt: skip
    with pytest.raises(grants.GrantStateError):
        grants.revoke(world.store, world.ledger, "m-1", grant_id, by="x", reason="y",
                      now_us=NOW + 6)  # fmt: skip


def test_expiry_sweep_emits_grant_expired_once_and_keeps_history(world: World) -> None:
    s, led = world.store, world.ledger
    unanswered = world.ask()
    grants.mark_seen(s, unanswered, by="key:shop1", now_us=NOW + HOUR)
    grants.mark_seen(s, unanswered, by="key:shop1", now_us=NOW + 2 * HOUR)  # kept once
    spent = world.ask(actor="agent-2")
    grants.approve(s, led, world.policy, "m-1", spent, SHOP1, now_us=NOW)  # until NOW + 8 h
    assert grants.expire(s, led, now_us=NOW + 8 * HOUR - 1) == []
    assert grants.expire(s, led, now_us=NOW + 8 * HOUR) == [spent]
    size = s.ledger_size()
    assert grants.expire(s, led, now_us=NOW + 24 * HOUR) == [unanswered]
    assert s.ledger_size() == size + 1
    assert grants.expire(s, led, now_us=NOW + 48 * HOUR) == []  # once
    assert s.ledger_size() == size + 1
    event = world.event(f"{unanswered}-expired")
    assert event is not None and event["type"] == "grant.expired" and event["by"] == "sentinelle"
    assert event["time"] == "2026-11-06T10:00:00Z"  # at its deadline, not the sweep's time
    history = grants.grant_history(s, "m-1", unanswered)
    assert history.grant.state == "expired"
    assert [st.kind for st in history.steps] == ["requested", "seen", "expired"]
    assert history.seen_by == ("key:shop1",)
    # Revoking or approving what expired is refused.
    with pytest.raises(grants.GrantStateError):
        grants.approve(s, led, world.policy, "m-1", unanswered, SHOP1, now_us=NOW + 48 * HOUR)


def test_links_work_once_before_they_expire_and_only_for_their_grant(world: World) -> None:
    s, led, pol = world.store, world.ledger, world.policy
    grant_id = world.ask()
    other = world.ask(actor="agent-2")
    token, link = grants.new_link(s, pol, s.grant(grant_id), now_us=NOW)  # type: ignore[arg-type]
    assert len(token) == 43 and link.expires_us == NOW + 24 * HOUR
    assert s.approval_link(grants.hash_token(token)) == link  # only the hash is stored
    kinds = {
        "damaged": (grant_id, token[:-1]),
        "unknown": (grant_id, "A" * 43),
        "tampered": (other, token),
    }
    for kind, (gid, tok) in kinds.items():
        with pytest.raises(grants.LinkError) as refused:
            grants.check_link(s, gid, tok, now_us=NOW)
        assert refused.value.kind == kind
    with pytest.raises(grants.LinkError) as late:
        grants.check_link(s, grant_id, token, now_us=NOW + 24 * HOUR)
    assert late.value.kind == "expired"
    found = grants.check_link(s, grant_id, token, now_us=NOW + HOUR)
    me = Actor.by_link("m-1")
    grants.approve(s, led, pol, "m-1", grant_id, me, now_us=NOW + HOUR, link=found)
    event = world.event(f"{grant_id}-approved-merchant")
    assert event is not None and event["by"] == "merchant:m-1 (e-mail link)"
    with pytest.raises(grants.LinkError) as used:
        grants.check_link(s, grant_id, token, now_us=NOW + HOUR)
    assert used.value.kind == "used"
    steps = [st.kind for st in grants.grant_history(s, "m-1", grant_id).steps]
    assert steps == ["requested", "approved", "link_used"]


def test_bad_input_names_the_field_and_writes_nothing(world: World) -> None:
    size = world.store.ledger_size()
    ask = GrantAsk("agent-1", "m-1", ("export",), ("contact",), "x", purpose="nope")
    with pytest.raises(grants.GrantInputError, match='^purpose: "nope" is not a purpose'):
        grants.request(world.store, world.ledger, world.policy, ask, by="k", now_us=NOW)
    assert world.store.ledger_size() == size
    with pytest.raises(grants.GrantInputError, match="^cursor:"):
        grants.grants_of_merchant(world.store, "m-1", cursor="garbage")


def test_pages_of_a_merchants_grants_newest_first(world: World) -> None:
    made = [world.ask(at=NOW + i) for i in range(5)]
    world.ask(merchant="m-2")
    first = grants.grants_of_merchant(world.store, "m-1", limit=2)
    assert [g.id for g in first.grants] == made[::-1][:2] and first.next is not None
    rest = grants.grants_of_merchant(world.store, "m-1", cursor=first.next, limit=10)
    assert [g.id for g in rest.grants] == made[::-1][2:] and rest.next is None


def test_answer_takes_the_three_answers_and_refuses_any_other(world: World) -> None:
    approved, denied, revoked = world.ask(), world.ask(), world.ask()

    def answer(grant_id: str, verb: str, **kw: Any) -> str:
        return grants.answer(world.store, world.ledger, world.policy, "m-1", grant_id, SHOP1,
                             verb, reason="because", now_us=NOW, **kw).state  # fmt: skip

    assert answer(approved, "approve") == "approved"
    assert answer(denied, "deny") == "denied"
    assert answer(revoked, "revoke") == "revoked"
    assert world.event(f"{revoked}-revoked")["by"] == "key:shop1"  # type: ignore[index]
    size = world.store.ledger_size()
    row = world.store.grant(world.ask())
    assert row is not None
    link = grants.new_link(world.store, world.policy, row, now_us=NOW)[1]
    for verb, kw in (("ignore", {}), ("revoke", {"link": link})):  # a link never revokes
        with pytest.raises(grants.GrantInputError, match="not an answer"):
            answer(link.grant_id, verb, **kw)
    assert world.store.grant(link.grant_id).state == "requested"  # type: ignore[union-attr]
    assert world.store.ledger_size() == size + 1  # the request only
