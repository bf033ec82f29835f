"""Latency of the API's list routes: a page of alerts, and a page of a merchant's accesses with
their inclusion proofs; in process with one client, or over loopback HTTP with several.

A SQLite store gets ``--events`` simulated events (``sentinelle.sim.generate_events``,
``--merchants`` merchants) through ``Ingestor`` in batches of 20,000, each batch signing a
checkpoint (the ledger's tiles are built as ``POST /v1/events`` builds them); and ``--alerts``
synthetic alert rows (the simulated stream raises only a few hundred real ones) over one
month, spread over 60 actors, 6 detectors and the four severities, many sharing one trigger
time (the id breaks the tie). Setup is not timed.

The store is made in a temporary directory and removed, unless ``--keep DIR`` names a
directory to keep it in: the first run fills ``DIR/data`` and writes ``DIR/meta.json`` last
(what was generated: events, merchants, alerts, the merchants with most accesses); later runs
with the same ``--events``/``--merchants``/``--alerts`` reuse it at once (a different count
is refused: use another directory). 10M events take about 4 minutes to generate and ingest on
the 2-core machine (≈140 MiB RSS, ≈7 GiB on disk).

**One client, in process** (default): each request goes through FastAPI's in-process
``TestClient`` with a reader key (routing, the key lookup, the query, the proofs, JSON
encoding; no network), ``--requests`` times:

* **alerts, first page**: ``GET /v1/alerts?limit=100``;
* **alerts, deep page**: the same after following ``next`` ``--depth`` pages (the cursor is
  fetched once, untimed, then the deep page is timed);
* **alerts, filtered**: ``?actor=…&min_severity=medium&limit=100``;
* **accesses, first page**: ``GET /v1/merchants/{m}/accesses?limit=100`` for the merchant
  with the most events, 100 access events each with its proof;
* **accesses, deep page**: the same ``--depth`` pages down.

**Concurrent clients over HTTP** (``--clients N``): the API runs as ``sentinelle serve`` runs
it (uvicorn, one process, ``create_app``) in a subprocess on a free loopback port; client
threads (``httpx.Client``, keep-alive) each send ``--requests`` requests, alternating the
alerts list (first page of 100) and a merchant's accesses page of 100 with proofs (the 8
merchants with most accesses in turn). First 1 client (the baseline), then N at once, in
the same run: p50/p99 per route, requests/s, and the CPU the server process used (cores: near
1.0 means one process is all it can use, the GIL's cap). ``--server-workers K`` runs uvicorn
with K worker processes instead (for that measurement only; ``serve`` has one).

Either way the first accesses page is checked (every proof verified against the checkpoint's
root) outside the timing. Prints p50 and p99 in milliseconds; the last lines are Markdown
table rows.

Run::

    .venv/bin/python benchmarks/api_reads.py                       # 500,000 events
    .venv/bin/python benchmarks/api_reads.py --events 100000 --alerts 20000
    .venv/bin/python benchmarks/api_reads.py --events 10000000 --keep /tmp/bench-10m --clients 8

Figures (2-core machine shared with other jobs, load ≈ 10: the server process got 0.3–0.8
cores; SQLite; 100k alerts; 1 then 8 clients × 200 requests; p50 / p99 in ms):

==========================  =============  =============  ===========
store, design, clients      alerts (100)   accesses       requests/s
==========================  =============  =============  ===========
1M, one lock, 1             16.7 / 38.1    40.8 / 75.8    36
1M, one lock, 8             88.3 / 460     99.9 / 477     67
1M, read connections, 1     14.7 / 32.9    39.1 / 74.6    38
1M, read connections, 8     73.4 / 287     113 / 335      73
10M, one lock, 1            21.2 / 39.0    55.7 / 102     25
10M, one lock, 8            111 / 437      136 / 462      52
10M, read connections, 1    23.8 / 40.1    63.3 / 101     23
10M, read connections, 8    108 / 540      148 / 543      50
==========================  =============  =============  ===========

On a quiet moment (50k events) one client already kept the server at 0.92 cores (≈ 12 ms of
Python per request: proofs and JSON), 8 clients at 0.98: one process is capped by the GIL at
one core, so 8 clients wait ≈ 8 × a request whatever the locking. Read connections let reads
pass a write that holds the lock and overlap SQLite's I/O, not run Python in parallel.

Since a page's proofs are built and checked together (``TileReader.inclusion_paths``,
``merkle.verify_inclusions``) and its events spliced into the JSON as stored, an accesses page
costs what an alerts page costs. Read connections; load 5–11; before = the code before that
change, run in turn with the same store (``PYTHONPATH`` at a copy of it); CPU = the server's
per request, both routes:

==========================  =============  =============  ===========  ===========
store, code, clients        alerts (100)   accesses       requests/s   CPU/request
==========================  =============  =============  ===========  ===========
1M, before, 1               10.6 / 37.8    24.6 / 45.1    52           10.0 ms
1M, before, 8               79.1 / 232     115 / 297      75           11.9 ms
1M, after, 1                8.8 / 86.1     7.2 / 24.4     96           4.8 ms
1M, after, 8                26.3 / 87.5    26.6 / 85.1    247          3.6 ms
10M, before, 1              4.9 / 11.7     15.3 / 34.7    88           9.4 ms
10M, before, 8              65.8 / 202     94.6 / 254     90           10.1 ms
10M, after, 1               4.2 / 23.3     4.0 / 12.9     166          3.6 ms
10M, after, 8               34.7 / 121     34.0 / 104     202          3.9 ms
==========================  =============  =============  ===========  ===========

Two more 10M pairs (load ≈ 11), 8 clients: before 69–95 / 170–239 ms and 96–129 / 200–308 ms,
after 25–46 / 123–127 ms and 25–44 / 79–124 ms (67 and 89 → 164 and 258 requests/s).

The rest of a request (≈ 3.5 ms) is FastAPI, the key lookup and the read transaction; with 8
clients on a host at load ≈ 10 (the server gets < 1 core) p99 stays above 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import rfc8785
from _server import free_port, server

from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.events import ACCESS_ACTIONS
from sentinelle.ingest import Ingestor
from sentinelle.ledger.checkpoint import Verifier
from sentinelle.ledger.log import Ledger
from sentinelle.ledger.merkle import leaf_hash, verify_inclusion
from sentinelle.sim import generate_events
from sentinelle.store import open_store
from sentinelle.store.alerts import AlertRow
from sentinelle.timeutil import SECOND, parse_time

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

BATCH = 20_000
DETECTORS = ("breadth_volume", "off_hours", "no_ticket", "vip", "export_spike", "pair")
TOP_MERCHANTS = 8  # the concurrent clients' merchants, in turn
ORIGIN = "sentinelle.local/ledger"


def _fill_events(store: Any, ledger: Any, count: int, merchants: int) -> Counter[str]:
    """Ingest the simulated stream; the access events per merchant."""
    per_merchant: Counter[str] = Counter()
    batch: list[tuple[int, bytes]] = []
    t0 = time.perf_counter()
    for n, event in enumerate(generate_events(events=count, merchants=merchants, seed=1), 1):
        if event.get("action") in ACCESS_ACTIONS:
            per_merchant[event["merchant"]] += 1
        batch.append((n, json.dumps(event).encode()))
        if len(batch) == BATCH:
            Ingestor(store, ledger).ingest(batch)
            batch = []
            if n % 1_000_000 == 0:
                rate = n / (time.perf_counter() - t0)
                print(f"  {n:,} events ({rate:,.0f}/s)", flush=True)
    if batch:
        Ingestor(store, ledger).ingest(batch)
    return per_merchant


def _fill_alerts(store: Any, count: int) -> None:
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
    with store.writer() as w:
        for i in range(0, len(rows), 10_000):
            w.upsert_alerts(rows[i : i + 10_000])


def _settings(data_dir: Path) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, log_origin=ORIGIN)


@contextmanager
def _prepared(args: argparse.Namespace) -> Iterator[tuple[Path, list[tuple[str, int]]]]:
    """The data directory holding the store, and the merchants with most accesses."""
    wanted = {"events": args.events, "merchants": args.merchants, "alerts": args.alerts}
    if args.keep is None:
        tmp = Path(tempfile.mkdtemp(prefix="sentinelle-bench-"))
        try:
            yield tmp / "data", _build(tmp / "data", args)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    keep: Path = args.keep
    meta_file = keep / "meta.json"
    if meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if {k: meta[k] for k in wanted} != wanted:
            sys.exit(f"{keep} holds {meta}, not {wanted}: use another --keep directory")
        print(f"setup: reusing {keep} ({args.events:,} events, {args.alerts:,} alerts)")
        yield keep / "data", [(m, int(c)) for m, c in meta["top"]]
        return
    if (keep / "data").exists():
        sys.exit(f"{keep}/data exists without meta.json (an interrupted setup?): remove it")
    top = _build(keep / "data", args)
    meta_file.write_text(json.dumps({**wanted, "top": top}))
    yield keep / "data", top


def _build(data_dir: Path, args: argparse.Namespace) -> list[tuple[str, int]]:
    t0 = time.perf_counter()
    store = open_store(_settings(data_dir))
    try:
        ledger = Ledger.open(store, data_dir=data_dir, origin=ORIGIN)
        per_merchant = _fill_events(store, ledger, args.events, args.merchants)
        _fill_alerts(store, args.alerts)
        size = store.ledger_size()
    finally:
        store.close()
    top = per_merchant.most_common(TOP_MERCHANTS)
    print(
        f"setup: {size:,} leaves, {args.alerts:,} alerts, {top[0][0]} has {top[0][1]:,} "
        f"accesses ({time.perf_counter() - t0:.0f} s)"
    )
    return top


def _timed(request: Callable[[], Any], times: int) -> tuple[list[float], float]:
    """Latencies in ms, and the CPU per request in ms (this process: server and client)."""
    request()  # warm-up
    out = []
    cpu0 = time.process_time()
    for _ in range(times):
        t0 = time.perf_counter()
        request()
        out.append((time.perf_counter() - t0) * 1000)
    return out, (time.process_time() - cpu0) * 1000 / times


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _check_page(page: dict[str, Any], verifier_key: str) -> None:
    """A merchant's check: the signature, then each RFC 8785 leaf and proof against the root."""
    cp = Verifier.from_verifier_key(verifier_key).verify(page["checkpoint"], origin=ORIGIN)
    for item in page["items"]:
        leaf = rfc8785.dumps(item["event"])
        path = [bytes.fromhex(h) for h in item["proof"]]
        verify_inclusion(leaf_hash(leaf), item["leaf_index"], cp.size, path, cp.root)


def _new_key(data_dir: Path) -> str:
    store = open_store(_settings(data_dir), create=False)
    try:
        return create_key(store, name=f"bench-{os.getpid()}", role=Role.READER, by="bench")
    finally:
        store.close()


# -- one client, in process -------------------------------------------------------------------
def _in_process(args: argparse.Namespace, data_dir: Path, merchant: str) -> list[str]:
    key = _new_key(data_dir)
    app = create_app(_settings(data_dir))
    state = app.state.sentinelle
    rows = []
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {key}"}

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
        _check_page(get(accesses_path, limit=100), state.ledger.key.verifier_key())

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
            ("accesses + proofs, first page (100)", lambda: get(accesses_path, limit=100), True),
            (
                f"accesses + proofs, {deep_name}",
                lambda: get(accesses_path, limit=100, cursor=accesses_cursor),
                accesses_cursor is not None,
            ),
        ]
        for name, request, possible in cases:
            if not possible:
                print(f"{name:48} skipped: fewer pages than that")
                continue
            ms, cpu = _timed(request, args.requests)
            p50, p99 = _pct(ms, 50), _pct(ms, 99)
            print(f"{name:48} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   CPU {cpu:6.2f} ms/request")
            rows.append(f"| {name} | {p50:.1f} ms | {p99:.1f} ms | {cpu:.1f} ms |")
    return rows


# -- concurrent clients over loopback HTTP ----------------------------------------------------
def _serve(data_dir: Path, port: int, workers: int) -> None:
    """The server subprocess: the API as ``sentinelle serve`` runs it."""
    import uvicorn

    if workers == 1:
        uvicorn.run(
            create_app(_settings(data_dir)), host="127.0.0.1", port=port, log_level="warning"
        )
        return
    os.environ["SENTINELLE_DATA_DIR"] = str(data_dir)
    os.environ["SENTINELLE_LOG_ORIGIN"] = ORIGIN
    uvicorn.run(
        "benchmarks_api_reads_app:app",
        host="127.0.0.1",
        port=port,
        log_level="warning",
        workers=workers,
        app_dir=str(Path(tempfile.gettempdir())),
    )


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK")


def _server_pids(root: int) -> list[int]:
    out = [root]
    children = Path(f"/proc/{root}/task/{root}/children")
    if children.exists():
        out += [int(p) for p in children.read_text().split()]
    return out


@contextmanager
def _server(data_dir: Path, workers: int) -> Iterator[tuple[str, int]]:
    port = free_port()
    if workers > 1:  # uvicorn's workers import the app: a module of its own
        Path(tempfile.gettempdir(), "benchmarks_api_reads_app.py").write_text(
            "from sentinelle.api.main import create_app\n"
            "from sentinelle.config import Settings\n"
            "app = create_app(Settings(_env_file=None))\n"
        )
    command = [sys.executable, __file__, "--serve", str(data_dir), "--port", str(port)]
    with server(command + ["--server-workers", str(workers)], port, timeout=120) as running:
        yield running


def _run_clients(
    base: str, key: str, clients: int, requests: int, merchants: list[str]
) -> tuple[dict[str, list[float]], float]:
    """Each client alternates the two routes; the latencies per route and the wall time."""
    start = threading.Barrier(clients + 1)
    results: list[list[tuple[str, float]]] = [[] for _ in range(clients)]
    errors: list[str] = []

    def client(n: int) -> None:
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as http:
            http.get("/v1/alerts", params={"limit": 1})  # connect
            start.wait()
            for i in range(requests):
                if (i + n) % 2 == 0:
                    route, path = "alerts", "/v1/alerts"
                else:
                    merchant = merchants[(i // 2 + n) % len(merchants)]
                    route, path = "accesses", f"/v1/merchants/{merchant}/accesses"
                t0 = time.perf_counter()
                response = http.get(path, params={"limit": 100})
                ms = (time.perf_counter() - t0) * 1000
                if response.status_code != 200:
                    errors.append(f"{path}: {response.status_code} {response.text[:200]}")
                    return
                results[n].append((route, ms))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        sys.exit(f"{len(errors)} requests failed, the first: {errors[0]}")
    per_route: dict[str, list[float]] = {"alerts": [], "accesses": []}
    for done in results:
        for route, ms in done:
            per_route[route].append(ms)
    return per_route, wall


def _concurrent(args: argparse.Namespace, data_dir: Path, top: list[tuple[str, int]]) -> list[str]:
    key = _new_key(data_dir)
    merchants = [m for m, _ in top]
    rows = []
    with _server(data_dir, args.server_workers) as (base, pid):
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as http:
            verifier_key = http.get("/v1/ledger/key").json()["verifier_key"]
            page = http.get(f"/v1/merchants/{merchants[0]}/accesses", params={"limit": 100})
            _check_page(page.json(), verifier_key)
        _run_clients(base, key, 2, 20, merchants)  # warm-up: caches, connections
        summary: dict[int, dict[str, float]] = {}
        for clients in dict.fromkeys((1, args.clients)):
            pids = _server_pids(pid)
            cpu0, own0 = _cpu_seconds(pids), time.process_time()
            per_route, wall = _run_clients(base, key, clients, args.requests, merchants)
            server_cpu = (_cpu_seconds(pids) - cpu0) / wall
            client_cpu = (time.process_time() - own0) / wall
            total = sum(len(v) for v in per_route.values())
            figures = {"rps": total / wall}
            print(
                f"{clients} client(s) × {args.requests} requests: {total / wall:,.0f} requests/s, "
                f"server CPU {server_cpu:.2f} cores ({server_cpu * wall / total * 1000:.1f} ms "
                f"per request), clients' CPU {client_cpu:.2f} cores"
            )
            for route, ms in per_route.items():
                p50, p99 = _pct(ms, 50), _pct(ms, 99)
                figures[f"{route} p50"], figures[f"{route} p99"] = p50, p99
                print(f"  {route:10} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   ({len(ms)})")
            summary[clients] = figures
            rows.append(
                f"| {args.events:,} events, {clients} client(s) | "
                f"{figures['alerts p50']:.1f} / {figures['alerts p99']:.1f} ms | "
                f"{figures['accesses p50']:.1f} / {figures['accesses p99']:.1f} ms | "
                f"{figures['rps']:.0f}/s |"
            )
    if args.clients != 1:
        one, many = summary[1], summary[args.clients]
        print(
            f"{args.clients} clients / 1: p99 alerts ×{many['alerts p99'] / one['alerts p99']:.1f}"
            f", accesses ×{many['accesses p99'] / one['accesses p99']:.1f}; "
            f"requests/s ×{many['rps'] / one['rps']:.2f}"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--merchants", type=int, default=200)
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="per case, or per client")
    parser.add_argument("--depth", type=int, default=10, help="pages down for the deep page")
    parser.add_argument("--keep", type=Path, help="keep the generated store here, reuse it")
    parser.add_argument("--clients", type=int, help="concurrent HTTP clients (with 1 first)")
    parser.add_argument("--server-workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # the server subprocess
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        _serve(args.serve, args.port, args.server_workers)
        return

    with _prepared(args) as (data_dir, top):
        merchant, accesses = top[0]
        print(f"{merchant} has {accesses:,} accesses")
        if args.clients is None:
            rows = _in_process(args, data_dir, merchant)
        else:
            rows = _concurrent(args, data_dir, top)
    print()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
