"""Sentinelle: keep customer data from leaking, and handle the leak well when one happens.

Where to start reading:

* :mod:`sentinelle.events` — the access and context events, parsed and validated;
* :mod:`sentinelle.ledger` — the RFC 9162 Merkle tree, signed checkpoints and proofs;
* :mod:`sentinelle.store` — the SQLite (default) and PostgreSQL backends;
* :mod:`sentinelle.ingest` — batches of events into the store and the ledger;
* :mod:`sentinelle.cli` — the ``sentinelle`` command.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
