"""The access event that records a decision: a valid event of the schema, with what the
request and the decision say."""

from __future__ import annotations

import json

import msgspec

from sentinelle.events import decode_canonical
from sentinelle.events.model import Source
from sentinelle.guard import AccessRequest, Decision
from sentinelle.guard.recording import access_event
from sentinelle.timeutil import parse_time

_encode = msgspec.json.encode

NOW = parse_time("2026-11-05T10:00:00.5Z")


def test_the_access_event_is_valid_and_says_what_was_decided() -> None:
    request = AccessRequest(
        actor="agent-1", team="tier1", role="lead", merchant="m-1", action="view",
        data=("contact",), channel="support_console", ticket="T-1", subjects=("c-1", "c-2"),
        source=Source(ip="10.0.0.1"),
    )  # fmt: skip
    decision = Decision(decision="pending", grant=None, reasons=("x" * 300,))
    _event, body = decode_canonical(_encode(access_event("dec-1", request, decision, NOW)))
    assert (
        json.loads(body)
        == {
            "id": "dec-1",
            "time": "2026-11-05T10:00:00.500000Z",
            "actor": {"id": "agent-1", "kind": "staff", "role": "lead", "team": "tier1"},
            "action": "view",
            "merchant": "m-1",
            "channel": "support_console",
            "data": ["contact"],
            "outcome": "denied",  # pending is not served
            "justification": {"ticket": "T-1", "reason": ("pending: " + "x" * 300)[:256]},
            "subjects": ["c-1", "c-2"],
            "source": {"ip": "10.0.0.1"},
        }
    )
    allowed = Decision(decision="allow", grant="g-1", reasons=())
    counted = AccessRequest(
        actor="a", merchant="m-1", action="export", data=("contact",), channel="export", count=7
    )
    _event, body = decode_canonical(_encode(access_event("dec-2", counted, allowed, NOW)))
    event = json.loads(body)
    assert event["actor"] == {"id": "a", "kind": "staff"}
    assert event["outcome"] == "allowed" and event["resource"] == {"count": 7}
    assert event["justification"] == {"grant": "g-1", "reason": "allow: "}
