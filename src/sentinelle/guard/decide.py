"""The guard's decision: may this actor do this to this merchant's customer data, now?

:func:`decide` is pure and deterministic: the policy, the request, the cited ticket's state,
the actor's grants at the merchant, whether the actor is suspended and the time go in; a
:class:`Decision` comes out — ``allow``, ``deny`` or ``pending`` (an approval is needed), the
categories to mask, until when, and every reason as a plain sentence an agent and an auditor
both understand. No I/O, no clock, no randomness: the decision endpoint, ``sentinelle policy
explain`` and the tests call the same function, and the same inputs always give the same
decision, reasons included.

The rules, in order (``docs/guard.md`` says the same for people):

1. a suspended actor is denied, whatever else holds (break-glass included);
2. the actor's team and role must allow the action and the channel, the purpose must be one
   they handle, and something requested must be visible to them;
3. a request that needs approval (an action the policy lists, such as export; a bulk list of
   ``approval.bulk_records`` or more; any view at a merchant that approves every view) is
   allowed only by an approved, live grant of this actor at this merchant that covers the
   action, the records and some of the categories; otherwise it is ``pending`` — or denied when
   it cites a ticket that cannot justify it;
4. any other request is allowed by a ticket that is open, for the same merchant and assigned
   to the actor (or the actor reviews tickets), or by a covering grant; otherwise denied;
5. break-glass (the actor states the emergency) allows what rules 3 and 4 refused, for the
   break-glass duration, with ``break_glass`` set so the caller raises the high alert.

Masks are data minimisation: only the categories the team may see, the purpose shows (and the
grant covers) are visible; a merchant's override masks more.

Costs are flat: one dict lookup for the team, set operations on at most 12 categories, and a
pass over the grants passed in — the caller indexes grants by ``(actor, merchant)``, so that is
the few grants of this actor at this merchant, never every live grant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta, Struct

from sentinelle.errors import Error
from sentinelle.events.model import ACCESS_ACTIONS, CHANNELS, DATA_CATEGORIES, Source
from sentinelle.events.parse import EventError, check_repeated_keys
from sentinelle.guard.policy import Access, Policy, Purpose
from sentinelle.timeutil import MINUTE, iso

__all__ = [
    "AccessRequest",
    "Decision",
    "GrantView",
    "NUL_PROBLEM",
    "RequestError",
    "TicketView",
    "check_request",
    "decide",
    "parse_request",
    "refuse_repeated_keys",
]

Verdict = Literal["allow", "deny", "pending"]
Id = Annotated[str, Meta(min_length=1, max_length=128)]
Str64 = Annotated[str, Meta(min_length=1, max_length=64)]
_ACTIONS: Final = frozenset(ACCESS_ACTIONS)
_CHANNELS: Final = frozenset(CHANNELS)
_CATEGORIES: Final = frozenset(DATA_CATEGORIES)
_ORDER: Final = {c: i for i, c in enumerate(DATA_CATEGORIES)}
#: Why a request's text with a NUL character (``\\u0000``) is refused: the ledger cannot store
#: it. The grants API's request says the same.
NUL_PROBLEM: Final = "contains a NUL character (\\u0000), which cannot be stored"
_VIEWS: Final = frozenset({"view", "search"})
_NOUN: Final = {
    "view": "a view",
    "search": "a search",
    "export": "an export",
    "download": "a download",
    "update": "a change",
    "delete": "a deletion",
}
_PLURAL: Final = {
    "view": "views",
    "search": "searches",
    "export": "exports",
    "download": "downloads",
    "update": "changes",
    "delete": "deletions",
}


class RequestError(Error, ValueError):
    """A request the guard cannot judge: an unknown action, channel or category, a bad count.

    A :class:`ValueError` too, so msgspec reports it as the request's validation error when it
    is raised while decoding.
    """


class AccessRequest(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """What a console, admin tool or export job asks before serving customer data.

    ``subjects`` (the customers shown) or ``count`` (records in a list or export), not both;
    neither means one customer. ``team`` and ``role`` are the actor's as the caller knows them
    (later: from the staff directory). ``break_glass`` is the emergency the actor states.
    Checked on construction and on decoding (:func:`parse_request`).
    """

    actor: Id
    merchant: Id
    action: str
    data: tuple[str, ...]
    channel: str
    team: Str64 | None = None
    role: Str64 | None = None
    ticket: Id | None = None
    # Ids as the access event that records the decision needs them: a subject it would refuse
    # must be refused here (422), not fail the ledger write of a group of decisions.
    subjects: Annotated[tuple[Id, ...], Meta(max_length=100_000)] | None = None
    count: Annotated[int, Meta(ge=0, le=2**53 - 1)] | None = None
    purpose: Str64 | None = None
    break_glass: Annotated[str, Meta(max_length=256)] | None = None
    source: Source | None = None

    def __post_init__(self) -> None:
        if self.action not in _ACTIONS:
            raise RequestError(
                f'action: "{self.action}" is not an action ({", ".join(ACCESS_ACTIONS)})'
            )
        if self.channel not in _CHANNELS:
            raise RequestError(
                f'channel: "{self.channel}" is not a channel ({", ".join(CHANNELS)})'
            )
        if not self.data:
            raise RequestError("data: name at least one data category")
        for i, category in enumerate(self.data):
            if category not in _CATEGORIES:
                raise RequestError(
                    f'data[{i}]: "{category}" is not a data category ({", ".join(DATA_CATEGORIES)})'
                )
        if self.subjects is not None and self.count is not None:
            raise RequestError("subjects and count: give one of them, not both")
        # What the access event recording the decision could not hold must be refused here
        # (422, naming the field), not fail the ledger write of a group of decisions.
        for name in ("actor", "merchant", "team", "role", "ticket", "purpose", "break_glass"):
            value = getattr(self, name)
            if value is not None and "\x00" in value:
                raise RequestError(f"{name}: {NUL_PROBLEM}")
        if self.subjects is not None and "\x00" in "".join(self.subjects):
            at = next(i for i, s in enumerate(self.subjects) if "\x00" in s)
            raise RequestError(f"subjects[{at}]: {NUL_PROBLEM}")
        if self.source is not None:
            for name in ("ip", "device", "country"):
                value = getattr(self.source, name)
                if isinstance(value, str) and "\x00" in value:
                    raise RequestError(f"source.{name}: {NUL_PROBLEM}")

    @property
    def records(self) -> int:
        """How many customers' records the request exposes (1 without subjects or count)."""
        if self.subjects is not None:
            return len(self.subjects)
        return self.count if self.count is not None else 1


class TicketView(Struct, kw_only=True, frozen=True):
    """The cited ticket as the context events describe it. ``purpose`` is the ticket's
    reason when it names a purpose of the policy (a free-text reason is ignored)."""

    id: str
    state: Literal["open", "closed"]
    merchant: str | None = None
    assignees: frozenset[str] = frozenset()
    purpose: str | None = None


class GrantView(Struct, kw_only=True, frozen=True):
    """A just-in-time grant: its scope (actor, merchant, actions, categories, records), state,
    approvals and expiry. It holds while ``now_us < expires_us``."""

    id: str
    actor: str
    merchant: str
    actions: frozenset[str]
    categories: frozenset[str]
    max_records: int
    state: Literal["requested", "approved", "denied", "revoked", "expired"]
    expires_us: int
    approvals: frozenset[str] = frozenset()


class Decision(Struct, kw_only=True, frozen=True):
    """The answer: ``grant`` is the grant that allowed it, ``mask`` the categories to hide,
    ``expires_us`` when the permission ends (``None``: with the ticket, or not allowed),
    ``reasons`` every reason in plain sentences, ``break_glass`` set when the caller must raise
    the break-glass alert, ``approvers`` whose approval a pending request waits for."""

    decision: Verdict
    grant: str | None = None
    mask: tuple[str, ...] = ()
    expires_us: int | None = None
    reasons: tuple[str, ...] = ()
    break_glass: bool = False
    approvers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON form: the issue's ``{decision, grant, mask, expires, reasons}`` and the flags."""
        return {
            "decision": self.decision,
            "grant": self.grant,
            "mask": list(self.mask),
            "expires": None if self.expires_us is None else iso(self.expires_us),
            "reasons": list(self.reasons),
            "break_glass": self.break_glass,
            "approvers": list(self.approvers),
        }


_request_decoder: Final = msgspec.json.Decoder(AccessRequest)
_encode: Final = msgspec.json.Encoder().encode
_QUOTE: Final = b'"'
_NULL_MEMBER: Final = b'":null'
_BACKSLASH: Final = b"\\"  # one byte: a fast search, and most bodies have none
_QUOTE_ESCAPE: Final = b"\\u0022"


def parse_request(raw: bytes | str) -> AccessRequest:
    """Decode and check a JSON request. Raises :class:`RequestError` naming the field."""
    raw = raw.encode() if isinstance(raw, str) else raw
    try:
        request = _request_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        refuse_repeated_keys(raw)  # a repeated key can explain a schema error: say so
        raise RequestError(_located(exc, unplaced="$: ")) from None
    except msgspec.DecodeError as exc:
        raise RequestError(f"not a JSON request: {exc}") from None
    refuse_repeated_keys(raw, request)
    return request


def refuse_repeated_keys(raw: bytes, request: AccessRequest | None = None) -> None:
    """Raise :class:`RequestError` naming the first key ``raw`` holds twice in one object
    (``$.actor: duplicate key "actor" …``, as ingest says it): a decoder keeps the last one,
    and a proxy in front that read the first would have checked another request.

    With ``request`` (``raw`` decoded), the full check runs only when a cheap test says a key
    may repeat: every member of ``raw`` that the decoded request keeps (each key, each string
    with its quotes, escaped as ``\\"``) holds as many ``"`` as the request encoded, less the
    two of each member it encodes as null, so a repeated key (whose extra member brings two
    ``"`` at least) shows as more ``"`` in ``raw``. Only a ``\\u0022`` escape (a ``"`` with no
    ``"`` byte) could make up for it: a body with one is checked in full too; so is one that
    gives a member as null, or a string holding ``":null`` (counted as a null: checked more,
    never less)."""
    if request is not None:
        encoded = _encode(request)
        if raw.count(_QUOTE) == encoded.count(_QUOTE) - 2 * encoded.count(_NULL_MEMBER) and (
            _BACKSLASH not in raw or _QUOTE_ESCAPE not in raw
        ):
            return
    try:
        check_repeated_keys(raw)
    except EventError as exc:
        raise RequestError(str(exc)) from None


def check_request(fields: Mapping[str, Any]) -> AccessRequest:
    """The request of ``fields`` (as :class:`AccessRequest`'s keyword arguments), checked
    whole as a decoded one is: constructing :class:`AccessRequest` directly does not check
    its lengths and bounds (an empty actor, a count beyond 2^53 − 1). Raises
    :class:`RequestError` naming the field."""
    try:
        return msgspec.convert(fields, AccessRequest)
    except msgspec.ValidationError as exc:
        raise RequestError(_located(exc)) from None


def _located(exc: msgspec.ValidationError, *, unplaced: str = "") -> str:
    # "Invalid enum value … - at `$.x`" → "$.x: Invalid …"; our own checks name the field.
    message = str(exc)
    text, sep, where = message.rpartition(" - at `")
    return f"{where.rstrip('`')}: {text}" if sep else f"{unplaced}{message}"


def decide(
    policy: Policy,
    request: AccessRequest,
    *,
    ticket: TicketView | None,
    grants: Sequence[GrantView],
    suspended: bool,
    now_us: int,
) -> Decision:
    """Decide ``request`` (see the module docstring for the rules)."""
    actor = request.actor
    merchant = request.merchant
    action = request.action
    if suspended:
        return _deny(
            f"{actor} is suspended pending review of a high-severity alert: every access is "
            "denied until a responder lifts the suspension."
        )
    access = policy.access_of(request.team, request.role)
    who = _who(request)
    if access is None:
        team = f"team {request.team}" if request.team else "no team"
        return _deny(
            f"{actor} is in {team}, which the policy does not list: only the teams "
            f"{_list(policy.teams)} may reach customer data."
        )
    if action not in access.actions:
        return _deny(
            f"{who} may not do {_NOUN[action]} of customer data; the policy allows them "
            f"{_list(a for a in ACCESS_ACTIONS if a in access.actions)}."
        )
    if request.channel not in access.channels:
        return _deny(
            f"{who} may not reach customer data through the {request.channel} channel; the "
            f"policy allows {_list(c for c in CHANNELS if c in access.channels)}."
        )
    ticket_ok, ticket_reason = _ticket(policy, request, ticket, access)
    purpose, purpose_note = _purpose(policy, request, ticket if ticket_ok else None)
    if purpose is None:
        return _deny(purpose_note)
    if access.purposes is not None and purpose.name not in access.purposes:
        return _deny(
            f"{who} do not handle {purpose.name} requests; theirs are "
            f"{_list(sorted(access.purposes))}."
        )
    rule = policy.merchant(merchant)
    wanted = frozenset(request.data)
    visible = wanted & access.categories & purpose.show - rule.mask
    if not visible:
        masks = _mask_sentence(wanted, visible, access, purpose, rule.mask, merchant, who)
        bad_ticket = (_cap(ticket_reason) + ".",) if request.ticket and not ticket_ok else ()
        return Decision(
            decision="deny",
            reasons=(f"{masks[:-1]}: nothing requested can be shown, denied.", *bad_ticket),
        )
    records = request.records
    need = _needs_approval(policy, action, records, rule.approve_views, merchant)
    grant, grant_visible, grant_notes = _best_grant(
        policy, request, grants, visible, records, now_us
    )
    notes = (purpose_note,) if purpose_note else ()
    if need is None and ticket_ok:
        return Decision(
            decision="allow",
            mask=_sorted(wanted - visible),
            reasons=(
                f"{_cap(ticket_reason)}: {_NOUN[action]} of {_records(records)} is allowed until "
                "the ticket closes.",
                *notes,
                _mask_sentence(wanted, visible, access, purpose, rule.mask, merchant, who),
            ),
        )
    if grant is not None:
        because = f"{need[0].upper()}{need[1:]}; " if need else ""
        return Decision(
            decision="allow",
            grant=grant.id,
            mask=_sorted(wanted - grant_visible),
            expires_us=grant.expires_us,
            reasons=(
                f"{because}grant {grant.id}, approved by "
                f"{_list(_APPROVER[a] for a in sorted(grant.approvals) if a in _APPROVER)}, "
                f"covers {_NOUN[action]} of {_records(records)} at merchant {merchant} "
                f"until {iso(grant.expires_us)}: allowed.",
                *notes,
                _mask_sentence(
                    wanted, grant_visible, access, purpose, rule.mask, merchant, who, grant
                ),
            ),
        )
    # Neither a ticket nor a grant allows it as asked.
    if need is not None:
        refused = f"{need[0].upper()}{need[1:]}, and no approved, live grant covers it"
        approvers = policy.approvers_for(merchant)
    else:
        refused = f"{_cap(ticket_reason)}, and no approved, live grant covers it"
        approvers = ()
    if request.break_glass is not None:
        return _break_glass(
            policy, request, refused, wanted, visible, access, purpose, rule.mask, now_us, who
        )
    mask = _sorted(wanted - visible)
    if need is not None and (request.ticket is None or ticket_ok):
        waiting = " and ".join(_APPROVER[a] for a in approvers)
        waiting += " approves" if len(approvers) == 1 else " approve"
        return Decision(
            decision="pending",
            mask=mask,
            approvers=approvers,
            reasons=(
                f"{refused}: pending until {waiting} a grant for it.",
                *([_cap(ticket_reason) + "."] if request.ticket is not None else []),
                *grant_notes,
                *notes,
                _mask_sentence(wanted, visible, access, purpose, rule.mask, merchant, who),
            ),
        )
    if need is not None:  # it cites a ticket that cannot justify it: no approval is asked
        refused = f"{_cap(ticket_reason)}; {need}"
    return Decision(decision="deny", mask=mask, reasons=(f"{refused}: denied.", *grant_notes))


_APPROVER: Final = {"merchant": "the merchant", "staff": "a second staff member"}


def _deny(reason: str) -> Decision:
    return Decision(decision="deny", reasons=(reason,))


def _who(request: AccessRequest) -> str:
    if request.role and request.team:
        return f"{request.role}s of team {request.team}"
    return f"members of team {request.team}" if request.team else request.actor


def _ticket(
    policy: Policy, request: AccessRequest, ticket: TicketView | None, access: Access
) -> tuple[bool, str]:
    """Whether the cited ticket justifies the access, and the sentence that says why (not)."""
    cited = request.ticket
    merchant = request.merchant
    if cited is None:
        return False, "no ticket is cited"
    if not policy.ticket_pattern.fullmatch(cited):
        return False, f'"{cited}" is not a ticket id of this platform'
    if ticket is None or ticket.id != cited:
        return False, f"ticket {cited} is not known to Sentinelle"
    if ticket.merchant != merchant:
        other = ticket.merchant or "no merchant"
        return False, f"ticket {cited} belongs to {_merchant(other)}, not {merchant}"
    if ticket.state != "open":
        return False, f"ticket {cited} is closed"
    if request.actor in ticket.assignees:
        return True, f"ticket {cited} is open, assigned to you and for merchant {merchant}"
    if access.review_tickets:
        held = _list(sorted(ticket.assignees)) if ticket.assignees else "nobody yet"
        return True, (
            f"ticket {cited} is open, for merchant {merchant} and assigned to {held}; "
            "your role reviews colleagues' tickets"
        )
    held = f"to {_list(sorted(ticket.assignees))}" if ticket.assignees else "to nobody"
    return False, f"ticket {cited} is assigned {held}, not to you"


def _merchant(name: str) -> str:
    return name if name == "no merchant" else f"merchant {name}"


def _purpose(
    policy: Policy, request: AccessRequest, ticket: TicketView | None
) -> tuple[Purpose | None, str]:
    """The purpose that applies — the valid ticket's, else the request's, else the default —
    and a note when the request's was overruled or unknown (its denial reason then)."""
    stated = request.purpose
    if ticket is not None and ticket.purpose is not None and ticket.purpose in policy.purposes:
        found = policy.purposes[ticket.purpose]
        if stated is not None and stated != found.name:
            return found, (
                f"The request says {stated}, but ticket {ticket.id} is a {found.name}: the "
                "ticket's purpose applies."
            )
        return found, ""
    if stated is not None:
        found_stated = policy.purposes.get(stated)
        if found_stated is None:
            return None, (
                f'"{stated}" is not a purpose of the policy ({_list(policy.purposes)}): denied.'
            )
        return found_stated, ""
    return policy.purposes[policy.default_purpose], ""


def _needs_approval(
    policy: Policy, action: str, records: int, approve_views: bool, merchant: str
) -> str | None:
    """Why the request needs an approved grant, or ``None``."""
    if action in policy.approval.actions:
        return f"{_NOUN[action]} needs approval"
    if records >= policy.approval.bulk_records:
        return (
            f"{_NOUN[action]} of {_records(records)} is a bulk access "
            f"({policy.approval.bulk_records} or more) and needs approval"
        )
    if approve_views and action in _VIEWS:
        return f"merchant {merchant} approves every view and search of its customers"
    return None


def _best_grant(
    policy: Policy,
    request: AccessRequest,
    grants: Sequence[GrantView],
    visible: frozenset[str],
    records: int,
    now_us: int,
) -> tuple[GrantView | None, frozenset[str], tuple[str, ...]]:
    """The grant that covers the request best (most categories shown, then the latest expiry,
    then the smallest id), what it shows, and why the others do not cover it (at most 3)."""
    best: GrantView | None = None
    best_key: tuple[int, int] = (0, 0)
    best_visible: frozenset[str] = frozenset()
    notes: list[str] = []
    required = policy.approvers_for(request.merchant)
    for grant in grants:
        why = _grant_gap(grant, request, required, records, now_us)
        shown = visible & grant.categories
        if why is None and not shown:
            why = f"grant {grant.id} covers none of the categories that could be shown"
        if why is not None:
            if len(notes) < 3:
                notes.append(why + ".")
            continue
        key = (len(shown), grant.expires_us)
        if best is None or key > best_key or (key == best_key and grant.id < best.id):
            best, best_key, best_visible = grant, key, shown
    return best, best_visible, tuple(notes)


def _grant_gap(
    grant: GrantView,
    request: AccessRequest,
    required: tuple[str, ...],
    records: int,
    now_us: int,
) -> str | None:
    """Why ``grant`` does not cover ``request``, or ``None`` when it does."""
    if grant.actor != request.actor:
        return f"grant {grant.id} is {grant.actor}'s, not yours"
    if grant.merchant != request.merchant:
        return f"grant {grant.id} is for merchant {grant.merchant}, not {request.merchant}"
    if grant.state != "approved":
        state = "still awaiting approval" if grant.state == "requested" else grant.state
        return f"grant {grant.id} is {state}"
    missing = [a for a in required if a not in grant.approvals]
    if missing:
        return (
            f"grant {grant.id} lacks the approval of {' and '.join(_APPROVER[a] for a in missing)}"
        )
    if now_us >= grant.expires_us:
        return f"grant {grant.id} expired at {iso(grant.expires_us)}"
    if request.action not in grant.actions:
        return f"grant {grant.id} does not cover {_PLURAL[request.action]}"
    if records > grant.max_records:
        return (
            f"grant {grant.id} covers at most {_records(grant.max_records)}; the request is "
            f"for {records:,}"
        )
    return None


def _break_glass(
    policy: Policy,
    request: AccessRequest,
    refused: str,
    wanted: frozenset[str],
    visible: frozenset[str],
    access: Access,
    purpose: Purpose,
    merchant_mask: frozenset[str],
    now_us: int,
    who: str,
) -> Decision:
    glass = policy.break_glass
    stated = (request.break_glass or "").strip()
    without = f"Without break-glass: {refused}."
    if not glass.enabled:
        return _deny(f"Break-glass is turned off by the policy. {without}")
    if request.action not in glass.actions:
        return _deny(
            f"Break-glass does not cover {_PLURAL[request.action]} (only "
            f"{_list(a for a in ACCESS_ACTIONS if a in glass.actions)}). {without}"
        )
    if len(stated) < glass.min_reason:
        return _deny(
            f"Break-glass needs the emergency stated in a sentence (at least {glass.min_reason} "
            f"characters). {without}"
        )
    until = now_us + glass.duration_us
    minutes = glass.duration_us / MINUTE
    return Decision(
        decision="allow",
        mask=_sorted(wanted - visible),
        expires_us=until,
        break_glass=True,
        reasons=(
            f'Break-glass: {request.actor} stated "{stated}"; {_NOUN[request.action]} at '
            f"merchant {request.merchant} is allowed for {minutes:g} minutes, until "
            f"{iso(until)}, and a high-severity alert goes to the responders for review.",
            without,
            _mask_sentence(wanted, visible, access, purpose, merchant_mask, request.merchant, who),
        ),
    )


def _mask_sentence(
    wanted: frozenset[str],
    visible: frozenset[str],
    access: Access,
    purpose: Purpose,
    merchant_mask: frozenset[str],
    merchant: str,
    who: str,
    grant: GrantView | None = None,
) -> str:
    """Which categories are shown and why each other one is masked."""
    shown = f"{_list(_sorted(visible))} shown" if visible else "nothing shown"
    parts: list[str] = []
    hidden = wanted - visible
    by_team = _sorted(hidden - access.categories)
    by_purpose = _sorted(hidden & access.categories - purpose.show)
    by_merchant = _sorted(hidden & access.categories & purpose.show & merchant_mask)
    by_grant = _sorted(
        hidden
        & access.categories
        & purpose.show - merchant_mask - (grant.categories if grant else wanted)
    )
    if by_purpose:
        parts.append(f"{_list(by_purpose)} masked (not needed for this purpose)")
    if by_team:
        parts.append(f"{_list(by_team)} masked ({who} may not see it)")
    if by_merchant:
        parts.append(f"{_list(by_merchant)} masked (merchant {merchant} masks it)")
    if by_grant and grant is not None:
        parts.append(f"{_list(by_grant)} masked (not in grant {grant.id})")
    return f"Purpose {purpose.name}: {shown}" + ("; " + "; ".join(parts) if parts else "") + "."


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sorted(categories: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(categories, key=_ORDER.__getitem__))


def _records(n: int) -> str:
    return "one customer" if n == 1 else f"{n:,} records"


def _list(items: object) -> str:
    names = list(items)  # type: ignore[call-overload]
    if not names:
        return "none"
    if len(names) == 1:
        return str(names[0])
    return ", ".join(str(n) for n in names[:-1]) + " and " + str(names[-1])
