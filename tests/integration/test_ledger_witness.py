"""The ledger with witnesses, on both stores (``settings`` fixture): real witnesses served by
uvicorn on loopback, cosignatures kept in the store, ``verify`` against them, and the
published tlog-tiles layout fetched back from a static HTTP server.

The probes are what an insider with database access does: delete checkpoint rows, alter an
event and recompute the tiles, delete or change cosignatures; and what one holding the signing
key too does: sign another history of the ledger.
"""

from __future__ import annotations

import base64
import functools
import http.server
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_ledger_store import events, lines, rewrite_tree, sql

from sentinelle.config import Settings
from sentinelle.errors import IntegrityError
from sentinelle.ingest import Ingestor
from sentinelle.ledger.checkpoint import Checkpoint
from sentinelle.ledger.cosignature import CosignatureVerifier
from sentinelle.ledger.log import Ledger
from sentinelle.ledger.merkle import leaf_hash, node_hash, root_hash
from sentinelle.ledger.publish import publish, tile_path
from sentinelle.ledger.witnessing import (
    cosigned_note,
    newest_cosigned_note,
    parse_witnesses,
    request_cosignatures,
)
from sentinelle.store import Store, open_store
from witness_support import RunningWitness, serve_witnesses

EVENTS = events(1200, seed=11)


def ingest(store: Store, ledger: Ledger, first: int, last: int) -> None:
    Ingestor(store, ledger).ingest(lines(EVENTS[first:last]))


@pytest.fixture
def witnesses(tmp_path: Path, opened: tuple[Store, Ledger]) -> Iterator[list[RunningWitness]]:
    """Two independent witnesses of this ledger, each with its own key and state."""
    _, ledger = opened
    with serve_witnesses(tmp_path, {ledger.origin: [ledger.verifier]}) as running:
        yield running


def endpoints(witnesses: list[RunningWitness]):
    return parse_witnesses(" ".join(w.spec for w in witnesses))


def keys(witnesses: list[RunningWitness]) -> list[CosignatureVerifier]:
    return [w.witness.key.verifier() for w in witnesses]


def witness_all(ledger: Ledger, witnesses: list[RunningWitness]) -> None:
    outcomes = request_cosignatures(ledger, endpoints(witnesses))
    assert all(o.ok for o in outcomes), [o.message for o in outcomes]


def test_witnesses_cosign_and_the_cosignatures_are_kept(
    opened: tuple[Store, Ledger], witnesses: list[RunningWitness]
) -> None:
    store, ledger = opened
    ingest(store, ledger, 0, 300)
    outcomes = request_cosignatures(ledger, endpoints(witnesses))
    assert [(o.ok, o.size, o.message) for o in outcomes] == [
        (True, 300, "cosigned tree size 300 (first contact)")
    ] * 2
    ingest(store, ledger, 300, 700)
    outcomes = request_cosignatures(ledger, endpoints(witnesses))
    assert [o.message for o in outcomes] == ["cosigned tree size 700 (from size 300)"] * 2
    # Each witness's state moved with it; ours records the size each last cosigned.
    for w in witnesses:
        assert w.witness.state.get(ledger.origin).size == 700
        assert store.witness_size(w.key) == 700
    # The cosigned checkpoint: one note, the log's signature and both cosignatures.
    note = cosigned_note(store)
    assert ledger.verifier.verify(note).size == 700
    for verifier in keys(witnesses):
        # The witnesses cosign the whole body, the merchant-map line too (C2SP
        # tlog-cosignature: extension lines are in the cosigned message).
        cosigned = verifier.verify(note).checkpoint
        assert cosigned == Checkpoint(
            origin=ledger.origin, size=700, root=ledger.root(700), extensions=cosigned.extensions
        )
        assert [e.split(" ")[0] for e in cosigned.extensions] == ["sentinelle/merchant-map/v1"]
    assert len(store.cosignatures()) == 4
    assert {row.extensions for row in store.cosignatures(700)} == {
        "".join(e + "\n" for e in cosigned.extensions)
    }
    report = ledger.verify(witnesses=keys(witnesses), max_unwitnessed=0)
    assert (report.witnessed, report.witnesses, report.leaves) == (700, 2, 700)


def test_the_newest_cosigned_note_steps_down_past_a_missing_checkpoint(
    opened: tuple[Store, Ledger], witnesses: list[RunningWitness]
) -> None:
    # What GET /v1/ledger/checkpoint?witnessed=true serves a monitor: the newest checkpoint a
    # witness cosigned. When that checkpoint's row is gone (deleted, or never kept), the next
    # cosigned one below it, with its own cosignatures; none when none is left.
    store, ledger = opened
    ingest(store, ledger, 0, 300)
    witness_all(ledger, witnesses)
    ingest(store, ledger, 300, 700)
    witness_all(ledger, witnesses)
    ingest(store, ledger, 700, 800)  # the newest checkpoint, not cosigned
    newest = newest_cosigned_note(store)
    assert newest is not None and ledger.verifier.verify(newest).size == 700
    sql(store, "DELETE FROM checkpoints WHERE size = 700")
    older = newest_cosigned_note(store)
    assert older is not None and ledger.verifier.verify(older).size == 300
    for verifier in keys(witnesses):
        assert verifier.verify(older).checkpoint.size == 300
    sql(store, "DELETE FROM checkpoints WHERE size = 300")
    assert newest_cosigned_note(store) is None


def test_a_witness_state_we_lost_is_recovered_from_its_409(
    opened: tuple[Store, Ledger], witnesses: list[RunningWitness]
) -> None:
    store, ledger = opened
    ingest(store, ledger, 0, 300)
    witness_all(ledger, witnesses)
    ingest(store, ledger, 300, 500)
    sql(store, "DELETE FROM witness_state")  # we forgot what the witnesses saw: old 0
    outcomes = request_cosignatures(ledger, endpoints(witnesses))
    assert [o.message for o in outcomes] == ["cosigned tree size 500 (from size 300)"] * 2


def test_a_witness_refuses_another_history_signed_with_the_ledgers_key(
    settings: Settings,
    opened: tuple[Store, Ledger],
    witnesses: list[RunningWitness],
    tmp_path: Path,
) -> None:
    """Someone holding the signing key and a copy of the database signs another history:
    the witnesses refuse it, and say why."""
    store, ledger = opened
    ingest(store, ledger, 0, 300)
    ingest(store, ledger, 300, 600)
    witness_all(ledger, witnesses)
    # The fork: a second SQLite database, the same key, other events from leaf 300 on.
    fork_dir = tmp_path / "fork"
    fork_dir.mkdir()
    shutil.copy(settings.data_dir / "ledger-signing.key", fork_dir / "ledger-signing.key")
    fork_settings = Settings(_env_file=None, data_dir=fork_dir)
    other = events(900, seed=99)
    with open_store(fork_settings) as fork:
        fork_ledger = Ledger.open(fork, data_dir=fork_dir, origin=ledger.origin)
        ingest(fork, fork_ledger, 0, 300)
        Ingestor(fork, fork_ledger).ingest(lines(other[300:600]))
        # Same size, another root.
        outcomes = request_cosignatures(fork_ledger, endpoints(witnesses))
        assert not any(o.ok for o in outcomes)
        assert "it cosigned another root at tree size 600" in outcomes[0].message
        # Larger: the proof from the witness's size 600 does not lead from its root.
        Ingestor(fork, fork_ledger).ingest(lines(other[600:]))
        with fork.writer() as w:
            w.set_witness_size(witnesses[0].key, url=witnesses[0].url, size=600, at_us=0)
        outcomes = request_cosignatures(fork_ledger, endpoints(witnesses))
        assert not outcomes[0].ok
        assert "the consistency proof from size 600, the size it last cosigned" in (
            outcomes[0].message
        )
        assert fork.cosignatures() == []
    # Smaller: our own ledger, rolled back to 300 by the key holder, re-signed.
    with store.writer() as w:
        w.set_witness_size(witnesses[0].key, url=witnesses[0].url, size=300, at_us=0)
    sql(store, "DELETE FROM checkpoints WHERE size = 600")
    outcomes = request_cosignatures(ledger, endpoints(witnesses))
    assert not outcomes[0].ok
    assert "has cosigned tree size 600, more than the newest checkpoint's 300" in (
        outcomes[0].message
    )
    # The witnesses kept their state: 600, the honest root.
    for w in witnesses:
        assert (
            w.witness.state.get(ledger.origin).size,
            w.witness.state.get(ledger.origin).root,
        ) == (
            600,
            ledger.root(600),
        )


def test_verify_fails_when_checkpoints_were_deleted(
    opened: tuple[Store, Ledger], witnesses: list[RunningWitness]
) -> None:
    store, ledger = opened
    ingest(store, ledger, 0, 300)
    witness_all(ledger, witnesses)
    ingest(store, ledger, 300, 600)
    witness_all(ledger, witnesses)
    sql(store, "DELETE FROM checkpoints")
    with pytest.raises(
        IntegrityError,
        match=r"^the checkpoint of size 300 that witness witness\.test/w1\+[0-9a-f]{8} cosigned "
        r"\([^)]+\) is missing from the checkpoints table: checkpoint rows were deleted",
    ):
        ledger.verify(witnesses=keys(witnesses))
    # Without an external root it is not OK either.
    with pytest.raises(IntegrityError, match=r"^not verified: .* no checkpoint is recorded"):
        ledger.verify()


def test_verify_fails_on_an_altered_event_with_recomputed_tiles(
    opened: tuple[Store, Ledger], witnesses: list[RunningWitness]
) -> None:
    """The probe: every checkpoint deleted, an event altered, the tiles recomputed."""
    store, ledger = opened
    ingest(store, ledger, 0, 300)
    ingest(store, ledger, 300, 700)
    witness_all(ledger, witnesses)
    pinned = witnesses[0].witness.state.get(ledger.origin).note  # what the witness kept
    sql(store, "DELETE FROM checkpoints")
    sql(
        store,
        "UPDATE events SET body = replace(body, '\"m-', '\"x-'), "
        "merchant = replace(merchant, 'm-', 'x-') WHERE seq = 350",
    )
    rewrite_tree(store)
    mismatch = (
        r"^the events do not give the root of the checkpoint of size 700 that witness "
        r"witness\.test/w1\+[0-9a-f]{8} cosigned \([^)]+\), yet the logged leaf hashes agree "
        r"with them: an event among leaves 0–699 was altered and the stored tree recomputed"
    )
    with pytest.raises(IntegrityError, match=mismatch):
        ledger.verify(witnesses=keys(witnesses))
    # The cosignatures deleted too: a witness key given, nothing it cosigned here.
    sql(store, "DELETE FROM cosignatures")
    with pytest.raises(
        IntegrityError,
        match=r"^not verified: no checkpoint cosigned by witness witness\.test/w1\+[0-9a-f]{8}, "
        r"witness\.test/w2\+[0-9a-f]{8} is recorded or given",
    ):
        ledger.verify(witnesses=keys(witnesses))
    # The witness's own copy, pinned from outside, still catches it.
    with pytest.raises(
        IntegrityError,
        match=r"^the events do not give the root of checkpoint pinned \(size 700\)",
    ):
        ledger.verify(notes=[("pinned", pinned)], witnesses=keys(witnesses)[:1])
    # And without any external root: never OK.
    with pytest.raises(IntegrityError, match=r"^not verified: the ledger holds 700 leaves but no"):
        ledger.verify()


def test_verify_checks_every_cosignature(
    opened: tuple[Store, Ledger], witnesses: list[RunningWitness]
) -> None:
    store, ledger = opened
    ingest(store, ledger, 0, 300)
    witness_all(ledger, witnesses)
    ingest(store, ledger, 300, 400)
    # Leaves 300-399 are signed by the ledger's key only: fine, unless a limit says otherwise.
    assert ledger.verify(witnesses=keys(witnesses)).witnessed == 300
    with pytest.raises(
        IntegrityError,
        match=r"^not verified: leaves 300–399 are signed by the ledger's own key only \(the "
        r"newest witnessed checkpoint is of size 300; at most 99 may be\)",
    ):
        ledger.verify(witnesses=keys(witnesses), max_unwitnessed=99)
    assert ledger.verify(witnesses=keys(witnesses), max_unwitnessed=100).witnessed == 300
    # A cosignature row whose root was changed (to hide a rewrite) no longer verifies.
    sql(store, "UPDATE cosignatures SET root = ? WHERE size = 300", (ledger.root(299),))
    with pytest.raises(
        IntegrityError,
        match=r"^the cosignature by witness witness\.test/w[12]\+[0-9a-f]{8} recorded for the "
        r"checkpoint of size 300 does not verify: the cosignatures table was altered$",
    ):
        ledger.verify(witnesses=keys(witnesses))
    # A pinned note whose cosignature was tampered with is refused (c).
    sql(store, "DELETE FROM cosignatures WHERE size = 300")
    witness_all(ledger, witnesses)
    note = cosigned_note(store)
    name, payload = note.rstrip("\n").rsplit("\n", 1)[1][2:].split(" ")
    raw = bytearray(base64.b64decode(payload))
    raw[-1] ^= 1
    forged = note.rsplit("\n", 2)[0] + f"\n\u2014 {name} {base64.b64encode(raw).decode()}\n"
    with pytest.raises(IntegrityError, match=r"^checkpoint kept: the cosignature by witness"):
        ledger.verify(notes=[("kept", forged)], witnesses=keys(witnesses)[1:])


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback http
        return bytes(answer.read())


def test_publication_is_served_by_a_static_server(
    opened: tuple[Store, Ledger], witnesses: list[RunningWitness], tmp_path: Path
) -> None:
    store, ledger = opened
    ingest(store, ledger, 0, 700)
    witness_all(ledger, witnesses)
    site = tmp_path / "site"
    report = publish(store, site, tiles=True)
    # 700 leaves: level 0 has 2 full tiles and one of width 188; level 1 one of width 2.
    assert (report.size, report.cosignatures, report.tiles_written) == (700, 2, 4)
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        note = _fetch(f"{base}/checkpoint").decode()
        cp = ledger.verifier.verify(note)
        for verifier in keys(witnesses):
            assert verifier.verify(note).checkpoint == cp
        # The root from the published tiles alone, as a client would compute it.
        level0 = b"".join(_fetch(f"{base}/{tile_path(0, i)}") for i in (0, 1))
        level0 += _fetch(f"{base}/{tile_path(0, 2, 188)}")
        hashes = [level0[i : i + 32] for i in range(0, len(level0), 32)]
        assert len(hashes) == 700
        assert root_hash(hashes) == cp.root
        level1 = _fetch(f"{base}/tile/1/000.p/2")
        assert level1 == root_hash(hashes[:256]) + root_hash(hashes[256:512])
        # Each published leaf hash is the stored event's.
        bodies = [r[-1] for rows in store.iter_events() for r in rows]
        assert hashes == [leaf_hash(b.encode()) for b in bodies]
        # Incremental: only the new tiles are written the next time.
        ingest(store, ledger, 700, 1200)
        report = publish(store, site, tiles=True)
        # level 0: tiles 2, 3 (full) and 4.p/176; level 1: 000.p/4. Tiles 0 and 1 are kept.
        assert (report.size, report.cosignatures, report.tiles_written) == (1200, 0, 4)
        assert ledger.verifier.verify(_fetch(f"{base}/checkpoint").decode()).size == 1200
        top = _fetch(f"{base}/tile/1/000.p/4")
        assert top[64:96] == root_hash(
            [leaf_hash(b.encode()) for b in [r[-1] for rows in store.iter_events() for r in rows]][
                512:768
            ]
        )
        assert node_hash(top[:32], top[32:64]) == root_hash(hashes[:512])
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def test_tile_paths_follow_tlog_tiles() -> None:
    assert tile_path(0, 0) == "tile/0/000"
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(2, 1000, 5) == "tile/2/x001/000.p/5"
