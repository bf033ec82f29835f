"""Interop: Go's golang.org/x/mod/sumdb/{note,tlog} verify what sentinelle.ledger produces.

Go's implementation shares no code with ours; if both accept the same notes and proofs and
both refuse the same tampering, the format and the tree are the standard ones. The verifier
program is tests/interop/goverify/main.go, built once per session in GOPATH mode against
Debian's golang-golang-x-mod-dev (``scripts/ensure-go`` installs it).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sentinelle.ledger import (
    Checkpoint,
    SigningKey,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

pytestmark = pytest.mark.integration

SOURCE = Path(__file__).parent / "goverify"
GOPATH = Path("/usr/share/gocode")
ORIGIN = "sentinelle.example/interop"
N = 1000


def b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


@pytest.fixture(scope="session")
def goverify(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the Go verifier once; fail (not skip) when Go is missing."""
    go = shutil.which("go")
    if go is None or not (GOPATH / "src/golang.org/x/mod/sumdb/note/note.go").is_file():
        pytest.fail(
            "Go and golang.org/x/mod are needed for the interop tests: run scripts/ensure-go "
            "(installs Debian's golang-go and golang-golang-x-mod-dev)",
            pytrace=False,
        )
    out = tmp_path_factory.mktemp("goverify")
    env = {
        **os.environ,
        "GO111MODULE": "off",  # GOPATH mode: sources from Debian, no module proxy
        "GOPATH": str(GOPATH),
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "",
        "GOCACHE": str(out / "cache"),
        "CGO_ENABLED": "0",
    }
    result = subprocess.run(
        [go, "build", "-o", str(out / "goverify"), "."],
        cwd=SOURCE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"building {SOURCE} failed:\n{result.stderr}", pytrace=False)
    return out / "goverify"


def run(goverify: Path, document: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(goverify)],
        input=json.dumps(document),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate(ORIGIN)


@pytest.fixture(scope="module")
def document(key: SigningKey) -> dict[str, object]:
    """A tree of N random leaves: its signed checkpoint and many proofs, as goverify reads them."""
    leaves = [leaf_hash(os.urandom(1 + i % 50)) for i in range(N)]
    roots = {n: root_hash(leaves[:n]) for n in range(N + 1)}

    def subtree(start: int, end: int) -> bytes:
        return root_hash(leaves[start:end])

    inclusion = []
    cases = [(i, N) for i in range(N)]
    cases += [
        (i, n) for n in (1, 2, 3, 5, 7, 8, 9, 255, 256, 257, 511, 999) for i in {0, n // 2, n - 1}
    ]
    for index, size in cases:
        proof = inclusion_proof(index, size, subtree)
        verify_inclusion(leaves[index], index, size, proof, roots[size])
        inclusion.append(
            {
                "leaf_hash": b64(leaves[index]),
                "index": index,
                "size": size,
                "proof": [b64(h) for h in proof],
                "root": b64(roots[size]),
            }
        )
    consistency = []
    pairs = [(m, N) for m in range(1, N + 1)]
    pairs += [(m, n) for n in (1, 2, 3, 8, 9, 100, 256, 257) for m in range(1, n + 1)]
    for old, new in pairs:
        proof = consistency_proof(old, new, subtree)
        verify_consistency(old, new, roots[old], roots[new], proof)
        consistency.append(
            {
                "old_size": old,
                "new_size": new,
                "old_root": b64(roots[old]),
                "new_root": b64(roots[new]),
                "proof": [b64(h) for h in proof],
            }
        )
    checkpoint = Checkpoint(origin=ORIGIN, size=N, root=roots[N])
    note = key.sign(checkpoint)
    assert key.verifier().verify(note) == checkpoint
    return {
        "verifier_key": key.verifier_key(),
        "note": note,
        "origin": ORIGIN,
        "size": N,
        "root": b64(roots[N]),
        "inclusion": inclusion,
        "consistency": consistency,
    }


def test_go_accepts_our_checkpoint_and_proofs(goverify, document):
    result = run(goverify, document)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok:")


def _flip_b64(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[5] ^= 0x01
    return b64(bytes(raw))


def _tamper_note_size(doc):
    doc["note"] = doc["note"].replace(f"\n{N}\n", f"\n{N + 1}\n", 1)
    return "note: invalid signature"


def _tamper_other_key_same_name(doc):
    root = base64.b64decode(doc["root"])
    doc["note"] = SigningKey.generate(ORIGIN).sign(Checkpoint(origin=ORIGIN, size=N, root=root))
    return "note: note has no verifiable signatures"


def _tamper_checkpoint_root(doc):
    doc["root"] = _flip_b64(doc["root"])  # the note is genuine but not for this root
    return "checkpoint is size"


def _tamper_inclusion_hash(doc):
    doc["inclusion"][500]["proof"][3] = _flip_b64(doc["inclusion"][500]["proof"][3])
    return "inclusion 500 (leaf 500 of 1000): invalid transparency proof"


def _tamper_inclusion_index(doc):
    doc["inclusion"][10]["index"] = 11
    return "inclusion 10 (leaf 11 of 1000)"


def _tamper_inclusion_leaf(doc):
    doc["inclusion"][999]["leaf_hash"] = doc["inclusion"][998]["leaf_hash"]
    return "inclusion 999"


def _tamper_consistency_hash(doc):
    doc["consistency"][700]["proof"][0] = _flip_b64(doc["consistency"][700]["proof"][0])
    return "consistency 700 (701 -> 1000)"


def _tamper_consistency_short(doc):
    doc["consistency"][300]["proof"].pop()
    return "consistency 300 (301 -> 1000)"


def _tamper_consistency_old_root(doc):
    doc["consistency"][40]["old_root"] = doc["consistency"][41]["old_root"]
    return "consistency 40 (41 -> 1000)"


@pytest.mark.parametrize(
    "tamper",
    [
        _tamper_note_size,
        _tamper_other_key_same_name,
        _tamper_checkpoint_root,
        _tamper_inclusion_hash,
        _tamper_inclusion_index,
        _tamper_inclusion_leaf,
        _tamper_consistency_hash,
        _tamper_consistency_short,
        _tamper_consistency_old_root,
    ],
)
def test_go_refuses_tampering(goverify, document, tamper):
    doc = json.loads(json.dumps(document))  # deep copy
    expected = tamper(doc)
    result = run(goverify, doc)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 check(s) failed" in result.stdout
    assert expected in result.stdout


def test_tlog_proof_order_is_rfc_order(goverify, document):
    """Reversing a proof (the other plausible order) makes Go refuse it: the orders agree."""
    doc = json.loads(json.dumps(document))
    doc["inclusion"] = [c for c in doc["inclusion"] if len(c["proof"]) >= 2][:1]
    doc["consistency"] = [c for c in doc["consistency"] if len(c["proof"]) >= 2][:1]
    assert run(goverify, doc).returncode == 0
    doc["inclusion"][0]["proof"].reverse()
    doc["consistency"][0]["proof"].reverse()
    result = run(goverify, doc)
    assert result.returncode == 1
    assert "2 check(s) failed" in result.stdout


def test_go_accepts_what_a_stored_ledger_serves(goverify, tmp_path):
    """End to end: proofs and checkpoints as `sentinelle ledger proof/consistency` print them."""
    from sentinelle.config import Settings
    from sentinelle.ingest import Ingestor
    from sentinelle.ledger.log import Ledger
    from sentinelle.sim import generate_events
    from sentinelle.store import open_store

    settings = Settings(data_dir=tmp_path / "data")
    events = [json.dumps(e).encode() for e in generate_events(events=1300, seed=3)]
    with open_store(settings) as store:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        Ingestor(store, ledger).ingest(enumerate(events[:517], 1))
        Ingestor(store, ledger).ingest(enumerate(events[517:], 1))
        old, new = store.checkpoints()
        ids = [json.loads(e)["id"] for e in events]
        inclusion = []
        for event_id in ids[::37]:
            p = ledger.proof(event_id)
            inclusion.append(
                {
                    "leaf_hash": b64(bytes.fromhex(p["leaf_hash"])),
                    "index": p["leaf_index"],
                    "size": p["tree_size"],
                    "proof": [b64(bytes.fromhex(h)) for h in p["inclusion_path"]],
                    "root": b64(bytes.fromhex(p["root_hash"])),
                }
            )
        c = ledger.consistency(old.size)
        document = {
            "verifier_key": ledger.key.verifier_key(),
            "note": new.note,
            "origin": settings.log_origin,
            "size": new.size,
            "root": b64(new.root),
            "inclusion": inclusion,
            "consistency": [
                {
                    "old_size": c["old_size"],
                    "new_size": c["new_size"],
                    "old_root": b64(bytes.fromhex(c["old_root"])),
                    "new_root": b64(bytes.fromhex(c["new_root"])),
                    "proof": [b64(bytes.fromhex(h)) for h in c["proof"]],
                }
            ],
        }
    result = run(goverify, document)
    assert result.returncode == 0, result.stdout + result.stderr
    document["inclusion"][3]["leaf_hash"] = document["inclusion"][4]["leaf_hash"]
    assert run(goverify, document).returncode == 1


def test_go_verifies_cosignatures_and_published_tiles(goverify, tmp_path):
    """Witness cosignatures (C2SP tlog-cosignature) checked by a cosignature/v1 verifier written
    in Go from the spec, plugged into x/mod's note.Open; the published tlog-tiles layout read
    by x/mod's TileHashReader, which authenticates each tile against the checkpoint."""
    from sentinelle.config import Settings
    from sentinelle.ingest import Ingestor
    from sentinelle.ledger.cosignature import Cosigner
    from sentinelle.ledger.log import Ledger
    from sentinelle.ledger.publish import publish, tile_path
    from sentinelle.ledger.witnessing import cosigned_note, parse_witnesses, request_cosignatures
    from sentinelle.sim import generate_events
    from sentinelle.store import open_store
    from witness_support import serve_witnesses

    settings = Settings(data_dir=tmp_path / "data")
    events = [json.dumps(e).encode() for e in generate_events(events=70_000, seed=4)][:70_000]
    with open_store(settings) as store:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        Ingestor(store, ledger).ingest(enumerate(events, 1))
        with serve_witnesses(tmp_path, {ledger.origin: [ledger.verifier]}) as (one, two):
            outcomes = request_cosignatures(ledger, parse_witnesses([one.spec, two.spec]))
            assert all(o.ok for o in outcomes), outcomes
        publish(store, tmp_path / "site", tiles=True)
        cp = store.latest_checkpoint()
        document = {
            "verifier_key": ledger.key.verifier_key(),
            "note": cosigned_note(store),
            "origin": settings.log_origin,
            "size": cp.size,
            "root": b64(cp.root),
            "inclusion": [],
            "consistency": [],
            "cosigner_keys": [one.key, two.key],
            "published": str(tmp_path / "site"),
        }
    # 70,000 leaves: 273 full level-0 tiles and one of width 112, a full level-1 tile and one
    # of width 17, a level-2 tile of width 1 (the spec's example).
    assert (tmp_path / "site" / tile_path(1, 1, 17)).is_file()
    assert (tmp_path / "site" / tile_path(2, 0, 1)).is_file()
    result = run(goverify, document)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok: note, 2 cosignature key(s)")

    # A third witness that did not cosign is missing; a damaged cosignature does not verify.
    third = Cosigner.generate("witness.test/w3").verifier_key()
    result = run(goverify, {**document, "cosigner_keys": [one.key, third]})
    assert result.returncode == 1
    assert "note: no cosignature by witness.test/w3" in result.stdout
    line = document["note"].rstrip("\n").rsplit("\n", 1)[1]
    name, payload = line[2:].split(" ")
    damaged = _flip_b64(payload)
    note = document["note"].replace(line, f"\u2014 {name} {damaged}")
    result = run(goverify, {**document, "note": note, "published": ""})
    assert result.returncode == 1
    assert "note: invalid signature" in result.stdout
    # A published tile changed after the fact: the tile reader refuses it.
    tile = tmp_path / "site" / tile_path(0, 100)
    data = bytearray(tile.read_bytes())
    data[40] ^= 1
    tile.write_bytes(bytes(data))
    result = run(goverify, document)
    assert result.returncode == 1
    assert "published tiles" in result.stdout
