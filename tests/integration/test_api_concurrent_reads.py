"""Reads served beside each other and beside a writer, on both stores.

The read routes (alerts, a merchant's accesses with proofs, the ledger's checkpoint and
proofs, and a key's lookup) run on the read connections of :func:`sentinelle.api.deps.reading`,
each in one read transaction; writes keep the one connection and its lock. Here the API runs
under uvicorn on a loopback port while client threads read and one ingests batch after batch
through ``POST /v1/events``: every accesses page must prove each of its events against the
checkpoint it returns (the signature, the RFC 8785 leaf, the path to the root), the pages after
it must stay on that checkpoint, and a client never sees the ledger shrink. Nothing here
measures time; a wait that never ends fails through a generous join timeout.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import rfc8785

from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.deps import State
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.errors import StoreError
from sentinelle.ingest import Ingestor
from sentinelle.ledger.checkpoint import Verifier
from sentinelle.ledger.merkle import leaf_hash, verify_inclusion
from sentinelle.sim import generate_events
from sentinelle.store import open_store
from served import served as serving

ORIGIN = "sentinelle.local/ledger"
MERCHANTS = ("m-1000", "m-1001", "m-1002")
JOIN_TIMEOUT = 300.0  # seconds: only a hang reaches it


def _sim(count: int, tag: str, *, seed: int) -> list[dict[str, Any]]:
    """Simulated access and context events of merchants m-1000 to m-1002, ids tagged."""
    return [
        {**e, "id": f"{tag}-{e['id']}"}
        for e in generate_events(events=count, seed=seed, merchants=3)
    ]


@dataclass(frozen=True, slots=True)
class Served:
    """The API on a loopback port, its state, and keys."""

    url: str
    state: State
    ingest: str
    reader: str
    verifier_key: str

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=120
        )


@pytest.fixture
def served(settings: Settings) -> Iterator[Served]:
    app = create_app(settings)
    state: State = app.state.sentinelle
    ingest = create_key(state.store, name="ingest", by="tests")
    reader = create_key(state.store, name="reader", role=Role.READER, by="tests")
    try:
        with serving(app) as url, httpx.Client(timeout=120) as probe:
            key = probe.get(
                f"{url}/v1/ledger/key", headers={"Authorization": f"Bearer {reader}"}
            ).json()["verifier_key"]
            yield Served(url, state, ingest, reader, key)
    finally:
        state.close()


def _post(client: httpx.Client, events: list[dict[str, Any]]) -> None:
    response = client.post(
        "/v1/events", content=json.dumps(events), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == len(events)


def _checked(page: dict[str, Any], verifier_key: str) -> int:
    """Check the page's checkpoint and every proof as a merchant would; the tree size."""
    cp = Verifier.from_verifier_key(verifier_key).verify(page["checkpoint"], origin=ORIGIN)
    assert cp.size == page["size"]
    for item in page["items"]:
        leaf = rfc8785.dumps(item["event"])
        path = [bytes.fromhex(h) for h in item["proof"]]
        verify_inclusion(leaf_hash(leaf), item["leaf_index"], cp.size, path, cp.root)
        assert item["leaf_index"] < cp.size
    return cp.size


def _run(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a client never finished"


def test_pages_prove_against_their_checkpoint_while_a_writer_ingests(served: Served) -> None:
    first = _sim(300, "b0", seed=1)
    with served.client(served.ingest) as http:
        _post(http, first)
    batches = 6
    writing = threading.Event()
    writing.set()
    errors: list[BaseException] = []
    pages_read: list[int] = []
    sizes_seen: list[int] = []

    def writer() -> None:
        try:
            with served.client(served.ingest) as http:
                for n in range(1, batches + 1):
                    _post(http, _sim(250, f"b{n}", seed=n + 1))
        except BaseException as exc:  # reported by the test's thread
            errors.append(exc)
        finally:
            writing.clear()

    def reader(n: int) -> None:
        pages = 0
        last_size = 0
        try:
            with served.client(served.reader) as http:
                rounds = 0
                while writing.is_set() or rounds < 2:
                    rounds += 1
                    merchant = MERCHANTS[(n + rounds) % len(MERCHANTS)]
                    path = f"/v1/merchants/{merchant}/accesses"
                    response = http.get(path, params={"limit": 15})
                    assert response.status_code == 200, response.text
                    page = response.json()
                    size = _checked(page, served.verifier_key)
                    assert size >= last_size, "the ledger shrank between two reads"
                    last_size = size
                    sizes_seen.append(size)
                    pages += 1
                    for _ in range(2):  # the next pages stay on the first page's checkpoint
                        if page["next"] is None:
                            break
                        response = http.get(path, params={"limit": 15, "cursor": page["next"]})
                        assert response.status_code == 200, response.text
                        page = response.json()
                        assert _checked(page, served.verifier_key) == size
                        pages += 1
                    alerts = http.get("/v1/alerts", params={"limit": 50})
                    assert alerts.status_code == 200, alerts.text
                    cp = http.get("/v1/ledger/checkpoint")
                    assert cp.status_code == 200, cp.text
                    assert cp.json()["size"] >= last_size
                    proof = http.get(f"/v1/ledger/proof/{first[n]['id']}")
                    assert proof.status_code == 200, proof.text
                    body = proof.json()
                    verify_inclusion(
                        leaf_hash(body["leaf"].encode()),
                        body["leaf_index"],
                        body["tree_size"],
                        [bytes.fromhex(h) for h in body["inclusion_path"]],
                        bytes.fromhex(body["root_hash"]),
                    )
        except BaseException as exc:
            errors.append(exc)
        finally:
            pages_read.append(pages)

    _run(
        [threading.Thread(target=writer)]
        + [threading.Thread(target=reader, args=(n,)) for n in range(6)]
    )
    if errors:
        raise errors[0]
    assert len(pages_read) == 6 and min(pages_read) >= 2
    final = served.state.store.latest_checkpoint()
    assert final is not None and final.size == served.state.store.ledger_size()
    assert max(sizes_seen) <= final.size


def test_reads_do_not_wait_for_the_write_lock(served: Served) -> None:
    with served.client(served.ingest) as http:
        _post(http, _sim(200, "b0", seed=3))
    answers: dict[str, int] = {}

    def read() -> None:
        with served.client(served.reader) as http:
            for path in ("/v1/alerts", "/v1/merchants/m-1000/accesses", "/v1/ledger/checkpoint"):
                answers[path] = http.get(path).status_code

    with served.state.lock:  # a long write holds the lock: reads still answer
        _run([threading.Thread(target=read)])
    assert answers == dict.fromkeys(answers, 200) and len(answers) == 3


def test_a_snapshot_sees_one_state(settings: Settings) -> None:
    state = State(settings)  # creates the database and binds the ledger key, as the API does
    reads = open_store(settings, create=False)
    try:
        Ingestor(state.store, state.ledger).ingest(
            [(i, json.dumps(e).encode()) for i, e in enumerate(_sim(100, "a", seed=1))]
        )
        reads.read_only()
        with reads.snapshot():
            size, cp = reads.ledger_size(), reads.latest_checkpoint()
            Ingestor(state.store, state.ledger).ingest(
                [(i, json.dumps(e).encode()) for i, e in enumerate(_sim(100, "b", seed=2))]
            )
            assert reads.ledger_size() == size
            assert reads.latest_checkpoint() == cp
        with reads.snapshot():
            assert reads.ledger_size() == state.store.ledger_size() > size
    finally:
        reads.close()
        state.close()


def test_read_connections_refuse_writes(settings: Settings) -> None:
    state = State(settings)
    reads = open_store(settings, create=False)
    try:
        reads.read_only()
        with pytest.raises(StoreError):
            create_key(reads, name="nope", by="tests")
        with pytest.raises(StoreError), reads.writer() as w:
            w.set_ledger_size(7)
        assert [k.name for k in state.store.list_api_keys()] == []
        assert state.store.ledger_size() == 0
        create_key(state.store, name="yes", by="tests")  # the writer's connection writes
        with reads.snapshot():
            assert [k.name for k in reads.list_api_keys()] == ["yes"]
    finally:
        reads.close()
        state.close()


def test_closing_the_state_closes_its_read_connections(settings: Settings) -> None:
    state = State(settings, read_connections=2)
    try:
        with state.readers.snapshot() as one, state.readers.snapshot() as two:
            assert one.store is not two.store and one.store is not state.store
            assert one.ledger.key.verifier_key() == state.ledger.key.verifier_key()
    finally:
        state.close()
    with pytest.raises(StoreError, match="shutting down"), state.readers.snapshot():
        pass
