"""What ``sentinelle ingest`` writes to a SQLite store, read back to compare two ingests of the
same events (with a reader process or without, as a bulk load or row by row)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

# What ingest writes, and the order to compare it in.
TABLES = {
    "events": "seq",
    "access_subjects": "merchant, subject, seq",
    "actor_days": "actor, day",
    "integrations": "actor",
    "integration_merchants": "actor, merchant",
    "tiles": "level, idx",
    "slice_nodes": "merchant, size",
    "ledger_state": "id",
    "slice_state": "id",
}


def stored_tables(data_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of :data:`TABLES` and the checkpoints' sizes and roots (each store signs
    with its own key), in the store of ``data_dir``."""
    with sqlite3.connect(data_dir / "sentinelle.db") as db:
        found = {
            t: db.execute(f"SELECT * FROM {t} ORDER BY {o}").fetchall()  # noqa: S608 - ours
            for t, o in TABLES.items()
        }
        found["checkpoints"] = db.execute(
            "SELECT size, root FROM checkpoints ORDER BY size"
        ).fetchall()
    return found
