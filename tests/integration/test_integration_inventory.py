"""The inventory tables of apps and integrations (``sentinelle.store.integrations``), on both
stores: what ingest keeps equals a plain recomputation from the events, duplicates are not
counted twice, a refused batch adds nothing, and migration 21 fills the tables in for events
stored before it, exactly as ingest would have.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sentinelle.config import Settings
from sentinelle.errors import ValidationError
from sentinelle.events import decode_event, time_us
from sentinelle.ingest import Ingestor
from sentinelle.ledger.log import Ledger
from sentinelle.sim import generate_events
from sentinelle.store import Store, open_store
from sentinelle.store.integrations import MACHINE_KINDS, categories


def handmade() -> list[dict[str, Any]]:
    """Machines of every kind, a denied call, a person, lists without a count."""
    base = {"action": "view", "channel": "api", "outcome": "allowed"}
    return [
        {**base, "id": "i-1", "time": "2026-11-02T01:00:00Z", "merchant": "m-1",
         "actor": {"id": "erp", "kind": "integration"}, "data": ["contact"],
         "resource": {"type": "order_list", "count": 40}},
        {**base, "id": "i-2", "time": "2026-11-01T23:00:00Z", "merchant": "m-1",
         "actor": {"id": "erp", "kind": "integration"}, "data": ["payment_partial"],
         "subjects": ["c-1", "c-2"]},
        {**base, "id": "i-3", "time": "2026-11-03T05:00:00Z", "merchant": "m-2",
         "actor": {"id": "erp", "kind": "integration"}, "data": ["address"], "action": "export"},
        {**base, "id": "i-4", "time": "2026-11-03T06:00:00Z", "merchant": "m-2",
         "actor": {"id": "erp", "kind": "integration"}, "data": ["credentials"],
         "outcome": "denied"},
        {**base, "id": "i-5", "time": "2026-11-03T07:00:00Z", "merchant": "m-3",
         "actor": {"id": "idx", "kind": "service"}, "data": ["behavioral"]},
        {**base, "id": "i-6", "time": "2026-11-03T07:00:00Z", "merchant": "m-3",
         "actor": {"id": "agent-1", "kind": "staff"}, "data": ["contact"]},
        {**base, "id": "i-7", "time": "2026-11-03T08:00:00Z", "merchant": "m-3",
         "actor": {"id": "mu-1", "kind": "merchant_user"}, "data": ["contact"]},
    ]  # fmt: skip


def expected(events: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[Any, Any]]:
    """(machine → (kind, first, last, categories, merchants), (machine, merchant) → (first,
    last, records, categories)), recomputed from the events."""
    machines: dict[str, Any] = {}
    pairs: dict[Any, Any] = {}
    for raw in {e["id"]: e for e in events}.values():
        event = decode_event(json.dumps(raw))
        kind = getattr(getattr(event, "actor", None), "kind", None)
        if kind not in MACHINE_KINDS or event.outcome != "allowed":  # type: ignore[union-attr]
            continue
        t = time_us(event)
        resource = raw.get("resource", {})
        records = resource.get("count", len(raw.get("subjects", [])) or 1)
        actor, merchant = raw["actor"]["id"], raw["merchant"]
        m = machines.setdefault(actor, [kind, t, t, set(), set()])
        m[1], m[2] = min(m[1], t), max(m[2], t)
        m[3] |= set(raw["data"])
        m[4].add(merchant)
        p = pairs.setdefault((actor, merchant), [t, t, 0, set()])
        p[0], p[1], p[2] = min(p[0], t), max(p[1], t), p[2] + records
        p[3] |= set(raw["data"])
    return (
        {a: (v[0], v[1], v[2], sorted(v[3]), len(v[4])) for a, v in machines.items()},
        {k: (v[0], v[1], v[2], sorted(v[3])) for k, v in pairs.items()},
    )


def stored(store: Store) -> tuple[dict[str, Any], dict[Any, Any]]:
    machines = {
        r.actor: (r.kind, r.first_us, r.last_us, sorted(categories(r.data)), r.merchants)
        for r in store.integrations()
    }
    pairs = {}
    for merchant in {m for r in store.integrations() for m in _merchants(store, r.actor)}:
        for r in store.merchant_integrations(merchant):
            pairs[(r.actor, merchant)] = (
                r.first_us,
                r.last_us,
                r.records,
                sorted(categories(r.data)),
            )
    return machines, pairs


def _merchants(store: Store, actor: str) -> list[str]:
    rows = store._x("SELECT merchant FROM integration_merchants WHERE actor = ?", (actor,))
    return [r[0] for r in rows]


def _ingest(store: Store, ledger: Ledger, events: list[dict[str, Any]], chunk: int = 4096) -> None:
    Ingestor(store, ledger, chunk=chunk).ingest((i, json.dumps(e)) for i, e in enumerate(events))


def test_ingest_keeps_what_the_events_say(settings: Settings) -> None:
    events = handmade() + list(generate_events(events=2000, seed=7))
    store = open_store(settings)
    try:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        _ingest(store, ledger, events[:1200], chunk=300)
        _ingest(store, ledger, events[800:], chunk=500)  # 400 duplicates: not counted again
        bad = [*events[:3], {"id": "x"}]
        with pytest.raises(ValidationError):
            _ingest(store, ledger, bad)
        want = expected(events)
        assert stored(store) == want
        assert want[0]["erp"] == (
            "integration",
            time_us(decode_event(json.dumps(events[1]))),
            time_us(decode_event(json.dumps(events[2]))),
            ["address", "contact", "payment_partial"],
            2,
        )
        assert "agent-1" not in want[0] and "mu-1" not in want[0]
        assert want[1][("erp", "m-1")][2] == 42  # a count of 40, and two subjects
        assert len(want[0]) > 3  # the simulated apps too
    finally:
        store.close()


def test_migration_21_fills_the_inventory_in_for_stored_events(settings: Settings) -> None:
    events = handmade() + list(generate_events(events=1500, seed=5))
    store = open_store(settings)
    try:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        _ingest(store, ledger, events, chunk=300)
        live = stored(store)
        with store.writer() as w:  # back to a store without the inventory
            w._x("DROP TABLE integration_merchants")
            w._x("DROP TABLE integrations")
            w._x("DELETE FROM schema_migrations WHERE version = 21")
        assert not store.schema_is_current()
    finally:
        store.close()
    store = open_store(settings)  # migrates
    try:
        assert store.schema_is_current()
        assert stored(store) == live == expected(events)
    finally:
        store.close()
