"""Triage feedback (issue 13 §4): what a month of an analyst's dismissals does to the alerts.

Replays the detection benchmark's simulations (``benchmarks/detect.py``: the same jobs, the
same generated events, its ``--cache``) through one engine each, three ways:

* **alone**: no one triages (what ``benchmarks/detect.py`` measures);
* **analyst**: a simulated analyst reviews every medium+ alert ``--review-hours`` after it
  reached medium (default 12: the next working morning) and, knowing the ground truth,
  escalates the insiders' and dismisses the others with ``--suppress-days`` (default 30) — the
  console's "dismiss, suppress for N days" (docs/detection.md, Triage): the engine then drops
  that actor's findings of that detector from the decision on, as live detection does with
  the stored suppressions;
* **analyst, mistaken**: the same analyst also dismisses ``--mistakes`` (default 10 %) of the
  insiders' alerts as benign, chosen by a seeded draw: the price of a wrong dismissal.

Printed per profile and size, summed over seeds: false medium+ alerts per 100 benign staff
actor-days, the benign actors alerted, the insiders caught (and caught before their 5th
merchant), for each way. A dismissal suppresses one detector for one actor, so what it can
remove is the *repeats* of a benign pattern (the same person's QA week, the same on-call
nights); the first alert of each stays.

Run::

    .venv/bin/python benchmarks/triage.py                         # seeds 1-3, desk and shop
    .venv/bin/python benchmarks/triage.py --seeds 1,2,3,4,5 --profiles desk,shop,holdout \\
        --cache /tmp/gen
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import detect as bench  # the detection benchmark: its jobs, generators and cache

from sentinelle.detect import Engine, Severity
from sentinelle.detect.triage import Suppressions
from sentinelle.events import AccessEvent, decode_event, time_us
from sentinelle.store.alerts import SuppressionRow
from sentinelle.timeutil import DAY, HOUR

WAYS = ("alone", "analyst", "mistaken")


def replay(
    job: tuple[str, str, int, tuple[str, ...]],
    way: str,
    review_us: int,
    suppress_us: int,
    mistakes: float,
) -> dict[str, Any]:
    """One job's events through one engine, with the analyst of ``way``."""
    profile, size, seed, _ = job
    lines, truth = bench.generated(job)
    events = [decode_event(line) for line in lines]  # delivery order
    malicious = {a for s in truth["scenarios"] for a in s["actors"]}
    engine = Engine(None, high_profile=truth["high_profile_customers"])
    draw = random.Random(f"{profile}-{size}-{seed}-{'+'.join(job[3])}")
    suppressed: list[SuppressionRow] = []
    queue: list[tuple[int, str, str, str]] = []  # (review at, alert id, actor, detector)
    reached: dict[str, int] = {}  # alert id → when it reached medium
    final: dict[str, Any] = {}
    for event in events:
        now = time_us(event)
        changed = False
        while queue and queue[0][0] <= now:
            at, _, actor, detector = heapq.heappop(queue)
            benign = actor not in malicious
            if benign or (way == "mistaken" and draw.random() < mistakes):
                suppressed.append(SuppressionRow(actor, detector, at, at + suppress_us))
                changed = True
        if changed:
            engine.suppressions = Suppressions(suppressed)
        for alert in engine.process(event):
            final[alert.id] = alert
            if alert.severity >= Severity.MEDIUM and alert.id not in reached:
                reached[alert.id] = max(alert.last_us, now)
                if way != "alone":
                    heapq.heappush(
                        queue,
                        (reached[alert.id] + review_us, alert.id, alert.actor, alert.detector),
                    )
    serious = [a for a in final.values() if a.severity >= Severity.MEDIUM]
    firsts: dict[str, list[int]] = defaultdict(list)
    for a in serious:
        firsts[a.actor].append(reached[a.id])
    access = {e.id: e for e in events if isinstance(e, AccessEvent)}
    rows = bench.scenario_rows(truth, access, firsts)
    # As the detection benchmark counts them: an insider is benign until a day before their
    # scenario starts, and the actor-days are the benign ones.
    until = bench.benign_times(truth)
    false = [a for a in serious if reached[a.id] < until.get(a.actor, 1 << 62)]
    return {
        "key": (profile, size),
        "way": way,
        "scenarios": len(truth["scenarios"]),
        "caught": sum(1 for r in rows if r["caught"]),
        "early": sum(1 for r in rows if r["caught"] and r["merchants"] < 5),
        "actor_days": bench.benign_actor_days(access, until),
        "false": len(false),
        "benign": {a.actor for a in false},
        "dismissals": len(suppressed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--profiles", default="desk,shop")
    parser.add_argument("--sizes", default="large,small")
    parser.add_argument("--review-hours", type=float, default=12.0)
    parser.add_argument("--suppress-days", type=int, default=30)
    parser.add_argument("--mistakes", type=float, default=0.10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", type=Path, help="the detection benchmark's event cache")
    args = parser.parse_args()
    if not 0 <= args.mistakes <= 1:
        parser.error("--mistakes must be between 0 and 1")
    if not 0 <= args.suppress_days <= 90:
        parser.error("--suppress-days must be between 0 and 90 (what the console allows)")
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
        os.environ["DETECT_BENCH_CACHE"] = str(args.cache)
    todo = bench.selected(args.profiles, args.sizes, args.seeds)
    runs = [(job, way) for job in todo for way in WAYS]
    review_us, suppress_us = int(args.review_hours * HOUR), args.suppress_days * DAY
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(
            pool.map(
                replay,
                [j for j, _ in runs],
                [w for _, w in runs],
                [review_us] * len(runs),
                [suppress_us] * len(runs),
                [args.mistakes] * len(runs),
            )
        )
    sums: dict[tuple[tuple[str, str], str], dict[str, Any]] = {}
    for r in results:
        s = sums.setdefault((r["key"], r["way"]), {"benign": set()})
        for field in ("scenarios", "caught", "early", "actor_days", "false", "dismissals"):
            s[field] = s.get(field, 0) + r[field]
        s["benign"] |= r["benign"]
    print(
        f"seeds {args.seeds}; review {args.review_hours:g} h after an alert reached medium; "
        f"dismissals suppress {args.suppress_days} days; mistaken: {args.mistakes:.0%} of the "
        "insiders' alerts dismissed too"
    )
    print(
        "| profile / size | way | false medium+ per 100 actor-days | benign actors alerted | "
        "dismissals | scenarios caught | before the 5th merchant |"
    )
    print("|---|---|---|---|---|---|---|")
    for key in sorted({k for k, _ in sums}):
        for way in WAYS:
            s = sums.get((key, way))
            if s is None:
                continue
            rate = 100 * s["false"] / s["actor_days"] if s["actor_days"] else float("nan")
            print(
                f"| {key[0]} / {key[1]} | {way} | {rate:.2f} ({s['false']}) | {len(s['benign'])} | "
                f"{s['dismissals']} | {s['caught']}/{s['scenarios']} | {s['early']} |"
            )


if __name__ == "__main__":
    main()
