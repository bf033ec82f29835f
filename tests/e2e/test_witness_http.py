"""The witness over HTTP (C2SP tlog-witness ``POST /add-checkpoint``), through FastAPI's
TestClient, with its key and state in files.

A log is simulated here with the ledger's own Merkle functions and a signing key; the witness
must cosign what extends the last checkpoint it cosigned and refuse, with the spec's status,
everything else, leaving its state as it was (also after a restart on the same state file).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sentinelle.ledger import Checkpoint, SigningKey, consistency_proof, leaf_hash, root_hash
from sentinelle.ledger.cosignature import Cosigner
from sentinelle.witness import Witness, WitnessState, parse_logs
from sentinelle.witness.http import create_witness_app

ORIGIN = "shop.example/ledger"


class Log:
    """A log of ``n`` leaves (its history decided by ``seed``), signing with ``key``."""

    def __init__(self, key: SigningKey, seed: bytes = b"a") -> None:
        self.key = key
        self.leaves = [leaf_hash(seed + i.to_bytes(4, "big")) for i in range(2000)]

    def root(self, n: int) -> bytes:
        return root_hash(self.leaves[:n])

    def note(self, n: int, *, origin: str = ORIGIN) -> str:
        return self.key.sign(Checkpoint(origin=origin, size=n, root=self.root(n)))

    def proof(self, old: int, new: int) -> list[bytes]:
        if old in (0, new):
            return []
        return consistency_proof(old, new, lambda a, b: root_hash(self.leaves[a:b]))

    def request(self, old: int, new: int, *, proof: list[bytes] | None = None, **kw: str) -> bytes:
        hashes = self.proof(old, new) if proof is None else proof
        lines = "".join(base64.b64encode(h).decode() + "\n" for h in hashes)
        return f"old {old}\n{lines}\n{self.note(new, **kw)}".encode()


@pytest.fixture
def log_key() -> SigningKey:
    return SigningKey.generate(ORIGIN)


@pytest.fixture
def log(log_key: SigningKey) -> Log:
    return Log(log_key)


class Served:
    def __init__(self, tmp_path: Path, log_key: SigningKey) -> None:
        self.tmp_path = tmp_path
        self.log_key = log_key
        self.cosigner = Cosigner.load_or_create(tmp_path / "witness.key", "witness.test/w1")
        self.start()

    def start(self) -> None:
        self.state = WitnessState(self.tmp_path / "state.db")
        logs = parse_logs([f"{ORIGIN}={self.log_key.verifier_key()}"])
        app = create_witness_app(Witness(key=self.cosigner, state=self.state, logs=logs))
        self.client = TestClient(app)

    def restart(self) -> None:
        self.close()
        self.start()

    def close(self) -> None:
        self.client.close()
        self.state.close()

    def post(self, body: bytes):
        return self.client.post("/add-checkpoint", content=body)

    def size(self) -> tuple[int, bytes] | None:
        got = self.state.get(ORIGIN)
        return None if got is None else (got.size, got.root)


@pytest.fixture
def served(tmp_path: Path, log_key: SigningKey) -> Iterator[Served]:
    s = Served(tmp_path, log_key)
    yield s
    s.close()


def cosigned(served: Served, log: Log, old: int, new: int) -> str:
    answer = served.post(log.request(old, new))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    got = served.cosigner.verifier().verify(log.note(new) + answer.text)
    assert (got.checkpoint.size, got.checkpoint.root) == (new, log.root(new))
    return answer.text


def test_the_witness_cosigns_a_growing_log(served: Served, log: Log) -> None:
    cosigned(served, log, 0, 300)
    for old, new in [(300, 301), (301, 1000), (1000, 1000), (1000, 1024), (1024, 1999)]:
        cosigned(served, log, old, new)
        assert served.size() == (new, log.root(new))
    # The state keeps the checkpoint as received, with the witness's cosignature.
    note = served.state.get(ORIGIN).note
    assert served.cosigner.verifier().verify(note).checkpoint.size == 1999
    assert log.key.verifier().verify(note).size == 1999


def test_a_log_that_rewrote_its_history_is_refused(served: Served, log: Log, log_key) -> None:
    cosigned(served, log, 0, 600)
    forked = Log(log_key, seed=b"b")  # same key and origin, another history
    before = served.size()
    # Same size, another root: 409, with the size the witness holds.
    answer = served.post(forked.request(600, 600))
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"] == "text/x.tlog.size"
    assert answer.text == "600\n"
    assert "another root hash" in answer.headers["x-witness-reason"]
    # A larger tree whose proof starts from the forked history: 422.
    answer = served.post(forked.request(600, 900))
    assert answer.status_code == 422, answer.text
    assert "does not verify" in answer.text
    # A smaller tree: old larger than the checkpoint (400), or old not the witness's (409).
    assert served.post(log.request(600, 300, proof=[])).status_code == 400
    answer = served.post(log.request(300, 300))
    assert (answer.status_code, answer.text) == (409, "600\n")
    # A proof that does not verify (one hash flipped) from the right old size: 422.
    proof = log.proof(600, 900)
    proof[0] = hashlib.sha256(proof[0]).digest()
    assert served.post(log.request(600, 900, proof=proof)).status_code == 422
    # None of it moved the witness, not even after a restart on the same state file ...
    assert served.size() == before
    served.restart()
    assert served.size() == before
    answer = served.post(forked.request(600, 600))
    assert answer.status_code == 409
    # ... and the refusals the log signed are kept as evidence, once per signed checkpoint:
    # sent again with other proofs (which nobody signs), they add no row.
    for n in range(3):
        proof[0] = hashlib.sha256(proof[0]).digest()
        assert served.post(log.request(600, 900, proof=proof)).status_code == 422
        assert served.post(forked.request(600, 900, proof=[bytes([n]) * 32])).status_code == 422
        # ... or with another signature line (anyone's: ignored), the same checkpoint.
        other = base64.b64encode(bytes([n]) * 68).decode()
        resent = forked.request(600, 600) + f"\u2014 someone.example/x {other}\n".encode()
        assert served.post(resent).status_code == 409
    reasons = [reason for _, _, reason, _ in served.state.evidence()]
    assert len(reasons) == 3
    assert "another root hash" in reasons[0]
    assert all(ORIGIN in request for _, _, _, request in served.state.evidence())
    # The honest continuation is still cosigned.
    cosigned(served, log, 600, 900)


def test_the_409_answer_tells_the_size_to_start_from(served: Served, log: Log) -> None:
    cosigned(served, log, 0, 400)
    answer = served.post(log.request(0, 500))  # a log that forgot what the witness saw
    assert (answer.status_code, answer.text) == (409, "400\n")
    cosigned(served, log, int(answer.text), 500)


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        (b"old 0\n\n", 400, "malformed"),
        (b"old 01\n\nx", 400, "is not 'old <size>'"),
        (b"new 0\n\nx", 400, "is not 'old <size>'"),
        (b"old 0\nnot-base64\n\nx", 400, "not a base64 SHA-256 hash"),
        (b"old 0", 400, "no empty line"),
        (b"\xff\xfe", 400, "not UTF-8"),
        (b"old 0\n" + b"A" * 70000, 413, "larger than"),
    ],
)
def test_malformed_requests_are_refused(served: Served, body: bytes, status: int, text: str):
    answer = served.post(body)
    assert answer.status_code == status, answer.text
    assert text in answer.text
    assert served.size() is None


def test_unknown_logs_and_keys_are_refused(served: Served, log: Log) -> None:
    answer = served.post(log.request(0, 10, origin="other.example/log"))
    assert answer.status_code == 404
    assert "unknown log" in answer.text
    stranger = Log(SigningKey.generate(ORIGIN))  # right origin, a key the witness does not know
    answer = served.post(stranger.request(0, 10))
    assert answer.status_code == 403
    # A proof with a first checkpoint (old 0) must be empty.
    answer = served.post(log.request(0, 10, proof=[bytes(32)]))
    assert answer.status_code == 422
    # More than 63 proof lines.
    answer = served.post(log.request(0, 10, proof=[bytes(32)] * 64))
    assert answer.status_code == 400, answer.text
    assert "more than 63" in answer.text
    assert served.size() is None


def test_a_checkpoint_with_other_signatures_is_cosigned(served: Served, log: Log) -> None:
    """Signatures of unknown keys are ignored; one by a known key is enough."""
    note = log.note(5) + Cosigner.generate("witness.other/w9").cosign(
        Checkpoint(origin=ORIGIN, size=5, root=log.root(5)).body(), timestamp=1
    )
    answer = served.post(b"old 0\n\n" + note.encode())
    assert answer.status_code == 200, answer.text
