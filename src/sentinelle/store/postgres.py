"""PostgreSQL backend (psycopg 3): bulk loads with COPY.

Writers serialise on a transaction-scoped advisory lock, so ledger appends from several
processes never interleave; readers are not blocked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

from sentinelle.errors import ConfigError, StoreError
from sentinelle.store.base import DuplicateIdsError, EventRow, Store, Writer

__all__ = ["PostgresStore"]

# An arbitrary constant naming Sentinelle's write lock among the database's advisory locks.
_WRITE_LOCK: Final = 0x53454E54

try:
    import psycopg
    from psycopg import errors as pg_errors
except ImportError:  # pragma: no cover - depends on the installed extras
    psycopg = None  # type: ignore[assignment]


class _PostgresWriter(Writer):
    def insert_events(self, rows: Sequence[EventRow]) -> None:
        try:
            with self._cur.copy(
                "COPY events (seq, id, time_us, action, actor, merchant, ref, body) FROM STDIN"
            ) as copy:
                write = copy.write_row
                for row in rows:
                    write(row)
        except pg_errors.UniqueViolation as exc:
            raise DuplicateIdsError(str(exc)) from None

    def put_tiles(self, tiles: Sequence[tuple[int, int, bytes]]) -> None:
        self._cur.executemany(
            "INSERT INTO tiles (level, idx, data) VALUES (%s, %s, %s) "
            "ON CONFLICT (level, idx) DO UPDATE SET data = EXCLUDED.data",
            tiles,
        )


class PostgresStore(Store):
    """Store in a PostgreSQL database."""

    dialect = "postgresql"
    _placeholder = "%s"

    @classmethod
    def open(cls, url: str) -> PostgresStore:
        """Connect and bring the schema up to date."""
        if psycopg is None:
            raise ConfigError(
                "PostgreSQL support needs the 'postgres' extra: pip install 'sentinelle[postgres]'"
            )
        try:
            conn = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            # The URL may hold a password: name the host only.
            raise StoreError(f"cannot connect to PostgreSQL: {_first_line(exc)}") from None
        store = cls(conn)
        store.migrate()
        return store

    @contextmanager
    def writer(self) -> Iterator[Writer]:
        conn: Any = self._conn
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
                yield _PostgresWriter(self, conn)
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL: {_first_line(exc)}") from exc

    def close(self) -> None:
        self._conn.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
