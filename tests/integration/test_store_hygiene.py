"""The stores' hygiene: concurrent first opens, private files, busy locks, driver errors
mapped at one boundary, secrets kept out of errors, and opens for reading that create nothing.

Real databases throughout: SQLite files in ``tmp_path``, and a throwaway PostgreSQL cluster
(``settings`` / ``postgres_url``). Locks are held by a second, plain driver connection.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.errors import Error, StoreBusyError, StoreError, StoreNotFoundError
from sentinelle.sim import generate_events
from sentinelle.store import open_store
from sentinelle.store.postgres import PostgresStore, redact_url, scrub
from sentinelle.store.sqlite import SQLiteStore

SHORT = 0.2  # seconds: the busy timeout of the tests that wait for a held lock
PASSWORD = "hunter2"  # noqa: S105  (a test URL's password, to look for in errors)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@contextmanager
def _write_lock_held(settings: Settings) -> Iterator[None]:
    """Sentinelle's write lock, held by another connection until the block ends."""
    if settings.database_url:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (0x53454E54,))
            yield
        return
    conn = sqlite3.connect(settings.data_dir / "sentinelle.db", isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def _busy(settings: Settings) -> Settings:
    return settings.model_copy(update={"busy_timeout": SHORT})


# -- 1. first opens of a new SQLite database, at once --------------------------------------


def _open_when_told(path: str, start: Event, results: Any) -> None:
    start.wait()
    try:
        SQLiteStore.open(Path(path)).close()
        results.put("ok")
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put(f"{type(exc).__name__}: {exc}")


def test_first_opens_of_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    # The switch to WAL needs an exclusive lock, and SQLite does not call the busy handler
    # when two connections both hold a shared lock and want it: without a retry, about one
    # round in ten had a process fail with "database is locked" at once.
    ctx = multiprocessing.get_context("fork")
    failures = []
    for round_ in range(40):
        start, results = ctx.Event(), ctx.Queue()
        path = str(tmp_path / f"r{round_}" / "data" / "sentinelle.db")
        procs = [ctx.Process(target=_open_when_told, args=(path, start, results)) for _ in range(8)]
        for proc in procs:
            proc.start()
        start.set()
        outcomes = [results.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(60)
        failures += [o for o in outcomes if o != "ok"]
    assert failures == []


# -- 3. private files ----------------------------------------------------------------------


def test_new_data_dir_and_database_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with _umask(0o022):  # the usual umask: SQLite alone would make the files 0644
        store = open_store(Settings(_env_file=None, data_dir=data))
        try:
            with store.writer() as w:  # -wal and -shm exist while a connection is open
                w.set_ledger_size(0)
            files = {p.name: _mode(p) for p in data.iterdir()}
        finally:
            store.close()
    assert _mode(data) == 0o700
    assert files == {"sentinelle.db": 0o600, "sentinelle.db-wal": 0o600, "sentinelle.db-shm": 0o600}


def test_the_log_is_copied_into_the_database_in_large_steps(tmp_path: Path) -> None:
    # Batches over many merchants change a page per merchant in each index keyed by merchant:
    # at SQLite's default of 1,000 pages nearly every commit copied the log into the file.
    store = open_store(Settings(_env_file=None, data_dir=tmp_path / "data"))
    try:
        with store.writer() as w:
            w.set_ledger_size(0)
        conn = store._conn  # type: ignore[attr-defined]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 10_000
    finally:
        store.close()


def test_database_files_readable_by_others_are_made_private_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "data" / "sentinelle.db"
    SQLiteStore.open(path).close()
    path.chmod(0o644)
    (tmp_path / "data" / "sentinelle.db-wal").touch(0o644)
    (tmp_path / "data" / "sentinelle.db-wal").chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="sentinelle.store.sqlite"):
        SQLiteStore.open(path).close()
    assert _mode(path) == 0o600
    warned = [r.getMessage() for r in caplog.records]
    assert any(str(path) in m and "0644" in m and "0600" in m for m in warned), warned


def test_a_read_only_database_open_to_others_stays_read_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The group's and others' bits go, the owner's stay: 0444 becomes 0400, never 0600.
    path = tmp_path / "data" / "sentinelle.db"
    SQLiteStore.open(path).close()
    path.chmod(0o444)
    with caplog.at_level(logging.WARNING, logger="sentinelle.store.sqlite"):
        try:
            SQLiteStore.open(path).close()
        except StoreError:
            pass  # not root: the file is read-only, said so (below)
    assert _mode(path) == 0o400
    assert any("made it 0400" in r.getMessage() for r in caplog.records)


def test_a_read_only_database_is_named_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As root every file is writable; the check is what a user without the write bit meets.
    path = tmp_path / "data" / "sentinelle.db"
    SQLiteStore.open(path).close()
    import sentinelle.store.sqlite as module

    monkeypatch.setattr(module.os, "access", lambda *_: False)
    with pytest.raises(StoreError, match="is read-only; Sentinelle writes beside it even to read"):
        SQLiteStore.open(path, create=False)


# -- 6. opening for reading creates nothing -------------------------------------------------


def test_open_for_reading_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "nowhere" / "data"
    with pytest.raises(StoreNotFoundError) as caught:
        open_store(Settings(_env_file=None, data_dir=data), create=False)
    assert str(caught.value) == (
        f"no Sentinelle database at {data / 'sentinelle.db'}: ingest events first"
    )
    assert not (tmp_path / "nowhere").exists()


def test_open_for_reading_an_existing_database(settings: Settings) -> None:
    open_store(settings).close()
    with open_store(settings, create=False) as store:
        assert store.ledger_size() == 0
        assert store.location  # names the file, or the URL without secrets


# -- 4. a lock held too long: busy, at one boundary -----------------------------------------


def test_write_lock_held_longer_than_the_busy_timeout_is_busy(settings: Settings) -> None:
    open_store(settings).close()  # created and migrated before the lock is taken
    with open_store(_busy(settings)) as store:
        with _write_lock_held(settings), pytest.raises(StoreBusyError) as caught:
            with store.writer() as w:
                w.set_ledger_size(0)
        with store.writer() as w:  # the lock released, the same connection writes again
            w.set_ledger_size(0)
    message = str(caught.value)
    assert "busy" in message and "try again" in message and "\n" not in message
    assert caught.value.retry_after > 0


def test_driver_errors_of_reads_are_store_errors(settings: Settings) -> None:
    with open_store(settings) as store:
        with store.writer() as w:
            w._x("DROP TABLE alerts")
        with pytest.raises(StoreError) as caught:
            store.alerts()
    assert not isinstance(caught.value, StoreBusyError)
    assert "alerts" in str(caught.value)


def _events(count: int) -> list[dict[str, Any]]:
    return list(generate_events(events=count, seed=3))[:count]


def test_api_answers_503_with_retry_after_while_the_lock_is_held(settings: Settings) -> None:
    app = create_app(_busy(settings))
    with TestClient(app) as client:
        auth = {
            "Authorization": f"Bearer {create_key(app.state.sentinelle.store, name='t', by='t')}"
        }
        body = json.dumps(_events(5)).encode()
        with _write_lock_held(settings):
            busy = client.post("/v1/events", content=body, headers=auth)
        assert busy.status_code == 503, busy.text
        assert int(busy.headers["Retry-After"]) > 0
        assert "busy" in busy.json()["detail"]
        after = client.post("/v1/events", content=body, headers=auth)
        assert after.status_code == 200, after.text
        assert after.json()["stored"] == 5


# -- 2. no password in any error ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://app:{PASSWORD}@[::1/sentinelle",  # libpq quotes the whole URI back
        f"postgresql://app:{PASSWORD}%ZZ@127.0.0.1/sentinelle",  # ... or the bad token
        f"postgresql://app:{PASSWORD}@127.0.0.1:notaport/sentinelle",
        f"postgresql://app@127.0.0.1/sentinelle?password={PASSWORD}&bogus=1",
        f"postgres://app:{PASSWORD}@127.0.0.1:1/sentinelle?connect_timeout=2",
    ],
    ids=["bad-ipv6", "bad-percent", "bad-port", "password-parameter", "unreachable"],
)
def test_a_bad_postgres_url_never_shows_its_password(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreError) as caught:
        PostgresStore.open(url)
    error: BaseException | None = caught.value
    assert str(caught.value).startswith("cannot connect to PostgreSQL: ")
    assert "\n" not in str(caught.value)
    while error is not None:  # the whole chain, as --verbose would print it
        assert PASSWORD not in str(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    assert PASSWORD not in caplog.text


def test_redact_url_and_scrub() -> None:
    assert redact_url("postgresql://app:s3cr%40t@db:5432/x?password=p2&sslmode=require") == (
        "postgresql://app:***@db:5432/x?password=***&sslmode=require"
    )
    assert redact_url("postgresql://app@db/x") == "postgresql://app@db/x"
    url = "postgresql://app:s3cr%40t@db/x?password=p2"
    text = 'bad "postgresql://app:s3cr%40t@db/x?password=p2": s3cr@t password=p2'
    assert "s3cr" not in scrub(text, url) and "p2" not in scrub(text, url)


def test_busy_error_is_a_store_error_and_one_line() -> None:
    error = StoreBusyError("the database x is busy; try again later")
    assert isinstance(error, StoreError) and isinstance(error, Error)
    assert error.retry_after > 0


def test_settings_never_show_the_database_password() -> None:
    settings = Settings(_env_file=None, database_url=f"postgresql://app:{PASSWORD}@db/x")
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)
