"""Ingest throughput and memory: Sentinelle against a naive ``json.loads`` + SQLite loader.

Generates ``--events`` realistic support events (``sentinelle.sim.generate_events``) as compact
JSON lines (~270 bytes each) into a temporary file (generation is not timed), then loads that
file several ways, each in its own spawned child process so that every variant has its own
peak memory (RSS high-water mark, ``ru_maxrss``):

* **naive**: read the file line by line, ``json.loads`` each line, ``executemany`` batches of
  4096 rows ``(id, time, actor, merchant, body)`` into one table of a fresh WAL SQLite
  database, in one transaction. No validation, no ledger, no unique index. Same pragmas as
  Sentinelle's store (WAL, ``synchronous=NORMAL``, 64 MiB cache).
* **Sentinelle, SQLite**: a fresh data dir, ``Ingestor.ingest_file(file, reader=False)`` of
  the whole file as one batch, in this process: schema validation, canonical JSON, leaf
  hashing, Merkle tiles, dedupe by unique id, signed checkpoint, one transaction; a first
  load builds the events' secondary indexes at its commit (``Writer.bulk_load``).
* **Sentinelle, SQLite, reader**: the same as ``sentinelle ingest --no-detect FILE`` runs it
  (``Ingestor.ingest_file``): a file of 8 MiB or more read and decoded in a reader process
  beside the storing (``sentinelle.ingest.reader``); the reader's CPU seconds are printed as
  ``+ child``.
* **Sentinelle, PostgreSQL**: the same against a fresh database of a throwaway cluster
  (``tests/pgcluster.py``; on /dev/shm when it has room, with fsync off). ``--no-postgres``
  skips it. The server's own memory is not in the peak figure.
* **ledger verify**: ``Ledger.verify()`` of the SQLite result (and of the PostgreSQL one),
  which re-reads, re-validates and re-hashes every stored event.

Timings are wall-clock around the load itself (the connection, schema and signing key are set
up before the clock starts); the loading process's CPU seconds are printed too, which tells a
slow run from a busy machine. With ``--repeat R`` every variant runs R times on fresh
databases and the best time (and the largest peak) is kept.

Run::

    .venv/bin/python benchmarks/ingest.py                  # 1,000,000 events
    .venv/bin/python benchmarks/ingest.py --events 100000 --no-postgres

The last lines are Markdown table rows for the README.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

GOAL_RATIO = 1.5  # Sentinelle time / naive time
GOAL_RATE = 100_000  # events/s
GOAL_PEAK_MB = 1024  # peak RSS

BATCH = 4096


def _peak_mb() -> float:
    """This process's RSS high-water mark in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    """CPU seconds (user + system) this process used so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _dir_mb(path: Path) -> float:
    """Size of the SQLite database files under ``path`` (not the -wal / -shm side files)."""
    return sum(p.stat().st_size for p in path.rglob("*.db") if p.is_file()) / (1 << 20)


# -- variants, each run in a fresh spawned process ----------------------------------------------


def run_naive(events_file: str, work: str) -> dict[str, Any]:
    """Plain json.loads + sqlite3 executemany, one transaction, no checks."""
    import sqlite3

    start_mb = _peak_mb()
    db = Path(work) / "naive.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("CREATE TABLE events (id TEXT, time TEXT, actor TEXT, merchant TEXT, body TEXT)")
    insert = "INSERT INTO events (id, time, actor, merchant, body) VALUES (?, ?, ?, ?, ?)"
    loads = json.loads
    count = 0
    cpu, started = _cpu(), time.perf_counter()
    conn.execute("BEGIN")
    with open(events_file, "rb") as f:
        batch: list[tuple[Any, ...]] = []
        for line in f:
            obj = loads(line)
            actor = obj.get("actor")
            if isinstance(actor, dict):
                actor = actor.get("id")
            batch.append((obj["id"], obj["time"], actor, obj.get("merchant"), line.decode()))
            if len(batch) == BATCH:
                conn.executemany(insert, batch)
                count += len(batch)
                batch = []
        conn.executemany(insert, batch)
        count += len(batch)
    conn.execute("COMMIT")
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    conn.close()
    return {
        "events": count,
        "seconds": seconds,
        "cpu": cpu,
        "start_mb": start_mb,
        "peak_mb": _peak_mb(),
        "db_mb": _dir_mb(Path(work)),
    }


def _open(data_dir: str, database_url: str | None) -> tuple[Any, Any]:
    from sentinelle.config import Settings
    from sentinelle.ledger.log import Ledger
    from sentinelle.store import open_store

    settings = Settings(data_dir=Path(data_dir), database_url=database_url)
    store = open_store(settings)
    ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
    return store, ledger


def run_sentinelle(
    events_file: str, data_dir: str, database_url: str | None, reader: bool = False
) -> dict[str, Any]:
    """One batch of the whole file into a fresh store, as ``sentinelle ingest --no-detect``
    stores it (``reader``: a large file decoded in a reader process beside; else all here)."""
    from sentinelle.ingest import Ingestor, open_input

    store, ledger = _open(data_dir, database_url)
    start_mb = _peak_mb()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, started = _cpu(), time.perf_counter()
    with open_input(events_file) as f:
        # What `sentinelle ingest --no-detect` runs; without the reader, all in this process.
        result = Ingestor(store, ledger).ingest_file(events_file, f, reader=reader)
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    store.close()
    return {
        "child_cpu": after.ru_utime + after.ru_stime - kids.ru_utime - kids.ru_stime,
        "events": result.stored,
        "received": result.received,
        "duplicates": result.duplicates,
        "ledger_size": result.ledger_size,
        "seconds": seconds,
        "cpu": cpu,
        "start_mb": start_mb,
        "peak_mb": _peak_mb(),
        "db_mb": _dir_mb(Path(data_dir)) if database_url is None else None,
    }


def run_verify(data_dir: str, database_url: str | None) -> dict[str, Any]:
    """``Ledger.verify()`` of a store filled by :func:`run_sentinelle`."""
    store, ledger = _open(data_dir, database_url)
    start_mb = _peak_mb()
    cpu, started = _cpu(), time.perf_counter()
    report = ledger.verify()
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    store.close()
    return {
        "events": report.leaves,
        "tiles": report.tiles,
        "checkpoints": report.checkpoints,
        "seconds": seconds,
        "cpu": cpu,
        "start_mb": start_mb,
        "peak_mb": _peak_mb(),
    }


def _in_child(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


# -- driver ----------------------------------------------------------------------------------


def _generate(path: Path, events: int, seed: int) -> int:
    from sentinelle.sim import generate_events

    dumps = json.dumps
    written = 0
    with path.open("w", encoding="utf-8") as f:
        lines: list[str] = []
        for event in generate_events(events=events, seed=seed):
            lines.append(dumps(event, separators=(",", ":")))
            if len(lines) == 10_000:
                f.write("\n".join(lines) + "\n")
                written += len(lines)
                lines = []
        if lines:
            f.write("\n".join(lines) + "\n")
            written += len(lines)
    return written


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["peak_mb"] = max(r["peak_mb"] for r in runs)
    best["all_seconds"] = [r["seconds"] for r in runs]
    return best


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to generate")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed")
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant (best kept)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL run")
    parser.add_argument("--no-verify", action="store_true", help="skip `ledger verify`")
    parser.add_argument(
        "--tmp-dir", type=Path, default=None, help="where the event file and databases go"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="sentinelle-bench-ingest-", dir=args.tmp_dir))
    try:
        return _run(args, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path) -> int:
    events_file = work / "events.jsonl"
    t0 = time.perf_counter()
    n = _generate(events_file, args.events, args.seed)
    size_mb = events_file.stat().st_size / (1 << 20)
    print(
        f"generated {n:,} events ({size_mb:,.1f} MiB of JSON lines, "
        f"{size_mb * (1 << 20) / n:,.0f} B/event) in {time.perf_counter() - t0:.1f} s "
        f"→ {events_file}",
        flush=True,
    )
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, work dir {work}", flush=True)

    results: dict[str, dict[str, Any]] = {}

    def report(name: str, r: dict[str, Any]) -> None:
        extra = "".join(
            f", {k} {r[k]}" for k in ("received", "duplicates", "ledger_size", "tiles") if k in r
        )
        db = f", on disk {r['db_mb']:,.0f} MiB" if r.get("db_mb") else ""
        runs = (
            " (runs: " + ", ".join(f"{s:.2f}" for s in r["all_seconds"]) + " s)"
            if len(r["all_seconds"]) > 1
            else ""
        )
        child = f" + child {r['child_cpu']:.2f} s" if r.get("child_cpu") else ""
        print(
            f"{name:28} {r['events']:>10,} events {r['seconds']:8.2f} s "
            f"{r['events'] / r['seconds']:>10,.0f} ev/s  CPU {r['cpu']:6.2f} s{child}  "
            f"peak {r['peak_mb']:6.0f} MiB "
            f"(after start-up {r['start_mb']:.0f}){db}{extra}{runs}",
            flush=True,
        )

    naive_dir = work / "naive"
    results["naive"] = _best(
        [_in_child(run_naive, str(events_file), str(_fresh(naive_dir))) for _ in range(args.repeat)]
    )
    report("naive json+sqlite3", results["naive"])

    sqlite_dir = work / "sentinelle-sqlite"
    results["sqlite"] = _best(
        [
            _in_child(run_sentinelle, str(events_file), str(_fresh(sqlite_dir)), None)
            for _ in range(args.repeat)
        ]
    )
    report("Sentinelle, SQLite", results["sqlite"])
    results["sqlite_reader"] = _best(
        [
            _in_child(run_sentinelle, str(events_file), str(_fresh(sqlite_dir)), None, True)
            for _ in range(args.repeat)
        ]
    )
    report("Sentinelle, SQLite, reader", results["sqlite_reader"])

    if not args.no_verify:
        results["verify_sqlite"] = _best(
            [_in_child(run_verify, str(sqlite_dir), None) for _ in range(args.repeat)]
        )
        report("ledger verify, SQLite", results["verify_sqlite"])

    if not args.no_postgres:
        sys.path.insert(0, str(REPO / "tests"))
        from pgcluster import ThrowawayCluster  # type: ignore[import-not-found]

        with ThrowawayCluster() as cluster:
            print(f"PostgreSQL cluster {cluster.bin_dir} in {cluster.dir}", flush=True)
            pg_runs = []
            for _ in range(args.repeat):
                url = cluster.create_database()
                pg_runs.append(
                    _in_child(run_sentinelle, str(events_file), str(_fresh(work / "pg")), url)
                )
                last_url = url
            results["postgres"] = _best(pg_runs)
            report("Sentinelle, PostgreSQL", results["postgres"])
            if not args.no_verify:
                # verify the database of the last run (all runs hold the same events)
                results["verify_postgres"] = _best(
                    [_in_child(run_verify, str(work / "pg"), last_url) for _ in range(args.repeat)]
                )
                report("ledger verify, PostgreSQL", results["verify_postgres"])

    _summary(results, n)
    return 0


def _summary(results: dict[str, dict[str, Any]], n: int) -> None:
    naive = results["naive"]["seconds"]

    def ok(good: bool) -> str:
        return "✅" if good else "❌"

    print()
    print(
        f"Goals: ≤ {GOAL_RATIO}× naive time, ≥ {GOAL_RATE:,} events/s, peak < {GOAL_PEAK_MB} MiB."
    )
    print()
    print(
        f"Ingest of {n:,} events (one batch, {os.cpu_count()} CPUs, Python "
        f"{sys.version.split()[0]}):"
    )
    print()
    print("| Variant | Events | Seconds | Events/s | × naive time | Peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|---:|")
    labels = {
        "naive": "Naive: `json.loads` + `sqlite3` `executemany` (no checks)",
        "sqlite": "Sentinelle ingest, SQLite",
        "sqlite_reader": "… with a reader process beside (`ingest --no-detect` of a file)",
        "postgres": "Sentinelle ingest, PostgreSQL",
        "verify_sqlite": "`ledger verify`, SQLite",
        "verify_postgres": "`ledger verify`, PostgreSQL",
    }
    for key, label in labels.items():
        r = results.get(key)
        if r is None:
            continue
        rate = r["events"] / r["seconds"]
        ratio = r["seconds"] / naive
        if key in ("sqlite", "sqlite_reader", "postgres"):
            rate_cell = f"{rate:,.0f} {ok(rate >= GOAL_RATE)}"
            ratio_cell = f"{ratio:.2f} {ok(ratio <= GOAL_RATIO)}"
            peak_cell = f"{r['peak_mb']:.0f} {ok(r['peak_mb'] < GOAL_PEAK_MB)}"
        else:
            rate_cell, peak_cell = f"{rate:,.0f}", f"{r['peak_mb']:.0f}"
            ratio_cell = "1.00" if key == "naive" else "—"
        print(
            f"| {label} | {r['events']:,} | {r['seconds']:.2f} | {rate_cell} "
            f"| {ratio_cell} | {peak_cell} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
