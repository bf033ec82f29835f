"""A real witness for the tests: ``sentinelle.witness`` served by uvicorn on a free loopback
port in a thread, with its own key and state file."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sentinelle.ledger.checkpoint import Verifier
from sentinelle.ledger.cosignature import Cosigner
from sentinelle.witness import Witness, WitnessState
from sentinelle.witness.http import create_witness_app
from served import served


@dataclass
class RunningWitness:
    """A witness serving on ``url``; ``witness`` is the object behind it (its state too)."""

    url: str
    witness: Witness

    @property
    def key(self) -> str:
        return self.witness.key.verifier_key()

    @property
    def spec(self) -> str:
        """``URL=VERIFIER_KEY``, as SENTINELLE_WITNESSES takes it."""
        return f"{self.url}={self.key}"


@contextmanager
def serve_witness(
    directory: Path, logs: dict[str, Sequence[Verifier]], name: str = "witness.test/w1"
) -> Iterator[RunningWitness]:
    """Run a witness with its key and state in ``directory`` (kept across runs there)."""
    cosigner = Cosigner.load_or_create(directory / "witness.key", name)
    state = WitnessState(directory / "witness-state.db")
    witness = Witness(key=cosigner, state=state, logs=logs)
    try:
        with served(create_witness_app(witness), lifespan="off", what="the witness") as url:
            yield RunningWitness(url, witness)
    finally:
        state.close()


@contextmanager
def serve_witnesses(
    directory: Path, logs: dict[str, Sequence[Verifier]], count: int = 2
) -> Iterator[list[RunningWitness]]:
    """``count`` independent witnesses ``witness.test/w1``…, each with its own key and state
    in ``directory/w1``…"""
    with ExitStack() as stack:
        running = []
        for i in range(1, count + 1):
            (directory / f"w{i}").mkdir(exist_ok=True)
            running.append(
                stack.enter_context(serve_witness(directory / f"w{i}", logs, f"witness.test/w{i}"))
            )
        yield running
