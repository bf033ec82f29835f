"""PostgreSQL backend (psycopg 3): bulk loads with COPY.

Writers serialise on a transaction-scoped advisory lock, so ledger appends from several
processes never interleave; readers are not blocked. A wait for a lock longer than the busy
timeout (PostgreSQL's ``lock_timeout``) fails with :class:`StoreBusyError`.

The URL may hold a password (``postgresql://user:secret@host/db`` or ``?password=``): no error
or log names the URL without :func:`redact_url`, and driver messages pass :func:`scrub` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final
from urllib.parse import unquote

from sentinelle.errors import ConfigError, StoreBusyError, StoreError
from sentinelle.store.base import DuplicateIdsError, FacetedRow, Store, Writer

__all__ = ["PostgresStore", "redact_url", "scrub"]

# An arbitrary constant naming Sentinelle's write lock among the database's advisory locks.
_WRITE_LOCK: Final = 0x53454E54
_HIDDEN: Final = "***"
_PASSWORD_PARAM: Final = re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)")

try:
    import psycopg
    from psycopg import errors as pg_errors
except ImportError:  # pragma: no cover - depends on the installed extras
    psycopg = None  # type: ignore[assignment]


def _secrets(url: str) -> list[str]:
    """The passwords a URL carries, as written and percent-decoded, longest first.

    Parsed by hand, not by :mod:`urllib`: a malformed URL (the case that ends in an error
    message) must still give up its password.
    """
    found: list[str] = []
    _, sep, rest = url.partition("://")
    if sep:
        authority = rest.split("?", 1)[0]
        userinfo, at, _ = authority.rpartition("@")
        if at and ":" in userinfo:
            found.append(userinfo.split(":", 1)[1])
    found += [m.group(2).strip("'") for m in _PASSWORD_PARAM.finditer(url)]
    found += [unquote(s) for s in found]
    return sorted({s for s in found if s}, key=len, reverse=True)


def redact_url(url: str) -> str:
    """``url`` with its password (user info or ``password=`` parameter) replaced by ``***``."""
    _, sep, rest = url.partition("://")
    if sep:
        authority, query_sep, query = rest.partition("?")
        userinfo, at, host = authority.rpartition("@")
        if at and ":" in userinfo:
            authority = f"{userinfo.split(':', 1)[0]}:{_HIDDEN}@{host}"
        url = url[: len(url) - len(rest)] + authority + query_sep + query
    return _PASSWORD_PARAM.sub(lambda m: m.group(1) + _HIDDEN, url)


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's message) without any password ``url`` holds."""
    text = text.replace(url, redact_url(url))
    for secret in _secrets(url):
        text = text.replace(secret, _HIDDEN)
    return _PASSWORD_PARAM.sub(lambda m: m.group(1) + _HIDDEN, text)


class _PostgresWriter(Writer):
    def insert_events(self, rows: Sequence[FacetedRow]) -> None:
        try:
            # A failed COPY aborts the transaction: the savepoint keeps it going.
            with (
                self.savepoint(),
                self._cur.copy(
                    "COPY events (seq, id, time_us, action, actor, merchant, ref, body, facets) "
                    "FROM STDIN"
                ) as copy,
            ):
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

    def __init__(self, conn: Any, *, url: str, busy_timeout: float) -> None:
        super().__init__(conn)
        self._url = url
        self.location = redact_url(url)
        self.busy_timeout = busy_timeout

    @classmethod
    def open(cls, url: str, *, busy_timeout: float = 30.0) -> PostgresStore:
        """Connect and bring the schema up to date.

        ``busy_timeout``: seconds to wait for a lock (``lock_timeout``) before
        :class:`StoreBusyError`. Raises :class:`StoreError` if it cannot connect, never
        naming the password.
        """
        if psycopg is None:
            raise ConfigError(
                "PostgreSQL support needs the 'postgres' extra: pip install 'sentinelle[postgres]'"
            )
        try:
            conn = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL: {scrub(_first_line(exc), url)} "
                f"(URL {redact_url(url)})"
            ) from None  # the driver's exception may hold the URL: not chained
        store = cls(conn, url=url, busy_timeout=busy_timeout)
        try:
            with store._driver_errors():
                conn.execute(
                    "SELECT set_config('lock_timeout', %s, false)",
                    (f"{max(1, round(busy_timeout * 1000))}ms",),
                )
            if not store.schema_is_current():
                store.migrate()
        except BaseException:
            conn.close()
            raise
        return store

    @contextmanager
    def _driver_errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            message = scrub(_first_line(exc), self._url)
            if isinstance(exc, pg_errors.LockNotAvailable | pg_errors.DeadlockDetected):
                raise StoreBusyError(
                    f"the database {self.location} is busy: another process held a lock "
                    f"for over {self.busy_timeout:g} s ({message}); try again later"
                ) from exc
            raise StoreError(f"PostgreSQL: {message}") from exc

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        conn: Any = self._conn
        # REPEATABLE READ: one snapshot for every statement of the transaction.
        with self._driver_errors():
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield
            finally:
                conn.execute("ROLLBACK")

    def read_only(self) -> None:
        with self._driver_errors():
            self._conn.execute("SET default_transaction_read_only = on")

    @contextmanager
    def writer(self) -> Iterator[Writer]:
        conn: Any = self._conn
        with self._driver_errors(), conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
            yield _PostgresWriter(self, conn)

    def close(self) -> None:
        self._conn.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
