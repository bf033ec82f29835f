"""A second generator of support-desk activity, for evaluating detection only (issue 13).

It shares no code, ids, distributions or parameters with :mod:`sentinelle.sim` (the product's
simulator, which the detectors were first tuned on), so figures measured on it say how the
detectors hold up on data they were not fitted to. It is deliberately built another way:

* **people**: per-agent volume is heavy-tailed (log-normal), a third work part time (three or
  four days a week, short shifts), shifts start at any hour (night desks included); teams
  (``frontline``, ``escalations``, ``payments``, ``trust``, ``success``) of 10-250 people;
  newcomers join during the window, people leave, some travel or change laptops;
* **merchants** are few or many (120 for a team of 20: colleagues overlap all the time), their
  customer counts heavy-tailed; every team has a handful of key accounts it looks at without
  tickets;
* **ticket habits**: e-mail tickets opened by customers and routed; phone and chat tickets the
  agent opens themselves, usually after searching the customer list for the caller (the list
  view comes before the ticket, or cites it), closed within minutes; each agent has their own
  phone share and habits; follow-ups without a ticket at merchants the agent worked on;
  requests from merchants over chat handled without a ticket; trust sweeps across many
  merchants; success checks on newly onboarded shops; leave cover; repeat callers, VIPs
  among them;
* **horizons** of 12-40 days: short ones leave almost no history before the insiders start;
* **insiders** (the product simulator's scenario names, with this generator's own behaviour
  and parameters): ``pair_harvest``, ``low_and_slow``, ``vip_snooping``, ``departing_export``,
  ``fake_tickets``, ``compromised_account``.

:func:`generate` returns the events (JSON lines, time order) and a ground truth with the same
keys the benchmark reads from :attr:`sentinelle.sim.Simulation.truth`. Not shipped: it lives
with the tests and is imported by ``benchmarks/detect.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import zlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SCENARIOS", "SIZES", "World2", "generate"]

START = dt.datetime(2027, 2, 1, tzinfo=dt.UTC)
SCENARIOS = (
    "pair_harvest",
    "low_and_slow",
    "vip_snooping",
    "departing_export",
    "fake_tickets",
    "compromised_account",
)
# name → (agents, merchants, days); ``agents`` 0: 10-20 by seed.
SIZES: dict[str, tuple[int, int, int]] = {
    "small": (0, 120, 0),  # days: 12-20 by seed
    "compact": (30, 300, 20),
    "medium": (60, 500, 25),
    "large": (180, 1500, 40),
    "xlarge": (250, 2500, 30),
}
TEAMS = (
    ("frontline", 0.55),
    ("escalations", 0.15),
    ("payments", 0.12),
    ("trust", 0.08),
    ("success", 0.10),
)
COUNTRIES = ("FR", "DE", "ES", "MA", "SN", "RO", "IN", "BR")


def size_of(name: str, seed: int) -> tuple[int, int, int]:
    """(agents, merchants, days) of ``name`` for ``seed``."""
    agents, merchants, days = SIZES[name]
    rng = random.Random(f"world2-size:{name}:{seed}")
    if not agents:
        agents = rng.choice((10, 12, 14, 16, 18, 20))
    if not days:
        days = rng.choice((12, 14, 16, 20))
    return agents, merchants, days


@dataclass(slots=True)
class Shop:
    """A merchant: id and how many customers it has."""

    id: str
    customers: int
    weight: float
    onboarded: int = -1  # window day it joined (success checks look at it then)

    def customer(self, rng: random.Random) -> str:
        # A few frequent callers (the first ones), the rest uniformly.
        if rng.random() < 0.12:
            i = rng.randint(1, max(3, self.customers // 300))
        else:
            i = rng.randint(1, self.customers)
        return f"cu{self.id[2:]}-{i:05d}"

    def page(self, rng: random.Random, n: int) -> list[str]:
        first = rng.randrange(max(1, self.customers - n + 1))
        return [
            f"cu{self.id[2:]}-{i:05d}" for i in range(first + 1, min(self.customers, first + n) + 1)
        ]


@dataclass(slots=True)
class Person:
    """A member of staff and their habits."""

    id: str
    team: str
    role: str
    volume: float  # tasks a full day
    weekdays: frozenset[int]
    shift_h: float  # UTC start hour
    shift_len: float
    phone: float  # share of tasks that are phone/chat tickets they open themselves
    list_first: float  # share of those where they search the customer list first
    list_cites: float  # …citing the ticket they just opened (else before opening it)
    unticketed: float  # share of tasks: a merchant's chat request, no ticket
    followup: float  # share of tasks: a follow-up look without a ticket
    device: str
    country: str
    joined: int = 0
    left: int | None = None
    travels: int | None = None  # a day they work from abroad
    new_laptop: int | None = None
    notice: int | None = None
    recent: list[tuple[str, str, int]] = field(default_factory=list)  # (ticket, merchant, day)

    def works(self, day: int) -> bool:
        return (
            self.joined <= day
            and (self.left is None or day < self.left)
            and ((day % 7) in self.weekdays)
        )


class World2:
    """One generated desk; :meth:`run` makes the events."""

    def __init__(self, *, agents: int, merchants: int, days: int, seed: int) -> None:
        self.rng = rng = random.Random(f"world2:{seed}:{agents}:{merchants}:{days}")
        self.days = days
        self.seed = seed
        self.start_us = int(START.timestamp()) * 1_000_000
        self.shops = []
        for i in range(merchants):
            customers = max(15, min(20000, int(rng.lognormvariate(5.0, 1.2))))
            shop = Shop(f"s-{i:05d}", customers, customers**0.7)
            if rng.random() < 0.04:
                shop.onboarded = rng.randrange(days)
            self.shops.append(shop)
        self.cum = []
        total = 0.0
        for s in self.shops:
            total += s.weight
            self.cum.append(total)
        self.people: list[Person] = []
        for i in range(agents):
            self.people.append(self._person(i, agents))
        self.key_accounts = {
            team: rng.sample(self.shops, k=min(len(self.shops), rng.randint(3, 8)))
            for team, _ in TEAMS
        }
        vip_shops = rng.sample(self.shops, k=min(len(self.shops), 6))
        self.vips = sorted({s.customer(rng) for s in vip_shops for _ in range(3)})
        self.vip_shop = {
            c: s for s in vip_shops for c in self.vips if c.startswith("cu" + s.id[2:] + "-")
        }
        self.events: list[tuple[int, int, dict[str, Any]]] = []
        self.seq = 0
        self.marks: dict[int, int] = {}  # seq → scenario index
        self.ticket_no = rng.randrange(10_000, 90_000)

    # -- people ----------------------------------------------------------------------------
    def _person(self, i: int, n: int) -> Person:
        rng = self.rng
        x = rng.random()
        team = TEAMS[-1][0]
        for name, share in TEAMS:
            if x < share:
                team = name
                break
            x -= share
        if i < 2:  # every desk has front-line staff
            team = "frontline"
        part = rng.random() < 0.3
        if part:
            weekdays = frozenset(rng.sample(range(7), k=rng.choice((3, 4))))
        else:
            off = rng.randrange(7)
            weekdays = frozenset(d for d in range(7) if d not in (off, (off + 1) % 7))
        shift = rng.choice((6.0, 7.0, 8.0, 9.0, 12.0, 14.0, 22.0, 1.0))
        p = Person(
            id=f"u{rng.randrange(1000, 9999)}{i:03d}",
            team=team,
            role="lead" if rng.random() < 0.06 else "agent",
            volume=min(60.0, rng.lognormvariate(math.log(14), 0.6)) * (0.6 if part else 1.0),
            weekdays=weekdays,
            shift_h=shift,
            shift_len=rng.choice((4.0, 5.0)) if part else rng.choice((7.5, 8.0, 9.0)),
            phone=rng.betavariate(1.2, 3.0) if team == "frontline" else rng.betavariate(1, 8),
            list_first=rng.uniform(0.2, 0.9),
            list_cites=rng.uniform(0.0, 1.0),
            unticketed=rng.betavariate(1, 14),
            followup=rng.uniform(0.02, 0.12),
            device=f"lap-{rng.getrandbits(40):010x}",
            country=rng.choice(COUNTRIES[:4]),
        )
        if n >= 10 and rng.random() < 0.08:
            p.joined = rng.randrange(1, max(2, self.days // 2))
        if rng.random() < 0.04:
            p.left = rng.randrange(self.days // 2, self.days + 1)
        if rng.random() < 0.1:
            p.travels = rng.randrange(self.days)
        if rng.random() < 0.08:
            p.new_laptop = rng.randrange(self.days)
        return p

    # -- events ----------------------------------------------------------------------------
    def _time(self, us: int) -> str:
        return dt.datetime.fromtimestamp(us / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _emit(self, us: int, event: dict[str, Any], mark: int | None = None) -> None:
        if not self.start_us <= us < self.start_us + self.days * 86_400_000_000:
            return
        self.seq += 1
        if mark is not None:
            self.marks[self.seq] = mark
        self.events.append((us, self.seq, event))

    def access(
        self,
        p: Person,
        us: int,
        action: str,
        shop: Shop,
        rtype: str,
        subjects: list[str],
        *,
        ticket: str | None = None,
        reason: str | None = None,
        count: int | None = None,
        source: dict[str, str] | None = None,
        mark: int | None = None,
    ) -> None:
        day = (us - self.start_us) // 86_400_000_000
        if source is None:
            country = p.country
            if p.travels is not None and p.travels <= day < p.travels + 3:
                country = COUNTRIES[(COUNTRIES.index(p.country) + 4) % len(COUNTRIES)]
            device = p.device if p.new_laptop is None or day < p.new_laptop else p.device + "b"
            source = {
                "ip": f"10.{zlib.crc32(p.id.encode()) % 200}.0.{day % 250}",
                "device": device,
                "country": country,
            }
        event: dict[str, Any] = {
            "time": self._time(us),
            "actor": {"id": p.id, "kind": "staff", "role": p.role, "team": p.team},
            "action": action,
            "merchant": shop.id,
            "resource": {"type": rtype, "count": count if count is not None else len(subjects)},
            "subjects": subjects,
            "data": ["contact", "address"]
            if rtype.startswith("customer")
            else ["contact", "order_details"],
            "channel": "export" if action == "export" else "support_console",
            "source": source,
            "outcome": "allowed",
        }
        just = {}
        if ticket:
            just["ticket"] = ticket
        if reason:
            just["reason"] = reason
        if just:
            event["justification"] = just
        self._emit(us, event, mark)

    def context(self, us: int, kind: str, **fields: str) -> None:
        self._emit(us, {"time": self._time(us), "type": kind, **fields})

    def shop(self) -> Shop:
        x = self.rng.random() * self.cum[-1]
        lo, hi = 0, len(self.cum) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.cum[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        return self.shops[lo]

    def new_ticket(self) -> str:
        self.ticket_no += self.rng.randint(1, 7)
        return f"ZD{self.ticket_no}"

    # -- benign tasks ----------------------------------------------------------------------
    def email_ticket(self, p: Person, us: int, day: int) -> int:
        rng = self.rng
        shop = self.shop()
        customer = shop.customer(rng)
        if rng.random() < 0.01 and self.vips:
            customer = rng.choice(self.vips)
            shop = self.vip_shop.get(customer, shop)
        t = self.new_ticket()
        self.context(
            us - rng.randint(600, 30 * 3600) * 1_000_000,
            "ticket.opened",
            ticket=t,
            merchant=shop.id,
            by=customer,
        )
        self.context(
            us - rng.randint(60, 600) * 1_000_000,
            "ticket.assigned",
            ticket=t,
            merchant=shop.id,
            actor=p.id,
            by="router",
        )
        us = self._work(p, us, shop, customer, t)
        close = us + int(rng.expovariate(1 / 7200) * 1_000_000) + 120_000_000
        if rng.random() < 0.25:  # waits for the customer: closed days later
            close += rng.randint(1, 4) * 86_400_000_000
            if rng.random() < 0.5:
                self._work(
                    p, us + 86_400_000_000 + rng.randint(0, 3600) * 1_000_000, shop, customer, t
                )
        self.context(close, "ticket.closed", ticket=t, merchant=shop.id, actor=p.id, by=p.id)
        p.recent.append((t, shop.id, day))
        del p.recent[:-40]
        return us

    def _work(
        self,
        p: Person,
        us: int,
        shop: Shop,
        customer: str,
        t: str | None,
        reason: str | None = None,
    ) -> int:
        rng = self.rng
        self.access(p, us, "view", shop, "customer", [customer], ticket=t, reason=reason)
        for _ in range(rng.randint(0, 3)):
            us += rng.randint(20, 240) * 1_000_000
            kind = rng.random()
            if kind < 0.6:
                self.access(p, us, "view", shop, "order", [customer], ticket=t, reason=reason)
            elif kind < 0.85:
                self.access(
                    p,
                    us,
                    "view",
                    shop,
                    "order_list",
                    [customer],
                    ticket=t,
                    reason=reason,
                    count=rng.randint(1, 30),
                )
            else:
                self.access(p, us, "update", shop, "customer", [customer], ticket=t, reason=reason)
        return us + rng.randint(60, 600) * 1_000_000

    def phone_ticket(self, p: Person, us: int, day: int) -> int:
        rng = self.rng
        shop = self.shop()
        customer = shop.customer(rng)
        t = self.new_ticket()
        opened = us
        search = rng.random() < p.list_first
        cites = rng.random() < p.list_cites
        if search and not cites:  # looks the caller up first, then opens the ticket
            self.access(
                p, us, "view", shop, "customer_list", shop.page(rng, rng.choice((25, 50, 100)))
            )
            us += rng.randint(20, 120) * 1_000_000
            opened = us
        self.context(us, "ticket.opened", ticket=t, merchant=shop.id, by=p.id, reason="phone")
        self.context(
            us + 1_000_000, "ticket.assigned", ticket=t, merchant=shop.id, actor=p.id, by=p.id
        )
        us += rng.randint(5, 40) * 1_000_000
        if search and cites:
            self.access(
                p,
                us,
                "view",
                shop,
                "customer_list",
                shop.page(rng, rng.choice((25, 50, 100))),
                ticket=t,
            )
            us += rng.randint(10, 60) * 1_000_000
        us = self._work(p, us, shop, customer, t)
        close = max(us, opened + rng.randint(90, 900) * 1_000_000)
        self.context(close, "ticket.closed", ticket=t, merchant=shop.id, actor=p.id, by=p.id)
        p.recent.append((t, shop.id, day))
        del p.recent[:-40]
        return close + rng.randint(30, 300) * 1_000_000

    def followup(self, p: Person, us: int, day: int) -> int:
        rng = self.rng
        old = [r for r in p.recent if r[2] < day]
        if not old:
            return self.email_ticket(p, us, day)
        _, shop_id, _ = rng.choice(old)
        shop = self.shops[int(shop_id[2:])]
        return self._work(p, us, shop, shop.customer(rng), None, reason="follow_up")

    def chat_request(self, p: Person, us: int) -> int:
        """A merchant asks over chat; no ticket. Key accounts mostly."""
        rng = self.rng
        keys = self.key_accounts[p.team]
        shop = rng.choice(keys) if rng.random() < 0.7 else self.shop()
        if rng.random() < 0.3:
            self.access(
                p,
                us,
                "view",
                shop,
                "order_list",
                shop.page(rng, rng.randint(10, 40)),
                reason="merchant_request",
            )
            return us + rng.randint(120, 600) * 1_000_000
        return self._work(p, us, shop, shop.customer(rng), None, reason="merchant_request")

    def trust_sweep(self, p: Person, us: int) -> int:
        rng = self.rng
        for _ in range(rng.randint(3, 12)):
            shop = self.shop()
            self.access(
                p,
                us,
                "search",
                shop,
                "customer",
                [shop.customer(rng) for _ in range(rng.randint(1, 6))],
                reason="fraud_review",
            )
            us += rng.randint(30, 300) * 1_000_000
        return us

    def success_check(self, p: Person, us: int, day: int) -> int:
        rng = self.rng
        fresh = [s for s in self.shops if 0 <= day - s.onboarded < 5]
        shop = rng.choice(fresh) if fresh else self.shop()
        self.access(
            p, us, "view", shop, "customer_list", shop.page(rng, 50), reason="onboarding_check"
        )
        return us + rng.randint(300, 900) * 1_000_000

    def payments_export(self, p: Person, us: int, day: int) -> int:
        rng = self.rng
        shop = self.shop()
        t = self.new_ticket()
        ticketed = rng.random() < 0.8
        if ticketed:
            self.context(
                us - 3600_000_000,
                "ticket.opened",
                ticket=t,
                merchant=shop.id,
                by=f"merchant-{shop.id}",
            )
            self.context(
                us - 600_000_000,
                "ticket.assigned",
                ticket=t,
                merchant=shop.id,
                actor=p.id,
                by="router",
            )
        self.access(
            p,
            us,
            "export",
            shop,
            "order_list",
            shop.page(rng, 40),
            ticket=t if ticketed else None,
            reason="merchant_request",
            count=rng.randint(50, 3000),
        )
        if ticketed:
            self.context(
                us + 1800_000_000, "ticket.closed", ticket=t, merchant=shop.id, actor=p.id, by=p.id
            )
            p.recent.append((t, shop.id, day))
        return us + 900_000_000

    def leave_cover(self, p: Person, us: int, day: int) -> int:
        """Follows up an absent colleague's tickets, not assigned to them."""
        rng = self.rng
        mates = [
            q
            for q in self.people
            if q.team == p.team and q is not p and q.recent and not q.works(day)
        ]
        if not mates:
            return self.email_ticket(p, us, day)
        q = rng.choice(mates)
        t, shop_id, _ = rng.choice(q.recent)
        shop = self.shops[int(shop_id[2:])]
        return self._work(p, us, shop, shop.customer(rng), t)

    def benign_day(self, p: Person, day: int) -> None:
        rng = self.rng
        if not p.works(day):
            return
        base = self.start_us + day * 86_400_000_000
        begin = base + int(p.shift_h * 3600 + rng.uniform(-1800, 1800)) * 1_000_000
        end = begin + int(p.shift_len * 3600) * 1_000_000
        n = max(1, int(rng.gammavariate(4, p.volume * p.shift_len / 8 / 4)))
        us = begin
        gap = (end - begin) // (n + 1)
        for _ in range(n):
            us = max(us, begin) + int(rng.expovariate(1 / max(1, gap)))
            if us >= end + 3600_000_000:
                break
            x = rng.random()
            if p.team == "trust" and x < 0.15:
                us = self.trust_sweep(p, us)
            elif p.team == "success" and x < 0.1:
                us = self.success_check(p, us, day)
            elif p.team == "payments" and x < 0.06:
                us = self.payments_export(p, us, day)
            elif x < 0.2 + p.phone * 0.8 and rng.random() < p.phone / (0.2 + p.phone * 0.8):
                us = self.phone_ticket(p, us, day)
            elif rng.random() < p.unticketed:
                us = self.chat_request(p, us)
            elif rng.random() < p.followup:
                us = self.followup(p, us, day)
            elif rng.random() < 0.02:
                us = self.leave_cover(p, us, day)
            else:
                us = self.email_ticket(p, us, day)
            if p.notice is not None and day >= p.notice and rng.random() < 0.01:
                us = self.payments_export(p, us, day)

    # -- insiders --------------------------------------------------------------------------
    def plan(self, names: tuple[str, ...]) -> list[dict[str, Any]]:
        rng = self.rng
        days = self.days
        base = max(4, days // 4)
        used: set[str] = set()
        plans: list[dict[str, Any]] = []

        def pick(k: int, teams: tuple[str, ...]) -> list[Person]:
            pool = [
                p
                for p in self.people
                if p.team in teams
                and p.id not in used
                and p.joined == 0
                and p.left is None
                and p.role == "agent"
            ]
            if len(pool) < k:
                pool = [
                    p for p in self.people if p.id not in used and p.joined == 0 and p.left is None
                ]
            chosen = rng.sample(pool, k)
            used.update(p.id for p in chosen)
            return chosen

        for index, name in enumerate(names):
            start = rng.randint(base, max(base, days - 7))
            plan: dict[str, Any] = {"name": name, "index": index, "start": start}
            if name == "pair_harvest":
                plan["actors"] = pick(2, ("frontline",))
                each = max(6, min(35, len(self.shops) // 40))
                targets = rng.sample(self.shops, k=min(len(self.shops), 2 * each))
                plan["queue"] = {
                    plan["actors"][0].id: targets[:each],
                    plan["actors"][1].id: targets[each:],
                }
                for s in targets[: each // 4]:  # some shops both look at
                    plan["queue"][plan["actors"][1].id].append(s)
            elif name == "low_and_slow":
                plan["actors"] = pick(1, ("frontline", "escalations"))
            elif name == "vip_snooping":
                plan["actors"] = pick(1, ("frontline", "escalations", "payments"))
                plan["vips"] = rng.sample(self.vips, k=min(len(self.vips), rng.randint(2, 3)))
            elif name == "departing_export":
                plan["actors"] = pick(1, ("payments", "escalations"))
                plan["actors"][0].notice = start
                plan["queue"] = rng.sample(self.shops, k=rng.randint(3, 6))
            elif name == "fake_tickets":
                plan["actors"] = pick(1, ("frontline",))
            elif name == "compromised_account":
                plan["actors"] = pick(1, ("frontline", "escalations", "payments"))
                plan["source"] = {
                    "ip": "203.0.113.7",
                    "device": f"lap-{rng.getrandbits(40):010x}",
                    "country": "VN",
                }
                plan["nights"] = sorted(rng.sample(range(start, days), k=min(3, days - start)))
            plans.append(plan)
        return plans

    def insider_day(self, plan: dict[str, Any], day: int) -> None:
        rng = self.rng
        name = plan["name"]
        mark = plan["index"]
        if day < plan["start"]:
            return
        for p in plan["actors"]:
            if name == "compromised_account":
                if day in plan["nights"]:
                    us = (
                        self.start_us + day * 86_400_000_000 + int(((p.shift_h + 13) % 24) * 3600e6)
                    )
                    for shop in rng.sample(self.shops, k=min(len(self.shops), rng.randint(4, 10))):
                        self.access(
                            p,
                            us,
                            "search",
                            shop,
                            "customer",
                            shop.page(rng, rng.randint(5, 15)),
                            source=plan["source"],
                            mark=mark,
                        )
                        us += rng.randint(10, 60) * 1_000_000
                        self.access(
                            p,
                            us,
                            "view",
                            shop,
                            "customer_list",
                            shop.page(rng, 100),
                            source=plan["source"],
                            mark=mark,
                        )
                        us += rng.randint(10, 60) * 1_000_000
                continue
            begin = self.start_us + day * 86_400_000_000 + int(p.shift_h * 3600e6)
            if name == "departing_export" and day == plan["start"]:
                self.context(begin - 3600_000_000, "staff.notice_given", actor=p.id, by="hr")
            if not p.works(day):
                continue
            span = int(p.shift_len * 3600e6)

            def when(begin: int = begin, span: int = span) -> int:
                return begin + rng.randrange(span)

            if name == "pair_harvest":
                queue = plan["queue"][p.id]
                for shop in queue[: rng.randint(1, 3)]:
                    us = when()
                    for _ in range(rng.randint(1, 4)):
                        t = None
                        if rng.random() < 0.35 and p.recent:
                            t = rng.choice(p.recent)[0]  # a real ticket of another shop
                        self.access(
                            p,
                            us,
                            "view",
                            shop,
                            rng.choice(("customer_list", "order_list")),
                            shop.page(rng, rng.choice((25, 50, 100))),
                            ticket=t,
                            mark=mark,
                        )
                        us += rng.randint(20, 90) * 1_000_000
                    queue.remove(shop)
            elif name == "low_and_slow":  # about a merchant a working day, a few customers
                seen = {r[1] for r in p.recent}
                for _ in range(1 if rng.random() < 0.6 else 2):
                    shop = self.shop()
                    for _ in range(5):
                        if shop.id not in seen:
                            break
                        shop = self.shop()
                    self._looks(p, when(), shop, lambda s=shop: s.customer(rng), 4, 300, mark)
            elif name == "vip_snooping":
                if rng.random() < 0.6:
                    for c in rng.sample(plan["vips"], k=rng.randint(1, len(plan["vips"]))):
                        shop = self.vip_shop.get(c) or self.shop()
                        self._looks(p, when(), shop, lambda c=c: c, 3, 200, mark)
            elif name == "departing_export":
                if day > plan["start"] and plan["queue"] and rng.random() < 0.6:
                    shop = plan["queue"].pop()
                    t = rng.choice(p.recent)[0] if p.recent and rng.random() < 0.3 else None
                    self.access(
                        p,
                        when(),
                        "export",
                        shop,
                        "customer_list",
                        shop.page(rng, 50),
                        ticket=t,
                        count=shop.customers,
                        mark=mark,
                    )
            elif name == "fake_tickets":
                for _ in range(rng.randint(1, 3)):
                    shop = self.shop()
                    us = when()
                    t = self.new_ticket()
                    self.context(
                        us, "ticket.opened", ticket=t, merchant=shop.id, by=p.id, reason="phone"
                    )
                    self.context(
                        us + 1_000_000,
                        "ticket.assigned",
                        ticket=t,
                        merchant=shop.id,
                        actor=p.id,
                        by=p.id,
                    )
                    us += rng.randint(30, 120) * 1_000_000
                    for _ in range(rng.randint(1, 3)):
                        self.access(
                            p,
                            us,
                            "view",
                            shop,
                            "customer_list",
                            shop.page(rng, rng.choice((100, 200))),
                            ticket=t,
                            mark=mark,
                        )
                        us += rng.randint(20, 90) * 1_000_000
                    self.context(
                        us + rng.randint(60, 400) * 1_000_000,
                        "ticket.closed",
                        ticket=t,
                        merchant=shop.id,
                        actor=p.id,
                        by=p.id,
                    )

    def _looks(
        self, p: Person, us: int, shop: Shop, who: Any, most: int, gap: int, mark: int
    ) -> None:
        """1 to ``most`` looks at one customer (``who()``) each, up to ``gap`` s apart."""
        rng = self.rng
        for _ in range(rng.randint(1, most)):
            kind = rng.choice(("customer", "order"))
            self.access(p, us, "view", shop, kind, [who()], mark=mark)
            us += rng.randint(30, gap) * 1_000_000

    def run(self, names: tuple[str, ...]) -> tuple[list[bytes], dict[str, Any]]:
        """The events as JSON lines in time order, and the ground truth."""
        for p in self.people:
            if p.joined:
                self.context(
                    self.start_us + p.joined * 86_400_000_000,
                    "staff.joined",
                    actor=p.id,
                    team=p.team,
                    role=p.role,
                )
        plans = self.plan(names)
        for day in range(self.days):
            for p in self.people:
                self.benign_day(p, day)
            for plan in plans:
                self.insider_day(plan, day)
            for p in self.people:
                if p.left == day:
                    self.context(self.start_us + day * 86_400_000_000, "staff.left", actor=p.id)
        self.events.sort(key=lambda e: (e[0], e[1]))
        lines = []
        per: dict[int, list[tuple[int, str, str]]] = {}
        for n, (us, seq, event) in enumerate(self.events, 1):
            prefix = "ctx" if "type" in event else "ev"
            eid = f"{prefix}2-{n:08d}"
            lines.append(json.dumps({"id": eid, **event}).encode())
            mark = self.marks.get(seq)
            if mark is not None:
                per.setdefault(mark, []).append((us, eid, event["merchant"]))
        scenarios = []
        for plan in plans:
            marked = per.get(plan["index"], [])
            if not marked:
                continue
            scenarios.append(
                {
                    "name": plan["name"],
                    "actors": [p.id for p in plan["actors"]],
                    "start": self._time(marked[0][0]),
                    "end": self._time(marked[-1][0]),
                    "merchants": sorted({m for _, _, m in marked}),
                    "events": [e for _, e, _ in marked],
                }
            )
        truth = {
            "generator": "world2",
            "seed": self.seed,
            "start": self._time(self.start_us),
            "end": self._time(self.start_us + self.days * 86_400_000_000),
            "agents": len(self.people),
            "merchants": len(self.shops),
            "scenarios": scenarios,
            "high_profile_customers": self.vips,
        }
        return lines, truth


def generate(
    size: str, seed: int, scenarios: tuple[str, ...] = SCENARIOS
) -> tuple[list[bytes], dict[str, Any]]:
    """The events and truth of ``size`` (see :data:`SIZES`) for ``seed``."""
    agents, merchants, days = size_of(size, seed)
    return World2(agents=agents, merchants=merchants, days=days, seed=seed).run(scenarios)
