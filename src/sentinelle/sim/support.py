"""The ordinary work of support staff, as access and context events.

An agent's working day is a run of tasks between the start and end of their shift (with a
lunch break): tickets opened by customers, merchants or the fraud engine, assigned, worked
(the accesses they justify), escalated, left pending or closed; follow-ups of pending tickets;
leads and QA reviewing colleagues' tickets; and the benign behaviour that makes naive rules
noisy — lookups without a ticket, tickets agents open themselves for phone calls, fraud and
onboarding work spread over many merchants, bulk list views, monthly and ad-hoc exports,
training lookups by new hires, sister stores handled under one ticket.

Insider scenarios (:mod:`.scenarios`) use the same helpers, so their events have exactly the
shape of ordinary ones.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from sentinelle.sim.calendar import SITES, Clock, country_ip
from sentinelle.sim.emit import Emitter
from sentinelle.sim.world import TEAMS, Agent, Merchant, Ticket, World

__all__ = [
    "D_CUSTOMER",
    "D_LIST",
    "D_LIST_ADDR",
    "D_LIST_ORDER",
    "D_ORDER",
    "Support",
    "Task",
]

Task = Callable[[int], int]
"""Work that starts at a time and returns the time it ends."""

D_CUSTOMER: Final = ["contact", "address"]
D_ORDER: Final = ["contact", "address", "order_details"]
D_ORDER_PAY: Final = ["contact", "address", "order_details", "payment_partial"]
D_TXN: Final = ["order_details", "payment_partial"]
D_FRAUD: Final = [
    "contact",
    "address",
    "order_details",
    "payment_partial",
    "location",
    "behavioral",
]
D_ID: Final = ["contact", "identity_document"]
D_LIST: Final = ["contact"]
D_LIST_ADDR: Final = ["contact", "address"]
D_LIST_ORDER: Final = ["contact", "order_details"]
D_LIST_ORDER_PAY: Final = ["contact", "order_details", "payment_partial"]
D_FINANCE: Final = ["financial"]

_LOOSE_REASONS: Final = ("callback", "follow_up", "phone_inquiry", "merchant_chat")
_KINDS: Final = {  # team → ticket kinds and weights
    "tier1": (
        ("order_issue", 38),
        ("delivery", 24),
        ("refund", 14),
        ("account", 16),
        ("merchant_question", 6),
        ("gdpr", 2),
    ),
    "tier2": (
        ("order_issue", 30),
        ("merchant_issue", 30),
        ("refund", 15),
        ("account", 20),
        ("gdpr", 5),
    ),
    "billing": (("payout", 40), ("chargeback", 35), ("invoice", 25)),
    "fraud": (("fraud_case", 100),),
    "onboarding": (("onboarding", 100),),
}
_ESCALATE_TO: Final = (("tier2", 60), ("billing", 25), ("fraud", 15))
_VIP_RATE: Final = 0.0015
_FROM_QUEUE: Final = {"tier2": 0.5, "billing": 0.2, "fraud": 0.12}  # share of escalated work


def _choice(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in pairs], [w for _, w in pairs])[0]


class Support:
    """Generates the support operation's events, one agent-day at a time."""

    def __init__(
        self,
        *,
        world: World,
        clock: Clock,
        emitter: Emitter,
        rng: random.Random,
        hard_rng: random.Random | None = None,
    ) -> None:
        self.world = world
        self.clock = clock
        self.emitter = emitter
        self.rng = rng
        self.rates = world.rates
        self.hard = hard_rng or random.Random(0)  # noqa: S311  (hard negatives only)
        self.arrival: int | None = None  # while an agent-day is delivered late: when
        self.fmt = clock.fmt
        self.day = 0
        self.peak = 1.0
        self.queues: dict[str, deque[tuple[int, Ticket, Agent]]] = {t: deque() for t in TEAMS}
        self.exports: deque[tuple[int, Merchant, Ticket | None]] = deque()
        self.closed_by_team: dict[str, deque[Ticket]] = {t: deque(maxlen=400) for t in TEAMS}
        self.onboarding: list[Merchant] = []
        self._ticket_numbers: set[int] = set()
        self._key_accounts: dict[str, list[Merchant]] = {}
        self._office_ips = {
            s.name: [country_ip(s.country, 200 + i, k) for k in range(4)]
            for i, s in enumerate(SITES)
        }

    # The day -------------------------------------------------------------------------------

    def begin_day(self, day: int) -> None:
        """Set the day's volume and queues: onboarding merchants, monthly export requests."""
        self.day = day
        self.peak = self.world.peak[day]
        self.onboarding = [
            m
            for m in self.world.merchants
            if m.onboarding_day is not None and m.onboarding_day <= day < m.onboarding_day + 21
        ]
        date = self.clock.date(day)
        first_weekday = date.weekday() < 5 and (
            date.day == 1 or (date.day <= 3 and date.weekday() == 0)
        )
        if first_weekday:  # monthly exports: a request each month, or a standing order
            rng = self.rng
            for merchant in self.world.merchants:
                if merchant.monthly_export:
                    ts = self.clock.day_ts(day) + rng.randint(4 * 3600, 9 * 3600)
                    ticket = None
                    if not merchant.standing_export:
                        user = rng.choice(merchant.users)
                        ticket = self.open_ticket(merchant, None, "data_export", ts, user)
                    self.exports.append((ts, merchant, ticket))

    def works(self, agent: Agent, day: int) -> bool:
        """Whether the agent works on window day ``day``."""
        if not agent.employed(day) or day in agent.absent:
            return False
        if self.rng.random() < 0.02:  # sick, or a day off taken at short notice
            return False
        weekday = self.clock.date(day).weekday()
        if weekday in agent.days_off:
            return self.world.peak[day] > 1.5 and self.rng.random() < 0.6  # all hands
        return True

    def shift(self, agent: Agent, day: int) -> tuple[int, int]:
        """Start and end of the agent's shift on that day (with overtime at peak times)."""
        rng = self.rng
        start = self.clock.local_ts(day, agent.shift_start + rng.randint(-10, 20), agent.site)
        start += rng.randrange(60)
        start = max(start, self.clock.start_ts + rng.randint(60, 1800))
        length = agent.shift_len * 60 + rng.randint(-15, 25) * 60
        if self.world.peak[day] > 1.5:
            length += rng.randint(30, 120) * 60
        return start, start + length

    def source_of(self, agent: Agent, day: int) -> dict[str, str]:
        """The agent's ``source`` for the day: device, country and office, home or hotel IP."""
        if agent.source_day != day:
            trip = agent.trip_on(day)
            if trip is not None:
                country, ip = trip
            else:
                country = agent.site.country
                if self.rng.random() < 0.4:
                    ip = agent.home_ip
                else:
                    ip = self.rng.choice(self._office_ips[agent.site.name])
            agent.source = {"ip": ip, "device": agent.device_on(day), "country": country}
            agent.source_day = day
        return agent.source

    def work_day(
        self, agent: Agent, day: int, start: int, end: int, extras: list[tuple[int, Task]]
    ) -> None:
        """One working day of ``agent``; ``extras`` are ``(not before, task)`` pairs slotted
        in between ordinary tasks (what an insider does on the side)."""
        rng = self.rng
        self.source_of(agent, day)
        speed = self._speed(agent, day)
        lunch = start + (end - start) // 2 + rng.randint(-45, 45) * 60
        lunch_len = rng.randint(30, 60) * 60
        extras = sorted(extras, key=lambda e: e[0])
        self.arrival = None
        if self.rates.late_share and self.hard.random() < self.rates.late_share:
            # An offline laptop (or a batch retried later): the day arrives hours after it.
            self.arrival = end + self.hard.randint(1800, 16 * 3600)
        t = start
        while t < end:
            if extras and extras[0][0] <= t:
                t = extras.pop(0)[1](t)
            elif lunch and t >= lunch:
                t += lunch_len
                lunch = 0
            else:
                t = self._task(agent, t, day, speed)
            t += 30 + int(rng.expovariate(1 / 330) / speed)
        for _, task in extras:  # stayed late to finish
            t = task(t + rng.randint(30, 300))
        self.arrival = None

    def _speed(self, agent: Agent, day: int) -> float:
        speed = 1 + (self.peak - 1) * 0.55
        if agent.join_day is not None:  # new hires ramp up over their first weeks
            speed *= min(1.0, 0.25 + 0.06 * (day - agent.join_day))
        if agent.notice_day is not None and day >= agent.notice_day:
            speed *= 0.85
        return speed

    # Events --------------------------------------------------------------------------------

    def access(
        self,
        agent: Agent,
        ts: int,
        action: str,
        merchant: Merchant,
        rtype: str,
        subjects: list[str] | None,
        data: list[str],
        justification: dict[str, str] | None,
        *,
        count: int | None = None,
        channel: str = "support_console",
        source: dict[str, str] | None = None,
        outcome: str = "allowed",
        mark: int | None = None,
    ) -> None:
        """One access by a staff member."""
        event: dict[str, Any] = {
            "time": self.fmt(ts),
            "actor": agent.actor,
            "action": action,
            "merchant": merchant.id,
            "resource": {"type": rtype, "count": len(subjects or ()) if count is None else count},
        }
        if subjects:
            event["subjects"] = subjects
        event["data"] = data
        event["channel"] = channel
        if justification is not None:
            event["justification"] = justification
        event["source"] = agent.source if source is None else source
        event["outcome"] = outcome
        self.emitter.access(ts, event, mark, self.arrival)
        agent.seen.add(merchant.id)

    def open_ticket(
        self, merchant: Merchant, customer: str | None, kind: str, ts: int, by: str
    ) -> Ticket:
        """A new ticket and its ``ticket.opened`` event."""
        rng = self.rng
        while True:
            number = rng.randrange(1_000_000, 10_000_000)
            if number not in self._ticket_numbers:
                self._ticket_numbers.add(number)
                break
        ticket_id = f"T-{number}"
        ticket = Ticket(
            id=ticket_id,
            merchant=merchant,
            customer=customer,
            kind=kind,
            opened=ts,
            justification={"ticket": ticket_id, "reason": kind},
        )
        self.emitter.context(
            ts,
            {
                "time": self.fmt(ts),
                "type": "ticket.opened",
                "ticket": ticket_id,
                "merchant": merchant.id,
                "by": by,
                "reason": kind,
            },
        )
        return ticket

    def assign(
        self, ticket: Ticket, agent: Agent, ts: int, by: str, reason: str | None = None
    ) -> None:
        """``ticket.assigned`` to ``agent``."""
        event = {
            "time": self.fmt(ts),
            "type": "ticket.assigned",
            "ticket": ticket.id,
            "merchant": ticket.merchant.id,
            "actor": agent.id,
            "by": by,
        }
        if reason:
            event["reason"] = reason
        self.emitter.context(ts, event)
        ticket.assignee = agent
        agent.recent.append(ticket)

    def close(self, ticket: Ticket, agent: Agent, ts: int) -> None:
        """``ticket.closed`` by its assignee; the ticket becomes reviewable."""
        self.emitter.context(
            ts,
            {
                "time": self.fmt(ts),
                "type": "ticket.closed",
                "ticket": ticket.id,
                "merchant": ticket.merchant.id,
                "actor": agent.id,
                "by": agent.id,
            },
        )
        ticket.closed = ts
        if ticket.subjects:
            self.closed_by_team[agent.team].append(ticket)

    def staff_event(self, agent: Agent, kind: str, ts: int, reason: str | None = None) -> None:
        """A ``staff.*`` event about ``agent``, recorded by their lead (or HR)."""
        event = {
            "time": self.fmt(ts),
            "type": kind,
            "actor": agent.id,
            "team": agent.team,
            "role": agent.role,
            "by": agent.lead.id if agent.lead is not None else "hr",
        }
        if reason:
            event["reason"] = reason
        self.emitter.context(ts, event)

    def opened_before(self, t: int, least: int, most: int) -> int:
        """When a ticket worked at ``t`` was opened: ``least`` to ``most`` seconds earlier,
        but not before the window starts."""
        opened = t - self.rng.randint(least, most)
        if opened < self.clock.start_ts:
            opened = self.clock.start_ts + self.rng.randint(0, max(0, t - self.clock.start_ts - 30))
        return opened

    def loose_justification(self) -> dict[str, str] | None:
        """What an access without a ticket carries: nothing, or a free-text reason."""
        if self.rng.random() < 0.5:
            return None
        return {"reason": self.rng.choice(_LOOSE_REASONS)}

    def step(self, t: int, speed: float = 1.0, mean: float = 80) -> int:
        """The time of the next click."""
        return t + 8 + int(self.rng.expovariate(1 / mean) / speed)

    # Tasks ---------------------------------------------------------------------------------

    def _task(self, agent: Agent, t: int, day: int, speed: float) -> int:
        rng = self.rng
        if agent.join_day is not None and day - agent.join_day < 2:
            return self.training(agent, t)
        if self.rates.any:
            end = self._hard_task(agent, t, day, speed)
            if end is not None:
                return end
        if agent.notice_export and agent.notice_day is not None and day > agent.notice_day:
            agent.notice_export = False  # finishing a merchant's export request before leaving
            return self.export_ticket(agent, t, None)
        team = agent.team
        if agent.role == "lead" and rng.random() < 0.45:
            return self.review(agent, t, speed) if rng.random() < 0.9 else self.lookup(agent, t)
        if team == "qa":
            return self.review(agent, t, speed) if rng.random() < 0.93 else self.lookup(agent, t)
        if agent.backlog and rng.random() < 0.12:
            return self.follow_up(agent, t, speed)
        if team == "billing" and self.exports and self.exports[0][0] <= t and rng.random() < 0.7:
            _, merchant, ticket = self.exports.popleft()
            if ticket is None:
                return self.standing_export(agent, t, merchant)
            return self.export_ticket(agent, t, ticket)
        if rng.random() < _FROM_QUEUE.get(team, 0.0):
            end = self._escalated(agent, t, speed)
            if end is not None:
                return end
        r = rng.random()
        if team == "tier1":
            if r < 0.05:
                return self.lookup(agent, t)
            if r < 0.11:
                return self.phone_ticket(agent, t, speed)
            return self.customer_ticket(agent, t, speed)
        if team == "tier2":
            if r < 0.06:
                return self.lookup(agent, t)
            if r < 0.11:
                return self.phone_ticket(agent, t, speed)
            if r < 0.115:
                return self.export_ticket(agent, t, None)
            return self.customer_ticket(agent, t, speed)
        if team == "billing":
            if r < 0.06:
                return self.lookup(agent, t)
            return self.customer_ticket(agent, t, speed, self.world.spread_merchant(rng))
        if team == "fraud":
            if r < 0.18:
                return self.fraud_sweep(agent, t)
            return self.fraud_case(agent, t, speed)
        # onboarding
        if r < 0.15:
            return self.data_check(agent, t)
        if r < 0.2:
            return self.lookup(agent, t)
        return self.customer_ticket(agent, t, speed, self._onboarding_merchant())

    # Hard negatives (profiles other than ``default``) -----------------------------------

    def _hard_task(self, agent: Agent, t: int, day: int, speed: float) -> int | None:
        """A benign look-alike of an insider scenario, or ``None`` for ordinary work."""
        hard = self.hard
        rates = self.rates
        if agent.callbacks and agent.callbacks[0][0] <= day:
            _, merchant, customer = agent.callbacks.pop(0)
            return self.callback(agent, t, merchant, customer)
        if agent.cover and hard.random() < 0.3:
            return self.cover_follow_up(agent, t, speed)
        if day in agent.qa_days and hard.random() < 0.5:
            return self.qa_sample(agent, t)
        if agent.role == "lead" or agent.team == "qa":
            return None
        r = hard.random()
        if r < rates.key_accounts:
            return self.key_account(agent, t)
        r -= rates.key_accounts
        if r < rates.phone_boost and agent.team in ("tier1", "tier2", "billing"):
            return self.phone_ticket(agent, t, speed)
        r -= rates.phone_boost
        if r < rates.export_request and agent.team in ("tier1", "tier2", "billing"):
            return self.merchant_request(agent, t)
        return None

    def key_accounts_of(self, team: str) -> list[Merchant]:
        """The team's few busiest merchants, whose questions everyone answers in chat."""
        cached = self._key_accounts.get(team)
        if cached is None:
            rng = random.Random(f"key-accounts:{team}:{len(self.world.merchants)}")  # noqa: S311
            big = sorted(self.world.merchants, key=lambda m: (-m.size, m.id))
            pool = big[: max(4, len(big) // 10)]
            cached = self._key_accounts[team] = rng.sample(pool, k=min(len(pool), 6))
        return cached

    def key_account(self, agent: Agent, t: int) -> int:
        """A question from a key account's staff in chat: a look without a ticket."""
        hard = self.hard
        merchant = hard.choice(self.key_accounts_of(agent.team))
        just = {"reason": "merchant_chat"} if hard.random() < 0.5 else None
        for i in range(hard.randint(1, 3)):
            if i:
                t = self.step(t)
            who = [merchant.any_customer(hard)]
            if hard.random() < 0.2:
                self.access(
                    agent, t, "view", merchant, "order_list", who, D_LIST_ORDER, just,
                    count=hard.randint(2, 20),
                )  # fmt: skip
            else:
                self.access(agent, t, "view", merchant, "order", who, D_ORDER, just)
        return t + hard.randint(60, 300)

    def merchant_request(self, agent: Agent, t: int) -> int:
        """A merchant asks for an export or a list: under a ticket, or (``loose_export``)
        with a free-text reason only."""
        hard = self.hard
        if hard.random() >= self.rates.loose_export:
            return self.export_ticket(agent, t, None)
        merchant = self.world.merchant(hard)
        just = {"reason": hard.choice(("merchant_request", "merchant_chat", "export_request"))}
        if hard.random() < 0.5:
            self.access(
                agent, t, "view", merchant, "customer_list",
                merchant.page(1, hard.choice((50, 100))), D_LIST_ADDR, just,
            )  # fmt: skip
            t = self.step(t)
        if hard.random() < 0.6:
            self.export(agent, t, merchant, just)
        return t + hard.randint(120, 600)

    def qa_sample(self, agent: Agent, t: int) -> int:
        """QA duty: a few customers of several merchants, reason ``qa_sample``, no ticket."""
        hard = self.hard
        just = {"reason": "qa_sample"}
        for i in range(hard.randint(2, 5)):
            if i:
                t = self.step(t, 1.0, 60)
            merchant = self.world.spread_merchant(hard)
            for _ in range(hard.randint(1, 3)):
                who = [merchant.any_customer(hard)]
                self.access(agent, t, "view", merchant, "order", who, D_ORDER, just)
                t = self.step(t, 1.0, 40)
        return t + hard.randint(60, 300)

    def callback(self, agent: Agent, t: int, merchant: Merchant, customer: str) -> int:
        """A customer who calls back days after their ticket closed: looked up again."""
        hard = self.hard
        just = self.loose_justification()
        for i in range(hard.randint(1, 3)):
            if i:
                t = self.step(t)
            rtype, data = ("customer", D_CUSTOMER) if hard.random() < 0.5 else ("order", D_ORDER)
            self.access(agent, t, "view", merchant, rtype, [customer], data, just)
        if hard.random() < 0.3:  # calls again later
            day = self.clock.day_of(t) + hard.randint(1, 4)
            agent.callbacks.append((day, merchant, customer))
            agent.callbacks.sort(key=lambda c: c[0])
        return t + hard.randint(60, 300)

    def cover_follow_up(self, agent: Agent, t: int, speed: float) -> int:
        """Covering a colleague on leave: their pending ticket, followed up (half the time
        without being assigned it)."""
        ticket = agent.cover.pop(0)
        if self.hard.random() < 0.5:
            self.assign(ticket, agent, t, agent.lead.id if agent.lead else "router", "cover")
        t = self.investigate(agent, ticket, t + 30, speed, self.hard.randint(1, 3))
        return t + self.hard.randint(60, 300)

    def begin_cover(self, day: int) -> None:
        """On the first day of a colleague's leave, someone in the team takes their queue."""
        for agent in self.world.agents:
            if day not in agent.absent or day - 1 in agent.absent or not agent.backlog:
                continue
            if self.hard.random() >= self.rates.leave_cover:
                continue
            mates = [
                a
                for a in self.world.agents
                if a is not agent and a.team == agent.team and a.employed(day)
                and day not in a.absent
            ]  # fmt: skip
            if mates:
                self.hard.choice(mates).cover.extend(agent.backlog[:8])

    def oncall_night(self, agent: Agent, day: int) -> None:
        """An on-call night: urgent tickets worked from home between 01:00 and 05:00."""
        hard = self.hard
        if not agent.employed(day) or day in agent.absent:
            return
        source = dict(self.source_of(agent, day))
        source["ip"] = agent.home_ip
        t = self.clock.local_ts(day, hard.randint(60, 270), agent.site)
        saved, agent.source = agent.source, source
        for _ in range(hard.randint(1, 3)):
            if agent.team == "fraud":
                t = self.fraud_case(agent, t, 1.0)
            else:
                t = self.customer_ticket(agent, t, 1.0)
            t += hard.randint(300, 1800)
        agent.source = saved

    def _onboarding_merchant(self) -> Merchant:
        if self.onboarding and self.rng.random() < 0.75:
            return self.rng.choice(self.onboarding)
        return self.world.spread_merchant(self.rng)

    def _escalated(self, agent: Agent, t: int, speed: float) -> int | None:
        """Work an escalated ticket from the team's queue; ``None`` if none is waiting."""
        queue = self.queues[agent.team]
        while queue and queue[0][0] < t - 3 * 86_400:
            queue.popleft()  # picked up by someone outside the simulated staff
        if not queue or queue[0][0] > t - 120:
            return None
        _, ticket, by = queue.popleft()
        rng = self.rng
        self.assign(ticket, agent, t, by.id, "escalated")
        t = self.investigate(agent, ticket, t + rng.randint(30, 120), speed, rng.randint(3, 8))
        t += int((180 + rng.expovariate(1 / 300)) / speed)
        if rng.random() < 0.12:
            agent.backlog.append(ticket)
        else:
            self.close(ticket, agent, t)
        return t

    def customer_ticket(
        self, agent: Agent, t: int, speed: float, merchant: Merchant | None = None
    ) -> int:
        """A ticket from a customer or merchant, assigned to ``agent`` and worked."""
        rng = self.rng
        world = self.world
        team = agent.team if agent.team in _KINDS else "tier1"
        kind = _choice(rng, _KINDS[team])
        if merchant is None:
            merchant = world.merchant(rng)
        caller = merchant.any_customer(rng)
        if team in ("tier1", "tier2") and rng.random() < _VIP_RATE:
            merchant, caller = rng.choice(world.vips)  # well-known customers call more
        customer: str | None = caller
        by = rng.choice(merchant.users)
        if kind in ("merchant_issue", "merchant_question", "payout", "invoice", "onboarding"):
            customer = None
        elif rng.random() < 0.6:
            by = caller
        opened = self.opened_before(t, 60, 5 * 3600)
        ticket = self.open_ticket(merchant, customer, kind, opened, by)
        router = agent.lead.id if agent.lead is not None and rng.random() < 0.1 else "router"
        self.assign(ticket, agent, t, router)
        depth = rng.randint(2, 7)
        t = self.investigate(agent, ticket, t + rng.randint(20, 90), speed, depth)
        t += int((200 + rng.expovariate(1 / 500)) / speed)  # writing the answer
        r = rng.random()
        if agent.team == "tier1" and r < 0.1:
            target = _choice(rng, _ESCALATE_TO)
            self.queues[target].append((t, ticket, agent))
            ticket.escalated = True
        elif r < 0.27:
            agent.backlog.append(ticket)
            if len(agent.backlog) > 15:
                old = agent.backlog.pop(0)
                self.close(old, agent, t + rng.randint(10, 60))
        else:
            self.close(ticket, agent, t)
        if (
            self.rates.repeat_callers
            and customer is not None
            and self.hard.random() < self.rates.repeat_callers
        ):
            day = self.clock.day_of(t) + self.hard.randint(1, 3)
            agent.callbacks.append((day, ticket.merchant, customer))
            agent.callbacks.sort(key=lambda c: c[0])
        return t

    def follow_up(self, agent: Agent, t: int, speed: float) -> int:
        """Back to a pending ticket: look again, then (usually) close it."""
        rng = self.rng
        ticket = agent.backlog.pop(0)
        t = self.investigate(agent, ticket, t, speed, rng.randint(1, 3))
        t += int((60 + rng.expovariate(1 / 180)) / speed)
        if rng.random() < 0.85 or t - ticket.opened > 7 * 86_400:
            self.close(ticket, agent, t)
        else:
            agent.backlog.append(ticket)
        return t

    def investigate(self, agent: Agent, ticket: Ticket, t: int, speed: float, depth: int) -> int:
        """The accesses a ticket justifies, by ticket kind; returns the time of the last."""
        rng = self.rng
        merchant = ticket.merchant
        just = ticket.justification
        kind = ticket.kind
        customer = ticket.customer
        for i in range(depth):
            if i:
                t = self.step(t, speed)
            one = [customer] if customer else None
            r = rng.random()
            if kind == "fraud_case":
                if one is None or r < 0.15:
                    size = rng.randint(10, 60)
                    self.access(
                        agent,
                        t,
                        "view",
                        merchant,
                        "order_list",
                        merchant.sample(rng, size),
                        D_LIST_ORDER_PAY,
                        just,
                    )
                elif r < 0.45:
                    self.access(agent, t, "view", merchant, "transaction", one, D_FRAUD, just)
                elif r < 0.5:
                    self.access(agent, t, "view", merchant, "customer", one, D_ID, just)
                elif r < 0.75:
                    self.access(agent, t, "view", merchant, "customer", one, D_CUSTOMER, just)
                else:
                    self.access(
                        agent,
                        t,
                        "view",
                        merchant,
                        "order_list",
                        one,
                        D_LIST_ORDER,
                        just,
                        count=rng.randint(1, 12),
                    )
            elif kind == "onboarding":
                if r < 0.4:
                    first = 1 if rng.random() < 0.5 else rng.randint(1, merchant.size)
                    self.access(
                        agent,
                        t,
                        "view",
                        merchant,
                        "customer_list",
                        merchant.page(first, rng.choice((25, 50, 100))),
                        D_LIST,
                        just,
                    )
                elif r < 0.75:
                    self.access(
                        agent,
                        t,
                        "view",
                        merchant,
                        "order_list",
                        merchant.sample(rng, rng.randint(5, 30)),
                        D_LIST_ORDER,
                        just,
                    )
                else:
                    self.access(
                        agent,
                        t,
                        "view",
                        merchant,
                        "customer",
                        [merchant.any_customer(rng)],
                        D_CUSTOMER,
                        just,
                    )
            elif kind == "payout":
                if i == 0 or r < 0.3:
                    self.access(
                        agent, t, "view", merchant, "payout", None, D_FINANCE, just, count=1
                    )
                else:
                    self.access(
                        agent,
                        t,
                        "view",
                        merchant,
                        "order_list",
                        merchant.sample(rng, rng.randint(5, 40)),
                        D_LIST_ORDER_PAY,
                        just,
                    )
            elif kind == "invoice":
                if r < 0.5:
                    self.access(
                        agent, t, "download", merchant, "other", None, D_FINANCE, just, count=1
                    )
                else:
                    self.access(
                        agent, t, "view", merchant, "payout", None, D_FINANCE, just, count=1
                    )
            elif kind in ("merchant_issue", "merchant_question") or one is None:
                if r < 0.12:
                    first = 1 if r < 0.06 else rng.randint(1, merchant.size)
                    self.access(
                        agent,
                        t,
                        "view",
                        merchant,
                        "customer_list",
                        merchant.page(first, rng.choice((25, 50, 100))),
                        D_LIST_ADDR,
                        just,
                    )
                elif r < 0.35:
                    self.access(
                        agent,
                        t,
                        "view",
                        merchant,
                        "order_list",
                        merchant.sample(rng, rng.randint(10, 200)),
                        D_LIST_ORDER,
                        just,
                    )
                elif r < 0.6:
                    hits = merchant.sample(rng, rng.randint(1, 8))
                    self.access(agent, t, "search", merchant, "customer", hits, D_LIST, just)
                    customer = rng.choice(hits)
                else:
                    who = [merchant.any_customer(rng)]
                    self.access(agent, t, "view", merchant, "order", who, D_ORDER, just)
                    self._remember(ticket, who[0])
            else:
                if kind == "gdpr" and i == depth - 1:
                    action = "delete" if rng.random() < 0.5 else "download"
                    self.access(agent, t, action, merchant, "customer", one, D_CUSTOMER, just)
                elif merchant.sisters and r < 0.06:  # the same buyer at a sister store
                    sister = rng.choice(merchant.sisters)
                    self.access(
                        agent,
                        t,
                        "view",
                        sister,
                        "customer",
                        [sister.any_customer(rng)],
                        D_CUSTOMER,
                        just,
                    )
                elif r < 0.3:
                    self.access(agent, t, "view", merchant, "customer", one, D_CUSTOMER, just)
                elif r < 0.7:
                    data = D_ORDER_PAY if kind in ("refund", "chargeback") else D_ORDER
                    self.access(
                        agent,
                        t,
                        "view",
                        merchant,
                        "order",
                        one,
                        data,
                        just,
                        count=rng.choice((1, 1, 1, 2)),
                    )
                elif r < 0.8:
                    self.access(
                        agent,
                        t,
                        "view",
                        merchant,
                        "order_list",
                        one,
                        D_LIST_ORDER,
                        just,
                        count=rng.randint(1, 9),
                    )
                elif r < 0.88 and kind in ("refund", "chargeback"):
                    self.access(agent, t, "view", merchant, "transaction", one, D_TXN, just)
                elif r < 0.93 and kind in ("account", "delivery"):
                    self.access(agent, t, "update", merchant, "customer", one, D_CUSTOMER, just)
                elif r < 0.97:
                    hits = merchant.sample(rng, rng.randint(1, 6))
                    if one[0] not in hits:
                        hits = sorted([*hits[:-1], one[0]])
                    self.access(agent, t, "search", merchant, "customer", hits, D_LIST, just)
                else:
                    other = [merchant.any_customer(rng)]  # a household member, a second account
                    self.access(agent, t, "view", merchant, "customer", other, D_CUSTOMER, just)
                    self._remember(ticket, other[0])
            if customer is not None:
                self._remember(ticket, customer)
        return t

    @staticmethod
    def _remember(ticket: Ticket, customer: str) -> None:
        if customer not in ticket.subjects and len(ticket.subjects) < 6:
            ticket.subjects.append(customer)

    def phone_ticket(self, agent: Agent, t: int, speed: float) -> int:
        """A call taken by the agent, logged as a ticket they open, work and close at once."""
        rng = self.rng
        merchant = self.world.merchant(rng)
        customer = merchant.any_customer(rng)
        quick = self.rates.quick_self_ticket and self.hard.random() < self.rates.quick_self_ticket
        if quick:  # finds the caller in the merchant's customer list first
            self.access(
                agent, t, "view", merchant, "customer_list",
                merchant.page(1 + self.hard.randrange(max(1, merchant.size - 50)), 50),
                D_LIST_ADDR, self.loose_justification(),
            )  # fmt: skip
            t = self.step(t)
        ticket = self.open_ticket(merchant, customer, "phone", t, agent.id)
        t += rng.randint(5, 40)
        self.assign(ticket, agent, t, agent.id)
        if quick:
            t += self.hard.randint(10, 60)
            for _ in range(self.hard.randint(1, 2)):
                rtype, data = self.hard.choice(
                    (("customer_list", D_LIST_ADDR), ("order_list", D_LIST_ORDER))
                )
                listed = merchant.sample(self.hard, self.hard.randint(10, 60))
                self.access(agent, t, "view", merchant, rtype, listed, data, ticket.justification)
                t = self.step(t, speed)
        t = self.investigate(agent, ticket, t + rng.randint(20, 60), speed, rng.randint(1, 3))
        t += rng.randint(60, 400)
        self.close(ticket, agent, t)
        if self.rates.repeat_callers and self.hard.random() < self.rates.repeat_callers:
            agent.callbacks.append(
                (self.clock.day_of(t) + self.hard.randint(1, 3), merchant, customer)
            )
            agent.callbacks.sort(key=lambda c: c[0])
        return t

    def export_ticket(self, agent: Agent, t: int, ticket: Ticket | None) -> int:
        """A merchant's export request: the whole customer list or last month's orders."""
        rng = self.rng
        if ticket is None:
            merchant = self.world.merchant(rng)
            opened = self.opened_before(t, 600, 6 * 3600)
            ticket = self.open_ticket(
                merchant, None, "data_export", opened, rng.choice(merchant.users)
            )
        self.assign(ticket, agent, t, "router")
        t = self.step(t + rng.randint(30, 200))
        self.export(agent, t, ticket.merchant, ticket.justification)
        t += rng.randint(120, 900)
        self.close(ticket, agent, t)
        return t

    def standing_export(self, agent: Agent, t: int, merchant: Merchant) -> int:
        """A monthly export the merchant asked for once: run without a ticket."""
        t = self.step(t + self.rng.randint(10, 60))
        self.export(agent, t, merchant, {"reason": "monthly_export"})
        return t + self.rng.randint(60, 600)

    def export(
        self,
        agent: Agent,
        t: int,
        merchant: Merchant,
        justification: dict[str, str] | None,
        mark: int | None = None,
    ) -> None:
        """One export: the customer list, or the orders of the last month."""
        rng = self.rng
        if rng.random() < 0.6:
            self.access(
                agent,
                t,
                "export",
                merchant,
                "customer_list",
                merchant.page(1, merchant.size),
                D_LIST_ADDR,
                justification,
                channel="export",
                mark=mark,
            )
        else:
            buyers = max(1, int(merchant.size * rng.uniform(0.1, 0.4)))
            self.access(
                agent,
                t,
                "export",
                merchant,
                "order_list",
                merchant.sample(rng, buyers),
                D_ORDER,
                justification,
                count=int(buyers * rng.uniform(1.1, 1.8)),
                channel="export",
                mark=mark,
            )

    def lookup(self, agent: Agent, t: int) -> int:
        """A look without a ticket: a callback, a follow-up, a question in chat."""
        rng = self.rng
        recent = [tk for tk in agent.recent if tk.customer] if rng.random() < 0.6 else []
        if recent:
            ticket = rng.choice(recent)
            merchant, customer = ticket.merchant, ticket.customer or ""
        else:
            merchant = self.world.merchant(rng)
            customer = merchant.any_customer(rng)
        just = self.loose_justification()
        for i in range(rng.randint(1, 3)):
            if i:
                t = self.step(t)
            if rng.random() < 0.55:
                self.access(agent, t, "view", merchant, "customer", [customer], D_CUSTOMER, just)
            else:
                self.access(agent, t, "view", merchant, "order", [customer], D_ORDER, just)
        return t + rng.randint(30, 240)

    def review(self, agent: Agent, t: int, speed: float) -> int:
        """A lead or QA analyst re-reads a colleague's closed ticket: the same records, under
        the colleague's ticket id."""
        rng = self.rng
        if agent.team == "qa":
            pool = self.closed_by_team[rng.choice(("tier1", "tier1", "tier2", "billing", "fraud"))]
        else:
            pool = self.closed_by_team[agent.team]
        ticket = None
        for _ in range(8):
            if not pool:
                break
            candidate = pool[rng.randrange(len(pool))]
            if candidate.assignee is agent or candidate.closed is None or candidate.closed >= t:
                continue
            ticket = candidate
            if agent.team == "qa" or (ticket.assignee and ticket.assignee.lead is agent):
                break
        if ticket is None:
            return self.lookup(agent, t)
        for i in range(rng.randint(1, 3)):
            if i:
                t = self.step(t, speed, 50)
            who = [rng.choice(ticket.subjects)]
            rtype, data = ("customer", D_CUSTOMER) if rng.random() < 0.5 else ("order", D_ORDER)
            self.access(agent, t, "view", ticket.merchant, rtype, who, data, ticket.justification)
        return t + int(rng.randint(300, 900) / speed)

    def fraud_case(self, agent: Agent, t: int, speed: float) -> int:
        """An order flagged by the fraud engine: a ticket opened by the engine, worked and
        closed."""
        rng = self.rng
        merchant = self.world.spread_merchant(rng)
        customer = merchant.any_customer(rng)
        opened = self.opened_before(t, 300, 8 * 3600)
        ticket = self.open_ticket(merchant, customer, "fraud_case", opened, "fraud-engine")
        self.assign(ticket, agent, t, "router")
        t = self.investigate(agent, ticket, t + rng.randint(20, 60), speed, rng.randint(2, 6))
        t += int((60 + rng.expovariate(1 / 200)) / speed)
        self.close(ticket, agent, t)
        return t

    def fraud_sweep(self, agent: Agent, t: int) -> int:
        """A proactive pass over recent orders at several merchants, without a ticket."""
        rng = self.rng
        just = {"reason": "risk_review"} if rng.random() < 0.6 else None
        for i in range(rng.randint(2, 6)):
            if i:
                t = self.step(t, 1.0, 90)
            merchant = self.world.spread_merchant(rng)
            self.access(
                agent,
                t,
                "view",
                merchant,
                "order_list",
                merchant.sample(rng, rng.randint(20, 80)),
                D_LIST_ORDER_PAY,
                just,
            )
        return t + rng.randint(30, 180)

    def data_check(self, agent: Agent, t: int) -> int:
        """Onboarding checks a new merchant's imported customers, without a ticket."""
        rng = self.rng
        merchant = self._onboarding_merchant()
        just = {"reason": "data_check"} if rng.random() < 0.5 else None
        first = 1
        for i in range(rng.randint(1, 3)):
            if i:
                t = self.step(t, 1.0, 60)
            page = merchant.page(first, 50)
            if not page:
                break
            self.access(agent, t, "view", merchant, "customer_list", page, D_LIST, just)
            first += 50
        return t + rng.randint(30, 180)

    def training(self, agent: Agent, t: int) -> int:
        """A new hire's first days: looking at real records to learn the console."""
        rng = self.rng
        merchant = self.world.merchant(rng)
        just = {"reason": "training"} if rng.random() < 0.6 else None
        for i in range(rng.randint(1, 2)):
            if i:
                t = self.step(t, 1.0, 120)
            rtype, data = ("customer", D_CUSTOMER) if rng.random() < 0.5 else ("order", D_ORDER)
            self.access(agent, t, "view", merchant, rtype, [merchant.any_customer(rng)], data, just)
        return t + rng.randint(300, 900)
