"""The simulated platform: merchants and their customers, apps and integrations, support
staff with their teams, sites, shifts and devices, and the ordinary life events of staff
(hires, leavers, role changes, new laptops, travel, holidays).

Everything here is decided up front from one seeded random generator, before any event is
generated, so the population of a seed never depends on what happens during the window.
Customer ids are ``c-<merchant number>-<n>`` for ``n`` in ``1..size``: ids only, never
personal data.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Final

from sentinelle.sim.calendar import PLACES, SITES, Clock, Site, black_friday, country_ip
from sentinelle.sim.profiles import Rates

__all__ = ["TEAMS", "Agent", "App", "Merchant", "Ticket", "World"]

TEAMS: Final = ("tier1", "tier2", "billing", "fraud", "onboarding", "qa")
"""Support teams. Leads (role ``lead``) belong to a team; QA analysts form team ``qa``."""

_TEAM_SHARE: Final = {
    "tier1": 0.42,
    "tier2": 0.15,
    "billing": 0.10,
    "fraud": 0.11,
    "onboarding": 0.09,
    "qa": 0.05,
}
_SITE_WEIGHTS: Final = {  # site name → weight, per team
    "tier1": {"Manila": 35, "Lisbon": 20, "Paris": 15, "Krakow": 10, "Toronto": 20},
    "tier2": {"Paris": 30, "Lisbon": 25, "Krakow": 20, "Toronto": 25},
    "billing": {"Dublin": 50, "Paris": 30, "Toronto": 20},
    "fraud": {"Dublin": 40, "Krakow": 30, "Manila": 30},
    "onboarding": {"Lisbon": 40, "Toronto": 30, "Paris": 30},
    "qa": {"Krakow": 50, "Manila": 50},
}
_SHIFTS: Final = {  # site name → (local start minute, weight); Manila runs a night shift
    "Manila": ((360, 20), (480, 30), (540, 20), (840, 10), (1320, 20)),
    "Toronto": ((480, 20), (540, 30), (600, 20), (720, 20), (960, 10)),
}
_EU_SHIFTS: Final = ((420, 15), (480, 30), (540, 30), (600, 10), (720, 10), (840, 5))
_MERCHANT_COUNTRIES: Final = (
    ("FR", 20),
    ("DE", 18),
    ("ES", 12),
    ("IT", 10),
    ("NL", 8),
    ("GB", 10),
    ("BE", 5),
    ("PT", 4),
    ("IE", 3),
    ("PL", 6),
    ("SE", 4),
)
_PEAK_PROFILE: Final = (1.7, 1.9, 2.1, 2.3, 3.0, 2.4, 2.2, 2.7)  # Mon … Black Friday … Cyber Monday


@dataclass(slots=True, eq=False)
class Merchant:
    """A shop on the platform and its customer base."""

    id: str
    prefix: str
    size: int
    country: str
    users: tuple[str, ...]
    sisters: list[Merchant] = field(default_factory=list)
    monthly_export: bool = False
    standing_export: bool = False
    onboarding_day: int | None = None

    def customer(self, n: int) -> str:
        """The id of customer number ``n`` (1-based)."""
        return f"{self.prefix}{n}"

    def any_customer(self, rng: random.Random) -> str:
        """A customer picked at random."""
        return f"{self.prefix}{rng.randint(1, self.size)}"

    def page(self, first: int, count: int) -> list[str]:
        """Customers ``first … first+count-1`` (a page of a list sorted by signup)."""
        stop = min(self.size + 1, first + count)
        return [f"{self.prefix}{n}" for n in range(max(1, first), stop)]

    def sample(self, rng: random.Random, count: int) -> list[str]:
        """``count`` distinct customers at random, in id order (all when there are fewer)."""
        if count >= self.size:
            return self.page(1, self.size)
        numbers = sorted(rng.sample(range(1, self.size + 1), count))
        return [f"{self.prefix}{n}" for n in numbers]


@dataclass(slots=True, eq=False)
class Ticket:
    """A support ticket: who it is about and who has worked on it."""

    id: str
    merchant: Merchant
    customer: str | None
    kind: str
    opened: int
    justification: dict[str, str]
    assignee: Agent | None = None
    subjects: list[str] = field(default_factory=list)
    closed: int | None = None
    escalated: bool = False


@dataclass(slots=True, eq=False)
class Agent:
    """A member of the support staff."""

    id: str
    number: int
    team: str
    role: str
    site: Site
    shift_start: int
    shift_len: int
    days_off: tuple[int, ...]
    joined_ts: int
    device: str
    home_ip: str
    join_day: int | None = None
    notice_day: int | None = None
    left_day: int | None = None
    left_ts: int | None = None
    lead: Agent | None = None
    devices: list[tuple[int, int | None, str]] = field(default_factory=list)
    trips: list[tuple[int, int, str, str]] = field(default_factory=list)
    role_change: tuple[int, str, str] | None = None
    absent: set[int] = field(default_factory=set)
    notice_export: bool = False
    special: bool = False
    oncall: set[int] = field(default_factory=set)  # on-call nights (window days)
    qa_days: set[int] = field(default_factory=set)  # days on QA sampling duty
    callbacks: list[tuple[int, Merchant, str]] = field(default_factory=list)  # due day, who
    cover: list[Ticket] = field(default_factory=list)  # a colleague's tickets to follow up
    # Running state, while the simulation runs.
    actor: dict[str, str] = field(default_factory=dict)
    backlog: list[Ticket] = field(default_factory=list)
    recent: deque[Ticket] = field(default_factory=lambda: deque(maxlen=60))
    seen: set[str] = field(default_factory=set)
    source_day: int = -99
    source: dict[str, str] = field(default_factory=dict)

    def refresh_actor(self) -> None:
        """Rebuild the ``actor`` member of this agent's access events."""
        self.actor = {"id": self.id, "kind": "staff", "role": self.role, "team": self.team}

    def employed(self, day: int) -> bool:
        """Whether the agent is on the staff on window day ``day``."""
        if self.join_day is not None and day < self.join_day:
            return False
        return self.left_day is None or day < self.left_day

    def device_on(self, day: int) -> str:
        """The device the agent works on that day."""
        device = self.device
        for since, until, other in self.devices:
            if since <= day and (until is None or day < until):
                device = other
        return device

    def trip_on(self, day: int) -> tuple[str, str] | None:
        """``(country, ip)`` when the agent is travelling that day."""
        for since, until, country, ip in self.trips:
            if since <= day < until:
                return country, ip
        return None


@dataclass(slots=True, eq=False)
class App:
    """A merchant-installed app (``kind="app"``) or an integration (``kind="integration"``)
    that reads orders through the API."""

    id: str
    kind: str
    ip: str
    country: str
    installs: list[tuple[Merchant, float]] = field(default_factory=list)
    interval_h: int = 0  # integrations sync on a schedule; apps call when something happens
    actor: dict[str, str] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)


def _weighted(rng: random.Random, pairs: tuple[tuple[int, int], ...]) -> int:
    values = [v for v, _ in pairs]
    return rng.choices(values, weights=[w for _, w in pairs])[0]


def _counts(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Split ``total`` by ``shares`` (largest remainder), at least one each when it fits."""
    raw = {k: total * v / sum(shares.values()) for k, v in shares.items()}
    counts = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - counts[k], reverse=True)[
        : total - sum(counts.values())
    ]:
        counts[k] += 1
    if total >= len(shares):
        for k in shares:
            while counts[k] == 0:
                donor = max(counts, key=lambda j: counts[j])
                counts[donor] -= 1
                counts[k] += 1
    return counts


class World:
    """Everything that exists in the simulated window, decided before the first event."""

    def __init__(
        self,
        *,
        clock: Clock,
        merchants: int,
        agents: int,
        rng: random.Random,
        team_share: dict[str, float] | None = None,
        rates: Rates | None = None,
        hard_rng: random.Random | None = None,
    ) -> None:
        self.clock = clock
        self.team_share = team_share or _TEAM_SHARE
        self.rates = rates or Rates()
        self.days = clock.days
        self._devices: set[str] = set()
        self.merchants = self._merchants(merchants, rng)
        self.by_id = {m.id: m for m in self.merchants}
        activity = [m.size**0.7 for m in self.merchants]
        self._cum_activity = _cumulative(activity)
        self._cum_spread = _cumulative([m.size**0.3 for m in self.merchants])
        self.vips = self._vips(rng)
        self.apps = self._apps(rng)
        self.agents = self._staff(agents, rng)
        self.peak = self._peak()
        self._life_events(rng)
        if self.rates.any:
            self._hard_negatives(hard_rng or random.Random(0))  # noqa: S311

    # Picking merchants ---------------------------------------------------------------------

    def merchant(self, rng: random.Random) -> Merchant:
        """A merchant weighted by support activity (larger shops open more tickets)."""
        i = bisect.bisect(self._cum_activity, rng.random() * self._cum_activity[-1])
        return self.merchants[min(i, len(self.merchants) - 1)]

    def spread_merchant(self, rng: random.Random) -> Merchant:
        """A merchant weighted only a little by size (fraud cases, onboarding, billing)."""
        i = bisect.bisect(self._cum_spread, rng.random() * self._cum_spread[-1])
        return self.merchants[min(i, len(self.merchants) - 1)]

    def new_device(self, rng: random.Random) -> str:
        """A device id never used before in this world."""
        while True:
            device = f"dev-{rng.getrandbits(32):08x}"
            if device not in self._devices:
                self._devices.add(device)
                return device

    # Building ------------------------------------------------------------------------------

    def _merchants(self, count: int, rng: random.Random) -> list[Merchant]:
        countries = tuple(c for c, _ in _MERCHANT_COUNTRIES)
        weights = [w for _, w in _MERCHANT_COUNTRIES]
        merchants = []
        for i in range(count):
            number = 1001 + i
            # Heavy-tailed customer bases: most shops are small, a few are very large.
            size = min(100_000, max(3, int(50 * rng.paretovariate(1.05))))
            users = tuple(f"mu-{number}-{k}" for k in range(1, 2 + int(rng.random() * 3)))
            merchant = Merchant(
                id=f"m-{number}",
                prefix=f"c-{number}-",
                size=size,
                country=rng.choices(countries, weights)[0],
                users=users,
            )
            merchant.monthly_export = rng.random() < (0.12 if size > 2000 else 0.03)
            merchant.standing_export = merchant.monthly_export and rng.random() < 0.4
            if rng.random() < 0.05:
                merchant.onboarding_day = rng.randint(-7, max(0, self.days - 3))
            merchants.append(merchant)
        # Sister stores: one company, several shops; tickets sometimes span them.
        grouped = rng.sample(merchants, k=len(merchants) // 25)
        i = 0
        while i + 1 < len(grouped):
            size = min(len(grouped) - i, rng.choice((2, 2, 3)))
            group = grouped[i : i + size]
            for m in group:
                m.sisters = [o for o in group if o is not m]
            i += size
        return merchants

    def _vips(self, rng: random.Random) -> list[tuple[Merchant, str]]:
        count = min(25, max(5, len(self.merchants) // 150))
        big = sorted(self.merchants, key=lambda m: m.size, reverse=True)
        pool = big[: max(count, len(big) // 5)]
        vips: list[tuple[Merchant, str]] = []
        seen: set[str] = set()
        while len(vips) < count:
            merchant = rng.choice(pool)
            customer = merchant.any_customer(rng)
            if customer not in seen:
                seen.add(customer)
                vips.append((merchant, customer))
        return vips

    def _apps(self, rng: random.Random) -> list[App]:
        apps = []
        for k in range(1, max(4, len(self.merchants) // 60) + 1):
            country = rng.choice(("IE", "DE", "NL", "FR", "US"))
            app = App(
                id=f"app-{k:03d}",
                kind="app",
                country=country,
                ip=country_ip(country, 250, rng.randrange(254)),
            )
            apps.append(app)
        popularity = [1 / (rank + 1) ** 0.8 for rank in range(len(apps))]
        for merchant in self.merchants:
            installed = min(len(apps), int(rng.expovariate(1 / 1.3)))
            rate = 0.15 + merchant.size**0.5 / 25
            for app in _distinct(rng, apps, popularity, installed):
                app.installs.append((merchant, rate * rng.uniform(0.5, 1.5)))
        number = 0
        for merchant in self.merchants:
            if merchant.size >= 3000 and rng.random() < 0.7:
                number += 1
                country = merchant.country
                integration = App(
                    id=f"integration-{number:03d}",
                    kind="integration",
                    country=country,
                    ip=country_ip(country, 251, rng.randrange(254)),
                    interval_h=rng.choice((2, 3, 4, 6)),
                )
                integration.installs.append((merchant, merchant.size / 4000))
                apps.append(integration)
        for app in apps:
            app.actor = {"id": app.id, "kind": app.kind}
            app.source = {"ip": app.ip, "country": app.country}
        return apps

    def _staff(self, total: int, rng: random.Random) -> list[Agent]:
        hires = round(total * 0.04) if total >= 20 else 0
        existing = total - hires
        counts = _counts(existing, self.team_share)
        slots: list[tuple[str, str]] = []
        for team, n in counts.items():
            leads = n // 9 if n >= 5 else 0
            slots += [(team, "lead")] * max(leads, 1 if n >= 5 else 0)
            slots += [(team, "qa" if team == "qa" else "agent")] * (
                n - max(leads, 1 if n >= 5 else 0)
            )
        rng.shuffle(slots)
        hire_teams = ("tier1", "tier1", "tier1", "fraud", "onboarding", "billing", "tier1", "tier2")
        slots += [(rng.choice(hire_teams), "agent") for _ in range(hires)]
        staff: list[Agent] = []
        for number, (team, role) in enumerate(slots, 1):
            weights = _SITE_WEIGHTS[team]
            site_name = rng.choices(list(weights), list(weights.values()))[0]
            site = next(s for s in SITES if s.name == site_name)
            hired = number > existing
            shifts: tuple[tuple[int, int], ...] = _SHIFTS.get(site.name, _EU_SHIFTS)
            if hired:  # new hires start on a day shift
                shifts = tuple(s for s in shifts if 420 <= s[0] <= 600)
            if rng.random() < 0.72:
                days_off: tuple[int, ...] = (5, 6)
            else:
                first = rng.choice((0, 1, 2, 3, 4, 6))
                days_off = (first, (first + 1) % 7)
            agent = Agent(
                id=f"agent-{number:03d}",
                number=number,
                team=team,
                role=role,
                site=site,
                shift_start=_weighted(rng, shifts),
                shift_len=rng.randint(500, 540),
                days_off=days_off,
                joined_ts=0,
                device=self.new_device(rng),
                home_ip=country_ip(site.country, rng.randrange(1, 200), rng.randrange(254)),
            )
            if hired:
                agent.join_day = rng.randint(min(2, self.days - 1), max(2, self.days - 4))
                agent.joined_ts = self.clock.local_ts(agent.join_day, 510, site)
                agent.special = True
            else:
                before = rng.randint(30, 2500)
                agent.joined_ts = self.clock.local_ts(-before, 540, site)
            agent.refresh_actor()
            staff.append(agent)
        for agent in staff:
            if agent.role == "lead":
                continue
            team_leads = [a for a in staff if a.role == "lead" and a.team == agent.team]
            local = [a for a in team_leads if a.site is agent.site]
            if local or team_leads:
                agent.lead = rng.choice(local or team_leads)
        return staff

    def _peak(self) -> list[float]:
        """Volume factor per day: the Black Friday week if the window holds it, otherwise a
        week-long sale about 60% into the window (windows of two weeks or more)."""
        factors = [1.0] * self.days
        first = self.clock.date(0)
        peak_start: int | None = None
        for year in (first.year, first.year + 1):
            monday = black_friday(year) - dt.timedelta(days=4)
            offset = (monday - first).days
            if -len(_PEAK_PROFILE) < offset < self.days:
                peak_start = offset
                break
        if peak_start is None and self.days >= 14:
            peak_start = int(self.days * 0.6)
        if peak_start is not None:
            for i, factor in enumerate(_PEAK_PROFILE):
                if 0 <= peak_start + i < self.days:
                    factors[peak_start + i] = factor
        return factors

    def _life_events(self, rng: random.Random) -> None:
        days = self.days
        total = len(self.agents)
        ordinary = [a for a in self.agents if a.join_day is None and a.role != "lead"]
        rng.shuffle(ordinary)
        # Leavers give notice and leave about two weeks later (some after the window ends).
        n_leavers = round(total * 0.03) if total >= 20 else 0
        leavers = [a for a in ordinary if a.team in ("tier2", "billing")][:1]
        leavers += [a for a in ordinary if a not in leavers and a.team != "qa"][
            : n_leavers - len(leavers)
        ]
        for i, agent in enumerate(leavers[:n_leavers]):
            agent.notice_day = rng.randint(min(3, days - 1), max(3, days - 6))
            left = agent.notice_day + rng.randint(10, 14)
            agent.left_day = left if left < days else None
            agent.notice_export = i == 0  # one leaver runs a legitimate, ticketed export
            agent.special = True
        rest = [a for a in ordinary if not a.special]
        # Promotions: a tier1 agent moves to tier2.
        n_moves = max(1, round(total * 0.012)) if total >= 40 else 0
        for agent in [a for a in rest if a.team == "tier1"][:n_moves]:
            agent.role_change = (rng.randint(min(5, days - 1), max(5, days - 5)), "tier2", "agent")
            agent.special = True
        # New laptops (for good), loaners (a few days), travel, holidays: anyone.
        staff = self.agents
        small = total < 10
        for agent in rng.sample(staff, k=0 if small else max(1, round(total * 0.06))):
            agent.devices.append((rng.randint(1, max(1, days - 1)), None, self.new_device(rng)))
            agent.special = True
        for agent in rng.sample(staff, k=round(total * 0.02)):
            since = rng.randint(1, max(1, days - 3))
            agent.devices.append((since, since + rng.randint(1, 3), self.new_device(rng)))
            agent.special = True
        if days > 7:
            for agent in rng.sample(staff, k=0 if small else max(1, round(total * 0.05))):
                home = agent.site.std_offset
                places = [
                    c for c, off in PLACES if abs(off - home) <= 3 and c != agent.site.country
                ]
                country = rng.choice(places)
                since = rng.randint(1, days - 6)
                ip = country_ip(country, rng.randrange(1, 200), rng.randrange(254))
                agent.trips.append((since, since + rng.randint(2, 6), country, ip))
                agent.special = True
        if days > 10:
            for agent in rng.sample(staff, k=round(total * 0.12)):
                since = rng.randint(0, days - 7)
                agent.absent.update(range(since, since + 7))

    def _hard_negatives(self, rng: random.Random) -> None:
        """The profile's benign look-alikes decided up front: team moves, the on-call rota,
        QA duty weeks, a scaled peak (see :mod:`.profiles`)."""
        rates = self.rates
        days = self.days
        self.peak = [1 + (f - 1) * rates.peak_scale for f in self.peak]
        ordinary = [a for a in self.agents if a.role == "agent" and not a.special]
        rng.shuffle(ordinary)
        movers = ordinary[: round(len(ordinary) * rates.team_moves)]
        for agent in movers:
            team = rng.choice([t for t in TEAMS if t not in (agent.team, "qa")])
            agent.role_change = (rng.randint(min(5, days - 1), max(5, days - 5)), team, "agent")
            agent.special = True
        for agent in rng.sample(self.agents, k=round(len(self.agents) * rates.oncall)):
            night = rng.randrange(7)
            agent.oncall = {d for d in range(night, days, 7) if rng.random() < 0.7}
        for agent in rng.sample(self.agents, k=round(len(self.agents) * rates.qa_duty)):
            since = rng.randint(0, max(0, days - 7))
            agent.qa_days = set(range(since, since + 7))


def _cumulative(weights: list[float]) -> list[float]:
    total = 0.0
    out = []
    for w in weights:
        total += w
        out.append(total)
    return out


def _distinct(rng: random.Random, items: list[App], weights: list[float], k: int) -> list[App]:
    chosen: list[App] = []
    while len(chosen) < k:
        item = rng.choices(items, weights)[0]
        if item not in chosen:
            chosen.append(item)
    return chosen
