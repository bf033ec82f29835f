"""End to end: the REST API on both stores, through FastAPI's TestClient and a real server.

``create_app(settings)`` opens its own store; tests read it back through
``app.state.sentinelle`` and, to see exactly what is on disk, straight from the database.
One test starts ``sentinelle serve`` as a subprocess and talks HTTP to it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.deps import KEY_CACHE_SECONDS
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.ingest import MAX_PROBLEMS
from sentinelle.ledger.checkpoint import Verifier
from sentinelle.ledger.log import Ledger
from sentinelle.ledger.merkle import verify_inclusion
from sentinelle.sim import generate_events
from sentinelle.store import Store, open_store

ORIGIN = "sentinelle.local/ledger"
ANY_NUL = "contains a NUL character (\\u0000), which cannot be stored"
ROUTES = [
    ("POST", "/v1/events"),
    ("GET", "/v1/ledger/checkpoint"),
    ("GET", "/v1/ledger/proof/some-event"),
]


# -- helpers -----------------------------------------------------------------------------------


def _events(count: int, tag: str, *, seed: int = 1) -> list[dict[str, Any]]:
    """Simulated events whose ids carry ``tag``, so batches with different tags never collide."""
    return [{**e, "id": f"{tag}-{e['id']}"} for e in generate_events(events=count, seed=seed)]


def _access(count: int, tag: str) -> list[dict[str, Any]]:
    """``count`` access events (they have the most fields to get wrong)."""
    found = [e for e in _events(4 * count, tag) if "action" in e][:count]
    assert len(found) == count
    return found


def _ndjson(events: Sequence[dict[str, Any] | str], *, eol: str = "\n") -> bytes:
    lines = [e if isinstance(e, str) else json.dumps(e) for e in events]
    return (eol.join(lines) + eol).encode()


@dataclass(frozen=True, slots=True)
class Api:
    """A TestClient on the app, the app's own store and ledger, an ingest key (``key``) and a
    reader key (``reader``, for the reads)."""

    client: TestClient
    store: Store
    ledger: Ledger
    key: str
    reader: str

    def post(
        self, body: bytes | list[Any], *, key: str | None = None, ndjson: bool = False
    ) -> httpx.Response:
        """POST /v1/events with a valid key (or ``key``); lists are sent as JSON arrays."""
        content = json.dumps(body).encode() if isinstance(body, list) else body
        kind = "application/x-ndjson" if ndjson else "application/json"
        headers = {"Authorization": f"Bearer {key or self.key}", "Content-Type": kind}
        response: httpx.Response = self.client.post("/v1/events", content=content, headers=headers)
        return response

    def get(self, path: str, **params: Any) -> httpx.Response:
        """GET with a valid key."""
        auth = {"Authorization": f"Bearer {self.reader}"}
        response: httpx.Response = self.client.get(path, params=params, headers=auth)
        return response

    def stored(self, ids: list[str]) -> set[str]:
        """The ids among ``ids`` that the store holds."""
        return {i for i in ids if self.store.event_by_id(i) is not None}


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    """The app on the store of ``settings``; the context manager runs its lifespan."""
    app = create_app(settings)
    state = app.state.sentinelle
    with TestClient(app) as client:
        key = create_key(state.store, name="tests", by="tests")  # ingest: sends events only
        reader = create_key(state.store, name="reader", role=Role.READER, by="tests")
        yield Api(client=client, store=state.store, ledger=state.ledger, key=key, reader=reader)


def _refused(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"] == "batch refused, nothing was written"
    errors: list[dict[str, Any]] = body["errors"]
    assert isinstance(body["truncated"], bool)
    return errors


# -- authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer snl_" + "A" * 43,  # well formed, never issued
        "Bearer not-a-sentinelle-key",
        "Bearer ",
        "Basic {key}",  # the right key under the wrong scheme
        "{key}",  # no scheme at all
    ],
    ids=["missing", "unknown", "foreign", "empty", "basic", "bare"],
)
def test_requests_without_a_valid_key_get_401(api: Api, authorization: str | None) -> None:
    events = _access(3, "auth")
    headers = {} if authorization is None else {"Authorization": authorization.format(key=api.key)}
    for method, path in ROUTES:
        content = json.dumps(events).encode() if method == "POST" else None
        response = api.client.request(method, path, headers=headers, content=content)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "API key" in response.json()["detail"]
    assert api.store.ledger_size() == 0
    assert api.stored([e["id"] for e in events]) == set()


PUBLIC = {"/openapi.json", "/docs", "/health"}


def test_only_the_api_description_and_health_are_public(api: Api) -> None:
    # The README and the api module say so: these answer without a key, nothing else does.
    for path in sorted(PUBLIC):
        assert api.client.get(path).status_code == 200, path
    paths = api.client.get("/openapi.json").json()["paths"]
    assert set(paths) - PUBLIC
    for template, operations in paths.items():
        if template in PUBLIC:
            continue
        if any(op.get("x-sentinelle-auth") == "signature" for op in operations.values()):
            continue  # help desks' webhooks: the vendor's signature (test_connectors.py)
        path = re.sub(r"\{[^}]+\}", "x", template)
        for method in operations:
            response = api.client.request(method.upper(), path)
            assert response.status_code == 401, (method, path, response.status_code)


def test_the_reference_is_one_page_with_no_script_from_elsewhere(api: Api) -> None:
    # FastAPI's Swagger UI and ReDoc load their code from a CDN: blank offline. Ours is plain.
    page = api.client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    assert "<script" not in html.lower() and "http" not in html.split("</style>")[0]
    # Every route of the document, with its permission and its parameters.
    paths = api.client.get("/openapi.json").json()["paths"]
    for template in paths:
        assert f"<code>{template}</code>" in html, template
    assert "Permission: <code>events:write</code>" in html
    assert "<code>cursor</code>" in html and "<code>limit</code>" in html
    assert "``" not in html  # docstring literals are shown as code
    for gone in ("/redoc", "/docs/oauth2-redirect"):
        assert api.client.get(gone).status_code == 404, gone


def test_revoked_key_gets_401(api: Api) -> None:
    other = create_key(api.store, name="to-revoke", by="tests")
    assert api.post(_access(2, "before"), key=other).status_code == 200
    api.store.revoke_api_key("to-revoke")
    # A key found active is trusted for KEY_CACHE_SECONDS without a store read: once that has
    # passed (the cache's clock moved on), the revocation holds.
    keys = api.client.app.state.sentinelle.keys  # type: ignore[attr-defined]
    now = keys.clock()
    keys.clock = lambda: now + KEY_CACHE_SECONDS
    refused = api.post(_access(2, "after"), key=other)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert api.store.ledger_size() == 2
    assert api.post(_access(2, "still"), key=api.key).status_code == 200  # others keep working


# -- ingest ------------------------------------------------------------------------------------


def test_json_array_is_ingested(api: Api) -> None:
    events = _events(40, "array")
    response = api.post(events)
    assert response.status_code == 200, response.text
    got = response.json()
    n = len(events)
    assert {k: got[k] for k in ("received", "stored", "duplicates", "ledger_size")} == {
        "received": n,
        "stored": n,
        "duplicates": 0,
        "ledger_size": n,
    }
    assert got["duplicate_ids"] == [] and got["conflicting_ids"] == []
    cp = Verifier.from_verifier_key(api.ledger.key.verifier_key()).verify(
        got["checkpoint"], origin=ORIGIN
    )
    assert cp.size == n
    assert api.store.ledger_size() == n
    for i in (0, n // 2, n - 1):
        found = api.store.event_by_id(events[i]["id"])
        assert found is not None and found[0] == i
        assert json.loads(found[1]) == events[i]


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_ndjson_is_ingested(api: Api, eol: str) -> None:
    events = _events(25, "nd")
    body = (
        eol.encode() + _ndjson(events[:10], eol=eol) + eol.encode() + _ndjson(events[10:], eol=eol)
    )
    response = api.post(body, ndjson=True)
    assert response.status_code == 200, response.text
    got = response.json()
    assert (got["received"], got["stored"], got["ledger_size"]) == (len(events),) * 3
    assert api.stored([e["id"] for e in events]) == {e["id"] for e in events}


def test_bad_element_refuses_the_array_and_stores_nothing(api: Api) -> None:
    assert api.post(_events(10, "earlier")).status_code == 200
    size, checkpoints = api.store.ledger_size(), len(api.store.checkpoints())

    events = _access(6, "bad")
    events[2] = {**events[2], "action": "peek"}
    events[4] = {**events[4], "resource": {**events[4]["resource"], "count": -1}}
    response = api.post(events)
    errors = _refused(response)
    assert response.json()["truncated"] is False
    assert errors == [
        {"index": 2, "path": "$.action", "message": "Invalid enum value 'peek'"},
        {"index": 4, "path": "$.resource.count", "message": "Expected `int` >= 0"},
    ]
    assert api.store.ledger_size() == size
    assert len(api.store.checkpoints()) == checkpoints
    assert api.stored([e["id"] for e in events]) == set()


def test_bad_ndjson_line_refuses_the_batch(api: Api) -> None:
    events = _access(6, "ndbad")
    lines: list[dict[str, Any] | str] = list(events)
    # Line 4: an unknown field and then JSON cut short (the typed decoder sees the field first).
    lines[3] = '{"id": "broken", "colour": "red", "time": '
    lines[5] = {k: v for k, v in events[5].items() if k != "channel"}
    errors = _refused(api.post(_ndjson(lines), ndjson=True))
    assert errors == [
        {"line": 4, "path": "$", "message": "not valid JSON (Input data was truncated)"},
        {"line": 6, "path": "$", "message": "Object missing required field `channel`"},
    ]
    assert api.store.ledger_size() == 0
    assert api.stored([e["id"] for e in events]) == set()


def test_broken_json_is_named_at_its_element_or_line(api: Api) -> None:
    # msgspec refuses the whole array (or the line) as "Input data was truncated" for a lone
    # UTF-16 surrogate escape: the problem names the element (or line) and what is wrong.
    events = _access(3, "json")
    good = [json.dumps(e).encode() for e in events]
    lone = good[1].replace(b'"id": "', b'"id": "\\ud800x', 1)
    cut = b'{"id": "x", "time": '
    for body, index, words in (
        (b"[" + b",\n".join([good[0], lone, good[2]]) + b"]", 1, "\\ud800 is half of a UTF-16"),
        (b"[" + b", ".join([good[0], good[1], cut]) + b"]", 2, "not valid JSON (Expecting value"),
        (b"[" + b", ".join([good[0], b'{"id": NaN}']) + b"]", 1, "not valid JSON"),
    ):
        [error] = _refused(api.post(body))
        assert error["index"] == index, (body, error)
        assert words in error["message"], error
    errors = _refused(api.post(b"\n".join([good[0], lone, good[2]]), ndjson=True))
    assert [e["line"] for e in errors] == [2]
    assert "\\ud800 is half of a UTF-16 surrogate pair" in errors[0]["message"]
    assert api.store.ledger_size() == 0


def test_at_most_20_problems_are_returned(api: Api) -> None:
    events = _access(60, "many")
    bad = [{**e, "outcome": "maybe"} if i % 2 else e for i, e in enumerate(events)]
    response = api.post(bad)
    errors = _refused(response)
    assert response.json()["truncated"] is True
    assert [e["index"] for e in errors] == list(range(1, 2 * MAX_PROBLEMS, 2))
    assert {e["path"] for e in errors} == {"$.outcome"}
    assert api.store.ledger_size() == 0

    exactly = api.post(bad[: 2 * MAX_PROBLEMS])
    assert len(_refused(exactly)) == MAX_PROBLEMS
    assert exactly.json()["truncated"] is False


def test_duplicates_within_and_across_batches(api: Api) -> None:
    events = _events(30, "dup")
    batch = [*events, events[3], events[7]]
    got = api.post(batch).json()
    assert (got["received"], got["stored"], got["duplicates"]) == (len(batch), len(events), 2)
    assert got["duplicate_ids"] == [events[3]["id"], events[7]["id"]]
    assert got["conflicting_ids"] == []
    size = api.store.ledger_size()
    assert size == len(events)

    # Again, as NDJSON, plus one new event and one re-sent id with other content.
    access = next(i for i, e in enumerate(events) if e.get("outcome") == "allowed")
    changed = {**events[access], "outcome": "denied"}
    new = _events(3, "dup-new", seed=2)[0]
    again = api.post(_ndjson([*events, changed, new]), ndjson=True).json()
    assert (again["stored"], again["duplicates"]) == (1, len(events) + 1)
    assert again["duplicate_ids"] == [e["id"] for e in events] + [changed["id"]]
    assert again["conflicting_ids"] == [changed["id"]]
    assert again["ledger_size"] == size + 1
    found = api.store.event_by_id(changed["id"])
    assert found is not None and json.loads(found[1]) == events[access]  # the first is kept

    # Nothing new at all: no new leaf, no new checkpoint.
    checkpoints = len(api.store.checkpoints())
    none_new = api.post(events).json()
    assert (none_new["stored"], none_new["ledger_size"], none_new["checkpoint"]) == (
        0,
        size + 1,
        None,
    )
    assert len(api.store.checkpoints()) == checkpoints


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'[{"id": "a", ', [{"index": 0, "path": "$"}]),
        (b"[1, 2]", [{"index": 0, "path": "$"}, {"index": 1, "path": "$"}]),
        (b'{"id": ', [{"line": 1, "path": "$"}]),
        (b"\xff\xfe not utf-8\n", [{"line": 1, "path": "$"}]),
    ],
    ids=["truncated-array", "not-objects", "truncated-object", "binary"],
)
def test_malformed_body_is_422(api: Api, body: bytes, expected: list[dict[str, Any]]) -> None:
    errors = _refused(api.post(body))
    assert [{k: v for k, v in e.items() if k != "message"} for e in errors] == expected
    assert all(e["message"] for e in errors)
    assert api.store.ledger_size() == 0


@pytest.mark.parametrize("body", [b"[]", b"", b"\n\n"], ids=["empty-array", "empty", "blank"])
def test_empty_batch_stores_nothing(api: Api, body: bytes) -> None:
    response = api.post(body)
    assert response.status_code == 200, response.text
    assert (response.json()["received"], response.json()["checkpoint"]) == (0, None)
    assert api.store.ledger_size() == 0


def test_nul_character_is_422_with_its_place(api: Api) -> None:
    # PostgreSQL refused the whole batch with a 500 and no line; now validation names it.
    events = _access(4, "nul")
    events[2] = {**events[2], "merchant": "m-\u0000"}
    assert _refused(api.post(events)) == [
        {"index": 2, "path": "$.merchant", "message": ANY_NUL},
    ]
    lines: list[dict[str, Any] | str] = list(_access(3, "nulnd"))
    lines[1] = {**lines[1], "subjects": ["c-1", "c\u00002"]}  # type: ignore[dict-item]
    assert _refused(api.post(_ndjson(lines), ndjson=True)) == [
        {"line": 2, "path": "$.subjects[1]", "message": ANY_NUL},
    ]
    assert api.store.ledger_size() == 0


def test_deep_nesting_is_422_not_500(api: Api) -> None:
    deep = b"[" * 1000 + b"]" * 1000
    good = json.dumps(_access(2, "deep")).encode()
    errors = _refused(api.post(good[:-1] + b", " + deep + b"]"))
    assert [(e["index"], e["path"]) for e in errors] == [(2, "$")]
    assert "nested too deeply" in errors[0]["message"]
    errors = _refused(api.post(_ndjson(_access(2, "deepnd")) + deep + b"\n", ndjson=True))
    assert [(e["line"], e["path"]) for e in errors] == [(3, "$")]
    assert "nested too deeply" in errors[0]["message"]
    assert api.store.ledger_size() == 0


def test_a_key_twice_in_one_event_is_422_naming_it(api: Api) -> None:
    events = _access(3, "twice")
    lines = [json.dumps(e) for e in events]
    lines[1] = lines[1].replace('"merchant": ', '"merchant": "m-0", "merchant": ', 1)
    errors = _refused(api.post(_ndjson(lines), ndjson=True))
    assert errors == [
        {
            "line": 2,
            "path": "$.merchant",
            "message": 'duplicate key "merchant" in one object (each key once)',
        }
    ]
    assert api.store.ledger_size() == 0


def test_a_failing_detector_never_fails_the_batch(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentinelle.detect import DETECTORS
    from sentinelle.detect.context import Context

    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(DETECTORS["breadth_volume"], "observe", broken)
    assert api.post(_access(30, "det1")).status_code == 200
    monkeypatch.setattr(Context, "record_access", broken)  # the engine itself fails
    response = api.post(_access(30, "det2"))
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 30
    monkeypatch.undo()
    response = api.post(_access(30, "det3"))  # live detection goes on
    assert response.status_code == 200, response.text
    assert api.store.ledger_size() == 90


# -- ledger routes -----------------------------------------------------------------------------


def test_an_ingest_key_sends_events_and_reads_nothing(api: Api) -> None:
    api.post(_events(3, "ingest-only"))
    auth = {"Authorization": f"Bearer {api.key}"}
    refused = api.client.get("/v1/ledger/checkpoint", headers=auth)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "the ingest role may not read the ledger's checkpoint"
    reader = {"Authorization": f"Bearer {api.reader}"}
    assert api.client.post("/v1/events", headers=reader, content=b"[]").status_code == 403


def test_checkpoint_route(api: Api) -> None:
    missing = api.get("/v1/ledger/checkpoint")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no checkpoint yet"

    events = _events(33, "cp")
    posted = api.post(events).json()
    response = api.get("/v1/ledger/checkpoint")
    assert response.status_code == 200
    got = response.json()
    assert set(got) == {"size", "root_hash", "note"}
    assert got["note"] == posted["checkpoint"]
    cp = Verifier.from_verifier_key(api.ledger.key.verifier_key()).verify(
        got["note"], origin=ORIGIN
    )
    assert (got["size"], got["root_hash"]) == (cp.size, cp.root.hex())
    assert cp.size == len(events)
    assert got["note"].split("\n")[2] == base64.b64encode(cp.root).decode()


def test_proof_route(api: Api) -> None:
    first, second = _events(30, "p1"), _events(20, "p2", seed=4)
    api.post(first)
    api.post(second)
    total = len(first) + len(second)

    target = first[11]
    proof = api.get(f"/v1/ledger/proof/{target['id']}").json()
    assert set(proof) == {
        "event_id",
        "leaf_index",
        "tree_size",
        "leaf",
        "leaf_hash",
        "inclusion_path",
        "root_hash",
    }
    assert (proof["event_id"], proof["leaf_index"], proof["tree_size"]) == (target["id"], 11, total)
    leaf_hash = hashlib.sha256(b"\x00" + proof["leaf"].encode()).digest()
    assert leaf_hash.hex() == proof["leaf_hash"]
    path = [bytes.fromhex(h) for h in proof["inclusion_path"]]
    verify_inclusion(leaf_hash, 11, total, path, bytes.fromhex(proof["root_hash"]))
    assert proof["root_hash"] == api.get("/v1/ledger/checkpoint").json()["root_hash"]

    small = api.get(f"/v1/ledger/proof/{target['id']}", size=len(first)).json()
    assert small["tree_size"] == len(first)
    assert small["root_hash"] == api.ledger.root(len(first)).hex()
    verify_inclusion(
        leaf_hash,
        11,
        len(first),
        [bytes.fromhex(h) for h in small["inclusion_path"]],
        bytes.fromhex(small["root_hash"]),
    )

    unknown = api.get("/v1/ledger/proof/nope")
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "no event with id 'nope'"})
    too_small = api.get(f"/v1/ledger/proof/{second[0]['id']}", size=len(first))
    assert too_small.status_code == 404
    assert f"not in a tree of size {len(first)}" in too_small.json()["detail"]


# -- API keys at rest --------------------------------------------------------------------------


def _api_key_rows(settings: Settings) -> list[tuple[str, ...]]:
    sql = "SELECT id, name, key_hash, created_us, revoked_us FROM api_keys"
    if settings.database_url:
        import psycopg

        with psycopg.connect(settings.database_url) as conn:
            rows = conn.execute(sql).fetchall()
    else:
        import sqlite3

        db = sqlite3.connect(settings.data_dir / "sentinelle.db")
        try:
            rows = db.execute(sql).fetchall()
        finally:
            db.close()
    return [tuple(str(v) for v in row) for row in rows]


def test_api_key_is_stored_only_as_its_hash(api: Api, settings: Settings) -> None:
    digest = hashlib.sha256(api.key.encode()).hexdigest()
    rows = _api_key_rows(settings)
    reader = hashlib.sha256(api.reader.encode()).hexdigest()
    assert sorted((row[1], row[2]) for row in rows) == [("reader", reader), ("tests", digest)]
    for key in (api.key, api.reader):
        assert not any(key in value or key[4:] in value for row in rows for value in row)

    if settings.database_url is None:
        # Every byte Sentinelle keeps on disk: the database, its WAL and the signing key.
        files = [p for p in settings.data_dir.iterdir() if p.is_file()]
        assert any(p.name.startswith("sentinelle.db") for p in files)
        blob = b"".join(p.read_bytes() for p in files)
        assert digest.encode() in blob  # the scan does see the api_keys table...
        assert api.key.encode() not in blob  # ... and the key is not there
        assert api.key[4:].encode() not in blob


# -- a real server -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _console_script() -> str:
    beside = Path(sys.executable).parent / "sentinelle"
    assert beside.exists(), "the sentinelle console script is not installed"
    return str(beside)


def test_real_server_accepts_a_batch(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    env["SENTINELLE_DATA_DIR"] = str(tmp_path / "data")
    work = tmp_path / "cwd"
    work.mkdir()
    created = subprocess.run(
        [_console_script(), "keys", "create", "--name", "server-test"],
        env=env,
        cwd=work,
        capture_output=True,
        timeout=30,
        check=True,
    )
    key = created.stdout.decode().strip()
    reading = subprocess.run(
        [_console_script(), "keys", "create", "--name", "dashboard", "--role", "reader"],
        env=env,
        cwd=work,
        capture_output=True,
        timeout=30,
        check=True,
    )
    reader = reading.stdout.decode().strip()  # the key alone on stdout
    assert reader.startswith("snl_") and "\n" not in reader

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [_console_script(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=base, timeout=5) as http:
            deadline = time.monotonic() + 20
            while True:
                assert server.poll() is None, log_path.read_text(errors="replace")
                try:
                    first = http.get("/v1/ledger/checkpoint")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "server did not answer within 20 s"
                    time.sleep(0.05)
            assert first.status_code == 401
            assert first.headers["WWW-Authenticate"] == "Bearer"

            events = _events(15, "served")
            auth = {"Authorization": f"Bearer {key}"}
            posted = http.post("/v1/events", content=_ndjson(events), headers=auth)
            assert posted.status_code == 200, posted.text
            assert (posted.json()["stored"], posted.json()["ledger_size"]) == (len(events),) * 2
            assert http.get("/v1/ledger/checkpoint", headers=auth).status_code == 403
            read = {"Authorization": f"Bearer {reader}"}
            checkpoint = http.get("/v1/ledger/checkpoint", headers=read).json()
            assert checkpoint["size"] == len(events)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)
    log_text = log_path.read_text(errors="replace")
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: either exit is clean.
    assert server.returncode in (0, -signal.SIGTERM), log_text
    assert "Application shutdown complete." in log_text  # the lifespan ran and closed the store
    assert "Traceback" not in log_text

    with open_store(Settings(_env_file=None, data_dir=tmp_path / "data")) as store:
        assert store.ledger_size() == len(events)
        assert all(store.event_by_id(e["id"]) is not None for e in events)


def test_the_answer_warns_of_tickets_that_cannot_be_checked(api: Api) -> None:
    # Accesses citing tickets, and no ticket event ever: the help desk is not connected.
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7200))
    events = [
        {**e, "time": when, "justification": {"ticket": f"ZD-{i}"}}
        for i, e in enumerate(_access(3, "no-desk"))
    ]
    got = api.post(events).json()
    assert got["warnings"] == [
        "3 accesses cited tickets that no ticket event describes, while no ticket event came in "
        "the last 7 days: the help desk is not connected, or its feed stopped. Such tickets are "
        "taken as stated, so tickets made up or lent go unseen: connect the help desk "
        "(docs/connectors.md)"
    ]
    quiet = [
        {**{k: v for k, v in e.items() if k != "justification"}, "time": when}
        for e in _access(2, "quiet")
    ]
    assert api.post(quiet).json()["warnings"] == []  # citing no ticket: nothing to check


def test_feeds_say_what_detection_knows_of_the_help_desk(api: Api) -> None:
    # Before live detection has run: 404, saying so.
    missing = api.get("/v1/feeds")
    assert missing.status_code == 404
    assert missing.json()["detail"].startswith("live detection has not run on this store yet")
    # The help desk names its tickets 7 and 8; the console cites ZD-7, ZD-8, …: counted.
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7200))
    opened = [
        {"id": f"t-{n}", "time": when, "type": "ticket.opened", "ticket": str(n),
         "merchant": "m-1", "actor": "agent-1"}
        for n in (7, 8)
    ]  # fmt: skip
    cited = [
        {**e, "time": when, "justification": {"ticket": f"ZD-{i}"}}
        for i, e in enumerate(_access(3, "cites"))
    ]
    assert api.post(opened + cited).status_code == 200
    said = api.get("/v1/feeds")
    assert said.status_code == 200, said.text
    feeds = said.json()
    assert feeds["events_read"] == 5 and feeds["read_to"] is not None
    tickets = feeds["tickets"]
    assert (tickets["silent"], tickets["kept"], tickets["without_merchant"]) == (False, 2, 0)
    assert tickets["cited"] == {"accesses": 3, "unknown": 3}
    assert tickets["assignees"]["named"] is True
    assert feeds["staff"] == {"notices": 0, "joined": 0}
