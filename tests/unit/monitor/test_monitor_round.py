"""One round of the monitor against a log that grows while the round reads it: an honest log
is never reported as misbehaving because it moved between two of the round's reads."""

from __future__ import annotations

from pathlib import Path

from sentinelle.ledger import Checkpoint, SigningKey, consistency_proof, leaf_hash, root_hash
from sentinelle.ledger.cosignature import Cosigner
from sentinelle.monitor import Monitor, MonitorConfig, Outcome, StateDir
from sentinelle.monitor.checks import LogTree

ORIGIN = "shop.example/ledger"
LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(600)]
KEY = SigningKey.generate(ORIGIN)
WITNESS = Cosigner.generate("witness.test/w1")


def cosigned(size: int) -> str:
    cp = Checkpoint(origin=ORIGIN, size=size, root=root_hash(LEAVES[:size]))
    return KEY.sign(cp) + WITNESS.cosign(cp.body(), timestamp=1_000 + size)


class GrowingLog:
    """A log at 300 leaves, witnessed, that grows to 600 (witnessed too) right after the
    round's first read of a checkpoint: ingest and `ledger witness` ran in between."""

    where = "growing-log"

    def __init__(self) -> None:
        self.size = 300

    def _read(self) -> str:
        note = cosigned(self.size)
        self.size = 600
        return note

    def latest(self) -> str:
        return self._read()

    def witnessed(self) -> str:
        return self._read()

    def tree(self, old_size: int, new_size: int) -> LogTree:
        proof = consistency_proof(old_size, new_size, lambda a, b: root_hash(LEAVES[a:b]))
        return LogTree(root_hash(LEAVES[:old_size]), root_hash(LEAVES[:new_size]), tuple(proof))

    def key_history(self) -> None:
        return None


def test_a_log_that_grows_between_the_rounds_reads_is_ok(tmp_path: Path) -> None:
    config = MonitorConfig.build(
        origin=ORIGIN,
        log_keys=[KEY.verifier_key()],
        witnesses=[WITNESS.verifier_key()],
    )
    state = StateDir(tmp_path / "m")
    first = Monitor(config=config, source=GrowingLog(), state_dir=state).round()
    assert first.outcome is Outcome.OK, [f.message for f in first.findings]
    assert first.size == 300  # the witnessed checkpoint; the newest (600) extends it
    # Again from the state held, the log growing from 300 to 600 during the round.
    again = Monitor(config=config, source=GrowingLog(), state_dir=state).round()
    assert again.outcome is Outcome.OK, [f.message for f in again.findings]
    assert not (tmp_path / "m" / "evidence").exists()
