"""Incident scoping time: ``compute_scope`` over a store of ``--events`` stored events.

The goal (``sentinelle incident scope ID [--unjustified-only] --json``): under 2 s over
10,000,000 stored events, on SQLite and on PostgreSQL.

The store is filled with the support simulator (``sentinelle.sim.simulate``) with the
``pair_harvest`` insider scenario. One default simulation (3000 merchants, 250 agents,
45 days) is about 1.48M events, so a larger store is built from R repetitions (seeds 1..R),
each scaled so that the total is about ``--events``:

* ``--layout stacked`` (default, the hard case): every repetition covers the same 45 days, as
  R independent platforms in one store. Every id in a repetition (events, tickets, merchants,
  staff, customers, ...) gets the prefix ``rK-`` so the repetitions stay disjoint; the store
  is R times denser in time: the incident's window covers nearly all stored events (scoping
  reads only the actors' accesses and the tickets and grants they cite, so density matters
  little).
* ``--layout sequential``: repetition K starts 45·K days after the previous one (one platform
  over a longer history); only event ids are prefixed. The window then covers only the last
  repetition's events.

Generation writes a JSON-lines file once (not timed); each backend ingests it with
``Ingestor`` in batches of ``--batch`` events (no detection). An incident is then opened
for the pair-harvest actors of the *last* repetition with the scenario's true window (first
to last malicious event), and ``compute_scope`` is timed ``--repeat`` times, full and
``unjustified_only=True``, on the same open store (so runs after the first have a warm
cache). PostgreSQL runs in a throwaway cluster (``tests/pgcluster.py``), a fresh database;
``--no-postgres`` skips it.

Run::

    .venv/bin/python benchmarks/scope.py                       # 10,000,000 events
    .venv/bin/python benchmarks/scope.py --events 300000 --no-postgres

The last lines are a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import math
import os
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

GOAL_SECONDS = 2.0
BASE_EVENTS = 1_480_000  # events of one default simulation (3000 merchants, 250 agents, 45 days)
BASE_MERCHANTS = 3000
BASE_AGENTS = 250
DAYS = 45
MIN_MERCHANTS = 60
MIN_AGENTS = 30

# An id value: a string starting with letters and a hyphen followed by a digit
# ("agent-017", "m-1133", "T-9091670", "c-1133-60", "evt-00000001"). Times start with a digit.
_ID_VALUE = re.compile(rb'"([A-Za-z][A-Za-z_]*-)(?=[0-9])')


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _iso_us(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1_000_000)


# -- generation ---------------------------------------------------------------------------------


def _plan(events: int) -> tuple[int, int, int]:
    """(repetitions, merchants, agents) giving about ``events`` events in all."""
    reps = max(1, math.ceil(events / BASE_EVENTS))
    factor = events / (reps * BASE_EVENTS)
    merchants = max(MIN_MERCHANTS, round(BASE_MERCHANTS * factor))
    agents = max(MIN_AGENTS, round(BASE_AGENTS * factor))
    return reps, merchants, agents


def _generate(path: Path, events: int, layout: str) -> tuple[int, dict[str, Any], str]:
    """Write the events; return (count, last repetition's pair_harvest truth, its prefix)."""
    from sentinelle.sim import DEFAULT_START, simulate

    reps, merchants, agents = _plan(events)
    print(
        f"simulating {reps} repetition(s) of {merchants} merchants, {agents} agents, {DAYS} days "
        f"(layout {layout})",
        flush=True,
    )
    written = 0
    truth: dict[str, Any] = {}
    prefix = ""
    with path.open("wb") as f:
        for k in range(reps):
            t0 = time.perf_counter()
            start = DEFAULT_START + dt.timedelta(days=DAYS * k if layout == "sequential" else 0)
            sim = simulate(
                merchants=merchants,
                agents=agents,
                days=DAYS,
                seed=k + 1,
                scenarios="pair_harvest",
                start=start,
            )
            tag = b"r%d-" % k
            if layout == "stacked":
                repl = b'"' + tag + rb"\1"
                sub = _ID_VALUE.sub

                def rewrite(line: bytes, sub: Any = sub, repl: bytes = repl) -> bytes:
                    return sub(repl, line)

                prefix = tag.decode()
            else:
                assert_head = b'{"id":"'

                def rewrite(line: bytes, tag: bytes = tag, head: bytes = assert_head) -> bytes:
                    if not line.startswith(head):  # pragma: no cover - encoder changed
                        raise RuntimeError("expected events to start with their id")
                    return head + tag + line[len(head) :]

                prefix = ""
            n = 0
            buf: list[bytes] = []
            for line in sim.lines():
                buf.append(rewrite(line))
                if len(buf) == 10_000:
                    f.write(b"".join(buf))
                    n += len(buf)
                    buf = []
            f.write(b"".join(buf))
            n += len(buf)
            written += n
            truth = next(s for s in sim.truth["scenarios"] if s["name"] == "pair_harvest")
            print(
                f"  repetition {k}: {n:,} events in {time.perf_counter() - t0:.1f} s "
                f"(total {written:,})",
                flush=True,
            )
    return written, truth, prefix


# -- ingest and scope ---------------------------------------------------------------------------


def _open(data_dir: Path, database_url: str | None) -> tuple[Any, Any]:
    from sentinelle.config import Settings
    from sentinelle.ledger.log import Ledger
    from sentinelle.store import open_store

    settings = Settings(data_dir=data_dir, database_url=database_url)
    store = open_store(settings)
    ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
    return store, ledger


def _ingest(store: Any, ledger: Any, events_file: Path, batch: int) -> int:
    from sentinelle.ingest import Ingestor

    ingestor = Ingestor(store, ledger)
    stored = 0
    t0, cpu = time.perf_counter(), _cpu()
    with events_file.open("rb") as f:
        numbered: Iterator[tuple[int, bytes]] = enumerate(f, 1)
        while True:
            chunk = list(itertools.islice(numbered, batch))
            if not chunk:
                break
            result = ingestor.ingest(chunk)
            stored += result.stored
            elapsed = time.perf_counter() - t0
            print(
                f"  ingested {stored:,} ({stored / elapsed:,.0f} ev/s, "
                f"CPU {_cpu() - cpu:.0f} s, {elapsed:.0f} s)",
                flush=True,
            )
    return stored


def _count(store: Any) -> int:
    rows = store._x("SELECT count(*) FROM events")
    return int(rows[0][0])


def _bench_store(
    name: str,
    data_dir: Path,
    database_url: str | None,
    events_file: Path,
    truth: dict[str, Any],
    prefix: str,
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    from sentinelle.incidents.records import Incidents
    from sentinelle.incidents.scope import compute_scope

    print(f"\n== {name} ==", flush=True)
    store, ledger = _open(data_dir, database_url)
    try:
        t0 = time.perf_counter()
        _ingest(store, ledger, events_file, args.batch)
        print(f"  ingest done in {time.perf_counter() - t0:.1f} s", flush=True)
        if database_url is not None:
            # as autovacuum would soon after a bulk load; SQLite gets no ANALYZE (Sentinelle
            # never runs one)
            with store._read() as cur:
                cur.execute("ANALYZE events")
        stored = _count(store)
        incident = Incidents(store).open(
            title="benchmark: pair harvest",
            by="benchmark",
            actors=[prefix + a for a in truth["actors"]],
            from_us=_iso_us(truth["start"]),
            to_us=_iso_us(truth["end"]),
        )
        print(
            f"  incident {incident.id}: actors {', '.join(incident.actors)}, "
            f"window {truth['start']} .. {truth['end']}; {stored:,} stored events; "
            f"truth (malicious events only): {len(truth['merchants'])} merchants, "
            f"{len(truth['subjects'])} subjects, {len(truth['events'])} events",
            flush=True,
        )
        rows = []
        for variant, unjustified in (("full", False), ("unjustified only", True)):
            times, cpus = [], []
            scope = None
            for _ in range(args.repeat):
                cpu, started = _cpu(), time.perf_counter()
                scope = compute_scope(store, incident, unjustified_only=unjustified)
                times.append(time.perf_counter() - started)
                cpus.append(_cpu() - cpu)
            assert scope is not None
            row = {
                "store": name,
                "stored": stored,
                "variant": variant,
                "min": min(times),
                "median": statistics.median(times),
                "cpu_median": statistics.median(cpus),
                "merchants": len(scope.per_merchant),
                "subjects": len(scope.subject_ids),
                "records": scope.records,
                "events": len(scope.event_ids),
                "denied": scope.denied_events,
            }
            print(
                f"  scope {variant:17}: min {row['min']:.3f} s, median {row['median']:.3f} s "
                f"(client CPU median {row['cpu_median']:.3f} s; runs "
                + ", ".join(f"{t:.3f}" for t in times)
                + f"); merchants {row['merchants']}, subjects {row['subjects']:,}, "
                f"records {row['records']:,}, events {row['events']:,}, "
                f"denied {row['denied']:,}",
                flush=True,
            )
            rows.append(row)
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            compute_scope(store, incident)
            prof.disable()
            print("  profile of one full scope (top 15 by cumulative time):")
            pstats.Stats(prof).sort_stats("cumulative").print_stats(15)
        return rows
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events to store (about)")
    parser.add_argument(
        "--layout",
        choices=("stacked", "sequential"),
        default="stacked",
        help="repetitions over the same days (default) or one after the other",
    )
    parser.add_argument("--batch", type=int, default=1_000_000, help="events per ingest batch")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per scope variant")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL run")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--profile", action="store_true", help="cProfile one extra full scope")
    parser.add_argument(
        "--tmp-dir", type=Path, default=None, help="where the event file and databases go"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="sentinelle-bench-scope-", dir=args.tmp_dir))
    try:
        return _run(args, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path) -> int:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, work dir {work}", flush=True)
    events_file = work / "events.jsonl"
    t0 = time.perf_counter()
    n, truth, prefix = _generate(events_file, args.events, args.layout)
    size_mb = events_file.stat().st_size / (1 << 20)
    print(
        f"generated {n:,} events ({size_mb:,.0f} MiB) in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )

    rows: list[dict[str, Any]] = []
    if not args.no_sqlite:
        sqlite_dir = work / "sqlite"
        sqlite_dir.mkdir()
        rows += _bench_store("SQLite", sqlite_dir, None, events_file, truth, prefix, args)
    if not args.no_postgres:
        sys.path.insert(0, str(REPO / "tests"))
        from pgcluster import ThrowawayCluster  # type: ignore[import-not-found]

        with ThrowawayCluster() as cluster:
            print(f"PostgreSQL cluster {cluster.bin_dir} in {cluster.dir}", flush=True)
            pg_dir = work / "pg"
            pg_dir.mkdir()
            url = cluster.create_database()
            rows += _bench_store("PostgreSQL", pg_dir, url, events_file, truth, prefix, args)

    def ok(seconds: float) -> str:
        return "✅" if seconds < GOAL_SECONDS else "❌"

    print()
    print(
        f"Goal: < {GOAL_SECONDS:g} s. Incident scope ({args.layout} layout, median of "
        f"{args.repeat}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}):"
    )
    print()
    print("| Store | Stored events | Scope | Median s | Merchants | Subjects | Records |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['store']} | {r['stored']:,} | {r['variant']} | {r['median']:.3f} "
            f"{ok(r['median'])} | {r['merchants']:,} | {r['subjects']:,} | {r['records']:,} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
