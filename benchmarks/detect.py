"""Detection quality and speed on the simulator, against its ground truth.

For each seed: simulate (default size, all scenarios), run the engine over the events in time
order, and compare medium-or-higher alerts with ``truth.json``. Prints, per scenario: caught or
not, merchants harvested before the first medium+ alert on one of its actors, and the delay
after the scenario's start; overall: recall over malicious actors, benign actors with any
medium+ alert, false medium+ alerts per 100 actor-days, events/s through detection, and the
p99 latency from an event's ingestion to its alert (small batches through a real store).

    .venv/bin/python benchmarks/detect.py                 # three seeds, default size
    .venv/bin/python benchmarks/detect.py --seeds 1 --merchants 1000 --agents 100 --days 30
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from sentinelle.detect import DetectConfig, Engine, Severity
from sentinelle.events import AccessEvent, decode_event, time_us
from sentinelle.sim import simulate
from sentinelle.timeutil import DAY, parse_time


def evaluate(args: argparse.Namespace, seed: int, config: DetectConfig) -> dict[str, object]:
    sim = simulate(
        merchants=args.merchants, agents=args.agents, days=args.days, seed=seed, scenarios="all"
    )
    t0 = time.perf_counter()
    events = [decode_event(line) for line in sim.lines()]
    decode_s = time.perf_counter() - t0
    events.sort(key=time_us)
    truth = sim.truth
    engine = Engine(config)
    t0 = time.perf_counter()
    alerts = engine.run(events)
    detect_s = time.perf_counter() - t0
    serious = [a for a in alerts if a.severity >= Severity.MEDIUM]
    malicious = {a for s in truth["scenarios"] for a in s["actors"]}
    first_alert: dict[str, int] = {}
    for a in serious:
        first_alert[a.actor] = min(first_alert.get(a.actor, 2**62), a.time_us)
    times = {e.id: time_us(e) for e in events if isinstance(e, AccessEvent)}
    merchant_of = {e.id: e.merchant for e in events if isinstance(e, AccessEvent)}
    rows = []
    for s in truth["scenarios"]:
        start = parse_time(s["start"])
        hits = [
            first_alert[a]
            for a in s["actors"]
            if a in first_alert and first_alert[a] >= start - DAY
        ]
        first = min(hits) if hits else None
        per_actor: dict[str, set[str]] = defaultdict(set)
        harvested_before = 0
        if first is not None:
            for event_id in s["events"]:
                if times[event_id] <= first:
                    per_actor[event_id].add(merchant_of[event_id])
            seen: dict[str, set[str]] = defaultdict(set)
            actor_of = {
                e.id: e.actor.id
                for e in events
                if isinstance(e, AccessEvent) and e.id in set(s["events"])
            }
            for event_id in s["events"]:
                if times[event_id] <= first:
                    seen[actor_of[event_id]].add(merchant_of[event_id])
            harvested_before = max((len(v) for v in seen.values()), default=0)
        rows.append(
            {
                "scenario": s["name"],
                "caught": first is not None,
                "merchants_before_alert": harvested_before
                if first is not None
                else len(s["merchants"]),
                "delay_h": round((first - start) / 3.6e9, 1) if first is not None else None,
            }
        )
    benign_alerted = {a.actor for a in serious if a.actor not in malicious}
    actor_days = {
        (e.actor.id, time_us(e) // DAY)
        for e in events
        if isinstance(e, AccessEvent) and e.actor.kind == "staff" and e.actor.id not in malicious
    }
    false_alerts = [a for a in serious if a.actor not in malicious]
    return {
        "seed": seed,
        "events": len(events),
        "decode_s": decode_s,
        "detect_s": detect_s,
        "rows": rows,
        "recall": sum(1 for a in malicious if a in first_alert) / len(malicious),
        "benign_alerted": len(benign_alerted),
        "false_per_100": 100 * len(false_alerts) / max(1, len(actor_days)),
        "false_by_detector": dict(
            sorted(
                defaultdict(
                    int,
                    {
                        d: sum(1 for a in false_alerts if a.detector == d)
                        for d in {a.detector for a in false_alerts}
                    },
                ).items()
            )
        ),
        "false_examples": [a.reasons[0] for a in false_alerts if a.detector == "breadth_volume"][:4]
        + [a.reasons[0] for a in false_alerts if a.detector != "breadth_volume"][:6],
        "false_by_week": sorted(
            defaultdict(
                int,
                {
                    w: sum(
                        1
                        for a in false_alerts
                        if (a.time_us - parse_time(truth["start"])) // (7 * DAY) == w
                    )
                    for w in range(8)
                },
            ).items()
        ),
    }


def latency(args: argparse.Namespace) -> tuple[float, float]:
    """p50/p99 seconds from the start of a small batch's ingest to its alerts being stored."""
    from sentinelle.config import Settings
    from sentinelle.detect import DetectionRunner
    from sentinelle.ingest import Ingestor
    from sentinelle.ledger.log import Ledger
    from sentinelle.store import open_store

    sim = simulate(merchants=300, agents=40, days=21, seed=5, scenarios="pair_harvest")
    lines = list(sim.lines())
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        store = open_store(settings)
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        runner = DetectionRunner(store)
        took = []
        for i in range(0, min(len(lines), 200 * 500), 500):
            t0 = time.perf_counter()
            Ingestor(store, ledger).ingest(enumerate(lines[i : i + 500], 1))
            runner.catch_up()
            took.append(time.perf_counter() - t0)
        store.close()
    took.sort()
    return statistics.median(took), took[int(0.99 * (len(took) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--merchants", type=int, default=3000)
    parser.add_argument("--agents", type=int, default=250)
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    config = DetectConfig.from_toml(args.config) if args.config else DetectConfig()
    results = [evaluate(args, int(s), config) for s in args.seeds.split(",")]
    print("| seed | scenario | caught | merchants before first medium+ alert | delay after start |")
    print("|---|---|---|---|---|")
    for r in results:
        for row in r["rows"]:  # type: ignore[attr-defined]
            delay = f"{row['delay_h']} h" if row["delay_h"] is not None else "—"
            print(
                f"| {r['seed']} | {row['scenario']} | {'yes' if row['caught'] else 'NO'} | {row['merchants_before_alert']} | {delay} |"
            )
    print()
    print(
        "| seed | events | recall (malicious actors) | benign actors with medium+ | false medium+ per 100 actor-days | detection events/s |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['seed']} | {r['events']:,} | {r['recall']:.2f} | {r['benign_alerted']} | {r['false_per_100']:.2f} | {r['events'] / r['detect_s']:,.0f} |"
        )
        if args.verbose:
            print("   false by detector:", r["false_by_detector"], "by week:", r["false_by_week"])
            for ex in r["false_examples"]:
                print("   -", ex)
    if not args.no_latency:
        p50, p99 = latency(args)
        print(
            f"\ningest-to-alert latency, batches of 500 events (SQLite): p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
