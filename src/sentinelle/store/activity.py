"""Storage of actors' activity per day (migration 11): a rollup of the access events.

One ``actor_days`` row per actor and UTC day holds what the actor's access events did that
day (see :class:`ActorDayRow`), with the day's distinct merchants (``merchant_ids``, a JSON
array) that ``merchants`` counts. Ingest keeps it up to date in the transaction that stores the
events (:class:`ActivityTally`, then :meth:`ActivityWriterMixin.add_activity`), so it always
describes exactly the stored events (a refused batch adds nothing, a duplicate is not counted
twice), and an actor's months, or a team's per-day average, read a few hundred rows instead of
millions of events.

The same module answers the few aggregate reads monitoring needs (``GET /metrics``): alerts by
severity and status, how far live detection got, notices by status. They count; they never
return an identifier of a person.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from msgspec import UNSET

from sentinelle.events import AccessEvent
from sentinelle.timeutil import DAY

if TYPE_CHECKING:
    from sentinelle.store.base import Store

__all__ = [
    "EXPORT_ACTIONS",
    "LIST_TYPES",
    "ActivityStoreMixin",
    "ActivityTally",
    "ActivityWriterMixin",
    "ActorDayRow",
    "AlertCountRow",
    "RiskAlertRow",
    "TeamDayRow",
]

#: Resource types that show many customers or orders at once: reading one is a list view.
LIST_TYPES: Final = frozenset({"customer_list", "order_list"})
#: Actions that take the data away: an export (whatever the resource) is never a list view.
EXPORT_ACTIONS: Final = frozenset({"export", "download"})


class ActorDayRow(NamedTuple):
    """An ``actor_days`` row: one actor's access events of one UTC day.

    * ``day``: days since 1970-01-01 (UTC) of the events' own time;
    * ``team``: ``actor.team`` of the day's last access event (in ledger order) naming one;
    * ``accesses``: access events, whatever their outcome (a denied attempt is still one);
    * ``merchants``: distinct merchants reached;
    * ``list_views``: reads of a ``customer_list`` or ``order_list``, and searches (exports
      are counted apart, never as list views);
    * ``exports``: ``export`` and ``download`` actions;
    * ``unjustified``: accesses citing no ticket and no grant (whether a cited one really
      covers the access is for the detectors to judge, with the tickets' history);
    * ``records``: records exposed by allowed accesses: ``resource.count``, else the number of
      ``subjects``, else 1 (denied accesses expose none).
    """

    actor: str
    day: int
    team: str | None
    accesses: int
    merchants: int
    list_views: int
    exports: int
    unjustified: int
    records: int


class TeamDayRow(NamedTuple):
    """A team's day: how many members were active (had an access event) and their totals."""

    day: int
    members: int
    accesses: int
    merchants: int
    list_views: int
    exports: int
    unjustified: int
    records: int


class RiskAlertRow(NamedTuple):
    """What the risk list needs of an alert (not its events, merchants or reasons)."""

    id: str
    actor: str
    detector: str
    severity: int
    status: str
    time_us: int
    last_us: int
    score: float

    @classmethod
    def of(cls, r: Sequence[Any]) -> RiskAlertRow:
        """The row read from :data:`RISK_ALERT_COLUMNS` (drivers give numbers of other
        types)."""
        return cls(r[0], r[1], r[2], int(r[3]), r[4], int(r[5]), int(r[6]), float(r[7]))


#: The columns of ``alerts`` a :class:`RiskAlertRow` is read from, in its fields' order.
RISK_ALERT_COLUMNS: Final = "id, actor, detector, severity, status, time_us, last_us, score"


class AlertCountRow(NamedTuple):
    """How many alerts have this severity and triage status."""

    severity: int
    status: str
    alerts: int


# Figures of one actor-day while a batch is tallied: [team, accesses, list views, exports,
# unjustified, records, set of merchants]. A list, not a struct: ingest updates one per event.
_TEAM, _ACCESSES, _LISTS, _EXPORTS, _UNJUSTIFIED, _RECORDS, _MERCHANTS = range(7)


class ActivityTally:
    """What a batch adds to the rollup, gathered while ingest stores it and written once by
    :meth:`ActivityWriterMixin.add_activity` before the batch commits.

    Only the events actually inserted must be added (not duplicates): ingest calls
    :meth:`add` with the rows it inserted and their decoded events.
    """

    __slots__ = ("days",)

    def __init__(self) -> None:
        self.days: dict[tuple[str, int], list[Any]] = {}

    def __bool__(self) -> bool:
        return bool(self.days)

    def add(self, rows: Sequence[tuple[Any, ...]], events: Sequence[Any]) -> None:
        """Count the access events among ``rows`` (inserted) and their decoded ``events``;
        context events are skipped.

        Ingest's hot path (about 0.6 µs an event): names bound to locals, the figures' indexes
        written as numbers (see ``_TEAM`` …), no allocation but a new actor-day's figures.
        """
        days = self.days
        get = days.get
        lists, exports, unset, access, day_us = LIST_TYPES, EXPORT_ACTIONS, UNSET, AccessEvent, DAY
        for row, event in zip(rows, events, strict=True):
            if event.__class__ is not access:
                continue
            key = (row[4], row[2] // day_us)
            fig = get(key)
            if fig is None:
                fig = days[key] = [None, 0, 0, 0, 0, 0, set()]
            team = event.actor.team
            if team is not unset:
                fig[0] = team
            fig[1] += 1
            action = row[3]
            resource = event.resource
            if action in exports:
                fig[3] += 1
            elif action == "search" or (resource is not unset and resource.type in lists):
                fig[2] += 1
            just = event.justification
            if just is unset or (just.ticket is unset and just.grant is unset):
                fig[4] += 1
            if event.outcome == "allowed":
                fig[5] += event.records()
            fig[6].add(row[5])

    def merge(self, other: ActivityTally) -> None:
        """Add ``other``, the tally of events stored after this one's (a later chunk of the
        batch): figures summed, merchants united, its team where it names one."""
        days = self.days
        for key, fig in other.days.items():
            mine = days.get(key)
            if mine is None:
                days[key] = fig
                continue
            if fig[0] is not None:
                mine[0] = fig[0]
            for i in range(1, _MERCHANTS):
                mine[i] += fig[i]
            mine[_MERCHANTS] |= fig[_MERCHANTS]


class ActivityWriterMixin:
    """Rollup writes of one transaction; a base of :class:`~sentinelle.store.base.Writer`."""

    _cur: Any
    _store: Store

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def add_activity(self, tally: ActivityTally) -> None:
        """Add a batch's tally to the stored rollup: the figures are summed, the team is the
        batch's if it names one, and the day's merchant set is the union of the stored one
        and the batch's.

        The actor-days the batch touched are read first (one range of the primary key per
        actor: a bulk load of new days finds none), merged here and written whole: one row
        per actor-day, however many events and merchants it has.
        """
        if not tally:
            return
        touched = tally.days
        first = min(day for _, day in touched)
        last = max(day for _, day in touched)
        stored: dict[tuple[str, int], Sequence[Any]] = {}
        actors = sorted({actor for actor, _ in touched})
        for i in range(0, len(actors), 500):
            part = actors[i : i + 500]
            # Only placeholders are interpolated; every value is a parameter.
            found = self._x(
                f"SELECT {_DAY_COLUMNS}, merchant_ids FROM actor_days "  # noqa: S608
                f"WHERE actor IN ({','.join('?' * len(part))}) AND day >= ? AND day <= ?",
                (*part, first, last),
            ).fetchall()
            stored.update(((r[0], int(r[1])), r) for r in found if (r[0], int(r[1])) in touched)
        rows = []
        for (actor, day), f in touched.items():
            merchants: set[str] = f[_MERCHANTS]
            team, accesses, lists, exports, unjustified, records = f[:_MERCHANTS]
            old = stored.get((actor, day))
            if old is not None:
                merchants = merchants | set(json.loads(old[9]))
                team = team if team is not None else old[2]
                accesses += int(old[3])
                lists += int(old[5])
                exports += int(old[6])
                unjustified += int(old[7])
                records += int(old[8])
            rows.append(
                (actor, day, team, accesses, len(merchants), lists, exports, unjustified, records)
                + (json.dumps(sorted(merchants), ensure_ascii=False, separators=(",", ":")),)
            )
        if self._store.dialect == "postgresql":
            # One statement, the rows as arrays: executemany would be a round trip per row.
            self._x(
                f"INSERT INTO actor_days ({_DAY_COLUMNS}, merchant_ids) "  # noqa: S608
                "SELECT * FROM unnest(?::text[], ?::integer[], ?::text[], ?::bigint[], "
                "?::integer[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ?::text[]) "
                f"{_REPLACE}",
                [list(column) for column in zip(*rows, strict=True)],
            )
            return
        self._cur.executemany(
            f"INSERT INTO actor_days ({_DAY_COLUMNS}, merchant_ids) "  # noqa: S608
            f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) {_REPLACE}",
            rows,
        )


_DAY_COLUMNS: Final = (
    "actor, day, team, accesses, merchants, list_views, exports, unjustified, records"
)
_REPLACE: Final = (
    "ON CONFLICT (actor, day) DO UPDATE SET team = excluded.team, "
    "accesses = excluded.accesses, merchants = excluded.merchants, "
    "list_views = excluded.list_views, exports = excluded.exports, "
    "unjustified = excluded.unjustified, records = excluded.records, "
    "merchant_ids = excluded.merchant_ids"
)


class ActivityStoreMixin:
    """Rollup reads, and the aggregate reads of monitoring; a base of
    :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    # -- actors ---------------------------------------------------------------------------------
    def actor_days(self, actor: str, first_day: int, last_day: int) -> list[ActorDayRow]:
        """The actor's days in ``[first_day, last_day]`` that have access events, in order."""
        rows = self._x(
            f"SELECT {_DAY_COLUMNS} FROM actor_days "  # noqa: S608
            "WHERE actor = ? AND day >= ? AND day <= ? ORDER BY day",
            (actor, first_day, last_day),
        )
        return [_day_row(r) for r in rows]

    def team_days(
        self, team: str, first_day: int, last_day: int, *, without: str | None = None
    ) -> list[TeamDayRow]:
        """Per day of ``[first_day, last_day]``, the members of ``team`` active that day (whose
        day names the team), but ``without``, and their totals; days nobody was active are
        left out. One range of the ``(team, day)`` index."""
        rows = self._x(
            "SELECT day, count(*), sum(accesses), sum(merchants), sum(list_views), "
            "sum(exports), sum(unjustified), sum(records) FROM actor_days "
            "WHERE team = ? AND day >= ? AND day <= ? AND actor <> ? GROUP BY day ORDER BY day",
            (team, first_day, last_day, "" if without is None else without),
        )
        return [TeamDayRow(*(int(v) for v in r)) for r in rows]

    def actor_teams(self, actors: Sequence[str]) -> dict[str, str]:
        """Each actor's team on their latest day naming one (actors without are left out)."""
        found: dict[str, str] = {}
        for i in range(0, len(actors), 500):
            part = list(actors[i : i + 500])
            marks = ",".join("?" * len(part))
            # Only placeholders are interpolated; every value is a parameter.
            rows = self._x(
                "SELECT d.actor, d.team FROM actor_days AS d JOIN (SELECT actor, max(day) AS day "  # noqa: S608
                f"FROM actor_days WHERE actor IN ({marks}) AND team IS NOT NULL GROUP BY actor) "
                "AS l ON d.actor = l.actor AND d.day = l.day",
                part,
            )
            found.update((r[0], r[1]) for r in rows)
        return found

    def actor_known(self, actor: str) -> bool:
        """Whether ``actor`` made any stored access event or has any alert."""
        return bool(
            self._x("SELECT 1 FROM actor_days WHERE actor = ? LIMIT 1", (actor,))
            or self._x("SELECT 1 FROM alerts WHERE actor = ? LIMIT 1", (actor,))
        )

    def risk_alerts(
        self, since_us: int, until_us: int, *, actor: str | None = None
    ) -> list[RiskAlertRow]:
        """Alerts triggered in ``[since, until)`` (of ``actor`` only, if given), newest first,
        without their events, merchants or reasons."""
        where = "time_us >= ? AND time_us < ?"
        params: list[object] = [since_us, until_us]
        if actor is not None:
            where += " AND actor = ?"
            params.append(actor)
        rows = self._x(
            f"SELECT {RISK_ALERT_COLUMNS} FROM alerts WHERE {where} "  # noqa: S608
            "ORDER BY time_us DESC, id DESC",
            params,
        )
        return [RiskAlertRow.of(r) for r in rows]

    def risk_weights(self, since_us: int, until_us: int) -> list[tuple[str, int, str, int]]:
        """``(actor, severity, status, last_us)`` of the alerts triggered in ``[since, until)``
        that are not dismissed, in :meth:`risk_alerts`' order (newest first): what the risk
        list sums, and nothing else of a row."""
        rows = self._x(
            "SELECT actor, severity, status, last_us FROM alerts "
            "WHERE time_us >= ? AND time_us < ? AND status <> 'dismissed' "
            "ORDER BY time_us DESC, id DESC",
            (since_us, until_us),
        )
        return [(r[0], int(r[1]), r[2], int(r[3])) for r in rows]

    # -- monitoring -----------------------------------------------------------------------------
    def alert_totals(self) -> list[AlertCountRow]:
        """Stored alerts by severity and triage status."""
        rows = self._x(
            "SELECT severity, status, count(*) FROM alerts GROUP BY severity, status "
            "ORDER BY severity, status"
        )
        return [AlertCountRow(int(r[0]), r[1], int(r[2])) for r in rows]

    def detection_cursor(self) -> int:
        """How many leaves live detection has processed (0 before its first run)."""
        rows = self._x("SELECT cursor FROM detect_state WHERE id = 1")
        return int(rows[0][0]) if rows else 0

    def event_time(self, seq: int) -> int | None:
        """The time of the event at leaf ``seq``, if stored."""
        rows = self._x("SELECT time_us FROM events WHERE seq = ?", (seq,))
        return int(rows[0][0]) if rows else None

    def notice_totals(self) -> list[tuple[str, str, int]]:
        """``(audience, status, count)`` of every incident's notices."""
        rows = self._x(
            "SELECT audience, status, count(*) FROM notices GROUP BY audience, status "
            "ORDER BY audience, status"
        )
        return [(r[0], r[1], int(r[2])) for r in rows]


def _day_row(r: Sequence[Any]) -> ActorDayRow:
    return ActorDayRow(r[0], int(r[1]), r[2], *(int(v) for v in r[3:9]))
