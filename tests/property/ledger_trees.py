"""Merkle trees of counter leaves for the ledger property tests, hashed here without tiles:
the independent reference the proofs are checked against."""

from __future__ import annotations

import hashlib

from sentinelle.ledger.merkle import combine, perfect_subtrees


def counter_leaves(n: int) -> list[bytes]:
    """Leaf hashes ``SHA-256(0x00 || i)`` of the 4-byte big-endian counters ``0 … n-1``."""
    return [hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest() for i in range(n)]


class PerfectTree:
    """Every perfect-subtree hash of ``leaves`` by level, so :meth:`subtree` costs O(log n)
    like a tile store."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.levels: list[list[bytes]] = [leaves]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append(
                [
                    hashlib.sha256(b"\x01" + below[i] + below[i + 1]).digest()
                    for i in range(0, len(below) - 1, 2)
                ]
            )

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(leaves[start:end]) from the perfect subtrees, as a tile-backed store would."""
        levels = self.levels
        return combine([levels[level][index] for level, index in perfect_subtrees(start, end)])
