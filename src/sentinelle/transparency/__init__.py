"""What merchants and auditors run to check the ledger without trusting Sentinelle.

* :mod:`sentinelle.transparency.verify` — a small verifier (hashlib and ``cryptography``
  only, nothing else of Sentinelle): signed notes, RFC 9162 inclusion and consistency proofs,
  the merchant map, and a whole merchant-slice answer (complete between two checkpoints).
"""

from __future__ import annotations

from sentinelle.transparency.verify import (
    CompletenessError,
    MapProofError,
    MissingMapError,
    NoteError,
    ProofError,
    SliceHead,
    VerificationError,
    VerifiedSlice,
    accesses_to,
    verify_consistency,
    verify_inclusion,
    verify_map_proof,
    verify_note,
    verify_slice,
)

__all__ = [
    "CompletenessError",
    "MapProofError",
    "MissingMapError",
    "NoteError",
    "ProofError",
    "SliceHead",
    "VerificationError",
    "VerifiedSlice",
    "accesses_to",
    "verify_consistency",
    "verify_inclusion",
    "verify_map_proof",
    "verify_note",
    "verify_slice",
]
