"""What the actors' activity rollup costs: on ingest, to read, and to fill in (migration 11).

* **ingest**: the same ``--events`` simulated events (``sentinelle.sim.generate_events``)
  ingested as one batch into a fresh store, alternately with the rollup (as shipped) and
  without it (``ActivityTally.add`` replaced by a no-op, so nothing is tallied or written), in
  the same process, ``--repeat`` times each; the best wall-clock and CPU time of each is kept.
  Alternating in one process makes the comparison fair on a busy machine, where two separate
  runs minutes apart are not.
* **reads**: ``actors.activity`` of the busiest actor over 30 and 90 days, and
  ``actors.risk_list`` (after live detection over the events), median of 20 calls.
* **migration 11**: the rollup dropped and filled in again from the stored events.

Run::

    .venv/bin/python benchmarks/activity.py --events 200000 --repeat 3
    .venv/bin/python benchmarks/activity.py --events 200000 --postgres   # also PostgreSQL
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _open(data_dir: Path, url: str | None) -> tuple[Any, Any]:
    from sentinelle.config import Settings
    from sentinelle.ledger.log import Ledger
    from sentinelle.store import open_store

    settings = Settings(_env_file=None, data_dir=data_dir, database_url=url)
    store = open_store(settings)
    return store, Ledger.open(store, data_dir=data_dir, origin=settings.log_origin)


def _ingest(
    lines: list[str], data_dir: Path, url: str | None, *, rollup: bool
) -> tuple[float, float, Any]:
    from sentinelle.ingest import Ingestor
    from sentinelle.store.activity import ActivityTally

    store, ledger = _open(data_dir, url)
    original = ActivityTally.add
    if not rollup:
        ActivityTally.add = lambda *_: None  # type: ignore[method-assign]
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        Ingestor(store, ledger).ingest(enumerate(lines))
        return time.perf_counter() - wall, time.process_time() - cpu, store
    finally:
        ActivityTally.add = original  # type: ignore[method-assign]


def _median_ms(fn: Callable[[], object], n: int = 20) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def run(
    lines: list[str], work: Path, repeat: int, new_url: Callable[[], str | None], label: str
) -> None:
    from sentinelle import actors
    from sentinelle.detect import DetectionRunner
    from sentinelle.timeutil import DAY

    best: dict[bool, tuple[float, float]] = {}
    store = None
    for i in range(repeat):
        for rollup in (False, True):
            data_dir = work / f"{label}-{i}-{rollup}"
            wall, cpu, opened = _ingest(lines, data_dir, new_url(), rollup=rollup)
            old = best.get(rollup, (float("inf"), float("inf")))
            best[rollup] = (min(old[0], wall), min(old[1], cpu))
            print(
                f"  {label} run {i + 1} {'with' if rollup else 'without'} rollup: {wall:6.2f} s, CPU {cpu:6.2f} s",
                flush=True,
            )
            if rollup and i == repeat - 1:
                store = opened
            else:
                opened.close()
    n = len(lines)
    (w0, c0), (w1, c1) = best[False], best[True]
    print(
        f"{label} ingest of {n:,} events, best of {repeat}: without rollup {w0:.2f} s (CPU {c0:.2f} s), "
        f"with {w1:.2f} s (CPU {c1:.2f} s): +{(w1 / w0 - 1) * 100:.1f} % wall, "
        f"+{(c1 / c0 - 1) * 100:.1f} % CPU, {(c1 - c0) / n * 1e6:.2f} µs CPU per event",
        flush=True,
    )
    assert store is not None
    rows = store._x(
        "SELECT actor, count(*), max(day) FROM actor_days GROUP BY actor ORDER BY count(*) DESC LIMIT 1"
    )
    actor, days, last = rows[0][0], int(rows[0][1]), int(rows[0][2])
    total = store._x("SELECT count(*) FROM actor_days")[0][0]
    until = (last + 1) * DAY
    for span in (30, 90):
        ms = _median_ms(
            lambda span=span: actors.activity(
                store, actor, since_us=until - span * DAY, until_us=until
            )
        )
        print(
            f"{label} activity({actor!r}, {span} days): {ms:.1f} ms ({total:,} actor-days stored, {days} of theirs)"
        )
    DetectionRunner(store).catch_up()
    alerts = store._x("SELECT count(*) FROM alerts")[0][0]
    ms = _median_ms(
        lambda: actors.risk_list(store, since_us=until - 30 * DAY, until_us=until, limit=50)
    )
    print(f"{label} risk_list(30 days, 50): {ms:.1f} ms ({alerts:,} alerts stored)")
    with store.writer() as w:
        w._x("DROP TABLE actor_days")
        w._x("DELETE FROM schema_migrations WHERE version = 11")
    t = time.perf_counter()
    store.migrate()
    print(
        f"{label} migration 11 over {n:,} stored events: {time.perf_counter() - t:.2f} s",
        flush=True,
    )
    store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL")
    args = parser.parse_args(argv)

    from sentinelle.sim import generate_events

    t = time.perf_counter()
    lines = [
        json.dumps(e, separators=(",", ":"))
        for e in generate_events(events=args.events, seed=args.seed)
    ]
    print(f"generated {len(lines):,} events in {time.perf_counter() - t:.1f} s", flush=True)
    work = Path(tempfile.mkdtemp(prefix="sentinelle-bench-activity-"))
    try:
        run(lines, work, args.repeat, lambda: None, "SQLite")
        if args.postgres:
            sys.path.insert(0, str(REPO / "tests"))
            from pgcluster import ThrowawayCluster  # type: ignore[import-not-found]

            with ThrowawayCluster() as cluster:
                run(lines, work, args.repeat, cluster.create_database, "PostgreSQL")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
