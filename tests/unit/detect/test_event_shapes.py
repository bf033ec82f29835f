"""What detection reads from an access event's optional parts: a list view or an export, when
the event says what it showed (``resource.type``) and when it does not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sentinelle.detect.context import BULK_SUBJECTS, is_bulk, is_list
from sentinelle.events import AccessEvent, decode_event


def access_event(**fields: Any) -> AccessEvent:
    """A staff view by ana at merchant m1 on 2026-11-02, with ``fields`` set or replaced."""
    event = {
        "id": "a-1",
        "time": "2026-11-02T09:00:00Z",
        "actor": {"id": "ana", "kind": "staff"},
        "action": "view",
        "merchant": "m1",
        "data": ["contact"],
        "channel": "support_console",
        "outcome": "allowed",
        **fields,
    }
    decoded = decode_event(json.dumps(event))
    assert isinstance(decoded, AccessEvent)
    return decoded


def _named(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


@pytest.mark.parametrize(
    ("fields", "listed", "bulk"),
    [
        # Said: the type decides what is a list, the customers how big it is.
        ({"resource": {"type": "customer_list"}, "subjects": _named(BULK_SUBJECTS)}, True, True),
        ({"resource": {"type": "customer_list"}, "subjects": _named(3)}, True, False),
        ({"resource": {"type": "order_list", "count": 500}}, True, True),
        ({"resource": {"type": "customer"}, "subjects": _named(50)}, False, False),
        ({"resource": {"type": "order"}, "subjects": _named(1)}, False, False),
        # Not said (resource is optional): many customers at once is a list.
        ({"subjects": _named(BULK_SUBJECTS)}, True, True),
        ({"subjects": _named(BULK_SUBJECTS - 1)}, True, False),
        ({"subjects": _named(1)}, False, False),
        ({"resource": {"count": 250}}, False, True),
        ({"resource": {"count": 1}}, False, False),
        ({}, False, False),
        # An export takes the data away, whatever it says.
        ({"action": "export"}, False, True),
    ],
)
def test_what_a_list_is(fields: dict[str, Any], listed: bool, bulk: bool) -> None:
    event = access_event(**fields)
    assert (is_list(event), is_bulk(event)) == (listed, bulk)
