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

``--http`` sends the decisions over loopback HTTP instead, from 8 concurrent keep-alive
connections of a light asyncio client (raw sockets, requests encoded beforehand, so the
client costs the shared cores little), against ``sentinelle``'s API in a uvicorn subprocess —
and, right before, the same client against a bare route of the same uvicorn that only reads
the body and answers: the baseline, what HTTP alone costs on this host.

    .venv/bin/python benchmarks/guard.py --http --grants 10000 --per-client 1000
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


# -- decisions over loopback HTTP (POST /v1/access/decide) -------------------------------------
def _http_world(data_dir: Path, grants: int) -> str:
    """A store with tickets for the agents, ``grants`` live approved grants and a guard key."""
    import json

    from sentinelle.access import Role
    from sentinelle.access.accounts import create_key
    from sentinelle.config import Settings
    from sentinelle.ingest import Ingestor
    from sentinelle.ledger.log import Ledger
    from sentinelle.store import open_store
    from sentinelle.store.grants import GrantRow
    from sentinelle.timeutil import iso, now_us

    settings = Settings(_env_file=None, data_dir=data_dir, database_url=None)
    store = open_store(settings)
    ledger = Ledger.open(store, data_dir=data_dir, origin=settings.log_origin)
    at = iso(now_us() - HOUR)
    events = []
    for a in range(ACTORS):
        t = f"T-{a}"
        events.append(
            {
                "id": f"o-{a}",
                "time": at,
                "type": "ticket.opened",
                "ticket": t,
                "merchant": f"m-{a % 50}",
                "reason": "shipping_question",
            }
        )
        events.append(
            {
                "id": f"s-{a}",
                "time": at,
                "type": "ticket.assigned",
                "ticket": t,
                "merchant": f"m-{a % 50}",
                "actor": f"agent-{a}",
            }
        )
    Ingestor(store, ledger).ingest((i, json.dumps(e)) for i, e in enumerate(events))
    rng = random.Random(3)
    now = now_us()
    with store.writer() as w:
        for i in range(grants):
            actor = f"agent-{i % ACTORS}" if i < ACTORS else f"agent-{rng.randrange(ACTORS)}"
            merchant = "m-1" if i < ACTORS else f"m-{rng.randrange(MERCHANTS)}"
            w.insert_grant(GrantRow(
                f"g-{i}", actor, merchant, '["export"]', '["address", "contact"]', 10_000,
                None, "bench", None, "key:bench", now, '[{"as": "merchant", "by": "shop", '
                f'"at_us": {now}}}]', now + 8 * HOUR, "approved", now,
            ))  # fmt: skip
    key = create_key(store, name="guard-bench", role=Role.GUARD, by="bench")
    store.close()
    return key


def _serve(data_dir: Path | None, port: int) -> None:
    """The API with the example policy on ``data_dir``; without one, the baseline: a bare
    Starlette route on the same uvicorn that reads the body and answers a fixed decision."""
    import uvicorn

    if data_dir is None:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        async def fixed(request: Request) -> Response:
            await request.body()
            return Response(b'{"decision": "allow"}', media_type="application/json")

        async def health(_request: Request) -> Response:
            return Response(b'{"status": "ok"}', media_type="application/json")

        app = Starlette(
            routes=[
                Route("/v1/access/decide", fixed, methods=["POST"]),
                Route("/health", health),
            ]
        )
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
        return
    from sentinelle.api.main import create_app
    from sentinelle.config import Settings

    policy = Path(__file__).parents[1] / "conf" / "guard.example.toml"
    settings = Settings(_env_file=None, data_dir=data_dir, database_url=None, guard_policy=policy)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")


def _requests(key: str, clients: int, per_client: int, tag: str) -> list[list[bytes]]:
    """Each client's requests, as the bytes sent (HTTP/1.1, keep-alive): the mix of
    :func:`http` — ticketed views, 10 % exports under a grant, 5 % another merchant's ticket."""
    requests: list[list[bytes]] = []
    for n in range(clients):
        rng = random.Random(n)
        mine = []
        for i in range(per_client):
            a = rng.randrange(ACTORS)
            body: dict[str, object] = {
                "actor": f"agent-{a}", "team": "tier1", "merchant": f"m-{a % 50}",
                "action": "view", "data": ["address", "contact"], "channel": "support_console",
                "ticket": f"T-{a}", "request_id": f"{tag}-{n}-{i}",
            }  # fmt: skip
            roll = rng.random()
            if roll < 0.10:  # an export covered by the actor's grant at m-1
                body.update(merchant="m-1", action="export", channel="export",
                            count=200, team="tier2", ticket=None)  # fmt: skip
            elif roll < 0.15:  # another merchant's ticket: denied
                body["merchant"] = f"m-{(a + 1) % 50 + 50}"
            raw = msgspec.json.encode(body)
            mine.append(
                b"POST /v1/access/decide HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer " + key.encode() + b"\r\n"
                b"Content-Type: application/json\r\nContent-Length: "
                + str(len(raw)).encode() + b"\r\n\r\n" + raw
            )  # fmt: skip
        requests.append(mine)
    return requests


async def _drive(
    port: int, requests: list[list[bytes]]
) -> tuple[float, list[float], dict[str, int]]:
    """Send each client's requests on its own keep-alive connection, one at a time, all
    clients at once; wall seconds, latencies (ms) and the decisions' counts. The client is
    asyncio over raw sockets, so it costs the shared 2 cores little beside the server."""
    import asyncio

    verdicts: dict[str, int] = defaultdict(int)
    times: list[float] = []

    async def client(mine: list[bytes]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for request in mine:
                t0 = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = head[9:12]
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length)
                times.append((time.perf_counter() - t0) * 1000)
                if status != b"200":
                    raise SystemExit(f"a decision failed: {status.decode()} {body[:200]!r}")
                verdicts[msgspec.json.decode(body)["decision"]] += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(mine) for mine in requests))
    return time.perf_counter() - t0, sorted(times), verdicts


def _line(label: str, wall: float, times: list[float]) -> tuple[float, str]:
    rate = len(times) / wall
    return rate, (
        f"{label}: {rate:8,.0f} decisions/s  p50 {times[len(times) // 2]:.2f} ms  "
        f"p99 {times[int(len(times) * 0.99)]:.2f} ms  max {times[-1]:.1f} ms"
    )


def http(grants: int, clients: int, per_client: int) -> None:
    """Decisions from ``clients`` concurrent keep-alive connections over loopback HTTP against
    a uvicorn subprocess, beside the baseline: the same client against a bare route of the
    same uvicorn (what HTTP alone costs on this host), run right before."""
    import asyncio
    import sys
    import tempfile

    from _server import free_port, server

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        key = _http_world(data_dir, grants)
        port = free_port()
        bare = [sys.executable, __file__, "--serve-baseline", "--port", str(port)]
        with server(bare, port, timeout=60):
            asyncio.run(_drive(port, _requests(key, clients, 50, "warm")))
            wall, times, _ = asyncio.run(_drive(port, _requests(key, clients, per_client, "b")))
        base_rate, base_line = _line("  baseline (bare route, same uvicorn)", wall, times)
        port = free_port()
        command = [sys.executable, __file__, "--serve", str(data_dir), "--port", str(port)]
        with server(command, port, timeout=60):
            asyncio.run(_drive(port, _requests(key, clients, 50, "warm")))
            wall, times, mix = asyncio.run(_drive(port, _requests(key, clients, per_client, "d")))
        rate, line = _line(f"HTTP, {clients} clients, {grants:>7,} live grants", wall, times)
    print(f"{line}  (each recorded in the ledger; {dict(mix)})")
    print(f"{base_line}  (decisions at {rate / base_rate:.0%} of it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--grants", type=str, default="1000,10000,100000")
    parser.add_argument("--http", action="store_true", help="decisions over loopback HTTP")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-client", type=int, default=1000)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None or args.serve_baseline:
        _serve(args.serve, args.port)
        return
    if args.http:
        for grants in (int(g) for g in args.grants.split(",")):
            http(grants, args.clients, args.per_client)
        return
    print(f"guard: {args.decisions:,} decisions per run, goal p99 < 200 µs, flat in grants")
    for grants in (int(g) for g in args.grants.split(",")):
        run(grants, args.decisions)


if __name__ == "__main__":
    main()
