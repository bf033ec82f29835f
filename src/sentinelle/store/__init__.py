"""Storage: the :class:`Store` protocol and its SQLite (default) and PostgreSQL backends."""

from __future__ import annotations

from sentinelle.config import Settings
from sentinelle.store.base import (
    ApiKey,
    DuplicateIdsError,
    EventRow,
    Store,
    StoredCheckpoint,
    Writer,
)

__all__ = [
    "ApiKey",
    "DuplicateIdsError",
    "EventRow",
    "Store",
    "StoredCheckpoint",
    "Writer",
    "open_store",
]


def open_store(settings: Settings) -> Store:
    """Open the store the settings name: PostgreSQL if ``database_url`` is set, else SQLite."""
    url = settings.database_url
    if url and url.startswith(("postgresql://", "postgres://")):
        from sentinelle.store.postgres import PostgresStore

        return PostgresStore.open(url)
    if url and url.startswith("sqlite:///"):
        from pathlib import Path

        from sentinelle.store.sqlite import SQLiteStore

        return SQLiteStore.open(Path(url.removeprefix("sqlite:///")))
    from sentinelle.store.sqlite import SQLiteStore

    return SQLiteStore.open(settings.data_dir / "sentinelle.db")
