"""The rows ingest builds in its hot loop hold what :func:`event_columns` says."""

from __future__ import annotations

import json

import pytest

from sentinelle.events import decode_canonical
from sentinelle.ingest.pipeline import _context_row
from sentinelle.ledger.log import event_columns

T = "2026-11-23T10:00:00+02:00"  # not UTC: normalised first


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "ticket.opened", "ticket": "T-1", "merchant": "m-1", "actor": "a-1"},
        {"type": "ticket.closed"},
        {"type": "staff.joined", "actor": "a-1", "team": "t"},
        {"type": "staff.left", "actor": "a-1", "ticket": "T-9"},
        {"type": "grant.approved", "grant": "G-1", "actor": "a-2", "expires": T, "by": "b"},
        {"type": "grant.revoked", "merchant": "m-2"},
        {"type": "grant.requested", "ticket": "T-3", "grant": "G-3"},
    ],
)
def test_a_context_row_is_seq_columns_body_and_no_facets(fields: dict[str, str]) -> None:
    event, body = decode_canonical(json.dumps({"id": "e-1", "time": T, **fields}))
    text = body.decode()
    assert _context_row(41, event, text) == (41, *event_columns(event), text, None)  # type: ignore[arg-type]
