"""How a guard decision is recorded in the ledger: the access event that says what was asked,
what was decided and what was shown. Light on imports (the events' model and the decision):
the client kit (``sentinelle.client``) records what it served without a decision with it too.
"""

from __future__ import annotations

from typing import Literal

from msgspec import UNSET

from sentinelle.events.model import AccessEvent, Actor, Justification, Resource
from sentinelle.guard.decide import AccessRequest, Decision
from sentinelle.timeutil import from_us

__all__ = ["access_event", "recorded_outcome", "recorded_reason", "shown_categories"]


def access_event(
    event_id: str, request: AccessRequest, decision: Decision, now_us: int
) -> AccessEvent:
    """The access event that records ``decision`` in the ledger: ``outcome`` ``allowed`` for
    an allow, ``denied`` for a deny and for a pending one (nothing is served while it waits),
    with ``justification`` {ticket, grant, reason} (the first reason, cut to 256 characters).
    ``data`` is what was shown for an allow (the categories asked for, less the mask: an
    incident's scope counts what left, not what was hidden), what was asked for otherwise."""
    return AccessEvent(
        id=event_id,
        time=from_us(now_us),
        actor=Actor(
            id=request.actor,
            kind="staff",
            role=request.role or UNSET,
            team=request.team or UNSET,
        ),
        action=request.action,  # type: ignore[arg-type]  # checked by AccessRequest
        merchant=request.merchant,
        channel=request.channel,  # type: ignore[arg-type]
        data=shown_categories(request, decision),  # type: ignore[arg-type]
        outcome=recorded_outcome(decision),
        justification=Justification(
            reason=recorded_reason(decision),
            ticket=UNSET if request.ticket is None else request.ticket[:128],
            grant=UNSET if decision.grant is None else decision.grant,
        ),
        subjects=UNSET if request.subjects is None else list(request.subjects),
        resource=UNSET if request.count is None else Resource(count=request.count),
        source=UNSET if request.source is None else request.source,
    )


def recorded_outcome(decision: Decision) -> Literal["allowed", "denied"]:
    """The ``outcome`` of a decision's access event: ``allowed`` for an allow, ``denied`` for a
    deny and for a pending one (nothing is served while it waits)."""
    return "allowed" if decision.decision == "allow" else "denied"


def recorded_reason(decision: Decision) -> str:
    """The ``justification.reason`` of a decision's access event: the verdict and its first
    reason, cut to 256 characters."""
    first = decision.reasons[0] if decision.reasons else ""
    return f"{decision.decision}: {first}"[:256]


def shown_categories(request: AccessRequest, decision: Decision) -> list[str]:
    """The categories an allowed request shows (asked for, less the mask); all asked for
    when it is not allowed."""
    if decision.decision != "allow" or not decision.mask:
        return list(request.data)
    hidden = set(decision.mask)
    # An allow always shows something (a request whose every category is masked is denied).
    return [c for c in request.data if c not in hidden] or list(request.data)
