"""The API's cache of keys found active: trusted for its period only, never the unknown ones,
bounded in size, keyed by the key's hash (the key itself is not kept)."""

from __future__ import annotations

from sentinelle.access import Principal, Role
from sentinelle.api.deps import KeyCache


def test_a_key_is_trusted_for_its_period_only() -> None:
    now = [100.0]
    cache = KeyCache(2.0, clock=lambda: now[0])
    who = Principal("key", "guard-1", Role.GUARD, None)
    assert cache.get("sk-1") is None  # never seen
    cache.put("sk-1", who)
    assert cache.get("sk-1") == who
    assert cache.get("sk-2") is None
    now[0] += 1.999
    assert cache.get("sk-1") == who
    now[0] += 0.001  # the period is over: the store is asked again
    assert cache.get("sk-1") is None


def test_the_cache_holds_hashes_and_starts_afresh_when_full() -> None:
    cache = KeyCache(60.0, clock=lambda: 0.0)
    who = Principal("key", "k", Role.READER, None)
    for i in range(10_000):
        cache.put(f"sk-{i}", who)
    assert cache.get("sk-9999") == who
    assert not any("sk-" in k for k in cache._found)  # the keys themselves are not kept
    cache.put("sk-new", who)  # full: it starts afresh
    assert cache.get("sk-0") is None
    assert cache.get("sk-new") == who
