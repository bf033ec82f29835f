"""The grant workflow: one typed path for every way a just-in-time grant changes.

A grant is *requested* (by the guard for its actors, or by staff), then *approved* by whoever
the policy asks for (the merchant, and a second staff member where the policy says so) or
*denied*; an approved grant is *revoked* or runs out; a request nobody answered *expires*
after ``policy.approval.request_us``. The API routes (:mod:`sentinelle.api.routes.grants`),
the console's pages (:mod:`sentinelle.web.pages.grants`), the signed e-mail links and the
automatic response (:func:`revoke_all`) all change grants through here, so every path obeys
the same rules:

* **nobody approves or denies their own grant**: the approver is neither the grantee nor
  whoever requested it, compared by key label, account and name (case-insensitively, and an
  account's e-mail by its local part too) — :class:`SelfApprovalError`;
* only the approvals the policy asks for, one of each kind, and only of a ``requested`` grant
  — :class:`GrantStateError`;
* every change is a ``grant.*`` context event written to the ledger (through
  :class:`~sentinelle.ingest.Ingestor`) **before** the grant's row changes: a grant is never
  in force without being in the ledger. Event ids are derived from the grant and the change
  (``g-…-approved-merchant``, ``g-…-denied``, ``g-…-revoked``, ``g-…-expired``), so a retry
  after a failure between the two writes records the change once.

The human steps around a grant that are not changes — who opened the request (``seen``), the
e-mail links sent and used — go to ``guard_log``; with the grant's events they are its
history (:func:`grant_history`), kept after it ended.

No HTTP and no locking here: callers serialise writes (the API's and console's
``state.lock``; the store's own write lock between processes, and ``update_grant(was=…)``
refuses a row another process changed meanwhile).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any, Final

from sentinelle.access import ForbiddenError, Principal, Role
from sentinelle.errors import Error, NotFoundError
from sentinelle.events import ContextEvent, decode_event
from sentinelle.guard.policy import Approver, Policy
from sentinelle.ingest import Ingestor
from sentinelle.ledger.log import Ledger
from sentinelle.store import Store
from sentinelle.store.grants import GrantApproval, GrantRow, LinkRow, approvals_json
from sentinelle.store.guardlog import GuardLogRow
from sentinelle.timeutil import iso

__all__ = [
    "ANSWERS",
    "LIVE",
    "SWEEP_LIMIT",
    "SYSTEM",
    "Actor",
    "GrantAsk",
    "GrantError",
    "GrantHistory",
    "GrantInputError",
    "GrantNotFoundError",
    "GrantPage",
    "GrantStateError",
    "LinkError",
    "SelfApprovalError",
    "Step",
    "answer",
    "approve",
    "check_link",
    "deny",
    "expire",
    "grant_history",
    "grants_of_actor",
    "grants_of_merchant",
    "hash_token",
    "log_step",
    "mark_seen",
    "new_link",
    "refusal",
    "request",
    "requests_waiting",
    "revoke",
    "revoke_all",
]

#: Who expires grants, in events and the guard log.
SYSTEM: Final = "sentinelle"
#: The states in which a grant may still hold (or be approved).
LIVE: Final = ("requested", "approved")
#: What a person answers to a grant: approve or deny a request, revoke a live grant.
ANSWERS: Final = ("approve", "deny", "revoke")
#: How many grants one expiry sweep changes at most (the next sweep takes the rest).
SWEEP_LIMIT: Final = 500
_BY: Final = 128  # the longest "by" of a context event
_REASON: Final = 256
_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 bytes, url-safe base64 without padding


class GrantError(Error):
    """A grant change was refused (the subclasses say why)."""


class GrantNotFoundError(NotFoundError):
    """No such grant at this merchant (another merchant's is not found either)."""


class SelfApprovalError(ForbiddenError):
    """The approver is the grantee or whoever requested the grant."""


class GrantStateError(GrantError):
    """The grant's state does not allow the change: not a request any more, an approval the
    policy does not ask for, or one it already has."""


class GrantInputError(GrantError):
    """A request was refused: ``field`` names what is wrong; nothing was written."""

    def __init__(self, field_: str, message: str) -> None:
        self.field = field_
        super().__init__(f"{field_}: {message}")


class LinkError(GrantError):
    """An e-mail approval link was refused; ``kind`` says why: ``damaged``, ``unknown``,
    ``tampered``, ``expired`` or ``used``. Nothing was changed."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who approves, denies or revokes: ``label`` as recorded (``by``), ``kind`` the approval it
    gives (``merchant`` for a merchant's key, account or e-mail link, else ``staff``) and the
    ``names`` a grantee or requester is compared with."""

    label: str
    kind: Approver
    names: frozenset[str]
    merchant: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        """The principal of an API call or console session."""
        kind: Approver = "merchant" if principal.role is Role.MERCHANT else "staff"
        return cls(
            label=principal.label[:_BY],
            kind=kind,
            names=_names(principal.name, principal.label),
            merchant=principal.merchant,
        )

    @classmethod
    def by_link(cls, merchant: str) -> Actor:
        """The merchant, acting through a one-time e-mail link sent to its address."""
        label = f"merchant:{merchant} (e-mail link)"[:_BY]
        return cls(label=label, kind="merchant", names=_names(label), merchant=merchant)


def _names(*names: str) -> frozenset[str]:
    """The forms a name is compared in: case-folded, and an e-mail's local part too (an
    account ``agent-1@shop.example`` is the grantee ``agent-1``)."""
    found: set[str] = set()
    for name in names:
        folded = name.strip().casefold()
        found.add(folded)
        if folded.startswith("key:"):
            found.add(folded[4:])
        if "@" in folded:
            found.add(folded.split("@", 1)[0])
    return frozenset(n for n in found if n)


@dataclass(frozen=True, slots=True)
class GrantAsk:
    """A grant asked for ``actor`` at ``merchant``: what it may do, to which data, for how
    many records at most, and why (a reason; a ticket and a purpose if any)."""

    actor: str
    merchant: str
    actions: tuple[str, ...]
    data: tuple[str, ...]
    reason: str
    max_records: int = 1
    purpose: str | None = None
    ticket: str | None = None


# -- changes ---------------------------------------------------------------------------------


def request(
    store: Store,
    ledger: Ledger,
    policy: Policy,
    ask: GrantAsk,
    *,
    by: str,
    now_us: int,
) -> GrantRow:
    """Record the request ``ask`` made by ``by``: ``requested``, to be answered within
    ``policy.approval.request_us``. Raises :class:`GrantInputError` naming the field (nothing
    written) for a purpose the policy does not know."""
    if ask.purpose is not None and ask.purpose not in policy.purposes:
        raise GrantInputError("purpose", f'"{ask.purpose}" is not a purpose of the policy')
    expire(store, ledger, now_us=now_us)
    grant_id = "g-" + secrets.token_hex(8)
    deadline = now_us + policy.approval.request_us
    event = _event(grant_id, "requested", ask.actor, ask.merchant, by, ask.reason, now_us)
    event["expires"] = iso(deadline)
    if ask.ticket is not None:
        event["ticket"] = ask.ticket
    _record(store, ledger, [event])
    row = GrantRow(
        grant_id, ask.actor, ask.merchant, json.dumps(sorted(set(ask.actions))),
        json.dumps(sorted(set(ask.data))), ask.max_records, ask.purpose, ask.reason,
        ask.ticket, by, now_us, "[]", deadline, "requested", now_us,
    )  # fmt: skip
    with store.writer() as w:
        w.insert_grant(row)
    return row


def approve(
    store: Store,
    ledger: Ledger,
    policy: Policy,
    merchant: str,
    grant_id: str,
    approver: Actor,
    *,
    now_us: int,
    link: LinkRow | None = None,
) -> GrantRow:
    """Add ``approver``'s approval (as ``merchant`` or ``staff``) to a requested grant; with
    every approval its merchant's policy asks for, it is ``approved`` and lives
    ``policy.grant_duration_us(merchant)`` from now. ``link``: the e-mail link used (it dies
    with its pair, in the same transaction as the grant's row).

    Raises :class:`GrantNotFoundError`, :class:`SelfApprovalError` or
    :class:`GrantStateError` (an approval not asked for, one it has, a grant not requested).
    """
    expire(store, ledger, now_us=now_us)
    row = _grant_at(store, merchant, grant_id)
    _raise(refusal(policy, row, approver, approving=True))
    required = policy.approvers_for(merchant)
    approvals = [*row.approvals(), GrantApproval(approver.kind, approver.label, now_us)]
    complete = {a.as_ for a in approvals} >= set(required)
    expires = now_us + policy.grant_duration_us(merchant) if complete else row.expires_us
    reason = f"approved as {approver.kind}" + ("" if complete else ", awaiting more approvals")
    event = _event(
        grant_id, f"approved-{approver.kind}", row.actor, merchant, approver.label, reason, now_us
    )
    if complete:
        event["expires"] = iso(expires)
    _record(store, ledger, [event])  # in the ledger first: never in force without being there
    changed = row._replace(
        approvals_json=approvals_json(approvals),
        expires_us=expires,
        state="approved" if complete else "requested",
        changed_us=now_us,
    )
    _store(store, row, changed, link=link, used_as="approved")
    return changed


def deny(
    store: Store,
    ledger: Ledger,
    policy: Policy,
    merchant: str,
    grant_id: str,
    approver: Actor,
    *,
    reason: str,
    now_us: int,
    link: LinkRow | None = None,
) -> GrantRow:
    """Refuse a requested grant (``grant.denied``): it is ``denied`` and stays in history. Only
    an approver the policy asks for may deny (the merchant, or the staff approver where the
    policy asks for one), never the grantee or the requester.

    Raises as :func:`approve`.
    """
    expire(store, ledger, now_us=now_us)
    row = _grant_at(store, merchant, grant_id)
    _raise(refusal(policy, row, approver, approving=False))
    _record(
        store,
        ledger,
        [_event(grant_id, "denied", row.actor, merchant, approver.label, reason, now_us)],
    )
    changed = row._replace(state="denied", changed_us=now_us)
    _store(store, row, changed, link=link, used_as="denied")
    return changed


def revoke(
    store: Store,
    ledger: Ledger,
    merchant: str,
    grant_id: str,
    *,
    by: str,
    reason: str,
    now_us: int,
) -> GrantRow:
    """Revoke a grant, requested or approved (``grant.revoked``): from now on no decision uses
    it. Revoking needs no approval and may be done by anyone allowed to answer (the grantee
    giving it up included). Raises :class:`GrantNotFoundError` or :class:`GrantStateError`."""
    expire(store, ledger, now_us=now_us)
    row = _grant_at(store, merchant, grant_id)
    if row.state not in LIVE:
        raise GrantStateError(f"grant {grant_id} is {row.state} already")
    return _revoke(store, ledger, [row], by=by, reason=reason, now_us=now_us)[0]


def answer(
    store: Store,
    ledger: Ledger,
    policy: Policy,
    merchant: str,
    grant_id: str,
    approver: Actor,
    verb: str,
    *,
    reason: str = "",
    now_us: int,
    link: LinkRow | None = None,
) -> GrantRow:
    """Answer the grant as ``approver``: ``verb`` is one of :data:`ANSWERS` (:func:`approve`,
    :func:`deny` with ``reason``, or :func:`revoke` with ``reason``, by ``approver.label``).
    The API's routes, the console's forms and the e-mail links (``link``: the one used; a
    link approves or denies only) all answer through here.

    Raises as :func:`approve`, :func:`deny` and :func:`revoke`; :class:`GrantInputError` for
    another ``verb``.
    """
    if verb == "approve":
        return approve(
            store, ledger, policy, merchant, grant_id, approver, now_us=now_us, link=link
        )
    if verb == "deny":
        return deny(
            store, ledger, policy, merchant, grant_id, approver,
            reason=reason, now_us=now_us, link=link,
        )  # fmt: skip
    if verb == "revoke" and link is None:
        return revoke(
            store, ledger, merchant, grant_id, by=approver.label, reason=reason, now_us=now_us
        )
    raise GrantInputError("answer", f'"{verb}" is not an answer here')


def revoke_all(
    store: Store, ledger: Ledger, actor: str, *, by: str, reason: str, now_us: int
) -> list[str]:
    """Revoke every live grant of ``actor`` (requested or approved, not expired at
    ``now_us``), at every merchant: one ``grant.revoked`` event each, all in one ledger
    write, then the rows. Returns the ids revoked (none: ``[]``); calling it again revokes
    nothing more. The automatic response calls this when it suspends an actor."""
    rows = store.live_grants_of_actor(actor, now_us=now_us)
    return [r.id for r in _revoke(store, ledger, rows, by=by, reason=reason, now_us=now_us)]


def _revoke(
    store: Store, ledger: Ledger, rows: Sequence[GrantRow], *, by: str, reason: str, now_us: int
) -> list[GrantRow]:
    events = [_event(r.id, "revoked", r.actor, r.merchant, by, reason, now_us) for r in rows]
    _record(store, ledger, events)
    changed = [r._replace(state="revoked", changed_us=now_us) for r in rows]
    with store.writer() as w:
        for old, new in zip(rows, changed, strict=True):
            _update(w, old, new)
    return changed


def expire(store: Store, ledger: Ledger, *, now_us: int, limit: int = SWEEP_LIMIT) -> list[str]:
    """Expire what is due at ``now_us``: requests nobody answered by their deadline, and
    approved grants past their expiry. Each gets one ``grant.expired`` event (all in one
    ledger write) and the state ``expired``; a request stays in history with who saw it.
    Returns the ids expired, at most ``limit`` (the next sweep takes the rest). Reads two
    ranges of the ``(state, expires_us)`` index: cheap when nothing is due."""
    rows = store.grants_due(now_us, limit=limit)
    if not rows:
        return []
    events = []
    for r in rows:
        if r.state == "requested":
            why = "nobody answered the request before its deadline"
        else:
            why = "the grant's time ran out"
        event = _event(r.id, "expired", r.actor, r.merchant, SYSTEM, why, r.expires_us)
        event["expires"] = iso(r.expires_us)
        events.append(event)
    # Each at its own deadline (not the sweep's time): a grant no longer held from then on.
    _record(store, ledger, events)
    with store.writer() as w:
        for r, event in zip(rows, events, strict=True):
            _update(w, r, r._replace(state="expired", changed_us=now_us))
            w.log_guard(
                [GuardLogRow(f"{r.id}-expired", now_us, r.id, "expired", SYSTEM, event["reason"])]
            )
    return [r.id for r in rows]


def refusal(
    policy: Policy, row: GrantRow, approver: Actor, *, approving: bool
) -> GrantError | ForbiddenError | NotFoundError | None:
    """Why ``approver`` may not approve (``approving``) or deny the grant ``row``, as the
    error :func:`approve` or :func:`deny` would raise; ``None`` if they may. The console asks
    this to offer only the answers that would be taken."""
    if approver.kind == "merchant" and approver.merchant != row.merchant:
        # authorize() refuses another merchant's principal already: never rely on one check.
        return GrantNotFoundError(f"no grant {row.id} at merchant {approver.merchant}")
    if _names(row.actor, row.requested_by) & approver.names:
        return SelfApprovalError(
            f"{approver.label} may not answer grant {row.id}: the approver must be neither "
            "the grantee nor whoever requested it"
        )
    if row.state != "requested":
        return GrantStateError(f"grant {row.id} is {row.state}: only a request is answered")
    required = policy.approvers_for(row.merchant)
    if approver.kind not in required:
        return GrantStateError(
            f"merchant {row.merchant}'s grants are answered by {' and '.join(required)}, "
            f"not {approver.kind}"
        )
    if approving and any(a.as_ == approver.kind for a in row.approvals()):
        return GrantStateError(f"grant {row.id} already has its {approver.kind} approval")
    return None


def _raise(error: Exception | None) -> None:
    if error is not None:
        raise error


def _grant_at(store: Store, merchant: str, grant_id: str) -> GrantRow:
    row = store.grant(grant_id)
    if row is None or row.merchant != merchant:
        raise GrantNotFoundError(f"no grant {grant_id} at merchant {merchant}")
    return row


def _event(
    grant_id: str, change: str, actor: str, merchant: str, by: str, reason: str, at_us: int
) -> dict[str, Any]:
    """A ``grant.*`` context event; its id is derived from the grant and the change, so a
    retry records it once."""
    return {
        "id": f"{grant_id}-{change}",
        "time": iso(at_us),
        "type": "grant." + change.split("-", 1)[0],
        "grant": grant_id,
        "actor": actor,
        "merchant": merchant,
        "by": by[:_BY],
        "reason": reason[:_REASON],
    }


def _record(store: Store, ledger: Ledger, events: list[dict[str, Any]]) -> None:
    """Write ``events`` to the ledger, as one batch (an id already there is kept once)."""
    if events:
        Ingestor(store, ledger).ingest(
            [(i, json.dumps(e)) for i, e in enumerate(events)], unit="index"
        )


def _update(w: Any, old: GrantRow, new: GrantRow) -> None:
    """Store ``new`` over ``old``, if nobody changed ``old`` meanwhile (another process)."""
    if not w.update_grant(
        new.id,
        approvals_json=new.approvals_json,
        expires_us=new.expires_us,
        state=new.state,
        at_us=new.changed_us,
        was=old.state,
    ):
        raise GrantStateError(f"grant {old.id} changed meanwhile: look at it again")


def _store(
    store: Store, old: GrantRow, new: GrantRow, *, link: LinkRow | None, used_as: str
) -> None:
    with store.writer() as w:
        _update(w, old, new)
        if link is not None:
            # The link and its pair die with the change they made, in the same transaction.
            w.use_approval_links(old.id, at_us=new.changed_us, used_as=used_as)
            step = GuardLogRow(
                f"{old.id}-link-used", new.changed_us, old.id, "link_used",
                f"merchant:{link.merchant} (e-mail link)", f"{used_as} through the e-mail link",
            )  # fmt: skip
            w.log_guard([step])


# -- e-mail links ----------------------------------------------------------------------------


def hash_token(token: str) -> str:
    """The SHA-256 (hex) of a link's token: all that is stored of it."""
    return sha256(token.encode()).hexdigest()


def new_link(store: Store, policy: Policy, row: GrantRow, *, now_us: int) -> tuple[str, LinkRow]:
    """A one-time approval link's token for the requested grant ``row``, bound to it and its
    merchant, valid ``policy.approval.link_us`` (never past the request's deadline): 32
    random bytes, url-safe, with the link stored. Only its SHA-256 is stored; the token is
    returned once, to be e-mailed, and never logged."""
    token = secrets.token_urlsafe(32)
    expires = min(now_us + policy.approval.link_us, row.expires_us)
    link = LinkRow(hash_token(token), row.id, row.merchant, now_us, expires, None, None)
    with store.writer() as w:
        w.insert_approval_link(link)
    return token, link


def check_link(store: Store, grant_id: str, token: str, *, now_us: int) -> LinkRow:
    """The link ``token`` of grant ``grant_id``, if it may still be used. Raises
    :class:`LinkError` saying which: ``damaged`` (not a token's shape), ``unknown`` (no link
    has this token), ``tampered`` (another grant's token), ``used``, ``expired``."""
    if not _TOKEN.fullmatch(token):
        raise LinkError("damaged", "This link is damaged: part of it is missing or altered.")
    link = store.approval_link(hash_token(token))
    if link is None:
        raise LinkError(
            "unknown", "This link is not one Sentinelle sent, or it was altered on the way."
        )
    if link.grant_id != grant_id:
        raise LinkError("tampered", "This link was altered: it does not belong to this request.")
    if link.used_us is not None:
        raise LinkError(
            "used",
            f"This link was used already ({link.used_as or 'answered'}, {iso(link.used_us)}): "
            "a link works once.",
        )
    if now_us >= link.expires_us:
        raise LinkError(
            "expired", f"This link expired at {iso(link.expires_us)}: open the request in the "
            "console instead.",
        )  # fmt: skip
    return link


# -- steps and reads -------------------------------------------------------------------------


def log_step(
    store: Store, grant_id: str, kind: str, *, by: str, reason: str, now_us: int, key: str = ""
) -> None:
    """Record a human step about a grant in ``guard_log`` (``seen``, ``link_sent``): its id is
    derived from the grant, the kind and ``key``, so the same step is kept once."""
    step_id = "gl-" + sha256(f"{grant_id}\x00{kind}\x00{key}".encode()).hexdigest()[:32]
    with store.writer() as w:
        w.log_guard([GuardLogRow(step_id, now_us, grant_id, kind, by[:_BY], reason[:_REASON])])


def mark_seen(store: Store, grant_id: str, *, by: str, now_us: int) -> None:
    """Record that ``by`` opened the request ``grant_id`` (once per person: the first time)."""
    log_step(store, grant_id, "seen", by=by, reason="opened the request", now_us=now_us, key=by)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a grant's history: a ``grant.*`` event (``requested``, ``approved``,
    ``denied``, ``revoked``, ``expired``) or a guard log step (``seen``, ``link_sent``,
    ``link_used``), when, by whom, why."""

    at_us: int
    kind: str
    by: str
    reason: str
    event: str | None = None  # the ledger event's id, for an event

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "at": iso(self.at_us),
            "kind": self.kind,
            "by": self.by,
            "reason": self.reason,
            "event": self.event,
        }


_ORDER: Final = {"requested": 0, "seen": 1, "link_sent": 1, "link_used": 3}


@dataclass(frozen=True, slots=True)
class GrantHistory:
    """A grant, its history (oldest first) and how many recorded accesses cite it."""

    grant: GrantRow
    steps: tuple[Step, ...]
    uses: int
    seen_by: tuple[str, ...] = field(default=())


def grant_history(store: Store, merchant: str, grant_id: str) -> GrantHistory:
    """The grant ``grant_id`` of ``merchant`` with its ``grant.*`` events (the ``ref`` index)
    and guard log steps, oldest first, and the accesses that cite it. Raises
    :class:`GrantNotFoundError`."""
    row = _grant_at(store, merchant, grant_id)
    steps: list[Step] = []
    for t, _seq, body in store.context_events_cited({grant_id}, (), 2**62):
        event = decode_event(body)
        if isinstance(event, ContextEvent) and event.type.startswith("grant."):
            steps.append(
                Step(
                    at_us=t,
                    kind=event.type.removeprefix("grant."),
                    by=event.by if isinstance(event.by, str) else "",
                    reason=event.reason if isinstance(event.reason, str) else "",
                    event=event.id,
                )
            )
    for s in store.guard_log([grant_id]):
        if s.kind != "expired":  # the grant.expired event says it already
            steps.append(Step(at_us=s.at_us, kind=s.kind, by=s.done_by, reason=s.reason))
    # At the same instant (one request's steps), in the order they happen.
    steps.sort(key=lambda s: (s.at_us, _ORDER.get(s.kind, 2)))
    seen = tuple(dict.fromkeys(s.by for s in steps if s.kind == "seen"))
    return GrantHistory(row, tuple(steps), store.grant_uses(row), seen)


def requests_waiting(store: Store, merchant: str, *, limit: int = 50) -> list[GrantRow]:
    """``merchant``'s requests still waiting for an answer, newest first, at most ``limit``."""
    return store.grants_page(merchant=merchant, state="requested", limit=limit)


@dataclass(frozen=True, slots=True)
class GrantPage:
    """A page of grants, newest request first; ``next`` is the cursor of the next page
    (``None``: this is the last)."""

    grants: tuple[GrantRow, ...]
    next: str | None


def grants_of_merchant(
    store: Store, merchant: str, *, cursor: str | None = None, limit: int = 50
) -> GrantPage:
    """``merchant``'s grants, newest request first, one keyset page of the ``(merchant,
    requested_us)`` index. Raises :class:`GrantInputError` for a cursor not of this API."""
    return _page(store, cursor, limit, merchant=merchant)


def grants_of_actor(
    store: Store, actor: str, *, cursor: str | None = None, limit: int = 50
) -> GrantPage:
    """``actor``'s grants at every merchant, newest request first (a keyset page)."""
    return _page(store, cursor, limit, actor=actor)


def _page(
    store: Store,
    cursor: str | None,
    limit: int,
    *,
    merchant: str | None = None,
    actor: str | None = None,
) -> GrantPage:
    before = _cursor(cursor)
    rows = store.grants_page(merchant=merchant, actor=actor, before=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return GrantPage(tuple(rows), f"{last.requested_us}.{last.id}" if more and last else None)


def _cursor(cursor: str | None) -> tuple[int, str] | None:
    if cursor is None:
        return None
    at, dot, grant_id = cursor.partition(".")
    if not dot or not at.isdigit() or not grant_id or len(cursor) > 160:
        raise GrantInputError("cursor", f'"{cursor[:40]}" is not a cursor of this list')
    return int(at), grant_id
