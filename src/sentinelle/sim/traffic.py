"""Machine and merchant traffic: apps and integrations reading orders through the API, and
merchants exporting their own customer lists from their admin.

Apps call when something happens at the shop (more by day than by night, more at peak
times); integrations sync on a fixed schedule. Neither carries a ticket.
"""

from __future__ import annotations

import math
import random
from typing import Any, Final

from sentinelle.sim.calendar import Clock, country_ip
from sentinelle.sim.emit import Emitter
from sentinelle.sim.support import D_LIST_ADDR, D_LIST_ORDER, D_ORDER
from sentinelle.sim.world import Merchant, World

__all__ = ["Traffic", "poisson"]

# Relative activity per UTC hour (merchants are mostly in Europe).
_HOURLY: Final = (1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 8, 8, 8, 7, 7, 6, 6, 5, 4, 3, 2)
_MERCHANT_EXPORT_RATE: Final = 0.004  # per merchant and day


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (Knuth's method; normal approximation for large means)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit = math.exp(-mean)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class Traffic:
    """Generates one UTC day of app, integration and merchant-user events."""

    def __init__(self, *, world: World, clock: Clock, emitter: Emitter, rng: random.Random) -> None:
        self.world = world
        self.clock = clock
        self.emitter = emitter
        self.rng = rng
        self._hours = list(range(24))
        self._user_ips: dict[str, str] = {}

    def day(self, day: int) -> None:
        """All the machine and merchant traffic of window day ``day``."""
        rng = self.rng
        peak = self.world.peak[day]
        midnight = self.clock.day_ts(day)
        fmt = self.clock.fmt
        emit = self.emitter.access
        for app in self.world.apps:
            for merchant, rate in app.installs:
                if app.interval_h:
                    step = app.interval_h * 3600
                    first = midnight + (hash_offset(app.id) % step)
                    for ts in range(first, midnight + 86_400, step):
                        orders = poisson(rng, rate * app.interval_h * peak)
                        if orders:
                            subjects = merchant.sample(rng, min(orders, 100))
                            emit(
                                ts,
                                _api(
                                    fmt(ts),
                                    app.actor,
                                    app.source,
                                    merchant,
                                    "order_list",
                                    orders,
                                    subjects,
                                    "integration",
                                ),
                            )
                    continue
                for _ in range(poisson(rng, rate * peak)):
                    ts = self._time(midnight)
                    if rng.random() < 0.7:
                        subjects = [merchant.any_customer(rng)]
                        emit(
                            ts,
                            _api(
                                fmt(ts),
                                app.actor,
                                app.source,
                                merchant,
                                "order",
                                rng.choice((1, 1, 2)),
                                subjects,
                                "api",
                            ),
                        )
                    else:
                        orders = rng.randint(2, 50)
                        subjects = merchant.sample(rng, orders)
                        emit(
                            ts,
                            _api(
                                fmt(ts),
                                app.actor,
                                app.source,
                                merchant,
                                "order_list",
                                orders,
                                subjects,
                                "api",
                            ),
                        )
        exports = poisson(
            rng, len(self.world.merchants) * _MERCHANT_EXPORT_RATE * (1 + (peak - 1) / 3)
        )
        for _ in range(exports):
            self._merchant_export(rng.choice(self.world.merchants), self._time(midnight))

    def _time(self, midnight: int) -> int:
        hour = self.rng.choices(self._hours, _HOURLY)[0]
        return midnight + hour * 3600 + self.rng.randrange(3600)

    def _merchant_export(self, merchant: Merchant, ts: int) -> None:
        rng = self.rng
        user = rng.choice(merchant.users)
        ip = self._user_ips.get(user)
        if ip is None:
            ip = self._user_ips[user] = country_ip(
                merchant.country, rng.randrange(1, 200), rng.randrange(254)
            )
        actor = {
            "id": user,
            "kind": "merchant_user",
            "role": "owner" if user.endswith("-1") else "staff",
        }
        if rng.random() < 0.5:
            rtype, subjects, data = "customer_list", merchant.page(1, merchant.size), D_LIST_ADDR
            count = len(subjects)
        else:
            buyers = max(1, int(merchant.size * rng.uniform(0.05, 0.3)))
            rtype, subjects, data = "order_list", merchant.sample(rng, buyers), D_ORDER
            count = int(buyers * rng.uniform(1.1, 1.6))
        event: dict[str, Any] = {
            "time": self.clock.fmt(ts),
            "actor": actor,
            "action": "export",
            "merchant": merchant.id,
            "resource": {"type": rtype, "count": count},
            "subjects": subjects,
            "data": data,
            "channel": "export",
            "source": {"ip": ip, "country": merchant.country},
            "outcome": "allowed",
        }
        self.emitter.access(ts, event)


def hash_offset(text: str) -> int:
    """A stable number from ``text`` (Python's ``hash`` of a string changes per process)."""
    value = 0
    for ch in text:
        value = (value * 131 + ord(ch)) % 1_000_003
    return value


def _api(
    time: str,
    actor: dict[str, str],
    source: dict[str, str],
    merchant: Merchant,
    rtype: str,
    count: int,
    subjects: list[str],
    channel: str,
) -> dict[str, Any]:
    return {
        "time": time,
        "actor": actor,
        "action": "view",
        "merchant": merchant.id,
        "resource": {"type": rtype, "count": count},
        "subjects": subjects,
        "data": D_ORDER if rtype == "order" else D_LIST_ORDER,
        "channel": channel,
        "source": source,
        "outcome": "allowed",
    }
