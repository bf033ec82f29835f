"""The tamper-evident ledger: an RFC 9162 Merkle tree with C2SP signed checkpoints.

* :mod:`sentinelle.ledger.merkle` — pure RFC 9162 §2.1 hashing, inclusion and consistency
  proofs, and their verification;
* :mod:`sentinelle.ledger.checkpoint` — C2SP ``tlog-checkpoint`` bodies signed as C2SP
  ``signed-note``\\s with Ed25519.

Verification failures raise :class:`sentinelle.errors.IntegrityError`.
"""

from __future__ import annotations

from sentinelle.ledger.checkpoint import Checkpoint, SigningKey, Verifier, parse_note
from sentinelle.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    SubtreeHash,
    combine,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    perfect_subtrees,
    root_from_inclusion,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Checkpoint",
    "SigningKey",
    "SubtreeHash",
    "Verifier",
    "combine",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "parse_note",
    "perfect_subtrees",
    "root_from_inclusion",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]
