"""Shared fixtures: a clean environment, settings for each store, and real PostgreSQL.

* ``_clean_sentinelle_env`` (autouse): removes every ``SENTINELLE_*`` variable but
  ``SENTINELLE_TEST_POSTGRES_URL`` for the test, so a developer's environment cannot leak in.
* ``postgres_cluster`` (session): the server the PostgreSQL tests use. With
  ``SENTINELLE_TEST_POSTGRES_URL`` set, that server (never started or stopped here);
  otherwise a ``pgcluster.ThrowawayCluster`` started on first use and removed at the end.
* ``postgres_url`` (function): a fresh, empty database on it; dropped after the test.
* ``smtp_sink`` (function): a real SMTP server (``smtpsink.SmtpSink``) on a free loopback
  port, recording what it receives. Tests that use it carry the ``integration`` marker.
* ``settings`` (function, params ``sqlite`` and ``postgresql``): ``Settings`` with
  ``data_dir=tmp_path / "data"`` and no database URL (SQLite) or a fresh ``postgres_url``.
  The ``postgresql`` case carries the ``integration`` marker.

Tests that use ``postgres_cluster``, directly or through ``postgres_url``, are marked
``integration`` too, so ``-m "not integration"`` never starts a server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgcluster import ENV_URL, ExternalServer, PostgresNotFoundError, ThrowawayCluster
from sentinelle.config import Settings
from smtpsink import SmtpSink


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "postgres_cluster" in names or "smtp_sink" in names:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A loopback SMTP server (aiosmtpd, a free port, a background thread) that accepts and
    records everything unless told otherwise; stopped after the test."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(autouse=True)
def _clean_sentinelle_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SENTINELLE_") and name != ENV_URL:
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[ExternalServer | ThrowawayCluster]:
    """The PostgreSQL server for this session: ``$SENTINELLE_TEST_POSTGRES_URL`` or our own."""
    url = os.environ.get(ENV_URL)
    if url:
        with ExternalServer(url) as server:
            yield server
        return
    cluster = ThrowawayCluster()
    try:
        # start() also registers stop() with atexit, in case this finally never runs.
        try:
            cluster.start()
            missing = None
        except PostgresNotFoundError as exc:
            missing = str(exc)
        if missing:  # fail, not skip: a green run must have run the PostgreSQL tests
            pytest.fail(f"PostgreSQL tests: {missing}; or set {ENV_URL}", pytrace=False)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: ExternalServer | ThrowawayCluster) -> Iterator[str]:
    """URL of a fresh, empty database of its own; dropped after the test."""
    url = postgres_cluster.create_database()
    try:
        yield url
    finally:
        postgres_cluster.drop_database(url)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for one store: embedded SQLite, or a fresh PostgreSQL database."""
    database_url = (
        request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    )
    # _env_file=None: a developer's .env must not leak in any more than the environment does.
    return Settings(_env_file=None, data_dir=tmp_path / "data", database_url=database_url)
