"""A simulated month through the guard (``sentinelle simulate --guard``): every staff access
of the stream is asked of the guard first, as the platform would ask ``POST /v1/access/decide``,
and recorded as the decision's access event — ``allowed``, or ``denied`` for a deny or a
pending request (nothing is served while it waits).

What the simulated people do around the decisions:

* tickets are followed from the stream's ``ticket.*`` events as they come (a ticket is seen as
  its events up to the access describe it, as the endpoint sees it in the ledger);
* a request that needs an approval (an export, a bulk list) **of an honest actor** is
  requested and approved by its merchant on the spot: ``grant.requested`` then
  ``grant.approved`` (``by`` the merchant), and the access is allowed by that grant; later
  requests the grant covers reuse it while it lives. An insider's request (an access the
  ground truth marks malicious) is never approved: it stays pending, so it is denied;
* an honest request refused for want of a ticket is, now and then (``break_glass_rate``,
  chosen by a hash of the event id, so the same stream gives the same choice), retried with a
  stated emergency, when the policy allows break-glass for the action: the break-glass is
  recorded as a self-approved ``grant.approved`` (``bg-<event id>``) that the access cites,
  which detection's ``break_glass`` detector raises its alert on.

Apps, integrations and merchant users are not staff: their accesses pass unchanged. The
insiders' attempts thus show as denials, which detection (``probing``) and incident scoping
see. Deterministic: the same stream, policy and truth give the same bytes.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec
from msgspec import UNSET

from sentinelle.detect.guard_signals import break_glass_grant
from sentinelle.events import AccessEvent, ContextEvent, decode_event, time_us
from sentinelle.events.model import Justification
from sentinelle.guard.decide import AccessRequest, Decision, GrantView, TicketView, decide
from sentinelle.guard.policy import Policy, load_policy
from sentinelle.guard.recording import recorded_outcome, recorded_reason, shown_categories
from sentinelle.timeutil import from_us

__all__ = ["SIM_POLICY", "GuardReplay", "ReplaySummary", "sim_policy"]

#: The policy of the simulated operation's teams (its file is shipped with the package).
SIM_POLICY: Final = Path(__file__).with_name("sim_policy.toml")
#: What the honest actors state when they break the glass.
_EMERGENCY: Final = "customer on the phone, locked out, no ticket opened yet (on-call)"

_encode: Final = msgspec.json.Encoder().encode


def sim_policy() -> Policy:
    """The guard policy of the simulated operation (:data:`SIM_POLICY`)."""
    return load_policy(SIM_POLICY)


@dataclass
class ReplaySummary:
    """What the guard decided: per verdict, for honest actors and for insiders, and how many
    grants the merchants approved and break-glasses were used."""

    honest: Counter[str] = field(default_factory=Counter)
    insiders: Counter[str] = field(default_factory=Counter)
    grants_approved: int = 0
    break_glass: int = 0
    passed: int = 0  # apps, integrations, merchant users: not asked

    def describe(self) -> str:
        """One paragraph for a person."""

        def line(c: Counter[str]) -> str:
            total = sum(c.values())
            refused = c["deny"] + c["pending"]
            share = f"{refused / total:.1%}" if total else "0%"
            return (
                f"{total:,} decided: {c['allow']:,} allowed, {c['deny']:,} denied, "
                f"{c['pending']:,} pending ({share} refused)"
            )

        return (
            f"guard: honest staff accesses {line(self.honest)}; insiders' accesses "
            f"{line(self.insiders)}; {self.grants_approved:,} grants approved by merchants, "
            f"{self.break_glass:,} break-glasses; {self.passed:,} accesses by apps, "
            "integrations and merchant users passed unasked"
        )


@dataclass
class _Ticket:
    merchant: str | None = None
    assignees: set[str] = field(default_factory=set)
    closed: bool = False


class GuardReplay:
    """Passes a stream of events (JSON lines, in time order) through the guard.

    ``malicious`` are the ids of the insiders' access events (the simulation's ground truth):
    only their requests are never approved. ``break_glass_rate`` is the share of honest
    requests refused for want of a ticket that are retried as a break-glass.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        malicious: Iterable[str] = (),
        break_glass_rate: float = 0.02,
    ) -> None:
        if not 0.0 <= break_glass_rate <= 1.0:
            raise ValueError("break_glass_rate must be from 0 to 1")
        self.policy = policy
        self.malicious = frozenset(malicious)
        self.break_glass_rate = break_glass_rate
        self.summary = ReplaySummary()
        self._tickets: dict[str, _Ticket] = {}
        self._grants: dict[tuple[str, str], list[GrantView]] = defaultdict(list)

    def lines(self, lines: Iterable[bytes]) -> Iterator[bytes]:
        """The stream with every staff access decided (and the grant events it caused), one
        event a line, without line ends."""
        for raw in lines:
            line = raw.rstrip(b"\r\n")
            if not line:
                continue
            event = decode_event(line)
            if isinstance(event, ContextEvent):
                self._follow(event)
                yield line
            elif event.actor.kind != "staff":
                self.summary.passed += 1
                yield line
            else:
                yield from self._decided(event)

    def _follow(self, event: ContextEvent) -> None:
        if not event.type.startswith("ticket.") or not isinstance(event.ticket, str):
            return
        ticket = self._tickets.setdefault(event.ticket, _Ticket())
        if isinstance(event.merchant, str):
            ticket.merchant = event.merchant
        if event.type == "ticket.opened":
            ticket.closed = False
        elif event.type == "ticket.closed":
            ticket.closed = True
        # Opened for them or assigned to them later: the assignee (as the decision endpoint).
        if event.type in ("ticket.opened", "ticket.assigned") and isinstance(event.actor, str):
            ticket.assignees.add(event.actor)

    def _view(self, ticket_id: str | None) -> TicketView | None:
        ticket = self._tickets.get(ticket_id) if ticket_id is not None else None
        if ticket_id is None or ticket is None:
            return None
        return TicketView(
            id=ticket_id,
            state="closed" if ticket.closed else "open",
            merchant=ticket.merchant,
            assignees=frozenset(ticket.assignees),
        )

    def _decided(self, event: AccessEvent) -> Iterator[bytes]:
        now = time_us(event)
        request = _request(event)
        key = (request.actor, request.merchant)
        live = [g for g in self._grants.get(key, ()) if g.expires_us > now]
        self._grants[key] = live
        ticket = self._view(request.ticket)
        decision = decide(
            self.policy, request, ticket=ticket, grants=live, suspended=False, now_us=now
        )
        insider = event.id in self.malicious
        extra: list[ContextEvent] = []
        if decision.decision == "pending" and not insider:
            grant = self._approved(event, request, now, extra)
            decision = decide(
                self.policy, request, ticket=ticket, grants=[grant], suspended=False, now_us=now
            )
        elif decision.decision == "deny" and not insider and self._breaks_glass(event, request):
            urgent = msgspec.structs.replace(request, break_glass=_EMERGENCY)
            retried = decide(
                self.policy, urgent, ticket=ticket, grants=live, suspended=False, now_us=now
            )
            if retried.break_glass and retried.expires_us is not None:
                decision = retried
                extra.append(break_glass_grant(event, _EMERGENCY, retried.expires_us))
                self.summary.break_glass += 1
        (self.summary.insiders if insider else self.summary.honest)[decision.decision] += 1
        for context in extra:
            yield _encode(context)
        yield _encode(_recorded(event, request, decision, extra))

    def _approved(
        self, event: AccessEvent, request: AccessRequest, now: int, extra: list[ContextEvent]
    ) -> GrantView:
        """A grant the merchant approves at once for ``request``: its two events in
        ``extra``, the grant kept for the requests it covers later."""
        grant_id = f"g-{event.id}"
        expires = now + self.policy.grant_duration_us(request.merchant)
        records = request.count if request.count is not None else len(request.subjects or ())
        grant = GrantView(
            id=grant_id,
            actor=request.actor,
            merchant=request.merchant,
            actions=frozenset({request.action}),
            categories=frozenset(request.data),
            max_records=max(1, records),
            state="approved",
            expires_us=expires,
            approvals=frozenset(self.policy.approvers_for(request.merchant)),
        )
        common = {
            "time": event.time,
            "grant": grant_id,
            "actor": request.actor,
            "merchant": request.merchant,
        }
        extra.append(
            ContextEvent(
                id=f"{grant_id}-requested",
                type="grant.requested",
                by=request.actor,
                reason=f"{request.action} of {max(1, records)} record(s) asked by the merchant",
                expires=from_us(now + self.policy.approval.request_us),
                **common,  # type: ignore[arg-type]
            )
        )
        extra.append(
            ContextEvent(
                id=f"{grant_id}-approved",
                type="grant.approved",
                by=f"merchant:{request.merchant}",
                reason="approved by the merchant",
                expires=from_us(expires),
                **common,  # type: ignore[arg-type]
            )
        )
        self._grants[(request.actor, request.merchant)].append(grant)
        self.summary.grants_approved += 1
        return grant

    def _breaks_glass(self, event: AccessEvent, request: AccessRequest) -> bool:
        glass = self.policy.break_glass
        if not glass.enabled or request.action not in glass.actions or request.ticket is not None:
            return False
        digest = hashlib.sha256(event.id.encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.break_glass_rate


def _request(event: AccessEvent) -> AccessRequest:
    """The question the platform asks before serving ``event``'s access."""
    ticket = event.cited_ticket()
    subjects = tuple(event.subjects) if isinstance(event.subjects, list) else None
    count = None
    if subjects is None and event.resource is not UNSET and isinstance(event.resource.count, int):
        count = event.resource.count
    actor = event.actor
    return AccessRequest(
        actor=actor.id,
        merchant=event.merchant,
        action=event.action,
        data=tuple(event.data),
        channel=event.channel,
        team=actor.team if isinstance(actor.team, str) else None,
        role=actor.role if isinstance(actor.role, str) else None,
        ticket=ticket,
        subjects=subjects,
        count=count,
    )


def _recorded(
    event: AccessEvent, request: AccessRequest, decision: Decision, extra: list[ContextEvent]
) -> AccessEvent:
    """``event`` as the decision's access event: its outcome, the decision and first reason,
    the grant that allowed it, the categories shown (as the decision endpoint records it)."""
    old = event.justification if event.justification is not UNSET else Justification()
    grant = decision.grant
    if grant is None and extra and extra[-1].type == "grant.approved":
        grant = extra[-1].grant if isinstance(extra[-1].grant, str) else None
    just = msgspec.structs.replace(
        old, reason=recorded_reason(decision), grant=UNSET if grant is None else grant
    )
    return msgspec.structs.replace(
        event,
        justification=just,
        outcome=recorded_outcome(decision),
        data=shown_categories(request, decision),
    )
