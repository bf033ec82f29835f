"""What the detectors know besides the event at hand, kept compact and updated in one pass.

* tickets: merchant, assignees, who opened it, when it was opened and closed;
* grants: grantee, merchant, approval, expiry, revocation;
* staff: team, role, notice and joining dates;
* per actor (:class:`ActorState`): the rolling windows of the last 24 hours and 7 days, the
  daily summaries of the last weeks (their own baseline), devices, countries and hours seen;
  their days are *working days*, which begin at the hour their work pauses (:func:`day_start`):
  a night shift from 22:00 to 06:00 UTC is one day, not the ends of two;
* per team: the daily summaries of its members (the peer baseline).

Everything is plain data so the engine can save it between batches (see ``to_state``).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple, TypeVar

from msgspec import UNSET

from sentinelle.detect.machines import MachineState
from sentinelle.events import AccessEvent, ContextEvent
from sentinelle.timeutil import DAY, HOUR, to_us

__all__ = [
    "ActorState",
    "Context",
    "NO_TEAM",
    "DaySummary",
    "Grant",
    "Quantiles",
    "Ticket",
    "day_start",
    "mark",
    "mark_daily",
    "percentile",
    "UNMATCHED_ADVICE",
    "unmatched_tickets",
]

HISTORY_DAYS: Final = 28
CASE_CUSTOMERS: Final = 20  # customers a ticket keeps (Ticket.customers)
#: The team-day pool of the staff whose events name no team (``actor.team`` is optional).
NO_TEAM: Final = ""
REVIEW_ROLES: Final = frozenset({"lead", "team_lead", "qa", "manager", "supervisor"})
TICKET_GRACE: Final = 24 * HOUR  # a ticket still justifies follow-up looks this long after closing
# An open ticket without an event or a citation for this long is forgotten: the state stays
# bounded where the help desk sends no closings, or leaves tickets open.
OPEN_TICKET_DAYS: Final = 30
# Without a ticket event for this long, the help desk is not connected (or no longer is): a
# cited ticket detection has never heard of cannot be checked, and is taken as stated.
TICKET_FEED_DAYS: Final = 7
#: Accesses citing tickets no ticket event names, at least, and at least half of those citing
#: one while ticket events come, before :func:`unmatched_tickets` calls it a mismatch.
UNMATCHED_LEAST: Final = 20


#: What to check when :func:`unmatched_tickets` says so (the run's warning, ``sentinelle feeds``).
UNMATCHED_ADVICE: Final = (
    "Do the access events cite tickets by the help desk's own ids? A connector's "
    "ticket_prefix turns its 123 into ZD-123; connect every help desk whose tickets staff "
    "cite (docs/connectors.md)"
)


def unmatched_tickets(cited: int, unmatched: int) -> bool:
    """Whether ``unmatched`` of ``cited`` accesses citing a ticket while ticket events come,
    citing one no ticket event names, look like access events and the help desk naming
    tickets differently (or a help desk not connected) rather than made-up tickets, which
    are a few actors' few accesses."""
    return unmatched >= UNMATCHED_LEAST and 2 * unmatched >= cited


READ_ACTIONS: Final = frozenset({"view", "search", "export", "download"})
EXPORT_ACTIONS: Final = frozenset({"export", "download"})  # reads that take the data away
#: The engine's marks (``ActorState.marks`` kind) of an actor's exports without a ticket under a
#: declared reason, once a day, keyed ``<reason>|<merchant>`` (the reason as
#: ``detectors.declared`` keys it): a team's batch recognised later that day takes them back
#: from the actor's lists of 24 hours (``detectors.batched_merchants``).
EXPORTED: Final = "exported"
#: The actor's marks of the detectors whose findings about them were medium or higher by
#: themselves, whatever the evidence made of the alert (once per detector and 30 days): what
#: such a colleague does is no team's usual (``detectors.team_samples``' partner).
ALERTED: Final = "alerted"
#: A team's usual (:meth:`Context.team_baseline`) is of its members' days of the last this many
#: days, and of at most 50 members' :data:`HISTORY_DAYS` each (the most recent).
TEAM_DAYS: Final = 2 * HISTORY_DAYS
KNOWN_DAYS: Final = 90  # a merchant the actor has not opened for this long is new again
#: Accesses counted by hour before an actor's working day is placed (:func:`day_start`).
SHIFT_SEEN: Final = 100
#: The share of an actor's accesses within three hours of their day's start that moves it.
SHIFT_BUSY: Final = 0.02
#: An actor's accesses by hour (:attr:`ActorState.hours`) weigh half as much after this many of
#: their working days: the hours of a past shift or an on-call month fade, so their day is
#: placed by how they work now and, months later, those hours are rare for them again.
HOURS_HALF_LIFE: Final = 14
_HOURS_DECAY: Final = 0.5 ** (1 / HOURS_HALF_LIFE)
JUSTIFIED: Final = 1
NOVEL: Final = 2
UNJUSTIFIED_BULK: Final = 4
BULK_TYPES: Final = frozenset({"customer_list", "order_list"})
BULK_SUBJECTS: Final = 10  # a list view exposing this many customers is a bulk access
LOOKUP_GRACE: Final = 30 * 60 * 1_000_000  # a ticket this soon after a look-up justifies it
LATE_DAYS: Final = 2  # tickets handed to staff are kept so long for look-ups delivered late


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) of ``values``, nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(slots=True)
class Ticket:
    """A support ticket as the context events described it."""

    merchant: str | None = None
    assignees: set[str] = field(default_factory=set)
    opened_by: str | None = None
    opened_us: int | None = None
    closed_us: int | None = None
    bulk_events: list[str] = field(default_factory=list)  # list views / exports citing it
    # the customers those exposed, summed (UNKNOWN_LISTED for one that does not say; 0 in a
    # state saved before it was kept)
    listed: int = 0
    single: bool = False  # an access to one customer cited it (work on a caller's case)
    # The customers it covered single-record looks at (by those it justified: whom the case
    # concerns), up to CASE_CUSTOMERS
    customers: set[str] = field(default_factory=set)
    before: int = 0  # unjustified list views of its merchant by the assignee just before it
    # Its latest event or citation (0: in a state saved before it was kept): an open ticket
    # idle for OPEN_TICKET_DAYS is forgotten (Context.prune).
    used_us: int = 0


@dataclass(slots=True)
class Grant:
    """A just-in-time access grant."""

    actor: str | None = None
    merchant: str | None = None
    approved: bool = False
    expires_us: int | None = None
    revoked_us: int | None = None


@dataclass(slots=True)
class DaySummary:
    """One actor's activity on one UTC day."""

    merchants: set[str] = field(default_factory=set)
    unjustified: set[str] = field(default_factory=set)
    novel: set[str] = field(default_factory=set)  # unjustified, at merchants new to the actor
    unjustified_bulk: set[str] = field(default_factory=set)  # unjustified list views, exports
    subjects: int = 0
    records: int = 0
    exports: int = 0
    bulk: int = 0
    # The most merchants of unjustified_bulk (of novel) in the 24 h before any of this day's
    # such looks: what the detectors judge (a rolling 24 h, which can span two shifts), not
    # the UTC day.
    bulk_24h: int = 0
    novel_24h: int = 0

    def values(self) -> dict[str, float]:
        """The numbers baselines compare."""
        return {
            "merchants": len(self.merchants),
            "unjustified": len(self.unjustified),
            "novel": len(self.novel),
            "unjustified_bulk": len(self.unjustified_bulk),
            "subjects": self.subjects,
            "records": self.records,
            "exports": self.exports,
            "bulk": self.bulk,
            "unjustified_bulk_24h": self.bulk_24h,
            "novel_24h": self.novel_24h,
        }


class Quantiles(NamedTuple):
    """A baseline: median and 95th percentile of daily values, over ``n`` days.

    A tuple, so the baselines cached in the saved state are these very objects (saved as
    the arrays they were) and a detector's every look is not a new object.
    """

    p50: float = 0.0
    p95: float = 0.0
    n: int = 0
    mean: float = 0.0
    top: float = 0.0

    def __str__(self) -> str:
        return f"{self.p50:g}–{self.p95:g} a day" if self.n else "not known yet"


@dataclass(slots=True)
class ActorState:
    """One actor's recent activity and history."""

    kind: str = "staff"
    team: str | None = None
    role: str | None = None
    # (time, merchant, flags, records, subjects) of read accesses in the last 7 days;
    # flags: JUSTIFIED, NOVEL (unjustified, merchant new to the actor), UNJUSTIFIED_BULK
    window: list[tuple[int, str, int, int, int]] = field(default_factory=list)
    day: int = -1
    today: DaySummary = field(default_factory=DaySummary)
    history: list[dict[str, float]] = field(default_factory=list)
    # device → first seen, 0 once ticketed work was done from it (the actor's own); country too
    devices: dict[str, int] = field(default_factory=dict)
    countries: dict[str, int] = field(default_factory=dict)
    # accesses by UTC hour, each working day's weighing less (HOURS_HALF_LIFE); ``seen``: how
    # many were counted (what is known of them: the hours' sum shrinks with the weights)
    hours: list[float] = field(default_factory=lambda: [0.0] * 24)
    seen: int = 0
    looks: dict[str, list[int]] = field(default_factory=dict)  # subject → unjustified look times
    # Rolling aggregates, kept in step with ``window`` so detectors read them in O(1):
    head24: int = 0  # index in ``window`` of the first access of the last 24 hours
    m24: dict[str, int] = field(default_factory=dict)  # merchant → accesses, last 24 h
    u24: dict[str, int] = field(default_factory=dict)  # … unjustified, last 24 h
    u7: dict[str, int] = field(default_factory=dict)  # … unjustified, last 7 days
    n24: dict[str, int] = field(default_factory=dict)  # … novel unjustified, last 24 h
    n7: dict[str, int] = field(default_factory=dict)  # … novel unjustified, last 7 days
    b24: dict[str, int] = field(default_factory=dict)  # … unjustified bulk, last 24 h
    known: dict[str, int] = field(default_factory=dict)  # merchant → last read access
    records24: int = 0
    subjects24: int = 0
    # Long-horizon marks (see detectors.LongHorizon, FakeTickets, OtherCase;
    # guard_signals.Probing):
    # kind → [(time, key)] of the last 30 days, in time order; ``active``: the days (UTC day
    # numbers) the actor worked, last 30.
    marks: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    active: list[int] = field(default_factory=list)
    browsing: dict[str, list[str]] = field(default_factory=dict)  # new merchant → customers
    quantiles: dict[str, tuple[float, float, int, float, float]] = field(default_factory=dict)
    machine: MachineState | None = None  # an app's or integration's own history (machines.py)
    # When the actor's working day begins, in µs after UTC midnight (a whole hour; 0 until
    # their hours are known, or while midnight is quiet for them): see day_start.
    shift: int = 0

    @property
    def hours_seen(self) -> int:
        """The accesses counted in :attr:`hours` (a state saved before ``seen`` was kept:
        their sum, which was not weighed then)."""
        return self.seen or round(sum(self.hours))

    def workday(self, t: int) -> int:
        """The working day (a day number, like ``t // DAY`` shifted by :attr:`shift`) of time
        ``t`` for this actor: what their :attr:`day` and :attr:`active` days count."""
        return (t - self.shift) // DAY

    def workday_start(self, t: int) -> int:
        """The time the working day of ``t`` began for this actor."""
        return self.day_begins(self.workday(t))

    def day_begins(self, day: int) -> int:
        """The time this actor's working day ``day`` (a :meth:`workday` number) begins."""
        return day * DAY + self.shift

    def baseline(self, metric: str) -> Quantiles:
        """Median and 95th percentile of the actor's daily ``metric`` (active days only; 0 on
        days summed before the metric existed, in a saved state)."""
        cached = self.quantiles.get(metric)
        if type(cached) is Quantiles:
            return cached
        if cached is None:
            cached = _quantiles([d.get(metric, 0) for d in self.history])
        else:  # as decoded from a saved state
            cached = Quantiles(*cached)
        self.quantiles[metric] = cached
        return cached


@dataclass(slots=True)
class Context:
    """Tickets, grants, staff and actor states, updated event by event."""

    tickets: dict[str, Ticket] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    notice: dict[str, int] = field(default_factory=dict)  # actor → notice given
    joined: dict[str, int] = field(default_factory=dict)  # actor → joined (staff.joined)
    actors: dict[str, ActorState] = field(default_factory=dict)
    team_days: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    # team → the day (UTC day number) of each of its team_days, in the same order
    team_dates: dict[str, list[int]] = field(default_factory=dict)
    # merchant → {actor: last unjustified access}, for collusion
    unjustified_by: dict[str, dict[str, int]] = field(default_factory=dict)
    # declared reason (its key: detectors.declared) → {actor: last export without a ticket
    # under it}, the last day or so, for a team's batch of exports (detectors.batch_export;
    # kept by the engine, whichever detectors run)
    exports_by: dict[str, dict[str, int]] = field(default_factory=dict)
    team_quantiles: dict[str, tuple[int, tuple[float, float, int, float, float]]] = field(
        default_factory=dict
    )
    now_us: int = 0
    # (closed_us, ticket) of the closed tickets, a heap: what prune forgets, without a walk
    # over every ticket each day; None until built (a state saved before it was kept).
    closing: list[tuple[int, str]] | None = None
    # The time of the latest ticket event (0: none yet): whether cited tickets can be checked.
    tickets_seen_us: int = 0
    # The time of the latest ticket.closed (0: none yet; -1: none in a state saved before it
    # was kept) and of the first ticket event: whether the help desk sends closings.
    closings_us: int = 0
    tickets_since_us: int = 0
    # The time of the latest ticket event naming an assignee (0: none yet; -1: none in a
    # state saved before it was kept): whether the help desk says who works its tickets.
    assignees_us: int = 0
    # …and of the latest ticket.opened naming who opened it (``by``; -1: none in a state
    # saved before it was kept): whether the help desk says who opens its tickets.
    openers_us: int = 0
    # While no ticket event comes: ticket → (the merchant it was first cited for, its latest
    # citation), of the tickets cited and taken as stated (stated), in the order of that
    # citation (forgotten from the front: _forget_front)
    cited: dict[str, tuple[str, int]] = field(default_factory=dict)
    # The open tickets' ids: what prune looks through for those idle for OPEN_TICKET_DAYS,
    # without a walk over every ticket each day (``closing`` forgets the closed ones); None
    # until built (a state saved before it was kept).
    open_tickets: set[str] | None = None
    # Per UTC day of the last TICKET_FEED_DAYS, oldest first: [day, accesses citing a ticket
    # while ticket events come, of which citing one no ticket event named] (tally_citation):
    # most citing unknown tickets means the access events and the help desk name tickets
    # differently, and every such access counts as citing none (sentinelle feeds says so).
    citations: list[list[int]] = field(default_factory=list)
    # "actor\x00merchant" → the times, in time order, tickets of that merchant were handed
    # to that actor (ticket.opened or ticket.assigned naming them) in the last LATE_DAYS; the
    # keys in the order of their latest hand-over (forgotten from the front): a look-up
    # delivered after its ticket (late_look_up).
    handed: dict[str, list[int]] = field(default_factory=dict)

    def _team_day(self, team: str, date: int, values: dict[str, float], today: int) -> None:
        """Add a member's day ``date`` to ``team``'s days, forgetting those older than
        :data:`TEAM_DAYS` before ``today`` (a small team's usual is of its recent work, as a
        large team's is) and, past 50 members' :data:`HISTORY_DAYS` each, the oldest. A day
        closed that late (the member's last before weeks away) is not added."""
        horizon = today - TEAM_DAYS
        if date < horizon:
            return
        days = self.team_days.setdefault(team, [])
        dates = self.team_dates.setdefault(team, [])
        if len(dates) != len(days):  # saved before the dates were kept: dated as this one
            dates[:] = [date] * len(days)
        days.append(values)
        dates.append(date)
        if dates[0] < horizon or len(days) > 2 * HISTORY_DAYS * 50:
            cut = 0
            while cut < len(dates) and dates[cut] < horizon:  # about in date order
                cut += 1
            if len(days) - cut > 2 * HISTORY_DAYS * 50:
                cut = HISTORY_DAYS * 50
            del days[:cut], dates[:cut]

    def team_baseline(self, team: str | None, metric: str) -> Quantiles:
        """Median and 95th percentile of the team members' daily ``metric`` (cached a day; 0
        on days summed before the metric existed); for the staff whose events name no team,
        those of a typical member (:meth:`_typical`)."""
        key = f"{team}|{metric}"
        day = self.now_us // DAY
        cached = self.team_quantiles.get(key)
        if cached is None or cached[0] != day:
            values = [d.get(metric, 0) for d in self.team_days.get(team or NO_TEAM, ())]
            pooled = _quantiles(values)
            cached = (day, pooled if team else self._typical(metric, pooled))
            self.team_quantiles[key] = cached
            return cached[1]
        found = cached[1]
        if type(found) is Quantiles:
            return found
        found = Quantiles(*found)  # as decoded from a saved state
        self.team_quantiles[key] = (day, found)
        return found

    def _typical(self, metric: str, pooled: Quantiles) -> Quantiles:
        """The baseline of the staff whose events name no team: its median and 95th
        percentile are the median member's own (``pooled``'s days mix every kind of work: a
        small shop's fraud or onboarding specialist lists merchants all day, and their days
        made the pool's 95th percentile a lister's, above which a harvest of three or four
        merchants a day did not rise); its busiest day and mean are the pool's (what a
        newcomer is judged against, before their own days are known). Measured with
        ``benchmarks/detect.py --drop team``: docs/detection-history.md."""
        own = [
            a.baseline(metric)
            for a in self.actors.values()
            if a.kind == "staff" and not a.team and a.history
        ]
        if not own:
            return pooled
        middle = len(own) // 2
        return Quantiles(
            sorted(q.p50 for q in own)[middle],
            sorted(q.p95 for q in own)[middle],
            pooled.n,
            pooled.mean,
            pooled.top,
        )

    def prune(self, t: int) -> None:
        """Forget what no detector can use any more (closed tickets, open ones idle for
        :data:`OPEN_TICKET_DAYS`, old looks)."""
        horizon = t - TICKET_GRACE - 7 * DAY
        closing = self.closing
        if closing is None:
            closing = self.closing = [
                (v.closed_us, k) for k, v in self.tickets.items() if v.closed_us is not None
            ]
            heapq.heapify(closing)
        while closing and closing[0][0] < horizon:
            _, key = heapq.heappop(closing)
            ticket = self.tickets.get(key)
            # Closed again later: its later entry is still in the heap.
            if ticket is not None and ticket.closed_us is not None and ticket.closed_us < horizon:
                del self.tickets[key]
        quiet = t - OPEN_TICKET_DAYS * DAY
        opened = self.open_tickets
        if opened is None:
            opened = self.open_tickets = {k for k, v in self.tickets.items() if v.closed_us is None}
        for key in [k for k in opened if getattr(self.tickets.get(k), "used_us", -1) < quiet]:
            ticket = self.tickets.get(key)
            if ticket is not None and not ticket.used_us:  # saved before it was kept: idle
                ticket.used_us = t  # from now on
                continue
            self.tickets.pop(key, None)
            opened.discard(key)
        _forget_front(self.cited, quiet, lambda first: first[1])
        late = t - LATE_DAYS * DAY
        _forget_front(self.handed, late, lambda times: times[-1])
        _keep_since(self.unjustified_by, t - 7 * DAY)
        _keep_since(self.exports_by, t - DAY)
        forget = t - KNOWN_DAYS * DAY
        month = t - 30 * DAY
        for state in self.actors.values():
            for kind, marks in list(state.marks.items()):
                if marks and marks[0][0] < month:
                    kept = [m for m in marks if m[0] >= month]
                    if kept:
                        state.marks[kind] = kept
                    else:
                        del state.marks[kind]
            _forget_looks(state.looks, t - 14 * DAY)
            _forget_known(state.known, forget)

    # -- context events -----------------------------------------------------------------------
    def apply_context(self, event: ContextEvent, t: int) -> None:
        """Record what a ticket, staff or grant event says."""
        kind = event.type
        if kind.startswith("ticket.") and isinstance(event.ticket, str):
            self.tickets_seen_us = max(self.tickets_seen_us, t)
            if not self.tickets_since_us:
                self.tickets_since_us = t
            ticket = self.tickets.get(event.ticket)
            if ticket is None:
                ticket = self.tickets[event.ticket] = Ticket()
                if self.open_tickets is not None:
                    self.open_tickets.add(event.ticket)
            ticket.used_us = max(ticket.used_us, t)
            if isinstance(event.merchant, str):
                ticket.merchant = event.merchant
            if ticket.closed_us is not None and (
                (kind == "ticket.opened" and t >= ticket.closed_us)
                or (kind == "ticket.assigned" and t > ticket.closed_us and _handed(event))
            ):
                ticket.closed_us = None  # reopened: open again (see _handed)
                if self.open_tickets is not None:
                    self.open_tickets.add(event.ticket)
            if kind == "ticket.opened":
                ticket.opened_us = t
                ticket.opened_by = event.by if isinstance(event.by, str) else None
                if ticket.opened_by is not None:
                    self.openers_us = max(self.openers_us, t)
            # The staff member concerned (``actor``) is the assignee, whether the ticket was
            # opened for them or assigned to them later: some help desks send one event.
            if kind in ("ticket.opened", "ticket.assigned") and isinstance(event.actor, str):
                ticket.assignees.add(event.actor)
                self.assignees_us = max(self.assignees_us, t)
                merchant = ticket.merchant
                if merchant is not None:
                    key = f"{event.actor}\x00{merchant}"
                    times = self.handed.pop(key, [])
                    insort(times, t)  # in time order: a ticket event may come late too
                    del times[: bisect_left(times, t - LATE_DAYS * DAY)]  # bounded: a busy pair
                    self.handed[key] = times  # last: in the order of the latest
                if merchant is not None and event.actor in self.actors:
                    state = self.actors[event.actor]
                    ticket.before += self.look_up(state, merchant, t)
                    if merchant not in state.n7:
                        self.unjustified_by.get(merchant, {}).pop(event.actor, None)
            elif kind == "ticket.closed":
                ticket.closed_us = t
                if self.open_tickets is not None:
                    self.open_tickets.discard(event.ticket)
                self.closings_us = max(self.closings_us, t)
                if self.closing is not None:
                    heapq.heappush(self.closing, (t, event.ticket))
        elif kind.startswith("grant.") and isinstance(event.grant, str):
            grant = self.grants.setdefault(event.grant, Grant())
            if isinstance(event.actor, str):
                grant.actor = event.actor
            if isinstance(event.merchant, str):
                grant.merchant = event.merchant
            if kind == "grant.approved":
                grant.approved = True
                if event.expires is not UNSET:
                    grant.expires_us = to_us(event.expires)
            elif kind in ("grant.revoked", "grant.expired", "grant.denied"):
                grant.revoked_us = t
        elif kind.startswith("staff.") and isinstance(event.actor, str):
            if kind == "staff.notice_given":
                self.notice[event.actor] = t
            elif kind == "staff.joined":
                self.joined[event.actor] = t
            if isinstance(event.team, str):
                self.actor(event.actor).team = event.team
            if isinstance(event.role, str):
                self.actor(event.actor).role = event.role

    def look_up(self, state: ActorState, merchant: str, t: int) -> int:
        """A ticket of ``merchant`` assigned to the actor of ``state`` at ``t``: their
        unjustified accesses to it of the last :data:`LOOKUP_GRACE` were the look-up that
        found the caller or the case (the agent searches the customer list, then opens the
        ticket), so they count as justified from now on: out of the windows, day summary
        and long-horizon marks. Returns how many of them were list views or exports (a
        self-made ticket that *follows* list views is judged by ``fake_tickets`` with them).
        """
        window = state.window
        since = t - LOOKUP_GRACE
        bulk = 0
        i = len(window) - 1
        while i >= 0 and window[i][0] >= since:
            u, m, flags, rec, subj = window[i]
            if m == merchant and not flags & JUSTIFIED:
                _drop(state.u7, m)
                if i >= state.head24:
                    _drop(state.u24, m)
                if flags & NOVEL:
                    _drop(state.n7, m)
                    if i >= state.head24:
                        _drop(state.n24, m)
                if flags & UNJUSTIFIED_BULK:
                    bulk += 1
                    if i >= state.head24:
                        _drop(state.b24, m)
                window[i] = (u, m, JUSTIFIED, rec, subj)
            i -= 1
        if i < len(window) - 1 and state.day == state.workday(t) and merchant not in state.u24:
            state.today.unjustified.discard(merchant)
            state.today.novel.discard(merchant)
            state.today.unjustified_bulk.discard(merchant)
        for marks in state.marks.values():
            # Marks are in time order: only the tail since the look-up can be the merchant's.
            first = len(marks)
            while first and marks[first - 1][0] >= since:
                first -= 1
            if first < len(marks):
                marks[first:] = [x for x in marks[first:] if x[1] != merchant]
        state.browsing.pop(merchant, None)
        return bulk

    # -- access events ------------------------------------------------------------------------
    def actor(self, actor_id: str) -> ActorState:
        """The state of ``actor_id``, created on first sight."""
        state = self.actors.get(actor_id)
        if state is None:
            state = self.actors[actor_id] = ActorState()
        return state

    def justified(self, event: AccessEvent, t: int, *, stated: bool = False) -> bool:
        """Whether a ticket or grant covers this access by this actor to this merchant.

        A ticket of another merchant, unknown, or closed more than a day ago is no
        justification; nor is a colleague's ticket, unless the actor reviews (lead, QA).
        With ``stated`` (detection, which sees every ticket event), what the help desk leaves
        unsaid is taken as stated: an unknown ticket while the help desk is silent
        (:meth:`stated`); the merchant or the assignee of a ticket whose events name none, by
        its first citation (:meth:`case_of`). An incident's scope, which reads only the cited
        tickets' events, cannot tell a silent help desk from a made-up ticket, nor the desk's
        habits from one ticket's events: it counts such accesses unjustified.
        """
        just = event.justification
        if just is UNSET:
            return False
        actor = event.actor.id
        role = event.actor.role
        if not isinstance(role, str):  # the event leaves it out: the last known (staff.* events)
            known = self.actors.get(actor)
            role = known.role if known is not None and known.role else ""
        ticket = self.case_of(event, t if stated else None)
        if ticket is not None:
            closed = ticket.closed_us
            in_time = closed is None or t <= closed + TICKET_GRACE
            own = actor in ticket.assignees or role in REVIEW_ROLES
            if in_time and own:
                return True
        grant_id = just.grant if isinstance(just.grant, str) else None
        if grant_id is not None:
            grant = self.grants.get(grant_id)
            if (
                grant is not None
                and grant.approved
                and grant.actor == actor
                and grant.merchant == event.merchant
                and (grant.expires_us is None or t <= grant.expires_us)
                and (grant.revoked_us is None or t < grant.revoked_us)
            ):
                return True
        return stated and ticket is None and self.stated(event, t)

    def late_look_up(self, event: AccessEvent, t: int) -> bool:
        """Whether an unjustified access was the look-up of a ticket handed to its actor
        within :data:`LOOKUP_GRACE` after it, at the same merchant, whose event came first:
        the access was delivered late (an offline laptop's batch, a retried upload), after
        the help desk's events. In time order :meth:`look_up` makes it justified when the
        ticket comes; delivered late, it is justified as it comes, to the same effect."""
        times = self.handed.get(f"{event.actor.id}\x00{event.merchant}", ())
        i = bisect_right(times, t)  # the first hand-over after the access
        return i < len(times) and times[i] <= t + LOOKUP_GRACE

    def feed_silent(self, t: int) -> bool:
        """Whether no ticket event came in the last :data:`TICKET_FEED_DAYS`: the help desk
        is not connected, or its feed stopped, and cited tickets cannot be checked."""
        if not self.tickets_seen_us and self.tickets:  # a state saved before it was kept
            self.tickets_seen_us = (
                max(max(v.opened_us or 0, v.closed_us or 0) for v in self.tickets.values()) or -1
            )
        return t - self.tickets_seen_us > TICKET_FEED_DAYS * DAY

    def stated(self, event: AccessEvent, t: int) -> bool:
        """Whether the ticket the access cites, which no event describes, is taken as stated:
        while the feed is silent (:meth:`feed_silent`), and unless it was first cited for
        another merchant (a ticket is about one merchant's customers: lent to another's, as
        ``other_case`` finds where the help desk is connected). On a desk where every access
        cites a ticket, judging them all unjustified would alert on everyone (measured:
        ``benchmarks/detect.py --drop tickets``). Records the merchant of its first citation."""
        ticket_id = event.cited_ticket()
        if ticket_id is None or ticket_id in self.tickets or not self.feed_silent(t):
            return False
        first = self.cited.get(ticket_id)
        if first is not None and first[0] != event.merchant:
            return False
        self.cited.pop(ticket_id, None)
        self.cited[ticket_id] = (event.merchant, t)  # put last: the latest citation
        return True

    def closings_known(self, t: int) -> bool:
        """Whether the help desk sends ticket closings: one came in the last
        :data:`TICKET_FEED_DAYS`, or its ticket events began less than that ago (a ticket
        takes time to close). Some desks, or a platform's own feed, send openings and
        assignments only."""
        if not self.closings_us:  # a state saved before it was kept
            closed = (v.closed_us for v in self.tickets.values() if v.closed_us is not None)
            self.closings_us = max(closed, default=0) or -1
        window = TICKET_FEED_DAYS * DAY
        return t - self.closings_us <= window or t - self.tickets_since_us < window

    def assignees_known(self, t: int) -> bool:
        """Whether the help desk says who works its tickets: a ticket event named an assignee
        (``actor``) in the last :data:`TICKET_FEED_DAYS`. Some feeds say only that a ticket
        was opened and closed."""
        if not self.assignees_us:
            self.assignees_us = self._named_since(lambda v: bool(v.assignees))
        return t - self.assignees_us <= TICKET_FEED_DAYS * DAY

    def _named_since(self, named: Callable[[Ticket], bool]) -> int:
        """For a state saved before ``assignees_us`` / ``openers_us`` were kept: the latest
        ticket event's time if a ticket kept names it (``named``), else -1 (none)."""
        return self.tickets_seen_us if any(named(v) for v in self.tickets.values()) else -1

    def opener(self, ticket: Ticket, t: int) -> str | None:
        """Who opened ``ticket``: as its ``ticket.opened`` says (``by``); where the help desk
        has not named who opens its tickets for :data:`TICKET_FEED_DAYS`, a ticket of one
        assignee is taken as theirs (a ticket an agent makes is theirs alone, as
        ``fake_tickets`` reads it; measured: ``benchmarks/detect.py --drop opened_by``)."""
        if ticket.opened_by is not None:
            return ticket.opened_by
        if self.openers_known(t) or len(ticket.assignees) != 1:
            return None
        return next(iter(ticket.assignees))

    def tally_citation(self, t: int, *, unknown: bool) -> None:
        """Count an access at ``t`` citing a ticket while ticket events come, ``unknown`` when
        no ticket event named it (:attr:`citations`)."""
        day = t // DAY
        tally = self.citations
        if not tally or tally[-1][0] < day:
            tally.append([day, 0, 0])
            while tally[0][0] <= day - TICKET_FEED_DAYS:
                del tally[0]
        last = tally[-1]  # a late access counts on the latest day
        last[1] += 1
        if unknown:
            last[2] += 1

    def citations_since(self, t: int) -> tuple[int, int]:
        """(accesses citing a ticket while ticket events came, of which citing an unknown
        one) in the last :data:`TICKET_FEED_DAYS` up to ``t``."""
        first = t // DAY - TICKET_FEED_DAYS
        days = [d for d in self.citations if d[0] > first]
        return sum(d[1] for d in days), sum(d[2] for d in days)

    def openers_known(self, t: int) -> bool:
        """Whether the help desk says who opens its tickets: a ``ticket.opened`` named its
        opener (``by``) in the last :data:`TICKET_FEED_DAYS`."""
        if not self.openers_us:
            self.openers_us = self._named_since(lambda v: v.opened_by is not None)
        return t - self.openers_us <= TICKET_FEED_DAYS * DAY

    def case_of(self, event: AccessEvent, t: int | None = None) -> Ticket | None:
        """The ticket of the access's own merchant it cites, if known: what justifies it when
        the actor works that case (:meth:`justified`); otherwise a colleague's case reviewed,
        or one closed days ago.

        With ``t`` (an access judged at ``t``: :meth:`justified`), the ticket is bound to
        what its events leave out, by its first citation (measured: ``benchmarks/detect.py
        --drop ticket_merchant``, ``--drop assignees``):

        - a help desk that does not map its organisations to the platform's merchants sends
          tickets naming none: such a ticket becomes the case of the merchant its first
          access by an assignee cites. A ticket is about one merchant's customers, so citing
          it for another afterwards is lending it, as where the merchant is named;
        - where no ticket event names an assignee (:meth:`assignees_known`), the first actor
          citing a ticket that has none, for its merchant, is its assignee: a colleague citing
          it after them uses their case, as where assignees are named."""
        ticket_id = event.cited_ticket()
        ticket = self.tickets.get(ticket_id) if ticket_id is not None else None
        if ticket is None:
            return None
        if t is not None:
            actor = event.actor.id
            if (
                not ticket.assignees
                and ticket.merchant in (None, event.merchant)
                and not self.assignees_known(t)
            ):
                ticket.assignees.add(actor)
            if ticket.merchant is None and actor in ticket.assignees:
                ticket.merchant = event.merchant
        return ticket if ticket.merchant == event.merchant else None

    def record_access(self, state: ActorState, event: AccessEvent, t: int, justified: bool) -> None:
        """Update the actor's windows, day summary and habits with a read access."""
        day = state.workday(t)
        if day != state.day and state.day >= 0:
            # A new working day by the start it had: placed again (a night shift's first
            # midnight is no new day once its hours are known), never back before the last.
            shift = day_start(state.hours, state.shift, state.hours_seen)
            if shift != state.shift:
                state.shift = shift
                day = max(state.day, state.workday(t))
        if day != state.day:
            state.active.append(day)
            if state.active[0] < day - 30:
                state.active = [d for d in state.active if d >= day - 30]
            state.browsing.clear()
            if state.day >= 0 and state.today.merchants:
                values = state.today.values()
                state.history.append(values)
                state.quantiles.clear()
                if len(state.history) > HISTORY_DAYS:
                    del state.history[0]
                if state.team or state.kind == "staff":
                    # Staff whose events name no team are one pool (NO_TEAM): the peers a
                    # team-less actor is compared with (team_baseline(None, ...)).
                    self._team_day(state.team or NO_TEAM, state.day, values, day)
                decay = _HOURS_DECAY
                state.hours = [h * decay for h in state.hours]
            state.day = day
            state.today = DaySummary()
        if event.action in EXPORT_ACTIONS:
            # Exports are judged by the export and justification detectors; volume is reading.
            records = subjects = 0
        else:
            records = event.records()
            subjects = len(event.subjects) if isinstance(event.subjects, list) else 0
        merchant = event.merchant
        bulk = is_bulk(event)
        flags = JUSTIFIED if justified else 0
        known = state.known
        novel = known.pop(merchant, None) is None  # back in last: in order of the last read
        known[merchant] = t
        today = state.today
        today.merchants.add(merchant)
        if not justified:
            today.unjustified.add(merchant)
            if novel:
                flags |= NOVEL
                today.novel.add(merchant)
            if bulk:
                flags |= UNJUSTIFIED_BULK
                today.unjustified_bulk.add(merchant)
        today.records += records
        today.subjects += subjects
        if event.action in EXPORT_ACTIONS:
            today.exports += 1
        if bulk:
            today.bulk += 1
        window = state.window
        window.append((t, merchant, flags, records, subjects))
        _add(state.m24, merchant)
        state.records24 += records
        state.subjects24 += subjects
        if not justified:
            _add(state.u24, merchant)
            _add(state.u7, merchant)
            if flags & NOVEL:
                _add(state.n24, merchant)
                _add(state.n7, merchant)
            if flags & UNJUSTIFIED_BULK:
                _add(state.b24, merchant)
        day_ago = t - DAY
        head = state.head24
        while window[head][0] < day_ago:
            _, old, old_flags, rec, subj = window[head]
            _drop(state.m24, old)
            state.records24 -= rec
            state.subjects24 -= subj
            if not old_flags & JUSTIFIED:
                _drop(state.u24, old)
                if old_flags & NOVEL:
                    _drop(state.n24, old)
                if old_flags & UNJUSTIFIED_BULK:
                    _drop(state.b24, old)
            head += 1
        week_ago = t - 7 * DAY
        if window[0][0] < week_ago:
            cut = bisect_left(window, (week_ago,))
            for _, old, old_flags, _, _ in window[:cut]:
                if not old_flags & JUSTIFIED:
                    _drop(state.u7, old)
                    if old_flags & NOVEL:
                        _drop(state.n7, old)
            del window[:cut]
            head -= cut
        state.head24 = head
        if flags & UNJUSTIFIED_BULK and len(state.b24) > today.bulk_24h:
            today.bulk_24h = len(state.b24)
        if flags & NOVEL and len(state.n24) > today.novel_24h:
            today.novel_24h = len(state.n24)

    def learn_habits(
        self, state: ActorState, event: AccessEvent, t: int, justified: bool = False
    ) -> None:
        """Remember the device, country and hour (after the detectors looked at them)."""
        source = event.source
        device = getattr(source, "device", None)
        country = getattr(source, "country", None)
        if isinstance(device, str):
            state.devices.setdefault(device, t)
        if isinstance(country, str):
            state.countries.setdefault(country, t)
        if justified:  # ticketed work from it: the device and country are the actor's own
            if isinstance(device, str):
                state.devices[device] = 0
            if isinstance(country, str):
                state.countries[country] = 0
        state.hours[(t // HOUR) % 24] += 1
        state.seen += 1

    def new_to_staff(self, country: str, since: int, known_days: int, t: int) -> bool:
        """Whether no staff member had worked from ``country`` before ``since`` (its first
        time in their :attr:`ActorState.countries`), the staff having worked on a day
        ``known_days`` or more before ``t`` (before that, nothing is known of where they
        work). Read from the actors' own, as only the rare look that asks needs it: one walk
        over them, which stops at the first who had worked from there."""
        known_before = t - known_days * DAY
        known = False
        for s in self.actors.values():
            if s.kind != "staff":
                continue
            if s.countries.get(country, since) < since:
                return False
            known = known or bool(s.active and s.day_begins(s.active[0]) <= known_before)
        return known


def _handed(event: ContextEvent) -> bool:
    """Whether a ``ticket.assigned`` that comes after its ticket's closing reopens it: when it
    hands the ticket to someone other than whoever made the assignment. A help desk that
    reopens a ticket on the customer's reply and routes it again may send the assignment
    alone (no new opening), and the assignee's work on it is then justified again. One's own
    assignment of a closed ticket does not reopen it: it would make one's own looks at its
    merchant justified. (The guard reads a ticket's state from its openings and closings only,
    so it refuses a ticket reopened so until the help desk sends its opening.)"""
    return isinstance(event.actor, str) and event.by != event.actor


def _keep_since(by: dict[str, dict[str, int]], since: int) -> None:
    """Keep the (key → {actor: time}) entries of ``by`` from ``since`` on, in place."""
    for key in list(by):
        actors = {a: u for a, u in by[key].items() if u >= since}
        if actors:
            by[key] = actors
        else:
            del by[key]


def day_start(hours: Sequence[float], current: int, seen: int | None = None) -> int:
    """When an actor's working day begins (µs after UTC midnight, a whole hour), from
    ``hours``, their accesses by UTC hour, and ``current``, when it begins now.

    A day begins in the middle of the quietest seven hours of the actor's day (on a tie, in
    the middle of the widest such lull, then nearest ``current`` and midnight), and moves
    only when the three hours either side of ``current`` hold :data:`SHIFT_BUSY` of their
    accesses or more and the new start halves that: a day shift keeps UTC midnight; a night
    shift from 22:00 gets days of its own (by UTC days, each day would hold the end of one
    night and the start of the next, and every rate of days, a trickle's days or the
    evidence's one piece a day, would count those); an actor working round the clock keeps
    what they had. With fewer than :data:`SHIFT_SEEN` accesses counted (``seen``; else the
    sum of ``hours``), ``current``.
    """
    total = sum(hours)
    if (total if seen is None else seen) < SHIFT_SEEN:
        return current
    around = [*hours, *hours, *hours]
    now = current // HOUR
    busy = sum(around[now + 21 : now + 28])  # the accesses of the hours now - 3 .. now + 3
    if busy < SHIFT_BUSY * total:
        return current
    # The quietest seven hours; among equally quiet ones, the middle of the widest lull (a
    # shift that starts or ends an hour or two early stays whole), then the nearest. (This
    # runs at each new working day of every actor: the wider sums only where seven hours tie.)
    near3 = [sum(around[h + 21 : h + 28]) for h in range(24)]  # hours h - 3 .. h + 3
    quietest = min(near3)
    best = near3.index(quietest)
    if near3.count(quietest) > 1:
        away, midnight = _HOURS_FROM[now], _HOURS_FROM[0]
        best = min(
            (h for h in range(best, 24) if near3[h] == quietest),
            key=lambda h: (
                sum(around[h + 19 : h + 30]),
                sum(around[h + 17 : h + 32]),
                away[h],
                midnight[h],
            ),
        )
    return best * HOUR if 2 * quietest <= busy else current


# _HOURS_FROM[to][h]: the hours between h and ``to`` on the clock, either way round.
_HOURS_FROM: Final = tuple(
    tuple(min((h - to) % 24, (to - h) % 24) for h in range(24)) for to in range(24)
)


def mark(state: ActorState, kind: str, t: int, key: str) -> int:
    """Record ``key`` (once per 30 days) under ``kind``; the count of the last 7 days, or 0
    when ``key`` was already marked."""
    marks = state.marks.setdefault(kind, [])
    if any(k == key for _, k in marks):
        return 0
    marks.append((t, key))
    week = t - 7 * DAY
    return sum(1 for u, _ in marks if u >= week)


def mark_daily(state: ActorState, kind: str, t: int, key: str) -> bool:
    """Record ``key`` under ``kind`` once a day (a habit's days: the same merchant day after
    day); whether it was not yet marked today."""
    marks = state.marks.setdefault(kind, [])
    today = state.workday_start(t)
    for u, k in reversed(marks):
        if u < today:
            break
        if k == key:
            return False
    marks.append((t, key))
    return True


#: What :func:`listed` counts for a list view or export that says neither its customers nor
#: how many: as many as a harvest's (it may be the merchant's whole list).
UNKNOWN_LISTED: Final = 1 << 30


def listed(event: AccessEvent) -> int:
    """The customers a list view or export exposed: :meth:`AccessEvent.records` (its count,
    else its customers named), or :data:`UNKNOWN_LISTED` if it says neither (where that
    counts one record)."""
    resource = event.resource
    if event.subjects is UNSET and (resource is UNSET or resource.count is UNSET):
        return UNKNOWN_LISTED
    return event.records()


def is_list(event: AccessEvent) -> bool:
    """A view of a customer or order list (of any size: a small merchant's names all); where
    the event does not say what it showed (``resource.type`` is optional), one that names
    several customers."""
    kind = getattr(event.resource, "type", None)
    if kind is None or kind is UNSET:
        subjects = event.subjects
        return isinstance(subjects, list) and len(subjects) > 1
    return kind in BULK_TYPES


def is_bulk(event: AccessEvent) -> bool:
    """An export, or a list view exposing many customers at once (not one customer's orders);
    where the event does not say what it showed (``resource.type`` is optional), one that
    exposed :data:`BULK_SUBJECTS` customers or more (named, else counted)."""
    if event.action in EXPORT_ACTIONS:
        return True
    kind = getattr(event.resource, "type", None)
    listing = kind in BULK_TYPES  # is_list, inlined: hot
    if not listing and kind is not None and kind is not UNSET:
        return False  # a record, an order, a payout: not a list
    subjects = event.subjects
    if isinstance(subjects, list):
        return len(subjects) >= BULK_SUBJECTS
    count = getattr(event.resource, "count", None)
    # Neither named nor counted: a list is taken as large; an event that says nothing, not.
    return count >= BULK_SUBJECTS if isinstance(count, int) else listing


_NONE: Final = Quantiles()


def _quantiles(values: list[float]) -> Quantiles:
    """:func:`percentile` at 0.5 and 0.95, the count, mean and top, sorting once."""
    n = len(values)
    if not n:
        return _NONE
    ordered = sorted(values)
    last = n - 1
    return Quantiles(
        ordered[min(last, int(0.5 * n))],
        ordered[min(last, int(0.95 * n))],
        n,
        sum(values) / n,
        max(values),  # not ordered[last]: of equal ints and floats, the same one as before
    )


_V = TypeVar("_V")


def _forget_looks(looks: dict[str, list[int]], since: int) -> None:
    """Forget the customers of ``looks`` last looked at before ``since`` (``RepeatedLooks``
    puts a customer looked at again last: :func:`_forget_front`)."""
    _forget_front(looks, since, lambda times: times[-1] if times else since - 1)


def _forget_known(known: dict[str, int], since: int) -> None:
    """Forget the merchants of ``known`` last read before ``since`` (:meth:`Context.record_access`
    puts a merchant read again last: :func:`_forget_front`)."""
    _forget_front(known, since, lambda last: last)


def _forget_front(entries: dict[str, _V], since: int, last: Callable[[_V], int]) -> None:
    """Forget the first ``entries`` whose ``last`` time is before ``since``: the dict is kept in
    the order of that time, so they are the first ones. In a state saved before it was so kept,
    an old entry behind a recent one stays until it comes first."""
    stale = []
    for key, value in entries.items():
        if last(value) >= since:
            break
        stale.append(key)
    for key in stale:
        del entries[key]


def _add(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def _drop(counts: dict[str, int], key: str) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]
