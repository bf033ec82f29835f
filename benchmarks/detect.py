"""Detection quality against ground truth, on two generators: seeds × profiles × team sizes.

For each profile, team size and seed: generate (the product simulator, all scenarios; at
small sizes, in groups of scenarios that fit the staff; or ``world2``, the second generator in
``tests/world2.py``, or ``world3``, the third in ``tests/world3.py``, one insider at a time in a
small team), run the engine over the events in
the order they are delivered (time order, or with late deliveries for the ``holdout``
profile), and compare the alerts with the ground truth. Prints

* per scenario: caught (runs), caught before the insider's 5th merchant, merchants the
  insider reached up to the first medium+ alert (median, worst) and the delay after the
  scenario's start (median, worst); then the scenario runs caught, and caught before the
  5th merchant, over every row;
* recall, false medium+ alerts per 100 benign staff actor-days and benign actors alerted, by
  detector (an insider is benign until a day before their scenario starts: alerts about
  them raised earlier are false, and their days before count);
* an alert-budget curve: the share of malicious actors caught when a responder reads only the
  top N alerts of each day (all severities, ranked by severity then score).

    .venv/bin/python benchmarks/detect.py        # 5 seeds, desk/shop/holdout/world2, large/small
    .venv/bin/python benchmarks/detect.py --seeds 1,2 --profiles holdout,world2 --sizes small
    .venv/bin/python benchmarks/detect.py --profiles world3 --sizes small,large  # third generator
    .venv/bin/python benchmarks/detect.py --sizes medium                  # 60 agents
    .venv/bin/python benchmarks/detect.py --sizes compact                 # 30 agents
    .venv/bin/python benchmarks/detect.py --sizes xlarge --seeds 1,2,3    # 250 agents
    .venv/bin/python benchmarks/detect.py --latency            # also ingest-to-alert latency
    .venv/bin/python benchmarks/detect.py --cache /tmp/gen     # generate once, reuse after
    .venv/bin/python benchmarks/detect.py --drop team          # events that name no team
    .venv/bin/python benchmarks/detect.py --drop subjects      # …no customer ids
    .venv/bin/python benchmarks/detect.py --drop assigned      # one event per ticket
    .venv/bin/python benchmarks/detect.py --drop resource      # …not saying what was shown
    .venv/bin/python benchmarks/detect.py --drop tickets       # no help-desk feed connected
    .venv/bin/python benchmarks/detect.py --drop ticket_merchant  # tickets naming no merchant
    .venv/bin/python benchmarks/detect.py --drop assignees     # …nor who works them
    .venv/bin/python benchmarks/detect.py --shift 8            # a desk 8 hours west of UTC

``--verbose`` adds, for each run: its false alerts by detector and their first reasons, each
scenario's merchants and delay, and the malicious actors missed (``scenario:actor``: one of
a pair is missed while the scenario row counts the pair caught).

Sizes of the simulator: ``xlarge`` is 250 agents, 2,500 merchants, 30 days (the top of
the 10-250 agents detection is built for); ``large`` 150 agents, 1,500 merchants, 40 days;
``medium`` 60 agents, 600 merchants, 40 days; ``compact`` 30 agents, 300 merchants, 25 days
(in groups of scenarios, as small); ``small`` is 10-20 agents (by seed), 120 merchants, 30
days (``desk`` is measured at every size but small, ``shop`` small only). Of ``world2``:
``xlarge`` 250 agents, 2,500 merchants, 30 days; ``large`` 180, 1,500, 40; ``medium`` 60,
500, 25; ``compact`` 30, 300, 20 (one insider or pair at a time, as small); ``small`` 10-20
agents, 120 merchants, 12-20 days (by seed). Of ``world3``: ``xlarge`` 250 agents, 2,200
merchants, 30 days; ``large`` 150, 1,300, 35; ``medium`` 60, 550, 28; ``compact`` 30, 260, 24
(one insider or pair at a time, as small); ``small`` 10-20 agents, 90 merchants, 18-28 days (by
seed); each with a few temporary staff for its promotion week.
``holdout`` is never used to tune the detectors; ``world2`` checks every change (kept only if
it holds on both generators) and fits no threshold; ``world3`` is for evaluation only (never
looked at while changing the detectors).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from sentinelle.detect import DetectConfig, Engine, Severity
from sentinelle.events import AccessEvent, decode_event, time_us
from sentinelle.sim import PROFILES, SimulationError, simulate
from sentinelle.timeutil import DAY, HOUR, iso, parse_time

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import world2
import world3

WORLD2 = "world2"
WORLD3 = "world3"
GENERATORS = {WORLD2: world2, WORLD3: world3}  # generators of their own (tests/), by profile

SIZES: dict[str, dict[str, int]] = {
    "xlarge": {"merchants": 2500, "agents": 250, "days": 30},
    "large": {"merchants": 1500, "agents": 150, "days": 40},
    "medium": {"merchants": 600, "agents": 60, "days": 40},
    "compact": {"merchants": 300, "agents": 30, "days": 25},  # between small and medium
    "small": {"merchants": 120, "agents": 0, "days": 30},  # agents: by seed, 10-20
}
SMALL_AGENTS = (12, 16, 10, 20, 14, 18, 11, 15)
GROUPS = (
    ("pair_harvest", "low_and_slow", "fake_tickets"),
    ("departing_export", "compromised_account", "vip_snooping"),
)
BUDGETS = (1, 2, 3, 5, 10)
BIG = ("xlarge", "large", "medium")  # all scenarios at once (small: in groups)


def size_of(name: str, seed: int) -> dict[str, int]:
    size = dict(SIZES[name])
    if not size["agents"]:
        size["agents"] = SMALL_AGENTS[(seed - 1) % len(SMALL_AGENTS)]
    return size


def jobs(profile: str, size: str, seed: int) -> list[tuple[str, str, int, tuple[str, ...]]]:
    """The simulations of one run: all scenarios at once, or groups that fit the staff."""
    if profile in GENERATORS:  # a small team has one insider (or one pair) at a time
        scenarios = GENERATORS[profile].SCENARIOS
        if size in ("small", "compact"):
            return [(profile, size, seed, (name,)) for name in scenarios]
        return [(profile, size, seed, scenarios)]
    if size in BIG:
        return [(profile, size, seed, ("all",))]
    out = []
    for group in GROUPS:
        try:
            _fits((profile, size, seed, group))
            out.append((profile, size, seed, group))
        except SimulationError:
            for name in group:
                try:
                    _fits((profile, size, seed, (name,)))
                    out.append((profile, size, seed, (name,)))
                except SimulationError:
                    print(f"  ({profile}/{size}/seed {seed}: {name} does not fit the staff)")
    return out


def _fits(job: tuple[str, str, int, tuple[str, ...]]) -> None:
    """Raise :class:`SimulationError` when the job's scenarios do not fit its staff."""
    if os.environ.get("DETECT_BENCH_CACHE"):
        generated(job)  # generated once: kept for the run
    else:
        profile, size, seed, scenarios = job
        simulate(**size_of(size, seed), seed=seed, scenarios=scenarios, profile=profile)


def generated(job: tuple[str, str, int, tuple[str, ...]]) -> tuple[list[bytes], dict[str, Any]]:
    """The events (delivery order) and ground truth of one job, from either generator; kept
    in ``$DETECT_BENCH_CACHE`` (``--cache``) when set, so runs before and after a change read
    the same data without generating it twice."""
    cache = os.environ.get("DETECT_BENCH_CACHE")
    if cache:
        path = Path(cache) / f"{job[0]}-{job[1]}-{job[2]}-{'+'.join(job[3])}.pickle"
        if path.exists():
            return pickle.loads(path.read_bytes())
        out = _generate(job)
        path.parent.mkdir(parents=True, exist_ok=True)  # $DETECT_BENCH_CACHE set by hand
        part = path.with_suffix(f".{os.getpid()}")
        part.write_bytes(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))
        part.replace(path)
        return out
    return _generate(job)


def _generate(job: tuple[str, str, int, tuple[str, ...]]) -> tuple[list[bytes], dict[str, Any]]:
    profile, size, seed, scenarios = job
    if profile in GENERATORS:
        return GENERATORS[profile].generate(size, seed, scenarios)
    sim = simulate(**size_of(size, seed), seed=seed, scenarios=scenarios, profile=profile)
    return list(sim.lines()), sim.truth


def selected(profiles: str, sizes: str, seeds: str) -> list[tuple[str, str, int, tuple[str, ...]]]:
    """The jobs of ``--profiles``, ``--sizes`` and ``--seeds`` (each comma-separated), in that
    order: ``desk`` is measured at every size but small, ``shop`` small only, ``world2`` and
    ``world3`` at their own sizes."""
    todo = []
    for profile in profiles.split(","):
        for size in sizes.split(","):
            if profile == "shop" and size != "small":
                continue  # the small team's profile
            if profile == "desk" and size == "small":
                continue
            if size not in (GENERATORS[profile].SIZES if profile in GENERATORS else SIZES):
                continue
            for seed in seeds.split(","):
                todo += jobs(profile, size, int(seed))
    return todo


def scenario_rows(
    truth: dict[str, Any], access: dict[str, AccessEvent], alert_times: dict[str, list[int]]
) -> list[dict[str, Any]]:
    """Per scenario of ``truth``: caught (a medium+ alert about one of its actors, at the times
    ``alert_times`` gives, from a day before it started on), the merchants its actors reached
    up to that alert (all of them if never) and the delay after its start."""
    rows = []
    for s in truth["scenarios"]:
        start = parse_time(s["start"])
        # The first medium+ alert from a day before the scenario on (earlier ones are false).
        hits = [t for a in s["actors"] for t in alert_times.get(a, ()) if t >= start - DAY]
        first = min(hits) if hits else None
        seen: dict[str, set[str]] = defaultdict(set)
        for event_id in s["events"]:
            event = access[event_id]
            if first is None or time_us(event) <= first:
                seen[event.actor.id].add(event.merchant)
        rows.append(
            {
                "scenario": s["name"],
                "caught": first is not None,
                "merchants": max((len(v) for v in seen.values()), default=0),
                "delay_h": (first - start) / 3.6e9 if first is not None else None,
            }
        )
    return rows


def benign_times(truth: dict[str, Any]) -> dict[str, int]:
    """When each malicious actor of ``truth`` stops being benign: a day before their first
    scenario starts. An alert about them raised earlier is as false as any other (and may hide
    their later one behind it)."""
    until: dict[str, int] = {}
    for s in truth["scenarios"]:
        start = parse_time(s["start"]) - DAY
        for a in s["actors"]:
            until[a] = min(until.get(a, start), start)
    return until


def benign_actor_days(access: dict[str, AccessEvent], benign_until: dict[str, int]) -> int:
    """The (actor, UTC day) pairs of staff with an access while benign: any day of an actor
    outside ``benign_until``, a malicious actor's days before the time it gives (a day before
    their scenario started). The denominator of false alerts."""
    return len(
        {
            (e.actor.id, time_us(e) // DAY)
            for e in access.values()
            if e.actor.kind == "staff" and time_us(e) < benign_until.get(e.actor.id, 1 << 62)
        }
    )


#: What ``--drop`` can remove: optional fields of the access events' actor, and of the events
#: (``resource``: what each access showed, a list or a record, and how many);
#: ``assigned``: the ``ticket.assigned`` events, their first assignee named by ``ticket.opened``
#: (``actor``) instead, as help desks that send one event per ticket do; and whole feeds of
#: context events a platform may not have connected (``FEEDS``).
ACTOR_FIELDS = ("team", "role")
EVENT_FIELDS = ("subjects", "source", "resource")
ASSIGNED = "assigned"
#: ``assignees``: no ticket event names an assignee (a help desk whose feed says a ticket was
#: opened and closed, not who works it).
ASSIGNEES = "assignees"
#: Optional fields of the ticket events a help desk may not send: the merchant a ticket is
#: about (a desk that does not map its organisations to the platform's merchants) and who
#: opened it (``by``).
TICKET_FIELDS = {"ticket_merchant": "merchant", "opened_by": "by"}
FEEDS = {
    "closed": ("ticket.closed",),  # a help desk whose closings are not sent
    "staff": ("staff.",),  # no HR feed: no joiners, role changes, notices or leavers
    "tickets": ("ticket.",),  # no help-desk feed at all: cited tickets are never known
}


def without(lines: list[bytes], fields: tuple[str, ...]) -> list[bytes]:
    """``lines`` with ``fields`` removed from every access event (``--drop team``: an access
    log that names no team; ``subjects``: no customer ids), with ``assigned``, the
    tickets' assignments folded into their opening, with ``assignees`` none named, without the
    ticket events' fields named (:data:`TICKET_FIELDS`) and without the context events of the
    feeds named (:data:`FEEDS`)."""
    types = tuple(t for name in fields for t in FEEDS.get(name, ()))
    events = [json.loads(line) for line in lines]
    if ASSIGNEES in fields:
        types += ("ticket.assigned",)
    if types:
        events = [e for e in events if not str(e.get("type", "")).startswith(types)]
    first: dict[str, str] = {}
    if ASSIGNED in fields:
        for event in events:
            if event.get("type") == "ticket.assigned" and "actor" in event:
                first.setdefault(event["ticket"], event["actor"])
    out = []
    for event in events:
        if first:
            if event.get("type") == "ticket.assigned":
                continue
            if event.get("type") == "ticket.opened" and event.get("ticket") in first:
                event["actor"] = first[event["ticket"]]
        if "action" in event:
            actor = event.get("actor")
            for name in fields:
                if name in ACTOR_FIELDS and isinstance(actor, dict):
                    actor.pop(name, None)
                elif name in EVENT_FIELDS:
                    event.pop(name, None)
        elif str(event.get("type", "")).startswith("ticket."):
            for name in fields:
                if name in TICKET_FIELDS:
                    event.pop(TICKET_FIELDS[name], None)
                elif name == ASSIGNEES:
                    event.pop("actor", None)
        out.append(json.dumps(event).encode())
    return out


def _moved(value: str, hours: float) -> str:
    return iso(parse_time(value) + round(hours * HOUR))


def shifted(
    lines: list[bytes], truth: dict[str, Any], hours: float
) -> tuple[list[bytes], dict[str, Any]]:
    """``lines`` and ``truth`` with every time moved by ``hours`` (``--shift``): the same desk
    in another time zone, whose working day crosses UTC midnight (8: a Californian desk's 9-to-5
    is 17:00-01:00 UTC). The order of delivery is kept."""
    out = []
    for line in lines:
        event = json.loads(line)
        for name in ("time", "expires"):
            if isinstance(event.get(name), str):
                event[name] = _moved(event[name], hours)
        out.append(json.dumps(event).encode())
    truth = {
        **truth,
        "start": _moved(truth["start"], hours),
        "end": _moved(truth["end"], hours),
        "scenarios": [
            {**s, **{k: _moved(s[k], hours) for k in ("start", "end") if isinstance(s.get(k), str)}}
            for s in truth["scenarios"]
        ],
    }
    return out, truth


def evaluate(
    job: tuple[str, str, int, tuple[str, ...]],
    config: DetectConfig | None,
    drop: tuple[str, ...] = (),
    shift: float = 0,
) -> dict[str, Any]:
    profile, size, seed, scenarios = job
    lines, truth = generated(job)
    if drop:
        lines = without(lines, drop)
    if shift:
        lines, truth = shifted(lines, truth, shift)
    events = [decode_event(line) for line in lines]  # in delivery order
    try:
        engine = Engine(config, high_profile=truth["high_profile_customers"])
    except TypeError:  # an engine without high-profile customers (before issue 13)
        engine = Engine(config)
    t0 = time.perf_counter()
    final: dict[str, Any] = {}
    raised: dict[str, int] = {}  # alert id → when it first reached medium (an event's time)
    for event in events:
        for a in engine.process(event):
            final[a.id] = a
            if a.severity >= Severity.MEDIUM and a.id not in raised:
                raised[a.id] = max(a.last_us, time_us(event))
    alerts = list(final.values())
    detect_s = time.perf_counter() - t0
    serious = [a for a in alerts if a.severity >= Severity.MEDIUM]
    malicious = {a for s in truth["scenarios"] for a in s["actors"]}
    alert_times: dict[str, list[int]] = defaultdict(list)
    for a in serious:
        alert_times[a.actor].append(raised[a.id])
    access = {e.id: e for e in events if isinstance(e, AccessEvent)}
    rows = scenario_rows(truth, access, alert_times)
    benign_until = benign_times(truth)
    false_alerts = [a for a in serious if raised[a.id] < benign_until.get(a.actor, 1 << 62)]
    # Each scenario's actors, caught when alerted from a day before it started on.
    flagged = [
        (f"{s['name']}:{a}", any(t >= start - DAY for t in alert_times.get(a, ())))
        for s in truth["scenarios"]
        for start in (parse_time(s["start"]),)
        for a in s["actors"]
    ]
    missed = sorted(who for who, caught in flagged if not caught)
    # Alert budget: the top N alerts of each day, by severity then score.
    by_day: dict[int, list[tuple[int, float, str]]] = defaultdict(list)
    for a in alerts:
        by_day[a.time_us // DAY].append((int(a.severity), a.score, a.actor, a.time_us))  # type: ignore[arg-type]
    budget = {}
    for n in BUDGETS:
        caught = set()
        for day_alerts in by_day.values():
            for _, _, actor, t in sorted(day_alerts, reverse=True)[:n]:  # type: ignore[misc]
                if actor in benign_until and t >= benign_until[actor]:
                    caught.add(actor)
        budget[n] = len(caught)
    return {
        "profile": profile,
        "size": size,
        "seed": seed,
        "agents": truth["agents"],
        "events": len(events),
        "detect_s": detect_s,
        "rows": rows,
        "malicious": len(malicious),
        "caught": len(flagged) - len(missed),
        "missed": missed,
        "actor_days": benign_actor_days(access, benign_until),
        "days": truth and (parse_time(truth["end"]) - parse_time(truth["start"])) // DAY,
        "false": len(false_alerts),
        "benign_alerted": sorted({a.actor for a in false_alerts}),
        "false_by_detector": dict(
            sorted(
                (d, sum(1 for a in false_alerts if a.detector == d))
                for d in {a.detector for a in false_alerts}
            )
        ),
        "examples": [a.reasons[0] for a in false_alerts][:5],
        "budget": budget,
    }


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(results: list[dict[str, Any]], verbose: bool) -> None:
    keys = sorted({(r["profile"], r["size"]) for r in results}, key=lambda k: (k[1], k[0]))

    def label(key: tuple[str, str]) -> str:
        held = {WORLD2: " (other generator)", WORLD3: " (third generator)"}.get(key[0], "")
        held = held or ("" if PROFILES[key[0]].tuned else " (held out)")
        return f"{key[0]}{held} / {key[1]}"

    print("\n### Per scenario: merchants reached up to the first medium+ alert, and the delay\n")
    print(
        "| profile / size | scenario | caught | before 5th merchant | merchants (median, worst) "
        "| delay h (median, worst) |"
    )
    print("|---|---|---|---|---|---|")
    runs = early_runs = caught_runs = 0
    for key in keys:
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in results:
            if (r["profile"], r["size"]) == key:
                for row in r["rows"]:
                    rows[row["scenario"]].append(row)
        for name, found in rows.items():
            caught = [x for x in found if x["caught"]]
            merchants = [x["merchants"] for x in found]  # a miss counts all it reached
            delays = [x["delay_h"] for x in caught]
            worst_delay = f"{max(delays):.0f}" if delays else "—"
            early = sum(1 for x in caught if x["merchants"] <= 4)
            runs += len(found)
            early_runs += early
            caught_runs += len(caught)
            print(
                f"| {label(key)} | {name} | {len(caught)}/{len(found)} | {early}/{len(found)} | "
                f"{_median(merchants):g}, {max(merchants)}"
                f"{'' if len(caught) == len(found) else ' (missed: all)'} | "
                f"{_median(delays):.0f}, {worst_delay} |"
            )
    if runs:
        print(
            f"\nScenario runs caught: {caught_runs} of {runs}; before the 5th merchant: "
            f"{early_runs} of {runs} ({early_runs / runs:.0%})."
        )
    print("\n### False medium+ alerts (benign staff) and recall\n")
    print(
        "| profile / size | runs | agents | recall (malicious actors) | false medium+ per 100 "
        "actor-days | benign actors alerted | by detector |"
    )
    print("|---|---|---|---|---|---|---|")
    for key in keys:
        rs = [r for r in results if (r["profile"], r["size"]) == key]
        by_det: dict[str, int] = defaultdict(int)
        for r in rs:
            for d, n in r["false_by_detector"].items():
                by_det[d] += n
        agents = sorted({r["agents"] for r in rs})
        alerted = sum(len(r["benign_alerted"]) for r in rs)
        print(
            f"| {label(key)} | {len(rs)} | {agents[0]}–{agents[-1]} | "
            f"{sum(r['caught'] for r in rs)}/{sum(r['malicious'] for r in rs)} | "
            f"{100 * sum(r['false'] for r in rs) / max(1, sum(r['actor_days'] for r in rs)):.2f} | "
            f"{alerted} | {dict(sorted(by_det.items())) or '—'} |"
        )
    print("\n### Alert budget: malicious actors caught reading only the top N alerts a day\n")
    print("| profile / size | " + " | ".join(f"top {n}/day" for n in BUDGETS) + " |")
    print("|---|" + "---|" * len(BUDGETS))
    for key in keys:
        rs = [r for r in results if (r["profile"], r["size"]) == key]
        total = sum(r["malicious"] for r in rs)
        cells = [f"{sum(r['budget'][n] for r in rs) / max(1, total):.0%}" for n in BUDGETS]
        print(f"| {label(key)} | " + " | ".join(cells) + " |")
    events = sum(r["events"] for r in results)
    seconds = sum(r["detect_s"] for r in results)
    print(f"\n{events:,} events through detection at {events / seconds:,.0f} events/s")
    if verbose:
        for r in results:
            print(
                f"\n{r['profile']}/{r['size']}/seed {r['seed']} ({r['agents']} agents): "
                f"false {r['false']} over {r['actor_days']} actor-days, "
                f"{r['false_by_detector']}"
            )
            for row in r["rows"]:
                delay = f"{row['delay_h']:.0f} h" if row["caught"] else "MISSED"
                print(f"   {row['scenario']}: {row['merchants']} merchants, {delay}")
            if r["missed"]:
                print("   actors missed:", ", ".join(r["missed"]))
            for ex in r["examples"]:
                print("   -", ex[:300])


def latency() -> tuple[float, float]:
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
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument(
        "--profiles",
        default=f"desk,shop,holdout,{WORLD2}",
        help=f"simulator profiles, {WORLD2} (the second generator, tests/world2.py) and "
        f"{WORLD3} (the third, tests/world3.py; not in the default)",
    )
    parser.add_argument("--sizes", default="large,small")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--cache", type=Path, help="keep generated events here and reuse them (large: ~1 GB a run)"
    )
    parser.add_argument(
        "--drop",
        default="",
        help="optional fields removed from every access event first, comma-separated: the "
        "actor's team and role, the event's subjects, source and resource (an access log that "
        "does not name them); assigned: the ticket.assigned events, ticket.opened naming the assignee; "
        "assignees: no ticket event naming an assignee; ticket_merchant, opened_by: the ticket "
        "events' merchant or by; closed, staff, tickets: every ticket.closed, staff.* or "
        "ticket.* event (a feed not connected)",
    )
    parser.add_argument(
        "--shift",
        type=float,
        default=0,
        help="hours every time is moved by first (a desk in another time zone: 8 puts a 9-to-5 "
        "at 17:00-01:00 UTC)",
    )
    args = parser.parse_args()
    drop = tuple(f for f in args.drop.split(",") if f)
    choices = (*ACTOR_FIELDS, *EVENT_FIELDS, ASSIGNED, ASSIGNEES, *TICKET_FIELDS, *FEEDS)
    if not set(drop) <= set(choices):
        parser.error(f"--drop takes {', '.join(choices)}, not {args.drop!r}")
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
        os.environ["DETECT_BENCH_CACHE"] = str(args.cache)  # read by the worker processes
    config = DetectConfig.from_toml(args.config) if args.config else None
    todo = selected(args.profiles, args.sizes, args.seeds)
    todo.sort(key=lambda j: BIG.index(j[1]) if j[1] in BIG else len(BIG))  # long ones first
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(
            pool.map(
                evaluate, todo, [config] * len(todo), [drop] * len(todo), [args.shift] * len(todo)
            )
        )
    # Small runs in groups: one row per seed, merged.
    merged: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in results:
        key = (r["profile"], r["size"], r["seed"])
        if key not in merged:
            merged[key] = r
            continue
        m = merged[key]
        for field in ("events", "detect_s", "malicious", "caught", "actor_days", "false"):
            m[field] += r[field]
        m["rows"] += r["rows"]
        m["missed"] += r["missed"]
        m["benign_alerted"] = sorted(set(m["benign_alerted"]) | set(r["benign_alerted"]))
        for d, n in r["false_by_detector"].items():
            m["false_by_detector"][d] = m["false_by_detector"].get(d, 0) + n
        m["examples"] += r["examples"]
        for n in BUDGETS:
            m["budget"][n] += r["budget"][n]
    report(list(merged.values()), args.verbose)
    if args.latency:
        p50, p99 = latency()
        print(
            f"\ningest-to-alert latency, batches of 500 events (SQLite): p50 "
            f"{p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
