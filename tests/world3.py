"""A third generator of support-desk activity, for evaluating detection only.

Written apart from :mod:`sentinelle.sim` and from ``tests/world2.py`` (it shares no code,
ids, distributions or parameters with either) so that detection can be measured on data it
was never tuned on. Where those two give every agent their own stream of tasks, this one is
an *organisation* driven by queues:

* **regional desks** in three time zones (EMEA 07:00-16:00 UTC, Americas 14:00-23:00, APAC
  00:00-08:00; small teams have one or two of them), a weekend on-call rotation, part-timers,
  holidays, night owls finishing work late, laptop changes, trips abroad;
* **tickets arrive** (customer e-mails and web forms, merchants' requests about several of
  their customers) and are routed to whoever on the desk is free first; they stay pending and
  come back days later (to a colleague if the owner is away: shared queues), are escalated to
  a tier-2 team, reopened after closing; frontline staff also log their own phone and chat
  tickets and close them within minutes;
* **specialist teams**: account managers who own portfolios of merchants and look at them
  without tickets (portfolios handed over mid-window, and when a manager leaves), a fraud/risk
  team whose case tickets span many merchants a day, a privacy team exporting or erasing one
  customer's data per request, data operations running merchants' bulk exports (with a
  ticket, sometimes with a reason only);
* **a promotion week** with twice the ticket volume and temporary staff hired for it
  (``staff.joined`` before, ``staff.left`` after); benign leavers serve a notice
  (``staff.notice_given``); permanent hires join mid-window;
* **apps and integrations** (non-human actors) syncing merchants' lists every day;
* **delivery**: a few staff-days reach the collector hours late (an offline laptop): the
  lines are in delivery order, not time order;
* merchants in three tiers (enterprise, mid-market, long tail), ticket demand Zipf-like over
  a random ranking, customers picked log-uniformly (low ids are the regulars);
* **insiders** with this generator's own behaviour for the six scenario names, each keeping
  up their ordinary work meanwhile.

:func:`generate` returns the lines (delivery order) and a ground truth with the keys the
benchmark reads (``scenarios`` with ``name, actors, start, end, merchants, subjects, events``;
``high_profile_customers``; ``agents``; ``start``; ``end``). Standard library only.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
import random
from typing import Any

__all__ = ["SCENARIOS", "SIZES", "generate", "size_of"]

START = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)  # a Monday
DAY = 86_400
HOUR = 3_600
SCENARIOS = (
    "pair_harvest",
    "low_and_slow",
    "vip_snooping",
    "departing_export",
    "fake_tickets",
    "compromised_account",
)
# name -> (agents, merchants, days); 0: chosen by seed (small: 10-20 agents, 18-28 days).
SIZES: dict[str, tuple[int, int, int]] = {
    "small": (0, 90, 0),
    "compact": (30, 260, 24),
    "medium": (60, 550, 28),
    "large": (150, 1300, 35),
    "xlarge": (250, 2200, 30),
}
# desk -> (shift start hour UTC, shift hours, countries)
DESKS: dict[str, tuple[int, int, tuple[str, ...]]] = {
    "emea": (7, 9, ("IE", "PL", "PT", "DE")),
    "amer": (14, 9, ("US", "CA", "BR", "MX")),
    "apac": (0, 8, ("PH", "AU", "SG", "IN")),
}
FAR = ("NG", "VN", "UA", "ID", "KZ", "AR")
DATA = {
    "customer": ["contact", "address"],
    "order": ["order_details", "address"],
    "order_list": ["order_details"],
    "customer_list": ["contact"],
    "transaction": ["payment_partial", "financial"],
    "payout": ["financial"],
}
DSAR_DATA = ["contact", "address", "order_details", "payment_partial", "behavioral"]
LOOSE_REASONS = ("callback", "customer follow-up", "checking order status", "quality review")


def size_of(name: str, seed: int) -> tuple[int, int, int]:
    """(agents, merchants, days) of ``name`` for ``seed``."""
    agents, merchants, days = SIZES[name]
    rng = random.Random(f"w3/size/{name}/{seed}")
    if not agents:
        agents = 10 + rng.randrange(11)
    if not days:
        days = rng.choice((18, 21, 24, 28))
    return agents, merchants, days


class Shop:
    __slots__ = ("id", "num", "n", "tier")

    def __init__(self, num: int, n: int, tier: str) -> None:
        self.num = num
        self.id = f"shop-{num:05d}"
        self.n = n
        self.tier = tier

    def customer(self, rng: random.Random) -> str:
        return f"cust-{self.num:05d}-{int(self.n ** rng.random()):06d}"

    def page(self, rng: random.Random, k: int) -> list[str]:
        k = min(k, self.n)
        first = 1 + rng.randrange(self.n - k + 1)
        return [f"cust-{self.num:05d}-{i:06d}" for i in range(first, first + k)]


class Ticket:
    __slots__ = ("id", "shop", "customers", "arrival", "owner", "rounds", "kind", "reopen")

    def __init__(self, tid: str, shop: Shop, customers: list[str], arrival: int, kind: str):
        self.id = tid
        self.shop = shop
        self.customers = customers
        self.arrival = arrival
        self.owner: Person | None = None
        self.rounds = 0
        self.kind = kind
        self.reopen = False


class Person:
    def __init__(self, pid: str, desk: str, team: str, role: str) -> None:
        self.id = pid
        self.desk = desk
        self.team = team
        self.role = role
        self.start_h = 0.0
        self.hours = 8.0
        self.weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
        self.pace = 2.0  # tickets an hour
        self.calls = 0.5  # self-opened tickets an hour
        self.peek = 0.05  # ticketless look-backs at recent work, per ticket
        self.night = 0.0  # chance of a late session on a working day
        self.device = ""
        self.ip = ""
        self.country = ""
        self.joined = 0
        self.notice: int | None = None
        self.left: int | None = None
        self.away: tuple[int, int] = (-1, -1)
        self.trip: tuple[int, int, str] = (-1, -1, "")
        self.new_device = -1
        self.oncall: list[int] = []
        self.portfolio: list[Shop] = []
        self.recent: list[tuple[str, Shop]] = []
        self.free_at = 0
        self.temp = False

    def kind(self) -> dict[str, str]:
        return {"id": self.id, "kind": "staff", "role": self.role, "team": self.team}


class World3:
    def __init__(self, agents: int, merchants: int, days: int, seed: int) -> None:
        self.rng = rng = random.Random(f"w3/{seed}/{agents}/{merchants}/{days}")
        self.seed = seed
        self.agents = agents
        self.days = days
        self.t0 = int(START.timestamp())
        self.events: list[tuple[int, int, dict[str, Any], int | None]] = []
        self.seq = 0
        self.ticket_no = rng.randrange(400_000, 700_000)
        # seed-varied rates
        self.load = rng.uniform(0.7, 0.9)
        self.late_share = rng.uniform(0.01, 0.04)
        self.close_now = rng.uniform(0.55, 0.7)
        self.escalate = rng.uniform(0.05, 0.1)
        self.reopen = rng.uniform(0.03, 0.07)
        self.peak_start = rng.randint(max(3, days // 3), max(4, days - 9))
        self._shops(merchants)
        self._staff(agents)
        self._vips()
        self._apps()
        self.shift: dict[str, tuple[int, int]] = {}
        self.backlog: dict[str, list[Ticket]] = {d: [] for d in DESKS}
        self.tier2_queue: list[Ticket] = []
        self.followups: dict[int, list[Ticket]] = {}

    # -- the world -----------------------------------------------------------------------
    def _shops(self, merchants: int) -> None:
        rng = self.rng
        self.shops: list[Shop] = []
        for i in range(merchants):
            x = rng.random()
            if x < 0.025:
                tier, lo, hi = "enterprise", 20_000, 250_000
            elif x < 0.2:
                tier, lo, hi = "mid", 1_500, 20_000
            else:
                tier, lo, hi = "tail", 40, 1_500
            n = int(math.exp(rng.uniform(math.log(lo), math.log(hi))))
            self.shops.append(Shop(i + 1, n, tier))
        ranks = list(range(merchants))
        rng.shuffle(ranks)
        boost = {"enterprise": 3.0, "mid": 1.5, "tail": 1.0}
        self.cum: list[float] = []
        total = 0.0
        for shop, r in zip(self.shops, ranks, strict=True):
            total += boost[shop.tier] / (r + 3) ** 0.85
            self.cum.append(total)
        self.big = [s for s in self.shops if s.tier != "tail"] or self.shops

    def shop(self) -> Shop:
        return self.shops[bisect.bisect_left(self.cum, self.rng.random() * self.cum[-1])]

    def _staff(self, agents: int) -> None:
        rng = self.rng
        days = self.days
        if agents < 14:
            desks = [rng.choice(("emea", "amer"))]
        elif agents < 26:
            desks = rng.sample(("emea", "amer", "apac"), 2)
        else:
            desks = ["emea", "amer", "apac"]
        shares = {"emea": 0.45, "amer": 0.35, "apac": 0.2}
        wsum = sum(shares[d] for d in desks)
        # Specialists first (by size), the rest frontline.
        n_am = max(1, round(agents * rng.uniform(0.08, 0.13)))
        n_risk = max(1, round(agents * rng.uniform(0.04, 0.07))) if agents >= 12 else 0
        n_priv = max(1, round(agents * 0.03)) if agents >= 16 else 0
        n_ops = max(1, round(agents * rng.uniform(0.03, 0.05))) if agents >= 13 else 0
        n_t2 = max(1, round(agents * rng.uniform(0.1, 0.15)))
        teams = (
            ["accounts"] * n_am
            + ["risk"] * n_risk
            + ["privacy"] * n_priv
            + ["data-ops"] * n_ops
            + ["tier2"] * n_t2
        )
        teams += ["frontline"] * (agents - len(teams))
        self.people: list[Person] = []
        for i, team in enumerate(teams):
            x = rng.random() * wsum
            desk = desks[-1]
            for d in desks:
                if x < shares[d]:
                    desk = d
                    break
                x -= shares[d]
            if team in ("accounts", "privacy", "data-ops"):
                desk = desks[0]
            role = {"accounts": "account_manager", "risk": "analyst", "privacy": "dpo_analyst"}
            p = Person(
                f"st-{rng.getrandbits(20):05x}{i:03d}",
                desk,
                team if team != "frontline" else f"frontline-{desk}",
                role.get(team, "lead" if rng.random() < 0.07 else "agent"),
            )
            self._habits(p)
            self.people.append(p)
        frontline = [p for p in self.people if p.team.startswith("frontline")]
        # Weekend on-call rotation: a few frontline people per desk take a weekend day each.
        for desk in desks:
            crew = [p for p in frontline if p.desk == desk][: max(2, len(frontline) // 6)]
            if not crew:
                continue
            k = 0
            for d in range(days):
                if (START.weekday() + d) % 7 >= 5:
                    crew[k % len(crew)].oncall.append(d)
                    k += 1
        # Benign leavers with a notice, some new hires.
        for _ in range(1 + len(self.people) // 50):
            p = rng.choice(self.people)
            if p.notice is None and not p.temp:
                p.notice = rng.randint(days // 4, max(days // 4, days - 5))
                p.left = p.notice + rng.randint(9, 15)
        if agents >= 25:
            for p in rng.sample(self.people, max(1, agents // 40)):
                if p.notice is None:
                    p.joined = rng.randint(2, days // 2)
        # Temporary staff for the promotion week.
        n_temp = max(1, round(len(frontline) * rng.uniform(0.08, 0.15)))
        for j in range(n_temp):
            desk = rng.choice(desks)
            p = Person(f"st-tmp{rng.getrandbits(16):04x}{j:02d}", desk, f"frontline-{desk}", "temp")
            self._habits(p)
            p.temp = True
            p.joined = max(1, self.peak_start - rng.randint(1, 2))
            p.left = self.peak_start + 7 + rng.randint(0, 2)
            p.pace *= 0.7
            p.calls *= 0.5
            self.people.append(p)
        # Portfolios: account managers own merchants (mid-market and enterprise first).
        ams = [p for p in self.people if p.team == "accounts"]
        pool = self.big[:]
        rng.shuffle(pool)
        per = max(6, min(30, len(pool) // max(1, len(ams))))
        for k, p in enumerate(ams):
            p.portfolio = pool[k * per : (k + 1) * per] or rng.sample(self.shops, 6)
        self.handover_day = rng.randint(days // 3, 2 * days // 3)
        self.handovers = [p for p in ams if rng.random() < 0.4]

    def _habits(self, p: Person) -> None:
        rng = self.rng
        base, hours, countries = DESKS[p.desk]
        p.start_h = base + rng.choice((-1.0, -0.5, 0.0, 0.0, 0.5, 1.0))
        p.hours = hours
        if rng.random() < 0.15:  # part time
            p.hours = rng.choice((4.0, 5.0, 6.0))
            p.weekdays = tuple(sorted(rng.sample(range(5), rng.choice((3, 4)))))
        p.pace = rng.triangular(1.0, 4.0, 2.0)
        p.calls = rng.triangular(0.05, 1.2, 0.3) if p.team.startswith("frontline") else 0.0
        p.peek = rng.uniform(0.0, 0.12)
        p.night = rng.uniform(0.1, 0.3) if rng.random() < 0.07 else 0.0
        p.country = rng.choice(countries)
        p.device = f"wk-{rng.getrandbits(32):08x}"
        p.ip = f"100.{64 + rng.randrange(60)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        days = self.days
        if rng.random() < 0.2:
            a = rng.randrange(days)
            p.away = (a, a + rng.randint(2, 5))
        if rng.random() < 0.06:
            a = rng.randrange(days)
            p.trip = (a, a + rng.randint(2, 5), rng.choice([c for c in FAR if c != p.country]))
        if rng.random() < 0.08:
            p.new_device = rng.randrange(1, days)

    def _vips(self) -> None:
        rng = self.rng
        shops = rng.sample(self.big, min(len(self.big), rng.randint(8, 12)))
        self.vip_shop: dict[str, Shop] = {}
        for s in shops:
            for _ in range(rng.choice((1, 1, 2))):
                self.vip_shop[f"cust-{s.num:05d}-{rng.randint(1, 40):06d}"] = s
        self.vips = sorted(self.vip_shop)

    def _apps(self) -> None:
        rng = self.rng
        self.apps: list[tuple[dict[str, str], list[Shop], int, str]] = []
        names = ("loyalty", "reviews", "erp-sync", "crm-bridge", "shipping", "tax", "analytics")
        for k in range(3 + len(self.shops) // 300):
            name = names[k % len(names)]
            kind = "integration" if name.endswith(("sync", "bridge")) else "app"
            actor = {"id": f"{'int' if kind == 'integration' else 'app'}-{name}-{k}", "kind": kind}
            installed = rng.sample(
                self.shops, max(3, int(len(self.shops) * rng.uniform(0.02, 0.06)))
            )
            self.apps.append((actor, installed, rng.randrange(24), kind))

    # -- emitting -------------------------------------------------------------------------
    def _emit(self, t: int, event: dict[str, Any], mark: int | None = None) -> None:
        if 0 <= t < self.days * DAY:
            self.seq += 1
            self.events.append((t, self.seq, event, mark))

    def ctx(self, t: int, kind: str, **fields: str) -> None:
        self._emit(t, {"type": kind, **fields})

    def source(self, p: Person, t: int) -> dict[str, str]:
        d = t // DAY
        device = p.device + ("n" if 0 <= p.new_device <= d else "")
        if p.trip[0] <= d < p.trip[1]:
            return {"ip": f"198.51.100.{(d * 7) % 250 + 1}", "device": device, "country": p.trip[2]}
        return {"ip": p.ip, "device": device, "country": p.country}

    def access(
        self,
        p: Person,
        t: int,
        action: str,
        shop: Shop,
        rtype: str,
        subjects: list[str],
        *,
        ticket: str | None = None,
        reason: str | None = None,
        count: int | None = None,
        data: list[str] | None = None,
        src: dict[str, str] | None = None,
        mark: int | None = None,
    ) -> None:
        event: dict[str, Any] = {
            "actor": p.kind(),
            "action": action,
            "merchant": shop.id,
            "resource": {"type": rtype, "count": len(subjects) if count is None else count},
            "subjects": subjects,
            "data": data or DATA[rtype],
            "channel": "export"
            if action in ("export", "download")
            else ("admin" if p.team in ("accounts", "risk") else "support_console"),
            "source": src or self.source(p, t),
            "outcome": "allowed",
        }
        just = {}
        if ticket:
            just["ticket"] = ticket
        if reason:
            just["reason"] = reason
        if just:
            event["justification"] = just
        self._emit(t, event, mark)

    def whole(
        self, p: Person, t: int, action: str, shop: Shop, rtype: str = "customer_list", **kw: Any
    ) -> None:
        """A merchant's whole list exported (or downloaded): a page of it named, every customer
        counted."""
        self.access(p, t, action, shop, rtype, shop.page(self.rng, 100), count=shop.n, **kw)

    def new_ticket(self) -> str:
        self.ticket_no += self.rng.randint(1, 4)
        return f"T-{self.ticket_no}"

    # -- a day ----------------------------------------------------------------------------
    def _duty(self, d: int) -> None:
        rng = self.rng
        wd = (START.weekday() + d) % 7
        self.shift = {}
        for p in self.people:
            if d < p.joined or (p.left is not None and d >= p.left):
                continue
            if p.away[0] <= d < p.away[1]:
                continue
            hours = p.hours
            if wd not in p.weekdays:
                if d not in p.oncall:
                    continue
                hours = 6.0
            begin = d * DAY + int(p.start_h * HOUR) + rng.randint(-1200, 1200)
            self.shift[p.id] = (begin, begin + int(hours * HOUR) + rng.randint(-600, 1800))
            p.free_at = begin

    def run(self, names: tuple[str, ...]) -> tuple[list[bytes], dict[str, Any]]:
        rng = self.rng
        plans = self.plan(names)
        for p in self.people:
            if p.joined:
                self.ctx(
                    p.joined * DAY - rng.randint(1, 5) * HOUR,
                    "staff.joined",
                    actor=p.id,
                    team=p.team,
                    role=p.role,
                )
        for d in range(self.days):
            self._duty(d)
            self._life(d)
            peak = 2.0 if self.peak_start <= d < self.peak_start + 7 else 1.0
            for desk in DESKS:
                self._desk(desk, d, peak)
            self._followups(d)
            self._tier2(d, peak)
            for p in self.people:
                if p.id not in self.shift:
                    continue
                if p.team.startswith("frontline"):
                    self._calls(p)
                elif p.team == "accounts":
                    self._accounts(p)
                elif p.team == "risk":
                    self._risk(p)
                elif p.team == "privacy":
                    self._privacy(p, peak)
                elif p.team == "data-ops":
                    self._ops(p)
                if p.night and rng.random() < p.night:
                    self._night(p)
            self._vip_tickets(d)
            for plan in plans:
                self.insider(plan, d)
            self._app_day(d)
        return self.finish(plans)

    def _life(self, d: int) -> None:
        rng = self.rng
        for p in self.people:
            if p.notice == d and not any(p in pl["actors"] for pl in self.plans):
                self.ctx(
                    d * DAY + rng.randint(8, 12) * HOUR, "staff.notice_given", actor=p.id, by="hr"
                )
            if p.left == d:
                self.ctx(d * DAY + rng.randint(0, 3) * HOUR, "staff.left", actor=p.id, by="hr")
            if p.notice is not None and d == p.notice + 5 and p.portfolio:
                others = [
                    q
                    for q in self.people
                    if q.team == "accounts" and q is not p and q.notice is None
                ]
                if others:
                    rng.choice(others).portfolio.extend(p.portfolio)
                    p.portfolio = []
        if d == self.handover_day:
            for p in self.handovers:
                k = max(2, len(p.portfolio) // 2)
                p.portfolio = p.portfolio[k:] + rng.sample(self.big, min(len(self.big), k))

    # -- frontline ----------------------------------------------------------------------
    def _desk(self, desk: str, d: int, peak: float) -> None:
        rng = self.rng
        crew = [
            p
            for p in self.people
            if p.desk == desk and p.team.startswith("frontline") and p.id in self.shift
        ]
        if not crew:
            return
        hours = sum((self.shift[p.id][1] - self.shift[p.id][0]) / HOUR for p in crew)
        lam = sum(p.pace for p in crew) / len(crew) * hours * self.load * peak
        n = max(0, int(rng.gauss(lam, math.sqrt(lam))))
        lo = min(self.shift[p.id][0] for p in crew)
        hi = max(self.shift[p.id][1] for p in crew)
        tickets = self.backlog[desk]
        self.backlog[desk] = []
        for _ in range(n):
            arrival = max(0, rng.randint(lo - 8 * HOUR, hi - 1800))
            x = rng.random()
            shop = self.shop()
            if x < 0.6:
                kind, who = "email", [shop.customer(rng)]
            elif x < 0.75:
                kind, who = "form", [shop.customer(rng)]
            else:
                kind, who = (
                    "merchant",
                    [shop.customer(rng) for _ in range(rng.choice((1, 2, 2, 3, 4)))],
                )
            tk = Ticket(self.new_ticket(), shop, who, arrival, kind)
            self.ctx(
                arrival,
                "ticket.opened",
                ticket=tk.id,
                merchant=shop.id,
                by=f"merchant:{shop.id}" if kind == "merchant" else who[0],
                reason=kind,
            )
            tickets.append(tk)
        tickets.sort(key=lambda k: k.arrival)
        for tk in tickets:
            best: tuple[int, Person] | None = None
            for p in crew:
                s, e = self.shift[p.id]
                t = max(tk.arrival, s, p.free_at)
                if t < e - 600 and (best is None or t < best[0]):
                    best = (t, p)
            if best is None:
                if d * DAY - tk.arrival < 3 * DAY:
                    self.backlog[desk].append(tk)
                continue
            t, p = best
            self.ctx(
                t, "ticket.assigned", ticket=tk.id, merchant=tk.shop.id, actor=p.id, by="router"
            )
            tk.owner = p
            end = self._work(p, t + rng.randint(20, 120), tk)
            p.free_at = max(end + 30, t + int(rng.expovariate(p.pace / HOUR)))
            self._outcome(tk, end, d)

    def _work(self, p: Person, t: int, tk: Ticket, deep: bool = False) -> int:
        rng = self.rng
        shop = tk.shop
        for c in tk.customers:
            if tk.kind == "email" and rng.random() < 0.4:
                self.access(
                    p, t, "search", shop, "customer", [c], ticket=tk.id, count=rng.randint(1, 3)
                )
                t += rng.randint(10, 60)
            self.access(p, t, "view", shop, "customer", [c], ticket=tk.id)
            t += rng.randint(15, 150)
            for _ in range(rng.choice((0, 1, 1, 2, 3))):
                self.access(p, t, "view", shop, "order", [c], ticket=tk.id)
                t += rng.randint(15, 200)
            if rng.random() < (0.5 if deep else 0.25):
                self.access(
                    p, t, "view", shop, "order_list", [c], ticket=tk.id, count=rng.randint(1, 40)
                )
                t += rng.randint(20, 120)
            if rng.random() < (0.5 if deep else 0.06):
                self.access(p, t, "view", shop, "transaction", [c], ticket=tk.id)
                t += rng.randint(20, 120)
            if rng.random() < 0.1:
                self.access(p, t, "update", shop, "customer", [c], ticket=tk.id)
                t += rng.randint(20, 90)
        if deep and rng.random() < 0.15:
            self.access(p, t, "view", shop, "payout", [], ticket=tk.id, count=rng.randint(1, 12))
            t += rng.randint(30, 200)
        p.recent.append((tk.id, shop))
        del p.recent[:-30]
        return t

    def _outcome(self, tk: Ticket, end: int, d: int) -> None:
        rng = self.rng
        x = rng.random()
        owner = tk.owner
        assert owner is not None
        tk.rounds += 1
        if tk.rounds > 3 or x < self.close_now:
            close = end + rng.randint(60, 1800)
            self.ctx(
                close,
                "ticket.closed",
                ticket=tk.id,
                merchant=tk.shop.id,
                actor=owner.id,
                by=owner.id,
            )
            if rng.random() < self.reopen:
                tk.reopen = True
                self.followups.setdefault(d + rng.randint(1, 4), []).append(tk)
        elif x < self.close_now + 0.25:
            self.followups.setdefault(d + rng.randint(1, 3), []).append(tk)
        elif x < self.close_now + 0.25 + self.escalate and not owner.team == "tier2":
            tk.arrival = end + rng.randint(60, 1200)
            self.tier2_queue.append(tk)
        else:  # closed days later without another look
            close = end + rng.randint(1, 3) * DAY + rng.randint(0, 4 * HOUR)
            self.ctx(
                close,
                "ticket.closed",
                ticket=tk.id,
                merchant=tk.shop.id,
                actor=owner.id,
                by=owner.id,
            )

    def _followups(self, d: int) -> None:
        rng = self.rng
        for tk in self.followups.pop(d, []):
            owner = tk.owner
            assert owner is not None
            p = owner if owner.id in self.shift else None
            if p is None:  # shared queue: a colleague of the same team picks it up
                mates = [q for q in self.people if q.team == owner.team and q.id in self.shift]
                if not mates:
                    self.followups.setdefault(d + 1, []).append(tk)
                    continue
                p = rng.choice(mates)
            s, e = self.shift[p.id]
            t = rng.randint(s, max(s + 1, e - 900))
            if p is not owner or tk.reopen:
                self.ctx(
                    t - rng.randint(5, 300),
                    "ticket.assigned",
                    ticket=tk.id,
                    merchant=tk.shop.id,
                    actor=p.id,
                    by="queue" if not tk.reopen else tk.customers[0],
                    **({"reason": "reopened"} if tk.reopen else {}),
                )
            tk.reopen = False
            tk.owner = p
            end = self._work(p, t, Ticket(tk.id, tk.shop, tk.customers[:1], t, "followup"))
            self._outcome(tk, end, d)

    def _tier2(self, d: int, peak: float) -> None:
        rng = self.rng
        crew = [p for p in self.people if p.team == "tier2" and p.id in self.shift]
        queue = sorted(self.tier2_queue, key=lambda k: k.arrival)
        self.tier2_queue = []
        for _ in range(int(len(crew) * rng.uniform(1.5, 3.0) * peak)):  # direct escalations
            shop = self.shop()
            tk = Ticket(
                self.new_ticket(),
                shop,
                [shop.customer(rng)],
                d * DAY + rng.randrange(DAY),
                "dispute",
            )
            self.ctx(
                tk.arrival,
                "ticket.opened",
                ticket=tk.id,
                merchant=shop.id,
                by="payments-hub",
                reason="dispute",
            )
            queue.append(tk)
        queue.sort(key=lambda k: k.arrival)
        for tk in queue:
            best: tuple[int, Person] | None = None
            for p in crew:
                s, e = self.shift[p.id]
                t = max(tk.arrival, s, p.free_at)
                if t < e - 600 and (best is None or t < best[0]):
                    best = (t, p)
            if best is None:
                if d * DAY - tk.arrival < 4 * DAY:
                    self.tier2_queue.append(tk)
                continue
            t, p = best
            prev = tk.owner
            self.ctx(
                t,
                "ticket.assigned",
                ticket=tk.id,
                merchant=tk.shop.id,
                actor=p.id,
                by=prev.id if prev else "router",
                reason="escalated" if prev else "dispute",
            )
            tk.owner = p
            end = self._work(p, t + rng.randint(30, 300), tk, deep=True)
            p.free_at = max(end + 60, t + int(rng.expovariate(p.pace / 2 / HOUR)))
            self._outcome(tk, end, d)

    def _calls(self, p: Person) -> None:
        """Phone and chat tickets the agent opens and closes themselves, and quick looks back
        at recent tickets' customers (no ticket cited)."""
        rng = self.rng
        s, e = self.shift[p.id]
        n = int(p.calls * (e - s) / HOUR * rng.uniform(0.5, 1.5))
        for _ in range(n):
            t = rng.randint(s, e)
            shop = self.shop()
            c = shop.customer(rng)
            if p.recent and rng.random() < 0.15:  # calls about an open ticket
                tid, shop = rng.choice(p.recent)
                self._work(p, t, Ticket(tid, shop, [shop.customer(rng)], t, "call"))
                continue
            tid = self.new_ticket()
            if rng.random() < 0.35:  # finds the caller in the list first
                self.access(
                    p, t, "view", shop, "customer_list", shop.page(rng, rng.choice((20, 50)))
                )
                t += rng.randint(10, 90)
            self.ctx(
                t,
                "ticket.opened",
                ticket=tid,
                merchant=shop.id,
                by=p.id,
                actor=p.id,
                reason=rng.choice(("inbound call", "chat")),
            )
            end = self._work(p, t + rng.randint(5, 60), Ticket(tid, shop, [c], t, "call"))
            self.ctx(
                end + rng.randint(30, 600),
                "ticket.closed",
                ticket=tid,
                merchant=shop.id,
                actor=p.id,
                by=p.id,
            )
        for _ in range(int(len(p.recent) * p.peek * rng.random())):
            _, shop = rng.choice(p.recent)
            self.access(p, rng.randint(s, e), "view", shop, "customer", [shop.customer(rng)])

    def _night(self, p: Person) -> None:
        rng = self.rng
        if not p.recent:
            return
        _, e = self.shift[p.id]
        t = e + rng.randint(3, 6) * HOUR
        for _ in range(rng.randint(1, 4)):
            tid, shop = rng.choice(p.recent)
            self.access(p, t, "view", shop, "customer", [shop.customer(rng)], ticket=tid)
            t += rng.randint(60, 900)

    def _vip_tickets(self, d: int) -> None:
        rng = self.rng
        for _ in range(sum(1 for _ in range(3) if rng.random() < 0.35 + len(self.people) / 600)):
            c = rng.choice(self.vips)
            shop = self.vip_shop[c]
            pool = [p for p in self.people if p.team == "tier2" and p.id in self.shift]
            pool = pool or [
                p for p in self.people if p.team.startswith("frontline") and p.id in self.shift
            ]
            if not pool:
                continue
            p = rng.choice(pool)
            s, e = self.shift[p.id]
            t = rng.randint(s, max(s + 1, e - 1800))
            tk = Ticket(self.new_ticket(), shop, [c], t, "vip")
            self.ctx(
                t - rng.randint(600, 6 * HOUR),
                "ticket.opened",
                ticket=tk.id,
                merchant=shop.id,
                by=c,
                reason="priority customer",
            )
            self.ctx(t, "ticket.assigned", ticket=tk.id, merchant=shop.id, actor=p.id, by="router")
            tk.owner = p
            self._outcome(tk, self._work(p, t + 60, tk, deep=True), d)

    # -- specialist teams --------------------------------------------------------------
    def _accounts(self, p: Person) -> None:
        rng = self.rng
        if not p.portfolio:
            return
        s, e = self.shift[p.id]
        for shop in rng.sample(p.portfolio, min(len(p.portfolio), rng.randint(2, 6))):
            t = rng.randint(s, e - 900)
            why = rng.choice((None, None, None, "account review", "quarterly business review"))
            self.access(
                p,
                t,
                "view",
                shop,
                "order_list",
                shop.page(rng, rng.choice((20, 50))),
                reason=why,
                count=rng.randint(20, 800),
            )
            t += rng.randint(30, 300)
            if rng.random() < 0.35:
                self.access(
                    p,
                    t,
                    "view",
                    shop,
                    "customer_list",
                    shop.page(rng, 50),
                    reason=why,
                    count=rng.randint(50, 2000),
                )
                t += rng.randint(30, 300)
            for _ in range(rng.randint(0, 3)):
                self.access(p, t, "view", shop, "customer", [shop.customer(rng)], reason=why)
                t += rng.randint(20, 200)
        if rng.random() < 0.15:  # a merchant's ticket routed to their manager
            shop = rng.choice(p.portfolio)
            t = rng.randint(s, e - 900)
            tk = Ticket(
                self.new_ticket(), shop, [shop.customer(rng) for _ in range(2)], t, "merchant"
            )
            self.ctx(
                t - HOUR,
                "ticket.opened",
                ticket=tk.id,
                merchant=shop.id,
                by=f"merchant:{shop.id}",
                reason="merchant",
            )
            self.ctx(t, "ticket.assigned", ticket=tk.id, merchant=shop.id, actor=p.id, by="router")
            tk.owner = p
            end = self._work(p, t + 60, tk)
            self.ctx(
                end + 600, "ticket.closed", ticket=tk.id, merchant=shop.id, actor=p.id, by=p.id
            )

    def _risk(self, p: Person) -> None:
        rng = self.rng
        s, e = self.shift[p.id]
        if rng.random() < 0.55:  # a fraud case across merchants
            tid = self.new_ticket()
            t = rng.randint(s, s + 3 * HOUR)
            by = "risk-engine" if rng.random() < 0.7 else p.id
            self.ctx(
                t - rng.randint(60, 4 * HOUR),
                "ticket.opened",
                ticket=tid,
                by=by,
                reason="fraud case",
            )
            self.ctx(
                t,
                "ticket.assigned",
                ticket=tid,
                actor=p.id,
                by="risk-engine" if by != p.id else p.id,
            )
            ring = [self.shop() for _ in range(rng.randint(4, 20))]
            for shop in ring:
                who = [shop.customer(rng) for _ in range(rng.randint(1, 4))]
                self.access(p, t, "search", shop, "customer", who, ticket=tid)
                t += rng.randint(20, 120)
                self.access(
                    p,
                    t,
                    "view",
                    shop,
                    "order_list",
                    who,
                    ticket=tid,
                    count=rng.randint(len(who), 60),
                )
                t += rng.randint(30, 400)
                if rng.random() < 0.5:
                    self.access(p, t, "view", shop, "transaction", who[:1], ticket=tid)
                    t += rng.randint(20, 200)
            close = t + rng.choice((600, HOUR, DAY, 2 * DAY))
            self.ctx(close, "ticket.closed", ticket=tid, actor=p.id, by=p.id)
        for _ in range(rng.randint(0, 4)):  # chargeback reviews, reason only
            shop = self.shop()
            self.access(
                p,
                rng.randint(s, e),
                "view",
                shop,
                "transaction",
                [shop.customer(rng)],
                reason="chargeback review",
            )

    def _privacy(self, p: Person, peak: float) -> None:
        rng = self.rng
        s, e = self.shift[p.id]
        for _ in range(rng.randint(1, int(3 * peak) + 1)):
            shop = self.shop()
            c = shop.customer(rng)
            erase = rng.random() < 0.3
            tid = self.new_ticket()
            t = rng.randint(s, e - 1800)
            self.ctx(
                t - rng.randint(1, 10) * DAY,
                "ticket.opened",
                ticket=tid,
                merchant=shop.id,
                by=c,
                reason="erasure request" if erase else "access request",
            )
            self.ctx(
                t, "ticket.assigned", ticket=tid, merchant=shop.id, actor=p.id, by="privacy-queue"
            )
            self.access(p, t + 30, "search", shop, "customer", [c], ticket=tid)
            if erase:
                self.access(p, t + 200, "delete", shop, "customer", [c], ticket=tid, data=DSAR_DATA)
            else:
                self.access(p, t + 200, "export", shop, "customer", [c], ticket=tid, data=DSAR_DATA)
                if rng.random() < 0.6:
                    self.access(
                        p, t + 260, "download", shop, "customer", [c], ticket=tid, data=DSAR_DATA
                    )
            self.ctx(
                t + rng.randint(900, 3 * HOUR),
                "ticket.closed",
                ticket=tid,
                merchant=shop.id,
                actor=p.id,
                by=p.id,
            )

    def _ops(self, p: Person) -> None:
        rng = self.rng
        s, e = self.shift[p.id]
        for _ in range(rng.randint(0, 3)):
            shop = rng.choice(self.big) if rng.random() < 0.7 else self.shop()
            t = rng.randint(s, e - 1800)
            rtype = rng.choice(("customer_list", "order_list"))
            if rng.random() < 0.82:
                tid = self.new_ticket()
                self.ctx(
                    t - rng.randint(1, 20) * HOUR,
                    "ticket.opened",
                    ticket=tid,
                    merchant=shop.id,
                    by=f"merchant:{shop.id}",
                    reason="bulk export",
                )
                self.ctx(
                    t - 300,
                    "ticket.assigned",
                    ticket=tid,
                    merchant=shop.id,
                    actor=p.id,
                    by="router",
                )
                self.whole(p, t, "export", shop, rtype, ticket=tid)
                self.ctx(
                    t + rng.randint(600, 7200),
                    "ticket.closed",
                    ticket=tid,
                    merchant=shop.id,
                    actor=p.id,
                    by=p.id,
                )
                p.recent.append((tid, shop))
            else:
                self.whole(
                    p, t, "export", shop, rtype, reason="merchant request via account manager"
                )

    def _app_day(self, d: int) -> None:
        rng = self.rng
        for actor, installed, hour, kind in self.apps:
            for shop in installed:
                t = d * DAY + hour * HOUR + rng.randrange(HOUR)
                event: dict[str, Any] = {
                    "actor": actor,
                    "action": "export" if kind == "integration" else "view",
                    "merchant": shop.id,
                    "resource": {
                        "type": "order_list" if rng.random() < 0.6 else "customer_list",
                        "count": rng.randint(1, max(2, shop.n // 20)),
                    },
                    "data": ["order_details", "contact"],
                    "channel": kind if kind == "integration" else "api",
                    "outcome": "allowed",
                }
                self._emit(t, event)

    # -- insiders ------------------------------------------------------------------------
    def plan(self, names: tuple[str, ...]) -> list[dict[str, Any]]:
        rng = self.rng
        days = self.days
        used: set[str] = set()
        self.plans: list[dict[str, Any]] = []

        def pick(k: int, teams: tuple[str, ...], same_desk: bool = False) -> list[Person]:
            def ok(p: Person) -> bool:
                return p.id not in used and not p.temp and p.joined == 0 and p.notice is None

            pool = [p for p in self.people if ok(p) and p.team.startswith(teams)]
            if len(pool) < k:
                pool = [
                    p for p in self.people if ok(p) and p.team.startswith(("frontline", "tier2"))
                ]
            if same_desk and k > 1:
                by: dict[str, list[Person]] = {}
                for p in pool:
                    by.setdefault(p.desk, []).append(p)
                desks = [v for _, v in sorted(by.items()) if len(v) >= k]
                if desks:
                    pool = rng.choice(desks)
            chosen = rng.sample(pool, k)
            for p in chosen:
                used.add(p.id)
                p.away = (-1, -1)
                p.trip = (-1, -1, "")
            return chosen

        for index, name in enumerate(names):
            start = rng.randint(max(4, days // 5), max(5, days - 9))
            plan: dict[str, Any] = {"name": name, "index": index, "start": start}
            if name == "pair_harvest":
                plan["actors"] = pick(2, ("frontline",), same_desk=True)
                pool = rng.sample(self.big, min(len(self.big), rng.randint(10, 22)))
                cut = len(pool) * 3 // 5
                plan["lists"] = [pool[:cut], pool[len(pool) - cut :]]
                for lst in plan["lists"]:
                    rng.shuffle(lst)
            elif name == "low_and_slow":
                plan["actors"] = pick(1, ("frontline", "tier2"))
                plan["start"] = rng.randint(max(3, days // 6), max(4, days // 3))
                plan["targets"] = rng.sample(self.shops, rng.randint(3, 6))
            elif name == "vip_snooping":
                plan["actors"] = pick(1, ("frontline", "tier2"))
                seen: dict[str, str] = {}
                for c in rng.sample(self.vips, len(self.vips)):
                    seen.setdefault(self.vip_shop[c].id, c)
                plan["vips"] = list(seen.values())[: rng.randint(3, 4)]
            elif name == "departing_export":
                plan["actors"] = pick(1, ("data-ops", "accounts", "tier2"))
                p = plan["actors"][0]
                p.notice = start
                p.left = start + rng.randint(10, 15)
                mine = p.portfolio[: rng.randint(1, 3)]
                others = [s for s in rng.sample(self.big, min(len(self.big), 8)) if s not in mine]
                plan["targets"] = (mine + others)[: rng.randint(5, 9)]
                plan["queue"] = plan["targets"][:]
            elif name == "fake_tickets":
                plan["actors"] = pick(1, ("frontline",))
            elif name == "compromised_account":
                plan["actors"] = pick(1, ("frontline", "tier2", "accounts"))
                p = plan["actors"][0]
                plan["src"] = {
                    "ip": f"45.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                    "device": f"wk-{rng.getrandbits(32):08x}",
                    "country": rng.choice([c for c in FAR if c != p.country]),
                }
                plan["nights"] = sorted(
                    rng.sample(range(start, days), min(days - start, rng.randint(2, 4)))
                )
            self.plans.append(plan)
        return self.plans

    def _cover(self, p: Person, shop: Shop) -> str | None:
        """A real ticket of ``p``'s about another merchant, if any."""
        other = [tid for tid, s in p.recent if s is not shop]
        return self.rng.choice(other) if other else None

    def insider(self, plan: dict[str, Any], d: int) -> None:
        rng = self.rng
        name = plan["name"]
        mark = plan["index"]
        if d < plan["start"]:
            return
        for n, p in enumerate(plan["actors"]):
            if name == "departing_export" and d == plan["start"]:
                self.ctx(
                    d * DAY + rng.randint(8, 12) * HOUR, "staff.notice_given", actor=p.id, by="hr"
                )
            if name == "compromised_account":
                if d in plan["nights"]:
                    t = d * DAY + int((p.start_h + rng.uniform(12, 16)) * HOUR) % DAY
                    for shop in rng.sample(self.shops, rng.randint(6, 14)):
                        src = plan["src"]
                        self.access(
                            p,
                            t,
                            "search",
                            shop,
                            "customer",
                            shop.page(rng, rng.randint(3, 12)),
                            src=src,
                            mark=mark,
                        )
                        t += rng.randint(5, 40)
                        self.access(
                            p,
                            t,
                            "view",
                            shop,
                            "customer_list",
                            shop.page(rng, 100),
                            count=min(shop.n, 100 * rng.randint(1, 5)),
                            src=src,
                            mark=mark,
                        )
                        t += rng.randint(5, 40)
                        if rng.random() < 0.4:
                            self.whole(p, t, "export", shop, src=src, mark=mark)
                            t += rng.randint(20, 90)
                continue
            if p.id not in self.shift:
                continue
            s, e = self.shift[p.id]
            if name == "pair_harvest":
                if rng.random() > 0.8:
                    continue
                lst = plan["lists"][n]
                todo = [lst.pop() for _ in range(min(len(lst), rng.randint(1, 3)))]
                if not todo:
                    todo = [rng.choice(plan["lists"][1 - n] or self.big)]
                for shop in todo:
                    t = rng.randint(s, e)
                    tid = self._cover(p, shop) if rng.random() < 0.2 else None
                    self.access(
                        p,
                        t,
                        "view",
                        shop,
                        "customer_list",
                        shop.page(rng, rng.choice((50, 100))),
                        ticket=tid,
                        count=min(shop.n, rng.choice((50, 100, 250))),
                        mark=mark,
                    )
                    t += rng.randint(20, 120)
                    if rng.random() < 0.5:
                        self.access(
                            p,
                            t,
                            "view",
                            shop,
                            "order_list",
                            shop.page(rng, 50),
                            ticket=tid,
                            count=rng.randint(50, 500),
                            mark=mark,
                        )
                        t += rng.randint(20, 120)
                    if rng.random() < 0.25:
                        self.whole(p, t, "export", shop, ticket=tid, mark=mark)
            elif name == "low_and_slow":
                if rng.random() > 0.75:
                    continue
                targets = plan["targets"]
                for shop in rng.sample(targets, 1 if rng.random() < 0.6 else 2):
                    t = rng.randint(s, e)
                    for _ in range(rng.randint(1, 3)):
                        c = shop.customer(rng)
                        x = rng.random()
                        tid = self._cover(p, shop) if x < 0.3 else None
                        why = rng.choice(LOOSE_REASONS) if 0.3 <= x < 0.6 else None
                        self.access(
                            p, t, "view", shop, "customer", [c], ticket=tid, reason=why, mark=mark
                        )
                        t += rng.randint(30, 400)
                        if rng.random() < 0.5:
                            self.access(
                                p, t, "view", shop, "order", [c], ticket=tid, reason=why, mark=mark
                            )
                            t += rng.randint(30, 400)
            elif name == "vip_snooping":
                if rng.random() > 0.65:
                    continue
                for c in rng.sample(plan["vips"], rng.randint(1, min(3, len(plan["vips"])))):
                    shop = self.vip_shop[c]
                    t = rng.randint(s, e + (2 * HOUR if rng.random() < 0.2 else 0))
                    tid = self._cover(p, shop) if rng.random() < 0.25 else None
                    self.access(p, t, "view", shop, "customer", [c], ticket=tid, mark=mark)
                    for _ in range(rng.randint(0, 2)):
                        t += rng.randint(20, 300)
                        self.access(
                            p,
                            t,
                            "view",
                            shop,
                            rng.choice(("order", "order_list")),
                            [c],
                            ticket=tid,
                            mark=mark,
                        )
            elif name == "departing_export":
                left = p.left if p.left is not None else self.days
                remaining = [
                    x
                    for x in range(d, min(left, self.days))
                    if (START.weekday() + x) % 7 in p.weekdays
                ]
                queue = plan["queue"]
                k = math.ceil(len(queue) / max(1, len(remaining))) if queue else 0
                if queue and d > plan["start"] and rng.random() < 0.6:
                    k = max(k, 1)
                for shop in [queue.pop() for _ in range(min(k, len(queue)))]:
                    t = rng.randint(s, e)
                    x = rng.random()
                    tid = self._cover(p, shop) if x < 0.3 else None
                    why = "backup before handover" if 0.3 <= x < 0.6 else None
                    self.whole(p, t, "export", shop, ticket=tid, reason=why, mark=mark)
                    if rng.random() < 0.5:
                        when = t + rng.randint(30, 200)
                        self.whole(p, when, "download", shop, ticket=tid, reason=why, mark=mark)
            elif name == "fake_tickets":
                if rng.random() > 0.7:
                    continue
                for _ in range(rng.randint(1, 2)):
                    shop = rng.choice(self.big)
                    t = rng.randint(s, e)
                    tid = self.new_ticket()
                    self.ctx(
                        t,
                        "ticket.opened",
                        ticket=tid,
                        merchant=shop.id,
                        by=p.id,
                        actor=p.id,
                        reason=rng.choice(("inbound call", "chat")),
                    )
                    t += rng.randint(20, 120)
                    for _ in range(rng.randint(1, 3)):
                        self.access(
                            p,
                            t,
                            "view",
                            shop,
                            "customer_list",
                            shop.page(rng, 100),
                            ticket=tid,
                            count=min(shop.n, rng.choice((100, 200, 500))),
                            mark=mark,
                        )
                        t += rng.randint(15, 90)
                    if rng.random() < 0.3:
                        self.whole(p, t, "export", shop, ticket=tid, mark=mark)
                        t += rng.randint(15, 90)
                    self.ctx(
                        t + rng.randint(240, 1200),
                        "ticket.closed",
                        ticket=tid,
                        merchant=shop.id,
                        actor=p.id,
                        by=p.id,
                    )

    # -- output --------------------------------------------------------------------------
    def finish(self, plans: list[dict[str, Any]]) -> tuple[list[bytes], dict[str, Any]]:
        rng = random.Random(f"w3/late/{self.seed}/{len(self.events)}")
        # Late deliveries: some staff-days reach the collector in one batch hours later.
        last: dict[tuple[str, int], int] = {}
        for t, _, ev, _ in self.events:
            actor = ev.get("actor")
            if isinstance(actor, dict) and actor["kind"] == "staff":
                key = (actor["id"], t // DAY)
                if t > last.get(key, -1):
                    last[key] = t
        late: dict[tuple[str, int], int] = {}
        for key in sorted(last):
            if rng.random() < self.late_share:
                late[key] = last[key] + rng.randint(HOUR, 12 * HOUR)
        if not late and last:  # at least one batch late
            key = rng.choice(sorted(last))
            late[key] = last[key] + rng.randint(HOUR, 12 * HOUR)
        rows = []
        for t, seq, ev, mark in self.events:
            actor = ev.get("actor")
            arrival = t
            if isinstance(actor, dict):
                arrival = late.get((actor["id"], t // DAY), t)
            rows.append((arrival, t, seq, ev, mark))
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        lines = []
        marked: dict[int, list[tuple[int, str, dict[str, Any]]]] = {}
        for _, t, seq, ev, mark in rows:
            eid = f"{'acc' if 'action' in ev else 'ctx'}3-{seq:08d}"
            lines.append(json.dumps({"id": eid, "time": _iso(self.t0 + t), **ev}).encode())
            if mark is not None:
                marked.setdefault(mark, []).append((t, eid, ev))
        scenarios = []
        for plan in plans:
            got = sorted(marked.get(plan["index"], []), key=lambda m: (m[0], m[1]))
            if not got:
                continue
            scenarios.append(
                {
                    "name": plan["name"],
                    "actors": [p.id for p in plan["actors"]],
                    "start": _iso(self.t0 + got[0][0]),
                    "end": _iso(self.t0 + got[-1][0]),
                    "merchants": sorted({ev["merchant"] for _, _, ev in got}),
                    "subjects": sorted({c for _, _, ev in got for c in ev["subjects"]}),
                    "events": [eid for _, eid, _ in got],
                }
            )
        truth = {
            "generator": "world3",
            "seed": self.seed,
            "start": _iso(self.t0),
            "end": _iso(self.t0 + self.days * DAY),
            "agents": self.agents,
            "temporary_staff": sum(1 for p in self.people if p.temp),
            "merchants": len(self.shops),
            "days": self.days,
            "scenarios": scenarios,
            "high_profile_customers": self.vips,
        }
        return lines, truth


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(
    size: str, seed: int, scenarios: tuple[str, ...] = SCENARIOS
) -> tuple[list[bytes], dict[str, Any]]:
    """The events (JSON lines, delivery order) and ground truth of ``size`` for ``seed``."""
    agents, merchants, days = size_of(size, seed)
    return World3(agents, merchants, days, seed).run(tuple(scenarios))
