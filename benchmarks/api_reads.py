"""Latency of the API's list routes: a page of alerts, and a page of a merchant's accesses with
their inclusion proofs.

A fresh SQLite store (in a temporary data directory) gets ``--events`` simulated events
(``sentinelle.sim.generate_events``, ``--merchants`` merchants) through ``Ingestor`` in
batches of 20,000, each batch signing a checkpoint, as ``POST /v1/events`` does; and
``--alerts`` synthetic alert rows (the simulated stream raises only a few hundred real ones)
over the same month, spread over 60 actors, 6 detectors and the four severities, many sharing
one trigger time (the id breaks the tie). Setup is not timed.

Then each request goes through FastAPI's in-process ``TestClient`` with a reader key (routing,
the key lookup, the query, the proofs, JSON encoding; no network), ``--requests`` times:

* **alerts, first page**: ``GET /v1/alerts?limit=100``;
* **alerts, deep page**: the same after following ``next`` ``--depth`` pages (the cursor is
  fetched once, untimed, then the deep page is timed);
* **alerts, filtered**: ``?actor=…&min_severity=medium&limit=100``;
* **accesses, first page**: ``GET /v1/merchants/{m}/accesses?limit=100`` for the merchant
  with the most events, 100 access events each with its proof;
* **accesses, deep page**: the same ``--depth`` pages down.

The first access page is checked (every proof verified against the checkpoint's root) outside
the timing. Prints p50 and p99 in milliseconds; the last lines are Markdown table rows.

Run::

    .venv/bin/python benchmarks/api_reads.py                       # 500,000 events
    .venv/bin/python benchmarks/api_reads.py --events 100000 --alerts 20000
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rfc8785

from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.events import ACCESS_ACTIONS
from sentinelle.ingest import Ingestor
from sentinelle.ledger.checkpoint import Verifier
from sentinelle.ledger.merkle import leaf_hash, verify_inclusion
from sentinelle.sim import generate_events
from sentinelle.store.alerts import AlertRow
from sentinelle.timeutil import SECOND, parse_time

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

BATCH = 20_000
DETECTORS = ("breadth_volume", "off_hours", "no_ticket", "vip", "export_spike", "pair")


def _fill_events(state: Any, count: int, merchants: int) -> Counter[str]:
    """Ingest the simulated stream; the access events per merchant."""
    per_merchant: Counter[str] = Counter()
    batch: list[tuple[int, bytes]] = []
    for n, event in enumerate(generate_events(events=count, merchants=merchants, seed=1), 1):
        if event.get("action") in ACCESS_ACTIONS:
            per_merchant[event["merchant"]] += 1
        batch.append((n, json.dumps(event).encode()))
        if len(batch) == BATCH:
            Ingestor(state.store, state.ledger).ingest(batch)
            batch = []
    if batch:
        Ingestor(state.store, state.ledger).ingest(batch)
    return per_merchant


def _fill_alerts(state: Any, count: int) -> None:
    rng = random.Random(2)  # a benchmark, not cryptography
    start = parse_time("2026-11-02T08:00:00Z")
    rows = []
    for i in range(count):
        t = start + rng.randrange(30 * 86_400 // 4) * 4 * SECOND  # 4-second grid: ties
        rows.append(
            AlertRow(
                id=f"al-{rng.getrandbits(64):016x}",
                actor=f"agent-{rng.randrange(60)}",
                detector=rng.choice(DETECTORS),
                time_us=t,
                last_us=t + 60 * SECOND,
                severity=rng.choice((1, 1, 1, 2, 2, 3, 4)),
                score=rng.uniform(10, 100),
                merchants_json=json.dumps([f"m-{1000 + rng.randrange(200)}"]),
                events_json=json.dumps([f"evt-{i:08d}"]),
                reasons_json=json.dumps(["a reason of about this length, for the JSON size"]),
            )
        )
    with state.store.writer() as w:
        for i in range(0, len(rows), 10_000):
            w.upsert_alerts(rows[i : i + 10_000])


def _timed(request: Callable[[], Any], times: int) -> list[float]:
    request()  # warm-up
    out = []
    for _ in range(times):
        t0 = time.perf_counter()
        request()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--merchants", type=int, default=200)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--depth", type=int, default=10, help="pages down for the deep page")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sentinelle-bench-") as tmp:
        app = create_app(Settings(_env_file=None, data_dir=Path(tmp) / "data"))
        state = app.state.sentinelle
        t0 = time.perf_counter()
        per_merchant = _fill_events(state, args.events, args.merchants)
        _fill_alerts(state, args.alerts)
        merchant, accesses = per_merchant.most_common(1)[0]
        print(
            f"setup: {state.store.ledger_size():,} leaves, {args.alerts:,} alerts, "
            f"{merchant} has {accesses:,} accesses ({time.perf_counter() - t0:.0f} s)"
        )
        with TestClient(app) as client:
            key = create_key(state.store, name="bench", role=Role.READER, by="bench")
            auth = {"Authorization": f"Bearer {key}"}
            verifier = Verifier.from_verifier_key(state.ledger.key.verifier_key())

            def get(path: str, **params: Any) -> dict[str, Any]:
                response = client.get(path, params=params, headers=auth)
                assert response.status_code == 200, response.text
                body: dict[str, Any] = response.json()
                return body

            def deep(path: str, **params: Any) -> str | None:
                page = get(path, **params)
                for _ in range(args.depth - 1):
                    if page["next"] is None:
                        break
                    page = get(path, **params, cursor=page["next"])
                cursor: str | None = page["next"]
                return cursor

            accesses_path = f"/v1/merchants/{merchant}/accesses"
            alerts_cursor = deep("/v1/alerts", limit=100)
            accesses_cursor = deep(accesses_path, limit=100)
            first_page = get(accesses_path, limit=100)
            cp = verifier.verify(first_page["checkpoint"], origin=state.ledger.origin)
            for item in first_page["items"]:  # a merchant's check: RFC 8785 leaf, proof, root
                leaf = rfc8785.dumps(item["event"])
                path = [bytes.fromhex(h) for h in item["proof"]]
                verify_inclusion(leaf_hash(leaf), item["leaf_index"], cp.size, path, cp.root)

            deep_name = f"page {args.depth + 1} (100)"
            cases: list[tuple[str, Callable[[], Any], bool]] = [
                ("alerts, first page (100)", lambda: get("/v1/alerts", limit=100), True),
                (
                    f"alerts, {deep_name}",
                    lambda: get("/v1/alerts", limit=100, cursor=alerts_cursor),
                    alerts_cursor is not None,
                ),
                (
                    "alerts, actor + min_severity=medium (100)",
                    lambda: get("/v1/alerts", actor="agent-7", min_severity="medium", limit=100),
                    True,
                ),
                (
                    "accesses + proofs, first page (100)",
                    lambda: get(accesses_path, limit=100),
                    True,
                ),
                (
                    f"accesses + proofs, {deep_name}",
                    lambda: get(accesses_path, limit=100, cursor=accesses_cursor),
                    accesses_cursor is not None,
                ),
            ]
            rows = []
            for name, request, possible in cases:
                if not possible:
                    print(f"{name:48} skipped: fewer pages than that")
                    continue
                ms = _timed(request, args.requests)
                p50, p99 = _pct(ms, 50), _pct(ms, 99)
                print(f"{name:48} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
                rows.append(f"| {name} | {p50:.1f} ms | {p99:.1f} ms |")
        state.store.close()
    print()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
