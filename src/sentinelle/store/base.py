"""The storage protocol: events, ledger tiles, checkpoints and API keys.

Two real backends implement it with the same behaviour, :mod:`.sqlite` (embedded default) and
:mod:`.postgres`. Both speak SQL through a DB-API connection; what differs (placeholders,
bulk loading, locking, upserts) is in the subclasses. Writes happen only inside
:meth:`Store.writer`, one transaction holding the store's write lock: either all of a batch
is stored or nothing is.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from sentinelle.errors import StoreError
from sentinelle.store.incidents import IncidentStoreMixin, IncidentWriterMixin
from sentinelle.store.migrations import MIGRATIONS
from sentinelle.store.notices import NoticeStoreMixin, NoticeWriterMixin

__all__ = ["ApiKey", "DuplicateIdsError", "EventRow", "Store", "StoredCheckpoint", "Writer"]

# (seq, id, time_us, action, actor, merchant, body)
# (seq, id, time_us, action, actor, merchant, ref, body): the leaf and its indexed columns.
EventRow = tuple[int, str, int, str, str | None, str | None, str | None, str]
_EVENT_COLUMNS: Final = "seq, id, time_us, action, actor, merchant, ref, body"
_LEDGER_KEYS_SELECT: Final = (
    "SELECT seq, verifier_key, from_size, added_us, added_by, reason, statement "
    "FROM ledger_keys ORDER BY seq"
)


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A checkpoint as recorded: tree size, root hash and the signed note text."""

    size: int
    root: bytes
    note: str
    created_us: int


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key's record (the key itself is never stored)."""

    id: str
    name: str
    created_us: int
    revoked_us: int | None


class DuplicateIdsError(StoreError):
    """A bulk insert hit an event id that is already stored (the writer handles it)."""


def now_us() -> int:
    """Wall-clock time in microseconds since the epoch."""
    return time.time_ns() // 1000


class Writer(IncidentWriterMixin, NoticeWriterMixin, abc.ABC):
    """Operations of one write transaction; obtained from :meth:`Store.writer`."""

    def __init__(self, store: Store, conn: Any) -> None:
        self._store = store
        self._conn = conn
        self._cur = conn.cursor()

    def _x(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cur.execute(self._store.sql(sql), params)

    def ledger_size(self) -> int:
        """Leaves in the ledger, as of this transaction."""
        return int(self._x("SELECT size FROM ledger_state WHERE id = 1").fetchone()[0])

    def set_ledger_size(self, size: int) -> None:
        """Record the new number of leaves."""
        self._x("UPDATE ledger_state SET size = ? WHERE id = 1", (size,))

    def partial_tiles(self, size: int) -> dict[int, bytes]:
        """The rightmost tile of each tile level for a tree of ``size`` leaves."""
        out: dict[int, bytes] = {}
        level, n = 0, size
        while n:
            if n & 255:
                row = self._x(
                    "SELECT data FROM tiles WHERE level = ? AND idx = ?", (level, n >> 8)
                ).fetchone()
                if row is not None:
                    out[level] = bytes(row[0])
            level, n = level + 1, n >> 8
        return out

    @abc.abstractmethod
    def insert_events(self, rows: Sequence[EventRow]) -> None:
        """Insert rows; raise :class:`DuplicateIdsError` (rows not inserted) on a known id."""

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

    def existing(self, ids: Sequence[str]) -> dict[str, str]:
        """Stored bodies of those of ``ids`` that are already stored."""
        found: dict[str, str] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            rows = self._x(f"SELECT id, body FROM events WHERE id IN ({marks})", part)  # noqa: S608
            found.update((r[0], r[1]) for r in rows.fetchall())
        return found

    @abc.abstractmethod
    def put_tiles(self, tiles: Sequence[tuple[int, int, bytes]]) -> None:
        """Insert or replace tiles ``(level, index, blob)``."""

    def upsert_alerts(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert or replace alerts ``(id, actor, detector, time_us, last_us, severity, score,
        merchants_json, events_json, reasons_json)``."""
        for row in rows:
            self._x("DELETE FROM alerts WHERE id = ?", (row[0],))
        self._cur.executemany(
            self._store.sql(
                "INSERT INTO alerts (id, actor, detector, time_us, last_us, severity, score, "
                "merchants, events, reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            rows,
        )

    def detect_state(self) -> tuple[int, bytes] | None:
        """``(cursor, state)`` of live detection, if it ran before."""
        row = self._x("SELECT cursor, state FROM detect_state WHERE id = 1").fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def save_detect_state(self, cursor: int, state: bytes) -> None:
        """Record how far live detection got and its state."""
        self._x("DELETE FROM detect_state WHERE id = 1")
        self._x("INSERT INTO detect_state (id, cursor, state) VALUES (1, ?, ?)", (cursor, state))

    def add_checkpoint(self, size: int, root: bytes, note: str) -> StoredCheckpoint:
        """Record a checkpoint, or return the one already recorded at this size."""
        row = self._x(
            "SELECT size, root, note, created_us FROM checkpoints WHERE size = ?", (size,)
        ).fetchone()
        if row is not None:
            return StoredCheckpoint(int(row[0]), bytes(row[1]), row[2], int(row[3]))
        created = now_us()
        self._x(
            "INSERT INTO checkpoints (size, root, note, created_us) VALUES (?, ?, ?, ?)",
            (size, root, note, created),
        )
        return StoredCheckpoint(size, root, note, created)

    # -- ledger keys (migration 7) -------------------------------------------------------------
    def ledger_keys(self) -> list[tuple[Any, ...]]:
        """Recorded verifier keys as of this transaction, oldest first (as in
        :meth:`add_ledger_key`)."""
        return [tuple(r) for r in self._x(_LEDGER_KEYS_SELECT).fetchall()]

    def add_ledger_key(self, row: Sequence[Any]) -> None:
        """Record a verifier key ``(seq, verifier_key, from_size, added_us, added_by, reason,
        statement)``: the public key only, never the private key."""
        self._x(
            "INSERT INTO ledger_keys (seq, verifier_key, from_size, added_us, added_by, reason, "
            "statement) VALUES (?, ?, ?, ?, ?, ?, ?)",
            row,
        )


class Store(IncidentStoreMixin, NoticeStoreMixin, abc.ABC):
    """A database holding events, the ledger's tiles and checkpoints, and API keys."""

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

    # -- writes ------------------------------------------------------------------------------
    @abc.abstractmethod
    @contextmanager
    def writer(self) -> Iterator[Writer]:
        """A write transaction holding the store's write lock; committed if the block succeeds."""

    # -- reads -------------------------------------------------------------------------------
    def ledger_size(self) -> int:
        """Leaves in the ledger."""
        return int(self._x("SELECT size FROM ledger_state WHERE id = 1")[0][0])

    def fetch_tiles(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Stored tiles by ``(level, index)``; missing keys are left out."""
        out: dict[tuple[int, int], bytes] = {}
        for i in range(0, len(keys), 100):  # one round trip per 100 tiles
            part = keys[i : i + 100]
            where = " OR ".join(["(level = ? AND idx = ?)"] * len(part))
            params = [v for key in part for v in key]
            rows = self._x(f"SELECT level, idx, data FROM tiles WHERE {where}", params)  # noqa: S608
            out.update(((int(r[0]), int(r[1])), bytes(r[2])) for r in rows)
        return out

    def tiles_range(self, level: int, first: int, last: int) -> dict[int, bytes]:
        """Stored tiles of one level with index in ``[first, last]``."""
        rows = self._x(
            "SELECT idx, data FROM tiles WHERE level = ? AND idx BETWEEN ? AND ?",
            (level, first, last),
        )
        return {int(r[0]): bytes(r[1]) for r in rows}

    def event_by_id(self, event_id: str) -> tuple[int, str] | None:
        """``(seq, body)`` of a stored event."""
        rows = self._x("SELECT seq, body FROM events WHERE id = ?", (event_id,))
        return (int(rows[0][0]), rows[0][1]) if rows else None

    def iter_events(self, start: int = 0, *, batch: int = 20_000) -> Iterator[list[EventRow]]:
        """Stored event rows in ``seq`` order from ``start``, in lists of up to ``batch``."""
        after = start - 1
        while True:
            rows = self._x(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
                (after, batch),
            )
            if not rows:
                return
            yield [tuple(r) for r in rows]
            after = rows[-1][0]

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every recorded checkpoint, by size."""
        rows = self._x("SELECT size, root, note, created_us FROM checkpoints ORDER BY size")
        return [StoredCheckpoint(int(r[0]), bytes(r[1]), r[2], int(r[3])) for r in rows]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint of the largest size, if any."""
        rows = self._x(
            "SELECT size, root, note, created_us FROM checkpoints ORDER BY size DESC LIMIT 1"
        )
        return (
            StoredCheckpoint(int(rows[0][0]), bytes(rows[0][1]), rows[0][2], int(rows[0][3]))
            if rows
            else None
        )

    def ledger_keys(self) -> list[tuple[Any, ...]]:
        """Recorded verifier keys, oldest first (columns as in :meth:`Writer.add_ledger_key`)."""
        return [tuple(r) for r in self._x(_LEDGER_KEYS_SELECT)]

    def alerts(
        self, *, actor: str | None = None, since_us: int | None = None, min_severity: int = 1
    ) -> list[tuple[Any, ...]]:
        """Stored alert rows, oldest first (columns as in :meth:`Writer.upsert_alerts`)."""
        where, params = ["severity >= ?"], [min_severity]
        if actor is not None:
            where.append("actor = ?")
            params.append(actor)  # type: ignore[arg-type]
        if since_us is not None:
            where.append("time_us >= ?")
            params.append(since_us)
        # Only fixed condition texts are joined; values are parameters.
        query = (
            "SELECT id, actor, detector, time_us, last_us, severity, score, merchants, events, "  # noqa: S608
            f"reasons FROM alerts WHERE {' AND '.join(where)} ORDER BY time_us, id"
        )
        return self._x(query, params)  # type: ignore[no-any-return]

    def events_by_seq(self, start: int, *, batch: int = 20_000) -> Iterator[list[tuple[int, str]]]:
        """``(seq, body)`` of events from ``start`` on, in lists of up to ``batch``."""
        after = start - 1
        while True:
            rows = self._x(
                "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after, batch)
            )
            if not rows:
                return
            yield [(int(r[0]), r[1]) for r in rows]
            after = rows[-1][0]

    def events_by_time(
        self, since_us: int | None, until_us: int | None, *, batch: int = 20_000
    ) -> Iterator[list[str]]:
        """Event bodies in time order (then seq), within ``[since, until)``."""
        lo = since_us if since_us is not None else -(2**62)
        hi = until_us if until_us is not None else 2**62
        last = (lo, -1)  # (time_us, seq) of the row before the first one wanted
        while True:
            rows = self._x(
                "SELECT time_us, seq, body FROM events WHERE time_us < ? AND "
                "time_us >= ? AND (time_us > ? OR seq > ?) ORDER BY time_us, seq LIMIT ?",
                (hi, last[0], last[0], last[1], batch),
            )
            if not rows:
                return
            yield [r[2] for r in rows]
            last = (int(rows[-1][0]), int(rows[-1][1]))

    # -- API keys ----------------------------------------------------------------------------
    def add_api_key(self, *, key_id: str, name: str, key_hash: str) -> ApiKey:
        """Record a new API key by its hash. Raises :class:`StoreError` if the name is taken."""
        with self.writer() as w:
            taken = w._x("SELECT 1 FROM api_keys WHERE name = ?", (name,)).fetchone()
            if taken:
                raise StoreError(f"an API key named {name!r} already exists")
            created = now_us()
            w._x(
                "INSERT INTO api_keys (id, name, key_hash, created_us) VALUES (?, ?, ?, ?)",
                (key_id, name, key_hash, created),
            )
        return ApiKey(key_id, name, created, None)

    def find_api_key(self, key_hash: str) -> ApiKey | None:
        """The active key with this hash."""
        rows = self._x(
            "SELECT id, name, created_us, revoked_us FROM api_keys "
            "WHERE key_hash = ? AND revoked_us IS NULL",
            (key_hash,),
        )
        return ApiKey(*rows[0]) if rows else None

    def list_api_keys(self) -> list[ApiKey]:
        """All keys, revoked ones included."""
        rows = self._x("SELECT id, name, created_us, revoked_us FROM api_keys ORDER BY created_us")
        return [ApiKey(*r) for r in rows]

    def revoke_api_key(self, name: str) -> None:
        """Revoke a key by name. Raises :class:`StoreError` if there is no such active key."""
        with self.writer() as w:
            cur = w._x(
                "UPDATE api_keys SET revoked_us = ? WHERE name = ? AND revoked_us IS NULL",
                (now_us(), name),
            )
            if cur.rowcount != 1:
                raise StoreError(f"no active API key named {name!r}")

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- incidents (migration 3) ---------------------------------------------------------------
    def access_events_by_actors(
        self, actors: Sequence[str], since_us: int, until_us: int, *, batch: int = 20_000
    ) -> Iterator[list[tuple[int, int, str]]]:
        """``(time_us, seq, body)`` of the access events of ``actors`` with time in
        ``[since, until]`` (both included), in time order (then seq), in lists of up to ``batch``.

        Context events carry an actor too (a ticket's assignee, a grant's grantee); they are
        left out by their action.
        """
        from sentinelle.events import ACCESS_ACTIONS

        if not actors:
            return
        actor_marks = ",".join("?" * len(actors))
        action_marks = ",".join("?" * len(ACCESS_ACTIONS))
        last = (since_us, -1)  # the first row wanted: time >= since
        while True:
            # Only placeholders are interpolated; every value is a parameter.
            rows = self._x(
                f"SELECT time_us, seq, body FROM events WHERE actor IN ({actor_marks}) "  # noqa: S608
                f"AND action IN ({action_marks}) AND time_us <= ? "
                "AND time_us >= ? AND (time_us > ? OR seq > ?) ORDER BY time_us, seq LIMIT ?",
                (*actors, *ACCESS_ACTIONS, until_us, last[0], last[0], last[1], batch),
            )
            if not rows:
                return
            yield [(int(r[0]), int(r[1]), r[2]) for r in rows]
            last = (int(rows[-1][0]), int(rows[-1][1]))

    def context_events_cited(
        self, refs: Collection[str], actors: Sequence[str], until_us: int, *, chunk: int = 500
    ) -> list[tuple[int, int, str]]:
        """``(time_us, seq, body)`` of the ``ticket.*``/``grant.*`` events about the tickets and
        grants in ``refs`` and of the ``staff.*`` events of ``actors``, with time up to
        ``until`` (included), in time order (then seq).

        Their whole history up to ``until``: what decides whether an access citing a ticket
        or grant was justified, read through the ``ref`` and ``actor`` indexes.
        """
        from sentinelle.events import CONTEXT_TYPES

        found: list[tuple[int, int, str]] = []
        wanted = sorted(refs)
        for i in range(0, len(wanted), chunk):
            part = wanted[i : i + chunk]
            # Only placeholders are interpolated; every value is a parameter.
            rows = self._x(
                f"SELECT time_us, seq, body FROM events WHERE ref IN ({','.join('?' * len(part))}) "  # noqa: S608
                "AND time_us <= ?",
                (*part, until_us),
            )
            found.extend((int(r[0]), int(r[1]), r[2]) for r in rows)
        staff = [t for t in CONTEXT_TYPES if t.startswith("staff.")]
        for i in range(0, len(actors), chunk):
            part = list(actors[i : i + chunk])
            marks = ",".join("?" * len(part))
            rows = self._x(
                f"SELECT time_us, seq, body FROM events WHERE actor IN ({marks}) "  # noqa: S608
                f"AND action IN ({','.join('?' * len(staff))}) AND time_us <= ?",
                (*part, *staff, until_us),
            )
            found.extend((int(r[0]), int(r[1]), r[2]) for r in rows)
        found.sort()
        return found


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
