"""A transparency log witness (C2SP ``tlog-witness``, ``tlog-cosignature``).

* :mod:`sentinelle.witness.witness` — :class:`Witness`: cosigns a log's checkpoint only if it
  extends the last one it cosigned;
* :mod:`sentinelle.witness.state` — its own state, a small SQLite file;
* :mod:`sentinelle.witness.http` — ``POST /add-checkpoint`` as an ASGI app (needs the ``api``
  extra), served by ``sentinelle witness serve``.

The log side (sending checkpoints to witnesses, keeping their cosignatures, verifying them) is
:mod:`sentinelle.ledger.witnessing`; cosignatures themselves are
:mod:`sentinelle.ledger.cosignature`.
"""

from __future__ import annotations

from sentinelle.witness.state import LogState, WitnessState
from sentinelle.witness.witness import Witness, WitnessRefusedError, parse_logs

__all__ = ["LogState", "Witness", "WitnessRefusedError", "WitnessState", "parse_logs"]
