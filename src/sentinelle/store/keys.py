"""Storage of API keys (migration 1): each key's name and the SHA-256 of the key, never the key."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentinelle.store.base import Writer

from sentinelle.errors import StoreError
from sentinelle.timeutil import now_us

__all__ = ["ApiKey", "ApiKeyStoreMixin"]


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key's record (the key itself is never stored)."""

    id: str
    name: str
    created_us: int
    revoked_us: int | None


class ApiKeyStoreMixin:
    """API key records (each a transaction of its own); a base of
    :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

        def writer(self) -> AbstractContextManager[Writer]: ...

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
