"""API keys: random bearer tokens, stored only as SHA-256 hashes.

A key has 256 bits of entropy, so a plain (unsalted) SHA-256 is enough to make the stored hash
useless to whoever reads the database; lookups go by hash, so no key is ever compared in the
clear.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Final

from sentinelle.store import ApiKey, Store

__all__ = ["KEY_PREFIX", "authenticate", "hash_key", "new_api_key"]

KEY_PREFIX: Final = "snl_"


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key(store: Store, *, name: str) -> str:
    """Create, record (by hash) and return a new key. Raises ``StoreError`` if the name is taken."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    store.add_api_key(key_id=secrets.token_hex(8), name=name, key_hash=hash_key(key))
    return key


def authenticate(store: Store, key: str) -> ApiKey | None:
    """The active key record for a presented key, or ``None``."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    return store.find_api_key(hash_key(key))
