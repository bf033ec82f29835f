"""Fixtures of the integration tests: a store of each kind with its ledger."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sentinelle.config import Settings
from sentinelle.ledger.log import Ledger
from sentinelle.store import Store, open_store


@pytest.fixture
def opened(settings: Settings) -> Iterator[tuple[Store, Ledger]]:
    """The store of ``settings`` (SQLite or PostgreSQL) and its ledger; closed after."""
    store = open_store(settings)
    try:
        yield store, Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
    finally:
        store.close()
