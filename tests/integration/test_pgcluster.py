"""The PostgreSQL test fixtures: a real server, one fresh database per test, real isolation."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import pgcluster
from pgcluster import ENV_URL, ClusterStartError, ThrowawayCluster, find_bin_dir
from sentinelle.config import Settings

pytestmark = pytest.mark.integration

own_cluster_only = pytest.mark.skipif(
    bool(os.environ.get(ENV_URL)), reason=f"{ENV_URL} names an existing server"
)


def _is_dead(conn: psycopg.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


def test_fresh_database_is_empty_and_usable(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)
        conn.execute("CREATE TABLE event (id bigint PRIMARY KEY, body jsonb NOT NULL)")
        conn.execute("""INSERT INTO event VALUES (1, '{"kind": "login"}')""")
        assert conn.execute("SELECT body->>'kind' FROM event").fetchone() == ("login",)


def test_two_fresh_databases_are_isolated(postgres_cluster) -> None:
    first, second = postgres_cluster.create_database(), postgres_cluster.create_database()
    try:
        assert first != second
        with psycopg.connect(first) as a, psycopg.connect(second) as b:
            a.execute("CREATE TABLE only_here (x int)")
            a.execute("INSERT INTO only_here VALUES (42)")
            a.commit()
            with pytest.raises(psycopg.errors.UndefinedTable):
                b.execute("SELECT x FROM only_here")
            b.rollback()
            b.execute("CREATE TABLE only_here (x text)")  # same name, no clash
            assert b.execute("SELECT count(*) FROM only_here").fetchone() == (0,)
            assert a.execute("SELECT x FROM only_here").fetchone() == (42,)
    finally:
        postgres_cluster.drop_database(first)
        postgres_cluster.drop_database(second)


def test_drop_removes_the_database_even_with_a_connection_open(postgres_cluster) -> None:
    url = postgres_cluster.create_database()
    name = url.rsplit("/", 1)[1]
    left_open = psycopg.connect(url)  # a test that forgot to close must not block the drop
    try:
        postgres_cluster.drop_database(url)
        assert _is_dead(left_open)
    finally:
        left_open.close()
    with psycopg.connect(postgres_cluster.url) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        assert found.fetchone() is None
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(url).close()


@pytest.fixture(scope="module")
def _leaky_environment() -> Iterator[None]:
    # Module scope, so it is set before the autouse function fixture that must clear it.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SENTINELLE_DATA_DIR", "/leaked/from/the/developer")
        mp.setenv("SENTINELLE_DATABASE_URL", "postgresql://leaked@nowhere/db")
        yield


@pytest.mark.usefixtures("_leaky_environment")
def test_settings_fixture_gives_each_store_and_ignores_the_environment(
    settings: Settings, tmp_path: Path
) -> None:
    assert "SENTINELLE_DATA_DIR" not in os.environ
    assert "SENTINELLE_DATABASE_URL" not in os.environ
    assert settings.data_dir == tmp_path / "data"
    if settings.database_url is None:
        return
    assert "leaked" not in settings.database_url
    with psycopg.connect(settings.database_url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() != ("postgres",)


def test_newest_installed_version_is_picked(tmp_path: Path) -> None:
    assert find_bin_dir(tmp_path) is None
    for version in ("9.6", "15", "13"):
        initdb = tmp_path / version / "bin" / "initdb"
        initdb.parent.mkdir(parents=True)
        initdb.touch(mode=0o755)
    assert find_bin_dir(tmp_path) == tmp_path / "15" / "bin"


@own_cluster_only
def test_throwaway_cluster_stops_and_cleans_up() -> None:
    with ThrowawayCluster() as cluster:
        folder = cluster.dir
        assert folder is not None
        assert (folder / "data" / "postmaster.pid").exists()
        url = cluster.create_database()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not folder.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2).close()


@own_cluster_only
def test_a_taken_port_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        real_free_port = pgcluster._free_port
        monkeypatch.setattr(pgcluster, "_free_port", lambda: next(ports, None) or real_free_port())
        with ThrowawayCluster() as cluster:
            assert cluster.port not in (None, taken)
            with psycopg.connect(cluster.url) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)


@own_cluster_only
def test_a_server_that_cannot_start_says_why_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pgcluster, "SERVER_SETTINGS", "-c shared_buffers=lots")
    cluster = ThrowawayCluster()
    before = set(cluster.base_dir.glob("sentinelle-pg-*"))
    with pytest.raises(ClusterStartError, match="shared_buffers") as failure:
        cluster.start()
    assert "tail of" in str(failure.value)
    assert cluster.dir is None
    assert set(cluster.base_dir.glob("sentinelle-pg-*")) == before
