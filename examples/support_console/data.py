"""Fake shop data, generated: customers, orders and support tickets of two merchants.

No real personal data: names are made up, e-mails use ``example.com`` (RFC 2606) and phone
numbers the ``555-01xx`` range reserved for fiction.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

FIRST = ("Alex", "Sam", "Robin", "Charlie", "Jules", "Camille", "Noa", "Lou", "Sacha", "Eden")
LAST = ("Example", "Sample", "Placeholder", "Fictive", "Demo", "Testa", "Mock", "Dummy")
CITIES = (("Lyon", "FR"), ("Lille", "FR"), ("Gent", "BE"), ("Porto", "PT"), ("Bonn", "DE"))
PRODUCTS = ("mug", "t-shirt", "poster", "notebook", "lamp", "backpack")


@dataclass(frozen=True, slots=True)
class Ticket:
    """A support ticket: which merchant's customer it is about, who handles it, why."""

    id: str
    merchant: str
    customer: str
    assignee: str
    purpose: str
    state: str = "open"

    def to_dict(self) -> dict[str, str]:
        """The ticket as the console lists it (ids only, no personal data)."""
        return {
            "id": self.id,
            "merchant": self.merchant,
            "customer": self.customer,
            "assignee": self.assignee,
            "purpose": self.purpose,
            "state": self.state,
        }


@dataclass
class Shop:
    """Customers (with their orders) by merchant, and tickets by id."""

    customers: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    tickets: dict[str, Ticket] = field(default_factory=dict)

    def customer_list(self, merchant: str, limit: int) -> list[dict[str, Any]]:
        """The first ``limit`` customers of ``merchant``, without their orders."""
        rows = list(self.customers.get(merchant, {}).values())[: max(limit, 0)]
        return [{k: v for k, v in row.items() if k not in ("orders", "card_last4")} for row in rows]

    def count(self, merchant: str) -> int:
        """How many customers ``merchant`` has."""
        return len(self.customers.get(merchant, {}))


def generate(seed: int = 7, sizes: dict[str, int] | None = None) -> Shop:
    """A shop with ``sizes`` customers per merchant (default m-1: 40, m-2: 25) and tickets."""
    rng = random.Random(seed)  # noqa: S311 - fake data, not a secret
    shop = Shop()
    for merchant, size in (sizes or {"m-1": 40, "m-2": 25}).items():
        people: dict[str, dict[str, Any]] = {}
        for n in range(1, size + 1):
            cid = f"c-{merchant}-{n:04d}"
            city, country = rng.choice(CITIES)
            orders = [
                {
                    "id": f"o-{merchant}-{n:04d}-{k}",
                    "item": rng.choice(PRODUCTS),
                    "total_eur": round(rng.uniform(5, 120), 2),
                }
                for k in range(1, rng.randint(1, 3) + 1)
            ]
            people[cid] = {
                "id": cid,
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "email": f"{cid}@example.com",
                "phone": f"+1 555 01{n % 100:02d}",
                "street": f"{rng.randint(1, 99)} Example Street",
                "city": city,
                "postcode": f"{rng.randint(10000, 99999)}",
                "country": country,
                "card_last4": f"{rng.randint(0, 9999):04d}",
                "orders": orders,
            }
        shop.customers[merchant] = people
    for ticket in (
        Ticket("T-100", "m-1", "c-m-1-0001", "agent-1", "shipping_question"),
        Ticket("T-101", "m-1", "c-m-1-0002", "agent-1", "refund"),
        Ticket("T-102", "m-1", "c-m-1-0003", "agent-1", "general", state="closed"),
        Ticket("T-200", "m-2", "c-m-2-0001", "agent-2", "order_question"),
    ):
        shop.tickets[ticket.id] = ticket
    return shop
