"""A witness's own state: per log, the latest checkpoint it cosigned (a small SQLite file).

The state is the witness's whole memory: a witness that forgets it would cosign a rewritten
history. It lives in one SQLite file (WAL, ``synchronous=FULL``), apart from any Sentinelle
database, and every check-then-update runs in one ``BEGIN IMMEDIATE`` transaction, so two
requests (threads or processes) cannot both pass the check and roll the state back (the race
C2SP ``tlog-witness`` describes). Requests a log signed that the witness refused for
inconsistency are kept as evidence of the log's misbehaviour (``evidence``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sentinelle.errors import ConfigError, StoreError

__all__ = ["LogState", "StateTransaction", "WitnessState"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS logs (
    origin     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,   -- tree size of the latest cosigned checkpoint
    root       BLOB NOT NULL,      -- its root hash
    note       TEXT NOT NULL,      -- the checkpoint as received, with this witness's cosignature
    updated_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence (
    id          INTEGER PRIMARY KEY,
    origin      TEXT NOT NULL,
    received_us INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    request     TEXT NOT NULL      -- the whole add-checkpoint body, signed by the log
);
"""


@dataclass(frozen=True, slots=True)
class LogState:
    """The latest checkpoint a witness cosigned for one log."""

    origin: str
    size: int
    root: bytes
    note: str
    updated_us: int


class StateTransaction:
    """Reads and writes of one ``BEGIN IMMEDIATE`` transaction on the state file."""

    def __init__(self, cur: sqlite3.Cursor) -> None:
        self._cur = cur

    def get(self, origin: str) -> LogState | None:
        """The log's state as of this transaction (``None``: never cosigned)."""
        row = self._cur.execute(
            "SELECT origin, size, root, note, updated_us FROM logs WHERE origin = ?", (origin,)
        ).fetchone()
        return None if row is None else LogState(row[0], row[1], bytes(row[2]), row[3], row[4])

    def put(self, state: LogState) -> None:
        """Record the log's new latest cosigned checkpoint."""
        self._cur.execute(
            "INSERT INTO logs (origin, size, root, note, updated_us) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
            "note = excluded.note, updated_us = excluded.updated_us",
            (state.origin, state.size, state.root, state.note, state.updated_us),
        )


class WitnessState:
    """The state file of a witness; safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")  # cosigned means on disk
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the witness state {path}: {exc}") from None
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[StateTransaction]:
        """One immediate (write-locked) transaction, committed if the block succeeds.

        Raises :class:`StoreError` if the file cannot be written.
        """
        with self._lock:
            cur = self._conn.cursor()
            try:
                try:
                    cur.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as exc:
                    raise StoreError(f"witness state {self.path}: {exc}") from None
                try:
                    yield StateTransaction(cur)
                except BaseException:
                    self._conn.rollback()
                    raise
                try:
                    self._conn.commit()
                except sqlite3.Error as exc:
                    self._conn.rollback()
                    raise StoreError(f"witness state {self.path}: {exc}") from None
            finally:
                cur.close()

    def get(self, origin: str) -> LogState | None:
        """The latest checkpoint cosigned for ``origin``, if any."""
        with self.transaction() as tx:
            return tx.get(origin)

    def keep_evidence(self, origin: str, reason: str, request: str, body: str) -> bool:
        """Keep a refused request whose checkpoint ``body`` the log signed: evidence that it
        misbehaved. Once per checkpoint: anyone may send the log's signed notes again with
        other proofs or other signature lines (nobody's that counts), which proves nothing
        more and must not fill the file. Returns whether the request was kept."""
        with self.transaction() as tx:
            # The table holds one row per refused signed checkpoint (its body is in the row).
            known = tx._cur.execute(
                "SELECT 1 FROM evidence WHERE origin = ? AND instr(request, ?) > 0 LIMIT 1",
                (origin, body),
            ).fetchone()
            if known is not None:
                return False
            tx._cur.execute(
                "INSERT INTO evidence (origin, received_us, reason, request) VALUES (?, ?, ?, ?)",
                (origin, time.time_ns() // 1000, reason, request),
            )
        return True

    def evidence(self) -> list[tuple[str, int, str, str]]:
        """Every kept refusal: ``(origin, received_us, reason, request)``, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT origin, received_us, reason, request FROM evidence ORDER BY id"
            ).fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()
