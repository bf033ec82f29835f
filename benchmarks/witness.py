"""Witness throughput: cosignatures per second.

A simulated log of ``--leaves`` leaves grows by ``--step`` leaves per checkpoint; each new
checkpoint, with its consistency proof from the previous one, is given to a witness whose
state is a real SQLite file (committed with synchronous=FULL before each answer):

* ``in-process``: ``Witness.add_checkpoint`` called directly (parse, the log's signature, the
  proof, the state transaction, the cosignature);
* ``http``: ``POST /add-checkpoint`` to ``sentinelle.witness.http`` served by uvicorn on
  loopback, one client, keep-alive (httpx).

Usage: python benchmarks/witness.py [--checkpoints 500] [--step 100]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from sentinelle.ledger import Checkpoint, SigningKey, consistency_proof, leaf_hash, root_hash
from sentinelle.ledger.cosignature import Cosigner
from sentinelle.witness import Witness, WitnessState
from sentinelle.witness.http import create_witness_app

ORIGIN = "bench.example/ledger"


def requests(key: SigningKey, checkpoints: int, step: int) -> list[bytes]:
    leaves = [leaf_hash(i.to_bytes(8, "big")) for i in range(checkpoints * step + 1)]
    # Subtree hashes by (start, end), so building the proofs stays cheap.
    cache: dict[tuple[int, int], bytes] = {}

    def subtree(a: int, b: int) -> bytes:
        if (a, b) not in cache:
            cache[(a, b)] = root_hash(leaves[a:b])
        return cache[(a, b)]

    out = []
    for i in range(1, checkpoints + 1):
        old, new = (i - 1) * step, i * step
        proof = consistency_proof(old, new, subtree) if old else []
        note = key.sign(Checkpoint(origin=ORIGIN, size=new, root=subtree(0, new)))
        lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
        out.append(f"old {old}\n{lines}\n{note}".encode())
    return out


def witness(directory: Path, key: SigningKey) -> Witness:
    return Witness(
        key=Cosigner.generate("bench.example/w1"),
        state=WitnessState(directory / "state.db"),
        logs={ORIGIN: [key.verifier()]},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=500)
    parser.add_argument("--step", type=int, default=100)
    args = parser.parse_args()
    key = SigningKey.generate(ORIGIN)
    bodies = requests(key, args.checkpoints, args.step)
    n = len(bodies)

    with tempfile.TemporaryDirectory() as tmp:
        w = witness(Path(tmp), key)
        start = time.perf_counter()
        for body in bodies:
            w.add_checkpoint(body)
        elapsed = time.perf_counter() - start
        w.state.close()
    print(f"in-process: {n} cosignatures in {elapsed:.2f} s: {n / elapsed:,.0f} cosignatures/s")

    with tempfile.TemporaryDirectory() as tmp:
        w = witness(Path(tmp), key)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(
            uvicorn.Config(create_witness_app(w), log_level="warning", access_log=False)
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/add-checkpoint"
        with httpx.Client(timeout=30) as client:
            start = time.perf_counter()
            for body in bodies:
                answer = client.post(url, content=body)
                assert answer.status_code == 200, answer.text
            elapsed = time.perf_counter() - start
        server.should_exit = True
        thread.join(30)
        w.state.close()
    print(f"http:       {n} cosignatures in {elapsed:.2f} s: {n / elapsed:,.0f} cosignatures/s")
    digest = hashlib.sha256(b"".join(bodies)).hexdigest()[:12]
    print(f"({n} checkpoints of {args.step} new leaves each; requests {digest})")


if __name__ == "__main__":
    main()
