"""The actors' activity rollup (migration 11, ``sentinelle.store.activity``) on both stores.

Its figures are compared with the same figures counted here from the events themselves (by a
separate, plain implementation of the definitions), after batches that repeat ids, after a
refused batch, and after migration 11 fills it in for a store that had events before it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import pytest

from sentinelle.config import Settings
from sentinelle.errors import ValidationError
from sentinelle.ingest import Ingestor
from sentinelle.ledger.log import Ledger
from sentinelle.sim import generate_events
from sentinelle.store import Store, open_store
from sentinelle.timeutil import DAY, parse_time

ACCESS = {"view", "search", "export", "download", "update", "delete"}


def _access(eid: str, time: str, actor: str, merchant: str, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": eid,
        "time": time,
        "actor": {"id": actor, "kind": "staff", "role": "support", "team": "tier1"},
        "action": "view",
        "merchant": merchant,
        "data": ["contact"],
        "channel": "support_console",
        "outcome": "allowed",
    }
    for key, value in extra.items():
        if key == "team":
            if value is None:
                del event["actor"]["team"]
            else:
                event["actor"]["team"] = value
        else:
            event[key] = value
    return event


def handmade() -> list[dict[str, Any]]:
    """Every case of the definitions, on two days (one before 1970, floored to its day)."""
    day = "2026-11-03T"
    return [
        _access("h-1", day + "09:00:00Z", "ana", "m-1", resource={"type": "customer", "count": 4}),
        _access("h-2", day + "09:01:00Z", "ana", "m-1", subjects=["c-1", "c-2", "c-3"]),
        _access("h-3", day + "09:02:00Z", "ana", "m-2", resource={"type": "customer_list"}),
        _access("h-4", day + "09:03:00Z", "ana", "m-3", action="search"),
        _access(
            "h-5",
            day + "09:04:00Z",
            "ana",
            "m-3",
            action="export",
            resource={"type": "customer_list", "count": 500},
            justification={"ticket": "T-1"},
        ),
        _access("h-6", day + "09:05:00Z", "ana", "m-4", action="download", outcome="denied"),
        _access("h-7", day + "09:06:00Z", "ana", "m-4", justification={"grant": "G-1"}),
        _access("h-8", day + "09:07:00Z", "ana", "m-4", justification={"reason": "asked"}),
        _access("h-9", day + "23:59:59.999999Z", "ana", "m-5", team="tier2"),
        _access("h-10", day + "10:00:00Z", "ana", "m-5", team=None),
        _access("h-11", day + "10:00:00Z", "bob", "m-1", resource={"type": "order_list"}),
        _access("h-12", "2026-11-04T00:00:00Z", "ana", "m-1", action="update"),
        _access("h-13", "1969-12-31T23:00:00Z", "old", "m-1", action="delete"),
        {
            "id": "c-1",
            "time": day + "08:00:00Z",
            "type": "ticket.opened",
            "ticket": "T-1",
            "merchant": "m-3",
            "by": "ana",
        },
        {
            "id": "c-2",
            "time": day + "08:30:00Z",
            "type": "staff.joined",
            "actor": "ana",
            "team": "elsewhere",
            "by": "hr",
        },
    ]


def expected(events: Iterable[dict[str, Any]]) -> dict[tuple[str, int], tuple[Any, ...]]:
    """The rollup's rows, counted from the events (in the order they were stored)."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    merchants: dict[tuple[str, int], set[str]] = defaultdict(set)
    for e in events:
        if e.get("action") not in ACCESS:
            continue
        key = (e["actor"]["id"], parse_time(e["time"]) // DAY)
        row = rows.setdefault(
            key,
            {
                "team": None,
                "accesses": 0,
                "list_views": 0,
                "exports": 0,
                "unjustified": 0,
                "records": 0,
            },
        )
        row["team"] = e["actor"].get("team", row["team"])
        row["accesses"] += 1
        resource = e.get("resource", {})
        if e["action"] in ("export", "download"):
            row["exports"] += 1
        elif e["action"] == "search" or resource.get("type") in ("customer_list", "order_list"):
            row["list_views"] += 1
        just = e.get("justification", {})
        if "ticket" not in just and "grant" not in just:
            row["unjustified"] += 1
        if e["outcome"] == "allowed":
            row["records"] += resource.get("count", len(e.get("subjects", [None])))
        merchants[key].add(e["merchant"])
    return {
        key: (
            r["team"],
            r["accesses"],
            len(merchants[key]),
            r["list_views"],
            r["exports"],
            r["unjustified"],
            r["records"],
        )
        for key, r in rows.items()
    }


def stored(store: Store) -> dict[tuple[str, int], tuple[Any, ...]]:
    found = {}
    for actor in {r[0] for r in store._x("SELECT DISTINCT actor FROM actor_days")}:
        for r in store.actor_days(actor, -(10**6), 10**7):
            found[(r.actor, r.day)] = tuple(r[2:])
    return found


def merchant_sets(store: Store) -> dict[tuple[str, int], set[str]]:
    """The merchants each stored actor-day keeps, which later batches of the day extend."""
    rows = store._x("SELECT actor, day, merchant_ids FROM actor_days")
    return {(r[0], int(r[1])): set(json.loads(r[2])) for r in rows}


def expected_merchants(events: Iterable[dict[str, Any]]) -> dict[tuple[str, int], set[str]]:
    found: dict[tuple[str, int], set[str]] = defaultdict(set)
    for e in events:
        if e.get("action") in ACCESS:
            found[(e["actor"]["id"], parse_time(e["time"]) // DAY)].add(e["merchant"])
    return dict(found)


def _ingest(store: Store, ledger: Ledger, events: list[dict[str, Any]], chunk: int = 4096) -> None:
    Ingestor(store, ledger, chunk=chunk).ingest((i, json.dumps(e)) for i, e in enumerate(events))


def test_the_rollup_counts_what_the_events_say(settings: Settings) -> None:
    events = handmade()
    store = open_store(settings)
    try:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        # Three batches of small chunks; the second repeats ids of the first (also within
        # itself), which must not count twice.
        _ingest(store, ledger, events[:6], chunk=2)
        _ingest(store, ledger, events[3:10] + events[4:5], chunk=3)
        _ingest(store, ledger, events, chunk=4)
        want = expected(events)
        assert stored(store) == want
        assert merchant_sets(store) == expected_merchants(events)
        assert want[("ana", parse_time("2026-11-03T00:00:00Z") // DAY)] == (
            "tier2",  # of h-9, the last stored naming one (h-10 names none)
            10,
            5,
            2,  # h-3 (customer_list), h-4 (search); not the export of a list
            2,
            8,  # all but h-5 (ticket), h-7 (grant); a reason alone is no justification
            4 + 3 + 1 + 1 + 500 + 1 + 1 + 1 + 1,  # h-6 denied: none
        )
        assert ("old", -1) in want
        # A refused batch adds nothing.
        bad = [_access("r-1", "2026-11-03T12:00:00Z", "ana", "m-9"), {"id": "broken"}]
        with pytest.raises(ValidationError):
            _ingest(store, ledger, bad)
        assert stored(store) == want
    finally:
        store.close()


def test_simulated_traffic_rolls_up_exactly(settings: Settings) -> None:
    events = list(generate_events(events=3000, seed=11))
    store = open_store(settings)
    try:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        _ingest(store, ledger, events[:1700], chunk=500)
        _ingest(store, ledger, events[1200:], chunk=700)
        assert stored(store) == expected(events)
        assert merchant_sets(store) == expected_merchants(events)
    finally:
        store.close()


def test_migration_11_fills_the_rollup_in_for_stored_events(settings: Settings) -> None:
    events = handmade() + list(generate_events(events=1500, seed=5))
    store = open_store(settings)
    try:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        _ingest(store, ledger, events, chunk=300)
        live = stored(store)
        # Back to a store of migration 10: no rollup, only its events.
        with store.writer() as w:
            w._x("DROP TABLE actor_days")
            w._x("DELETE FROM schema_migrations WHERE version = 11")
        assert not store.schema_is_current()
    finally:
        store.close()
    store = open_store(settings)  # migrates
    try:
        assert store.schema_is_current()
        assert stored(store) == live == expected(events)
        assert merchant_sets(store) == expected_merchants(events)
        # Later batches of a day filled in extend it as if it had been kept all along.
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        more = [_access("h-20", "2026-11-03T12:00:00Z", "ana", m) for m in ("m-1", "m-77")]
        more[1]["id"] = "h-21"
        _ingest(store, ledger, more)
        assert stored(store) == expected(events + more)
        assert merchant_sets(store) == expected_merchants(events + more)
    finally:
        store.close()
