"""Sentinelle: keep customer data from leaking, and handle the leak well when one happens.

Where to start reading:

* :mod:`sentinelle.events` — the access and context events, parsed and validated;
* :mod:`sentinelle.ledger` — the RFC 9162 Merkle tree, signed checkpoints and proofs;
* :mod:`sentinelle.store` — the SQLite (default) and PostgreSQL backends;
* :mod:`sentinelle.ingest` — batches of events into the store and the ledger;
* :mod:`sentinelle.detect` — streaming detectors over the stored events, alerts with reasons.

Then the response to a leak, in the order a DPO meets it:

* :mod:`sentinelle.response` — the engine every interface calls: open an incident, scope it,
  assess it, record the phases sent to the authority, send the notices;
* :mod:`sentinelle.incidents` — incident records, states, the 72-hour clock, the scope
  counted from the ledger, the breach register;
* :mod:`sentinelle.assess` — facts in, typed assessment out (ENISA severity, GDPR Art. 33/34);
* :mod:`sentinelle.notify` — notices by SMTP, each recipient once; the authority's report.

And the interfaces over them: :mod:`sentinelle.cli` (the ``sentinelle`` command) and
:mod:`sentinelle.api` (the REST API).
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
