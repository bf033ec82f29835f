"""Guard decisions in process: decisions per second and latency percentiles, with 10,000 live
grants (and, to show the cost is flat, 1,000 and 100,000) spread over the actor population.

Grants are indexed by ``(actor, merchant)``, as the decision endpoint will index them, so a
decision looks at the few grants of its actor at its merchant. The mix is what a support
operation asks: mostly single views on an open ticket, some views denied (another merchant's
ticket, none), exports with a covering grant, exports pending, bulk lists, and break-glass.
Prints, per grant count: decisions/s, p50 / p99 / max of ``decide`` alone, and p50 / p99 of
decoding the JSON request plus deciding (what the endpoint does in process).

    .venv/bin/python benchmarks/guard.py                 # 200,000 decisions per grant count
    .venv/bin/python benchmarks/guard.py --decisions 50000 --grants 10000
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections import defaultdict
from pathlib import Path

import msgspec

from sentinelle.guard import (
    AccessRequest,
    GrantView,
    TicketView,
    decide,
    load_policy,
    parse_request,
)
from sentinelle.timeutil import HOUR

POLICY = load_policy(Path(__file__).parents[1] / "conf" / "guard.example.toml")
NOW = 1_800_000_000 * 10**6
ACTORS = 1000
MERCHANTS = 2000


def world(grants: int, seed: int = 1) -> dict[tuple[str, str], tuple[GrantView, ...]]:
    """``grants`` live, approved grants over the actors and merchants, indexed: one per actor
    at m-1 (the exports below use it), the rest at random."""
    rng = random.Random(seed)
    index: dict[tuple[str, str], list[GrantView]] = defaultdict(list)
    for i in range(max(0, grants - ACTORS)):
        actor = f"agent-{rng.randrange(ACTORS)}"
        merchant = f"m-{rng.randrange(MERCHANTS)}"
        index[(actor, merchant)].append(
            GrantView(
                id=f"g-{i}",
                actor=actor,
                merchant=merchant,
                actions=frozenset(rng.sample(["view", "search", "export", "download"], 2)),
                categories=frozenset({"contact", "address", "order_details"}),
                max_records=rng.choice([100, 1000, 10_000]),
                state="approved",
                expires_us=NOW + rng.randrange(1, 8) * HOUR,
                approvals=frozenset({"merchant"}),
            )
        )
    # the actors used below always hold one grant at m-1, for the export-with-grant case
    for a in range(ACTORS):
        actor = f"agent-{a}"
        index[(actor, "m-1")].append(
            GrantView(
                id=f"g-m1-{a}",
                actor=actor,
                merchant="m-1",
                actions=frozenset({"export"}),
                categories=frozenset({"contact", "address", "order_details"}),
                max_records=5000,
                state="approved",
                expires_us=NOW + 4 * HOUR,
                approvals=frozenset({"merchant"}),
            )
        )
    return {k: tuple(v) for k, v in index.items()}


def cases(n: int, seed: int = 2) -> list[tuple[AccessRequest, TicketView | None]]:
    rng = random.Random(seed)
    out: list[tuple[AccessRequest, TicketView | None]] = []
    for _ in range(n):
        actor = f"agent-{rng.randrange(ACTORS)}"
        merchant = f"m-{rng.randrange(2, MERCHANTS)}"
        team, role = rng.choice([("tier1", None), ("tier1", "lead"), ("tier2", None)])
        ticket = TicketView(
            id="T-42", state="open", merchant=merchant, assignees=frozenset({actor})
        )
        roll = rng.random()
        base = {"actor": actor, "team": team, "role": role, "channel": "support_console"}
        if roll < 0.70:  # the common case: a view on one's open ticket
            req = AccessRequest(
                **base,
                merchant=merchant,
                action="view",
                data=("address", "contact", "payment_partial"),
                ticket="T-42",
                purpose="shipping_question",
            )
        elif roll < 0.80:  # another merchant's ticket
            req = AccessRequest(
                **base, merchant="m-9999", action="view", data=("contact",), ticket="T-42"
            )
        elif roll < 0.88:  # an export covered by a grant (tier1 agents: denied by role)
            req = AccessRequest(
                **(base | {"channel": "export", "team": "tier2", "role": None}),
                merchant="m-1",
                action="export",
                data=("contact", "address"),
                count=2000,
                purpose="merchant_request",
            )
            ticket = None
        elif roll < 0.95:  # a bulk list without a grant: pending
            req = AccessRequest(
                **base,
                merchant=merchant,
                action="search",
                data=("contact", "order_details"),
                count=250,
                ticket="T-42",
            )
        else:  # break-glass
            req = AccessRequest(
                **base,
                merchant=merchant,
                action="view",
                data=("contact",),
                break_glass="customer locked out during an account takeover",
            )
            ticket = None
        out.append((req, ticket))
    return out


def percentile(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000  # µs


def run(grants: int, decisions: int) -> None:
    index = world(grants)
    live = sum(len(v) for v in index.values())
    work = cases(decisions)
    raws = [msgspec.json.encode(req) for req, _ in work[: min(decisions, 50_000)]]
    empty: tuple[GrantView, ...] = ()
    counts: dict[str, int] = defaultdict(int)
    gc.collect()
    gc.disable()
    try:
        # warm up
        for req, ticket in work[:2000]:
            decide(POLICY, req, ticket=ticket, grants=index.get((req.actor, req.merchant), empty),
                   suspended=False, now_us=NOW)  # fmt: skip
        times: list[int] = []
        clock = time.perf_counter_ns
        start = clock()
        for req, ticket in work:
            t0 = clock()
            d = decide(
                POLICY,
                req,
                ticket=ticket,
                grants=index.get((req.actor, req.merchant), empty),
                suspended=False,
                now_us=NOW,
            )
            times.append(clock() - t0)
            counts[d.decision] += 1
        total = clock() - start
        with_decode: list[int] = []
        for raw, (_, ticket) in zip(raws, work, strict=False):
            t0 = clock()
            req = parse_request(raw)
            decide(POLICY, req, ticket=ticket, grants=index.get((req.actor, req.merchant), empty),
                   suspended=False, now_us=NOW)  # fmt: skip
            with_decode.append(clock() - t0)
    finally:
        gc.enable()
    times.sort()
    with_decode.sort()
    mix = ", ".join(f"{k} {v * 100 / len(work):.0f}%" for k, v in sorted(counts.items()))
    print(
        f"{live:>7,} live grants | {len(work) / (total / 1e9):>9,.0f} decisions/s | decide p50 "
        f"{percentile(times, 0.5):.1f} µs, p99 {percentile(times, 0.99):.1f} µs, max "
        f"{times[-1] / 1000:.0f} µs | decode + decide p50 {percentile(with_decode, 0.5):.1f} µs, "
        f"p99 {percentile(with_decode, 0.99):.1f} µs | {mix}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--grants", type=str, default="1000,10000,100000")
    args = parser.parse_args()
    print(f"guard: {args.decisions:,} decisions per run, goal p99 < 200 µs, flat in grants")
    for grants in (int(g) for g in args.grants.split(",")):
        run(grants, args.decisions)


if __name__ == "__main__":
    main()
