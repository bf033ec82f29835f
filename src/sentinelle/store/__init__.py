"""Storage: the :class:`Store` protocol and its SQLite (default) and PostgreSQL backends."""

from __future__ import annotations

from pathlib import Path

from sentinelle.config import Settings
from sentinelle.store.base import (
    ApiKey,
    DuplicateIdsError,
    EventRow,
    FacetedRow,
    Store,
    StoredCheckpoint,
    Writer,
)

__all__ = [
    "ApiKey",
    "DuplicateIdsError",
    "EventRow",
    "FacetedRow",
    "Store",
    "StoredCheckpoint",
    "Writer",
    "open_store",
    "sqlite_path",
]


def sqlite_path(settings: Settings) -> Path | None:
    """The SQLite file the settings name, or ``None`` for PostgreSQL."""
    url = settings.database_url
    if url and url.startswith(("postgresql://", "postgres://")):
        return None
    if url and url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    return settings.data_dir / "sentinelle.db"


def open_store(settings: Settings, *, create: bool = True) -> Store:
    """Open the store the settings name: PostgreSQL if ``database_url`` is set, else SQLite.

    ``create=False`` (commands that only read): a missing SQLite file raises
    :class:`~sentinelle.errors.StoreNotFoundError` and nothing is created, not even the data
    directory. Lock waits last up to ``settings.busy_timeout`` seconds.
    """
    path = sqlite_path(settings)
    if path is None:
        from sentinelle.store.postgres import PostgresStore

        assert settings.database_url is not None  # noqa: S101  (sqlite_path said PostgreSQL)
        return PostgresStore.open(settings.database_url, busy_timeout=settings.busy_timeout)
    from sentinelle.store.sqlite import SQLiteStore

    return SQLiteStore.open(path, busy_timeout=settings.busy_timeout, create=create)
