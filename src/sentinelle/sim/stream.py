"""A small, deterministic stream of support activity: tickets, the accesses they justify,
some unticketed looks, app reads through the API and a monthly export.

This is the seed of the full simulator (detection issue); it already produces events that
are valid per the contracts and shaped like a real support operation.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

__all__ = ["generate_events"]

_TEAMS = ("tier1", "tier1", "tier1", "tier2", "billing", "fraud", "onboarding")
_COUNTRIES = ("FR", "FR", "DE", "ES", "PT", "IE")


def generate_events(
    *,
    events: int,
    merchants: int = 200,
    agents: int = 30,
    seed: int = 1,
    start: dt.datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """About ``events`` access and context events, in time order, as JSON-ready dicts."""
    rng = random.Random(seed)  # noqa: S311  (a simulation, not cryptography)
    t = start or dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
    staff = [
        {
            "id": f"agent-{i}",
            "team": rng.choice(_TEAMS),
            "device": f"laptop-{i}",
            "country": rng.choice(_COUNTRIES),
        }
        for i in range(1, agents + 1)
    ]
    # Heavy-tailed customer bases: a few large merchants, many small ones.
    sizes = [max(5, int(rng.paretovariate(1.2) * 40)) for _ in range(merchants)]
    n = 0
    ticket_no = 0

    def stamp() -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    while n < events:
        t += dt.timedelta(seconds=rng.expovariate(1 / 20))
        roll = rng.random()
        m = rng.randrange(merchants)
        merchant = f"m-{1000 + m}"
        if roll < 0.8:  # a support ticket, worked by an agent
            ticket_no += 1
            ticket = f"T-{ticket_no}"
            agent = rng.choice(staff)
            yield {
                "id": f"ctx-{ticket}-o",
                "time": stamp(),
                "type": "ticket.opened",
                "ticket": ticket,
                "merchant": merchant,
            }
            yield {
                "id": f"ctx-{ticket}-a",
                "time": stamp(),
                "type": "ticket.assigned",
                "ticket": ticket,
                "merchant": merchant,
                "actor": agent["id"],
            }
            n += 2
            for _ in range(rng.randint(1, 4)):
                t += dt.timedelta(seconds=rng.randint(10, 300))
                customer = f"c-{m}-{rng.randrange(sizes[m])}"
                kind = rng.choice(("order", "customer"))
                yield _access(n, stamp(), agent, merchant, "view", kind, [customer], ticket)
                n += 1
            yield {
                "id": f"ctx-{ticket}-c",
                "time": stamp(),
                "type": "ticket.closed",
                "ticket": ticket,
                "merchant": merchant,
            }
            n += 1
        elif roll < 0.95:  # an app reading orders through the API
            customers = [f"c-{m}-{rng.randrange(sizes[m])}" for _ in range(rng.randint(1, 5))]
            app = {"id": f"app-{m % 17}", "kind": "app"}
            yield {
                "id": f"evt-{n:08d}",
                "time": stamp(),
                "actor": app,
                "action": "view",
                "merchant": merchant,
                "resource": {"type": "order", "count": len(customers)},
                "subjects": sorted(set(customers)),
                "data": ["contact", "address", "order_details"],
                "channel": "api",
                "outcome": "allowed",
            }
            n += 1
        elif roll < 0.99:  # an unticketed look
            agent = rng.choice(staff)
            yield _access(
                n,
                stamp(),
                agent,
                merchant,
                "view",
                "customer",
                [f"c-{m}-{rng.randrange(sizes[m])}"],
                None,
            )
            n += 1
        else:  # a merchant's monthly export, run by billing
            agent = next((a for a in staff if a["team"] == "billing"), staff[0])
            count = sizes[m]
            yield {
                "id": f"evt-{n:08d}",
                "time": stamp(),
                "actor": {
                    "id": agent["id"],
                    "kind": "staff",
                    "role": "support",
                    "team": agent["team"],
                },
                "action": "export",
                "merchant": merchant,
                "resource": {"type": "customer_list", "count": count},
                "subjects": [f"c-{m}-{i}" for i in range(count)],
                "data": ["contact", "address"],
                "channel": "export",
                "justification": {"reason": "monthly_export"},
                "source": {"device": agent["device"], "country": agent["country"]},
                "outcome": "allowed",
            }
            n += 1


def _access(
    n: int,
    time: str,
    agent: dict[str, str],
    merchant: str,
    action: str,
    kind: str,
    subjects: list[str],
    ticket: str | None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": f"evt-{n:08d}",
        "time": time,
        "actor": {"id": agent["id"], "kind": "staff", "role": "support", "team": agent["team"]},
        "action": action,
        "merchant": merchant,
        "resource": {"type": kind, "count": len(subjects)},
        "subjects": subjects,
        "data": ["contact", "address", "order_details"]
        if kind == "order"
        else ["contact", "address"],
        "channel": "support_console",
        "source": {"ip": "198.51.100.7", "device": agent["device"], "country": agent["country"]},
        "outcome": "allowed",
    }
    if ticket:
        event["justification"] = {"ticket": ticket, "reason": "customer_request"}
    return event
