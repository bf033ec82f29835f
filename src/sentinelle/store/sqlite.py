"""SQLite backend: the embedded default, one file in WAL mode, no server.

Writes take SQLite's write lock up front (``BEGIN IMMEDIATE``), so two ingests never
interleave their ledger appends; readers are not blocked (WAL), and a reader's
:meth:`~SQLiteStore.snapshot` is one read transaction on its connection. A write waits up to
the busy timeout for another process's lock, then fails with :class:`StoreBusyError`.

One exception: a first load into an empty ledger, when no other connection has the file open,
is written with a rollback journal (:meth:`SQLiteStore.first_load`), then the file is back in
WAL mode.

The database holds staff IPs, customer ids and incidents: a data directory created here is
mode 0700, and the database with its ``-wal``, ``-shm`` and ``-journal`` files is mode 0600
(SQLite gives those the database file's mode). A database file found readable by others is
tightened to 0600, with a warning.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from sentinelle.errors import StoreBusyError, StoreError, StoreNotFoundError
from sentinelle.store.base import DuplicateIdsError, FacetedRow, Store, Writer

__all__ = ["SQLiteStore", "database_files"]

_logger = logging.getLogger(__name__)

# Primary result codes (the low byte of an extended code): another connection holds a lock.
_SQLITE_BUSY: Final = 5
_SQLITE_LOCKED: Final = 6
_SIDE_FILES: Final = ("-wal", "-shm", "-journal")


#: The write-ahead log is copied into the database (and both synced) once it holds this many
#: pages, at the commit that reaches it (SQLite's default: 1,000, 4 MiB). A batch of 1,000
#: events over many merchants changes a page or more per merchant in each index keyed by
#: merchant (the events', the customers', the slices'), so at 1,000 pages nearly every commit
#: copied its pages, and the hot ones again at the next. At 10,000 (40 MiB of log) a page
#: changed by several batches is copied once: 8-16 % less CPU and 15-24 % less time for
#: 200,000 events ingested in batches of 1,000 over 100,000 merchants (docs/performance.md).
WAL_CHECKPOINT_PAGES: Final = 10_000

#: The events' secondary indexes :meth:`_SQLiteWriter.bulk_load` builds again before the commit
#: (a sort each) instead of keeping them up to date row by row (actors, tickets and merchants
#: come in no order: each row lands on another page of each). Not the ids' unique index:
#: it is what finds re-sent events during the batch.
BULK_INDEXES: Final = ("events_time", "events_actor_time", "events_ref", "events_merchant_seq")


class _SQLiteWriter(Writer):
    def __init__(self, store: Store, conn: Any) -> None:
        super().__init__(store, conn)
        self.rebuild: list[str] = []  # CREATE INDEX statements to run before the commit

    def insert_events(self, rows: Sequence[FacetedRow]) -> None:
        # No savepoint: one makes SQLite copy every page a chunk touches first (about 2% of an
        # ingest's CPU). A known id stops executemany at its row, that statement undone; the
        # rows inserted before it are deleted again by seq, and the transaction goes on.
        conn = self._conn
        before = conn.total_changes
        try:
            self._cur.executemany(
                "INSERT INTO events (seq, id, time_us, action, actor, merchant, ref, body, "
                "facets) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except sqlite3.IntegrityError as exc:
            if "events.id" not in str(exc):
                raise StoreError(f"cannot store events: {exc}") from exc
            # Rows inserted before the failing one (sqlite3_total_changes is a C int: mod 2**32).
            done = (conn.total_changes - before) % (1 << 32)
            if done:
                self._cur.executemany(
                    "DELETE FROM events WHERE seq = ?", [(row[0],) for row in rows[:done]]
                )
                if self._cur.rowcount != done:
                    raise StoreError(
                        f"cannot store events: {done} rows inserted before a known id, "
                        f"{self._cur.rowcount} taken out again"
                    ) from exc
            raise DuplicateIdsError(str(exc)) from None

    def put_tiles(self, tiles: Sequence[tuple[int, int, bytes]]) -> None:
        self._cur.executemany(
            "INSERT OR REPLACE INTO tiles (level, idx, data) VALUES (?, ?, ?)", tiles
        )

    def bulk_load(self) -> bool:
        # Dropped in this transaction (readers keep them: they see the schema committed),
        # built again by SQLiteStore.writer before its commit, from the statements that made
        # them; a rollback restores them as they were.
        if self.rebuild:
            return True
        rows = self._cur.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'"
        ).fetchall()
        for name, sql in rows:
            if name in BULK_INDEXES:
                self._cur.execute(f'DROP INDEX "{name}"')
                self.rebuild.append(sql)
        return bool(self.rebuild)

    def build_indexes(self) -> None:
        while self.rebuild:
            self._cur.execute(self.rebuild.pop(0))


class SQLiteStore(Store):
    """Store in one SQLite file."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection, *, path: Path, busy_timeout: float) -> None:
        super().__init__(conn)
        self.path = path
        self.location = str(path)
        self.busy_timeout = busy_timeout

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        busy_timeout: float = 30.0,
        create: bool = True,
        reader: bool = False,
    ) -> SQLiteStore:
        """Open the database file and bring its schema up to date.

        ``create``: make the file (and its folder, mode 0700) if missing; otherwise raise
        :class:`StoreNotFoundError` and create nothing. ``busy_timeout``: seconds to wait for a
        lock another connection holds. ``reader``: a connection for reads only, of a file
        another process opened first: its journal mode is left as that process set it (a
        first load's rollback journal: switching to WAL would wait for that load's commit),
        its schema must be current, and writes are refused. Raises :class:`StoreError` if it
        cannot be opened.
        """
        try:
            if create:
                _create_private(path)
            elif not path.exists():
                if path.parent.exists() and not path.parent.is_dir():
                    raise NotADirectoryError(f"{path.parent} is not a directory")
                raise StoreNotFoundError(f"no Sentinelle database at {path}: ingest events first")
            _tighten(path)
            if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
                # SQLite would say "unable to open database file", and no more.
                raise StoreError(
                    f"cannot open the SQLite database {path}: it, or its folder, is read-only; "
                    "Sentinelle writes beside it even to read (its write-ahead log): make "
                    "both writable by their owner, or work on a copy"
                )
            # mode=rw never creates the file; the side files get the database file's mode.
            uri = f"{path.absolute().as_uri()}?mode=rw"
            conn = sqlite3.connect(
                uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except OSError as exc:
            raise StoreError(f"cannot open the SQLite database {path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the SQLite database {path}: {exc}") from exc
        store = cls(conn, path=path, busy_timeout=busy_timeout)
        try:
            with store._driver_errors("cannot open the SQLite database"):
                store._set_up(journal=not reader)
            if reader:
                if not store.schema_is_current():
                    raise StoreError(f"the SQLite database {path} is not set up for reading")
                store.read_only()
            elif not store.schema_is_current():
                store.migrate()
        except BaseException:
            conn.close()
            raise
        return store

    def _set_up(self, *, journal: bool = True) -> None:
        conn = self._conn
        if journal:
            self._wal()
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")

    def _wal(self) -> None:
        """Put the file in WAL mode (it stays so: the mode is kept in the file)."""
        # The busy handler (sqlite3.connect's timeout) is in place before anything else, but
        # SQLite does not call it when two connections each hold a shared lock and both want
        # the exclusive one the switch to WAL needs (first opens of a new file, at once): one of
        # them gets SQLITE_BUSY at once. The loser retries until the busy timeout.
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.001
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    @contextmanager
    def first_load(self) -> Iterator[bool]:
        # WAL writes every page twice: into the log as the transaction goes, then into the
        # database at the commit's checkpoint. A rollback journal writes a page the
        # transaction adds once, into the database, and journals only the pages it changes,
        # few in a store that holds no events yet: a first load of 365k events takes 13 % less
        # time (README, Performance). The price is for readers: one that opens the file during
        # the load waits for its commit (busy timeout), and once the transaction outgrows the
        # page cache it holds the exclusive lock. So it is done only when no other connection
        # has the file open (leaving WAL needs the exclusive lock: the switch fails at once
        # otherwise), with synchronous=FULL, the rollback journal's safe setting.
        conn = self._conn
        switched = False
        if not conn.in_transaction:
            with self._driver_errors("cannot write to the SQLite database"):
                conn.execute("PRAGMA busy_timeout=0")
                try:
                    mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
                    switched = str(mode).lower() == "delete"
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise
                finally:
                    conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
                if switched:
                    conn.execute("PRAGMA synchronous=FULL")
        try:
            yield switched
        finally:
            if switched:
                try:
                    with self._driver_errors("cannot write to the SQLite database"):
                        conn.execute("PRAGMA synchronous=NORMAL")
                        self._wal()
                except StoreError as exc:  # the batch is committed (or rolled back) already
                    _logger.warning(
                        "%s; the database stays in rollback-journal mode until it is next opened",
                        exc,
                    )

    @contextmanager
    def _driver_errors(self, doing: str = "cannot read the SQLite database") -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
                raise StoreBusyError(
                    f"the database {self.path} is busy: another process held its write lock "
                    f"for over {self.busy_timeout:g} s; try again later"
                ) from exc
            raise StoreError(f"{doing} {self.path}: {exc}") from exc

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        conn = self._conn
        with self._driver_errors():
            conn.execute("BEGIN")  # deferred: the first read fixes what the block sees (WAL)
            try:
                yield
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")  # read only: nothing to commit

    def read_only(self) -> None:
        with self._driver_errors():
            self._conn.execute("PRAGMA query_only=ON")

    @contextmanager
    def writer(self) -> Iterator[Writer]:
        conn = self._conn
        with self._driver_errors("cannot write to the SQLite database"):
            conn.execute("BEGIN IMMEDIATE")
            writer = _SQLiteWriter(self, conn)
            try:
                yield writer
            except BaseException:
                if conn.in_transaction:  # some errors (disk full) already rolled it back
                    conn.execute("ROLLBACK")
                raise
            try:
                writer.build_indexes()  # those a bulk load dropped
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self._conn.close()


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # pragma: no cover - Python < 3.11 has no error codes
        return "locked" in str(exc) or "busy" in str(exc)
    return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)


def _create_private(path: Path) -> None:
    """Create the folder (0700) and an empty database file (0600) unless they exist.

    SQLite would create the file 0644; an empty file is a valid empty database, and its side
    files (``-wal``, ``-shm``, ``-journal``) are created with its mode.
    """
    if not path.parent.is_dir():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.close(fd)


def database_files(path: Path) -> tuple[Path, ...]:
    """The database file ``path`` and its side files (``-wal``, ``-shm``, ``-journal``)."""
    return (path, *(path.with_name(path.name + s) for s in _SIDE_FILES))


def _tighten(path: Path) -> None:
    """Make the database and its side files private if they are not (the group's and
    others' bits taken away, the owner's kept: a file made read-only stays so); warn when so."""
    for file in database_files(path):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            private = mode & 0o700
            try:
                file.chmod(private)
            except OSError as exc:
                _logger.warning(
                    "%s is readable by others (mode %04o) and cannot be made private: %s; "
                    "run: chmod go= %s",
                    file,
                    mode,
                    exc.strerror,
                    file,
                )
                continue
            _logger.warning(
                "%s was accessible by group or others (mode %04o); made it %04o",
                file,
                mode,
                private,
            )
