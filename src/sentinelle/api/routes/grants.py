"""Just-in-time grants over HTTP, thin: the workflow is :mod:`sentinelle.guard.grants`.

Requested (``grants:request``: the guard for its actors, responders, DPOs, admins); approved,
denied and revoked (``grants:approve``: the grant's merchant — its own merchant's grants only
— or a staff member as the second approver the policy asks for); read (``grants:read``: the
merchant its own, staff any; one actor's grants at every merchant: ``actors:read``, since a
person's grants are part of their profile).

Nobody answers their own grant (403); an approval the policy does not ask for, a second one of
a kind, or an answer to a grant not ``requested`` is a 409. Every change is a ``grant.*``
context event in the ledger before the row changes. Writes run one at a time (the process's
lock); each first expires what is due (``grant.expired``), as listing does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sentinelle.access import Permission, Principal
from sentinelle.api.deps import (
    CurrentPrincipal,
    GuardedRoute,
    Reader,
    State,
    StateDep,
    guarded,
    locked,
    reading,
)
from sentinelle.api.responses import BAD_BODY, NOT_FOUND, ErrorBody
from sentinelle.api.routes.guard import policy_or_503
from sentinelle.api.staff_view import StaffView
from sentinelle.events.model import Action, DataCategory
from sentinelle.guard import grants as workflow
from sentinelle.guard.decide import NUL_PROBLEM
from sentinelle.guard.grants import Actor, GrantAsk, GrantInputError, GrantPage, GrantStateError
from sentinelle.guard.mail import MailOutcome, send_links
from sentinelle.guard.policy import Policy
from sentinelle.guard.service import grant_detail, grant_record

__all__ = ["requests", "router"]

requests = APIRouter(prefix="/v1/grants", tags=["grants"], route_class=GuardedRoute)
router = APIRouter(prefix="/v1/merchants", tags=["grants"], route_class=GuardedRoute)

_T = TypeVar("_T")


def _storable(value: str) -> str:
    """Refuse a NUL character here, naming the request's field: the ``grant.*`` event would
    carry it, and the ledger cannot store it (its refusal would name the event's field)."""
    if "\x00" in value:
        raise ValueError(NUL_PROBLEM)
    return value


_Storable = AfterValidator(_storable)
_Id = Annotated[str, Field(min_length=1, max_length=128), _Storable]
_PathId = Annotated[str, Field(min_length=1, max_length=128)]
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The grant's state does not allow it"}
}
# A page's cursor, as the previous page's ``next`` gave it: "<requested_us>.<grant id>".
_Cursor = Annotated[str | None, Query(pattern=r"^[0-9]{1,19}\.[!-~]{1,128}$")]
_Reason = Annotated[str, Field(min_length=1, max_length=256, pattern=r"\S"), _Storable]


class GrantRequest(BaseModel):
    """A grant asked for ``actor`` at ``merchant``: what it may do (``actions``), to which
    data (``data``), for how many records at most, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    actor: _Id
    merchant: _Id
    actions: Annotated[list[Action], Field(min_length=1, max_length=6)]
    data: Annotated[list[DataCategory], Field(min_length=1, max_length=12)]
    max_records: Annotated[int, Field(ge=1, le=2**53 - 1)] = 1
    purpose: Annotated[str, Field(min_length=1, max_length=64), _Storable] | None = None
    reason: _Reason
    ticket: _Id | None = None

    def ask(self) -> GrantAsk:
        """The workflow's request."""
        return GrantAsk(
            actor=self.actor,
            merchant=self.merchant,
            actions=tuple(self.actions),
            data=tuple(self.data),
            reason=self.reason,
            max_records=self.max_records,
            purpose=self.purpose,
            ticket=self.ticket,
        )


class Answer(BaseModel):
    """Why the grant is denied or revoked."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: _Reason


async def _change(state: State, work: Callable[[], _T]) -> _T:
    """Run a workflow change under the process's lock; its refusals as HTTP answers (not
    found and self-approval are mapped by the app: 404, 403)."""
    try:
        return await locked(state, work)
    except GrantStateError as exc:
        raise HTTPException(409, exc.diagnostics()) from None
    except GrantInputError as exc:
        raise HTTPException(422, exc.diagnostics()) from None


@requests.post("", status_code=201, responses=BAD_BODY, **guarded(Permission.GRANTS_REQUEST))
async def request_grant(
    body: GrantRequest, state: StateDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Ask for a grant. It waits for the approvals the policy requires for its merchant
    (``approvers``) until its deadline (``expires``: ``approval.request_hours`` from now);
    unanswered, it expires. When the merchant's approval is needed and mail is set up, the
    merchant is e-mailed a pair of one-time links (``email`` says whether it was)."""
    policy = policy_or_503(state)
    now = state.clock()
    row = await _change(
        state,
        lambda: workflow.request(
            state.store, state.ledger, policy, body.ask(), by=principal.label[:128], now_us=now
        ),
    )
    mail = MailOutcome(False, "no merchant approval is needed")
    if "merchant" in policy.approvers_for(row.merchant):
        mail = await run_in_threadpool(
            lambda: send_links(
                state.settings, state.store, policy, row, now_us=now, locked=lambda: state.lock
            )
        )
    return {**grant_record(row, policy).to_dict(), "email": mail.to_dict()}


@requests.get("", responses=BAD_BODY, **guarded(Permission.ACTORS_READ))
async def grants_of_actor(
    state: StateDep,
    principal: CurrentPrincipal,
    actor: Annotated[str, Query(min_length=1, max_length=128)],
    cursor: _Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """One actor's grants at every merchant, newest request first (``next``: the cursor of
    the next page)."""
    policy = policy_or_503(state)
    view = StaffView.of(state, principal, "", state.store)  # staff only: names
    return await _listed(
        state,
        lambda: _page(
            workflow.grants_of_actor(state.store, actor, cursor=cursor, limit=limit),
            policy,
            view,
        ),
    )


@router.get("/{merchant}/grants", responses=BAD_BODY, **guarded(Permission.GRANTS_READ))
async def grants_of_merchant(
    merchant: _PathId,
    state: StateDep,
    principal: CurrentPrincipal,
    cursor: _Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The merchant's grants, newest request first, requested, approved or ended (denied,
    revoked, expired: they stay in history). ``next``: the cursor of the next page.

    A merchant sees staff as its accesses list does (``merchant_staff_identity``): by default
    the grantee by pseudonym, team, role and country (``actor_shown``), and no staff member's
    name where one asked, approved or saw (``null``)."""
    policy = policy_or_503(state)
    view = StaffView.of(state, principal, merchant, state.store)
    return await _listed(
        state,
        lambda: _page(
            workflow.grants_of_merchant(state.store, merchant, cursor=cursor, limit=limit),
            policy,
            view,
        ),
    )


@router.get("/{merchant}/grants/{grant_id}", responses=NOT_FOUND, **guarded(Permission.GRANTS_READ))
async def grant_of_merchant(
    merchant: _PathId, grant_id: _PathId, state: StateDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """One grant with its history, oldest first: its ``grant.*`` events and the steps around
    them (who saw the request, e-mail links sent and used), who saw it (``seen_by``), and how
    many recorded accesses cite it (``uses``). Staff shown per policy, as in the list."""
    policy = policy_or_503(state)
    view = StaffView.of(state, principal, merchant, state.store)

    def read() -> dict[str, Any]:
        history = workflow.grant_history(state.store, merchant, grant_id)
        return view.record(grant_detail(history, policy), view.grant(history.grant))

    return await _listed(state, read)


async def _listed(state: State, read: Callable[[], _T]) -> _T:
    """A read of grants, after expiring what is due (under the lock; with nothing due, the
    sweep is one probe of the ``(state, expires_us)`` index)."""

    def work() -> _T:
        workflow.expire(state.store, state.ledger, now_us=state.clock())
        return read()

    return await _change(state, work)


def _page(page: GrantPage, policy: Policy, view: StaffView) -> dict[str, Any]:
    return {
        "grants": view.records([grant_record(g, policy) for g in page.grants], page.grants),
        "next": page.next,
    }


@router.post(
    "/{merchant}/grants/{grant_id}/approve",
    responses={**NOT_FOUND, **_CONFLICT},
    **guarded(Permission.GRANTS_APPROVE),
)
async def approve_grant(
    merchant: _PathId, grant_id: _PathId, state: StateDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Approve a requested grant: as the merchant (a merchant's key or account, of this
    merchant) or as a second staff member (any other role that may approve), when the policy
    asks for that approval. With every approval it needs, it is ``approved`` and holds for the
    merchant's grant duration from now."""
    return await _answer(state, principal, merchant, grant_id, "approve")


@router.post(
    "/{merchant}/grants/{grant_id}/deny",
    responses={**NOT_FOUND, **_CONFLICT, **BAD_BODY},
    **guarded(Permission.GRANTS_APPROVE),
)
async def deny_grant(
    merchant: _PathId,
    grant_id: _PathId,
    body: Answer,
    state: StateDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Deny a requested grant (``grant.denied``), as an approver the policy asks for and never
    the grantee or requester: it is ``denied`` and stays in history."""
    return await _answer(state, principal, merchant, grant_id, "deny", body.reason)


@router.post(
    "/{merchant}/grants/{grant_id}/revoke",
    responses={**NOT_FOUND, **_CONFLICT, **BAD_BODY},
    **guarded(Permission.GRANTS_APPROVE),
)
async def revoke_grant(
    merchant: _PathId,
    grant_id: _PathId,
    body: Answer,
    state: StateDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Revoke a grant, requested or approved: from now on no decision uses it."""
    return await _answer(state, principal, merchant, grant_id, "revoke", body.reason)


async def _answer(
    state: State,
    principal: Principal,
    merchant: str,
    grant_id: str,
    verb: str,
    reason: str = "",
) -> dict[str, Any]:
    """Answer the grant through :func:`sentinelle.guard.grants.answer`, as the principal."""
    policy = policy_or_503(state)
    row = await _change(
        state,
        lambda: workflow.answer(
            state.store,
            state.ledger,
            policy,
            merchant,
            grant_id,
            Actor.of(principal),
            verb,
            reason=reason,
            now_us=state.clock(),
        ),  # fmt: skip
    )

    def shown(r: Reader) -> dict[str, Any]:
        view = StaffView.of(state, principal, merchant, r.store)
        return view.record(grant_record(row, policy), view.grant(row))

    return await reading(state, shown)
