"""SQLite backend: the embedded default, one file in WAL mode, no server.

Writes take SQLite's write lock up front (``BEGIN IMMEDIATE``), so two ingests never
interleave their ledger appends; readers are not blocked (WAL).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sentinelle.errors import StoreError
from sentinelle.store.base import DuplicateIdsError, EventRow, Store, Writer

__all__ = ["SQLiteStore"]


class _SQLiteWriter(Writer):
    def insert_events(self, rows: Sequence[EventRow]) -> None:
        try:
            self._cur.executemany(
                "INSERT INTO events (seq, id, time_us, action, actor, merchant, ref, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except sqlite3.IntegrityError as exc:
            if "events.id" in str(exc):
                raise DuplicateIdsError(str(exc)) from None
            raise StoreError(f"cannot store events: {exc}") from exc

    def put_tiles(self, tiles: Sequence[tuple[int, int, bytes]]) -> None:
        self._cur.executemany(
            "INSERT OR REPLACE INTO tiles (level, idx, data) VALUES (?, ?, ?)", tiles
        )


class SQLiteStore(Store):
    """Store in one SQLite file."""

    dialect = "sqlite"

    @classmethod
    def open(cls, path: Path) -> SQLiteStore:
        """Open (creating if needed) the database file and bring its schema up to date."""
        try:
            # Inside the try: a data dir that is a file or not writable is a StoreError too.
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA cache_size=-65536")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the SQLite database {path}: {exc}") from exc
        store = cls(conn)
        store.migrate()
        return store

    @contextmanager
    def writer(self) -> Iterator[Writer]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot start a write transaction: {exc}") from exc
        try:
            yield _SQLiteWriter(self, conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StoreError(f"cannot commit: {exc}") from exc

    def close(self) -> None:
        self._conn.close()
