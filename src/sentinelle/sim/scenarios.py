"""Insider scenarios: what staff who abuse their access do, on top of their ordinary work.

Each scenario picks its actors among ordinary agents (plain ``agent-NNN`` ids, no life event
of their own), starts only after at least :data:`BASELINE_DAYS` days of normal behaviour, and
produces its malicious accesses through the same helpers as ordinary work: same actor,
device, network and channel (until a scenario changes them, as a stolen account does), same
kinds of justification. The accesses are *marked* when generated; only the ground truth file
says which they are, never the events.

* ``pair_harvest``: two tier1 agents page through the customer and order lists of about
  200 merchants over three weeks; some of those looks carry real ticket ids of other merchants.
* ``departing_export``: an agent gives notice, then exports several merchants' customer lists
  before leaving.
* ``compromised_account``: someone else logs in with an agent's account from a new device and
  country, in bursts at the agent's night.
* ``low_and_slow``: an agent looks at one or two extra merchants a day, without a ticket.
* ``vip_snooping``: an agent keeps looking at a few high-profile customers.
* ``fake_tickets``: an agent opens tickets themselves, closes them within minutes, and uses
  them to justify bulk list views.
"""

from __future__ import annotations

import abc
import math
import random
from functools import partial
from typing import ClassVar, Final

from sentinelle.sim.calendar import PLACES, country_ip
from sentinelle.sim.support import (
    D_CUSTOMER,
    D_LIST,
    D_LIST_ADDR,
    D_LIST_ORDER,
    D_ORDER,
    Support,
    Task,
)
from sentinelle.sim.world import Agent, Merchant, World

__all__ = ["BASELINE_DAYS", "SCENARIOS", "Scenario"]

BASELINE_DAYS: Final = 10
"""Days of ordinary behaviour every scenario leaves its actors before it starts."""


class Scenario(abc.ABC):
    """One insider scenario: picks its actors and schedule, then adds their malicious work."""

    name: ClassVar[str]
    description: ClassVar[str]
    teams: ClassVar[tuple[str, ...]] = ("tier1", "tier2")
    actors_needed: ClassVar[int] = 1

    def __init__(self, *, index: int, world: World, support: Support, rng: random.Random) -> None:
        self.index = index
        self.world = world
        self.support = support
        self.rng = rng
        self.actors: list[Agent] = []

    def eligible(self, agent: Agent) -> bool:
        """Whether ``agent`` can play this scenario."""
        return agent.team in self.teams

    @abc.abstractmethod
    def plan(self, actors: list[Agent]) -> None:
        """Take the actors and fix the schedule (days are window days)."""

    def tasks(self, agent: Agent, day: int, start: int, end: int) -> list[tuple[int, Task]]:
        """Malicious tasks ``agent`` slots into their working day, as ``(not before, task)``."""
        del agent, day, start, end  # a hook: scenarios that act during shifts override it
        return []

    def off_shift(self, day: int) -> None:  # noqa: B027  (optional hook)
        """Activity outside the actors' shifts on window day ``day``."""

    # Shared helpers -------------------------------------------------------------------------

    def _start_day(self, duration: int) -> int:
        days = self.world.days
        latest = max(BASELINE_DAYS, days - duration - 1)
        return self.rng.randint(BASELINE_DAYS, latest)

    def _targets(
        self, count: int, *, min_size: int = 20, exclude: set[str] | None = None
    ) -> list[Merchant]:
        """``count`` distinct merchants, larger ones more likely (weighted sampling without
        replacement, Efraimidis–Spirakis)."""
        rng = self.rng
        pool = [m for m in self.world.merchants if m.size >= min_size] or self.world.merchants
        if exclude:
            pool = [m for m in pool if m.id not in exclude] or pool
        keyed = sorted(pool, key=lambda m: rng.random() ** (1 / math.sqrt(m.size)), reverse=True)
        return keyed[:count]

    def _justification(
        self, agent: Agent, merchant: Merchant, ticketed: float
    ) -> dict[str, str] | None:
        """With probability ``ticketed`` a real ticket of the agent about another merchant,
        otherwise what an access without a ticket carries."""
        if self.rng.random() < ticketed:
            others = [t for t in agent.recent if t.merchant is not merchant]
            if others:
                return self.rng.choice(others).justification
        return self.support.loose_justification()

    def _spread(self, start: int, end: int) -> int:
        return self.rng.randint(start, max(start, end - 1800))


class PairHarvest(Scenario):
    """Two tier1 agents harvest customer and order lists of many merchants."""

    name = "pair_harvest"
    description = (
        "Two tier1 agents page through the customer and order lists of many merchants over "
        "about three weeks, mixed into their ticket work; some of these looks carry real "
        "ticket ids of other merchants."
    )
    teams = ("tier1",)
    actors_needed = 2

    def plan(self, actors: list[Agent]) -> None:
        self.actors = actors
        days = self.world.days
        duration = min(21, days - BASELINE_DAYS - 1)
        self.first = self._start_day(duration)
        self.last = min(days - 1, self.first + duration)
        count = min(200, max(8, len(self.world.merchants) // 8))
        targets = self._targets(count)
        self.queue: dict[str, list[Merchant]] = {a.id: [] for a in actors}
        for i, merchant in enumerate(targets):
            self.queue[actors[i % 2].id].append(merchant)
            if self.rng.random() < 0.1:  # both look at some of the same shops
                self.queue[actors[(i + 1) % 2].id].append(merchant)

    def tasks(self, agent: Agent, day: int, start: int, end: int) -> list[tuple[int, Task]]:
        if not self.first <= day <= self.last:
            return []
        queue = self.queue[agent.id]
        working_days_left = max(1.0, (self.last - day + 1) * 5 / 7)
        count = len(queue) if day == self.last else math.ceil(len(queue) / working_days_left)
        count = min(len(queue), max(0, count + self.rng.randint(-1, 1)))
        today, self.queue[agent.id] = queue[:count], queue[count:]
        return [(self._spread(start, end), partial(self._harvest, agent, m)) for m in today]

    def _harvest(self, agent: Agent, merchant: Merchant, t: int) -> int:
        rng = self.rng
        support = self.support
        size = rng.choice((50, 100))
        first = 1
        for _ in range(rng.randint(2, 6)):
            page = merchant.page(first, size)
            if not page:
                break
            just = self._justification(agent, merchant, 0.3)
            support.access(
                agent,
                t,
                "view",
                merchant,
                "customer_list",
                page,
                D_LIST_ADDR,
                just,
                mark=self.index,
            )
            first += size
            t = support.step(t, 1.0, 40)
        for _ in range(rng.randint(1, 3)):
            just = self._justification(agent, merchant, 0.3)
            support.access(
                agent,
                t,
                "view",
                merchant,
                "order_list",
                merchant.sample(rng, rng.randint(20, 100)),
                D_LIST_ORDER,
                just,
                mark=self.index,
            )
            t = support.step(t, 1.0, 40)
        return t


class DepartingExport(Scenario):
    """An agent who has given notice exports merchants' customer lists."""

    name = "departing_export"
    description = (
        "An agent gives notice, keeps working, and during the notice period exports the "
        "customer and order lists of several large merchants without a matching ticket."
    )
    teams = ("tier2", "billing")

    def plan(self, actors: list[Agent]) -> None:
        self.actors = actors
        (agent,) = actors
        days = self.world.days
        notice = self.rng.randint(BASELINE_DAYS + 1, max(BASELINE_DAYS + 1, days - 9))
        agent.notice_day = notice
        left = notice + self.rng.randint(10, 14)
        agent.left_day = left if left < days else None
        self.until = min(days - 1, notice + 9)
        self.remaining = self.rng.randint(5, 9)
        self.targets = self._targets(self.remaining, min_size=200)

    def tasks(self, agent: Agent, day: int, start: int, end: int) -> list[tuple[int, Task]]:
        notice = agent.notice_day
        if notice is None or not notice < day <= self.until or self.remaining <= 0:
            return []
        last_days = day >= self.until - 2
        if not last_days and self.rng.random() < 0.4:
            return []
        count = self.remaining if last_days else min(self.remaining, self.rng.randint(1, 4))
        self.remaining -= count
        today, self.targets = self.targets[:count], self.targets[count:]
        late = start + (end - start) * 3 // 4
        return [(self._spread(late, end), partial(self._export, agent, m)) for m in today]

    def _export(self, agent: Agent, merchant: Merchant, t: int) -> int:
        rng = self.rng
        support = self.support
        just = self._justification(agent, merchant, 0.25)
        if rng.random() < 0.2:  # passed off as a routine monthly export
            just = {"reason": "monthly_export"}
        if rng.random() < 0.5:  # a first look at what is there
            support.access(
                agent,
                t,
                "view",
                merchant,
                "customer_list",
                merchant.page(1, 50),
                D_LIST_ADDR,
                just,
                mark=self.index,
            )
            t = support.step(t, 1.0, 40)
        support.export(agent, t, merchant, just, mark=self.index)
        return t + rng.randint(60, 300)


class CompromisedAccount(Scenario):
    """Someone else uses an agent's account: new device and country, night-time bursts."""

    name = "compromised_account"
    description = (
        "An agent's account is used from a new device in another country, in bursts at "
        "night in the agent's time zone, to search and page through many merchants' customers."
    )

    def eligible(self, agent: Agent) -> bool:
        return agent.team in self.teams and 360 <= agent.shift_start <= 840  # works by day

    def plan(self, actors: list[Agent]) -> None:
        self.actors = actors
        (victim,) = actors
        rng = self.rng
        days = self.world.days
        first = self._start_day(6)
        self.nights = sorted(rng.sample(range(first, min(days, first + 5)), k=min(3, days - first)))
        country = rng.choice([c for c, _ in PLACES if c != victim.site.country])
        self.source = {
            "ip": country_ip(country, rng.randrange(1, 200), rng.randrange(254)),
            "device": self.world.new_device(rng),
            "country": country,
        }

    def off_shift(self, day: int) -> None:
        if day not in self.nights:
            return
        (victim,) = self.actors
        if not victim.employed(day):
            return
        rng = self.rng
        support = self.support
        t = support.clock.local_ts(day, rng.randint(30, 270), victim.site) + rng.randrange(60)
        for merchant in self._targets(rng.randint(8, 25)):
            just = None if rng.random() < 0.8 else support.loose_justification()
            hits = merchant.sample(rng, rng.randint(5, 20))
            support.access(
                victim,
                t,
                "search",
                merchant,
                "customer",
                hits,
                D_LIST,
                just,
                source=self.source,
                mark=self.index,
            )
            t += rng.randint(5, 40)
            first = 1
            for _ in range(rng.randint(1, 3)):
                page = merchant.page(first, 100)
                if not page:
                    break
                support.access(
                    victim,
                    t,
                    "view",
                    merchant,
                    "customer_list",
                    page,
                    D_LIST_ADDR,
                    just,
                    source=self.source,
                    mark=self.index,
                )
                first += 100
                t += rng.randint(5, 40)
            if rng.random() < 0.5:
                support.access(
                    victim,
                    t,
                    "view",
                    merchant,
                    "order_list",
                    merchant.sample(rng, rng.randint(20, 100)),
                    D_LIST_ORDER,
                    just,
                    source=self.source,
                    mark=self.index,
                )
                t += rng.randint(5, 40)


class LowAndSlow(Scenario):
    """One or two extra merchants a day, without a ticket, for weeks."""

    name = "low_and_slow"
    description = (
        "An agent looks at customers of one or two merchants a day they have no ticket for, "
        "a few records at a time, for the rest of the window."
    )
    teams = ("tier1",)

    def plan(self, actors: list[Agent]) -> None:
        self.actors = actors
        self.first = self._start_day(12)
        self.last = min(self.world.days - 1, self.first + 35)

    def tasks(self, agent: Agent, day: int, start: int, end: int) -> list[tuple[int, Task]]:
        if not self.first <= day <= self.last:
            return []
        count = 1 if self.rng.random() < 0.65 else 2
        merchants = self._targets(count, min_size=10, exclude=agent.seen)
        return [(self._spread(start, end), partial(self._look, agent, m)) for m in merchants]

    def _look(self, agent: Agent, merchant: Merchant, t: int) -> int:
        rng = self.rng
        support = self.support
        just = support.loose_justification()
        for i in range(rng.randint(2, 5)):
            if i:
                t = support.step(t)
            customer = [merchant.any_customer(rng)]
            if rng.random() < 0.5:
                support.access(
                    agent,
                    t,
                    "view",
                    merchant,
                    "customer",
                    customer,
                    D_CUSTOMER,
                    just,
                    mark=self.index,
                )
            else:
                support.access(
                    agent, t, "view", merchant, "order", customer, D_ORDER, just, mark=self.index
                )
        return t + rng.randint(30, 240)


class VipSnooping(Scenario):
    """Repeated looks at a few high-profile customers."""

    name = "vip_snooping"
    description = (
        "An agent repeatedly looks at the records and orders of a few high-profile customers "
        "over two to three weeks, without a ticket about them."
    )

    def plan(self, actors: list[Agent]) -> None:
        self.actors = actors
        rng = self.rng
        self.first = self._start_day(14)
        self.last = min(self.world.days - 1, self.first + rng.randint(14, 21))
        self.targets = rng.sample(self.world.vips, k=min(len(self.world.vips), rng.randint(2, 4)))

    def tasks(self, agent: Agent, day: int, start: int, end: int) -> list[tuple[int, Task]]:
        if not self.first <= day <= self.last or self.rng.random() < 0.4:
            return []
        who = self.rng.sample(self.targets, k=min(len(self.targets), self.rng.randint(1, 2)))
        return [(self._spread(start, end), partial(self._look, agent, m, c)) for m, c in who]

    def _look(self, agent: Agent, merchant: Merchant, customer: str, t: int) -> int:
        rng = self.rng
        support = self.support
        just = self._justification(agent, merchant, 0.35)
        support.access(
            agent, t, "view", merchant, "customer", [customer], D_CUSTOMER, just, mark=self.index
        )
        for _ in range(rng.randint(1, 3)):
            t = support.step(t)
            if rng.random() < 0.7:
                support.access(
                    agent, t, "view", merchant, "order", [customer], D_ORDER, just, mark=self.index
                )
            else:
                support.access(
                    agent,
                    t,
                    "view",
                    merchant,
                    "order_list",
                    [customer],
                    D_LIST_ORDER,
                    just,
                    count=rng.randint(2, 15),
                    mark=self.index,
                )
        return t + rng.randint(30, 180)


class FakeTickets(Scenario):
    """Self-made tickets, closed within minutes, that "justify" bulk views."""

    name = "fake_tickets"
    description = (
        "An agent opens tickets themselves, assigns them to themselves, views whole customer "
        "and order lists under them and closes them within minutes."
    )

    def plan(self, actors: list[Agent]) -> None:
        self.actors = actors
        self.first = self._start_day(12)
        self.last = min(self.world.days - 1, self.first + self.rng.randint(10, 14))

    def tasks(self, agent: Agent, day: int, start: int, end: int) -> list[tuple[int, Task]]:
        if not self.first <= day <= self.last or self.rng.random() < 0.2:
            return []
        merchants = self._targets(self.rng.randint(2, 4), min_size=100)
        return [(self._spread(start, end), partial(self._fake, agent, m)) for m in merchants]

    def _fake(self, agent: Agent, merchant: Merchant, t: int) -> int:
        rng = self.rng
        support = self.support
        opened = t
        ticket = support.open_ticket(merchant, merchant.any_customer(rng), "phone", t, agent.id)
        t += rng.randint(5, 40)
        support.assign(ticket, agent, t, agent.id)
        t += rng.randint(20, 60)
        first = 1
        for i in range(rng.randint(2, 5)):
            if i:
                t = support.step(t, 1.0, 30)
            if rng.random() < 0.6:
                page = merchant.page(first, rng.choice((100, 250)))
                if not page:
                    break
                first += len(page)
                support.access(
                    agent,
                    t,
                    "view",
                    merchant,
                    "customer_list",
                    page,
                    D_LIST_ADDR,
                    ticket.justification,
                    mark=self.index,
                )
            else:
                support.access(
                    agent,
                    t,
                    "view",
                    merchant,
                    "order_list",
                    merchant.sample(rng, rng.randint(50, 200)),
                    D_LIST_ORDER,
                    ticket.justification,
                    mark=self.index,
                )
        support.close(ticket, agent, max(t + rng.randint(20, 90), opened + rng.randint(120, 480)))
        return t + 60


SCENARIOS: Final[dict[str, type[Scenario]]] = {
    cls.name: cls
    for cls in (
        PairHarvest,
        DepartingExport,
        CompromisedAccount,
        LowAndSlow,
        VipSnooping,
        FakeTickets,
    )
}
"""The insider scenarios by name, in the order they are planned."""
