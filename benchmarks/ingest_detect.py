"""Ingest with live detection against a naive ``json.loads`` + SQLite loader, alternately.

Generates ``--events`` simulated support events (``sentinelle.sim.generate_events``, ~270
bytes each) into one JSON-lines file (not timed), dated so that the last is an hour before
the wall clock (``--start`` to date them from a given day instead; the simulator's own
default start puts most of 365k events in the future, where live detection holds them in its
reorder buffer). Then, round after round (ABAB…, ``--rounds``, best kept), each variant in a
fresh spawned process on a fresh data directory:

* **naive**: ``benchmarks/ingest.py``'s loader (``json.loads``, ``executemany`` of 4096
  rows into one table, one transaction, no checks);
* **no-detect**: what ``sentinelle ingest --no-detect FILE`` runs
  (``sentinelle.cli.ingest.ingest_stream`` without detection: the file, over 8 MiB, is read
  and decoded in a child process, ``sentinelle.ingest.reader``, beside the storing);
* **detect**: what ``sentinelle ingest FILE`` runs: the same, with live detection in a
  child process beside the storing of the next chunk (``sentinelle.detect.pipelined``),
  its result stored after the commit (``sentinelle.live.after_batch``);
* **detect-after** (not with ``--no-after``): the same with detection after the commit on
  the same core, as before the pipeline.

Times are wall-clock seconds around the command's work (the store opened and migrated
before); CPU seconds of the process and of its children (the detection process) are printed
too, and the host's load average beside each run: this 2-core machine is shared, and on a
busy host the wall-clock times measure the waiting more than the work. The last column
compares the larger of the two processes' CPU seconds (the critical path when the second
core is free) with the naive loader's.
The alerts of ``detect`` and ``detect-after`` are compared (detector, actor, severity,
merchants) and must be the same.

Run::

    .venv/bin/python benchmarks/ingest_detect.py                     # 365,000 events, 3 rounds
    .venv/bin/python benchmarks/ingest_detect.py --events 100000 --rounds 2
"""

from __future__ import annotations

import argparse
import datetime as dt
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import run_naive

GOAL_DETECT = 2.5
GOAL_NO_DETECT = 1.5
MOONSHOT = 1.5


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def run_cli(events_file: str, data_dir: str, mode: str) -> dict[str, Any]:
    """``sentinelle ingest`` (``mode``: ``no-detect``, ``detect``, ``detect-after``) through
    the function the command runs, in this fresh process."""
    from sentinelle.cli.app import App
    from sentinelle.cli.ingest import ingest_stream
    from sentinelle.config import Settings
    from sentinelle.detect.runner import alert_from_row
    from sentinelle.ingest import open_input

    app = App(Settings(data_dir=Path(data_dir)))
    app.ledger  # noqa: B018 - the store, its schema and the signing key, before the clock
    config = None if mode == "no-detect" else app.detect_config
    cpu, kids, started = (
        _cpu(resource.RUSAGE_SELF),
        _cpu(resource.RUSAGE_CHILDREN),
        time.perf_counter(),
    )
    with open_input(events_file) as stream:
        result, after = ingest_stream(
            app, stream, events_file, config, beside=mode != "detect-after"
        )
    seconds = time.perf_counter() - started
    alerts = sorted(
        (a.detector, a.actor, int(a.severity), a.merchants)
        for a in map(alert_from_row, app.store.alerts())
    )
    app.close()
    return {
        "events": result.stored,
        "seconds": seconds,
        "cpu": _cpu(resource.RUSAGE_SELF) - cpu,
        "child_cpu": _cpu(resource.RUSAGE_CHILDREN) - kids,
        "alerts": alerts,
        "notes": after.notes if after else [],
    }


def _in_child(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


def _generate(path: Path, events: int, seed: int, start: dt.datetime | None) -> tuple[int, str]:
    from sentinelle.sim import generate_events

    if start is None:  # end an hour before now: the span does not depend on the start
        origin = dt.datetime(2026, 11, 2, 8, tzinfo=dt.UTC)
        last = origin
        for event in generate_events(events=events, seed=seed, start=origin):
            last = dt.datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        start = now - dt.timedelta(hours=1) - (last - origin)
    dumps = json.dumps
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for event in generate_events(events=events, seed=seed, start=start):
            f.write(dumps(event, separators=(",", ":")) + "\n")
            n += 1
    return n, start.isoformat()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=365_000, help="events to generate")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed")
    parser.add_argument("--rounds", type=int, default=3, help="ABAB rounds (best kept)")
    parser.add_argument(
        "--start",
        type=dt.date.fromisoformat,
        default=None,
        help="date the events from this day (default: end an hour before now)",
    )
    parser.add_argument("--no-after", action="store_true", help="skip detect-after")
    parser.add_argument("--tmp-dir", type=Path, default=None, help="where the files go")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sentinelle-bench-detect-", dir=args.tmp_dir))
    try:
        return _run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path) -> int:
    events_file = work / "events.jsonl"
    start = (
        None if args.start is None else dt.datetime.combine(args.start, dt.time(8), tzinfo=dt.UTC)
    )
    t0 = time.perf_counter()
    n, first = _generate(events_file, args.events, args.seed, start)
    print(
        f"generated {n:,} events ({events_file.stat().st_size / (1 << 20):,.1f} MiB) from "
        f"{first} in {time.perf_counter() - t0:.1f} s; python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    variants = ["naive", "no-detect", "detect"] + ([] if args.no_after else ["detect-after"])
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for rnd in range(1, args.rounds + 1):
        for variant in variants:
            folder = work / f"{variant}-{rnd}"
            folder.mkdir()
            load = os.getloadavg()[0]
            if variant == "naive":
                r = _in_child(run_naive, str(events_file), str(folder))
                r["child_cpu"] = 0.0
            else:
                r = _in_child(run_cli, str(events_file), str(folder), variant)
            r["load"] = load
            runs[variant].append(r)
            shutil.rmtree(folder, ignore_errors=True)
            print(
                f"round {rnd} {variant:13} {r['seconds']:7.2f} s  CPU {r['cpu']:6.2f} s"
                f" + child {r['child_cpu']:5.2f} s  (load {load:.1f})"
                + (f"  alerts {len(r['alerts'])}" if "alerts" in r else ""),
                flush=True,
            )
    best = {v: min(rs, key=lambda r: r["seconds"]) for v, rs in runs.items()}
    naive = best["naive"]["seconds"]
    print()
    print(f"Best of {args.rounds} rounds, {n:,} events, alternately:")
    print()
    # CPU seconds tell the work apart from a busy host's waiting: the least of the runs, of
    # the process and (detect) of the detection process beside it.
    cpu = {v: min(x["cpu"] for x in rs) for v, rs in runs.items()}
    child = {v: min(x["child_cpu"] for x in rs) for v, rs in runs.items()}
    print(
        "| variant | seconds | × naive | all runs (s) | load at the runs "
        "| CPU s (+ child) | CPU × naive |"
    )
    print("|---|---:|---:|---|---|---:|---:|")
    for v in variants:
        r = best[v]
        print(
            f"| {v} | {r['seconds']:.2f} | {r['seconds'] / naive:.2f} | "
            + ", ".join(f"{x['seconds']:.2f}" for x in runs[v])
            + " | "
            + ", ".join(f"{x['load']:.1f}" for x in runs[v])
            + f" | {cpu[v]:.2f}"
            + (f" + {child[v]:.2f}" if child[v] else "")
            + f" | {max(cpu[v], child[v]) / cpu['naive']:.2f} |"
        )
    ratio_d = best["detect"]["seconds"] / naive
    ratio_n = best["no-detect"]["seconds"] / naive
    print()
    print(
        f"goals: live detection ≤ {GOAL_DETECT}× naive: {ratio_d:.2f}× "
        f"{'met' if ratio_d <= GOAL_DETECT else 'NOT met'} (moonshot ≤ {MOONSHOT}×); "
        f"--no-detect ≤ {GOAL_NO_DETECT}×: {ratio_n:.2f}× "
        f"{'met' if ratio_n <= GOAL_NO_DETECT else 'NOT met'}"
    )
    if "detect-after" in best:
        same = all(r["alerts"] == runs["detect-after"][0]["alerts"] for r in runs["detect"])
        print(
            f"alerts, beside vs after the commit: "
            f"{'the same' if same else 'DIFFERENT'} ({len(best['detect']['alerts'])} alerts)"
        )
        if not same:
            return 1
    for note in best["detect"]["notes"]:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
