"""The seven built-in detectors, table-driven: a short event story in, the expected alert out.

Each table row is a sequence of access and context events (JSON dicts, decoded with
:func:`sentinelle.events.decode_event` as ingest does) with times we control, and either
``None`` (the detector must stay silent) or a :class:`Fires` (one alert: actor, severity,
merchants, the events that triggered findings, and words and numbers its reason must contain).
Every table pairs the firing case with the near misses that must not fire. Each row runs
twice: with only that detector enabled, and with all seven (detectors must not disturb each
other's state).

Most detectors judge an actor only once their own history (or their team's) is known, so most
rows start from :data:`BASE`, a clean week of ticketed work before day 0, and play the story on
day 0 or later.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from sentinelle.detect import DETECTORS, Alert, DetectConfig, Engine, Severity
from sentinelle.detect.detectors import hypergeom_tail
from sentinelle.detect.evidence import EvidenceConfig
from sentinelle.events import decode_event, time_us

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
T0 = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)  # a Monday, 00:00 UTC
HIT = "hit"  # the id of the event a firing row expects to trigger the alert
FOLLOW = tuple(f"hit-{i}" for i in range(1, 40))  # events expected to raise it further
LOW, MEDIUM, HIGH, CRITICAL = Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL

_ids = itertools.count(1)


# -- events ------------------------------------------------------------------------------------


def at(day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    """``day`` days after Monday 2026-11-02, at ``hour:minute`` UTC (negative days: before)."""
    return T0 + dt.timedelta(days=day, hours=hour, minutes=minute)


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def access(
    actor: str,
    merchant: str,
    when: dt.datetime,
    *,
    id: str | None = None,
    action: str = "view",
    resource: str = "customer",
    count: int | None = None,
    subjects: Sequence[str] | None = None,
    ticket: str | None = None,
    grant: str | None = None,
    kind: str = "staff",
    role: str | None = "support",
    team: str | None = "care",
    device: str = "laptop-1",
    country: str = "FR",
    outcome: str = "allowed",
) -> dict[str, Any]:
    """An access event as a sender would post it."""
    subjects = list(subjects) if subjects is not None else [f"c-{merchant}-1"]
    who: dict[str, Any] = {"id": actor, "kind": kind}
    if kind == "staff":
        who |= ({"team": team} if team else {}) | ({"role": role} if role else {})
    event: dict[str, Any] = {
        "id": id or f"a-{next(_ids)}",
        "time": _stamp(when),
        "actor": who,
        "action": action,
        "merchant": merchant,
        "resource": {"type": resource, "count": len(subjects) if count is None else count},
        "subjects": subjects,
        "data": ["contact", "address"],
        "channel": "support_console" if kind == "staff" else "api",
        "source": {"ip": "198.51.100.7", "device": device, "country": country},
        "outcome": outcome,
    }
    if ticket or grant:
        event["justification"] = {
            **({"ticket": ticket} if ticket else {}),
            **({"grant": grant} if grant else {}),
            "reason": "customer_request",
        }
    return event


def context(kind: str, when: dt.datetime, **fields: Any) -> dict[str, Any]:
    """A context event (ticket, staff or grant)."""
    return {"id": f"c-{next(_ids)}", "time": _stamp(when), "type": kind, **fields}


def ticket(
    tid: str,
    merchant: str,
    opened: dt.datetime,
    *,
    assignee: str = "ana",
    by: str | None = None,
    closed: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """A ticket opened (by ``by``, if said), assigned to ``assignee``, maybe closed."""
    events = [
        context(
            "ticket.opened", opened, ticket=tid, merchant=merchant, **({"by": by} if by else {})
        ),
        context("ticket.assigned", opened, ticket=tid, merchant=merchant, actor=assignee),
    ]
    if closed is not None:
        events.append(context("ticket.closed", closed, ticket=tid, merchant=merchant))
    return events


def grant(
    gid: str,
    actor: str,
    merchant: str,
    requested: dt.datetime,
    *,
    approved: bool = True,
    expires: dt.datetime | None = None,
    then: tuple[str, dt.datetime] | None = None,
) -> list[dict[str, Any]]:
    """A just-in-time grant: requested, approved (unless not), then maybe revoked/expired/denied."""
    events = [context("grant.requested", requested, grant=gid, actor=actor, merchant=merchant)]
    if approved:
        extra = {"expires": _stamp(expires)} if expires else {}
        events.append(context("grant.approved", requested, grant=gid, by="lead-1", **extra))
    if then is not None:
        events.append(context(then[0], then[1], grant=gid))
    return events


def notice(actor: str, when: dt.datetime) -> dict[str, Any]:
    """``staff.notice_given``."""
    return context("staff.notice_given", when, actor=actor)


def views(
    actor: str,
    merchants: Iterable[str],
    start: dt.datetime,
    *,
    ids: Sequence[str] = (),
    **kw: Any,
) -> list[dict[str, Any]]:
    """Unjustified views of one customer of each merchant, a minute apart.

    ``ids`` name the last ``len(ids)`` events (the ones a row expects to trigger findings).
    """
    merchants = list(merchants)
    named = [None] * (len(merchants) - len(ids)) + list(ids)
    return [
        access(actor, m, start + dt.timedelta(minutes=i), id=named[i], **kw)
        for i, m in enumerate(merchants)
    ]


def ticketed_days(
    actor: str, days: Iterable[int], *, hour: int = 9, **kw: Any
) -> list[dict[str, Any]]:
    """One justified view a day (own ticket, merchant k<day>): a clean history to judge from."""
    events = []
    for d in days:
        tid = f"T-{actor}-{d}"
        events += ticket(tid, f"k{d}", at(d, hour), assignee=actor)
        events.append(access(actor, f"k{d}", at(d, hour, 1), ticket=tid, **kw))
    return events


BASE = ticketed_days("ana", range(-7, 0))  # ana's clean week before day 0: 7 days of history


def unchecked_days(actor: str, days: Iterable[int], **kw: Any) -> list[dict[str, Any]]:
    """:func:`ticketed_days` on a desk whose help desk is not connected: each view cites a
    ticket no event describes."""
    return [access(actor, f"k{d}", at(d, 9, 1), ticket=f"T-{actor}-{d}", **kw) for d in days]


def unassigned_days(actor: str, days: Iterable[int], **kw: Any) -> list[dict[str, Any]]:
    """:func:`ticketed_days` on a desk whose ticket events name no assignee: each view cites
    a ticket opened for its merchant, worked by whoever cites it."""
    events = []
    for d in days:
        tid = f"T-{actor}-{d}"
        events.append(context("ticket.opened", at(d, 9), ticket=tid, merchant=f"k{d}"))
        events.append(access(actor, f"k{d}", at(d, 9, 1), ticket=tid, **kw))
    return events


def unsaid_ticket(*before: dict[str, Any], assignee: bool = True) -> list[dict[str, Any]]:
    """T1 cited by ana's third list after ``before``: with ``assignee``, a ticket assigned to
    ana whose events name no merchant, after ana's clean week; without, a ticket of m3 on a
    desk whose ticket events never name an assignee."""
    if assignee:
        history = BASE
        t1 = [
            context("ticket.opened", at(0, 8), ticket="T1"),
            context("ticket.assigned", at(0, 8), ticket="T1", actor="ana"),
        ]
    else:
        history = unassigned_days("ana", range(-7, 0))
        t1 = [context("ticket.opened", at(0, 8), ticket="T1", merchant="m3")]
    return [*history, *t1, *before, *two_unjustified(), third(ticket="T1")]


def feed_stopped(days: int) -> list[dict[str, Any]]:
    """Ticket events until ``days`` + 1 days before day 0, then none; two unjustified lists
    and a third citing T404, a ticket no event describes."""
    return [
        *ticketed_days("ana", range(-14, -days)),
        *unchecked_days("ana", range(-days, 0)),
        *two_unjustified(),
        third(ticket="T404"),
    ]


def decoded(events: Iterable[dict[str, Any]]) -> list[Any]:
    """Decode as ingest does, in time order (rows may list events in any order; ties keep it)."""
    return sorted((decode_event(json.dumps(e)) for e in events), key=time_us)


def detect(
    events: Iterable[dict[str, Any]],
    *only: str,
    since: dt.datetime | None = None,
    thresholds: dict[str, dict[str, Any]] | None = None,
    evidence: bool = False,
) -> list[Alert]:
    """Alerts of a fresh engine with only ``only`` enabled (all when empty).

    With ``since``, earlier events only build baselines (``emit_from_us``). Each detector's
    own severity, unless ``evidence`` grades them (see evidence.py).
    """
    thresholds = thresholds or {}
    config = DetectConfig(
        detectors={
            name: {"enabled": not only or name in only, **thresholds.get(name, {})}
            for name in DETECTORS
        },
        evidence=EvidenceConfig(enabled=evidence),
    )
    emit = None if since is None else (since - EPOCH) // dt.timedelta(microseconds=1)
    return Engine(config).run(decoded(events), emit_from_us=emit)


# -- expectations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fires:
    """One alert of the detector under test, with these properties."""

    severity: Severity
    merchants: Sequence[str]
    words: Sequence[str]  # each must appear in the reason sentence
    events: Sequence[str] = (HIT,)  # the events whose findings made up the alert, in order
    actor: str = "ana"
    score: float | None = None


def check(alerts: list[Alert], detector: str, expected: Fires | None) -> None:
    """The detector's alerts are exactly what ``expected`` says."""
    mine = [a for a in alerts if a.detector == detector]
    if expected is None:
        assert mine == [], [a.reasons for a in mine]
        return
    assert len(mine) == 1, [a.reasons for a in mine]
    alert = mine[0]
    assert alert.actor == expected.actor
    assert alert.severity == expected.severity, alert.reasons
    assert sorted(alert.merchants) == sorted(expected.merchants)
    assert alert.events == list(expected.events)
    assert len(alert.reasons) == 1
    for word in expected.words:
        assert word in alert.reasons[0]
    assert 0 < alert.score <= 100
    if expected.score is not None:
        assert alert.score == pytest.approx(expected.score)


def row(
    events: list[dict[str, Any]],
    expected: Fires | None,
    *,
    id: str,
    since: dt.datetime | None = None,
) -> Any:
    """A table row; with ``since``, earlier events only build baselines (``emit_from_us``)."""
    return pytest.param(events, expected, since, id=id)


MODES = pytest.mark.parametrize("all_on", [False, True], ids=["alone", "all"])


def run_row(
    detector: str,
    events: list[dict[str, Any]],
    expected: Fires | None,
    since: dt.datetime | None,
    all_on: bool,
) -> None:
    """Run one table row and check it."""
    alerts = detect(events, *(() if all_on else (detector,)), since=since)
    check(alerts, detector, expected)


ROW = ("events", "expected", "since")


# -- unjustified_access ------------------------------------------------------------------------

LIST: dict[str, Any] = {"resource": "customer_list", "subjects": [f"c{i}" for i in range(12)]}
SUBJECTS_9 = [f"c{i}" for i in range(9)]  # one customer short of a bulk list


def two_unjustified(actor: str = "ana", **kw: Any) -> list[dict[str, Any]]:
    """Two unjustified lists of 12 customers in the morning: one merchant short of the floor."""
    return [
        access(actor, "m1", at(0, 9), **(LIST | kw)),
        access(actor, "m2", at(0, 9, 10), **(LIST | kw)),
    ]


def third(actor: str = "ana", **kw: Any) -> dict[str, Any]:
    """The third merchant's customer list, at 10:00: fires unless ``kw`` justifies it."""
    return access(actor, "m3", at(0, 10), id=HIT, **(LIST | kw))


THREE = ("m1", "m2", "m3")
FIRES_3 = Fires(
    MEDIUM,
    THREE,
    (
        "ana opened customer or order lists, or exports, of 3 merchants in the last 24 h",
        "without a ticket or grant for them (m1, m2, m3)",
        "their usual is 0–0 a day",
        "care peers 0–0 a day",
    ),
    score=50.0,
)

# Three teammates with a clean week each: 21 peer actor-days by day 0 (each day counts once
# the next one starts), enough to judge a newcomer by.
PEERS = [e for peer in ("bob", "cy", "dee") for e in ticketed_days(peer, range(-8, 0))]
BOB_BUSY_DAY = views("bob", ["p1", "p2", "p3", "p4"], at(-5, 14), **LIST)  # peers' busiest day


def unjustified_history(days: int, per_day: int, pool: int = 0) -> list[dict[str, Any]]:
    """An actor whose usual is ``per_day`` unjustified customer lists a day: the same
    merchants h0… every day, or in turn from ``pool`` of them, all known by day ``days`` (so
    ``lists(n, of="h")`` reaches none new to the actor)."""
    pool = pool or per_day
    return [
        e
        for d in range(days)
        for e in views(
            "ana", [f"h{(d * per_day + i) % pool}" for i in range(per_day)], at(d, 9), **LIST
        )
    ]


# An onboarding team whose lists without a ticket are daily work (checks of new merchants'
# imports): 1-4 merchants' lists a day each, 2.4 on average, from a pool of eight merchants
# they all know (so no merchant is new on day 0).
DAILY_CHECKS = (2, 3, 1, 4, 2, 3, 2, 1, 3, 4, 2, 3, 2, 2)
CHECKED = [f"p{i}" for i in range(8)]


def checking_team() -> list[dict[str, Any]]:
    """Ana and three teammates, two weeks of :data:`DAILY_CHECKS` (each from another day)."""
    return [
        e
        for k, person in enumerate(("ana", "bob", "cy", "dee"))
        for d in range(14)
        for e in views(
            person,
            (CHECKED * 2)[d % 8 : d % 8 + DAILY_CHECKS[(d + k) % 14]],
            at(d - 14, 9),
            **LIST,
        )
    ]


ONE_DAY_OF_TWO = [*BASE, *views("ana", ["h0", "h1"], at(-3, 14), **LIST)]


def on_two_shifts(
    daily: list[list[str]], late: list[str], early: list[str], **kw: Any
) -> list[dict[str, Any]]:
    """Ana's unjustified looks (``kw``: as :func:`access`'s) at the merchants of ``daily``, a
    list a day for two weeks, on a late shift (from 13:00) and an early one (from 06:00) in
    turn: the 24 h from a late shift's start to the end of the next early one hold two days'.
    Then ``late`` on day 0 from 13:00 and ``early`` on day 1 from 06:00, the last one HIT."""
    days = [*daily, late, early]
    return [
        e
        for d, merchants in enumerate(days)
        for e in views(
            "ana",
            merchants,
            at(d - len(daily), 13 if d % 2 == 0 else 6),
            ids=(HIT,) if d == len(days) - 1 else (),
            **kw,
        )
    ]


def two_shifts(late: int, early: int) -> list[dict[str, Any]]:
    """Ana lists 10 merchants a day (a fraud analyst's sweep, from a pool of 40 in turn) on
    two shifts (:func:`on_two_shifts`): each UTC day holds 10, a late and an early shift 20.
    Then ``late`` and ``early`` more from the pool."""
    pool = [f"f{i}" for i in range(40)] * 2
    first = [d * 10 % 40 for d in range(15)] + [(140 + late) % 40]
    picked = [pool[first[d] : first[d] + 10] for d in range(14)]
    return on_two_shifts(
        picked, pool[first[14] : first[14] + late], pool[first[15] : first[15] + early], **LIST
    )


def new_on_two_shifts(late: int, early: int) -> list[dict[str, Any]]:
    """Ana looks at one customer of each of 4 merchants new to her a day (a desk whose
    callers are from every shop) on two shifts (:func:`on_two_shifts`): 8 new ones in a late
    and an early shift. Then ``late`` and ``early`` new ones."""
    return on_two_shifts(
        [[f"n{d}-{i}" for i in range(4)] for d in range(14)],
        [f"n14-{i}" for i in range(late)],
        [f"n15-{i}" for i in range(early)],
    )


def lists(n: int, day: int = 7, actor: str = "ana", of: str = "x") -> list[dict[str, Any]]:
    """Unjustified customer lists of ``n`` merchants x0… (``of``: their prefix) at 14:00; the
    last is HIT."""
    return views(actor, [f"{of}{i}" for i in range(n)], at(day, 14), ids=(HIT,), **LIST)


def new_merchants(
    n: int, day: int = 0, actor: str = "ana", ids: Sequence[str] = (HIT,)
) -> list[dict[str, Any]]:
    """Unjustified looks at one customer of ``n`` merchants n1… never opened before, at 14:00."""
    return views(actor, [f"n{i}" for i in range(1, n + 1)], at(day, 14), ids=ids)


def novel_history(days: int, per_day: int) -> list[dict[str, Any]]:
    """An actor who reaches ``per_day`` merchants new to them, unjustified, every day (from
    09:00, ten minutes later each day: yesterday's looks have left the 24 hours, which keep
    what is exactly 24 hours old)."""
    return [
        e
        for d in range(days)
        for e in views("ana", [f"h{d}-{i}" for i in range(per_day)], at(d, 9, 10 * d))
    ]


LONG_BASE = ticketed_days("ana", range(-21, 0))  # three clean weeks: the usual is ~0 new a day


def slow(days: Sequence[int]) -> list[dict[str, Any]]:
    """One new merchant s<i> at 11:0<i> on each of ``days``; the last is HIT."""
    return [
        access("ana", f"s{i}", at(d, 11, i), id=HIT if i == len(days) - 1 else None)
        for i, d in enumerate(days)
    ]


def every_other_day(days: int) -> list[dict[str, Any]]:
    """An actor who reaches one new merchant unjustified every other day (ticketed work between)."""
    events = ticketed_days("ana", range(1, days, 2))
    return events + [access("ana", f"h{d}", at(d, 9)) for d in range(0, days, 2)]


def four_a_day(n: int) -> list[dict[str, Any]]:
    """From day 28, four new merchants w<i> a day, each day an hour later; the last is HIT."""
    return [
        access(
            "ana", f"w{i:02d}", at(28 + i // 4, 10 + i // 4, i % 4), id=HIT if i == n - 1 else None
        )
        for i in range(n)
    ]


WEEK_14 = ("h24", "h26", *(f"w{i:02d}" for i in range(12)))

UNJUSTIFIED = [
    # Bulk: customer or order lists (10+ customers) and exports without a ticket or grant.
    row([*BASE, *two_unjustified(), third()], FIRES_3, id="third-merchant-in-24h"),
    row([*BASE, *two_unjustified()], None, id="two-merchants"),
    row(
        [
            *BASE,
            *two_unjustified(),
            access("ana", "m1", at(0, 10), **LIST),
            access("ana", "m2", at(0, 11), **LIST),
        ],
        None,
        id="same-two-merchants-again",
    ),
    row(
        [
            *BASE,
            access("ana", "m1", at(0, 9), **LIST),
            access("ana", "m2", at(0, 12), **LIST),
            access("ana", "m3", at(1, 10), **LIST),
        ],
        None,
        id="three-merchants-over-25h",
    ),
    row([*BASE, *two_unjustified(), third(resource="order_list")], FIRES_3, id="order-list"),
    row(
        [*BASE, *two_unjustified(), third(action="export", resource="customer", subjects=["c1"])],
        FIRES_3,
        id="an-export-of-one-customer-is-bulk",
    ),
    row(
        [*BASE, *two_unjustified(resource="customer"), third(resource="customer")],
        None,
        id="single-customer-views-are-not-bulk",
    ),
    row(
        [*BASE, *two_unjustified(subjects=SUBJECTS_9), third(subjects=SUBJECTS_9)],
        None,
        id="lists-of-nine-are-not-bulk",
    ),
    row(
        [*BASE, *two_unjustified(), third(outcome="denied")], None, id="denied-access-is-not-access"
    ),
    row([*BASE, *two_unjustified(), third(action="update")], None, id="update-is-not-a-read"),
    row(
        [
            *ticketed_days("svc", range(-7, 0), kind="app"),
            *two_unjustified("svc", kind="app"),
            *views("svc", ["m3", "m4", "m5"], at(0, 10), kind="app", **LIST),
        ],
        None,
        id="apps-never",
    ),
    # Learning: nothing until 5 days of own history, or 20 peer actor-days.
    row([*two_unjustified(), third()], None, id="no-history-no-peers"),
    row(
        [*ticketed_days("ana", range(-4, 0)), *two_unjustified(), third()],
        None,
        id="four-days-of-history",
    ),
    row(
        [*ticketed_days("ana", range(-5, 0)), *two_unjustified(), third()],
        FIRES_3,
        id="five-days-of-history",
    ),
    row(
        [*PEERS, *two_unjustified("zoe"), third("zoe")],
        Fires(
            MEDIUM,
            THREE,
            ("zoe opened customer", "of 3 merchants", "their usual is not known yet", "care peers"),
            actor="zoe",
            score=50.0,
        ),
        id="newcomer-judged-by-peers",
    ),
    row(
        [*PEERS[: len(PEERS) * 2 // 3], *two_unjustified("zoe"), third("zoe")],
        None,
        id="newcomer-with-14-peer-days",
    ),
    # While learning, the busiest peer day sets the bar (4 lists: 4 + 2 = 6); p95 after.
    row(
        [*PEERS, *BOB_BUSY_DAY, *views("zoe", [f"m{i}" for i in range(1, 6)], at(0, 9), **LIST)],
        None,
        id="newcomer-five-under-busiest-peer-day",
    ),
    row(
        [
            *PEERS,
            *BOB_BUSY_DAY,
            *views("zoe", [f"m{i}" for i in range(1, 7)], at(0, 9), ids=(HIT,), **LIST),
        ],
        Fires(MEDIUM, tuple(f"m{i}" for i in range(1, 7)), ("of 6 merchants",), actor="zoe"),
        id="newcomer-six-over-busiest-peer-day",
    ),
    row(
        [*PEERS, *BOB_BUSY_DAY, *BASE, *two_unjustified(), third()],
        FIRES_3,
        id="known-actor-judged-by-peer-p95",
    ),
    row(
        [*PEERS, *two_unjustified("zoe", resource="customer"), *new_merchants(8, actor="zoe")],
        None,
        id="newcomer-new-merchants-not-judged",
    ),
    # Tickets
    row(
        [*BASE, *ticket("T1", "m3", at(0, 8)), *two_unjustified(), third(ticket="T1")],
        None,
        id="own-ticket-same-merchant",
    ),
    row(  # one event: the ticket opened for its assignee (``actor``), no ticket.assigned
        [
            *BASE,
            context("ticket.opened", at(0, 8), ticket="T1", merchant="m3", actor="ana"),
            *two_unjustified(),
            third(ticket="T1"),
        ],
        None,
        id="own-ticket-opened-for-them",
    ),
    row(
        [
            *BASE,
            context("ticket.opened", at(0, 8), ticket="T1", merchant="m3", actor="bob"),
            *two_unjustified(),
            third(ticket="T1"),
        ],
        FIRES_3,
        id="ticket-opened-for-a-colleague",
    ),
    row(
        [*BASE, *ticket("T1", "m9", at(0, 8)), *two_unjustified(), third(ticket="T1")],
        FIRES_3,
        id="own-ticket-other-merchant",
    ),
    row([*BASE, *two_unjustified(), third(ticket="T404")], FIRES_3, id="unknown-ticket"),
    # No ticket event at all (the help desk is not connected): a cited ticket cannot be
    # checked and is taken as stated; the two lists citing nothing are still unjustified.
    row(
        [*unchecked_days("ana", range(-7, 0)), *two_unjustified(), third(ticket="T404")],
        None,
        id="unknown-ticket-no-help-desk",
    ),
    # …unless it was first cited for another merchant: a ticket is about one merchant.
    row(
        [
            *unchecked_days("ana", range(-7, 0)),
            access("ana", "m9", at(0, 8), ticket="T404"),
            *two_unjustified(),
            third(ticket="T404"),
        ],
        FIRES_3,
        id="unknown-ticket-no-help-desk-lent",
    ),
    # A help desk that names no merchant on its tickets: a ticket is its assignee's case at
    # the merchant they first cite it for…
    row(unsaid_ticket(), None, id="ticket-naming-no-merchant"),
    # …so citing it for another merchant afterwards is lending it;
    row(
        unsaid_ticket(access("ana", "m9", at(0, 8, 30), ticket="T1")),
        FIRES_3,
        id="ticket-naming-no-merchant-lent",
    ),
    # …and a colleague's citation does not bind it.
    row(
        unsaid_ticket(access("bob", "m9", at(0, 8, 30), ticket="T1")),
        None,
        id="ticket-naming-no-merchant-colleague-cites-first",
    ),
    # A help desk that names no assignee: a ticket is the case of whoever cites it first…
    row(unsaid_ticket(assignee=False), None, id="ticket-naming-no-assignee"),
    # …so a colleague's case, cited after them, justifies nothing;
    row(
        unsaid_ticket(access("bob", "m3", at(0, 8, 30), ticket="T1"), assignee=False),
        FIRES_3,
        id="ticket-naming-no-assignee-colleagues",
    ),
    # …and where the help desk names assignees, a ticket assigned to no one justifies nothing.
    row(
        [
            *BASE,
            context("ticket.opened", at(0, 8), ticket="T1", merchant="m3"),
            *two_unjustified(),
            third(ticket="T1"),
        ],
        FIRES_3,
        id="ticket-assigned-to-no-one",
    ),
    # The help desk's feed stopped: its last ticket event 8 days before;
    row(feed_stopped(7), None, id="unknown-ticket-feed-stopped"),
    # …6 days before: still connected, the unknown ticket justifies nothing.
    row(feed_stopped(5), FIRES_3, id="unknown-ticket-feed-6-days-ago"),
    row(
        [
            *BASE,
            *ticket("T1", "m3", at(-2, 8), closed=at(-1, 8)),
            *two_unjustified(),
            third(ticket="T1"),
        ],
        FIRES_3,
        id="ticket-closed-26h-before",
    ),
    row(
        [
            *BASE,
            *ticket("T1", "m3", at(-2, 8), closed=at(-1, 11)),
            *two_unjustified(),
            third(ticket="T1"),
        ],
        None,
        id="ticket-closed-23h-before",
    ),
    row(
        [
            *BASE,
            *ticket("T1", "m3", at(-2, 8), closed=at(-1, 8)),
            context("ticket.opened", at(0, 8), ticket="T1", merchant="m3"),  # reopened
            *two_unjustified(),
            third(ticket="T1"),
        ],
        None,
        id="ticket-closed-26h-before-then-reopened",
    ),
    # A help desk that reopens a ticket by routing it again (an assignment, no opening)…
    row(
        [
            *BASE,
            *ticket("T1", "m3", at(-2, 8), closed=at(-1, 8)),
            context("ticket.assigned", at(0, 8), ticket="T1", actor="ana", by="queue"),
            *two_unjustified(),
            third(ticket="T1"),
        ],
        None,
        id="ticket-closed-26h-before-then-routed-again",
    ),
    # …but one's own assignment of a closed ticket does not reopen it.
    row(
        [
            *BASE,
            *ticket("T1", "m3", at(-2, 8), closed=at(-1, 8)),
            context("ticket.assigned", at(0, 8), ticket="T1", actor="ana", by="ana"),
            *two_unjustified(),
            third(ticket="T1"),
        ],
        FIRES_3,
        id="ticket-closed-26h-before-then-self-assigned",
    ),
    row(
        [
            *BASE,
            *ticket("T1", "m3", at(0, 8), assignee="bob"),
            *two_unjustified(),
            third(ticket="T1"),
        ],
        FIRES_3,
        id="colleagues-ticket",
    ),
    row(
        [
            *BASE,
            *ticket("T1", "m3", at(0, 8), assignee="bob"),
            *two_unjustified(),
            third(ticket="T1", role="lead"),
        ],
        None,
        id="colleagues-ticket-reviewed-by-lead",
    ),
    row(
        [
            *BASE,
            *ticket("T1", "m3", at(0, 8), assignee="bob"),
            *two_unjustified(),
            third(ticket="T1", role="qa"),
        ],
        None,
        id="colleagues-ticket-reviewed-by-qa",
    ),
    row(
        [
            *BASE,
            *ticket("T1", "m3", at(0, 8), assignee="bob"),
            *two_unjustified(),
            context("staff.role_changed", at(0, 9, 30), actor="ana", role="lead"),
            third(ticket="T1", role=None),
        ],
        None,
        id="colleagues-ticket-lead-by-role-change",
    ),
    row(
        [
            *BASE,
            *ticket("T1", "m3", at(0, 8), assignee="bob"),
            context("staff.role_changed", at(0, 7), actor="ana", role="lead"),
            *two_unjustified(),  # the events say "support" since
            third(ticket="T1", role=None),
        ],
        FIRES_3,
        id="colleagues-ticket-role-since-support",
    ),
    # Grants
    row(
        [
            *BASE,
            *grant("G1", "ana", "m3", at(0, 8), expires=at(0, 12)),
            *two_unjustified(),
            third(grant="G1"),
        ],
        None,
        id="approved-grant-unexpired",
    ),
    row(
        [*BASE, *grant("G1", "ana", "m3", at(0, 8)), *two_unjustified(), third(grant="G1")],
        None,
        id="approved-grant-without-expiry",
    ),
    row(
        [
            *BASE,
            *grant("G1", "ana", "m3", at(0, 8), expires=at(0, 9, 30)),
            *two_unjustified(),
            third(grant="G1"),
        ],
        FIRES_3,
        id="grant-past-its-expiry",
    ),
    row(
        [
            *BASE,
            *grant("G1", "ana", "m3", at(0, 8), then=("grant.expired", at(0, 9, 30))),
            *two_unjustified(),
            third(grant="G1"),
        ],
        FIRES_3,
        id="grant-expired-event",
    ),
    row(
        [
            *BASE,
            *grant("G1", "ana", "m3", at(0, 8), then=("grant.revoked", at(0, 9, 30))),
            *two_unjustified(),
            third(grant="G1"),
        ],
        FIRES_3,
        id="grant-revoked",
    ),
    row(
        [
            *BASE,
            *grant("G1", "ana", "m3", at(0, 8), approved=False),
            *two_unjustified(),
            third(grant="G1"),
        ],
        FIRES_3,
        id="grant-requested-not-approved",
    ),
    row(
        [
            *BASE,
            *grant("G1", "ana", "m3", at(0, 8), approved=False, then=("grant.denied", at(0, 8))),
            *two_unjustified(),
            third(grant="G1"),
        ],
        FIRES_3,
        id="grant-denied",
    ),
    row(
        [*BASE, *grant("G1", "bob", "m3", at(0, 8)), *two_unjustified(), third(grant="G1")],
        FIRES_3,
        id="colleagues-grant",
    ),
    row(
        [*BASE, *grant("G1", "ana", "m9", at(0, 8)), *two_unjustified(), third(grant="G1")],
        FIRES_3,
        id="grant-for-other-merchant",
    ),
    # More merchants: one alert, raised further with each.
    row(
        [
            *BASE,
            *two_unjustified(),
            third(),
            *views("ana", ["m4", "m5", "m6"], at(0, 11), ids=FOLLOW[:3], **LIST),
        ],
        Fires(
            HIGH,
            ("m1", "m2", "m3", "m4", "m5", "m6"),
            ("of 6 merchants in the last 24 h", "(m1, m2, m3, m4, m5, m6)"),
            events=(HIT, *FOLLOW[:3]),
            score=100.0,
        ),
        id="six-merchants-high",
    ),
    row(
        [
            *BASE,
            *two_unjustified(),
            third(),
            *views("ana", [f"n{i}" for i in range(9)], at(0, 11), ids=FOLLOW[:9], **LIST),
        ],
        Fires(
            CRITICAL,
            ("m1", "m2", "m3", *(f"n{i}" for i in range(9))),
            ("of 12 merchants in the last 24 h", "and 6 more"),
            events=(HIT, *FOLLOW[:9]),
            score=100.0,
        ),
        id="twelve-merchants-critical",
    ),
    # The actor's own usual: lists of 2 merchants a day, and no colleague to say more: at
    # 1.8 a day (two a day, the floor's one day of weight beside them) a day of six has a
    # chance of 1 in 69, seven of 1 in 227 (beyond 1 in 100: ``bulk_p``) ...
    row([*unjustified_history(7, 2, 7), *lists(6, of="h")], None, id="usual-two-six-is-chance"),
    row(
        [*unjustified_history(7, 2, 7), *lists(7, of="h")],
        Fires(
            MEDIUM,
            tuple(f"h{i}" for i in range(7)),
            (
                "of 7 merchants",
                "their usual is 2–2 a day",
                "At their rate (1.76 a day, from their own days and their colleagues') that many "
                "in a day has a chance of 1 in 226.",
            ),
            score=50.0,
        ),
        id="usual-two-seven-fires",
    ),
    # ... or of 5 a day (4.4 a day: ten has a chance of 1 in 49, eleven of 1 in 111).
    row([*unjustified_history(7, 5, 11), *lists(10, of="h")], None, id="usual-five-ten-is-chance"),
    row(
        [*unjustified_history(7, 5, 11), *lists(11, of="h")],
        Fires(
            MEDIUM,
            tuple(f"h{i}" for i in range(11)),
            ("of 11 merchants in the last 24 h", "their usual is 5–5 a day", "care peers 5–5"),
            score=50.0,
        ),
        id="usual-five-eleven-fires",
        since=at(7, 0),
    ),
    # A team whose lists are daily work: a day of six is chance at 2.4 a day (the actor's
    # busiest day was four, so six passed the bar above), eight is not.
    row(
        [*checking_team(), *views("ana", CHECKED[:6], at(0, 14), ids=(HIT,), **LIST)],
        None,
        id="daily-lists-six-is-chance",
        since=at(0, 0),
    ),
    row(
        [*checking_team(), *views("ana", CHECKED, at(0, 14), ids=(HIT,), **LIST)],
        Fires(
            MEDIUM,
            CHECKED,
            (
                "of 8 merchants in the last 24 h",
                "their usual is 2–4 a day",
                "At their rate (2.4",
                "that many in a day has a chance of 1 in",
            ),
        ),
        id="daily-lists-eight-fires",
        since=at(0, 0),
    ),
    # Ana's busiest day was 10 lists, but 20 in 24 h across a late shift and an early one:
    # 1.5 times the busiest 24 h is the bar (30), not 1.5 times the busiest day (15).
    row(two_shifts(10, 10), None, id="two-shifts-in-24-hours-are-usual", since=at(0, 0)),
    row(
        two_shifts(10, 20),
        Fires(
            MEDIUM,
            tuple(sorted(f"f{i}" for i in [*range(10), *range(20, 40)])),
            (
                "of 30 merchants in the last 24 h",
                "their usual is 10–10 a day (at most 20 in any 24 h)",
            ),
        ),
        id="beyond-the-busiest-24-hours-fires",
        since=at(0, 0),
    ),
    # New merchants likewise: 4 a day (p95), 8 in most late-then-early 24 h: the bar is 12.
    row(new_on_two_shifts(4, 4), None, id="new-on-two-shifts-are-usual", since=at(0, 0)),
    row(
        new_on_two_shifts(4, 8),
        Fires(
            MEDIUM,
            tuple([f"n14-{i}" for i in range(4)] + [f"n15-{i}" for i in range(8)]),
            (
                "opened customer data of 12 merchants they had not worked on before",
                # the bar's measure, quoted: 4 a day, 8 in the late-then-early 24 h
                "their usual is 4–4 a day (up to 8 in any 24 h on 95 % of days)",
            ),
        ),
        id="new-beyond-the-usual-24-hours-fires",
        since=at(0, 0),
    ),
    # New merchants: never opened by the actor before, reached without justification in 24 h.
    row(
        [*BASE, *new_merchants(5)],
        Fires(
            MEDIUM,
            ("n1", "n2", "n3", "n4", "n5"),
            (
                "ana opened customer data of 5 merchants they had not worked on before, "
                "in the last 24 h",
                "without a ticket or grant for them (n1, n2, n3, n4, n5)",
                "their usual is 0–0 a day",
                "care peers 0–0 a day",
            ),
            score=50.0,
        ),
        id="five-new-merchants",
    ),
    row([*BASE, *new_merchants(4)], None, id="four-new-merchants"),
    row(
        [*BASE, *views("ana", [f"k{d}" for d in range(-7, -2)], at(0, 14))],
        None,
        id="five-merchants-worked-on-before",
    ),
    row(
        [*BASE, *new_merchants(10, ids=(HIT, *FOLLOW[:5]))],
        Fires(
            HIGH,
            tuple(f"n{i}" for i in range(1, 11)),
            ("of 10 merchants they had not worked on before", "and 4 more"),
            events=(HIT, *FOLLOW[:5]),
            score=100.0,
        ),
        id="ten-new-merchants-high",
    ),
    row(new_merchants(10), None, id="no-history-every-merchant-is-new"),
    row(
        [*novel_history(7, 4), *new_merchants(5, day=7)],
        None,
        id="usual-four-new-five-is-usual",
        since=at(7, 0),
    ),
    row(
        [*novel_history(7, 4), *new_merchants(6, day=7)],
        Fires(
            MEDIUM,
            tuple(f"n{i}" for i in range(1, 7)),
            ("of 6 merchants they had not worked on before", "their usual is 4–4 a day"),
        ),
        id="usual-four-new-six-fires",
        since=at(7, 0),
    ),
    # Low and slow: new merchants over 7 days (floor 8; or 2.5 x the usual week).
    row(
        [*LONG_BASE, *slow([0, 1, 2, 3, 4, 5, 6, 6])],
        Fires(
            MEDIUM,
            tuple(f"s{i}" for i in range(8)),
            (
                "ana opened customer data of 8 merchants they had not worked on before, "
                "over the last 7 days",
                "(s0, s1, s2, s3, s4, s5 and 2 more)",
                "on average they reach 0.2 such merchants a day, care peers 0.2.",
            ),
            score=50.0,
        ),
        id="eight-in-a-week",
    ),
    row([*LONG_BASE, *slow(range(7))], None, id="seven-in-a-week"),
    row([*LONG_BASE, *slow(range(8))], None, id="eight-over-eight-days"),
    row(
        [*LONG_BASE, *(access("ana", f"k{d - 21}", at(d, 11)) for d in (0, 1, 2, 3, 4, 5, 6, 6))],
        None,
        id="eight-merchants-worked-on-before-in-a-week",
    ),
    # Usual: a new merchant every other day; by day 30 the mean is 0.75 (two of the four-a-day
    # days are in the history), so the week's bar is 2.5 x 7 x 0.75 = 13.1, not the floor of 8.
    row(
        [*every_other_day(28), *four_a_day(11)],
        None,
        id="usual-half-a-day-thirteen-in-a-week",
    ),
    row(
        [*every_other_day(28), *four_a_day(12)],
        Fires(
            MEDIUM,
            WEEK_14,
            (
                "of 14 merchants they had not worked on before, over the last 7 days",
                "on average they reach 0.8 such merchants a day",
            ),
            score=50.0 * 14 / 13.125,
        ),
        id="usual-half-a-day-fourteen-in-a-week",
    ),
]


@MODES
@pytest.mark.parametrize(ROW, UNJUSTIFIED)
def test_unjustified_access(
    events: list[dict[str, Any]], expected: Fires | None, since: dt.datetime | None, all_on: bool
) -> None:
    run_row("unjustified_access", events, expected, since, all_on)


# -- breadth_volume ----------------------------------------------------------------------------


def steady_days(actor: str, days: int, per_day: int, **kw: Any) -> list[dict[str, Any]]:
    """``per_day`` distinct merchants every morning (the same ones): a stable baseline."""
    return [
        e
        for d in range(days)
        for e in views(actor, [f"b{i}" for i in range(per_day)], at(d, 9), **kw)
    ]


def burst(actor: str, n: int, day: int, hits: int = 1, **kw: Any) -> list[dict[str, Any]]:
    """``n`` distinct merchants from noon; the last ``hits`` are expected to trigger findings."""
    return views(
        actor, [f"x{i:02d}" for i in range(n)], at(day, 12), ids=(HIT, *FOLLOW)[:hits], **kw
    )


def big_list(*, id: str | None = HIT, **kw: Any) -> dict[str, Any]:
    """One list of merchant m1 by ana at noon on day 0 (``kw``: its size)."""
    return access("ana", "m1", at(0, 12), id=id, resource="customer_list", **kw)


XS = tuple(f"x{i:02d}" for i in range(40))


def ticketed_burst(n: int, hit: int | None = None) -> list[dict[str, Any]]:
    """The first ``n`` of ``XS`` on day 0, each with its own ticket assigned to ana (the
    access to the ``hit``-th is HIT)."""
    return [
        e
        for i in range(n)
        for e in (
            *ticket(f"TX{i}", XS[i], at(0, 11), assignee="ana"),
            access("ana", XS[i], at(0, 12, i), ticket=f"TX{i}", id=HIT if i == hit else None),
        )
    ]


TICKETED_BURST = ticketed_burst(20, hit=19)  # 20 merchants on day 0, each with its own ticket
BUSIER_DAY = views("ana", [f"y{i}" for i in range(12)], at(3, 15))  # day 3: 8 + 12 = 20


def queue_burst(ticketed: int) -> list[dict[str, Any]]:
    """20 merchants on day 0: the first ``ticketed`` under tickets assigned to ana, the rest
    without one (the last of them is the 20th merchant)."""
    return [*ticketed_burst(ticketed), *views("ana", XS[ticketed:20], at(0, 13), ids=(HIT,))]


BREADTH = [
    # The floors, for an actor whose week was one ticketed merchant a day.
    row(
        [*BASE, *burst("ana", 20, 0)],
        Fires(
            MEDIUM,
            XS[:20],
            (
                "ana reached 20 distinct merchants in the last 24 h",
                "their usual is 1–1 a day (busiest day 1)",
                "care peers 1–1 a day",
            ),
            score=50.0,
        ),
        id="merchants-at-floor",
    ),
    row([*BASE, *burst("ana", 19, 0)], None, id="merchants-under-floor"),
    row(
        [*BASE, *burst("ana", 40, 0, hits=21)],
        Fires(HIGH, XS, ("40 distinct merchants",), events=(HIT, *FOLLOW[:20]), score=100.0),
        id="twice-the-floor-high",
    ),
    # Work under tickets assigned to the actor counts too, but a day of it 90 % or more is
    # low (a queue bigger than usual: a weekend on call); it is still evidence.
    row(
        [*BASE, *TICKETED_BURST],
        Fires(
            LOW,
            XS[:20],
            (
                "ana reached 20 distinct merchants in the last 24 h",
                "But 20 of their 20 accesses of the last 24 h cited a ticket assigned to them "
                "or a grant: a bigger queue than usual, not a reach of their own, so low.",
            ),
        ),
        id="ticketed-work-counts-low",
    ),
    row(
        [*BASE, *queue_burst(18)],
        Fires(LOW, XS[:20], ("18 of their 20 accesses",)),
        id="ticketed-work-nine-tenths-low",
    ),
    row(
        [*BASE, *queue_burst(17)],
        Fires(MEDIUM, XS[:20], ("20 distinct merchants",)),
        id="ticketed-work-under-nine-tenths",
    ),
    row(burst("ana", 40, 0), None, id="no-history"),
    row([*ticketed_days("ana", range(-6, 0)), *burst("ana", 40, 0)], None, id="six-days-history"),
    row(
        [*BASE, big_list(subjects=[f"c{i}" for i in range(500)])],
        Fires(MEDIUM, ("m1",), ("ana reached 500 customer records viewed in the last 24 h",)),
        id="subjects-at-floor",
    ),
    row([*BASE, big_list(subjects=[f"c{i}" for i in range(499)])], None, id="subjects-under"),
    row(
        [*BASE, big_list(count=3000, subjects=[])],
        Fires(MEDIUM, ("m1",), ("ana reached 3000 records in the last 24 h",)),
        id="records-at-floor",
    ),
    row([*BASE, big_list(count=2999, subjects=[])], None, id="records-under-floor"),
    row(
        [*BASE, big_list(action="export", count=9000, subjects=[f"c{i}" for i in range(900)])],
        None,
        id="exports-are-not-reading",
    ),
    # Three times the higher of the actor's busiest day and the team's p95.
    row(
        [*steady_days("ana", 7, 8), *burst("ana", 24, 7)],
        Fires(
            MEDIUM,
            XS[:24],
            (
                "ana reached 24 distinct merchants in the last 24 h",
                "their usual is 8–8 a day (busiest day 8)",
                "care peers 8–8 a day",
            ),
            score=50.0,
        ),
        id="three-times-own-busiest-day",
    ),
    row([*steady_days("ana", 7, 8), *burst("ana", 23, 7)], None, id="just-under-three-times"),
    # Over three weeks one day of 20 is not the p95 (8), but it is the busiest day: 3 x 20.
    row(
        [*steady_days("ana", 21, 8), *BUSIER_DAY, *burst("ana", 59, 21)],
        None,
        id="one-busier-day-raises-the-bar",
    ),
    row(
        [*steady_days("ana", 21, 8), *BUSIER_DAY, *burst("ana", 60, 21)],
        Fires(
            MEDIUM,
            tuple(f"x{i:02d}" for i in range(50)),  # an alert names 50 merchants at most
            ("60 distinct merchants", "their usual is 8–8 a day (busiest day 20)"),
            score=50.0,
        ),
        id="one-busier-day-sixty-fires",
    ),
    # Day 7 (20 merchants, under 3 x 8) is her busiest by day 8: 44 then is under 3 x 20, though
    # over the day before's bar (a threshold holds for a day, not longer).
    row(
        [
            *steady_days("ana", 9, 8),
            *views("ana", [f"y{i}" for i in range(12)], at(7, 15)),
            *burst("ana", 24, 8),
        ],
        None,
        id="a-busier-day-raises-the-bar-the-next-day",
    ),
    row(
        [*steady_days("ana", 7, 8), *steady_days("bob", 8, 10), *burst("ana", 24, 7)],
        None,
        id="busier-teammates-raise-the-bar",
    ),
    row(
        [
            *steady_days("ana", 7, 8),
            *steady_days("bob", 8, 10, team="billing"),
            *burst("ana", 24, 7),
        ],
        Fires(MEDIUM, XS[:24], ("24 distinct merchants", "care peers 8–8 a day")),
        id="other-teams-do-not-count",
    ),
    row(
        [*steady_days("ana", 7, 8, team=None), *burst("ana", 24, 7, team=None)],
        Fires(MEDIUM, XS[:24], ("24 distinct merchants", "staff peers 8–8 a day")),
        id="no-team-the-staff-without-one-are-the-peers",
    ),
]


@MODES
@pytest.mark.parametrize(ROW, BREADTH)
def test_breadth_volume(
    events: list[dict[str, Any]], expected: Fires | None, since: dt.datetime | None, all_on: bool
) -> None:
    run_row("breadth_volume", events, expected, since, all_on)


# -- export_after_notice -----------------------------------------------------------------------


def export(when: dt.datetime, **kw: Any) -> dict[str, Any]:
    """A 120-customer list export of merchant m1 by ana."""
    fields: dict[str, Any] = {"id": HIT, "action": "export", "resource": "customer_list"}
    return access("ana", "m1", when, **(fields | {"count": 120} | kw))


def declared_export(when: dt.datetime, merchant: str = "m1", **kw: Any) -> dict[str, Any]:
    """:func:`export` of ``merchant`` citing no ticket, under a declared reason."""
    return export(when, **kw) | {"merchant": merchant, "justification": {"reason": "chat"}}


NOTICE = notice("ana", at(0, 9))

EXPORT_AFTER_NOTICE = [
    row(
        [NOTICE, export(at(2, 10))],
        Fires(
            HIGH,
            ("m1",),
            (
                "ana gave notice 2.0 days ago",
                "export of 120 records",
                "merchant m1",
                "without a ticket or grant",
            ),
            score=85.0,
        ),
        id="export-after-notice",
    ),
    row([export(at(0, 8)), NOTICE], None, id="export-before-notice"),
    row([notice("bob", at(0, 9)), export(at(2, 10))], None, id="someone-elses-notice"),
    row(
        [NOTICE, *ticket("T1", "m1", at(2, 9)), export(at(2, 10), ticket="T1")],
        Fires(LOW, ("m1",), ("with a ticket for it",), score=40.0),
        id="ticketed-export-after-notice",
    ),
    row(
        [NOTICE, export(at(0, 21), action="download", count=7)],
        Fires(HIGH, ("m1",), ("gave notice 0.5 days ago", "download of 7 records")),
        id="download-after-notice",
    ),
    row(
        [NOTICE, declared_export(at(2, 10))],
        Fires(LOW, ("m1",), ("under a declared reason", "first such export since notice")),
        id="first-export-under-a-declared-reason",
    ),
    row(
        [NOTICE, declared_export(at(2, 10), "m2", id="e-m2"), declared_export(at(3, 10))],
        Fires(
            MEDIUM,
            ("m1", "m2"),
            (
                "2 merchants exported so since notice (m1, m2)",
                "so 0.10 were expected over 2 working day(s) (chance 1 in 121)",
            ),
            events=("e-m2", HIT),
        ),
        id="second-merchant-exported-under-a-declared-reason",
    ),
    row(
        [
            *(declared_export(at(d - 14, 10), f"b{d}") for d in range(14)),
            NOTICE,
            declared_export(at(2, 10), "m2", id="e-m2"),
            declared_export(at(3, 10)),
        ],
        Fires(
            LOW,
            ("m1", "m2"),
            (
                "2 merchants exported so since notice",
                "their own earlier rate is 1.00 a working day",
            ),
            events=("e-m2", HIT),
        ),
        id="a-merchant-exported-every-day-before-notice-is-their-routine",
    ),
    row(
        [NOTICE, *(declared_export(at(2, 10 + i), f"m{i}", id=f"e-{i}") for i in range(2, 6))],
        Fires(
            HIGH,
            ("m2", "m3", "m4", "m5"),
            ("4 merchants exported so since notice",),
            events=("e-2", "e-3", "e-4", "e-5"),
        ),
        id="four-merchants-in-a-day-are-high",
    ),
    row(
        [NOTICE, declared_export(at(2, 10), id="e-1"), declared_export(at(3, 10))],
        Fires(LOW, ("m1",), ("first such export since notice",), events=("e-1", HIT)),
        id="the-same-merchant-again-is-one",
    ),
    row(
        [
            NOTICE,
            declared_export(at(2, 10), "m2", id="e-m2"),
            *ticket("T2", "m2", at(2, 10, 20)),
            declared_export(at(3, 10)),
        ],
        Fires(LOW, ("m1", "m2"), ("first such export since notice",), events=("e-m2", HIT)),
        id="a-ticket-soon-after-takes-an-export-back",
    ),
    row(
        [declared_export(at(0, 8), "m2"), NOTICE, declared_export(at(2, 10))],
        Fires(LOW, ("m1",), ("first such export since notice",)),
        id="exports-before-notice-do-not-count",
    ),
    row([NOTICE, export(at(1, 9), action="view")], None, id="list-view-is-not-an-export"),
    row(
        [NOTICE, export(at(1, 9), action="view", resource="customer", count=1)],
        None,
        id="single-customer-view",
    ),
    row([NOTICE, export(at(1, 9), outcome="denied")], None, id="denied-export"),
]


@MODES
@pytest.mark.parametrize(ROW, EXPORT_AFTER_NOTICE)
def test_export_after_notice(
    events: list[dict[str, Any]], expected: Fires | None, since: dt.datetime | None, all_on: bool
) -> None:
    run_row("export_after_notice", events, expected, since, all_on)


def test_a_leavers_ticketed_exports_are_context_not_evidence() -> None:
    # A leaver's ticketed exports on five days, then one declared export without a ticket
    # (low, half a point): graded by evidence, the ticketed ones are listed but add nothing,
    # so the actor stays low. Before, each day's added half a point (medium by the third).
    events = [NOTICE]
    for d in range(1, 6):
        events += ticket(f"T{d}", f"m{d}", at(d, 9))
        events.append(export(at(d, 10), ticket=f"T{d}", id=f"e{d}") | {"merchant": f"m{d}"})
    events.append(declared_export(at(6, 10), "m9"))
    alerts = detect(events, "export_after_notice", evidence=True)
    assert alerts and {a.severity for a in alerts} == {LOW}
    [last] = [a for a in alerts if HIT in a.events]
    assert "Evidence about ana: 0.50 risk points" in last.reasons[1]
    assert "export_after_notice, context, no points: ana gave notice 5.0 days" in last.reasons[-2]


# -- unusual_context ---------------------------------------------------------------------------


def habit_days(days: int, per_day: int = 2) -> list[dict[str, Any]]:
    """Ordinary days on laptop-1 in France, 09:00 to 09:xx, at merchants h0…"""
    return [
        e for d in range(days) for e in views("ana", [f"h{i}" for i in range(per_day)], at(d, 9))
    ]


def night_then_days(nights: int, days: int) -> list[dict[str, Any]]:
    """``nights`` days of work at 03:00, then ``days`` at 09:00 (habit_days' looks)."""
    return [
        e
        for d in range(nights + days)
        for e in views("ana", [f"h{i}" for i in range(15)], at(d, 3 if d < nights else 9))
    ]


def odd(day: int = 7, hour: int = 10, merchant: str = "m7", **kw: Any) -> dict[str, Any]:
    """A first, unjustified look at merchant m7 from somewhere new (by default: a new device)."""
    return access("ana", merchant, at(day, hour), id=HIT, **({"device": "tablet-9"} | kw))


def tablet_then_list(first: dt.datetime, then: dt.datetime) -> list[dict[str, Any]]:
    """A week of habits; a plain look at known merchant h0 from tablet-9 at ``first``; an
    unjustified list of known merchant h1 from it at ``then`` (the HIT)."""
    return [
        *habit_days(7),
        access("ana", "h0", first, device="tablet-9"),
        access("ana", "h1", then, id=HIT, device="tablet-9", **LIST),
    ]


def colleagues(days: range, country: str = "FR") -> list[dict[str, Any]]:
    """Bob's and Cy's ordinary looks at merchants h0 and h1 on ``days``, from ``country``."""
    return [
        e
        for person in ("bob", "cy")
        for d in days
        for e in views(person, ["h0", "h1"], at(d, 9, 30), country=country)
    ]


def early_account(country: str = "FR") -> list[dict[str, Any]]:
    """Bob and Cy for five days (Bob from ``country``); Ana's first two days, days 3 and 4
    from France on laptop-1 (too few of her own for anything to be new to her)."""
    return [
        *colleagues(range(5), country),
        *[e for d in (3, 4) for e in views("ana", ["h0", "h1"], at(d, 9))],
    ]


UNUSUAL = [
    row(
        [*habit_days(7), odd()],
        Fires(
            MEDIUM,
            ("m7",),
            (
                "ana did a first look at customer data at merchant m7, without a ticket or grant "
                "for it, from a device never seen for them (tablet-9).",
            ),
            score=60.0,
        ),
        id="new-device-new-merchant",
    ),
    row(
        [*habit_days(7), odd(country="DE")],
        Fires(HIGH, ("m7",), ("tablet-9", "a country never seen for them (DE)"), score=75.0),
        id="new-device-and-country",
    ),
    row(
        [*habit_days(7), odd(device="laptop-1", country="DE")],
        Fires(MEDIUM, ("m7",), ("from a country never seen for them (DE).",)),
        id="new-country-new-merchant",
    ),
    row([*habit_days(6), odd(day=6)], None, id="six-days-of-history-are-too-few-for-one-sign"),
    row(
        [*habit_days(6), odd(day=6, device="laptop-1", country="DE")],
        None,
        id="six-days-too-few-for-a-new-country-alone",
    ),
    # A new device and a new country together count after three days (``both_history_days``).
    row(
        [*habit_days(3), odd(day=3, country="DE")],
        Fires(HIGH, ("m7",), ("tablet-9", "a country never seen for them (DE)")),
        id="three-days-enough-for-both-signs",
    ),
    row([*habit_days(2), odd(day=2, country="DE")], None, id="two-days-too-few-for-both"),
    # Before that, an account that worked from France, now in a country none of the staff had
    # worked from, on a device new to it: a session stolen in its first days.
    row(
        [*early_account(), odd(day=5, country="VN")],
        Fires(
            HIGH,
            ("m7",),
            (
                "from a device never seen for them (tablet-9), a country none of the staff had "
                "worked from before (VN; they had worked from FR).",
            ),
        ),
        id="early-account-in-a-country-new-to-the-staff",
    ),
    row(
        [*early_account(), odd(day=5, device="laptop-1", country="VN")],
        None,
        id="early-account-new-country-alone",
    ),
    row(
        [*colleagues(range(5)), odd(day=5, country="VN")],
        None,
        id="a-hires-first-country-is-no-change",
    ),
    row(
        [*early_account(country="VN"), odd(day=5, country="VN")],
        None,
        id="a-country-a-colleague-works-from",
    ),
    row(
        [*colleagues(range(2)), *views("ana", ["h0"], at(0, 9)), odd(day=2, country="VN")],
        None,
        id="the-staff-known-for-two-days-only",
    ),
    row([*habit_days(7), odd(device="laptop-1")], None, id="known-device-and-country"),
    row(
        [*habit_days(7), *ticket("T1", "m7", at(7, 8), assignee="ana"), odd(ticket="T1")],
        None,
        id="new-device-justified-view",
    ),
    row([*habit_days(7), odd(merchant="h1")], None, id="new-device-known-merchant"),
    # A device stays new for a day (``new_hours``) until ticketed work is done from it: a
    # stolen session that starts with a search of a known merchant is still caught.
    row(
        tablet_then_list(at(7, 10), at(7, 10, 10)),
        Fires(MEDIUM, ("h1",), ("from a device first seen for them 10 min ago (tablet-9).",)),
        id="new-device-stays-new",
    ),
    row(tablet_then_list(at(7, 8), at(8, 9, 30)), None, id="new-device-a-day-later"),
    row(
        tablet_then_list(at(7, 8), at(7, 23, 59)),
        Fires(MEDIUM, ("h1",), ("from a device first seen for them 15 h ago (tablet-9).",)),
        id="new-device-hours-later",
    ),
    row(
        [
            *habit_days(7),
            *ticket("T1", "m5", at(7, 8), assignee="ana"),
            access("ana", "m5", at(7, 9, 30), ticket="T1", device="tablet-9", country="DE"),
            access("ana", "h1", at(7, 10), id=HIT, device="tablet-9", country="DE", **LIST),
        ],
        None,
        id="new-device-and-country-vouched-by-ticketed-work",
    ),
    row(
        [*habit_days(7), odd(merchant="h1", **LIST)],
        Fires(MEDIUM, ("h1",), ("ana did a list view or export at merchant h1", "tablet-9")),
        id="new-device-unjustified-list",
    ),
    row(
        [
            *habit_days(7),
            *ticket("T1", "m7", at(7, 8), assignee="ana"),
            odd(ticket="T1", action="export", resource="customer_list"),
        ],
        None,
        id="new-device-justified-export",
    ),
    # An hour the actor almost never works at (needs 100 accesses to know) adds to the reasons.
    row(
        [*habit_days(7, per_day=15), odd(hour=3)],
        Fires(
            HIGH,
            ("m7",),
            ("tablet-9", "at an hour they almost never work (03:00 UTC)"),
            score=75.0,
        ),
        id="new-device-at-a-rare-hour",
    ),
    row([*habit_days(7, per_day=15), odd(hour=3, device="laptop-1")], None, id="rare-hour-alone"),
    # Hours fade (HOURS_HALF_LIFE working days): a month of nights long ago, then months of
    # days, and 03:00 is rare again (counted for ever, it was a seventh of their accesses).
    row(
        [*night_then_days(30, 180), odd(day=210, hour=3)],
        Fires(
            HIGH,
            ("m7",),
            ("tablet-9", "at an hour they almost never work (03:00 UTC)"),
            score=75.0,
        ),
        id="new-device-at-an-hour-they-left",
    ),
    row(
        [*habit_days(7, per_day=14), odd(hour=3)],
        Fires(MEDIUM, ("m7",), ("tablet-9",), score=60.0),
        id="rare-hour-needs-100-accesses",
    ),
    row(
        [*habit_days(7, per_day=15), odd(hour=9)],
        Fires(MEDIUM, ("m7",), ("tablet-9",), score=60.0),
        id="usual-hour",
    ),
]


@MODES
@pytest.mark.parametrize(ROW, UNUSUAL)
def test_unusual_context(
    events: list[dict[str, Any]], expected: Fires | None, since: dt.datetime | None, all_on: bool
) -> None:
    run_row("unusual_context", events, expected, since, all_on)


def test_unusual_context_ignores_apps() -> None:
    history = [e for d in range(8) for e in views("svc", ["m1", "m2"], at(d, 9), kind="app")]
    alerts = detect(
        [*history, access("svc", "m7", at(8, 10), kind="app", device="new", country="DE", **LIST)]
    )
    assert [a.detector for a in alerts] == []


# -- collusion ---------------------------------------------------------------------------------

SIX = tuple(f"m{i}" for i in range(1, 7))
TWELVE = tuple(f"m{i:02d}" for i in range(1, 13))


def reach(
    actor: str, merchants: Sequence[str], when: dt.datetime, **kw: Any
) -> list[dict[str, Any]]:
    """Unjustified looks at ``merchants``, a minute apart (bob's last is HIT)."""
    return views(actor, merchants, when, ids=(HIT,) if actor == "bob" else (), **kw)


def own(actor: str, n: int) -> list[str]:
    """``n`` merchants only ``actor`` reaches."""
    return [f"{actor}-{i}" for i in range(n)]


def ticketed(actor: str, merchants: Sequence[str], when: dt.datetime) -> list[dict[str, Any]]:
    """Looks at ``merchants``, each with its own ticket assigned to ``actor``."""
    events: list[dict[str, Any]] = []
    for i, m in enumerate(merchants):
        events += ticket(f"T-{actor}-{m}", m, when, assignee=actor)
        events.append(access(actor, m, when + dt.timedelta(minutes=i), ticket=f"T-{actor}-{m}"))
    return events


def rounds(actors: Sequence[str], merchants: Sequence[str]) -> list[dict[str, Any]]:
    """Each merchant in turn reached by each actor, a minute apart (bob's last is HIT)."""
    events = []
    for i, m in enumerate(merchants):
        for j, actor in enumerate(actors):
            last = actor == "bob" and i == len(merchants) - 1
            events.append(access(actor, m, at(0, 9, 5 * i + j), id=HIT if last else None))
    return events


def partner_late() -> list[dict[str, Any]]:
    """Bob, a week later: m1 at 01:00 (the day's first event), m2 to m6 from 10:00."""
    return [access("bob", "m1", at(7, 1)), *reach("bob", SIX[1:], at(7, 10))]


COLLUSION = [
    row(
        [*reach("ana", SIX, at(0, 9)), *reach("bob", SIX, at(3, 10))],
        Fires(
            HIGH,  # 6 of the 106 merchants reached without a ticket this week: 1 in 1.6e9
            SIX,
            (
                "bob and ana both opened customer data of the same 6 merchants, new to each of "
                "them, in the last 7 days without a ticket or grant (m1, m2, m3, m4, m5, m6)",
                "that is 100% of the new merchants the smaller of the two reached",
            ),
            actor="bob",
            score=-10 * math.log10(5 * hypergeom_tail(6, 6, 6, 106)),
        ),
        id="six-shared",
    ),
    row(
        [*reach("ana", SIX, at(0, 9)), *reach("bob", [*SIX[:5], "m9"], at(3, 10))],
        None,
        id="five-shared",
    ),
    # The shared merchants must be at least half of the smaller actor's new merchants.
    row(
        [
            *reach("ana", [*own("ana", 6), *SIX], at(0, 9)),
            *reach("bob", [*own("bob", 6), *SIX], at(3, 10)),
        ],
        Fires(MEDIUM, SIX, ("same 6 merchants", "that is 50% of"), actor="bob"),
        id="six-of-twelve-each",
    ),
    row(
        [
            *reach("ana", [*own("ana", 7), *SIX], at(0, 9)),
            *reach("bob", [*own("bob", 7), *SIX], at(3, 10)),
        ],
        None,
        id="six-of-thirteen-each",
    ),
    row(
        [
            *reach("ana", [*own("ana", 20), *SIX], at(0, 9)),
            *reach("bob", SIX, at(3, 10)),
        ],
        Fires(MEDIUM, SIX, ("same 6 merchants", "that is 100% of"), actor="bob"),
        id="the-smaller-set-counts",
    ),
    # Merchants more than 3 actors reached are not unusual.
    row(rounds(("ana", "cy", "dee", "bob"), SIX), None, id="four-actors-each"),
    row(
        [
            *rounds(("ana", "cy", "dee", "bob"), SIX[:5]),
            *reach("ana", ["x1"], at(1, 9)),
            *reach("bob", ["x1"], at(1, 10)),
        ],
        None,
        id="four-actors-and-one-more",
    ),
    # Only merchants new to each actor count: a look at a merchant one worked on is no plan.
    row(
        [
            *ticketed("bob", SIX, at(-20, 9)),
            *reach("ana", SIX, at(0, 9)),
            *reach("bob", SIX, at(3, 10)),
        ],
        None,
        id="merchants-bob-worked-on-before",
    ),
    row(
        [
            *reach("ana", SIX, at(0, 9)),
            *(e for m in SIX for e in ticket(f"T-{m}", m, at(3, 8), assignee="bob")),
            *(
                dict(e, justification={"ticket": f"T-{e['merchant']}"})
                for e in reach("bob", SIX, at(3, 10))
            ),
        ],
        None,
        id="bob-has-tickets",
    ),
    row(
        [*ticketed("ana", SIX, at(0, 9)), *reach("bob", SIX, at(3, 10))],
        None,
        id="ana-had-tickets",
    ),
    row(
        [
            *ticketed("ana", SIX[:5], at(-20, 9)),
            *reach("ana", SIX, at(0, 9)),
            *reach("bob", SIX, at(3, 10)),
        ],
        None,
        id="five-merchants-ana-worked-on-before",
    ),
    row(
        [*reach("ana", SIX, at(0, 9)), *reach("bob", SIX, at(8, 10))],
        None,
        id="more-than-7-days-apart",
    ),
    # The partner's accesses a little less, or a little more, than 7 days before.
    row(
        [*reach("ana", SIX, at(0, 11)), *partner_late()],
        Fires(HIGH, SIX, ("same 6 merchants",), actor="bob"),
        id="partner-6-days-23-hours-before",
    ),
    row([*reach("ana", SIX, at(0, 9)), *partner_late()], None, id="partner-7-days-1-hour-before"),
    row(
        [*reach("ana", SIX, at(0, 9), kind="app"), *reach("bob", SIX, at(3, 10))],
        None,
        id="shared-with-an-app",
    ),
    row(
        [
            *views("ana", TWELVE, at(0, 9)),
            *views("bob", TWELVE, at(1, 9), ids=(HIT, *FOLLOW[:6])),
        ],
        Fires(HIGH, TWELVE, ("same 12 merchants",), actor="bob", events=(HIT, *FOLLOW[:6])),
        id="twelve-shared-high",
    ),
]


# Four colleagues who each reached 25 merchants of their own without a ticket in the week:
# the pool two actors' merchants could overlap in by chance (106 merchants with SIX).
POOL = [e for i in range(4) for e in views(f"p{i}", own(f"p{i}", 25), at(1, 1 + i))]


@MODES
@pytest.mark.parametrize(ROW, COLLUSION)
def test_collusion(
    events: list[dict[str, Any]], expected: Fires | None, since: dt.datetime | None, all_on: bool
) -> None:
    run_row("collusion", [*POOL, *events], expected, since, all_on)


@pytest.mark.parametrize(
    ("pool", "severity"),
    [(0, LOW), (1, LOW), (25, HIGH)],
    ids=["six-of-the-6-merchants-anyone-reached", "six-of-10", "six-of-106"],
)
def test_collusion_weighs_the_overlap_by_the_pool_of_merchants(
    pool: int, severity: Severity
) -> None:
    """The same 6 merchants shared: nothing when only those 6 (or a few more) were reached
    without a ticket by anyone this week (a small shop's staff overlap by chance), high when
    they are 6 of 106 (1 in 1,600,000,000 by chance, times the 5 possible partners); 6 of 10
    is 1 in 210, times 5: no more than low."""
    background = [e for i in range(4) for e in views(f"p{i}", own(f"p{i}", pool), at(2, 9 + i))]
    events = [*background, *reach("ana", SIX, at(0, 9)), *reach("bob", SIX, at(3, 10))]
    alerts = [a for a in detect(events, "collusion") if a.detector == "collusion"]
    assert [(a.actor, a.severity) for a in alerts] == [("bob", severity)]
    assert "could have overlapped" in alerts[0].reasons[0]


# -- fake_tickets ------------------------------------------------------------------------------


def bulk(when: dt.datetime | None = None, *, id: str | None = HIT, **kw: Any) -> dict[str, Any]:
    """A customer_list export of m1 by ana citing T1 (at 10:30 unless ``when``)."""
    fields: dict[str, Any] = {
        "action": "export",
        "resource": "customer_list",
        "count": 500,
        "ticket": "T1",
    }
    return access("ana", "m1", when or at(0, 10, 30), id=id, **(fields | kw))


SUBJECTS_40 = [f"c{i}" for i in range(40)]


def quick_ticket(
    minutes: int = 5, *, by: str | None = "ana", assignee: str = "ana"
) -> list[dict[str, Any]]:
    """T1 for m1, opened at 10:00 by ``by``, assigned to ``assignee``, closed ``minutes`` later."""
    return ticket("T1", "m1", at(0, 10), by=by, assignee=assignee, closed=at(0, 10, minutes))


def three_quick_tickets(*, caller: bool, days: Sequence[int] = (0, 0, 0)) -> list[dict[str, Any]]:
    """Quick self-made tickets of m1, one a morning hour on each of ``days`` (three in a
    morning by default), an export under each (HIT and the next ones), and with ``caller`` a
    look at one customer under each too."""
    events = []
    for i, day in enumerate(days):
        tid = f"T{i + 1}"
        events += ticket(
            tid, "m1", at(day, 10 + i), by="ana", assignee="ana", closed=at(day, 10 + i, 5)
        )
        events.append(bulk(at(day, 10 + i, 2), ticket=tid, id=(HIT, *FOLLOW)[i]))
        if caller:
            events.append(access("ana", "m1", at(day, 10 + i, 3), ticket=tid))
    return events


def desk_tickets(days: Iterable[int], closed: Iterable[int] = ()) -> list[dict[str, Any]]:
    """A colleague's tickets of merchants k<day>, one a day, closed the same day on the days
    ``closed``: the help desk's feed before day 0."""
    shut = set(closed)
    return [
        e
        for d in days
        for e in ticket(
            f"H{d}", f"k{d}", at(d, 9), assignee="bob", closed=at(d, 11) if d in shut else None
        )
    ]


OPEN_T1 = ticket("T1", "m1", at(0, 10), by="ana", assignee="ana")  # not closed (yet)
LATER = access("ana", "m9", at(0, 11, 6), id=HIT)  # ana's next access, an hour after T1's use
SOON = access("ana", "m9", at(0, 11), id=HIT)  # …55 minutes after

FAKE_TICKETS = [
    # A help desk that sends no closings (none in the 8 days of its feed): a self-made ticket
    # used only in its first minutes is judged once quiet for an hour, at ana's next access.
    row(
        [*desk_tickets(range(-8, 0)), *OPEN_T1, bulk(at(0, 10, 5), id="b-1"), LATER],
        Fires(
            LOW,
            ("m1",),
            (
                "citing ticket T1, which they opened themselves, handled alone and used it for "
                "5 minutes, not since (the help desk sends no closings); 1 list view(s) or "
                "export(s) cite it",
            ),
            events=("b-1",),  # the lists it covered, found at ana's next access
        ),
        id="no-closings-sent",
    ),
    # …not before it has been quiet for an hour;
    row(
        [*desk_tickets(range(-8, 0)), *OPEN_T1, bulk(at(0, 10, 5), id="b-1"), SOON],
        None,
        id="no-closings-sent-not-quiet-yet",
    ),
    # …nor when it was used again later (no quick ticket), or had a caller's record opened;
    row(
        [
            *desk_tickets(range(-8, 0)),
            *OPEN_T1,
            bulk(at(0, 10, 5), id="b-1"),
            bulk(at(0, 10, 40), id="b-2"),
            access("ana", "m9", at(0, 12)),
        ],
        None,
        id="no-closings-sent-used-later",
    ),
    row(
        [
            *desk_tickets(range(-8, 0)),
            *OPEN_T1,
            bulk(at(0, 10, 5), id="b-1"),
            access("ana", "m1", at(0, 10, 8), ticket="T1"),
            LATER,
        ],
        None,
        id="no-closings-sent-a-callers-ticket",
    ),
    # …but where it sends them (one 2 days before), an open ticket is judged at its closing;
    row(
        [*desk_tickets(range(-8, 0), closed=[-2]), *OPEN_T1, bulk(at(0, 10, 5)), LATER],
        None,
        id="closings-sent",
    ),
    # …and a feed younger than 7 days may not have closed anything yet.
    row(
        [*desk_tickets(range(-6, 0)), *OPEN_T1, bulk(at(0, 10, 5)), LATER],
        None,
        id="feed-of-six-days",
    ),
    row(
        [*quick_ticket(), bulk()],
        Fires(
            LOW,
            ("m1",),
            (
                "ana opened customer or order lists of merchant m1 citing ticket T1, which they "
                "opened themselves, handled alone and closed 5 minutes later; "
                "1 list view(s) or export(s) cite it or came just before it. That is 1 such "
                "ticket(s) in 7 days; no one customer's own record was opened under it, only "
                "lists.",
            ),
            score=40.0,
        ),
        id="self-made-five-minute-ticket",
    ),
    row(
        [*quick_ticket(30), bulk()],
        Fires(LOW, ("m1",), ("closed 30 minutes later",)),
        id="closed-at-thirty-minutes",
    ),
    row([*quick_ticket(31), bulk()], None, id="closed-after-thirty-one-minutes"),
    row([*quick_ticket(120), bulk(at(0, 12, 30))], None, id="closed-after-two-hours"),
    row(
        [*quick_ticket(10), bulk(action="download")],
        Fires(LOW, ("m1",), ("closed 10 minutes later",)),
        id="download",
    ),
    row(
        [*quick_ticket(), bulk(action="view", subjects=[f"c{i}" for i in range(10)])],
        Fires(LOW, ("m1",), ("citing ticket T1",)),
        id="list-view-of-ten",
    ),
    row(
        [*quick_ticket(), bulk(action="view", subjects=[f"c{i}" for i in range(9)])],
        None,
        id="list-view-of-nine",
    ),
    row(
        [*quick_ticket(), bulk(action="view", resource="customer", count=1)],
        None,
        id="single-customer-view",
    ),
    # One page of a list (under ``min_listed`` customers, 100): the caller looked up in it, as
    # phone desks do, not a harvest; two pages, or one big one, are judged.
    row(
        [*quick_ticket(), bulk(action="view", count=40, subjects=SUBJECTS_40)],
        None,
        id="one-page-look-up",
    ),
    row(
        [
            *quick_ticket(),
            bulk(at(0, 10, 1), action="view", count=40, subjects=SUBJECTS_40, id=FOLLOW[0]),
            bulk(at(0, 10, 2), action="view", count=40, subjects=SUBJECTS_40),
        ],
        Fires(LOW, ("m1",), ("2 list view(s) or export(s) cite it",), events=(FOLLOW[0], HIT)),
        id="two-pages",
    ),
    row(
        [*quick_ticket(), bulk(action="view", count=100, subjects=SUBJECTS_40)],
        Fires(LOW, ("m1",), ("1 list view(s) or export(s) cite it",)),
        id="one-page-of-a-hundred",
    ),
    # Lists opened while the ticket is open: judged when it closes.
    row(
        [*quick_ticket(), bulk(at(0, 10, 3))],
        Fires(LOW, ("m1",), ("closed 5 minutes later; 1 list view(s) or export(s) cite it",)),
        id="export-while-ticket-open",
    ),
    row(
        [*quick_ticket(), bulk(at(0, 10, 1)), bulk(at(0, 10, 3), id=FOLLOW[0])],
        Fires(LOW, ("m1",), ("2 list view(s) or export(s) cite it",), events=(HIT, FOLLOW[0])),
        id="two-exports-while-open",
    ),
    row(
        [*quick_ticket(), bulk(at(0, 10, 3)), bulk(at(0, 11), id=FOLLOW[0])],
        Fires(LOW, ("m1",), ("closed 5 minutes later",), events=(HIT, FOLLOW[0])),
        id="exports-before-and-after-the-close",
    ),
    row([*quick_ticket(31), bulk(at(0, 10, 3))], None, id="export-while-open-31-minutes"),
    row(
        ticket("T1", "m1", at(0, 10), by="ana", assignee="ana"),  # never closed
        None,
        id="open-ticket-alone",
    ),
    row(
        [*ticket("T1", "m1", at(0, 10), by="ana", assignee="ana"), bulk(at(0, 10, 3))],
        None,
        id="export-under-a-ticket-never-closed",
    ),
    row([*quick_ticket(by="m1-owner"), bulk()], None, id="opened-by-the-merchant"),
    # A ticket that does not say who opened it, where the help desk names the openers of
    # others (bob's, the day before): not judged…
    row(
        [*ticket("H1", "k1", at(-1, 9), by="bob", assignee="bob"), *quick_ticket(by=None), bulk()],
        None,
        id="opener-unknown",
    ),
    # …but where it never names them, a ticket of one assignee is taken as theirs.
    row(
        [*quick_ticket(by=None), bulk()],
        Fires(
            LOW,
            ("m1",),
            (
                "citing ticket T1, which was theirs from its opening (the help desk does "
                "not say who opens its tickets), handled alone and closed 5 minutes later",
            ),
        ),
        id="openers-never-named",
    ),
    row(
        [*quick_ticket(assignee="bob"), bulk(role="lead")],
        None,
        id="opened-by-ana-handled-by-bob",
    ),
    row(
        [*quick_ticket(by="bob", assignee="bob"), bulk(role="lead")],
        None,
        id="colleagues-quick-ticket",
    ),
    row([*quick_ticket(), bulk(ticket="T2")], None, id="cites-another-ticket"),
    row(
        three_quick_tickets(caller=False),
        # No history and no team: the prior is wide (a rate of 0.05 a day, as spread as the
        # rate itself), so 3 in a day is 1 in 9,261: medium, not high.
        Fires(
            MEDIUM,
            ("m1",),
            ("That is 3 such ticket(s) in 7 days", "(chance 1 in 9,261)"),
            events=(HIT, *FOLLOW[:2]),
        ),
        id="three-list-only-in-a-day-is-medium",
    ),
    # Two in a day stay low (``min_count``, 3): phone desks log a quick call or two so.
    row(
        three_quick_tickets(caller=False, days=(0, 0)),
        Fires(LOW, ("m1",), ("That is 2 such ticket(s) in 7 days; no one",), events=FOLLOW[:1]),
        id="two-list-only-in-a-day-stay-low",
        since=at(0, 11),
    ),
    # Three over a week: 1 in 451 at the wide prior, under ``medium_p`` (1 in 100).
    row(
        three_quick_tickets(caller=False, days=(0, 2, 4)),
        Fires(
            MEDIUM,
            ("m1",),
            ("That is 3 such ticket(s) in 7 days", "(chance 1 in 451)"),
            events=FOLLOW[1:2],
        ),
        id="three-list-only-in-a-week-is-medium",
        since=at(4, 0),
    ),
    row(
        three_quick_tickets(caller=True),
        # The caller's own record opened under each: calls logged as tickets, a habit of
        # phone desks, not a signal (a daily low finding would pile up as evidence).
        None,
        id="three-with-the-caller-looked-up-are-no-signal",
    ),
    row(
        [
            access("ana", "m1", at(0, 9, 58), resource="customer_list", subjects=SUBJECTS_40),
            *ticket("T1", "m1", at(0, 10), by="ana", assignee="ana"),
            context("ticket.closed", at(0, 10, 5), ticket="T1", merchant="m1", id=HIT),
        ],  # the finding comes at the close: its event is the close
        Fires(LOW, ("m1",), ("1 list view(s) or export(s) cite it or came just before it",)),
        id="list-view-just-before-the-ticket",
    ),
]


def test_quick_tickets_over_a_week_are_one_look_at_their_chance() -> None:
    """Three on three days are judged over 7 days only (no day had three): 1 in 451 is
    under a ``medium_p`` of 1 in 300, not counted twice as if the day had been looked at."""
    alerts = detect(
        three_quick_tickets(caller=False, days=(0, 2, 4)),
        "fake_tickets",
        since=at(4, 0),
        thresholds={"fake_tickets": {"medium_p": 1 / 300}},
    )
    check(
        alerts,
        "fake_tickets",
        Fires(MEDIUM, ("m1",), ("(chance 1 in 451)",), events=FOLLOW[1:2]),
    )


def test_quick_tickets_far_below_medium_earn_a_medium_alert_as_evidence() -> None:
    """With the evidence on: one quick ticket (low, 0.25 points times the detector's weight
    1.2: 0.30), then three in a morning three days later, 4 in 7 days at 1 in 14,641
    (doubled: a medium finding, 0.6 points at 1 in 100): as far towards high (1 in 100,000)
    as that is, 0.85 points, 1.02 weighed, so 1.24 with the first ticket's decayed 0.22:
    medium (0.94, low, with the medium finding's bare 0.6)."""
    events = []
    for i, (day, hour) in enumerate([(0, 10), (3, 10), (3, 11), (3, 12)]):
        tid = f"T{i + 1}"
        events += ticket(
            tid, "m1", at(day, hour), by="ana", assignee="ana", closed=at(day, hour, 5)
        )
        events.append(bulk(at(day, hour, 2), ticket=tid, id=f"x{i}"))
    alerts = detect(events, "fake_tickets", evidence=True)
    assert [(a.severity, a.events) for a in alerts] == [
        (LOW, ["x0"]),
        (MEDIUM, ["x1", "x2", "x3"]),
    ]
    assert "chance 1 in 14,641" in alerts[1].reasons[0]
    assert "Evidence about ana: 1.24 risk points" in alerts[1].reasons[1]


@MODES
@pytest.mark.parametrize(ROW, FAKE_TICKETS)
def test_fake_tickets(
    events: list[dict[str, Any]], expected: Fires | None, since: dt.datetime | None, all_on: bool
) -> None:
    run_row("fake_tickets", events, expected, since, all_on)


# -- other_case --------------------------------------------------------------------------------


def lent(merchant: str = "m2", when: dt.datetime | None = None, **kw: Any) -> dict[str, Any]:
    """An export of ``merchant``'s customer list by ana citing T1, her ticket of m1 (at 10:30
    unless ``when``)."""
    fields: dict[str, Any] = {"action": "export", "resource": "customer_list", "count": 500}
    return access("ana", merchant, when or at(0, 10, 30), ticket="T1", **(fields | kw))


T1_OF_M1 = ticket("T1", "m1", at(0, 9))

OTHER_CASE = [
    row(
        [*T1_OF_M1, lent(id=HIT)],
        Fires(
            LOW,
            ("m2",),
            (
                "ana opened customer or order lists, or exports, of merchant m2 citing ticket "
                "T1, which is about merchant m1. That is 1 merchant(s) reached under another "
                "merchant's case in 7 days (m2); once may be a slip.",
            ),
            score=45.0,
        ),
        id="an-export-under-another-merchants-ticket",
    ),
    row(
        [*T1_OF_M1, lent(id=HIT), lent("m3", at(0, 11), id=FOLLOW[0])],
        # No history and no team: the least rate (0.02 a working day, as spread as the
        # rate itself) makes two merchants in a day unlikely enough for medium.
        Fires(
            MEDIUM,
            ("m2", "m3"),
            (
                "That is 2 merchant(s) reached under another merchant's case in 7 days (m2, m3)",
                "(chance 1 in 2,601)",
            ),
            events=(HIT, FOLLOW[0]),
        ),
        id="two-merchants-are-medium",
    ),
    row(
        [*T1_OF_M1, lent(id=HIT), lent(when=at(0, 11))],
        Fires(LOW, ("m2",), ("That is 1 merchant(s)",)),
        id="the-same-merchant-again-is-judged-once",
    ),
    row(
        [*T1_OF_M1, lent(action="view", resource="customer", count=1, subjects=["c-m2-1"])],
        None,
        id="one-customer-under-another-merchants-ticket",
    ),
    row([*T1_OF_M1, lent("m1")], None, id="the-tickets-own-merchant"),
    row(
        # Not justified (bob's case, and ana no reviewer), yet about the same merchant: not
        # another merchant's case (repeated_looks and long_horizon judge such looks).
        [*ticket("T1", "m1", at(0, 9), assignee="bob"), lent("m1")],
        None,
        id="a-colleagues-case-of-the-same-merchant",
    ),
    row([lent()], None, id="a-ticket-the-platform-does-not-know"),
    row(
        [*T1_OF_M1, *grant("G1", "ana", "m2", at(0, 10)), lent(grant="G1")],
        None,
        id="a-grant-for-the-merchant-justifies-it",
    ),
]


LENT_MORE = (("m3", 11, FOLLOW[0]), ("m4", 12, FOLLOW[1]), ("m5", 13, FOLLOW[2]))


@pytest.mark.parametrize("team_of", [("ana", "bob", "cy", "dee"), ("ana", "bob", "cy")])
def test_a_partner_lending_cases_beside_them_is_not_their_teams_usual(
    team_of: tuple[str, ...],
) -> None:
    """Could fail (low before): bob lends his case to six merchants' exports in the week
    before; counted in the team's rate, ana's four merchants the same day were likely enough
    for her (1 in 8); the team's rate without the colleague who does it most makes them
    medium, as for a team where no one does. Also in a small shop's team of three, where
    cy alone is left to tell the team's rate (before, bob stayed counted with two peers)."""
    team = [e for p in team_of for e in ticketed_days(p, range(-7, 0))]
    export: dict[str, Any] = {"action": "export", "resource": "customer_list", "count": 500}
    bobs = [
        *ticket("TB", "kb", at(-7, 8), assignee="bob"),
        *(access("bob", f"b{i}", at(-6 + i, 10), ticket="TB", **export) for i in range(6)),
    ]
    anas = [*T1_OF_M1, lent(id=HIT), *(lent(m, at(0, h), id=f) for m, h, f in LENT_MORE)]
    found = [a for a in detect([*team, *bobs, *anas], "other_case") if a.actor == "ana"]
    assert [a.severity for a in found] == [MEDIUM], [a.reasons for a in found]


@MODES
@pytest.mark.parametrize(ROW, OTHER_CASE)
def test_other_case(
    events: list[dict[str, Any]], expected: Fires | None, since: dt.datetime | None, all_on: bool
) -> None:
    run_row("other_case", events, expected, since, all_on)


# -- repeated_looks ----------------------------------------------------------------------------


def looks(
    *times: dt.datetime, subjects: Sequence[str] = ("c1",), hits: int = 1, **kw: Any
) -> list[dict[str, Any]]:
    """Views of the same customers of m1 at ``times``; the last ``hits`` are labelled."""
    named = [None] * (len(times) - hits) + list((HIT, *FOLLOW)[:hits])
    return [
        access("ana", "m1", t, id=named[i], subjects=subjects, **kw) for i, t in enumerate(times)
    ]


def ticketed_looks(*times: dt.datetime) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for i, t in enumerate(times):
        events += ticket(f"T{i}", "m1", t - dt.timedelta(minutes=5))
        events += looks(t, ticket=f"T{i}", hits=0)
    return events


# Six looks over four days: the default minimum.
SIX_LOOKS = (at(0, 9), at(1, 9), at(1, 15), at(2, 9), at(3, 9), at(3, 15))

REPEATED = [
    row(
        looks(*SIX_LOOKS),
        # One customer who keeps calling back is a repeat caller: low; two are a pattern.
        Fires(
            LOW,
            ("m1",),
            (
                "ana looked again at c1 (6 times on 4 days) in the last 14 days without a "
                "ticket or grant.",
            ),
            score=60.0,
        ),
        id="six-looks-four-days",
    ),
    row(
        looks(*SIX_LOOKS, at(4, 9), hits=2),
        Fires(LOW, ("m1",), ("c1 (7 times on 5 days)",), events=(HIT, FOLLOW[0])),
        id="seventh-look-raises-it-further",
    ),
    row(
        looks(*SIX_LOOKS, subjects=("c1", "c2")),
        # Two customers looked at so often: a pattern, not one repeat caller.
        Fires(MEDIUM, ("m1",), ("c1 (6 times on 4 days), c2 (6 times on 4 days)",)),
        id="two-customers",
    ),
    row(looks(*SIX_LOOKS[:5]), None, id="five-looks"),
    row(
        looks(at(0, 9), at(0, 15), at(1, 9), at(1, 15), at(2, 9), at(2, 15)),
        None,
        id="six-looks-three-days",
    ),
    row(looks(*(at(d, 9) for d in range(0, 24, 4))), None, id="one-every-4-days"),
    row(
        looks(*(at(d, 9) for d in (0, 1, 2, 3, 4, 15)), hits=0),
        None,
        id="first-look-15-days-before",
    ),
    row(
        looks(*(at(d, 9) for d in (0, 1, 2, 3, 4, 13))),
        Fires(LOW, ("m1",), ("c1 (6 times on 6 days)",)),
        id="first-look-13-days-before",
    ),
    row(ticketed_looks(*SIX_LOOKS), None, id="each-look-ticketed"),
    row(
        [*ticketed_looks(*SIX_LOOKS[:3]), *looks(*SIX_LOOKS[3:], hits=0)],
        None,
        id="half-the-looks-ticketed",
    ),
    row(
        looks(*SIX_LOOKS, subjects=[f"c{i}" for i in range(1, 7)]),
        None,
        id="list-of-six-is-not-a-look",
    ),
    row(
        looks(*SIX_LOOKS, subjects=[f"c{i}" for i in range(1, 6)]),
        Fires(MEDIUM, ("m1",), ("c1 (6 times on 4 days)", "c5 (6 times on 4 days)")),
        id="five-customers-are-looks",
    ),
    row(
        # A new shop's customer list, opened again and again: it names its two customers
        # every time, and neither is looked up.
        looks(*SIX_LOOKS, subjects=("c1", "c2"), resource="customer_list"),
        None,
        id="a-small-merchants-list-names-all-its-customers",
    ),
    row(
        # A search that finds one customer is a look at them.
        looks(*SIX_LOOKS, resource="customer_list"),
        Fires(LOW, ("m1",), ("c1 (6 times on 4 days)",)),
        id="a-list-of-one-is-a-look",
    ),
    row(looks(*SIX_LOOKS, kind="app"), None, id="app"),
    row(
        # A colleague's case of the merchant, closed days before, reviewed again and again
        # (a lead's or a cover's follow-up): not justified, but no snooping either.
        [
            *ticket("T-bob", "m1", at(-5, 9), assignee="bob", closed=at(-3, 9)),
            *looks(*SIX_LOOKS, subjects=("c1", "c2"), ticket="T-bob", hits=0),
        ],
        None,
        id="a-colleagues-case-of-the-merchant-reviewed",
    ),
    row(
        # The same looks citing a case of another merchant: they review nothing of m1's.
        [
            *ticket("T-bob", "m2", at(-5, 9), assignee="bob", closed=at(-3, 9)),
            *looks(*SIX_LOOKS, subjects=("c1", "c2"), ticket="T-bob"),
        ],
        Fires(MEDIUM, ("m1",), ("c1 (6 times on 4 days), c2 (6 times on 4 days)",)),
        id="a-case-of-another-merchant-cited",
    ),
]


@MODES
@pytest.mark.parametrize(ROW, REPEATED)
def test_repeated_looks(
    events: list[dict[str, Any]], expected: Fires | None, since: dt.datetime | None, all_on: bool
) -> None:
    run_row("repeated_looks", events, expected, since, all_on)


def test_the_same_customers_again_are_not_judged_again() -> None:
    """Could fail: two customers looked at again and again are medium once; looking at them
    again two days later is low (already judged: the repetition made them so); a third
    customer becoming so is news, medium again."""
    events = [
        *looks(*SIX_LOOKS, subjects=("c1", "c2"), hits=0),
        *looks(at(5, 9), at(5, 15), subjects=("c1", "c2"), hits=0),
        *looks(*(at(d, h) for d in (6, 7, 8, 9) for h in (9, 15)), subjects=("c3",), hits=0),
    ]
    found = detect(events, "repeated_looks")
    assert [a.severity for a in found] == [MEDIUM, LOW, MEDIUM], [a.reasons for a in found]
    assert "No customer is new to this since it was last judged." in found[1].reasons[0]
    assert "looked again at c3 (" in found[2].reasons[0]
    assert "3 customers so in 14 days" in found[2].reasons[0]


def test_the_same_customers_again_are_context_not_new_evidence() -> None:
    """Could fail: a lead checking the same two customers' imports every day for two weeks.
    Once judged (low: their usual), the daily looks after are listed as context, worth no
    points; before, each day added a quarter point, and the lead was medium by the fourth."""
    days = [at(d, h) for d in range(14) for h in (9, 15)]
    config = DetectConfig(
        detectors={name: {"enabled": name == "repeated_looks"} for name in DETECTORS}
    )
    engine = Engine(config)
    found = engine.run(decoded(looks(*days, subjects=("c1", "c2"), hits=0)))
    assert found and {a.severity for a in found} == {LOW}, [a.reasons for a in found]
    assert "context, no points: ana looked again at c1" in found[-1].reasons[-1]
    points = [p for _, _, p, _ in engine.state.evidence["ana"]]
    assert points[0] > 0 and set(points[1:]) == {0.0}  # judged once, then context


def test_a_high_profile_customer_is_high_on_the_second_day_only() -> None:
    """Could fail: a customer the platform flags high-profile, looked at without a ticket on
    a second day, is high; more looks at them the days after are low reminders."""
    config = DetectConfig(
        detectors={name: {"enabled": name == "repeated_looks"} for name in DETECTORS},
        evidence=EvidenceConfig(enabled=False),
    )
    events = looks(at(0, 9), at(1, 9), at(3, 9), at(5, 9), subjects=("vip",), hits=0)
    found = Engine(config, high_profile=["vip"]).run(decoded(events))
    assert [a.severity for a in found] == [HIGH, LOW, LOW], [a.reasons for a in found]
    assert "vip is flagged high-profile" in found[0].reasons[0]
    # Citing a colleague's closed case of the merchant covers no high-profile customer.
    reviewed = [
        *ticket("T-bob", "m1", at(-5, 9), assignee="bob", closed=at(-3, 9)),
        *looks(at(0, 9), at(1, 9), subjects=("vip",), ticket="T-bob", hits=0),
    ]
    found = Engine(config, high_profile=["vip"]).run(decoded(reviewed))
    assert [a.severity for a in found] == [HIGH], [a.reasons for a in found]


def test_a_call_back_on_a_case_about_a_high_profile_customer_is_no_sign() -> None:
    """Could fail (high before): the case of the merchant the looks cite concerned the
    high-profile customer (bob looked at them under it), so ana's looks under it two and
    four days after it closed, the customer calling back, are a follow-up of that case. The
    same looks under a case bob worked about another customer are high."""
    config = DetectConfig(
        detectors={name: {"enabled": name == "repeated_looks"} for name in DETECTORS},
        evidence=EvidenceConfig(enabled=False),
    )

    def call_backs(about: str) -> list[dict[str, Any]]:
        return [
            *ticket("T-bob", "m1", at(-5, 9), assignee="bob", closed=at(-3, 9)),
            access("bob", "m1", at(-5, 10), subjects=[about], ticket="T-bob"),
            *looks(at(-1, 9), at(1, 9), subjects=("vip",), ticket="T-bob", hits=0),
        ]

    assert Engine(config, high_profile=["vip"]).run(decoded(call_backs("vip"))) == []
    found = Engine(config, high_profile=["vip"]).run(decoded(call_backs("c9")))
    assert [a.severity for a in found] == [HIGH], [a.reasons for a in found]


def test_high_profile_customers_one_after_another_are_judged_together() -> None:
    """Could fail: customers the platform flags high-profile, each looked at without a ticket
    on one day only, one a day, are judged by chance at the actor's rate: two medium, three
    high; two of them on one day (a check of the shop) are not."""
    config = DetectConfig(
        detectors={name: {"enabled": name == "repeated_looks"} for name in DETECTORS},
        evidence=EvidenceConfig(enabled=False),
    )
    vips = ["vip1", "vip2", "vip3"]

    def one_a_day(who: list[str]) -> list[dict[str, Any]]:
        return [e for d, v in enumerate(who) for e in looks(at(d, 9), subjects=(v,), hits=0)]

    spree = one_a_day(vips)
    two = Engine(config, high_profile=vips).run(decoded(one_a_day(vips[:2])))
    assert [a.severity for a in two] == [MEDIUM], [a.reasons for a in two]
    found = Engine(config, high_profile=vips).run(decoded(spree))
    assert [a.severity for a in found] == [HIGH], [a.reasons for a in found]
    assert (
        "ana looked at 3 customers flagged high-profile by the platform without a ticket or "
        "grant in the last 7 days (vip1, vip2, vip3)" in found[0].reasons[0]
    )
    assert "(chance 1 in 5,514)" in found[0].reasons[0]
    # Not flagged high-profile: three customers looked at once each are nothing.
    assert Engine(config).run(decoded(spree)) == []
    one_day = [e for v in vips[:2] for e in looks(at(0, 9), subjects=(v,), hits=0)]
    assert Engine(config, high_profile=vips).run(decoded(one_day)) == []
    off = config.model_copy(
        update={
            "detectors": config.detectors
            | {"repeated_looks": {"enabled": True, "high_profile_customers": 0}}
        }
    )
    assert Engine(off, high_profile=vips).run(decoded(spree)) == []


def test_high_profile_customers_of_several_shops_on_one_day_are_judged_together() -> None:
    """Could fail: customers flagged high-profile, of several merchants, each looked at once
    on one day without a ticket, are a snooper's morning, not a check of one shop: judged by
    chance at the actor's and their team's rate (two in a week of hers: 1 in 81, low; three:
    medium), once the team's rate is known (24 peer working days). Not while it is not (a fraud
    analyst's first day in the data), nor of one shop."""
    config = DetectConfig(
        detectors={name: {"enabled": name == "repeated_looks"} for name in DETECTORS},
        evidence=EvidenceConfig(enabled=False),
    )
    vips = ["vip1", "vip2", "vip3"]
    team = [e for p in ("bea", "cal", "dan", "eli") for e in ticketed_days(p, range(-6, 0))]
    team += ticketed_days("ana", range(-6, 0))

    def spree(*merchants: str) -> list[dict[str, Any]]:
        return [
            access("ana", m, at(0, 9 + i), subjects=(v,))
            for i, (m, v) in enumerate(zip(merchants, vips, strict=False))
        ]

    def severities(events: list[dict[str, Any]]) -> list[Severity]:
        return [a.severity for a in Engine(config, high_profile=vips).run(decoded(events))]

    found = Engine(config, high_profile=vips).run(decoded(team + spree("m1", "m2")))
    assert [a.severity for a in found] == [LOW], [a.reasons for a in found]
    assert (
        "ana looked at 2 customers flagged high-profile by the platform without a ticket or "
        "grant in the last 7 days (vip1, vip2)" in found[0].reasons[0]
    )
    assert "(chance 1 in 81)" in found[0].reasons[0]
    assert severities(team + spree("m1", "m2", "m3")) == [MEDIUM]
    assert severities(spree("m1", "m2", "m3")) == []  # the team's rate is not known
    assert severities(team + spree("m1", "m1", "m1")) == []  # a check of one shop


# -- long_horizon ------------------------------------------------------------------------------

# Four colleagues' clean six days (24 peer working days: the team's rate is known) and ana's
# own, so the merchants k-6 to k-1 are not new to her.
LH_BASE = [
    *(e for p in ("bea", "cal", "dan", "eli") for e in ticketed_days(p, range(-6, 0))),
    *ticketed_days("ana", range(-6, 0)),
]
KNOWN_4 = ("k-1", "k-2", "k-3", "k-4")
NEW_4 = ("n1", "n2", "n3", "n4")


def pages(merchants: Sequence[str], times: int, *, ids: Sequence[str] = ()) -> list[dict[str, Any]]:
    """``times`` unjustified list views of each merchant on day 0, five minutes apart, a
    merchant an hour from 10:00; ``ids`` name the last view of the last ``len(ids)`` ones."""
    named = [None] * (len(merchants) - len(ids)) + list(ids)
    return [
        access("ana", m, at(0, 10 + i, 5 * j), id=named[i] if j == times - 1 else None, **LIST)
        for i, m in enumerate(merchants)
        for j in range(times)
    ]


LONG_HORIZON = [
    row([*LH_BASE, *pages(KNOWN_4, 1)], None, id="one-list-view-each-of-merchants-she-knows"),
    # A second list view of a merchant within 24 h is paging through it: harvesting, whether
    # or not the merchant is new to her (the third such merchant is low, the fourth medium).
    row(
        [*LH_BASE, *pages(KNOWN_4, 2, ids=(HIT, FOLLOW[0]))],
        Fires(
            MEDIUM,
            KNOWN_4,
            (
                "ana opened customer or order lists, or exports, of 4 merchants new to them or "
                "paged through without a ticket or grant in the last 7 days",
                "care peers 0.02",
                "(chance 1 in 11,522)",
            ),
            events=(HIT, FOLLOW[0]),
        ),
        id="paging-through-lists-of-merchants-she-knows",
    ),
    row(
        [*LH_BASE, *pages(NEW_4, 1, ids=(HIT, FOLLOW[0]))],
        Fires(
            MEDIUM,
            NEW_4,
            ("of 4 merchants new to them or paged through", "(chance 1 in 11,522)"),
            events=(HIT, FOLLOW[0]),
        ),
        id="one-list-view-each-of-new-merchants",
    ),
    row(pages(NEW_4, 1), None, id="no-history-no-peers"),
]


@MODES
@pytest.mark.parametrize(ROW, LONG_HORIZON)
def test_long_horizon(
    events: list[dict[str, Any]], expected: Fires | None, since: dt.datetime | None, all_on: bool
) -> None:
    run_row("long_horizon", events, expected, since, all_on)


def test_paging_through_lists_is_judged_against_its_own_rate() -> None:
    """A phone desk: everyone, ana too, opens one page of a new merchant's customer list a
    day to find a caller (new merchants' lists are their routine, no sign). Ana pages through
    four merchants' lists in a morning, which no one there does: low at the third (1 in 939),
    medium at the fourth. Could fail: with ``paged`` off, counted with the one-page lists, it
    is the desk's usual."""
    desk = [*LH_BASE] + [
        access(p, f"callers-{p}-{d}", at(d, 11), **LIST)
        for p in ("ana", "bea", "cal", "dan", "eli")
        for d in range(-6, 0)
    ]
    events = [*desk, *pages(("p1", "p2", "p3", "p4"), 2)]
    found = [a for a in detect(events, "long_horizon") if a.severity >= MEDIUM]
    assert found, "paging through four merchants is no sign"
    assert (
        "ana paged through customer or order lists (two views or more in 24 h) of 4 merchants "
        "without a ticket or grant in the last 7 days (p1, p2, p3, p4)" in found[0].reasons[0]
    )
    off = DetectConfig(
        detectors={"long_horizon": {"paged": False}}, evidence=EvidenceConfig(enabled=False)
    )
    assert [a for a in Engine(off).run(decoded(events)) if a.detector == "long_horizon"] == []


# -- thresholds --------------------------------------------------------------------------------


def tuned(
    detector: str, thresholds: dict[str, Any], events: list[dict[str, Any]], fires: bool
) -> Any:
    """A row of the thresholds table: default-firing rows stop, default-silent rows fire."""
    name = ",".join(f"{k}={v}" for k, v in thresholds.items())
    return pytest.param(detector, thresholds, events, fires, id=f"{detector}-{name}")


@pytest.mark.parametrize(
    ("detector", "thresholds", "events", "fires"),
    [
        tuned("unjustified_access", {"min_bulk_merchants": 2}, [*BASE, *two_unjustified()], True),
        tuned(
            "unjustified_access",
            {"min_bulk_merchants": 4},
            [*BASE, *two_unjustified(), third()],
            False,
        ),
        tuned("unjustified_access", {"min_new_merchants": 4}, [*BASE, *new_merchants(4)], True),
        tuned("unjustified_access", {"min_new_merchants": 6}, [*BASE, *new_merchants(5)], False),
        # A usual of none but one day of two lists: three is 1 in 189 at 0.26 a day, but
        # not beyond the busiest day by the margin of 2; it is by 1.
        tuned("unjustified_access", {"margin": 1}, [*ONE_DAY_OF_TWO, *lists(3, day=0)], True),
        tuned(
            "unjustified_access",
            {"bulk_p": 0.05},
            [*unjustified_history(7, 2, 7), *lists(6, of="h")],
            True,
        ),
        tuned("unjustified_access", {"factor": 2}, [*unjustified_history(7, 5), *lists(8)], False),
        tuned(
            "unjustified_access",
            {"min_new_merchants_week": 7},
            [*LONG_BASE, *slow(range(7))],
            True,
        ),
        tuned(
            "unjustified_access",
            {"week_factor": 3},
            [*every_other_day(28), *four_a_day(12)],
            False,
        ),
        tuned(
            "unjustified_access",
            {"min_days": 8},
            [*BASE, *two_unjustified(), third()],
            False,
        ),
        tuned(
            "unjustified_access",
            {"min_peer_days": 22},
            [*PEERS, *two_unjustified("zoe"), third("zoe")],
            False,
        ),
        tuned("breadth_volume", {"min_merchants": 19}, [*BASE, *burst("ana", 19, 0)], True),
        tuned("breadth_volume", {"min_days": 8}, [*BASE, *burst("ana", 20, 0)], False),
        tuned(
            "breadth_volume",
            {"factor": 2.8},
            [*steady_days("ana", 7, 8), *burst("ana", 23, 7)],
            True,
        ),
        tuned(
            "breadth_volume",
            {"min_subjects": 499},
            [*BASE, big_list(subjects=[f"c{i}" for i in range(499)])],
            True,
        ),
        tuned(
            "breadth_volume",
            {"min_records": 2999},
            [*BASE, big_list(count=2999, subjects=[])],
            True,
        ),
        tuned(
            "collusion",
            {"min_shared": 5},
            [*reach("ana", SIX[:5], at(0, 9)), *reach("bob", SIX[:5], at(3, 10))],
            True,
        ),
        tuned(
            "collusion",
            {"min_share": 0.45},
            [
                *reach("ana", [*own("ana", 7), *SIX], at(0, 9)),
                *reach("bob", [*own("bob", 7), *SIX], at(3, 10)),
            ],
            True,
        ),
        tuned("collusion", {"max_actors": 2}, rounds(("ana", "cy", "bob"), SIX), False),
        tuned("fake_tickets", {"max_minutes": 4}, [*quick_ticket(), bulk()], False),
        tuned(
            "repeated_looks",
            {"min_days": 3},
            looks(at(0, 9), at(0, 15), at(1, 9), at(1, 15), at(2, 9), at(2, 15)),
            True,
        ),
        tuned("repeated_looks", {"min_looks": 7}, looks(*SIX_LOOKS), False),
        tuned("unusual_context", {"min_history_days": 8}, [*habit_days(7), odd()], False),
        tuned("long_horizon", {"new_only": False}, [*LH_BASE, *pages(KNOWN_4, 1)], True),
        tuned("long_horizon", {"pages": 3}, [*LH_BASE, *pages(KNOWN_4, 2)], False),
        tuned("long_horizon", {"min_peer_days": 25}, [*LH_BASE, *pages(NEW_4, 1)], False),
        tuned("long_horizon", {"min_count": 5}, [*LH_BASE, *pages(NEW_4, 1)], False),
        tuned("export_after_notice", {"enabled": False}, [NOTICE, export(at(2, 10))], False),
    ],
)
def test_thresholds_are_configurable(
    detector: str, thresholds: dict[str, Any], events: list[dict[str, Any]], fires: bool
) -> None:
    alerts = detect(events, detector, thresholds={detector: thresholds})
    assert [a.detector for a in alerts] == ([detector] if fires else [])


@pytest.mark.parametrize(
    ("detector", "thresholds", "events", "default", "tuned"),
    [
        # One customer so often is medium once one is enough and unlikely enough for ana.
        ("repeated_looks", {"min_customers": 1, "medium_p": 0.5}, looks(*SIX_LOOKS), LOW, MEDIUM),
        ("fake_tickets", {"min_count": 4}, three_quick_tickets(caller=False), MEDIUM, LOW),
        (
            "collusion",
            {"high_p": 1e-10},  # six of 106 shared: 1 in 1.6e9 by chance, times 5 partners
            [*POOL, *reach("ana", SIX, at(0, 9)), *reach("bob", SIX, at(3, 10))],
            HIGH,
            MEDIUM,
        ),
    ],
    ids=["repeated_looks-min_customers", "fake_tickets-min_count", "collusion-high_p"],
)
def test_severity_thresholds_are_configurable(
    detector: str,
    thresholds: dict[str, Any],
    events: list[dict[str, Any]],
    default: Severity,
    tuned: Severity,
) -> None:
    """Settings that move a finding's severity, not whether it fires."""
    [usual] = detect(events, detector)
    [changed] = detect(events, detector, thresholds={detector: thresholds})
    assert (usual.severity, changed.severity) == (default, tuned)


def test_rare_hour_share_is_configurable() -> None:
    # 106 accesses, one of them at 03:00: rare below 1% (the default), not below 0.5%.
    events = [*habit_days(7, per_day=15), access("ana", "h0", at(2, 3)), odd(hour=3)]
    [rare] = detect(events, "unusual_context")
    [usual] = detect(
        events, "unusual_context", thresholds={"unusual_context": {"rare_hour_share": 0.005}}
    )
    assert (rare.severity, usual.severity) == (HIGH, MEDIUM)
    assert "(03:00 UTC)" in rare.reasons[0]
    assert "03:00" not in usual.reasons[0]
