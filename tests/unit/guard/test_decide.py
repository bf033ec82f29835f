"""The guard's decision, rule by rule, and properties no input may break: no export without a
live approved grant or break-glass, a suspended actor always denied."""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinelle.events.model import ACCESS_ACTIONS, CHANNELS, DATA_CATEGORIES, Source
from sentinelle.guard import (
    AccessRequest,
    Decision,
    GrantView,
    RequestError,
    TicketView,
    check_request,
    decide,
    parse_policy,
    parse_request,
)
from sentinelle.guard.service import parse_decide
from sentinelle.timeutil import HOUR, MINUTE, iso

POLICY = parse_policy(
    """
[teams.tier1]
actions = ["view", "search", "update", "export"]
channels = ["support_console", "export"]
categories = ["contact", "address", "order_details", "payment_partial"]

[teams.tier1.roles.lead]
review_tickets = true

[teams.fraud]
actions = ["view"]
channels = ["admin"]
categories = ["contact", "address", "order_details", "payment_partial", "location"]
purposes = ["fraud_review"]

[merchants.m-strict]
approve_views = true
mask = ["contact"]
approvers = ["merchant", "staff"]
"""
)
NOW = 1_800_000_000 * 10**6


def request(**changes: Any) -> AccessRequest:
    fields: dict[str, Any] = {
        "actor": "agent-1",
        "team": "tier1",
        "merchant": "m-7",
        "action": "view",
        "data": ("address", "contact", "payment_partial"),
        "channel": "support_console",
        "ticket": "T-42",
        "purpose": "shipping_question",
    }
    fields.update(changes)
    return AccessRequest(**fields)


def ticket(**changes: Any) -> TicketView:
    fields: dict[str, Any] = {
        "id": "T-42",
        "state": "open",
        "merchant": "m-7",
        "assignees": frozenset({"agent-1"}),
    }
    fields.update(changes)
    return TicketView(**fields)


def grant(**changes: Any) -> GrantView:
    fields: dict[str, Any] = {
        "id": "g-1",
        "actor": "agent-1",
        "merchant": "m-7",
        "actions": frozenset({"export", "view"}),
        "categories": frozenset({"contact", "address", "order_details"}),
        "max_records": 1000,
        "state": "approved",
        "expires_us": NOW + 4 * HOUR,
        "approvals": frozenset({"merchant"}),
    }
    fields.update(changes)
    return GrantView(**fields)


def run(
    req: AccessRequest,
    *,
    ticket_view: TicketView | None = None,
    grants: tuple[GrantView, ...] = (),
    suspended: bool = False,
    now: int = NOW,
) -> Decision:
    return decide(POLICY, req, ticket=ticket_view, grants=grants, suspended=suspended, now_us=now)


# -- tickets --------------------------------------------------------------------------------


def test_an_open_ticket_assigned_to_the_actor_at_the_same_merchant_allows_a_view() -> None:
    d = run(request(), ticket_view=ticket())
    assert d.decision == "allow"
    assert d.grant is None and d.expires_us is None and not d.break_glass
    assert d.mask == ("contact", "payment_partial")  # a shipping question shows the address
    assert d.reasons[0] == (
        "Ticket T-42 is open, assigned to you and for merchant m-7: a view of one customer is "
        "allowed until the ticket closes."
    )
    assert "contact and payment_partial masked (not needed for this purpose)" in d.reasons[-1]


@pytest.mark.parametrize(
    ("view", "cited", "words"),
    [
        (ticket(merchant="m-3"), "T-42", "Ticket T-42 belongs to merchant m-3, not m-7"),
        (ticket(merchant=None), "T-42", "Ticket T-42 belongs to no merchant, not m-7"),
        (ticket(state="closed"), "T-42", "Ticket T-42 is closed"),
        (None, "T-42", "Ticket T-42 is not known to Sentinelle"),
        (ticket(id="T-43"), "T-42", "Ticket T-42 is not known"),
        (
            ticket(assignees=frozenset({"agent-2"})),
            "T-42",
            "Ticket T-42 is assigned to agent-2, not to you",
        ),
        (ticket(assignees=frozenset()), "T-42", "Ticket T-42 is assigned to nobody, not to you"),
        (ticket(), None, "No ticket is cited"),
        (ticket(id="42; DROP"), "42; DROP", '"42; DROP" is not a ticket id of this platform'),
    ],
)
def test_a_ticket_that_cannot_justify_the_view_denies_with_the_reason(
    view: TicketView | None, cited: str | None, words: str
) -> None:
    d = run(request(ticket=cited), ticket_view=view)
    assert d.decision == "deny"
    assert d.reasons[0].startswith(words)
    assert d.reasons[0].endswith(": denied.")


def test_a_reviewer_may_use_a_colleagues_open_ticket_of_the_same_merchant() -> None:
    colleague = ticket(assignees=frozenset({"agent-2"}))
    d = run(request(role="lead"), ticket_view=colleague)
    assert d.decision == "allow"
    assert "your role reviews colleagues' tickets" in d.reasons[0]
    assert run(request(role="lead"), ticket_view=ticket(merchant="m-3")).decision == "deny"


def test_the_tickets_purpose_wins_over_the_stated_one() -> None:
    d = run(request(purpose="fraud_review"), ticket_view=ticket(purpose="shipping_question"))
    assert d.decision == "allow"
    assert d.mask == ("contact", "payment_partial")
    assert any("the ticket's purpose applies" in r for r in d.reasons)
    # without a purpose anywhere: the default (general: contact and orders)
    d = run(request(purpose=None), ticket_view=ticket())
    assert d.mask == ("address", "payment_partial")


def test_an_unknown_purpose_or_one_the_team_does_not_handle_is_denied() -> None:
    d = run(request(purpose="gossip"), ticket_view=ticket())
    assert d.decision == "deny" and '"gossip" is not a purpose of the policy' in d.reasons[0]
    fraud = request(team="fraud", channel="admin", purpose="refund")
    d = run(fraud, ticket_view=ticket())
    assert d.decision == "deny" and "do not handle refund requests" in d.reasons[0]
    fraud_review = msgspec.structs.replace(fraud, purpose="fraud_review")
    assert run(fraud_review, ticket_view=ticket()).decision == "allow"


# -- team, role, channel, masks -------------------------------------------------------------


def test_unknown_team_action_or_channel_denies() -> None:
    d = run(request(team="pirates"), ticket_view=ticket())
    assert d.decision == "deny" and "team pirates, which the policy does not list" in d.reasons[0]
    d = run(request(team=None), ticket_view=ticket())
    assert d.decision == "deny" and "no team" in d.reasons[0]
    d = run(request(action="delete"), ticket_view=ticket())
    assert d.decision == "deny" and "may not do a deletion" in d.reasons[0]
    d = run(request(channel="api"), ticket_view=ticket())
    assert d.decision == "deny" and "through the api channel" in d.reasons[0]


def test_nothing_visible_is_denied() -> None:
    d = run(request(data=("payment_full",)), ticket_view=ticket())
    assert d.decision == "deny"
    assert "nothing requested can be shown" in d.reasons[0]
    assert "payment_full masked (members of team tier1 may not see it)" in d.reasons[0]


def test_a_merchant_that_approves_every_view_makes_a_ticketed_view_pending() -> None:
    req = request(
        merchant="m-strict", purpose="general", data=("address", "contact", "order_details")
    )
    d = run(req, ticket_view=ticket(merchant="m-strict"))
    assert d.decision == "pending"
    assert d.approvers == ("merchant", "staff")
    assert d.reasons[0].startswith("Merchant m-strict approves every view and search")
    assert d.mask == ("contact", "address")  # contact: the merchant masks it
    assert any("contact masked (merchant m-strict masks it)" in r for r in d.reasons)
    only_merchant = grant(merchant="m-strict")
    d = run(req, ticket_view=ticket(merchant="m-strict"), grants=(only_merchant,))
    assert d.decision == "pending"
    assert any("lacks the approval of a second staff member" in r for r in d.reasons)
    both = grant(merchant="m-strict", approvals=frozenset({"merchant", "staff"}))
    d = run(req, ticket_view=ticket(merchant="m-strict"), grants=(both,))
    assert d.decision == "allow" and d.grant == "g-1"
    assert "contact" in d.mask


# -- approvals and grants -------------------------------------------------------------------


def export(**changes: Any) -> AccessRequest:
    base = {"action": "export", "channel": "export", "count": 500, "purpose": "merchant_request"}
    return request(**(base | changes))


def test_an_export_is_pending_without_a_grant_even_with_a_good_ticket() -> None:
    d = run(export(), ticket_view=ticket())
    assert d.decision == "pending"
    assert d.approvers == ("merchant",)
    assert d.reasons[0] == (
        "An export needs approval, and no approved, live grant covers it: pending until the "
        "merchant approves a grant for it."
    )
    assert d.grant is None and d.expires_us is None


def test_an_export_citing_a_bad_ticket_is_denied_not_pending() -> None:
    d = run(export(), ticket_view=ticket(merchant="m-3"))
    assert d.decision == "deny"
    assert d.reasons[0].startswith("Ticket T-42 belongs to merchant m-3, not m-7; an export")


def test_an_approved_live_grant_allows_the_export_with_its_expiry() -> None:
    d = run(export(ticket=None), grants=(grant(),))
    assert d.decision == "allow"
    assert d.grant == "g-1" and d.expires_us == NOW + 4 * HOUR
    assert d.reasons[0] == (
        f"An export needs approval; grant g-1, approved by the merchant, covers an export of "
        f"500 records at merchant m-7 until {iso(NOW + 4 * HOUR)}: allowed."
    )
    assert d.mask == ("payment_partial",)  # merchant_request shows contact and address


def test_a_bulk_list_needs_approval_and_a_grant_covers_it() -> None:
    subjects = tuple(f"c-{i}" for i in range(10))
    d = run(request(subjects=subjects), ticket_view=ticket())
    assert d.decision == "pending"
    assert "a bulk access (10 or more)" in d.reasons[0]
    nine = run(request(subjects=subjects[:9]), ticket_view=ticket())
    assert nine.decision == "allow"
    d = run(request(subjects=subjects), ticket_view=ticket(), grants=(grant(),))
    assert d.decision == "allow" and d.grant == "g-1"


@pytest.mark.parametrize(
    ("the_grant", "words"),
    [
        (grant(merchant="m-3"), "grant g-1 is for merchant m-3, not m-7"),
        (grant(actor="agent-2"), "grant g-1 is agent-2's, not yours"),
        (grant(state="requested"), "grant g-1 is still awaiting approval"),
        (grant(state="revoked"), "grant g-1 is revoked"),
        (grant(state="denied"), "grant g-1 is denied"),
        (grant(approvals=frozenset()), "lacks the approval of the merchant"),
        (grant(expires_us=NOW), f"grant g-1 expired at {iso(NOW)}"),
        (grant(actions=frozenset({"view"})), "grant g-1 does not cover exports"),
        (grant(max_records=499), "covers at most 499 records; the request is for 500"),
        (grant(categories=frozenset({"location"})), "covers none of the categories"),
    ],
)
def test_a_grant_that_does_not_cover_the_export_leaves_it_pending(
    the_grant: GrantView, words: str
) -> None:
    d = run(export(ticket=None), grants=(the_grant,))
    assert d.decision == "pending"
    assert d.grant is None
    assert any(words in r for r in d.reasons), d.reasons


def test_expiry_boundary_and_max_records_boundary() -> None:
    g = grant(expires_us=NOW + 1)
    assert run(export(ticket=None), grants=(g,), now=NOW).decision == "allow"
    assert run(export(ticket=None), grants=(g,), now=NOW + 1).decision == "pending"
    exact = grant(max_records=500)
    assert run(export(ticket=None), grants=(exact,)).decision == "allow"


def test_no_grant_reuse_across_merchants_even_when_passed_in() -> None:
    at_m3 = grant(merchant="m-3")
    d = run(export(ticket=None, merchant="m-7"), grants=(at_m3,))
    assert d.decision == "pending"
    d = run(request(ticket=None), grants=(at_m3,))
    assert d.decision == "deny"


def test_the_best_grant_is_chosen_deterministically() -> None:
    narrow = grant(id="g-narrow", categories=frozenset({"contact"}), expires_us=NOW + 9 * HOUR)
    wide = grant(id="g-wide")
    twin = grant(id="g-a")
    assert run(export(ticket=None), grants=(narrow, wide)).grant == "g-wide"
    assert run(export(ticket=None), grants=(wide, twin)).grant == "g-a"
    assert run(export(ticket=None), grants=(twin, wide)).grant == "g-a"
    later = grant(id="g-z", expires_us=NOW + 5 * HOUR)
    assert run(export(ticket=None), grants=(twin, later)).grant == "g-z"


def test_a_grant_also_allows_a_single_view_without_a_ticket() -> None:
    d = run(request(ticket=None), grants=(grant(),))
    assert d.decision == "allow" and d.grant == "g-1"
    assert d.mask == ("contact", "payment_partial")


# -- suspension and break-glass -------------------------------------------------------------


def test_a_suspended_actor_is_denied_even_with_ticket_grant_and_break_glass() -> None:
    d = run(
        request(break_glass="the customer is being defrauded right now"),
        ticket_view=ticket(),
        grants=(grant(),),
        suspended=True,
    )
    assert d.decision == "deny"
    assert d.reasons == (
        "agent-1 is suspended pending review of a high-severity alert: every access is denied "
        "until a responder lifts the suspension.",
    )


def test_break_glass_allows_for_its_duration_and_flags_the_alert() -> None:
    reason = "customer locked out during an account takeover"
    d = run(request(ticket=None, break_glass=reason))
    assert d.decision == "allow" and d.break_glass
    assert d.expires_us == NOW + 60 * MINUTE
    assert f'stated "{reason}"' in d.reasons[0]
    assert "a high-severity alert goes to the responders" in d.reasons[0]
    assert d.reasons[1] == (
        "Without break-glass: No ticket is cited, and no approved, live grant covers it."
    )
    assert d.mask == ("contact", "payment_partial")


def test_break_glass_is_not_used_when_a_ticket_allows_anyway() -> None:
    d = run(request(break_glass="an emergency, honestly"), ticket_view=ticket())
    assert d.decision == "allow" and not d.break_glass and d.expires_us is None


def test_break_glass_refusals() -> None:
    d = run(request(ticket=None, break_glass="urgent"))
    assert d.decision == "deny" and "at least 10 characters" in d.reasons[0]
    d = run(export(ticket=None, break_glass="the authority asked for it today"))
    assert d.decision == "deny" and "Break-glass does not cover exports" in d.reasons[0]
    off = parse_policy(
        '[teams.t]\nactions=["view"]\nchannels=["admin"]\ncategories=["contact"]\n'
        "[break_glass]\nenabled = false\n"
    )
    req = request(team="t", channel="admin", ticket=None, purpose=None, break_glass="x" * 20)
    d = decide(off, req, ticket=None, grants=(), suspended=False, now_us=NOW)
    assert d.decision == "deny" and "turned off" in d.reasons[0]


# -- the request ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"action": "exprot"}, 'action: "exprot" is not an action (view, search, export'),
        ({"channel": "phone"}, 'channel: "phone" is not a channel (support_console'),
        ({"data": ("contact", "mood")}, 'data[1]: "mood" is not a data category (contact'),
        ({"data": ()}, "data: name at least one data category"),
        ({"subjects": ("c-1",), "count": 1}, "subjects and count: give one of them"),
        # What the access event recording the decision could not hold (PostgreSQL cannot
        # store a NUL): refused here, not by the ledger write of a whole group of decisions.
        ({"actor": "agent\x00-1"}, "actor: contains a NUL character"),
        ({"break_glass": "locked out \x00 now"}, "break_glass: contains a NUL character"),
        ({"subjects": ("c-1", "c-\x00")}, "subjects[1]: contains a NUL character"),
        ({"source": Source(device="d\x00")}, "source.device: contains a NUL character"),
    ],
)
def test_invalid_requests_are_refused_naming_the_field(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(RequestError, match="^" + re.escape(message)):
        request(**changes)
    raw = msgspec.json.encode(msgspec.structs.asdict(request()) | changes)
    with pytest.raises(RequestError, match=re.escape(message)):
        parse_request(raw)


def test_parse_request_reads_the_issue_shape_and_refuses_unknown_fields() -> None:
    raw = (
        b'{"actor":"agent-1","merchant":"m-7","action":"view","data":["address"],'
        b'"channel":"support_console","ticket":"T-42","source":{"ip":"10.0.0.1"}}'
    )
    assert parse_request(raw).records == 1
    with pytest.raises(RequestError, match="unknown field `colour`"):
        parse_request(raw[:-1] + b',"colour":"red"}')
    with pytest.raises(RequestError, match=r"\$.count: Expected `int` >= 0"):
        parse_request(raw[:-1] + b',"count":-1}')
    with pytest.raises(RequestError, match="not a JSON request"):
        parse_request(b"{")
    # subjects as the access event recording the decision takes them (1 to 128 characters)
    for subject in ('""', '"' + "c" * 129 + '"'):
        with pytest.raises(RequestError, match=r"^\$.subjects\[0\]: Expected `str` of length"):
            parse_request(raw[:-1] + b',"subjects":[' + subject.encode() + b"]}")


_ASKED = (
    b'{"actor":"agent-1","merchant":"m-7","action":"view","data":["address"],'
    b'"channel":"support_console","ticket":"T-42","source":{"ip":"10.0.0.1"}}'
)


def _twice(member: bytes, again: bytes, raw: bytes = _ASKED) -> bytes:
    """``raw`` with ``again`` right after its ``member``: a key given a second time."""
    assert raw.count(member) == 1
    return raw.replace(member, member + b"," + again)


@pytest.mark.parametrize(
    ("raw", "path", "key"),
    [
        (_twice(b'"actor":"agent-1"', b'"actor":"agent-2"'), "$.actor", "actor"),
        (_twice(b'"actor":"agent-1"', b'"actor":"agent-1"'), "$.actor", "actor"),  # same value
        (_twice(b'"ip":"10.0.0.1"', b'"ip":"10.6.6.6"'), "$.source.ip", "ip"),  # nested
        (_twice(b'"ticket":"T-42"', b'"count":5,"count":7'), "$.count", "count"),  # no string
        (_twice(b'"ticket":"T-42"', b'"team":null,"team":"tier1"'), "$.team", "team"),
        (_twice(b'"ticket":"T-42"', b'"team":null,"team":null'), "$.team", "team"),
        (  # the two quotes the repeated key takes, given back by two \u0022 escapes
            _twice(b'"ticket":"T-42"', b'"team":"\\u0022\\u0022","count":5,"count":7'),
            "$.count",
            "count",
        ),
        (  # a repeated key that also breaks the schema: the key is named, not the schema
            _twice(b'"ticket":"T-42"', b'"count":1,"subjects":["c-1"],"count":null'),
            "$.count",
            "count",
        ),
    ],
    ids=["top", "same-value", "nested", "integer", "null-then-text", "nulls", "escaped", "schema"],
)
def test_a_key_given_twice_is_refused_naming_it(raw: bytes, path: str, key: str) -> None:
    # Before: decoded, the last one winning (a proxy reading the first checked another request).
    message = f'{path}: duplicate key "{key}" in one object (each key once)'
    for parse in (parse_request, parse_decide):
        with pytest.raises(RequestError) as refused:
            parse(raw)
        assert str(refused.value) == message, parse


@pytest.mark.parametrize(
    "raw",
    [
        _ASKED,
        _twice(b'"ticket":"T-42"', b'"team":null,"role":null'),  # nulls: the full check, passed
        _twice(b'"ticket":"T-42"', b'"break_glass":"quote \\" and \\u0022:null\\":null"'),
        _twice(b'"ticket":"T-42"', b'"request_id":"r-1"'),
    ],
    ids=["plain", "nulls", "escaped-quotes", "request-id"],
)
def test_requests_without_a_repeated_key_are_read_as_before(raw: bytes) -> None:
    decoded = msgspec.json.decode(raw)
    assert msgspec.structs.asdict(parse_decide(raw))["actor"] == decoded["actor"]
    if b"request_id" not in raw:
        assert parse_request(raw) == msgspec.convert(decoded, AccessRequest)


@settings(max_examples=300, deadline=None)
@given(
    fields=st.fixed_dictionaries(
        {"actor": st.text(min_size=1, max_size=8), "merchant": st.just("m-7")},
        optional={
            "team": st.none() | st.text(min_size=1, max_size=8),
            "ticket": st.none() | st.text(min_size=1, max_size=8),
            "subjects": st.none() | st.lists(st.text(min_size=1, max_size=8), max_size=3),
            "count": st.none() | st.integers(0, 99),
            "break_glass": st.none() | st.text(max_size=12),
            "source": st.fixed_dictionaries({}, optional={"ip": st.text(max_size=8)}),
        },
    ),
    again=st.none() | st.integers(0, 9) | st.text(max_size=8),
    ascii_only=st.booleans(),
    data=st.data(),
)
def test_no_repeated_key_slips_past_the_cheap_test(
    fields: dict[str, Any], again: Any, ascii_only: bool, data: st.DataObject
) -> None:
    fields = {**fields, "action": "view", "data": ["contact"], "channel": "support_console"}
    key = data.draw(st.sampled_from(sorted(fields)))
    dumped = json.dumps(fields, ensure_ascii=ascii_only)  # with \u escapes, or without
    raw = dumped[:-1] + f", {json.dumps(key)}: {json.dumps(again, ensure_ascii=ascii_only)}}}"
    with pytest.raises(RequestError) as refused:
        parse_decide(raw.encode("utf-8", "surrogatepass"))
    assert str(refused.value) == f'$.{key}: duplicate key "{key}" in one object (each key once)'


def test_check_request_checks_what_constructing_does_not() -> None:
    fields = msgspec.structs.asdict(request())
    assert check_request(fields) == request()
    for changes, message in (
        ({"actor": ""}, "$.actor: Expected `str` of length >= 1"),
        ({"team": "t" * 65}, "$.team: Expected `str` of length <= 64"),
        ({"count": 2**53, "subjects": None}, "$.count: Expected `int` <= 9007199254740991"),
        ({"action": "exprot"}, 'action: "exprot" is not an action'),
    ):
        with pytest.raises(RequestError, match="^" + re.escape(message)):
            check_request(fields | changes)


def test_to_dict_is_the_issue_shape() -> None:
    d = run(export(ticket=None), grants=(grant(),)).to_dict()
    assert set(d) == {"decision", "grant", "mask", "expires", "reasons", "break_glass", "approvers"}
    assert d["expires"] == iso(NOW + 4 * HOUR) and d["grant"] == "g-1"


# -- properties -----------------------------------------------------------------------------

_ids = st.sampled_from(["agent-1", "agent-2"])
_merchants = st.sampled_from(["m-7", "m-3", "m-strict"])
_categories = st.lists(st.sampled_from(DATA_CATEGORIES), min_size=1, max_size=4, unique=True)
_requests = st.builds(
    AccessRequest,
    actor=_ids,
    merchant=_merchants,
    action=st.sampled_from(ACCESS_ACTIONS),
    data=_categories.map(tuple),
    channel=st.sampled_from(CHANNELS),
    team=st.sampled_from([None, "tier1", "fraud", "pirates"]),
    role=st.sampled_from([None, "lead", "agent"]),
    ticket=st.sampled_from([None, "T-42", "T-43", "bad id"]),
    count=st.one_of(st.none(), st.integers(0, 5000)),
    purpose=st.sampled_from([None, *sorted(POLICY.purposes), "gossip"]),
    break_glass=st.sampled_from([None, "short", "a real emergency, stated in full"]),
)
_tickets = st.one_of(
    st.none(),
    st.builds(
        TicketView,
        id=st.sampled_from(["T-42", "T-43"]),
        state=st.sampled_from(["open", "closed"]),
        merchant=st.one_of(st.none(), _merchants),
        assignees=st.frozensets(_ids, max_size=2),
        purpose=st.sampled_from([None, "fraud_review", "refund", "free text"]),
    ),
)
_grants = st.lists(
    st.builds(
        GrantView,
        id=st.sampled_from(["g-1", "g-2", "g-3"]),
        actor=_ids,
        merchant=_merchants,
        actions=st.frozensets(st.sampled_from(ACCESS_ACTIONS), max_size=3),
        categories=st.frozensets(st.sampled_from(DATA_CATEGORIES), max_size=5),
        max_records=st.integers(1, 5000),
        state=st.sampled_from(["requested", "approved", "denied", "revoked", "expired"]),
        expires_us=st.integers(NOW - HOUR, NOW + HOUR),
        approvals=st.frozensets(st.sampled_from(["merchant", "staff"])),
    ),
    max_size=4,
)


def _live_covering(g: GrantView, req: AccessRequest, now: int) -> bool:
    return (
        g.state == "approved"
        and g.actor == req.actor
        and g.merchant == req.merchant
        and now < g.expires_us
        and req.action in g.actions
        and req.records <= g.max_records
        and set(POLICY.approvers_for(req.merchant)) <= g.approvals
    )


@settings(max_examples=400, deadline=None)
@given(req=_requests, view=_tickets, grants=_grants, suspended=st.booleans(), data=st.data())
def test_no_export_without_a_live_approved_grant_or_break_glass_and_suspended_is_denied(
    req: AccessRequest,
    view: TicketView | None,
    grants: list[GrantView],
    suspended: bool,
    data: st.DataObject,
) -> None:
    now = data.draw(st.integers(NOW - HOUR, NOW + HOUR))
    d = decide(POLICY, req, ticket=view, grants=grants, suspended=suspended, now_us=now)
    assert d.reasons and all(r.strip() for r in d.reasons)
    assert set(d.mask) <= set(req.data)
    if suspended:
        assert d.decision == "deny"
    if d.decision != "allow":
        assert d.grant is None and not d.break_glass
        return
    assert set(d.mask) < set(req.data)  # something is shown
    needs = req.action in POLICY.approval.actions or req.records >= POLICY.approval.bulk_records
    if d.grant is not None:
        used = next(g for g in grants if g.id == d.grant and _live_covering(g, req, now))
        assert d.expires_us == used.expires_us
    elif d.break_glass:
        assert d.expires_us == now + POLICY.break_glass.duration_us
        assert req.break_glass is not None
    else:
        assert not needs  # an export or bulk list never goes through on a ticket alone
        assert view is not None and view.state == "open" and view.merchant == req.merchant
    if req.action == "export":
        assert d.grant is not None or d.break_glass
    # deterministic: the same inputs, the same decision
    again = decide(POLICY, req, ticket=view, grants=grants, suspended=suspended, now_us=now)
    assert again == d
