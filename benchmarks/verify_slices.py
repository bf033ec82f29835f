"""What rebuilding the merchants' slices and the map adds to ``sentinelle ledger verify``.

``--events`` simulated events (``sentinelle.sim.generate_events`` over ``--merchants``
merchants) are ingested into one SQLite store in batches of ``--batch`` (a checkpoint each,
each with its map line); then ``Ledger.verify`` runs ``--repeat`` times with the slice check
on and off, alternately, in this process (off: :class:`SliceCheck` replaced by one that does
nothing). Printed: the best and median of each, in events per second, and the difference.

Run::

    .venv/bin/python benchmarks/verify_slices.py                   # 50,000 events, 1,000 merchants
    .venv/bin/python benchmarks/verify_slices.py --events 200000 --merchants 20000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sentinelle.config import Settings  # noqa: E402
from sentinelle.ingest import Ingestor  # noqa: E402
from sentinelle.ledger import log as ledger_log  # noqa: E402
from sentinelle.ledger.log import Ledger  # noqa: E402
from sentinelle.ledger.verify_slices import SliceCheck, SliceReport  # noqa: E402
from sentinelle.sim import generate_events  # noqa: E402
from sentinelle.store import open_store  # noqa: E402


class _Off:
    """Stands in for SliceCheck: checks nothing."""

    def __init__(self, *_: Any) -> None:
        pass

    def add(self, *_: Any) -> None:
        pass

    def reached(self, *_: Any) -> None:
        return None

    def finish(self) -> SliceReport:
        return SliceReport(0, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--merchants", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp) / "data")
        store = open_store(settings)
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        events = list(generate_events(events=args.events, seed=5, merchants=args.merchants))
        events = events[: args.events]
        for start in range(0, len(events), args.batch):
            part = events[start : start + args.batch]
            Ingestor(store, ledger).ingest(
                [(i, json.dumps(e).encode()) for i, e in enumerate(part)]
            )
        n = store.ledger_size()
        times: dict[str, list[float]] = {"on": [], "off": []}
        report = None
        for _ in range(args.repeat):
            for mode in ("off", "on"):
                ledger_log.SliceCheck = SliceCheck if mode == "on" else _Off  # type: ignore[misc]
                t0 = time.process_time()
                got = ledger.verify()
                times[mode].append(time.process_time() - t0)
                if mode == "on":
                    report = got
        ledger_log.SliceCheck = SliceCheck  # type: ignore[misc]
        store.close()
    assert report is not None
    print(
        f"{n} events, {report.merchants} merchants with accesses, {report.mapped} map lines, "
        f"batches of {args.batch}; CPU seconds, best of {args.repeat} (median)"
    )
    for mode in ("off", "on"):
        best, median = min(times[mode]), statistics.median(times[mode])
        print(f"  slice check {mode:3}: {best:.2f} s ({median:.2f}), {n / best:,.0f} events/s")
    extra = min(times["on"]) / min(times["off"]) - 1
    print(
        f"  added: {extra:+.0%} (best), {statistics.median(times['on']) / statistics.median(times['off']) - 1:+.0%} (median)"
    )


if __name__ == "__main__":
    main()
