"""What the decision endpoint and the grants API need around the pure core: the policy loaded
once, the ticket and grants read from the store, and the ledger events that record decisions
and grant changes.

No HTTP here: :mod:`sentinelle.api.routes.guard` and :mod:`sentinelle.api.routes.grants` call
these.
"""

from __future__ import annotations

import json
import threading
from hashlib import sha256
from pathlib import Path
from typing import Annotated, Any, Final, NamedTuple

import msgspec
from msgspec import Meta

from sentinelle.errors import ConfigError
from sentinelle.events import ContextEvent, decode_event
from sentinelle.guard.decide import (
    AccessRequest,
    Decision,
    GrantView,
    RequestError,
    TicketView,
    decide,
    refuse_repeated_keys,
)
from sentinelle.guard.grants import GrantHistory
from sentinelle.guard.policy import Policy, load_policy
from sentinelle.store import Store
from sentinelle.store.grants import GrantRow
from sentinelle.timeutil import iso

__all__ = [
    "Approval",
    "Assessment",
    "DecideBody",
    "GrantDetail",
    "GrantRecord",
    "GuardPolicy",
    "assess",
    "decision_event_id",
    "grant_detail",
    "grant_record",
    "grant_view",
    "parse_decide",
    "request_hash",
    "ticket_view",
]

_SETTING: Final = "SENTINELLE_GUARD_POLICY"


class GuardPolicy:
    """The guard policy of a process: read from ``path`` when first asked for, then kept.

    A missing setting or an invalid file raises :class:`~sentinelle.errors.ConfigError`
    naming the setting or every problem of the file; an invalid file is read again on the next
    request (fix it, no restart needed), a valid one never (restart to change it).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._policy: Policy | None = None
        self._lock = threading.Lock()

    def get(self) -> Policy:
        """The policy, or :class:`ConfigError` saying why there is none."""
        policy = self._policy
        if policy is not None:
            return policy
        if self.path is None:
            raise ConfigError(
                f"no guard policy: set {_SETTING} to the TOML policy file (docs/guard.md)"
            )
        with self._lock:
            if self._policy is None:
                self._policy = load_policy(self.path)  # PolicyError lists every problem
            return self._policy


class DecideBody(AccessRequest, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The body of ``POST /v1/access/decide``: the request and, optionally, the caller's id
    for it (``request_id``): a retry with the same id is recorded once and answered the same."""

    request_id: Annotated[str, Meta(min_length=1, max_length=128)] | None = None


_decoder: Final = msgspec.json.Decoder(DecideBody)
_encoder: Final = msgspec.json.Encoder(order="sorted")


def parse_decide(raw: bytes) -> DecideBody:
    """Decode and check a decide body. Raises :class:`RequestError` naming the field, or the
    key given twice in one object (:func:`~sentinelle.guard.decide.refuse_repeated_keys`)."""
    try:
        body = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        refuse_repeated_keys(raw)  # a repeated key can explain a schema error: say so
        text, sep, where = str(exc).rpartition(" - at `")
        # "Expected … - at `$.x`" → "$.x: Expected …"; our own checks already name the field.
        raise RequestError(f"{where.rstrip('`')}: {text}" if sep else str(exc)) from None
    except msgspec.DecodeError as exc:
        raise RequestError(f"not a JSON request: {exc}") from None
    refuse_repeated_keys(raw, body)
    return body


def request_hash(body: DecideBody) -> str:
    """SHA-256 of the request without its ``request_id``, canonical (sorted keys)."""
    fields = msgspec.structs.asdict(body)
    fields.pop("request_id", None)
    return sha256(_encoder.encode(fields)).hexdigest()


def decision_event_id(caller: str, request_id: str) -> str:
    """The access event id of a request: derived from the caller and its ``request_id`` (the
    same retry, the same id; two callers' ids never collide)."""
    return "dec-" + sha256(f"{caller}\x00{request_id}".encode()).hexdigest()[:40]


def ticket_view(store: Store, policy: Policy, ticket: str, now_us: int) -> TicketView | None:
    """The ticket as its stored ``ticket.*`` events up to ``now_us`` describe it (one range of
    the ``ref`` index); ``None`` when no event names it."""
    merchant: str | None = None
    assignees: set[str] = set()
    closed = False
    reason: str | None = None
    seen = False
    for _t, _seq, body in store.context_events_cited({ticket}, (), now_us):
        event = decode_event(body)
        if not isinstance(event, ContextEvent) or not event.type.startswith("ticket."):
            continue
        seen = True
        if isinstance(event.merchant, str):
            merchant = event.merchant
        if event.type == "ticket.opened":
            closed = False
            if isinstance(event.reason, str):
                reason = event.reason
        elif event.type == "ticket.closed":
            closed = True
        # The staff member concerned (``actor``) is the assignee, whether the ticket was opened
        # for them or assigned to them later (some help desks send one event), as detection
        # reads it.
        if event.type in ("ticket.opened", "ticket.assigned") and isinstance(event.actor, str):
            assignees.add(event.actor)
    if not seen:
        return None
    return TicketView(
        id=ticket,
        state="closed" if closed else "open",
        merchant=merchant,
        assignees=frozenset(assignees),
        purpose=reason if reason in policy.purposes else None,
    )


def grant_view(row: GrantRow) -> GrantView:
    """The decision's view of a stored grant."""
    return GrantView(
        id=row.id,
        actor=row.actor,
        merchant=row.merchant,
        actions=frozenset(json.loads(row.actions_json)),
        categories=frozenset(json.loads(row.categories_json)),
        max_records=row.max_records,
        state=row.state,  # type: ignore[arg-type]
        expires_us=row.expires_us,
        approvals=frozenset(a.as_ for a in row.approvals()),
    )


class Assessment(NamedTuple):
    """A decision and what it was made from: the cited ticket, the actor's grants at the
    merchant and whether the actor is suspended."""

    ticket: TicketView | None
    grants: tuple[GrantView, ...]
    suspended: bool
    decision: Decision


def assess(
    store: Store | None,
    policy: Policy,
    request: AccessRequest,
    now_us: int,
    *,
    ticket: TicketView | None = None,
    suspended: bool = False,
) -> Assessment:
    """Decide ``request`` at ``now_us`` on what ``store`` says: the cited ticket (its
    ``ticket.*`` events), the actor's live grants at the merchant (``(actor, merchant)``
    index) and the actor's suspension. Call it inside one read transaction so the three reads
    agree. The decision endpoint and ``sentinelle policy explain`` both decide through here.

    ``ticket`` states the cited ticket's state instead of reading it; ``suspended`` decides as
    if the actor were suspended. Without a store (``None``) no ticket is known, the actor holds
    no grant and is not suspended.
    """
    if ticket is None and request.ticket is not None and store is not None:
        ticket = ticket_view(store, policy, request.ticket, now_us)
    grants: tuple[GrantView, ...] = ()
    if store is not None:
        rows = store.grants_of(request.actor, request.merchant, now_us=now_us)
        grants = tuple(grant_view(g) for g in rows)
        suspended = suspended or store.suspended(request.actor)
    decision = decide(
        policy, request, ticket=ticket, grants=grants, suspended=suspended, now_us=now_us
    )
    return Assessment(ticket, grants, suspended, decision)


class Approval(msgspec.Struct, kw_only=True, frozen=True):
    """One approval of a grant: as whom (``merchant`` or ``staff``), by whom, when."""

    as_: str = msgspec.field(name="as")
    by: str
    at: str


class GrantRecord(msgspec.Struct, kw_only=True, frozen=True):
    """A grant as the grants API answers it, with the approvals its merchant needs."""

    id: str
    actor: str
    merchant: str
    actions: list[str]
    data: list[str]
    max_records: int
    purpose: str | None
    reason: str
    ticket: str | None
    requested_by: str
    requested: str
    approvals: list[Approval]
    expires: str
    state: str
    approvers: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        answer: dict[str, Any] = msgspec.to_builtins(self)
        return answer


def grant_record(row: GrantRow, policy: Policy) -> GrantRecord:
    """The grants API's view of a stored grant."""
    return GrantRecord(
        id=row.id,
        actor=row.actor,
        merchant=row.merchant,
        actions=json.loads(row.actions_json),
        data=json.loads(row.categories_json),
        max_records=row.max_records,
        purpose=row.purpose,
        reason=row.reason,
        ticket=row.ticket,
        requested_by=row.requested_by,
        requested=iso(row.requested_us),
        approvals=[Approval(as_=a.as_, by=a.by, at=iso(a.at_us)) for a in row.approvals()],
        expires=iso(row.expires_us),
        state=row.state,
        approvers=list(policy.approvers_for(row.merchant)),
    )


class GrantDetail(GrantRecord, kw_only=True, frozen=True):
    """One grant as ``GET /v1/merchants/{m}/grants/{id}`` answers it: the grant, its history
    oldest first (events and guard log steps, each in its JSON form), who saw the request,
    and how many recorded accesses cite it."""

    history: list[dict[str, Any]]
    seen_by: list[str]
    uses: int


def grant_detail(history: GrantHistory, policy: Policy) -> GrantDetail:
    """The :class:`GrantDetail` of a grant's history."""
    record = grant_record(history.grant, policy)
    return GrantDetail(
        **msgspec.structs.asdict(record),
        history=[s.to_dict() for s in history.steps],
        seen_by=list(history.seen_by),
        uses=history.uses,
    )
