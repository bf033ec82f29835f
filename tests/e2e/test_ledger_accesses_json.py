"""The merchants' accesses page is written as JSON text, each stored event spliced in: the bytes
must be those FastAPI's encoder gives for the decoded page, and the route's OpenAPI description
must not change.

* a property test of ``AccessesPage.to_json`` against pydantic's ``dump_json`` of the same page, the
  events being RFC 8785 canonical JSON of any strings (controls, quotes, non-ASCII, U+2028);
* the route on both stores: a page with such strings, its bytes against ``dump_json`` of
  the parsed page, each ``event`` against the stored event; the empty ledger; the schema.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import rfc8785
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.api.routes.merchants import AccessesPage, AccessItem
from sentinelle.config import Settings
from sentinelle.ledger.merkle import leaf_hash, verify_inclusion
from sentinelle.transparency.accesses import Approver, Shown

FASTAPI_JSON = TypeAdapter(dict[str, Any])  # what the route's dict[str, Any] response gave
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)  # any but surrogates
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
EVENTS = st.dictionaries(TEXT, JSON_VALUES, max_size=5).map(lambda e: rfc8785.dumps(e).decode())
HASHES = st.lists(st.binary(min_size=32, max_size=32), max_size=4)


def old_page(
    note: str | None,
    size: int,
    page: list[tuple[int, str | None, Shown]],
    proofs: list[list[bytes]],
    nxt: Any,
) -> bytes:
    """The page as FastAPI's encoder writes it: events decoded, then encoded."""
    return FASTAPI_JSON.dump_json(
        {
            "checkpoint": note,
            "size": size,
            "items": [
                {
                    "event": json.loads(body) if body is not None else None,
                    "leaf_index": seq,
                    "leaf_hash": leaf_hash((body or "").encode()).hex(),
                    "proof": [h.hex() for h in path],
                    "shown": msgspec.to_builtins(view),
                }
                for (seq, body, view), path in zip(page, proofs, strict=True)
            ],
            "next": nxt,
        }
    )


SHOWN = st.builds(
    Shown,
    id=TEXT,
    time=TEXT,
    actor=TEXT,
    actor_kind=TEXT,
    named=st.booleans(),
    team=st.none() | TEXT,
    role=st.none() | TEXT,
    country=st.none() | TEXT,
    action=TEXT,
    resource=st.none() | TEXT,
    customers=st.none() | st.integers(0, 2**53 - 1),
    categories=st.lists(TEXT, max_size=3),
    channel=TEXT,
    ticket=st.none() | TEXT,
    grant=st.none() | TEXT,
    reason=st.none() | TEXT,
    approvers=st.lists(st.builds(Approver, as_=TEXT, by=st.none() | TEXT), max_size=2),
    outcome=TEXT,
    justified=st.booleans(),
)


@given(
    note=st.none() | TEXT,
    size=st.integers(0, 2**40),
    items=st.lists(st.tuples(st.integers(0, 2**40), st.none() | EVENTS, SHOWN, HASHES), max_size=5),
    nxt=st.none() | TEXT,
)
@settings(max_examples=300, deadline=None)
def test_page_json_gives_the_bytes_of_fastapis_encoder(
    note: str | None,
    size: int,
    items: list[tuple[int, str | None, Shown, list[bytes]]],
    nxt: str | None,
) -> None:
    page = [(seq, body, view) for seq, body, view, _ in items]
    proofs = [path for _, _, _, path in items]
    built = [
        AccessItem(
            leaf_index=seq,
            text=body,
            leaf=leaf_hash((body or "").encode()),
            proof=path,
            shown=view,
        )
        for (seq, body, view), path in zip(page, proofs, strict=True)
    ]
    assert AccessesPage(note, size, built, nxt).to_json() == old_page(note, size, page, proofs, nxt)


MERCHANT = "m-ü\u2028"
ODD = 'tab\t quote" back\\ slash/ nl\n \u001f é — \u2028 \U0001f600 \u007f'


@pytest.fixture
def client(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    app = create_app(settings)
    store = app.state.sentinelle.store
    with TestClient(app) as c:
        reader = create_key(store, name="reader", role=Role.READER, by="tests")
        ingest = create_key(store, name="ingest", by="tests")
        yield c, {"Authorization": f"Bearer {reader}"}, {"Authorization": f"Bearer {ingest}"}


def event(n: int) -> dict[str, Any]:
    return {
        "id": f"evt-{n}",
        "time": f"2026-11-02T08:{n // 60:02d}:{n % 60:02d}Z",
        "actor": {"id": f"agent-{n % 3}", "kind": "staff", "role": ODD, "team": "fraud"},
        "action": "view",
        "merchant": MERCHANT,
        "resource": {"type": "order", "count": n},
        "subjects": [f"c-{n}", ODD],
        "data": ["contact"],
        "channel": "support_console",
        "outcome": "allowed",
        "justification": {"reason": ODD + str(n)},
    }


def test_the_route_writes_what_the_encoder_wrote(
    client: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    c, reader, ingest = client
    path = "/v1/merchants/m-%C3%BC%E2%80%A8/accesses"
    empty = c.get(path, headers=reader)
    assert empty.status_code == 200
    assert empty.headers["content-type"] == "application/json"
    assert empty.content == b'{"checkpoint":null,"size":0,"items":[],"next":null}'

    sent = [event(n) for n in range(300)]
    posted = c.post(
        "/v1/events",
        content=json.dumps(sent),
        headers={**ingest, "Content-Type": "application/json"},
    )
    assert posted.status_code == 200, posted.text
    cursor, seen = None, 0
    while True:
        params: dict[str, Any] = {"limit": 120, **({"cursor": cursor} if cursor else {})}
        response = c.get(path, params=params, headers=reader)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        page = response.json()
        assert response.content == FASTAPI_JSON.dump_json(page)
        root = base64.b64decode(page["checkpoint"].split("\n")[2])  # the note's root line
        for item in page["items"]:
            leaf = rfc8785.dumps(item["event"])
            assert leaf.decode() in response.content.decode()  # spliced as stored
            assert item["event"] == {
                **sent[item["leaf_index"]],
                "time": item["event"]["time"],
            }
            proof = [bytes.fromhex(h) for h in item["proof"]]
            verify_inclusion(leaf_hash(leaf), item["leaf_index"], page["size"], proof, root)
        seen += len(page["items"])
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == 300


def test_the_openapi_description_is_unchanged(
    client: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    c, _, _ = client
    route = c.get("/openapi.json").json()["paths"]["/v1/merchants/{merchant}/accesses"]["get"]
    assert route["responses"]["200"] == {
        "description": "Successful Response",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": True,
                    "title": "Response Merchant Accesses V1 Merchants  Merchant  Accesses Get",
                }
            }
        },
    }
