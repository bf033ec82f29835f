"""The storage protocol: one database holding events, the ledger, detection, incidents,
notices, keys and accounts.

Each kind of record has its module, with its typed rows and the queries that read and write
it: :mod:`.events`, :mod:`.ledger`, :mod:`.alerts`, :mod:`.incidents`, :mod:`.notices`,
:mod:`.accounts`. Their mixins make up :class:`Store` (reads) and :class:`Writer` (the writes
of one transaction). Two real backends implement it with the same behaviour, :mod:`.sqlite`
(embedded default) and :mod:`.postgres`. Both speak SQL through a DB-API connection; what
differs (placeholders, bulk loading, locking, upserts) is in the subclasses. Writes happen
only inside :meth:`Store.writer`, one transaction holding the store's write lock: either all
of a batch is stored or nothing is. Reads that must agree with each other (a checkpoint and
the proofs under it) run in one :meth:`Store.snapshot`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sentinelle.errors import StoreError
from sentinelle.store.accesses import AccessIndexStoreMixin, AccessIndexWriterMixin
from sentinelle.store.accounts import AccountStoreMixin, ApiKey
from sentinelle.store.activity import ActivityStoreMixin, ActivityWriterMixin
from sentinelle.store.alerts import AlertStoreMixin, AlertWriterMixin
from sentinelle.store.deliveries import DeliveryStoreMixin, DeliveryWriterMixin
from sentinelle.store.events import (
    DuplicateIdsError,
    EventRow,
    EventStoreMixin,
    EventWriterMixin,
    FacetedRow,
)
from sentinelle.store.grants import GrantStoreMixin, GrantWriterMixin
from sentinelle.store.guardlog import GuardLogStoreMixin, GuardLogWriterMixin
from sentinelle.store.incidents import IncidentStoreMixin, IncidentWriterMixin
from sentinelle.store.integrations import IntegrationStoreMixin, IntegrationWriterMixin
from sentinelle.store.ledger import LedgerStoreMixin, LedgerWriterMixin, StoredCheckpoint
from sentinelle.store.migrations import MIGRATIONS
from sentinelle.store.notices import NoticeStoreMixin, NoticeWriterMixin
from sentinelle.store.scim import ScimStoreMixin, ScimWriterMixin
from sentinelle.store.sessions import SessionStoreMixin
from sentinelle.store.slices import SliceStoreMixin, SliceWriterMixin
from sentinelle.store.suspensions import SuspensionStoreMixin, SuspensionWriterMixin
from sentinelle.store.witnesses import WitnessStoreMixin, WitnessWriterMixin
from sentinelle.timeutil import now_us

__all__ = [
    "ApiKey",
    "DuplicateIdsError",
    "EventRow",
    "FacetedRow",
    "Store",
    "StoredCheckpoint",
    "Writer",
]


class Writer(
    EventWriterMixin,
    LedgerWriterMixin,
    AlertWriterMixin,
    IncidentWriterMixin,
    NoticeWriterMixin,
    ActivityWriterMixin,
    GrantWriterMixin,
    GuardLogWriterMixin,
    SuspensionWriterMixin,
    WitnessWriterMixin,
    DeliveryWriterMixin,
    ScimWriterMixin,
    AccessIndexWriterMixin,
    IntegrationWriterMixin,
    SliceWriterMixin,
    abc.ABC,
):
    """Operations of one write transaction; obtained from :meth:`Store.writer`."""

    def __init__(self, store: Store, conn: Any) -> None:
        self._store = store
        self._conn = conn
        self._cur = conn.cursor()

    def _x(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cur.execute(self._store.sql(sql), params)

    def _load(self, table: str, columns: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` into ``table`` (``columns``, comma-separated, in the rows' order) in
        one statement: COPY on PostgreSQL (``executemany`` is a round trip per row there), one
        ``executemany`` on SQLite. Only the callers' fixed table and column names are
        interpolated, never data."""
        if not rows:
            return
        if self._store.dialect == "postgresql":
            with self._cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" * len(rows[0]))
        self._cur.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608

    @abc.abstractmethod
    def insert_events(self, rows: Sequence[FacetedRow]) -> None:
        """Insert rows, each with its page facets last (:func:`~sentinelle.store.accesses.
        facets_of`, ``None`` for a context event); raise :class:`DuplicateIdsError` on a known
        id, with none of ``rows`` inserted and the transaction still usable."""

    def bulk_load(self) -> bool:
        """Prepare this transaction for far more events than are stored (a first load, a
        backfill): the events' secondary indexes are built once, at the commit, rather than
        kept up to date row by row. Whether it did (SQLite only: on PostgreSQL dropping an
        index would lock the table against every reader until the commit)."""
        return False

    def build_indexes(self) -> None:
        """Build now the indexes :meth:`bulk_load` dropped (else at the commit)."""

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Roll back to here if the block raises."""
        self._x("SAVEPOINT sp")
        try:
            yield
        except BaseException:
            self._x("ROLLBACK TO SAVEPOINT sp")
            self._x("RELEASE SAVEPOINT sp")
            raise
        self._x("RELEASE SAVEPOINT sp")

    @abc.abstractmethod
    def put_tiles(self, tiles: Sequence[tuple[int, int, bytes]]) -> None:
        """Insert or replace tiles ``(level, index, blob)``."""


class Store(
    EventStoreMixin,
    LedgerStoreMixin,
    AlertStoreMixin,
    IncidentStoreMixin,
    NoticeStoreMixin,
    AccountStoreMixin,
    SessionStoreMixin,
    ActivityStoreMixin,
    GrantStoreMixin,
    GuardLogStoreMixin,
    SuspensionStoreMixin,
    WitnessStoreMixin,
    DeliveryStoreMixin,
    ScimStoreMixin,
    AccessIndexStoreMixin,
    IntegrationStoreMixin,
    SliceStoreMixin,
    abc.ABC,
):
    """A database holding events, the ledger, alerts, incidents, notices and API keys."""

    dialect: str
    _placeholder = "?"
    #: Where the data is, for people: the SQLite file, or the PostgreSQL URL without secrets.
    location: str = ""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @contextmanager
    def _driver_errors(self) -> Iterator[None]:
        """The one boundary where the backend's driver errors become :class:`StoreError`
        (:class:`~sentinelle.errors.StoreBusyError` for a lock wait that timed out)."""
        yield

    def sql(self, text: str) -> str:
        """Adapt a query written with ``?`` placeholders to this backend."""
        return text if self._placeholder == "?" else text.replace("?", self._placeholder)

    def _x(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._read() as cur:
            cur.execute(self.sql(sql), params)
            return cur.fetchall()

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._driver_errors():
            cur = self._conn.cursor()
            try:
                yield cur
            finally:
                cur.close()

    # -- schema ------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Apply the migrations this database lacks. Raises :class:`StoreError` if it is newer."""
        with self.writer() as w:
            w._x(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_us BIGINT NOT NULL)"
            )
            done = {int(r[0]) for r in w._x("SELECT version FROM schema_migrations").fetchall()}
            known = {v for v, _ in MIGRATIONS[self.dialect]}
            if done - known:
                raise StoreError(
                    f"the database schema (version {max(done)}) is newer than this Sentinelle "
                    f"knows ({max(known)}); upgrade Sentinelle"
                )
            for version, script in MIGRATIONS[self.dialect]:
                if version in done:
                    continue
                for statement in _statements(script):
                    w._x(statement)
                w._x(
                    "INSERT INTO schema_migrations (version, applied_us) VALUES (?, ?)",
                    (version, now_us()),
                )

    def schema_is_current(self) -> bool:
        """Whether every migration this Sentinelle knows is applied; read without the write
        lock, so opening a store never waits for a writer when there is nothing to migrate."""
        try:
            done = {int(r[0]) for r in self._x("SELECT version FROM schema_migrations")}
        except StoreError:  # no schema yet
            return False
        return done == {v for v, _ in MIGRATIONS[self.dialect]}

    def schema_version(self) -> int:
        """The newest migration applied."""
        return int(self._x("SELECT max(version) FROM schema_migrations")[0][0])

    @abc.abstractmethod
    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: every read in the block sees the same committed state (what
        writers commit meanwhile is not seen). Not for writes; not nested, not around
        :meth:`writer`."""

    @abc.abstractmethod
    def read_only(self) -> None:
        """From now on this connection refuses writes (a connection kept for reads only)."""

    @abc.abstractmethod
    @contextmanager
    def writer(self) -> Iterator[Writer]:
        """A write transaction holding the store's write lock; committed if the block succeeds."""

    @contextmanager
    def first_load(self) -> Iterator[bool]:
        """Around the one :meth:`writer` transaction of a first load: a large batch into a store
        whose ledger is empty. The backend may write it a faster way that costs readers (SQLite:
        a rollback journal instead of WAL). Yields whether it did; ends as it began."""
        yield False

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
