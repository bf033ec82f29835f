"""The row ingest stores for an event (:func:`event_row`) and the indexed columns
:func:`event_columns` reads from it, written out by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sentinelle.events import decode_canonical
from sentinelle.ledger.log import event_columns, event_row

T = "2026-11-23T10:00:00+02:00"  # not UTC: normalised first
T_US = 1_795_420_800_000_000  # 2026-11-23T08:00:00Z


@pytest.mark.parametrize(
    ("fields", "columns"),
    [
        (
            {"type": "ticket.opened", "ticket": "T-1", "merchant": "m-1", "actor": "a-1"},
            ("ticket.opened", "a-1", "m-1", "T-1"),
        ),
        ({"type": "ticket.closed"}, ("ticket.closed", None, None, None)),
        (
            {"type": "staff.joined", "actor": "a-1", "team": "t"},
            ("staff.joined", "a-1", None, None),
        ),
        (
            {"type": "staff.left", "actor": "a-1", "ticket": "T-9"},
            ("staff.left", "a-1", None, None),
        ),
        (
            {"type": "grant.approved", "grant": "G-1", "actor": "a-2", "expires": T, "by": "b"},
            ("grant.approved", "a-2", None, "G-1"),
        ),
        ({"type": "grant.revoked", "merchant": "m-2"}, ("grant.revoked", None, "m-2", None)),
        (
            {"type": "grant.requested", "ticket": "T-3", "grant": "G-3"},
            ("grant.requested", None, None, "G-3"),
        ),
    ],
)
def test_a_context_row_is_seq_columns_body_and_no_facets(
    fields: dict[str, str], columns: tuple[Any, ...]
) -> None:
    event, body = decode_canonical(json.dumps({"id": "e-1", "time": T, **fields}))
    text = body.decode()
    action, actor, merchant, ref = columns
    assert event_row(41, event, text) == (41, "e-1", T_US, action, actor, merchant, ref, text, None)
    assert event_columns(event) == ("e-1", T_US, action, actor, merchant, ref)


def test_an_access_row_carries_its_facets() -> None:
    event, body = decode_canonical(
        json.dumps(
            {
                "id": "e-2",
                "time": T,
                "action": "view",
                "actor": {"id": "a-1", "kind": "staff"},
                "merchant": "m-1",
                "resource": {"type": "customer"},
                "outcome": "allowed",
                "channel": "support_console",
                "data": ["contact"],
            }
        )
    )
    text = body.decode()
    assert event_row(7, event, text, 5) == (7, "e-2", T_US, "view", "a-1", "m-1", None, text, 5)
    assert event_columns(event) == ("e-2", T_US, "view", "a-1", "m-1", None)
