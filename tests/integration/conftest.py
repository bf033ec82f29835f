"""Fixtures of the integration tests: a store of each kind with its ledger, and a simulated
support desk's events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from sentinelle.config import Settings
from sentinelle.ledger.log import Ledger
from sentinelle.sim.simulator import simulate
from sentinelle.store import Store, open_store


@pytest.fixture
def opened(settings: Settings) -> Iterator[tuple[Store, Ledger]]:
    """The store of ``settings`` (SQLite or PostgreSQL) and its ledger; closed after."""
    store = open_store(settings)
    try:
        yield store, Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
    finally:
        store.close()


@pytest.fixture(scope="session")
def desk_lines() -> list[bytes]:
    """Three weeks of a small desk (15 agents, 120 merchants) with every insider scenario, as
    JSON lines: tens of thousands of events, several chunks and feeds of ingest and detection."""
    sim = simulate(
        merchants=120,
        agents=15,
        days=21,
        seed=3,
        scenarios="all",
        end=dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
    )
    return list(sim.lines())
