"""Grants in the console: the merchant page's panel (requests waiting for an answer, the grants'
history), one grant's page (``/merchants/{merchant}/grants/{id}``: its history, who saw it,
the accesses that used it; approve, deny, revoke) and the pages the one-time e-mail links open
(``/grant-links/{grant}/{token}/{approve|deny}``).

Every change goes through :mod:`sentinelle.guard.grants`, the workflow the API uses: the same
rules (nobody answers their own grant, only the approvals the policy asks for), the same
``grant.*`` events. Opening a request's page records who saw it (``seen``).

An e-mail link needs no session: its token is the proof. Opening it shows a confirmation page
and changes nothing (mail scanners open links); the button on that page acts, once, as the
merchant. The token is part of the path, so the access log's line of such a request is
rewritten without it (:class:`RedactLinks`, installed on ``uvicorn.access`` on import).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Final

import msgspec
from fastapi import APIRouter, Request, Response

from sentinelle.access import Permission
from sentinelle.api.deps import Reader, State, locked, reading
from sentinelle.api.routes.grants import Answer
from sentinelle.api.staff_view import STAFF, SeenGrant, StaffView
from sentinelle.errors import ConfigError, Error, NotFoundError
from sentinelle.guard import grants as workflow
from sentinelle.guard.grants import Actor, LinkError
from sentinelle.guard.mail import LINK_PATH
from sentinelle.guard.policy import Policy
from sentinelle.store.grants import GrantRow
from sentinelle.transparency.accesses import decode_access
from sentinelle.transparency.accesses import shown as shown_access
from sentinelle.web.common import (
    Viewer,
    form_fields,
    plain,
    posted,
    render,
    see_other,
    state_of,
    validated,
    viewer,
)

__all__ = ["RedactLinks", "grants_panel", "links", "router"]

router = APIRouter(include_in_schema=False)
#: The pages the e-mail links open: no session (the link's token is the proof).
links = APIRouter(include_in_schema=False)

HISTORY: Final = 50  # grants shown on the merchant page (the API pages through all)
USES: Final = 50  # accesses listed on a grant's page
_DONE: Final = {
    "approved": "Approved: the grant holds once every approval it needs is given.",
    "denied": "Denied: the request is closed and stays in the history.",
    "revoked": "Revoked: no decision uses this grant any more.",
}
_TOKEN_IN_PATH: Final = re.compile(rf"({re.escape(LINK_PATH)}/[^/\s]+/)[^/\s?]+")


class RedactLinks(logging.Filter):
    """Rewrites an access log record whose path holds an e-mail link's token: the token
    becomes ``…`` (uvicorn logs every request's path; a token there would be a live key)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record, without the token."""
        if isinstance(record.args, tuple) and any(
            isinstance(a, str) and LINK_PATH in a for a in record.args
        ):
            record.args = tuple(
                _TOKEN_IN_PATH.sub(r"\1…", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str) and LINK_PATH in record.msg:
            record.msg = _TOKEN_IN_PATH.sub(r"\1…", record.msg)
        return True


logging.getLogger("uvicorn.access").addFilter(RedactLinks())


def _policy(state: State) -> Policy | None:
    try:
        return state.guard_policy.get()
    except ConfigError:
        return None


def _deadline(row: GrantRow, approved: bool) -> tuple[str, str]:
    """What the grant's ``expires_us`` means in its state, as (the term, its label): a
    request's answer deadline, an approved grant's end; nothing for a request closed
    unanswered (denied, or expired before it was approved) or a revoked grant."""
    if row.state == "requested":
        return "answer by", "Answer by"
    if row.state == "approved":
        return "expires", "Expires"
    if row.state == "expired" and approved:
        return "expired", "Expired"
    return "", ""


def _view(row: GrantRow, policy: Policy | None, now_us: int) -> dict[str, Any]:
    """What a template shows of a grant."""
    approvals = row.approvals()
    approvers = list(policy.approvers_for(row.merchant)) if policy else []
    approved = bool(approvers) and {a.as_ for a in approvals} >= set(approvers)
    return {
        "row": row,
        "actions": json.loads(row.actions_json),
        "data": [d.replace("_", " ") for d in json.loads(row.categories_json)],
        "approvals": approvals,
        "approvers": approvers,
        "deadline": _deadline(row, approved),
        "left_s": (row.expires_us - now_us) / 1e6,
        "url": f"/merchants/{row.merchant}/grants/{row.id}",
    }


def _as_seen(shown: dict[str, Any], seen: SeenGrant) -> dict[str, Any]:
    """A template's view of a grant (:func:`_view`) as its viewer may see it (``seen``, from
    :meth:`StaffView.grants`): the grantee per policy (``who``: id or pseudonym, team, role,
    country), and staff who asked or approved as "platform staff" where they are hidden."""
    row: GrantRow = shown["row"]
    approvals = [
        a if by is not None else msgspec.structs.replace(a, by=STAFF)
        for a, by in zip(shown["approvals"], seen.approvals, strict=True)
    ]
    return {
        **shown,
        "row": row._replace(actor=seen.grantee.actor, requested_by=seen.requested_by or STAFF),
        "who": seen.grantee,
        "approvals": approvals,
    }


def _seen(
    view: StaffView, rows: Sequence[GrantRow], policy: Policy | None, now_us: int
) -> list[Any]:
    """:func:`_as_seen` of each of ``rows``."""
    return [
        _as_seen(_view(row, policy, now_us), seen)
        for row, seen in zip(rows, view.grants(rows), strict=True)
    ]


def _no_policy(seen: Viewer, then: str, *, sentence: bool = False) -> str:
    """Why nothing can be answered while the guard has no policy, as ``seen`` is told it
    (staff the setting to make, a merchant not the operator's configuration), followed by
    ``then``: a clause, or with ``sentence`` a sentence of its own."""
    if seen.principal.merchant:
        text = f"the platform has not set up its access policy: {then}"
    else:
        text = f"the guard has no policy (SENTINELLE_GUARD_POLICY): {then}"
    return f"{text[:1].upper()}{text[1:]}." if sentence else text


def _answers(seen: Viewer, policy: Policy | None, row: GrantRow) -> dict[str, str | None]:
    """Which answers the viewer may give, and why not: ``approve``/``deny`` → ``None``
    (allowed) or the reason; ``revoke`` likewise."""
    if policy is None:
        why = _no_policy(seen, "nothing can be answered")
        return {"approve": why, "deny": why, "revoke": why}
    if not seen.may(Permission.GRANTS_APPROVE, row.merchant):
        why = f"your role ({seen.principal.role.value}) does not answer grants"
        return {"approve": why, "deny": why, "revoke": why}
    me = Actor.of(seen.principal)
    approve = workflow.refusal(policy, row, me, approving=True)
    deny = workflow.refusal(policy, row, me, approving=False)
    return {
        "approve": None if approve is None else plain(approve),
        "deny": None if deny is None else plain(deny),
        # A request is answered by denying it; revoking ends an approved grant.
        "revoke": None if row.state == "approved" else f"the grant is {row.state}",
    }


def _counted(names: Iterable[str]) -> list[tuple[str, int]]:
    """Each of ``names`` once, in the order first seen, with how many times it came: people
    the viewer may not see by name are all "platform staff", one per person who opened it."""
    return list(Counter(names).items())


async def _sweep(state: State) -> None:
    """Expire what is due before showing grants (under the lock; with nothing due, the sweep
    is one probe of the ``(state, expires_us)`` index)."""
    await locked(state, lambda: workflow.expire(state.store, state.ledger, now_us=state.clock()))


async def grants_panel(request: Request, seen: Viewer, merchant: str) -> dict[str, Any] | None:
    """The merchant page's grants panel: the requests waiting for an answer (with the answers
    the viewer may give) and the newest grants with their use; ``None`` when the viewer may
    not read grants."""
    if not seen.may(Permission.GRANTS_READ, merchant):
        return None
    state = state_of(request)
    await _sweep(state)
    policy = _policy(state)
    now = state.clock()

    def work(r: Reader) -> dict[str, Any]:
        waiting = workflow.requests_waiting(r.store, merchant)
        page = workflow.grants_of_merchant(r.store, merchant, limit=HISTORY)
        view = StaffView.of(state, seen.principal, merchant, r.store)
        return {
            "waiting": [
                {**shown, "may": _answers(seen, policy, g)}
                for g, shown in zip(waiting, _seen(view, waiting, policy, now), strict=True)
            ],
            "history": [
                {**shown, "uses": r.store.grant_uses(g)}
                for g, shown in zip(page.grants, _seen(view, page.grants, policy, now), strict=True)
            ],
            "more": page.next is not None,
            "named": view.named,
        }

    panel = await reading(state, work)
    panel["no_policy"] = (
        _no_policy(seen, "requests cannot be answered here", sentence=True)
        if policy is None
        else None
    )
    return panel


@router.get("/merchants/{merchant}/grants/{grant_id}")
async def grant_page(request: Request, merchant: str, grant_id: str) -> Response:
    """One grant: what it allows, its history, who saw it, the accesses that used it, and the
    answers the viewer may give. Opening a request records that the viewer saw it."""
    seen = await viewer(request, Permission.GRANTS_READ, merchant=merchant)
    return await _grant(request, seen, merchant, grant_id, record_seen=True)


async def _grant(
    request: Request,
    seen: Viewer,
    merchant: str,
    grant_id: str,
    *,
    record_seen: bool = False,
    status_code: int = 200,
    error: str = "",
    kept: dict[str, str] | None = None,
) -> Response:
    """The grant's page; ``kept``: a refused answer's form fields (``answer`` names which
    form, ``reason`` its text), shown again as they were sent."""
    state = state_of(request)
    await _sweep(state)
    if record_seen:

        def mark() -> bool:
            row = state.store.grant(grant_id)
            if row is None or row.merchant != merchant or row.state != "requested":
                return False
            workflow.mark_seen(state.store, grant_id, by=seen.principal.label, now_us=state.clock())
            return True

        await locked(state, mark)
    policy = _policy(state)
    now = state.clock()

    def work(r: Reader) -> dict[str, Any] | None:
        try:
            history = workflow.grant_history(r.store, merchant, grant_id)
        except NotFoundError:
            return None
        view = StaffView.of(state, seen.principal, merchant, r.store)
        bodies = [body for _seq, body in r.store.grant_accesses(history.grant, limit=USES)]
        # Each use as the merchant's accesses list shows it (the same pseudonym that day).
        uses = [
            shown_access(
                decode_access(body),
                merchant=merchant,
                name_staff=view.named,
                pseudonyms=view.pseudonyms,
                approvals=lambda _grant: None,  # the page shows the grant's approvals above
            )
            for body in bodies
        ]
        # The newest use gives the grantee's team, role and country: not read twice.
        seen_grant = view.grant(history.grant, newest=bodies[0] if bodies else None)
        grant = _as_seen(_view(history.grant, policy, now), seen_grant)
        shown = dataclasses.replace(
            history,
            grant=grant["row"],
            steps=tuple(dataclasses.replace(step, by=view.name(step.by)) for step in history.steps),
            seen_by=tuple(view.name(who) for who in history.seen_by),
        )
        return {
            "history": shown,
            "seen_by": _counted(shown.seen_by),
            "uses": uses,
            "grant": grant,
            "row": history.grant,
        }

    found = await reading(state, work)
    if found is None:
        return render(
            "missing.html", 404, viewer=seen, message=f"There is no grant {grant_id!r} here."
        )
    row = found["row"]  # as stored: who may answer is decided on it, not on what is shown
    return render(
        "grant.html",
        status_code,
        viewer=seen,
        section="/merchants",
        merchant=merchant,
        grant=found["grant"],
        history=found["history"],
        seen_by=found["seen_by"],
        uses=found["uses"],
        may=_answers(seen, policy, row),
        notice=_DONE.get(request.query_params.get("done", ""), ""),
        error=error,
        kept=kept or {},
    )


@router.post("/merchants/{merchant}/grants/{grant_id}/{answer}")
async def answer_grant(request: Request, merchant: str, grant_id: str, answer: str) -> Response:
    """Approve (with the confirmation ticked), deny or revoke (with a reason), then back to the
    grant's page; a refusal shows the page again with what was wrong."""
    seen = await viewer(request, Permission.GRANTS_APPROVE, merchant=merchant)
    if answer not in workflow.ANSWERS:
        return render("missing.html", 404, viewer=seen, message="There is no such answer.")
    fields = dict(await posted(request, seen))
    state = state_of(request)
    policy = _policy(state)
    if policy is None:
        return await _grant(
            request, seen, merchant, grant_id, status_code=503,
            error=_no_policy(seen, "nothing can be answered", sentence=True),
        )  # fmt: skip
    reason = ""
    if answer == "approve":
        confirmed = fields.get("confirm") == "yes"
        problem = "" if confirmed else "Confirm: tick the box to confirm the approval"
    else:  # the reason as the API's body has it, held to the same rules
        body, problems = validated(
            Answer, {"reason": fields.get("reason", "")}, {"reason": "Reason"}
        )
        problem = "; ".join(problems)
        reason = body.reason if body is not None else ""
    # A refused answer's page keeps what was typed, in the form it came from.
    kept = {"answer": answer, "reason": fields.get("reason", "")}
    if problem:
        return await _grant(
            request, seen, merchant, grant_id, status_code=422, error=problem, kept=kept
        )
    me = Actor.of(seen.principal)

    def work() -> GrantRow:
        return workflow.answer(
            state.store, state.ledger, policy, merchant, grant_id, me, answer,
            reason=reason, now_us=state.clock(),
        )  # fmt: skip

    try:
        await locked(state, work)
    except NotFoundError:
        return render(
            "missing.html", 404, viewer=seen, message=f"There is no grant {grant_id!r} here."
        )
    except Error as exc:
        status = 403 if isinstance(exc, workflow.SelfApprovalError) else 409
        return await _grant(
            request, seen, merchant, grant_id, status_code=status, error=plain(exc), kept=kept
        )
    done = {"approve": "approved", "deny": "denied", "revoke": "revoked"}[answer]
    return see_other(f"/merchants/{merchant}/grants/{grant_id}?done={done}")


# -- the one-time e-mail links -----------------------------------------------------------------


@links.get(LINK_PATH + "/{grant_id}/{token}/{action}")
async def link_page(request: Request, grant_id: str, token: str, action: str) -> Response:
    """What an e-mail link opens: the request and a button to confirm the answer. Changes
    nothing (a mail scanner may open it)."""
    return await _link(request, grant_id, token, action)


@links.post(LINK_PATH + "/{grant_id}/{token}/{action}")
async def link_answer(request: Request, grant_id: str, token: str, action: str) -> Response:
    """The merchant's confirmed answer through the link: approve or deny, once."""
    fields = await form_fields(request)
    if fields is None:
        return await _link(request, grant_id, token, action, status_code=400,
                           error="The form could not be read.")  # fmt: skip
    reason = ""
    if action == "deny":  # held to the API's and the console's rules (length, NUL)
        body, problems = validated(
            Answer, {"reason": dict(fields).get("reason", "")}, {"reason": "Reason"}
        )
        if body is None:
            return await _link(request, grant_id, token, action, status_code=422,
                               error="; ".join(problems))  # fmt: skip
        reason = body.reason.strip()
    state = state_of(request)
    policy = _policy(state)
    if policy is None or action not in ("approve", "deny"):
        return await _link(request, grant_id, token, action, status_code=404)

    def work() -> GrantRow:
        now = state.clock()
        link = workflow.check_link(state.store, grant_id, token, now_us=now)
        return workflow.answer(
            state.store, state.ledger, policy, link.merchant, grant_id,
            Actor.by_link(link.merchant), action, reason=reason, now_us=now, link=link,
        )  # fmt: skip

    try:
        row = await locked(state, work)
    except LinkError as exc:
        return _link_refused(exc)
    except Error as exc:
        return render("grant_link.html", 409, problem=plain(exc), kind="refused", action=action)
    now = state.clock()
    shown = await reading(
        state,
        lambda r: _seen(StaffView.of_merchant(state, row.merchant, r.store), [row], policy, now)[0],
    )
    return render("grant_link.html", done=action, grant=shown)


async def _link(
    request: Request,
    grant_id: str,
    token: str,
    action: str,
    *,
    status_code: int = 200,
    error: str = "",
) -> Response:
    state = state_of(request)
    if action not in ("approve", "deny"):
        return render("grant_link.html", 404, problem="This link is damaged.", kind="damaged")
    policy = _policy(state)
    now = state.clock()

    def work(r: Reader) -> tuple[GrantRow, dict[str, Any]] | LinkError:
        try:
            link = workflow.check_link(r.store, grant_id, token, now_us=now)
        except LinkError as exc:
            return exc
        row = r.store.grant(link.grant_id)
        if row is None or row.merchant != link.merchant:
            return LinkError("tampered", "This link does not belong to a request of yours.")
        # The merchant, as its page shows staff (the link's reader is the merchant).
        view = StaffView.of_merchant(state, row.merchant, r.store)
        return row, _seen(view, [row], policy, now)[0]

    read = await reading(state, work)
    if isinstance(read, LinkError):
        return _link_refused(read)
    found, shown = read
    if found.state != "requested" or now >= found.expires_us:
        state_now = found.state if found.state != "requested" else "expired"
        return render(
            "grant_link.html", 409, kind="closed", action=action,
            problem=f"This request is {state_now}: there is nothing to answer any more.",
        )  # fmt: skip
    return render(
        "grant_link.html",
        status_code,
        action=action,
        grant=shown,
        error=error,
        post_url=request.url.path,
    )


def _link_refused(exc: LinkError) -> Response:
    status = 410 if exc.kind in ("expired", "used") else 404
    return render("grant_link.html", status, problem=str(exc), kind=exc.kind)
