"""The built-in detectors. Each is small, configurable, and explains itself in numbers.

Every detector sees an access event after the :class:`~sentinelle.detect.context.Context`
recorded it (windows and day summaries include it) but before the actor's habits learned
its device, country and hour. Thresholds are relative to the actor's own baseline and their
team's wherever the behaviour varies between people (fraud and onboarding teams touch many
merchants; tier-1 agents few); absolute floors keep actors whose baseline is still being
learned from alerting on ordinary days.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import statistics
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from typing import Final, NamedTuple, TypeVar

from msgspec import UNSET
from pydantic import Field

from sentinelle.detect.base import Detector, DetectorConfig, Finding, Severity
from sentinelle.detect.context import (
    ALERTED,
    EXPORT_ACTIONS,
    EXPORTED,
    REVIEW_ROLES,
    ActorState,
    Context,
    Quantiles,
    Ticket,
    is_bulk,
    is_list,
    mark,
    mark_daily,
)
from sentinelle.events import AccessEvent, ContextEvent
from sentinelle.events.model import ActorKind
from sentinelle.timeutil import DAY, HOUR, MINUTE, iso

__all__ = [
    "BreadthVolume",
    "Collusion",
    "ExportAfterNotice",
    "FakeTickets",
    "LongHorizon",
    "OtherCase",
    "RepeatedLooks",
    "UnjustifiedAccess",
    "UnusualContext",
]


def _first_seen(seen: dict[str, int], key: str, t: int) -> str:
    """'never seen for them', or how long ago ``key`` was first seen (within the hour: minutes)."""
    first = seen.get(key)
    if first is None:
        return "never seen for them"
    minutes = (t - first) // MINUTE
    ago = f"{minutes} min" if minutes < 60 else f"{minutes // 60} h"
    return f"first seen for them {ago} ago"


def _most(in_24h: Quantiles) -> str:
    """`` (at most N in any 24 h)``: the busiest rolling 24 h of a baseline, when known."""
    return f" (at most {in_24h.top:g} in any 24 h)" if in_24h.n and in_24h.top else ""


def _usually(in_24h: Quantiles) -> str:
    """`` (up to N in any 24 h on 95 % of days)``: a baseline's usual busiest 24 h, when known."""
    return f" (up to {in_24h.p95:g} in any 24 h on 95 % of days)" if in_24h.n and in_24h.p95 else ""


def _list(items: Iterable[str], limit: int = 6) -> str:
    ordered = sorted(items)
    more = f" and {len(ordered) - limit} more" if len(ordered) > limit else ""
    return ", ".join(ordered[:limit]) + more


def _severity(value: float, threshold: float) -> Severity:
    if value >= 4 * threshold:
        return Severity.CRITICAL
    if value >= 2 * threshold:
        return Severity.HIGH
    return Severity.MEDIUM


def _score(value: float, threshold: float) -> float:
    return min(100.0, 50.0 * value / max(threshold, 1e-9))


def _chance(p: float) -> str:
    return f"1 in {1 / p:,.0f}" if p >= 1e-9 else "less than 1 in a billion"


def nb_tail(k: int, shape: float, rate: float, days: float) -> float:
    """P(X >= k) when X counts events over ``days`` at a rate drawn from Gamma(``shape``,
    ``rate``): the negative binomial (Gamma-Poisson) tail.

    The spread of the rate is how much actors differ: two agents of one team may open quick
    tickets ten times as often as each other, so a count far above the team's mean is
    surprising only when it is far above what its busier members do too.
    """
    if k <= 0:
        return 1.0
    shape = max(shape, 1e-6)
    q = rate / (rate + max(days, 1e-9))  # success probability
    # pmf(j) = Γ(shape + j) / (Γ(shape) j!) q^shape (1 - q)^j, summed upwards from k.
    log_pmf = (
        math.lgamma(shape + k)
        - math.lgamma(shape)
        - math.lgamma(k + 1)
        + shape * math.log(q)
        + k * math.log1p(-q)
    )
    term = math.exp(log_pmf)
    total = 0.0
    j = k
    while term > 1e-18 * max(total, 1e-300) and j < k + 10_000:
        total += term
        term *= (shape + j) / (j + 1) * (1 - q)
        j += 1
    return min(1.0, total)


#: The least shape of :func:`gamma_prior`: however unevenly a team shows a signal, a member
#: who has not shown it for weeks may start to (a new duty, a team move, a colleague's work to
#: cover). Below it, the few busiest members of a large team made the rest all but certain
#: never to, and their first days of it a one-in-thousands event (measured at 250 agents:
#: a quarter of ``long_horizon``'s false alerts; docs/detection.md).
MIN_SHAPE: Final = 0.5


def gamma_prior(samples: Iterable[tuple[int, int]], floor: float) -> tuple[float, float]:
    """(shape, rate) of a Gamma distribution of per-day rates fitted, by moments, to
    ``samples`` of (count, days) of several actors, the Poisson noise taken out of the
    spread; ``floor`` is the least mean rate assumed. Few samples give a wide prior; a
    very uneven team, a shape of :data:`MIN_SHAPE` at least."""
    data = [(c, d) for c, d in samples if d > 0]
    days = sum(d for _, d in data)
    mean = max(floor, sum(c for c, _ in data) / days if days else 0.0)
    var = _peer_variance(data, days, mean, noise=mean)  # Poisson: a day's variance is its mean
    var = min(var, mean * mean / MIN_SHAPE)
    return mean * mean / var, mean / var


def _peer_variance(data: list[tuple[int, int]], days: int, mean: float, noise: float) -> float:
    """The variance of a signal's rate between actors, from (count, working days) ``data``
    of ``days`` in all: their spread around ``mean`` (weighted by days) less the part that
    counting noise alone explains (``noise`` a day per actor); at least as wide as a
    coefficient of variation of 1 over few actors (little is known of the team), and never
    narrower than 0.5 whatever the team's size. :func:`gamma_prior` and :func:`beta_prior`."""
    if len(data) >= 2:
        spread = sum(d * (c / d - mean) ** 2 for c, d in data) / days
        var = max(spread - noise * len(data) / days, 0.0)
    else:
        var = 0.0
    cv2: float = max(0.25, 1.0 / max(1, len(data)) ** 0.5)
    return max(var, cv2 * mean * mean)


def hypergeom_tail(k: int, a: int, b: int, pool: int) -> float:
    """P(X >= k) for the overlap X of two sets of ``a`` and ``b`` items drawn at random from
    ``pool``: the chance two colleagues share ``k`` merchants by chance alone."""
    pool = max(pool, a, b, 1)
    if k <= 0:
        return 1.0
    if k > min(a, b):
        return 0.0

    def log_choose(n: int, r: int) -> float:
        return math.lgamma(n + 1) - math.lgamma(r + 1) - math.lgamma(n - r + 1)

    total = 0.0
    denominator = log_choose(pool, b)
    for j in range(k, min(a, b) + 1):
        if b - j > pool - a:
            continue
        total += math.exp(log_choose(a, j) + log_choose(pool - a, b - j) - denominator)
    return min(1.0, total)


def beta_prior(samples: Iterable[tuple[int, int]], floor: float) -> tuple[float, float]:
    """(a, b) of a Beta distribution of the share of working days on which a signal shows,
    fitted by moments to ``samples`` of (days with it, working days) of several actors, the
    counting noise taken out of the spread, as wide as :func:`gamma_prior`'s; ``floor`` is the
    least mean share assumed."""
    data = [(k, n) for k, n in samples if n > 0]
    days = sum(n for _, n in data)
    mean = min(0.9, max(floor, sum(k for k, _ in data) / days if days else 0.0))
    # Binomial: a day's variance is p (1 - p); below that bound a Beta exists.
    var = min(_peer_variance(data, days, mean, mean * (1 - mean)), 0.9 * mean * (1 - mean))
    concentration = mean * (1 - mean) / var - 1
    return mean * concentration, (1 - mean) * concentration


def beta_binomial_tail(k: int, n: int, a: float, b: float) -> float:
    """P(X >= k) when X counts the days, of ``n``, a signal shows on, at a daily chance drawn
    from Beta(``a``, ``b``): the beta-binomial tail."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0

    def log_pmf(j: int) -> float:
        return (
            math.lgamma(n + 1)
            - math.lgamma(j + 1)
            - math.lgamma(n - j + 1)
            + math.lgamma(j + a)
            + math.lgamma(n - j + b)
            - math.lgamma(n + a + b)
            + math.lgamma(a + b)
            - math.lgamma(a)
            - math.lgamma(b)
        )

    return min(1.0, sum(math.exp(log_pmf(j)) for j in range(k, n + 1)))


def team_samples(
    ctx: Context,
    me: str,
    team: str | None,
    kind: str,
    *,
    count: Callable[[ActorState], int] | None = None,
    days: Callable[[ActorState], int] | None = None,
    anyone: bool = False,
    partner_share: float | None = None,
) -> tuple[str, list[tuple[int, int]]]:
    """The actor's peers (the other members of ``team``; with ``anyone``, all the staff) and
    (marks of ``kind``, or ``count`` of their state, working days) of each, last 30 days
    (or ``days`` of their state: the days ``count`` is over). With ``partner_share``,
    without one colleague's marks of ``kind`` on merchants judged unusual for them
    (:func:`_but_partner`).

    Not all staff when the team is small: a shop's one fraud analyst sweeps many merchants a
    day, and compared with the agents they would always stand out (measured: the long-horizon
    false alerts of small teams rose five- to tenfold; measured again for a team of one or
    two alone: a lone billing or QA agent's busy week against the whole staff). Only
    ``long_horizon``'s single-record looks, after a week of the actor's own days, are judged
    against all the staff when the team has too few days (``LongHorizon._small_team``).
    """
    peers = [state for _, state in members(ctx, me, team, anyone=anyone)]
    samples = [
        (
            count(state) if count is not None else len(state.marks.get(kind, ())),
            days(state) if days is not None else len(state.active),
        )
        for state in peers
    ]
    if partner_share is not None:
        _but_partner(peers, samples, kind, partner_share)
    return scope_of(team, anyone=anyone), samples


def members(
    ctx: Context, me: str | None, team: str | None, *, anyone: bool = False
) -> Iterator[tuple[str, ActorState]]:
    """The staff :func:`team_samples` counts: the members of ``team`` other than ``me``
    (with ``anyone``, all the staff) who have worked in the last 30 days."""
    for actor, state in ctx.actors.items():
        if (
            actor != me
            and (anyone or state.team == team)
            and state.kind == "staff"
            and state.active
        ):
            yield actor, state


_K = TypeVar("_K")
_V = TypeVar("_V")


def once_a_day(
    cache: dict[_K, tuple[int, _V]], key: _K, day: int, compute: Callable[[], _V], limit: int
) -> _V:
    """``compute()`` once a day per ``key``, kept in ``cache`` (rates of the days before
    today: the answer does not depend on when in the day it was asked, so live detection
    and history agree); past ``limit`` keys, only those of today and the day before are kept
    (an actor's working day, :meth:`~sentinelle.detect.context.ActorState.workday`, is a
    UTC day's number or the one before)."""
    cached = cache.get(key)
    if cached is not None and cached[0] == day:
        return cached[1]
    value = compute()
    if len(cache) > limit:
        for old in [k for k, v in cache.items() if v[0] < day - 1]:
            del cache[old]
    cache[key] = (day, value)
    return value


def peers_of(team: str | None) -> str:
    """How a reason names an actor's peers: their team's members, or the staff whose events
    name no team (one pool: :data:`sentinelle.detect.context.NO_TEAM`)."""
    return f"{team or 'staff'} peers"


def scope_of(team: str | None, *, anyone: bool = False) -> str:
    """Whose rates a reason quotes: :func:`peers_of` ``team``, or all the staff."""
    return "all staff" if anyone else peers_of(team)


@dataclasses.dataclass(frozen=True, slots=True)
class Prior:
    """The Gamma prior of a signal's rate a working day, fitted to an actor's peers
    (:func:`team_prior`): one per finding, however many periods it is judged over."""

    shape: float
    rate: float
    peer_days: int  # the peers' working days it was fitted to
    scope: str  # whose rates: "<team> peers"


def team_prior(
    ctx: Context,
    me: str,
    team: str | None,
    kind: str,
    floor: float,
    *,
    anyone: bool = False,
    but_busiest: bool = False,
) -> Prior:
    """The prior of ``kind`` marks a working day for ``me``: :func:`gamma_prior` of
    :func:`team_samples` (it walks every actor: compute it once per finding). With
    ``but_busiest``, without the peer who shows it most when another is left: a partner
    doing it beside the actor (a pair's harvest) would make it the team's usual, in a small
    shop's team of three too."""
    scope, samples = team_samples(ctx, me, team, kind, anyone=anyone)
    if but_busiest and len(samples) >= 2:
        samples.remove(max(samples, key=lambda s: s[0] / s[1]))
    return prior_of(scope, samples, floor)


def prior_of(scope: str, samples: list[tuple[int, int]], floor: float) -> Prior:
    """:func:`gamma_prior` of peers' ``samples`` (:func:`team_samples`) as a :class:`Prior`."""
    shape, rate = gamma_prior(samples, floor)
    return Prior(shape, rate, sum(d for _, d in samples), scope)


@dataclasses.dataclass(frozen=True, slots=True)
class Surprise:
    """How unlikely an actor's recent count of a signal is at their and their team's rate."""

    count: int
    p: float
    expected: float  # the count expected over ``days``
    own: float  # the actor's own earlier rate a working day
    peers: float  # the team's mean rate a working day
    days: int  # working days in the period
    scope: str  # whose rates: "<team> peers"
    earlier_days: int  # the actor's working days before the period (0: none on record)

    def text(self) -> str:
        """``their own earlier rate is …, … peers …, so … were expected … (chance …)``; for an
        actor with no working day on record before the period, that none is (their rate is
        their peers')."""
        own = (
            f"their own earlier rate is {self.own:.2f} a working day"
            if self.earlier_days
            else "none of their working days before that is on record"
        )
        return (
            f"{own}, {self.scope} "
            f"{self.peers:.2f} (people differ: the busiest count too), so {self.expected:.2f} "
            f"were expected over {self.days} working day(s) (chance {_chance(self.p)})"
        )


def surprise(
    ctx: Context, state: ActorState, kind: str, count: int, prior: Prior, *, hours: int = 0
) -> Surprise:
    """How unlikely ``count`` marks of ``kind`` in the last 7 days (or ``hours``) are for the
    actor of ``state``: ``prior``, fitted to their team's members (how often each of them
    shows the signal, so the busiest members widen it), updated with the actor's own days
    before the period, and the negative binomial tail of ``count`` over the period's
    working days."""
    shape, rate = prior.shape, prior.rate
    span = hours * HOUR if hours else 7 * DAY
    since = ctx.now_us - span
    today = state.workday(ctx.now_us)
    first_recent = today - (max(1, hours // 24) - 1 if hours else 6)
    earlier_days = sum(1 for d in state.active if d < first_recent)
    earlier = sum(1 for u, _ in state.marks.get(kind, ()) if u < since)
    days = max(1, sum(1 for d in state.active if d >= first_recent))
    p = nb_tail(count, shape + earlier, rate + earlier_days, days)
    post = (shape + earlier) / (rate + earlier_days)
    return Surprise(
        count=count,
        p=p,
        expected=post * days,
        own=earlier / earlier_days if earlier_days else 0.0,
        peers=shape / rate,
        days=days,
        scope=prior.scope,
        earlier_days=earlier_days,
    )


def _toward(p: float, lower: float, upper: float) -> float:
    """How far a chance ``p`` below the threshold ``lower`` is towards the next, ``upper``, on
    a log scale: 0 at ``lower``, 1 at ``upper`` (:attr:`Finding.strength`)."""
    if not 0 < upper < lower or p >= lower:
        return 0.0
    if p <= upper:
        return 1.0
    return math.log(lower / p) / math.log(lower / upper)


def _graded(p: float, medium: float, high: float) -> tuple[Severity, float]:
    """A chance ``p`` graded: medium below ``medium``, high below ``high``, low otherwise;
    and a medium's strength towards high (:attr:`Finding.strength`, 0 for the others)."""
    severity = _by_chance(p, 1.0, medium, high) or Severity.LOW
    return severity, _toward(p, medium, high) if severity == Severity.MEDIUM else 0.0


def _by_chance(p: float, low: float, medium: float, high: float) -> Severity | None:
    if p < high:
        return Severity.HIGH
    if p < medium:
        return Severity.MEDIUM
    if p < low:
        return Severity.LOW
    return None


#: Marks of :class:`Workflows` (``ActorState.marks`` kinds): ``via:<reason>``, a merchant new
#: to the actor looked at under that declared reason; ``workflow``, such a look judged part of
#: an established workflow or a declared sweep; ``plain``, any other unjustified look at a
#: merchant new to them; ``sweep:<reason>``, a single-record look under a reason that no
#: colleague gives for the odd follow-up.
_VIA: Final = "via:"
_WORKFLOW: Final = "workflow"
_PLAIN: Final = "plain"
_SWEEP: Final = "sweep:"
_SWEPT: Final = "swept"  # the reasons of the actor's declared sweeps of one (key: the reason)
#: ``wide`` customers or more of a merchant new to the actor, citing no case (``long_horizon``).
_WIDE: Final = "browse_wide"
#: The marks ``long_horizon`` leaves for single-record looks at a merchant new to the actor
#: (``browse``, ``browse_uncited`` when they cite nothing, :data:`_WIDE`): a sweep takes them
#: back.
_LOOK_MARKS: Final = ("browse", "browse_uncited", _WIDE)
#: Single-record looks citing nothing at all, at any merchant (``long_horizon``'s ``silent``).
_SILENT: Final = "silent"
#: Merchants whose lists were paged through without a ticket (``long_horizon``'s ``paged``).
_PAGED: Final = "paged"
#: The merchants a ``long_horizon`` finding named (a kind of marks): the days of their looks
#: are not part of the actor's own earlier share of such days afterwards.
_JUDGED: Final = "judged"
#: ``fake_tickets`` where the help desk sends no closings: the actor's self-made tickets still
#: open, marked at their lists and judged once quiet (then unmarked).
_OPEN_SELF_MADE: Final = "open_self_made"


def cites_case(event: AccessEvent) -> bool:
    """Whether an access cites a ticket or a grant (whether or not it covers it)."""
    just = event.justification
    return just is not UNSET and (isinstance(just.ticket, str) or isinstance(just.grant, str))


def declared(event: AccessEvent) -> str | None:
    """The reason an access declares when it cites no ticket or grant at all (``qa_sample``,
    ``follow_up``…), as a key: the SHA-256 of the reason normalised (stripped, lower case),
    16 hex digits, so that the saved engine state groups accesses by reason without holding
    the free text (which a person may have written a name into); None when it cites a ticket
    or grant, or gives no reason."""
    reason = _stated(event)
    if reason is None or cites_case(event):
        return None
    return hashlib.sha256(reason.lower().encode()).hexdigest()[:16]


def cites_nothing(event: AccessEvent) -> bool:
    """Whether an access cites no ticket, no grant and declares no reason (a blank one is
    none). Without hashing the reason (:func:`declared`): asked of every unjustified look."""
    return _stated(event) is None and not cites_case(event)


def _stated(event: AccessEvent) -> str | None:
    """The reason an access gives, stripped; None when it gives none or a blank one."""
    just = event.justification
    if just is UNSET:
        return None
    reason = just.reason
    if not isinstance(reason, str):
        return None
    return reason.strip() or None


class Workflows:
    """Declared workflows, measured against the colleagues who declare them.

    A look without a ticket at a merchant new to the actor, under a reason (``qa_sample``,
    ``risk_review``…), is compared with the other actors who gave the same reason in the last
    30 days: when at least ``min_users`` of them did, and the median of their rates of new
    merchants under it is ``max_rate`` a working day or more, reaching new merchants *is* that
    workflow (a week of QA sampling, sweeps), so the look is no sign of reach. So it is in a
    team too small for that many (a shop's two fraud analysts) when every colleague who gives
    the reason, and the actor too, did at that rate on the days before today: a reason the
    actor typed once beside a colleague's sweeps is no workflow of theirs. Reasons that
    colleagues give for the odd follow-up (``callback``, ``merchant_chat``: a new merchant
    once in weeks) stay signs. List views and exports are never exempt: they are the
    harvest's tool, whatever the reason says. An insider who types a workflow's reason hides
    among its users only as far as they look like them (single records, no lists).

    A declared sweep of one (``sweep`` merchants or more, 0: none): a shop's lone QA sampler
    has no colleagues to be measured against. Single-record looks at ``sweep`` or more
    merchants new to the actor within 24 hours, each under the same reason, which no colleague
    gives for the odd follow-up, are that sweep, the earlier looks of the 24 hours included
    (their marks are taken back); and once the actor swept so under a reason, their smaller
    sweeps under it on the days after (a lone fraud analyst's three shops one day, twelve
    the next) are that work too, for 30 days. The reason is a written, checkable claim; the
    sweep's volume is still ``breadth_volume``'s to judge.

    Rates are of the days before today (cached once a day), so the answer does not depend on
    when in the day it was asked (live detection and history agree).
    """

    def __init__(self, min_users: int, max_rate: float, sweep: int = 0) -> None:
        self.min_users = min_users
        self.max_rate = max_rate
        self.sweep = sweep
        self._rates: dict[str, tuple[int, dict[str, float]]] = {}

    def rates(self, ctx: Context, reason: str) -> dict[str, float]:
        """Actor → new merchants a working day under ``reason``, last 30 days before today."""
        day = ctx.now_us // DAY

        def compute() -> dict[str, float]:
            kind = _VIA + reason
            midnight = day * DAY
            rates: dict[str, float] = {}
            for actor, state in ctx.actors.items():
                marks = state.marks.get(kind)
                if not marks or state.kind != "staff":
                    continue
                # Their working days done by midnight (a night shift's is under way then).
                since, before = state.workday_start(midnight), state.workday(midnight)
                count = sum(1 for u, _ in marks if u < since)
                days = sum(1 for d in state.active if d < before)
                if count and days:
                    rates[actor] = count / days
            return rates

        # Free-text reasons: the cache is bounded.
        return once_a_day(self._rates, reason, day, compute, 1000)

    def look(self, ctx: Context, state: ActorState, event: AccessEvent) -> bool:
        """Mark an unjustified access to a merchant new to the actor; whether it is a look of
        an established workflow (no sign of reach)."""
        merchant = event.merchant
        if merchant not in state.n7:
            return False
        t = ctx.now_us
        reason = declared(event)
        if reason is not None:
            mark(state, _VIA + reason, t, merchant)
            if not is_bulk(event):
                rates = self.rates(ctx, reason)
                own = rates.get(event.actor.id, 0.0)
                others = [r for a, r in rates.items() if a != event.actor.id]
                # Every colleague who gives the reason reaches new merchants under it that
                # often (true of none: a lone sampler's reason).
                all_do = all(r >= self.max_rate for r in others)
                if (
                    len(others) >= self.min_users and statistics.median(others) >= self.max_rate
                ) or (
                    # A small team's workflow (a shop's two fraud analysts): fewer colleagues
                    # give the reason, but every one of them, and the actor too, on the
                    # days before today.
                    others and all_do and own >= self.max_rate
                ):
                    mark(state, _WORKFLOW, t, merchant)
                    return True
                if self.sweep and all_do:
                    mark(state, _SWEEP + reason, t, merchant)
                    if self._swept(state, reason, t):
                        mark(state, _SWEPT, t, reason)
                        return True
                    today = state.workday_start(t)
                    if any(k == reason and u < today for u, k in state.marks.get(_SWEPT, ())):
                        # A sweep of theirs under it was one on an earlier day (in 30 days):
                        # the smaller ones since, under the same reason, are that work too.
                        mark(state, _WORKFLOW, t, merchant)
                        return True
        mark(state, _PLAIN, t, merchant)
        return False

    def _swept(self, state: ActorState, reason: str, t: int) -> bool:
        """Whether the single-record looks under ``reason`` of the last 24 h reached
        ``sweep`` merchants new to the actor: then each is a look of that sweep, and the
        marks the earlier ones left are taken back (their plain marks, and the detectors'
        marks of such looks, :data:`_LOOK_MARKS`), once, by whichever detector's
        :class:`Workflows` sees the sweep first (they share the actor's marks)."""
        since = t - DAY
        swept = {m: u for u, m in state.marks[_SWEEP + reason] if u >= since}
        if len(swept) < self.sweep:
            return False
        plain = state.marks.get(_PLAIN, ())
        taken = {m for u, m in plain if swept.get(m) == u}  # the same look marked both
        if taken:
            state.marks[_PLAIN] = [(u, m) for u, m in plain if m not in taken]
            for kind in _LOOK_MARKS:
                marks = state.marks.get(kind)
                if marks:
                    state.marks[kind] = [(u, m) for u, m in marks if m not in taken]
        for m, u in swept.items():
            mark(state, _WORKFLOW, u, m)
        return True


def batch_export(ctx: Context, event: AccessEvent, users: int) -> bool:
    """Whether ``event`` is an export (or download) without a ticket under a declared reason
    that ``users`` or more colleagues also gave for exports in the last 24 hours
    (:attr:`Context.exports_by`, kept by the engine): a team's batch (the merchants' standing
    monthly exports, run by the billing team on the month's first working day).

    An export in such a batch is no sign of reach (a batch day's many merchants are not a
    harvest); list views never are, and an export after notice is still
    ``export_after_notice``'s. The limit: an insider who exports under the batch's reason on
    the batch's day hides in it from these counts (``breadth_volume`` still sees the
    volume)."""
    if not users or event.action not in EXPORT_ACTIONS:
        return False
    reason = declared(event)
    return reason is not None and _team_batch(ctx, reason, event.actor.id, users)


def _team_batch(ctx: Context, reason: str, who: str, users: int) -> bool:
    """Whether ``users`` or more colleagues of ``who`` exported under ``reason`` (its key:
    :func:`declared`) in the last 24 hours (:attr:`Context.exports_by`)."""
    by = ctx.exports_by.get(reason)
    if not by:
        return False
    since = ctx.now_us - DAY
    return sum(1 for a, u in by.items() if u >= since and a != who) >= users


def batched_merchants(ctx: Context, state: ActorState, who: str, users: int) -> set[str]:
    """The merchants the actor exported without a ticket in the last 24 hours under a reason
    that is now a team's batch (:func:`batch_export`; the engine's :data:`EXPORTED` marks):
    the month's first exporters ran theirs before two colleagues had, so their exports were
    counted when they came."""
    marks = state.marks.get(EXPORTED)
    if not users or not marks:
        return set()
    since = ctx.now_us - DAY
    batch: dict[str, bool] = {}  # reason → a team's batch (each asked once)
    found: set[str] = set()
    for u, key in marks:
        if u < since:
            continue
        reason, _, merchant = key.partition("|")
        if reason not in batch:
            batch[reason] = _team_batch(ctx, reason, who, users)
        if batch[reason]:
            found.add(merchant)
    return found


def workflow_merchants(state: ActorState) -> set[str]:
    """The merchants new to the actor that they reached only in established workflows."""
    looks = state.marks.get(_WORKFLOW)
    if not looks:
        return set()
    plain = {m for _, m in state.marks.get(_PLAIN, ())}
    return {m for _, m in looks if m not in plain}


def _staff_only(self: Detector, kind: str) -> bool:  # noqa: ARG001
    """:meth:`Detector.judges` of a detector about staff only (its ``observe`` returns nothing
    for any other actor kind): the engine does not call it for apps' and integrations'
    events, a third of all events on a platform with integrations."""
    return kind == "staff"


_BULK: Final = "unjustified_bulk"  # the daily summary's lists and exports without justification
_BULK_24H: Final = "unjustified_bulk_24h"  # …the most of them in any 24 h up to one that day
_NOVEL_24H: Final = "novel_24h"  # the most new merchants reached unjustified so in any 24 h


class UnjustifiedAccess(Detector):
    """Customer data of merchants the actor has no ticket or grant for, beyond their usual.

    Three measures, each against the actor's own daily baseline and their team's: list views
    and exports without justification (bulk harvesting; also judged by chance at the actor's
    own daily rate, :meth:`_bulk_threshold`); merchants the actor had not opened
    before, reached without justification in 24 hours (breadth); and the same over 7 days
    (low and slow). Follow-up looks at merchants the actor already works with are common and
    do not count towards the last two.
    """

    graded = True
    weight = 1.0
    family = "reach"  # access without a ticket beyond the usual: one signal

    name = "unjustified_access"
    description = "Access without a matching ticket or grant, beyond the actor's usual and peers'."

    class Config(DetectorConfig):
        """Thresholds."""

        min_bulk_merchants: int = Field(
            3,
            ge=1,
            description="Floor: merchants whose lists were opened or exported unjustified in 24 h.",
        )
        min_new_merchants: int = Field(
            5, ge=1, description="Floor: new merchants reached unjustified in 24 h."
        )
        bulk_p: float = Field(
            0.01,
            gt=0,
            le=1,
            description="Lists and exports: that many merchants in 24 h is a sign when it is "
            "this unlikely at the actor's own daily rate, their team's spread of rates the "
            "prior (negative binomial tail).",
        )
        floor_rate: float = Field(
            0.05, gt=0, description="Least daily rate of lists and exports assumed."
        )
        margin: int = Field(
            2,
            ge=0,
            description="Above the actor's usual daily (p95; lists: their busiest day) and "
            "their team's (p95)…",
        )
        factor: float = Field(
            1.5,
            ge=1,
            description="…and at least this many times it (lists: times the most in any 24 h, "
            "which can span a late shift and the next early one).",
        )
        min_new_merchants_week: int = Field(
            8, ge=1, description="Floor: new merchants reached unjustified in 7 days."
        )
        week_factor: float = Field(2.5, ge=1, description="Times the usual week (daily mean × 7).")
        min_days: int = Field(5, ge=1, description="Days of own history before it counts.")
        min_peer_days: int = Field(
            20, ge=1, description="Peer actor-days needed while the actor's own are too few."
        )
        workflow_users: int = Field(
            2,
            ge=0,
            description="Colleagues who must declare a reason before it can be a workflow "
            "(see workflow_rate); 0: no workflows.",
        )
        workflow_rate: float = Field(
            0.3,
            gt=0,
            description="A declared reason under which its users reach this many new merchants "
            "a working day (median) is a workflow: its single-record looks are no sign.",
        )
        batch_users: int = Field(
            2,
            ge=0,
            description="An export without a ticket under a reason this many colleagues also "
            "gave for exports in the last 24 h is a team's batch (standing monthly exports): "
            "no sign; 0: none.",
        )
        sweep_merchants: int = Field(
            5,
            ge=0,
            description="A declared sweep of one (a shop's lone QA sampler): single-record "
            "looks at this many new merchants in 24 h under one reason that no colleague gives "
            "for the odd follow-up are no sign either; 0: none.",
        )

    def __init__(self, config: DetectorConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        assert isinstance(cfg, UnjustifiedAccess.Config)  # noqa: S101
        self._workflows = Workflows(cfg.workflow_users, cfg.workflow_rate, cfg.sweep_merchants)
        # actor → day, (threshold, shape, rate)
        self._bulk: dict[str, tuple[int, tuple[int, float, float]]] = {}

    def _bulk_threshold(
        self, ctx: Context, state: ActorState, who: str
    ) -> tuple[int, float, float]:
        """The least count of merchants whose lists or exports, unjustified in 24 h, is this
        unlikely (``bulk_p``) at the actor's daily rate, and the (shape, rate) of that rate:
        a Gamma prior fitted to their team's members' rates (:func:`gamma_prior`, the busiest
        members widening it; all the staff's when the team has too few days), updated with
        the actor's own working days (:attr:`ActorState.history`), and the negative binomial
        tail of a day. An onboarding team whose lists are daily work (checks of new merchants'
        imports, 2–3 a day) has a day of seven by chance, which the actor's busiest day of
        four would not allow; an agent who opens one a week has no day of three. Once a
        working day per actor (the rates are of the days before it: a night worker's day
        begins with their shift, not at UTC midnight)."""
        day = state.workday(ctx.now_us)
        return once_a_day(self._bulk, who, day, lambda: self._threshold(ctx, state, who), 10_000)

    def _threshold(self, ctx: Context, state: ActorState, who: str) -> tuple[int, float, float]:
        """:meth:`_bulk_threshold`, computed."""
        cfg = self.config
        assert isinstance(cfg, UnjustifiedAccess.Config)  # noqa: S101

        def lists(other: ActorState) -> int:
            q = other.baseline(_BULK)
            return round(q.mean * q.n)

        def days(other: ActorState) -> int:
            return len(other.history)

        _, peers = team_samples(ctx, who, state.team, _BULK, count=lists, days=days)
        if sum(n for _, n in peers) < cfg.min_peer_days:
            # A team of one or two says little of its rate: all the staff's spread of rates,
            # wide, and the actor's own days soon outweigh it.
            _, peers = team_samples(
                ctx, who, state.team, _BULK, count=lists, days=days, anyone=True
            )
        # With no colleague's days at all, the floor weighs one day, not 1 / floor days.
        known = any(n for _, n in peers)
        shape, rate = gamma_prior(peers, cfg.floor_rate) if known else (cfg.floor_rate, 1.0)
        shape, rate = shape + lists(state), rate + days(state)
        k = max(cfg.min_bulk_merchants, int(shape / rate))  # the tail is past the mean
        p = nb_tail(k, shape, rate, 1)
        while p >= cfg.bulk_p:
            k += 1
            p = nb_tail(k, shape, rate, 1)
        return k, shape, rate

    judges = _staff_only

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        if justified or state.kind != "staff":
            return []
        cfg = self.config
        assert isinstance(cfg, UnjustifiedAccess.Config)  # noqa: S101
        if cfg.workflow_users and self._workflows.look(ctx, state, event):
            return []  # a look of an established workflow (QA sampling): no sign of reach
        if batch_export(ctx, event, cfg.batch_users):
            return []  # a team's batch of exports (standing monthly exports)
        t = ctx.now_us
        who = event.actor.id
        peers_are = peers_of(state.team)
        learning = len(state.history) < cfg.min_days
        if learning and ctx.team_baseline(state.team, "novel").n < cfg.min_peer_days:
            return []  # neither the actor's usual nor their peers' is known yet

        def usual(metric: str) -> tuple[Quantiles, Quantiles]:
            own = Quantiles() if learning else state.baseline(metric)
            return own, ctx.team_baseline(state.team, metric)

        def finding(
            count: int, threshold: float, merchants: Iterable[str], text: str
        ) -> list[Finding]:
            return [
                Finding(
                    self.name,
                    who,
                    t,
                    _severity(count, threshold),
                    _score(count, threshold),
                    tuple(sorted(merchants)),
                    (event.id,),
                    (text,),
                )
            ]

        bulk: AbstractSet[str] = state.b24.keys()
        if len(bulk) >= cfg.min_bulk_merchants and cfg.batch_users:
            bulk = bulk - batched_merchants(ctx, state, who, cfg.batch_users)
        if len(bulk) >= cfg.min_bulk_merchants:
            by_chance, shape, rate = self._bulk_threshold(ctx, state, who)
            own, peers = usual(_BULK)
            # Beyond the actor's busiest day and their team's usual too (the busiest of their
            # peers' while the actor's own is unknown): a fraud analyst's sweep of lists is
            # their team's daily work. The factor applies to the same measure as the count:
            # the most in any 24 h, which can span two shifts (a late one, then an early one)
            # and so exceed the busiest UTC day by half for those who list all day.
            usual_day = max(own.top, peers.top if learning else peers.p95)
            own_24h, peers_24h = usual(_BULK_24H)
            usual_24h = max(usual_day, own_24h.top, peers_24h.top if learning else peers_24h.p95)
            threshold = max(by_chance, usual_day + cfg.margin, cfg.factor * usual_24h)
            if len(bulk) >= threshold:
                p = nb_tail(len(bulk), shape, rate, 1)
                return finding(
                    len(bulk),
                    threshold,
                    bulk,
                    f"{who} opened customer or order lists, or exports, of {len(bulk)} merchants "
                    f"in the last 24 h without a ticket or grant for them ({_list(bulk)}); "
                    f"their usual is {own}{_most(own_24h)}; {peers_are} {peers}. "
                    f"At their rate ({shape / rate:.2f} "
                    f"a day, from their own days and their colleagues') that many in a day has "
                    f"a chance of {_chance(p)}.",
                )
        if learning:
            return []  # until the actor has history, every merchant is "new" to them
        new: AbstractSet[str] = state.n24.keys()
        if len(new) >= cfg.min_new_merchants and cfg.workflow_users:
            new = new - workflow_merchants(state)
        if len(new) >= cfg.min_new_merchants:
            own, peers = usual("novel")
            usual_day = max(own.p95, peers.p95)
            own_24h, peers_24h = usual(_NOVEL_24H)  # the factor: of the same measure, as lists'
            usual_24h = max(usual_day, own_24h.p95, peers_24h.p95)
            threshold = max(cfg.min_new_merchants, usual_day + cfg.margin, cfg.factor * usual_24h)
            if len(new) >= threshold:
                return finding(
                    len(new),
                    threshold,
                    new,
                    f"{who} opened customer data of {len(new)} merchants they had not worked on "
                    f"before, in the last 24 h, without a ticket or grant for them "
                    f"({_list(new)}); their usual is {own}{_usually(own_24h)}; "
                    f"{peers_are} {peers}{_usually(peers_24h)}.",
                )
        week: AbstractSet[str] = state.n7.keys()
        if len(week) >= cfg.min_new_merchants_week and cfg.workflow_users:
            week = week - workflow_merchants(state)
        if len(week) >= cfg.min_new_merchants_week:
            own, peers = usual("novel")
            threshold = max(
                cfg.min_new_merchants_week, cfg.week_factor * 7 * max(own.mean, peers.mean)
            )
            if len(week) >= threshold:
                found = finding(
                    len(week),
                    threshold,
                    week,
                    f"{who} opened customer data of {len(week)} merchants they had not worked on "
                    f"before, over the last 7 days, without a ticket or grant for them "
                    f"({_list(week)}); on average they reach {own.mean:.1f} such merchants a day, "
                    f"{peers_are} {peers.mean:.1f}.",
                )
                return [dataclasses.replace(found[0], severity=Severity.MEDIUM)]
        return []


_UNASKED: Final = -2.0  # BreadthVolume._limits: nothing asked yet today
_ASKED: Final = -1.0  # … the team's figures asked, the threshold not needed yet


def _unknown3() -> list[float]:
    return [_UNASKED, _UNASKED, _UNASKED]


#: The actor kinds that are people: :class:`BreadthVolume` judges them by default.
_PEOPLE: Final[tuple[ActorKind, ...]] = ("staff", "merchant_user")


class BreadthVolume(Detector):
    """Many more merchants, customers or records than the actor and their peers usually reach."""

    graded = True
    weight = 1.0

    name = "breadth_volume"
    description = (
        "Distinct merchants, customers and records in 24 h against own and peer baselines."
    )

    class Config(DetectorConfig):
        """Thresholds."""

        factor: float = Field(
            3.0, ge=1, description="Times the higher of own busiest day and peer p95."
        )
        min_days: int = Field(7, ge=1, description="Days of own history before it judges.")
        min_merchants: int = Field(20, ge=1)
        min_subjects: int = Field(500, ge=1)
        min_records: int = Field(3000, ge=1)
        kinds: list[ActorKind] = Field(
            default_factory=lambda: list(_PEOPLE),
            description="Actor kinds judged: apps, integrations and services are judged "
            "against their own history by the integration_* detectors (one pull, one alert).",
        )
        queue_share: float = Field(
            0.9,
            gt=0,
            le=1,
            description="A finding whose last 24 h's accesses were this share or more "
            "justified (a ticket assigned to the actor, a grant) is low: a queue bigger than "
            "usual (a weekend on call, a colleague's backlog), not a reach of the actor's own; "
            "still listed as evidence.",
        )

    def __init__(self, config: DetectorConfig | None = None) -> None:
        super().__init__(config)
        # (actor, team) → day, each metric's threshold once needed that day: the actor's own
        # quantiles change only at their first access of a day, their team's once a day
        # (Context.team_baseline: the figures of its first ask that day, which comes at the
        # same event as when every access asked it), so a threshold holds for the day. Until
        # the metric reaches its floor, the threshold is not needed (_ASKED: only the team's
        # figures were asked).
        self._limits: dict[tuple[str, str | None], tuple[int, list[float]]] = {}

    def judges(self, kind: str) -> bool:
        """People, by default (:attr:`Config.kinds`)."""
        assert isinstance(self.config, BreadthVolume.Config)  # noqa: S101
        return kind in self.config.kinds

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        cfg = self.config
        assert isinstance(cfg, BreadthVolume.Config)  # noqa: S101
        if len(state.history) < cfg.min_days:
            return []  # still learning what is usual for this actor
        t = ctx.now_us
        merchants, records, subjects = state.m24.keys(), state.records24, state.subjects24
        who = event.actor.id
        # Once a working day: the actor's own days change when theirs begins.
        limits = once_a_day(self._limits, (who, state.team), state.workday(t), _unknown3, 10_000)
        checks = (
            ("merchants", len(merchants), cfg.min_merchants, "distinct merchants"),
            ("subjects", subjects, cfg.min_subjects, "customer records viewed"),
            ("records", records, cfg.min_records, "records"),
        )
        for i, (metric, value, floor, words) in enumerate(checks):
            threshold = limits[i]
            if threshold < 0:
                if threshold == _UNASKED:
                    ctx.team_baseline(state.team, metric)
                    limits[i] = _ASKED
                if value < floor:
                    continue  # cannot reach the threshold, whatever the baselines
                own = state.baseline(metric)
                peers = ctx.team_baseline(state.team, metric)
                threshold = limits[i] = max(floor, cfg.factor * max(own.top, peers.p95))
            if value >= threshold:
                own = state.baseline(metric)
                peers = ctx.team_baseline(state.team, metric)
                reason = (
                    f"{who} reached {value} {words} in the last 24 h; their usual is "
                    f"{own} (busiest day {own.top:g}); {peers_of(state.team)} {peers}"
                )
                severity = _severity(value, threshold)
                accesses = sum(state.m24.values())
                unjustified = sum(state.u24.values())
                if accesses - unjustified >= cfg.queue_share * accesses:
                    severity = Severity.LOW
                    reason += (
                        f". But {accesses - unjustified} of their {accesses} accesses of the "
                        "last 24 h cited a ticket assigned to them or a grant: a bigger queue "
                        "than usual, not a reach of their own, so low"
                    )
                return [
                    Finding(
                        self.name,
                        who,
                        t,
                        severity,
                        _score(value, threshold),
                        tuple(sorted(merchants))[:50],
                        (event.id,),
                        (reason + ".",),
                    )
                ]
        return []


class _ChanceConfig(DetectorConfig):
    """Thresholds of a count judged by chance at the actor's and their team's rate
    (:func:`team_prior`, :func:`surprise`): medium, then high, when that many is this
    unlikely."""

    floor_rate: float = Field(0.05, gt=0, description="Least rate assumed, a working day.")
    medium_p: float = Field(
        1e-3, gt=0, le=1, description="Medium when this unlikely at the usual rate."
    )
    high_p: float = Field(1e-5, gt=0, le=1, description="High when this unlikely.")

    def grade(self, p: float) -> tuple[Severity, float]:
        """Medium below ``medium_p``, high below ``high_p``, low otherwise; and a medium's
        strength towards high (:func:`_graded`)."""
        return _graded(p, self.medium_p, self.high_p)


_NOTICE_EXPORT: Final = "notice_export"  # mark: a merchant exported without a ticket after notice
_LOOSE_EXPORT: Final = "loose_export"  # mark: a merchant exported without a ticket, any day


class ExportAfterNotice(Detector):
    """Exports or downloads by someone who has given notice.

    Without a ticket or grant: high, unless it is the first since notice and declares a
    reason (a merchant's request finished before leaving): low. From the second merchant so
    exported, the count since notice is judged at the rate the actor and their team export
    without a ticket (:func:`surprise`): medium, high when very unlikely, and low when it is
    their routine (billing agents who run merchants' export requests until their last day).
    With a ticket: low, and context, not evidence (:attr:`Finding.context`): a leaver's
    ticketed work until their last day would otherwise add half a point a day.
    """

    graded = True
    weight = 2.0

    name = "export_after_notice"
    description = "Export or download after staff.notice_given."

    class Config(_ChanceConfig):
        """Thresholds of the count since notice (from the second merchant)."""

        medium_p: float = Field(
            0.1,
            gt=0,
            le=1,
            description="Medium when that many merchants exported without a ticket since notice "
            "is this unlikely at the actor's and their team's usual rate; low when likelier "
            "(their routine).",
        )
        high_p: float = Field(1e-3, gt=0, le=1, description="High when this unlikely.")

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        if event.action not in EXPORT_ACTIONS:
            return []
        if not justified and state.kind == "staff":
            # Every export without a ticket, notice or not: the base rate a leaver's are
            # judged at.
            mark(state, _LOOSE_EXPORT, ctx.now_us, event.merchant)
        notice = ctx.notice.get(event.actor.id)
        if notice is None or ctx.now_us < notice:
            return []
        days = (ctx.now_us - notice) / DAY
        strength = 0.0
        count = getattr(event.resource, "count", None)
        what = f"{count} records" if isinstance(count, int) else "records"
        if justified:
            severity, score, because = Severity.LOW, 40.0, "with a ticket for it"
        else:
            # Once per merchant; a ticket for it soon after takes it back (Context.look_up).
            mark(state, _NOTICE_EXPORT, ctx.now_us, event.merchant)
            merchants = sorted(
                {m for u, m in state.marks[_NOTICE_EXPORT] if u >= notice} | {event.merchant}
            )
            severity, score = Severity.HIGH, 85.0
            because = "without a ticket or grant for it"
            if len(merchants) > 1:
                cfg = self.config
                assert isinstance(cfg, ExportAfterNotice.Config)  # noqa: S101
                prior = team_prior(ctx, event.actor.id, state.team, _LOOSE_EXPORT, cfg.floor_rate)
                hours = max(24, -(-(ctx.now_us - notice) // HOUR))  # since notice, whole hours
                odds = surprise(ctx, state, _LOOSE_EXPORT, len(merchants), prior, hours=hours)
                severity, strength = cfg.grade(odds.p)
                because += (
                    f": {len(merchants)} merchants exported so since notice ({_list(merchants)});"
                    f" {odds.text()}"
                )
            elif declared(event) is not None:
                severity, score = Severity.LOW, 50.0
                because += (
                    ", under a declared reason: the first such export since notice (a "
                    "merchant's request finished before leaving looks so; another is judged "
                    "against their usual exports without a ticket)"
                )
        return [
            Finding(
                self.name,
                event.actor.id,
                ctx.now_us,
                severity,
                score,
                (event.merchant,),
                (event.id,),
                (
                    f"{event.actor.id} gave notice {days:.1f} days ago and then ran an "
                    f"{event.action} of {what} of merchant {event.merchant} {because}.",
                ),
                strength=strength,
                context=justified,
            )
        ]


class UnusualContext(Detector):
    """A new device or country, together with unjustified list views or new merchants.

    Travel and new laptops are normal; so is ordinary ticketed work from them. What counts is
    the combination with what is done: unjustified bulk access, or unjustified access to
    merchants new to the actor. An hour the actor almost never works at raises it further.
    """

    graded = True
    weight = 1.2

    name = "unusual_context"
    description = "New device / new country (and odd hours) combined with unjustified bulk or new-merchant access."

    class Config(DetectorConfig):
        """Thresholds."""

        min_history_days: int = Field(7, ge=1, description="Days before anything is 'new'.")
        both_history_days: int = Field(
            3,
            ge=1,
            description="Days before a new device and a new country together count (at most "
            "``min_history_days``).",
        )
        rare_hour_share: float = Field(
            0.01, ge=0, le=1, description="An hour this rare is unusual."
        )
        new_hours: int = Field(
            24,
            ge=0,
            le=720,
            description=(
                "A device or country first seen this many hours ago or less is still new "
                "(0: only on its first access)."
            ),
        )
        staff_countries: bool = Field(
            True,
            description="Before both_history_days of the actor's own, a country none of the "
            "staff had worked from (the staff known for both_history_days) counts, with a "
            "device new to the actor: a session stolen in an account's first days.",
        )

    judges = _staff_only

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        cfg = self.config
        assert isinstance(cfg, UnusualContext.Config)  # noqa: S101
        if justified or state.kind != "staff":
            return []
        days = len(state.history)
        early = days < min(cfg.both_history_days, cfg.min_history_days)
        if early and not cfg.staff_countries:
            return []
        bulk = is_bulk(event)
        if not bulk and event.merchant not in state.n24:
            return []
        t = ctx.now_us
        unusual: list[str] = []
        device = getattr(event.source, "device", None) if event.source is not UNSET else None
        country = getattr(event.source, "country", None) if event.source is not UNSET else None
        # New for a while, not only on its first access: a burst from a stolen session often
        # starts with a search or a known merchant, and its list views follow minutes later.
        new_since = t - cfg.new_hours * HOUR
        if early:
            # Too few days of their own for anything to be new to them; but an account that
            # worked from elsewhere, now in a country none of the staff had worked from (the
            # staff known for a few days), changed hands or place (a hire's first country is
            # no change).
            if not isinstance(country, str) or state.countries.get(country, t) < new_since:
                return []  # no country, or one they worked from before: no change of place
            before = sorted(c for c, u in state.countries.items() if c != country and u < new_since)
            if not (before and ctx.new_to_staff(country, new_since, cfg.both_history_days, t)):
                return []
            unusual.append(
                f"a country none of the staff had worked from before ({country}; they had "
                f"worked from {', '.join(before)})"
            )
        elif isinstance(country, str) and state.countries.get(country, t) >= new_since:
            unusual.append(f"a country {_first_seen(state.countries, country, t)} ({country})")
        if isinstance(device, str) and state.devices.get(device, t) >= new_since:
            unusual.insert(0, f"a device {_first_seen(state.devices, device, t)} ({device})")
        if not unusual or (days < cfg.min_history_days and len(unusual) < 2):
            return []  # early on, one sign alone (a trip, a new laptop) says little
        total = sum(state.hours)  # weighed: the hours of the last weeks count most
        hour = (t // HOUR) % 24
        if state.hours_seen >= 100 and state.hours[hour] <= cfg.rare_hour_share * total:
            unusual.append(f"at an hour they almost never work ({hour:02d}:00 UTC)")
        risky = "a list view or export" if bulk else "a first look at customer data"
        severity = Severity.HIGH if len(unusual) >= 2 else Severity.MEDIUM
        return [
            Finding(
                self.name,
                event.actor.id,
                t,
                severity,
                45.0 + 15 * len(unusual),
                (event.merchant,),
                (event.id,),
                (
                    f"{event.actor.id} did {risky} at merchant {event.merchant}, without a ticket "
                    f"or grant for it, from {', '.join(unusual)}.",
                ),
            )
        ]


class Collusion(Detector):
    """Two or more actors reaching the same unusual set of merchants without tickets.

    Only merchants new to each actor count, and the shared set must be a large part of the
    smaller actor's set: teams that touch many merchants overlap by chance, not by plan.
    """

    graded = True
    weight = 0.5
    family = "reach"  # access without a ticket beyond the usual: one signal

    name = "collusion"
    description = "Actors sharing unjustified access to the same new merchants within 7 days."

    class Config(DetectorConfig):
        """Thresholds."""

        min_shared: int = Field(6, ge=2, description="New merchants both reached without a ticket.")
        max_actors: int = Field(
            3, ge=2, description="A merchant more actors reached is not unusual."
        )
        min_share: float = Field(0.5, gt=0, le=1, description="…as a share of the smaller set.")
        medium_p: float = Field(
            1e-3,
            gt=0,
            le=1,
            description="Medium when an overlap this large is this unlikely by chance "
            "(hypergeometric, times the actors it could have been).",
        )
        high_p: float = Field(1e-5, gt=0, le=1, description="High when this unlikely.")

    judges = _staff_only

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        cfg = self.config
        assert isinstance(cfg, Collusion.Config)  # noqa: S101
        if justified or state.kind != "staff" or event.merchant not in state.n7:
            return []
        me = event.actor.id
        # ``unjustified_by`` is pruned once a day: entries can be up to a day past the week.
        week = ctx.now_us - 7 * DAY
        others = sorted(
            a
            for a, u in ctx.unjustified_by.get(event.merchant, {}).items()
            if a != me and u >= week
        )
        mine = state.n7.keys()
        findings = []
        for other in others:
            theirs = ctx.actors[other].n7.keys() if other in ctx.actors else set()
            shared = {
                m
                for m in mine & theirs
                # ``theirs`` is refreshed only by the other's own accesses: check their time too.
                if ctx.unjustified_by.get(m, {}).get(other, -1) >= week
                and sum(1 for u in ctx.unjustified_by.get(m, {}).values() if u >= week)
                <= cfg.max_actors
            }
            smaller = max(1, min(len(mine), len(theirs)))
            if len(shared) < cfg.min_shared or len(shared) < cfg.min_share * smaller:
                continue
            # How likely is an overlap this large between two colleagues by chance, given how
            # many merchants each reached and how many were reached without justification at
            # all this week (a small shop's staff overlap all the time)? Any of the others
            # could have been the partner: the chance is multiplied by their number.
            pool = len(ctx.unjustified_by)
            partners = sum(1 for a in ctx.actors.values() if a.kind == "staff" and a.n7)
            chance = hypergeom_tail(len(shared), len(mine), len(theirs), pool)
            p = min(1.0, chance * max(1, partners - 1))
            severity, strength = _graded(p, cfg.medium_p, cfg.high_p)
            findings.append(
                Finding(
                    self.name,
                    me,
                    ctx.now_us,
                    severity,
                    min(100.0, 10 * -math.log10(max(p, 1e-10))),
                    tuple(sorted(shared)),
                    (event.id,),
                    (
                        f"{me} and {other} both opened customer data of the same {len(shared)} "
                        f"merchants, new to each of them, in the last 7 days without a ticket "
                        f"or grant ({_list(shared)}); that is {len(shared) / smaller:.0%} of the "
                        f"new merchants the smaller of the two reached. They reached "
                        f"{len(mine)} and {len(theirs)} of the {pool} merchants anyone reached "
                        f"so this week: by chance {_chance(chance)}, and {partners - 1} "
                        f"colleague(s) could have overlapped ({_chance(p)} overall).",
                    ),
                    strength=strength,
                )
            )
        return findings


class FakeTickets(Detector):
    """Tickets the actor opened and closed within minutes, used to justify bulk access."""

    graded = True
    weight = 1.2  # its medium findings are counts over 7 days, as long_horizon's

    name = "fake_tickets"
    description = "Self-made tickets closed within minutes that 'justify' list views or exports."

    class Config(_ChanceConfig):
        """Thresholds."""

        max_minutes: int = Field(
            30,
            ge=1,
            description="A self-made ticket closed this fast is suspicious (a harvester need "
            "not close theirs within minutes: what tells is that only lists were opened).",
        )
        quiet_minutes: int = Field(
            60,
            ge=1,
            description="Where the help desk sends no closings: a self-made ticket used only "
            "within max_minutes of its opening is judged once unused for this long.",
        )
        min_count: int = Field(
            3, ge=1, description="Such tickets in 7 days before it is more than low."
        )
        min_listed: int = Field(
            100,
            ge=0,
            description="Customers a ticket's one list view shows before it is judged: fewer, "
            "in one view, is a page of a look-up (a caller found in a list), not a harvest, and "
            "is not reported (two views or more are); 0: every such ticket is.",
        )
        medium_p: float = Field(
            1e-2, gt=0, le=1, description="Medium when this unlikely at the usual rate."
        )

    def _suspicious(self, ctx: Context, ticket: Ticket | None, actor: str | None) -> bool:
        """A ticket the actor opened (:meth:`Context.opener`: where the help desk never says
        who opens its tickets, one of a single assignee) and handled alone, closed within
        ``max_minutes``; or,
        where the help desk sends no closings (:meth:`Context.closings_known`), whose every
        event and citation came within ``max_minutes`` of its opening (judged once it has
        been quiet for ``quiet_minutes``: :meth:`_quiet`)."""
        cfg = self.config
        assert isinstance(cfg, FakeTickets.Config)  # noqa: S101
        if (
            ticket is None
            or ticket.opened_us is None
            or actor is None
            or actor not in ticket.assignees
            or ctx.opener(ticket, ctx.now_us) != actor
        ):
            return False
        end = ticket.closed_us if ticket.closed_us is not None else ticket.used_us
        return end - ticket.opened_us <= cfg.max_minutes * MINUTE

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        found = self._quiet(ctx, state, event.actor.id) if _OPEN_SELF_MADE in state.marks else []
        ticket_id = event.cited_ticket()
        if ticket_id is None or not is_bulk(event):
            return found
        ticket = ctx.tickets.get(ticket_id)
        if ticket is not None and ticket.closed_us is None:
            actor = event.actor.id
            if not ctx.closings_known(ctx.now_us) and self._suspicious(ctx, ticket, actor):
                mark(state, _OPEN_SELF_MADE, ctx.now_us, ticket_id)  # judged once quiet
            return found  # not (yet) closed: judged when it closes
        if not self._suspicious(ctx, ticket, event.actor.id):
            return found
        assert ticket is not None  # noqa: S101
        events = tuple(ticket.bulk_events) if event.id in ticket.bulk_events else (event.id,)
        return found + self._finding(
            ctx, event.actor.id, ticket_id, ticket, ctx.now_us, event.merchant, events
        )

    def _quiet(self, ctx: Context, state: ActorState, actor: str) -> list[Finding]:
        """The actor's self-made tickets still open where the help desk sends no closings
        (marked at their lists), judged at the actor's next access once quiet for
        ``quiet_minutes``: by then a call's ticket has had its caller's record opened under
        it (:attr:`Ticket.single`), and one used again later is no quick ticket. A ticket
        leaves the marks once judged, closed (judged at its closing), no longer quick, or a
        week old: what stays is the few still waiting."""
        cfg = self.config
        assert isinstance(cfg, FakeTickets.Config)  # noqa: S101
        now = ctx.now_us
        found: list[Finding] = []
        waiting = []
        for u, key in state.marks[_OPEN_SELF_MADE]:
            ticket = ctx.tickets.get(key)
            if (
                ticket is None
                or ticket.closed_us is not None
                or now - u > 7 * DAY
                or not self._suspicious(ctx, ticket, actor)  # used again later: never quick again
            ):
                continue
            if now - ticket.used_us < cfg.quiet_minutes * MINUTE:
                waiting.append((u, key))
                continue
            found += self._finding(
                ctx, actor, key, ticket, now, ticket.merchant or "?", tuple(ticket.bulk_events)
            )
        if waiting:
            state.marks[_OPEN_SELF_MADE] = waiting
        else:
            del state.marks[_OPEN_SELF_MADE]
        return found

    def observe_context(self, event: ContextEvent, ctx: Context) -> list[Finding]:
        """At a ticket's close: list views or exports made under a self-made, minutes-long ticket."""
        if event.type != "ticket.closed" or not isinstance(event.ticket, str):
            return []
        ticket = ctx.tickets.get(event.ticket)
        if ticket is None or not (ticket.bulk_events or ticket.before):
            return []
        actor = ctx.opener(ticket, ctx.now_us)
        if actor is None or not self._suspicious(ctx, ticket, actor):
            return []
        return self._finding(
            ctx,
            actor,
            event.ticket,
            ticket,
            ctx.now_us,
            ticket.merchant or "?",
            tuple(ticket.bulk_events) or (event.id,),
        )

    def _finding(
        self,
        ctx: Context,
        actor: str,
        ticket_id: str,
        ticket: Ticket,
        t: int,
        merchant: str,
        events: tuple[str, ...],
    ) -> list[Finding]:
        """Fewer than ``min_count`` such tickets in 7 days are low; more of them than the actor
        and their team make likely (:func:`surprise`: the team's members' rates, the actor's
        own days) are medium, then high."""
        cfg = self.config
        assert isinstance(cfg, FakeTickets.Config)  # noqa: S101
        opened = ticket.opened_us or 0
        how_long = (
            f"closed {(ticket.closed_us - opened) / MINUTE:.0f} minutes later"
            if ticket.closed_us is not None
            else f"used it for {(ticket.used_us - opened) / MINUTE:.0f} minutes, not since "
            f"(the help desk sends no closings)"
        )
        opener = (
            "they opened themselves"
            if ticket.opened_by == actor
            else "was theirs from its opening (the help desk does not say who opens its tickets)"
        )
        state = ctx.actor(actor)
        if ticket.single:
            # A call logged as a ticket is about the caller: someone's own record is opened
            # under it. That is how phone desks work, not a signal (not reported: a daily
            # habit would otherwise pile up as evidence).
            return []
        if len(ticket.bulk_events) == 1 and 0 < ticket.listed < cfg.min_listed:
            # One page of a list, to find the caller: a phone desk's look-up, not a harvest
            # (which lists a merchant's customers page after page, or a big page). Not
            # reported, as above. (listed 0: a state saved before it was kept.)
            return []
        # A ticket under which only whole lists were opened served the lists alone.
        kind = "list_only_ticket"
        mark(state, kind, t, ticket_id)
        week = t - 7 * DAY
        count = sum(1 for u, _ in state.marks.get(kind, ()) if u >= week)
        severity, strength = Severity.LOW, 0.0
        listed = len(ticket.bulk_events) + ticket.before
        how = "no one customer's own record was opened under it, only lists"
        if count >= cfg.min_count:
            # Over 7 days, and over the last 24 hours (a burst) when that many came in a
            # day: two looks at one signal, each counts half as surprising.
            prior = team_prior(ctx, actor, state.team, kind, cfg.floor_rate)
            odds = surprise(ctx, state, kind, count, prior)
            day = sum(1 for u, _ in state.marks[kind] if u >= t - DAY)
            span, looks = "7 days", 1
            if day >= cfg.min_count:
                burst = surprise(ctx, state, kind, day, prior, hours=24)
                looks = 2
                if burst.p < odds.p:
                    odds, span = burst, "24 h"
            chance = min(1.0, looks * odds.p)
            severity, strength = cfg.grade(chance)
            how += f"; {odds.count} in {span}: " + odds.text()
        return [
            Finding(
                self.name,
                actor,
                t,
                severity,
                min(100.0, 30.0 + 10 * count),
                (merchant,),
                events,
                (
                    f"{actor} opened customer or order lists of merchant {merchant} citing ticket "
                    f"{ticket_id}, which {opener}, handled alone and "
                    f"{how_long}; {listed} list view(s) or export(s) cite "
                    f"it or came just before it. That is {count} such ticket(s) in 7 days; "
                    f"{how}.",
                ),
                strength=strength,
            )
        ]


class OtherCase(Detector):
    """List views and exports that cite a case of another merchant.

    A ticket justifies access to its own merchant's customers. A list view or export of one
    merchant that cites a ticket the platform knows to be about another merchant is a
    justification that does not fit: once, a slip of the keyboard; again, on other shops, a
    cover story (a real case of the actor's, lent to lists it has nothing to do with). One
    merchant so reached is low; more of them in 7 days than the actor and their team make
    likely (:func:`surprise`) is medium, then high. Single records are left out: a customer
    who shops at two merchants is looked up under either's case.
    """

    graded = True
    weight = 2.0

    name = "other_case"
    description = "List views or exports citing a ticket about another merchant."

    class Config(_ChanceConfig):
        """Thresholds."""

        min_merchants: int = Field(
            2, ge=1, description="Merchants so reached in 7 days before it is more than low."
        )
        floor_rate: float = Field(0.02, gt=0, description="Least rate assumed, a working day.")

    judges = _staff_only

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        cfg = self.config
        assert isinstance(cfg, OtherCase.Config)  # noqa: S101
        ticket_id = event.cited_ticket()
        if justified or ticket_id is None or not is_bulk(event):
            return []
        ticket = ctx.tickets.get(ticket_id)
        if ticket is None or ticket.merchant is None or ticket.merchant == event.merchant:
            return []
        t = ctx.now_us
        kind = "other_case"
        count = mark(state, kind, t, event.merchant)
        if not count:
            return []  # this merchant was judged so already (within 30 days)
        actor = event.actor.id
        week = t - 7 * DAY
        merchants = sorted(m for u, m in state.marks[kind] if u >= week)
        severity, strength = Severity.LOW, 0.0
        how = "once may be a slip"
        if count >= cfg.min_merchants:
            # Without the colleague who does it most: a partner lending cases to lists
            # beside them (a pair's harvest) would make it their team's usual.
            prior = team_prior(ctx, actor, state.team, kind, cfg.floor_rate, but_busiest=True)
            odds = surprise(ctx, state, kind, count, prior)
            severity, strength = cfg.grade(odds.p)
            how = odds.text()
        return [
            Finding(
                self.name,
                actor,
                t,
                severity,
                min(100.0, 30.0 + 15 * count),
                tuple(merchants),
                (event.id,),
                (
                    f"{actor} opened customer or order lists, or exports, of merchant "
                    f"{event.merchant} citing ticket {ticket_id}, which is about merchant "
                    f"{ticket.merchant}. That is {count} merchant(s) reached under another "
                    f"merchant's case in 7 days ({_list(merchants)}); {how}.",
                ),
                strength=strength,
            )
        ]


class RepeatedLooks(Detector):
    """Repeated unjustified looks at the same few customers.

    Its grade is news: a customer who becomes one looked at again and again (or a
    high-profile one looked at on a second day) is judged; further looks at the same
    customers are low, a reminder, not a second piece of evidence of what was already judged
    (the repetition over days is what made them so).
    """

    graded = True
    weight = 1.0

    name = "repeated_looks"
    description = "The same customers viewed again and again without a ticket."

    class Config(DetectorConfig):
        """Thresholds."""

        min_looks: int = Field(6, ge=2, description="Unjustified looks at one customer in 14 days.")
        min_days: int = Field(4, ge=1, description="…spread over at least this many days.")
        high_profile_days: int = Field(
            2, ge=1, description="Days a high-profile customer looked at unjustified is high."
        )
        min_customers: int = Field(
            2, ge=1, description="Customers looked at so often before it is more than low."
        )
        floor_rate: float = Field(
            0.02,
            gt=0,
            description="Least rate of such customers assumed, a working day (their and "
            "their team's rates: medium only when that many is unlikely for them).",
        )
        medium_p: float = Field(
            0.01, gt=0, le=1, description="Medium when that many is this unlikely for them."
        )
        high_profile_customers: int = Field(
            2,
            ge=0,
            description="High-profile customers looked at without a ticket in 7 days, on at "
            "least ``high_profile_days`` days, before they are judged together (0: off).",
        )
        min_peer_days: int = Field(
            20,
            ge=1,
            description="Peer working days needed before high-profile customers of several "
            "merchants looked at on one day are judged (over two days they always are).",
        )
        high_profile_p: float = Field(
            1e-3,
            gt=0,
            le=1,
            description="High when that many high-profile customers is this unlikely for "
            "them (medium below ``medium_p``).",
        )

    judges = _staff_only

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        cfg = self.config
        assert isinstance(cfg, RepeatedLooks.Config)  # noqa: S101
        subjects = event.subjects
        if justified or state.kind != "staff" or subjects is UNSET or len(subjects) > 5:
            return []
        if len(subjects) > 1 and is_list(event):
            # A small merchant's list names all its customers (a new shop's two, every time
            # it is opened): none of them was looked up. A search that finds one was.
            return []
        case = ctx.case_of(event)
        if case is not None and all(
            s in case.customers or s not in self.high_profile for s in subjects
        ):
            # A review of the merchant's own case (a lead's, a cover's, a caller's call back
            # after it closed), of a high-profile customer only if the case concerned them
            # (they were looked at under it by whom it covered): not snooping.
            return []
        t = ctx.now_us
        hot = []
        vip = []
        news = False  # a customer became hot (or a high-profile one was seen a second day)
        new_vip = False  # a high-profile customer looked at for the first time in 30 days
        for subject in subjects:
            if subject in self.high_profile and mark(state, _HIGH_PROFILE_LOOK, t, subject):
                new_vip = True
                mark(state, _HIGH_PROFILE_SHOP, t, event.merchant)
            looks = state.looks.pop(subject, [])  # back in last: in order of the last look
            looks.append(t)
            recent = [x for x in looks if x >= t - 14 * DAY]
            state.looks[subject] = recent
            days = len({state.workday(x) for x in recent})
            if len(recent) >= cfg.min_looks and days >= cfg.min_days:
                hot.append((subject, len(recent), days))
                if mark(state, "hot_customer", t, subject):  # once per customer and 30 days
                    news = True
            elif subject in self.high_profile and days >= cfg.high_profile_days:
                vip.append((subject, len(recent), days))
                if mark(state, "hot_high_profile", t, subject):
                    news = True
        if not hot and not vip:
            return self._high_profile_spread(event, ctx, state) if new_vip else []
        # One customer who keeps calling back is a repeat caller; several at once, or one the
        # platform flags high-profile, is a pattern.
        since = t - 14 * DAY
        hot_customers = 0
        for looks in state.looks.values():
            if len(looks) >= cfg.min_looks and looks[-1] >= since:
                kept = [x for x in looks if x >= since]
                if (
                    len(kept) >= cfg.min_looks
                    and len({state.workday(x) for x in kept}) >= cfg.min_days
                ):
                    hot_customers += 1
        text = ", ".join(f"{s} ({n} times on {d} days)" for s, n, d in hot + vip)
        also = (
            f" {', '.join(s for s, _, _ in vip)} is flagged high-profile by the platform."
            if vip
            else ""
        )
        severity = Severity.LOW
        if vip:
            severity = Severity.HIGH if news else Severity.LOW
        elif hot_customers >= cfg.min_customers:
            # Several such customers: against how often the actor and their team come to
            # look at a customer again and again (a lead checking the same imports every
            # day, a desk of repeat callers), over the last 7 days.
            kind = "hot_customer"
            week = t - 7 * DAY
            count = sum(1 for u, _ in state.marks.get(kind, ()) if u >= week)
            prior = team_prior(ctx, event.actor.id, state.team, kind, cfg.floor_rate)
            odds = surprise(ctx, state, kind, count, prior)
            if odds.p < cfg.medium_p and news:
                severity = Severity.MEDIUM
            also = (
                f" {hot_customers} customers so in 14 days, {odds.count} new in the last 7: "
                f"{odds.text()}."
            )
        if not news:
            also += " No customer is new to this since it was last judged."
        return [
            Finding(
                self.name,
                event.actor.id,
                t,
                severity,
                75.0 if vip else 60.0,
                (event.merchant,),
                (event.id,),
                (
                    f"{event.actor.id} looked again at {text} in the last 14 days without a "
                    f"ticket or grant.{also}",
                ),
                context=not news,  # counted when they became so: not again every day
            )
        ]

    def _high_profile_spread(
        self, event: AccessEvent, ctx: Context, state: ActorState
    ) -> list[Finding]:
        """Several high-profile customers looked at without a ticket in 7 days, over two days
        or more or of two merchants or more, each perhaps on one day only (a snooper moving
        from one to the next): low, or medium, then high, when that many is unlikely at the
        actor's and their team's rate of such looks (:func:`surprise`), as one of them looked
        at on a second day is high."""
        cfg = self.config
        assert isinstance(cfg, RepeatedLooks.Config)  # noqa: S101
        t = ctx.now_us
        week = t - 7 * DAY
        recent = [(u, k) for u, k in state.marks[_HIGH_PROFILE_LOOK] if u >= week]
        count = len(recent)
        if not cfg.high_profile_customers or count < cfg.high_profile_customers:
            return []
        one_day = len({state.workday(u) for u, _ in recent}) < cfg.high_profile_days
        shops = sum(1 for u, _ in state.marks[_HIGH_PROFILE_SHOP] if u >= week)
        if one_day and shops < 2:
            return []  # several of one shop on one day: a case about the shop (a fraud check)
        prior = team_prior(ctx, event.actor.id, state.team, _HIGH_PROFILE_LOOK, cfg.floor_rate)
        if one_day and prior.peer_days < cfg.min_peer_days:
            # Of several shops, one day is enough (a snooper's morning of celebrities), once
            # the team's rate is known: a fraud analyst's first day in the data is not.
            return []
        odds = surprise(ctx, state, _HIGH_PROFILE_LOOK, count, prior)
        who = [k for _, k in recent]
        severity, strength = _graded(odds.p, cfg.medium_p, cfg.high_profile_p)
        return [
            Finding(
                self.name,
                event.actor.id,
                t,
                severity,
                70.0,
                (event.merchant,),
                (event.id,),
                (
                    f"{event.actor.id} looked at {count} customers flagged high-profile by the "
                    f"platform without a ticket or grant in the last 7 days ({_list(who)}): "
                    f"{odds.text()}.",
                ),
                strength=strength,
            )
        ]


#: ``repeated_looks``' mark of a high-profile customer looked at without a ticket.
_HIGH_PROFILE_LOOK: Final = "high_profile_look"
#: …and the merchant of such a look (once per merchant and 30 days).
_HIGH_PROFILE_SHOP: Final = "high_profile_shop"

_WHAT = {
    "harvest": "opened customer or order lists, or exports,",
    "browse": "looked at several customers",
    "browse_uncited": "looked at several customers",
    _WIDE: "looked at {wide} customers or more each",
    _SILENT: "looked at customers",
    _PAGED: "paged through customer or order lists (two views or more in 24 h)",
}
_WITHOUT = {
    "harvest": "without a ticket or grant",
    "browse": "without a ticket or grant",
    "browse_uncited": "citing no ticket or grant at all",
    _WIDE: "citing no ticket or grant at all",
    _SILENT: "citing no ticket, grant or reason",
    _PAGED: "without a ticket or grant",
}
_OF = {_SILENT: "merchants"}  # whose merchants a kind counts (else merchants new to the actor)


class _Habit(NamedTuple):
    """When a kind of mark's days are an actor's routine (:meth:`LongHorizon._run`)."""

    least: int  # the actor's own working days before it is judged at all
    own_days: int  # …before their own share of days decides
    routine: float  # the share of days (theirs, or their team's) that is routine


class _Look(NamedTuple):
    """What one of :class:`LongHorizon`'s looks (its merchant counts, its days) found."""

    severity: Severity
    p: float  # the chance it was graded by
    merchants: list[str]
    text: str
    strength: float = 0.0  # Finding.strength


class _Run(NamedTuple):
    """The working days from ``start`` (a UTC day number) to today with a mark, judged by
    :meth:`LongHorizon._run`."""

    p: float  # the chance of k or more such days of n (doubled: two looks)
    start: int
    k: int
    n: int
    own: float  # the actor's own share of such days before ``start``
    a: float  # the Beta prior of their daily chance, updated with those days
    b: float
    earlier: int  # the actor's working days before ``start`` (0: none on record)
    left_out: int  # …of which marked but not counted: their merchants were judged unusual


def _own_share(own: float, days: int, left_out: int) -> str:
    """How a steady trickle's reason gives the actor's own share of such days (``own`` of
    their ``days`` before the run, ``left_out`` of them not counted), up to the peers'."""
    if not days:
        return "None of their working days before that is on record; "
    if not left_out:
        return f"They did on {own:.0%} of their {days} earlier working day(s), "
    return (
        f"They did on {own:.0%} of their {days} earlier working day(s) (not counting "
        f"{left_out} on which they did so at merchants an earlier finding judged unusual), "
    )


def _rarer(run: _Run | None, tried: list[_Run], tests: int) -> _Run | None:
    """``run``, or the most surprising of ``tried`` where it is more so once its chance is
    multiplied by ``tests`` (each start tried is a test: Bonferroni)."""
    if not tried:
        return run
    best = min(tried, key=lambda r: r.p)
    best = best._replace(p=min(1.0, best.p * tests))
    return best if run is None or best.p < run.p else run


def _marked_days(state: ActorState, kind: str, but: AbstractSet[str] = frozenset()) -> set[int]:
    """The working days (:meth:`ActorState.workday`, last 30) on which the actor has a mark of
    ``kind`` (of a key not in ``but``)."""
    return {state.workday(u) for u, key in state.marks.get(kind, ()) if key not in but}


def _but_partner(
    peers: list[ActorState], samples: list[tuple[int, int]], kind: str, share: float
) -> None:
    """Take out of ``samples`` (:func:`team_samples`, one per peer) the marks of ``kind`` on
    merchants a finding judged unusual for the colleague who has most of them (all their
    marks of ``kind``, when a finding about them was medium in the last 30 days, on any
    detector, whatever the evidence made of it: :data:`ALERTED`), when those are ``share``
    of the peers' samples or more:
    a partner listing merchants beside the actor (a pair's harvest) is not their small
    team's usual, whichever detector caught them first. One colleague only, and only where
    they weigh: a large team's many benign findings, left out, would make its rate too low
    (measured)."""
    most, at = 0, -1
    for i, other in enumerate(peers):
        marks = other.marks.get(kind, ())
        if not marks:
            continue
        if other.marks.get(ALERTED):
            n = len(marks)
        else:
            judged = other.marks.get(_JUDGED)
            if not judged:
                continue
            out = {m for _, m in judged}
            n = sum(1 for _, m in marks if m in out)
        if n > most:
            most, at = n, i
    if at >= 0 and most >= share * sum(k for k, _ in samples):
        samples[at] = (samples[at][0] - most, samples[at][1])


class LongHorizon(Detector):
    """Merchants new to the actor, listed or browsed without a ticket, over days.

    Two marks, each once per merchant and 30 days: list views or exports of a merchant new to
    the actor without a ticket or grant (``harvest``), and two or more customers of such a
    merchant looked at without one (``browse``: a look-up for a caller is one customer). The
    count of the last 7 days is compared with the rate expected of the actor — their own rate
    before that week, shrunk towards their team's (so a newcomer or a small team has a
    sensible prior) — and graded by how unlikely it is by chance.
    """

    name = "long_horizon"
    description = (
        "New merchants listed or browsed without a ticket over 7 days, against the actor's "
        "and team's own rate."
    )
    graded = True
    weight = 1.35
    family = "reach"  # access without a ticket beyond the usual: one signal

    class Config(DetectorConfig):
        """Thresholds."""

        min_count: int = Field(2, ge=1, description="Merchants in 7 days before it judges.")
        new_only: bool = Field(
            True,
            description="Count only merchants new to the actor, or paged through (else any).",
        )
        pages: int = Field(
            2, ge=1, description="Unjustified list views of a merchant in 24 h: paging through."
        )
        min_days: int = Field(3, ge=1, description="Working days of own history first.")
        newcomer_days: int = Field(
            14,
            ge=0,
            description="A hire's first days from their staff.joined event: every merchant is "
            "new to them (and their first week's pace no measure of their usual), so merchants "
            "new to them are not judged, only marked (their rate afterwards); 0: judged as "
            "anyone's after min_days.",
        )
        steady: bool = Field(
            True,
            description="Also judge the working days of the last 7 with a merchant new to the "
            "actor browsed citing nothing (a steady trickle): more slow insiders, earlier, for "
            "more false alerts (measured).",
        )
        steady_days: int = Field(
            3, ge=2, description="Working days with a mark, of the last 7, before it judges days."
        )
        wide: int = Field(
            3,
            ge=0,
            description="With steady: also judge apart the days with this many customers or "
            "more of a merchant new to the actor looked at citing nothing (a caller's look-up "
            "is one customer); 0: not judged apart.",
        )
        paged: bool = Field(
            True,
            description="Also count the merchants whose lists were paged through (pages) "
            "against the actor's and their team's own rate of it, apart from new merchants' "
            "lists (a phone desk finds callers in one page all day; it seldom pages).",
        )
        silent: bool = Field(
            True,
            description="With steady: also judge so the days with single-record looks citing "
            "nothing at all (no ticket, grant or reason) at any merchant, new to the actor or "
            "not (a small shop's agents have worked on every merchant), from the actor's first "
            "days: silent where the actor or their team does it on silent_routine of their "
            "days or more.",
        )
        reviewer_peers: bool = Field(
            True,
            description="With silent: judge a reviewer's (role lead, team_lead, qa, manager, "
            "supervisor) days of looks citing nothing against the other staff of that role, "
            "of any team, when they have min_peer_days working days (else their team's): a "
            "lead checking a colleague's case without citing it works as leads do, not as "
            "the team's agents, who cite a ticket.",
        )
        silent_routine: float = Field(
            0.1,
            gt=0,
            le=1,
            description="The share of working days with looks citing nothing that is the "
            "actor's routine (their own share, from min_days of theirs) or their team's.",
        )
        runs: bool = Field(
            True,
            description="Also judge the days since each earlier marked day with own_days of "
            "the actor's before it, against those (a trickle that began before the week must "
            "not become the actor's usual).",
        )
        fresh_runs: bool = Field(
            True,
            description="With steady: also judge the days since each marked day of the last "
            "7 (a trickle that began this week, on every working day since: three of three "
            "is rarer than three of seven), each start a test of its own (Bonferroni).",
        )
        own_days: int = Field(
            7,
            ge=1,
            description="The actor's own working days from which their own share of the "
            "trickle's days decides whether it is their routine (fewer: that share shrunk "
            "towards their team's does).",
        )
        min_peer_days: int = Field(20, ge=1, description="Peer working days needed.")
        partner_unjudged: bool = Field(
            True,
            description="The merchants that findings judged unusual for one colleague, the "
            "one with most of them, are not counted in the team's rate of merchants: a "
            "partner listing merchants beside the actor (a pair's harvest) would make it "
            "their small team's usual.",
        )
        partner_share: float = Field(
            0.25,
            ge=0,
            le=1,
            description="…when they are this share of the team's marks or more (in a large "
            "team, one colleague's findings tell little of its rate).",
        )
        small_team_days: int = Field(
            7,
            ge=0,
            description="A team with fewer peer working days (a small shop's team of two) is "
            "judged against all the staff instead, once the actor has this many working days "
            "before the week (their own rate soon outweighs the staff's); list views and "
            "exports are not (a lone specialist's data checks); 0: not judged then.",
        )
        max_rate: float = Field(
            0.3,
            gt=0,
            description="A signal the actor or their team shows this often a day tells nothing.",
        )
        floor_rate: float = Field(0.02, gt=0, description="Least rate assumed, a working day.")
        workflow_users: int = Field(
            2,
            ge=0,
            description="As unjustified_access's: looks of an established workflow (a declared "
            "reason its users give for new merchants max_rate a day or more) are not marked; "
            "0: no workflows.",
        )
        sweep_merchants: int = Field(
            5, ge=0, description="As unjustified_access's: a declared sweep's looks are not marked."
        )
        batch_users: int = Field(
            2, ge=0, description="As unjustified_access's: a team's batch of exports is not marked."
        )

        low_p: float = Field(0.01, gt=0, le=1, description="Low when this unlikely by chance.")
        medium_p: float = Field(1e-3, gt=0, le=1, description="Medium when this unlikely.")
        high_p: float = Field(1e-5, gt=0, le=1, description="High when this unlikely.")

    def __init__(self, config: DetectorConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        assert isinstance(cfg, LongHorizon.Config)  # noqa: S101
        self._workflows = Workflows(cfg.workflow_users, cfg.max_rate, cfg.sweep_merchants)
        # (kind, team or None for all the staff, role or None) → (day, actor → (marked days,
        # working days))
        self._samples: dict[
            tuple[str, str | None, str | None], tuple[int, dict[str, tuple[int, int]]]
        ] = {}

    judges = _staff_only

    def observe(
        self, event: AccessEvent, ctx: Context, state: ActorState, justified: bool
    ) -> list[Finding]:
        cfg = self.config
        assert isinstance(cfg, LongHorizon.Config)  # noqa: S101
        if justified or state.kind != "staff":
            return []
        found = self._reach(event, ctx, state) + self._silent(event, ctx, state)
        if not found:
            return []
        # The most surprising look speaks (a burst of merchants is a count, not a trickle).
        look = min(found, key=lambda f: f.p)
        if look.severity >= Severity.MEDIUM:
            # Judged unusual: never the actor's usual (_steady). A low look, a lead to look
            # at, judges nothing: a benign lead's every such day left out kept their own
            # share at 0 % and alerted on them again and again (measured).
            for judged in look.merchants:
                mark(state, _JUDGED, ctx.now_us, judged)
        return [
            Finding(
                self.name,
                event.actor.id,
                ctx.now_us,
                look.severity,
                min(100.0, 10 * -math.log10(max(look.p, 1e-10))),
                tuple(look.merchants),
                (event.id,),
                (look.text,),
                look.strength,
            )
        ]

    def _silent(self, event: AccessEvent, ctx: Context, state: ActorState) -> list[_Look]:
        """A single-record look citing nothing at all (no ticket, grant or reason), at any
        merchant, new to the actor or not: its days against the share of working days the
        actor and their team show it on (:meth:`_steady`). Where every agent finds callers
        without citing anything it is routine and tells nothing; where the team always cites
        something, a slow insider in a small shop (whose 120 merchants every agent has worked
        on) stands out on their third such day."""
        cfg = self.config
        assert isinstance(cfg, LongHorizon.Config)  # noqa: S101
        if not (cfg.steady and cfg.silent) or is_bulk(event) or not cites_nothing(event):
            return []
        if not mark_daily(state, _SILENT, ctx.now_us, event.merchant):
            return []
        return self._steady(ctx, state, event.actor.id, _SILENT)

    def _reach(self, event: AccessEvent, ctx: Context, state: ActorState) -> list[_Look]:
        """Merchants new to the actor (or paged through), listed or browsed without a
        ticket: their count over 7 and 30 days (:meth:`_merchants`), and the days of such
        browsing citing no ticket or grant (:meth:`_steady`)."""
        cfg = self.config
        assert isinstance(cfg, LongHorizon.Config)  # noqa: S101
        merchant = event.merchant
        # Paging through a merchant's lists without a ticket (a second list view of it within
        # 24 h) is harvesting whether or not the merchant is new to the actor; finding a
        # caller takes one page. (Cheapest test first: this runs on every unjustified access.)
        if (
            cfg.new_only
            and merchant not in state.n24
            and not (state.b24.get(merchant, 0) >= cfg.pages and is_bulk(event))
        ):
            return []
        if batch_export(ctx, event, cfg.batch_users):
            return []  # a team's batch of exports (standing monthly exports): not marked
        if cfg.workflow_users and self._workflows.look(ctx, state, event):
            return []  # a look of an established workflow or a declared sweep: not marked
        if is_bulk(event):
            kind = "harvest"
        else:
            # Without subject ids (optional in events) each look is one more customer.
            subjects = event.subjects if isinstance(event.subjects, list) else [event.id]
            seen = state.browsing.setdefault(merchant, [])
            seen += [c for c in subjects if c not in seen][:5]
            if len(seen) < 2:
                return []
            kind = "browse"
        paged: list[_Look] = []
        if kind == "harvest" and cfg.paged and state.b24.get(merchant, 0) >= cfg.pages:
            # Paging through a merchant's lists, counted against its own rate too: finding a
            # caller takes one page, so a desk whose agents open lists all day seldom pages.
            n = mark(state, _PAGED, ctx.now_us, merchant)
            if n >= cfg.min_count and len(state.active) >= cfg.min_days:
                paged = self._merchants(ctx, state, event.actor.id, _PAGED, n)
        count = mark(state, kind, ctx.now_us, merchant)  # newcomers' marks are their base rate
        # A caller's look-up is one customer, a follow-up a customer or two; going through
        # several customers of a merchant new to the actor, citing no case, is a harvest a few
        # records at a time (its days are counted apart, against their own rate).
        wide = (
            kind == "browse"
            and cfg.wide
            and len(seen) >= cfg.wide
            and not cites_case(event)
            and mark(state, _WIDE, ctx.now_us, merchant)
        )
        if not (count or wide):
            return paged
        # The days look is for single-record browsing (a slow insider's merchant or two a
        # day); lists of merchants new to the actor are counted, not their days: phone desks
        # find callers in a list day after day (measured: the list days were a quarter to a half
        # of the long-horizon false alerts and caught one pair harvest a merchant sooner).
        # Citing a ticket or grant that does not cover it (a colleague's, another merchant's,
        # a closed one) is a habit of its own, day after day for reviewers; citing nothing at
        # all is the trickle's sign (its days are counted apart).
        steady = ""
        if count and kind == "browse" and not cites_case(event):
            steady = "browse_uncited"
            mark(state, steady, ctx.now_us, merchant)
        if len(state.active) < cfg.min_days:
            return []  # everything is new to a newcomer
        who = event.actor.id
        joined = ctx.joined.get(who)
        if joined is not None and ctx.now_us - joined < cfg.newcomer_days * DAY:
            return paged  # a hire's first weeks: every merchant is new to them
        found: list[_Look] = []
        if count >= cfg.min_count:
            found += self._merchants(ctx, state, who, kind, count)
        if cfg.steady:
            for days in (steady, _WIDE if wide else ""):
                if days:
                    found += self._steady(ctx, state, who, days)
        return found + paged

    def _small_team(self, ctx: Context, state: ActorState, kind: str) -> bool:
        """Whether an actor whose team has too few peer working days is judged against all
        the staff: single-record looks only, once they have ``small_team_days`` of their own
        before the week. From their first days, or for list views, lone specialists stood
        out against all the staff (docs/detection.md: false alerts 3-10 times as many on
        small teams); list views are a lone onboarding or fraud agent's daily work, and
        ``unjustified_access`` counts them against the actor's own days."""
        cfg = self.config
        assert isinstance(cfg, LongHorizon.Config)  # noqa: S101
        if not cfg.small_team_days or kind in ("harvest", _PAGED):
            return False
        if kind == _SILENT and state.team is None:
            return True  # no team named: the staff are the desk whose habit it is, from day 1
        first = state.workday(ctx.now_us) - 6
        return sum(1 for d in state.active if d < first) >= cfg.small_team_days

    def _peers(
        self,
        ctx: Context,
        state: ActorState,
        who: str,
        kind: str,
        count: Callable[[ActorState], int] | None = None,
        *,
        partner: bool = False,
    ) -> tuple[str, list[tuple[int, int]]] | None:
        """The peers ``kind`` is judged against (:func:`team_samples`): the actor's team, or
        all the staff when the team has fewer than ``min_peer_days`` working days, or none is
        known (events without ``actor.team``: the staff without one are no team), and
        :meth:`_small_team` allows it; None while neither has them (the rate is not known).
        With ``partner``, without a partner's judged merchants (:func:`_but_partner`). A
        reviewer's looks citing nothing are judged against their role first
        (``reviewer_peers``)."""
        cfg = self.config
        assert isinstance(cfg, LongHorizon.Config)  # noqa: S101
        if kind == _SILENT and cfg.reviewer_peers and state.role in REVIEW_ROLES:
            # A reviewer's look-ups citing nothing against those of their role, any team.
            scope, samples = self._days_before(ctx, who, None, kind, True, role=state.role)
            if sum(d for _, d in samples) >= cfg.min_peer_days:
                return scope, samples

        def fetch(anyone: bool) -> tuple[str, list[tuple[int, int]]]:
            if kind == _SILENT:
                return self._days_before(ctx, who, state.team, kind, anyone)
            share = cfg.partner_share if partner else None
            return team_samples(
                ctx, who, state.team, kind, count=count, anyone=anyone, partner_share=share
            )

        if state.team is not None:
            scope, samples = fetch(False)
            if sum(d for _, d in samples) >= cfg.min_peer_days:
                return scope, samples
        if not self._small_team(ctx, state, kind):
            return None
        scope, samples = fetch(True)
        if sum(d for _, d in samples) < cfg.min_peer_days:
            return None
        return scope, samples

    def _days_before(
        self,
        ctx: Context,
        me: str,
        team: str | None,
        kind: str,
        anyone: bool,
        *,
        role: str | None = None,
    ) -> tuple[str, list[tuple[int, int]]]:
        """:func:`team_samples` of marked days and working days, of the days before today:
        :func:`members` walked once a day per team (:func:`once_a_day`): looks citing nothing are judged for every actor every
        day on desks where they are routine, and a walk over the staff for each cost a tenth
        of detection's time. Of the days before today, so the answer does not depend on when
        in the day it was asked (as :class:`Workflows`' rates)."""
        day = ctx.now_us // DAY

        def compute() -> dict[str, tuple[int, int]]:
            # Each member's working days done by midnight (a night shift's is under way then).
            return {
                actor: (
                    sum(1 for d in _marked_days(other, kind) if d < before),
                    sum(1 for d in other.active if d < before),
                )
                for actor, other in members(ctx, None, team, anyone=anyone)
                if role is None or other.role == role
                for before in (other.workday(day * DAY),)
            }

        key = (kind, None if anyone else team, role)
        table = once_a_day(self._samples, key, day, compute, 1000)  # free-text team names
        scope = peers_of(role) if role is not None else scope_of(team, anyone=anyone)
        return scope, [sample for actor, sample in table.items() if actor != me]

    def _run(
        self,
        state: ActorState,
        start: int,
        marked: set[int],
        clean: set[int],
        prior: tuple[float, float],
        habit: _Habit,
    ) -> _Run | None:
        """The actor's working days from ``start`` with a mark (``marked``) against their
        daily chance: the peers' ``prior`` updated with their own days before ``start``
        (``clean``: those not judged unusual); None while fewer than ``habit.least`` of
        their own are known there, or where the signal is routine for them
        (``habit.routine``): their own share of those days, once ``habit.own_days`` are
        known, or their chance so updated (a newcomer's one day of three is no habit of a
        third of their days; a lone specialist's every day of weeks is, however rare among
        all the staff)."""
        earlier_n = sum(1 for d in state.active if d < start)
        if earlier_n < habit.least:
            return None  # their own days before it are not known: everything is new
        earlier_k = sum(1 for d in clean if d < start)
        own = earlier_k / earlier_n if earlier_n else 0.0
        a, b = prior[0] + earlier_k, prior[1] + earlier_n - earlier_k
        routine = habit.routine
        if (earlier_n >= habit.own_days and own >= routine) or a / (a + b) >= routine:
            return None  # routine for them
        k = sum(1 for d in marked if d >= start)
        n = sum(1 for d in state.active if d >= start)
        p = min(1.0, 2 * beta_binomial_tail(k, n, a, b))
        left_out = sum(1 for d in marked if d < start) - earlier_k
        return _Run(p, start, k, n, own, a, b, earlier_n, left_out)

    def _merchants(
        self, ctx: Context, state: ActorState, who: str, kind: str, count: int
    ) -> list[_Look]:
        """The merchants marked ``kind`` in 7 days (and 30) against the expected count."""
        cfg = self.config
        assert isinstance(cfg, LongHorizon.Config)  # noqa: S101
        peers = self._peers(ctx, state, who, kind, partner=cfg.partner_unjudged)
        if peers is None:
            return []  # the team's rate is not known yet
        prior = prior_of(*peers, cfg.floor_rate)
        odds = surprise(ctx, state, kind, count, prior)
        if max(odds.own, odds.peers) >= cfg.max_rate:
            return []  # routine for them or their team (fraud sweeps, onboarding checks)
        # The same over the 30 days the marks cover (slower insiders), against peers alone;
        # two looks at the same signal: each counts half as surprising.
        month = len(state.marks[kind])
        span = "7 days"
        if month > count:
            longer = surprise(ctx, state, kind, month, prior, hours=30 * 24)
            if longer.p < odds.p:
                odds, span = longer, "30 days"
        p = min(1.0, 2 * odds.p)
        severity = _by_chance(p, cfg.low_p, cfg.medium_p, cfg.high_p)
        if severity is None:
            return []
        since = ctx.now_us - (30 if span == "30 days" else 7) * DAY
        merchants = sorted(m for u, m in state.marks[kind] if u >= since)
        what = _WHAT[kind]
        which = (
            ""
            if kind == _PAGED or not cfg.new_only
            else " new to them or paged through"
            if kind == "harvest"
            else " new to them"
        )
        return [
            _Look(
                severity,
                p,
                merchants,
                f"{who} {what} of {odds.count} merchants{which} {_WITHOUT[kind]} in the last "
                f"{span} ({_list(merchants)}); {odds.text()}.",
            )
        ]

    def _steady(self, ctx: Context, state: ActorState, who: str, kind: str) -> list[_Look]:
        """The working days of the last 7 with a mark of ``kind`` (a slow insider reaches a
        merchant or two every day) against the share of working days the actor and their
        team show it on."""
        cfg = self.config
        assert isinstance(cfg, LongHorizon.Config)  # noqa: S101
        today = state.workday(ctx.now_us)
        since_today = state.workday_start(ctx.now_us)
        if sum(1 for u, _ in state.marks[kind][-2:] if u >= since_today) > 1:
            return []  # judged at the day's first mark
        first = today - 6
        marked = _marked_days(state, kind)
        if sum(1 for d in marked if d >= first) < cfg.steady_days:
            return []
        chosen = self._peers(ctx, state, who, kind, lambda other: len(_marked_days(other, kind)))
        if chosen is None:
            return []
        scope, samples = chosen
        prior = beta_prior(samples, cfg.floor_rate)
        peers = prior[0] / sum(prior)
        habit = (
            # Citing nothing is a way of working, not reach: a newcomer's first days are
            # judged by their team's, and a share of a tenth of the days, the actor's own
            # from their first few, is already their habit (a lone fraud analyst's).
            _Habit(0, cfg.min_days, cfg.silent_routine)
            if kind == _SILENT
            else _Habit(cfg.min_days, cfg.own_days, cfg.max_rate)
        )
        if peers >= habit.routine:
            return []  # routine for their team
        # A day whose merchants a finding already judged unusual is not their usual: an
        # insider's first week, once out of the last 7 days, must not teach their base rate.
        judged = {m for _, m in state.marks.get(_JUDGED, ())}
        clean = _marked_days(state, kind, judged)
        run = self._run(state, first, marked, clean, prior, habit)
        if cfg.runs:
            # A trickle that began before the week, too faint then to be judged, must not
            # teach the base rate either: the days since each earlier marked day, against
            # the days before it. Several starts are several tests (Bonferroni).
            earlier: list[_Run] = []
            for start in sorted((d for d in marked if d < first), reverse=True):
                if sum(1 for d in state.active if d < start) < habit.own_days:
                    break  # earlier starts know fewer of their days still
                if (found := self._run(state, start, marked, clean, prior, habit)) is not None:
                    earlier.append(found)
            run = _rarer(run, earlier, len(earlier))
        if cfg.fresh_runs:
            # A trickle that began this week: the days since each of its marked days before
            # today (one since today is one day of one: no test), each start a test, the
            # week's own one of them.
            fresh = [
                found
                for start in sorted(d for d in marked if first < d < today)
                if (found := self._run(state, start, marked, clean, prior, habit)) is not None
            ]
            run = _rarer(run, fresh, len(fresh) + 1)
        if run is None:
            return []
        p, start, k, n, own, a, b, days_before, left_out = run
        severity = _by_chance(p, cfg.low_p, cfg.medium_p, cfg.high_p)
        if severity is None:
            return []
        # The same signal on k days, which the evidence would otherwise count day by day:
        # as evidence, one grade above its chance.
        strength = _toward(p, cfg.low_p, cfg.medium_p) if severity == Severity.LOW else 0.0
        severity = Severity(min(Severity.CRITICAL, severity + 1))
        since = state.day_begins(start)
        merchants = sorted({m for u, m in state.marks[kind] if u >= since})
        span = (
            "in the last 7 days"
            if start == first
            else f"since {iso(since)[:10]}"
            if start > first
            else f"since {iso(since)[:10]} (a run that began before the last 7 days)"
        )
        return [
            _Look(
                severity,
                p,
                merchants,
                f"{who} {_WHAT[kind].format(wide=cfg.wide)} of "
                f"{_OF.get(kind, 'merchants new to them')} "
                f"{_WITHOUT[kind]} on {k} of their "
                f"{n} working days {span} ({_list(merchants)}): a steady trickle. "
                f"{_own_share(own, days_before, left_out)}{scope} on {peers:.0%} (people "
                f"differ: the busiest count too), so {n * a / (a + b):.1f} such day(s) were "
                f"expected (chance {_chance(p / 2)}); the same signal on {k} days counts as "
                "that much evidence.",
                strength,
            )
        ]
