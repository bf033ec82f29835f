"""Just-in-time grants: requested (``grants:request``: the guard for its actors, responders,
DPOs, admins), approved and revoked (``grants:approve``: the grant's merchant — its own
merchant's grants only — or a staff member as the second approver the policy asks for).

Nobody approves a grant for themselves: the approver must be neither the grantee nor whoever
requested it (403). Every change is a ``grant.*`` context event in the ledger, written through
the ingest path before the grant's row changes, with who made it (``by``): a change is never
in force without being in the ledger. The row then changes in the same locked section.
"""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from sentinelle.access import Permission, Principal, Role
from sentinelle.api.deps import CurrentPrincipal, GuardedRoute, StateDep, guarded, locked
from sentinelle.api.responses import BAD_BODY, NOT_FOUND, ErrorBody
from sentinelle.api.routes.guard import policy_or_503
from sentinelle.events.model import Action, DataCategory
from sentinelle.guard.service import grant_record
from sentinelle.ingest import Ingestor
from sentinelle.store.grants import GrantRow
from sentinelle.timeutil import iso

__all__ = ["requests", "router"]

requests = APIRouter(prefix="/v1/grants", tags=["grants"], route_class=GuardedRoute)
router = APIRouter(prefix="/v1/merchants", tags=["grants"], route_class=GuardedRoute)

_Id = Annotated[str, Field(min_length=1, max_length=128)]
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The grant's state does not allow it"}
}


class GrantRequest(BaseModel):
    """A grant asked for ``actor`` at ``merchant``: what it may do (``actions``), to which
    data (``data``), for how many records at most, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    actor: _Id
    merchant: _Id
    actions: Annotated[list[Action], Field(min_length=1, max_length=6)]
    data: Annotated[list[DataCategory], Field(min_length=1, max_length=12)]
    max_records: Annotated[int, Field(ge=1, le=2**53 - 1)] = 1
    purpose: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    reason: Annotated[str, Field(min_length=1, max_length=256, pattern=r"\S")]
    ticket: _Id | None = None


def _ingest(state: Any, event: dict[str, Any]) -> None:
    Ingestor(state.store, state.ledger).ingest([(0, json.dumps(event))], unit="index")


@requests.post("", status_code=201, responses=BAD_BODY, **guarded(Permission.GRANTS_REQUEST))
async def request_grant(
    body: GrantRequest, state: StateDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Ask for a grant. It waits for the approvals the policy requires for its merchant
    (``approvers``), until its approval deadline (the merchant's grant duration from now)."""
    policy = policy_or_503(state)
    if body.purpose is not None and body.purpose not in policy.purposes:
        raise HTTPException(422, f'purpose: "{body.purpose}" is not a purpose of the policy')

    def work() -> dict[str, Any]:
        now = state.clock()
        grant_id = "g-" + secrets.token_hex(8)
        expires = now + policy.grant_duration_us(body.merchant)
        event: dict[str, Any] = {
            "id": f"{grant_id}-requested",
            "time": iso(now),
            "type": "grant.requested",
            "grant": grant_id,
            "actor": body.actor,
            "merchant": body.merchant,
            "by": principal.label[:128],
            "reason": body.reason,
            "expires": iso(expires),
        }
        if body.ticket is not None:
            event["ticket"] = body.ticket
        _ingest(state, event)
        row = GrantRow(
            grant_id, body.actor, body.merchant, json.dumps(sorted(set(body.actions))),
            json.dumps(sorted(set(body.data))), body.max_records, body.purpose, body.reason,
            body.ticket, principal.label, now, "[]", expires, "requested", now,
        )  # fmt: skip
        with state.store.writer() as w:
            w.insert_grant(row)
        return grant_record(row, policy).to_dict()

    return await locked(state, work)


def _grant_of(state: Any, merchant: str, grant_id: str) -> GrantRow:
    row: GrantRow | None = state.store.grant(grant_id)
    if row is None or row.merchant != merchant:
        raise HTTPException(404, f"no grant {grant_id} at merchant {merchant}")
    return row


def _not_yours(principal: Principal, row: GrantRow) -> None:
    if row.actor in (principal.name, principal.label) or row.requested_by == principal.label:
        raise HTTPException(
            403,
            f"{principal.label} may not approve grant {row.id}: the approver must be neither "
            "the grantee nor whoever requested it",
        )


@router.post(
    "/{merchant}/grants/{grant_id}/approve",
    responses={**NOT_FOUND, **_CONFLICT},
    **guarded(Permission.GRANTS_APPROVE),
)
async def approve_grant(
    merchant: _Id, grant_id: _Id, state: StateDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Approve a requested grant: as the merchant (a merchant's key or account, of this
    merchant) or as a second staff member (any other role that may approve), when the policy
    asks for that approval. With every approval it needs, it is ``approved`` and holds for the
    merchant's grant duration from now."""
    policy = policy_or_503(state)
    kind: Literal["merchant", "staff"] = "merchant" if principal.role is Role.MERCHANT else "staff"

    def work() -> dict[str, Any]:
        now = state.clock()
        row = _grant_of(state, merchant, grant_id)
        _not_yours(principal, row)
        if row.state != "requested":
            raise HTTPException(409, f"grant {grant_id} is {row.state}: only a request is approved")
        if now >= row.expires_us:
            raise HTTPException(409, f"grant {grant_id} was not approved in time: ask again")
        required = policy.approvers_for(merchant)
        if kind not in required:
            raise HTTPException(
                409, f"merchant {merchant}'s grants need the approval of {', '.join(required)}"
            )
        approvals = json.loads(row.approvals_json)
        if any(a["as"] == kind for a in approvals):
            raise HTTPException(409, f"grant {grant_id} already has its {kind} approval")
        approvals.append({"as": kind, "by": principal.label, "at_us": now})
        complete = {a["as"] for a in approvals} >= set(required)
        expires = now + policy.grant_duration_us(merchant) if complete else row.expires_us
        state_ = "approved" if complete else "requested"
        event: dict[str, Any] = {
            "id": f"{grant_id}-approved-{kind}",
            "time": iso(now),
            "type": "grant.approved",
            "grant": grant_id,
            "actor": row.actor,
            "merchant": merchant,
            "by": principal.label[:128],
            "reason": f"approved as {kind}" + ("" if complete else ", awaiting more approvals"),
        }
        if complete:
            event["expires"] = iso(expires)
        _ingest(state, event)  # in the ledger first: never in force without being there
        changed = row._replace(
            approvals_json=json.dumps(approvals), expires_us=expires, state=state_, changed_us=now
        )
        _update(state, changed)
        return grant_record(changed, policy).to_dict()

    return await locked(state, work)


class RevokeRequest(BaseModel):
    """Why the grant is revoked."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: Annotated[str, Field(min_length=1, max_length=256, pattern=r"\S")]


@router.post(
    "/{merchant}/grants/{grant_id}/revoke",
    responses={**NOT_FOUND, **_CONFLICT, **BAD_BODY},
    **guarded(Permission.GRANTS_APPROVE),
)
async def revoke_grant(
    merchant: _Id,
    grant_id: _Id,
    body: RevokeRequest,
    state: StateDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Revoke a grant, requested or approved: from now on no decision uses it."""
    policy = policy_or_503(state)

    def work() -> dict[str, Any]:
        now = state.clock()
        row = _grant_of(state, merchant, grant_id)
        if row.state not in ("requested", "approved"):
            raise HTTPException(409, f"grant {grant_id} is {row.state} already")
        _ingest(
            state,
            {
                "id": f"{grant_id}-revoked",
                "time": iso(now),
                "type": "grant.revoked",
                "grant": grant_id,
                "actor": row.actor,
                "merchant": merchant,
                "by": principal.label[:128],
                "reason": body.reason,
            },
        )
        changed = row._replace(state="revoked", changed_us=now)
        _update(state, changed)
        return grant_record(changed, policy).to_dict()

    return await locked(state, work)


def _update(state: Any, row: GrantRow) -> None:
    """Store the grant's approvals, expiry and state as ``row`` has them."""
    with state.store.writer() as w:
        w.update_grant(
            row.id,
            approvals_json=row.approvals_json,
            expires_us=row.expires_us,
            state=row.state,
            at_us=row.changed_us,
        )
