"""Detectors of what the guard records (docs/guard-response.md): break-glass accesses and
repeated denied decisions.

* :class:`BreakGlass` raises a high alert on a break-glass access at once. The decision route
  records each break-glass as a ``grant.approved`` event of a grant its grantee approved
  themselves (``by`` = ``actor``), next to the access event citing it. Self-approval is refused
  everywhere else, so such a grant in the ledger *is* a break-glass; the alert asks a responder
  to review it (accept it or escalate it), not to suspend the actor.
* :class:`Probing` reads denied access events (``outcome`` ``denied``: the guard records every
  denial as one): many in a short time, or spread over several merchants or tickets, is
  someone trying doors. Its memory is a bounded per-actor list of recent denials, kept in the
  actor's saved state (``ActorState.marks``), evicted past its window.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Final

from msgspec import UNSET
from pydantic import Field

from sentinelle.detect.base import Detector, DetectorConfig, Finding, Severity
from sentinelle.detect.context import ActorState, Context
from sentinelle.events import AccessEvent, ContextEvent, time_us
from sentinelle.timeutil import MINUTE, from_us

__all__ = ["BREAK_GLASS_PREFIX", "BreakGlass", "Probing", "break_glass_grant", "denial_kind"]

BREAK_GLASS_PREFIX: Final = "break-glass:"
"""How the ``reason`` of a break-glass grant starts; the stated emergency follows."""

_MARK: Final = "probing"  # the kind of the actor's marks holding recent denials
_SEP: Final = "\x1f"  # between a mark's merchant, ticket and kind of denial
_MAX_KEPT: Final = 500  # denials remembered per actor, at most (the oldest go first)


class _GuardSignal(Detector):
    """A detector of what the guard records (a grant event, a refusal): allowed accesses tell
    it nothing."""

    def observe(
        self,
        event: AccessEvent,  # noqa: ARG002
        ctx: Context,  # noqa: ARG002
        state: ActorState,  # noqa: ARG002
        justified: bool,  # noqa: ARG002
    ) -> list[Finding]:
        """Nothing: see :meth:`observe_context` and :meth:`observe_denied`."""
        return []


class BreakGlass(_GuardSignal):
    """A break-glass access: allowed on the actor's own stated emergency, without a ticket or
    an approval. High at once; a responder reviews it (acknowledge to accept, or escalate)."""

    name = "break_glass"
    description = (
        "Break-glass access (a grant its grantee approved themselves): high at once, for review."
    )

    def observe_context(self, event: ContextEvent, ctx: Context) -> list[Finding]:  # noqa: ARG002
        """A ``grant.approved`` whose approver is the grantee: a break-glass."""
        actor = event.actor
        if event.type != "grant.approved" or not isinstance(actor, str) or event.by != actor:
            return []
        merchant = event.merchant if isinstance(event.merchant, str) else "?"
        grant = event.grant if isinstance(event.grant, str) else "?"
        reason = event.reason if isinstance(event.reason, str) else ""
        stated = reason.removeprefix(BREAK_GLASS_PREFIX).strip() or "no reason recorded"
        until = (
            f"until {event.expires.strftime('%Y-%m-%d %H:%M UTC')}"
            if event.expires is not UNSET
            else "with no end recorded"
        )
        # The decision route names the grant after the access event it allowed: bg-<event id>.
        access = grant.removeprefix("bg-") if grant.startswith("bg-") else None
        return [
            Finding(
                self.name,
                actor,
                time_us(event),
                Severity.HIGH,
                80.0,
                (merchant,),
                (event.id, access) if access else (event.id,),
                (
                    f'{actor} used break-glass at merchant {merchant}: they stated "{stated}" '
                    f"and were allowed access to its customers' data without a ticket or an "
                    f"approval, {until} (grant {grant}). A responder must review it: accept it "
                    f"(acknowledge) or escalate it.",
                ),
            )
        ]


def break_glass_grant(access: AccessEvent, stated: str, expires_us: int) -> ContextEvent:
    """The ``grant.approved`` event that records a break-glass in the ledger: grant
    ``bg-<access event id>``, approved by the actor themselves (self-approval is refused on
    every other path, so such a grant *is* a break-glass), its reason the stated emergency,
    until the decision expires: what :class:`BreakGlass` raises its alert on (the decision
    route writes it; ``sentinelle simulate --guard`` too)."""
    grant = f"bg-{access.id}"
    return ContextEvent(
        id=f"{grant}-approved",
        time=access.time,
        type="grant.approved",
        grant=grant,
        actor=access.actor.id,
        merchant=access.merchant,
        by=access.actor.id,
        reason=f"{BREAK_GLASS_PREFIX} {stated.strip()}"[:256],
        expires=from_us(expires_us),
    )


# What a denial's first reason says, as the guard words it (sentinelle.guard.decide), in
# the order tried: the label a probing alert counts it under.
_KINDS: Final = (
    ("break-glass refused", re.compile(r"^Break-glass ")),  # before what it would have refused
    ("no ticket", re.compile(r"no ticket is cited", re.I)),
    ("not a ticket id", re.compile(r"is not a ticket id of this platform")),
    ("unknown ticket", re.compile(r"is not known to Sentinelle")),
    ("ticket of another merchant", re.compile(r"^ticket \S+ belongs to ", re.I)),
    ("closed ticket", re.compile(r"^ticket \S+ is closed", re.I)),
    ("someone else's ticket", re.compile(r"^ticket \S+ is assigned ", re.I)),
    ("team not in the policy", re.compile(r"which the policy does not list")),
    ("action not allowed to them", re.compile(r" may not do ")),
    ("channel not allowed to them", re.compile(r" may not reach customer data through ")),
    ("nothing they may see", re.compile(r"nothing requested can be shown")),
    ("purpose not theirs", re.compile(r"is not a purpose of the policy| do not handle ")),
    ("approval needed", re.compile(r"needs approval|approves every view")),
)
_SUSPENDED: Final = re.compile(r" is suspended pending review")


def denial_kind(reason: str) -> str | None:
    """What a denied access's ``justification.reason`` says, in a few words (``"no ticket"``,
    ``"ticket of another merchant"``, …; ``"other reason"`` for wording it does not know);
    ``None`` for a request that was not refused but waits for an approval (``pending: …``)
    or refused because the actor is suspended (the suspension, not a probe)."""
    verdict, sep, why = reason.partition(": ")
    if sep and verdict == "pending":
        return None
    text = why if sep and verdict == "deny" else reason
    if _SUSPENDED.search(text):
        return None
    for kind, pattern in _KINDS:
        if pattern.search(text):
            return kind
    return "other reason"


class Probing(_GuardSignal):
    """Repeated denied requests by one actor: many within a window, or spread over several
    merchants or tickets. Medium; high when they reach many merchants or go on long after
    the first denials."""

    name = "probing"
    description = (
        "Repeated denied requests by one actor: many in an hour, or across merchants or tickets."
    )

    class Config(DetectorConfig):
        """Thresholds."""

        window_minutes: int = Field(60, ge=1, le=1440, description="Denials counted this far back.")
        min_denials: int = Field(5, ge=2, description="Medium at this many denials in the window…")
        min_merchants: int = Field(3, ge=2, description="…or denials at this many merchants…")
        min_tickets: int = Field(3, ge=2, description="…or citing this many different tickets.")
        high_merchants: int = Field(6, ge=2, description="High at denials at this many merchants…")
        high_denials: int = Field(
            15, ge=2, description="…or at this many denials in the window (going on after them)."
        )

    def observe_denied(self, event: AccessEvent, ctx: Context, state: ActorState) -> list[Finding]:
        """Remember the denial; a finding once the actor's recent ones add up."""
        cfg = self.config
        assert isinstance(cfg, Probing.Config)  # noqa: S101
        just = event.justification
        reason = just.reason if just is not UNSET and isinstance(just.reason, str) else ""
        kind = denial_kind(reason)
        if kind is None:
            return []
        ticket = event.cited_ticket() or ""
        t = ctx.now_us
        recent = state.marks.setdefault(_MARK, [])
        recent.append((t, _SEP.join((event.merchant, ticket, kind))))
        start = t - cfg.window_minutes * MINUTE
        drop = next((i for i, (u, _) in enumerate(recent) if u >= start), len(recent))
        del recent[: max(drop, len(recent) - _MAX_KEPT)]
        merchants: set[str] = set()
        tickets: set[str] = set()
        kinds: Counter[str] = Counter()
        for _, key in recent:
            merchant, cited, what = key.split(_SEP)
            merchants.add(merchant)
            if cited:
                tickets.add(cited)
            kinds[what] += 1
        count = len(recent)
        if count >= cfg.high_denials or len(merchants) >= cfg.high_merchants:
            severity = Severity.HIGH
        elif (
            count >= cfg.min_denials
            or len(merchants) >= cfg.min_merchants
            or len(tickets) >= cfg.min_tickets
        ):
            severity = Severity.MEDIUM
        else:
            return []
        who = event.actor.id
        minutes = (t - recent[0][0]) // MINUTE
        span = f"in {minutes} minutes" if minutes >= 1 else "within a minute"
        where = f"{len(merchants)} merchant{'s' if len(merchants) != 1 else ''}"
        cited_part = f", citing {len(tickets)} different tickets" if len(tickets) > 1 else ""
        why = ", ".join(f"{k} ({n})" for k, n in sorted(kinds.items(), key=lambda i: (-i[1], i[0])))
        more = (
            f" They went on after {cfg.min_denials} denials." if count >= cfg.high_denials else ""
        )
        return [
            Finding(
                self.name,
                who,
                t,
                severity,
                min(100.0, 50.0 * max(count / cfg.min_denials, len(merchants) / cfg.min_merchants)),
                tuple(sorted(merchants)),
                (event.id,),
                (
                    f"{who} had {count} request{'s' if count != 1 else ''} denied {span} at "
                    f"{where}{cited_part}: {why}.{more}",
                ),
            )
        ]
