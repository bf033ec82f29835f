"""The incident book: reading incidents, opening them, moving them through their states and
recording the phases notified to the authority, each change logged with who made it and when.

Every write is one transaction (:meth:`Store.writer`) that changes the incident and appends
its ``incident_log`` entry together, so the log never misses or invents a change;
:func:`log_change` and :func:`move_state` are those steps, for operations of
:mod:`sentinelle.response` (assessment, notices) that make several in one transaction.

Notifications to the supervisory authority (GDPR Art. 33(4): initial, complementary, final)
are ``authority_notified`` log entries (:meth:`Incidents.record_notification`); the 72-hour
clock they are judged against is :meth:`Incidents.clock`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, Final

from sentinelle.errors import NotFoundError, Problem
from sentinelle.incidents.model import (
    AuthorityNotification,
    Change,
    Clock,
    Incident,
    IncidentInputError,
    LogEntry,
    Phase,
    State,
    TransitionError,
    check_advance,
    check_notification,
)
from sentinelle.incidents.scope import Scope, compute_scope
from sentinelle.store import Store, Writer
from sentinelle.store.notices import NoticeStatus
from sentinelle.timeutil import DAY, from_us, now_us

__all__ = ["ALERT_LOOKBACK_DAYS", "Incidents", "log_change", "move_state"]

ALERT_LOOKBACK_DAYS: Final = 30  # an incident opened from an alert starts this long before it


class Incidents:
    """The incidents recorded in a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- reads ---------------------------------------------------------------------------------
    def get(self, incident_id: str) -> Incident:
        """One incident. Raises :class:`NotFoundError` if there is none with this id."""
        rows = self.store.incident_rows(incident_id)
        if not rows:
            raise NotFoundError(f"no incident with id {incident_id!r}")
        return Incident.from_row(rows[0])

    def all(self) -> list[Incident]:
        """Every incident, oldest first."""
        return [Incident.from_row(r) for r in self.store.incident_rows()]

    def log(self, incident_id: str | None = None) -> list[LogEntry]:
        """The recorded changes, in order; only ``incident_id``'s if given."""
        return [LogEntry.from_row(r) for r in self.store.incident_log_rows(incident_id)]

    def clock(self, incident_id: str, *, now: int | None = None) -> Clock:
        """The incident's 72-hour clock as of ``now`` (microseconds; default: the current time).

        Raises :class:`NotFoundError`.
        """
        at = now if now is not None else now_us()
        return Clock.of(self.get(incident_id), self.log(incident_id), now_us=at)

    # -- writes --------------------------------------------------------------------------------
    def open(
        self,
        *,
        title: str,
        by: str,
        actors: Iterable[str] = (),
        from_us: int | None = None,
        to_us: int | None = None,
        alert_id: str | None = None,
        writer: Writer | None = None,
    ) -> Incident:
        """Record a new incident in state ``open`` and return it (in ``writer``'s transaction
        if given, for an operation that makes several changes at once).

        With ``alert_id``, the alert's actor joins ``actors`` and the window defaults to
        :data:`ALERT_LOOKBACK_DAYS` days before the alert's time up to now (the abuse an
        alert reveals usually started before it fired). Raises :class:`NotFoundError` for an
        unknown alert, :class:`IncidentInputError` without a title, actor or start, or with a
        window that ends before it starts.
        """
        now = now_us()
        names = [a.strip() for a in actors if a.strip()]
        details: dict[str, Any] = {}
        if alert_id is not None:
            alert = self.store.alert(alert_id)
            if alert is None:
                raise NotFoundError(f"no alert with id {alert_id!r}")
            names.insert(0, alert.actor)
            if from_us is None:
                from_us = alert.time_us - ALERT_LOOKBACK_DAYS * DAY
            details["alert"] = alert_id
        if to_us is None:
            to_us = now
        problems = []
        if not title.strip():
            problems.append(Problem(0, "title", "an incident needs a title"))
        if not names:
            problems.append(Problem(0, "actors", "an incident needs at least one actor"))
        if from_us is None:
            problems.append(Problem(0, "from", "give the start of the window (or an alert)"))
        elif to_us < from_us:
            problems.append(Problem(0, "to", "the window ends before it starts"))
        if problems or from_us is None:
            raise IncidentInputError(problems, unit="field")
        incident = Incident(
            id=_new_id(now),
            title=title.strip(),
            state=State.OPEN,
            actors=tuple(dict.fromkeys(names)),  # unique, in the order given
            from_us=from_us,
            to_us=to_us,
            created_us=now,
            created_by=by,
        )
        details.update(
            title=incident.title, actors=list(incident.actors), window=incident.to_dict()["window"]
        )
        if writer is not None:
            writer.insert_incident(incident.to_row())
            log_change(writer, incident.id, by, Change.OPENED, details, at_us=now)
            return incident
        with self.store.writer() as w:
            w.insert_incident(incident.to_row())
            log_change(w, incident.id, by, Change.OPENED, details, at_us=now)
        return incident

    def join(
        self,
        w: Writer,
        incident_id: str,
        alert_ids: Sequence[str],
        *,
        by: str,
        reason: str,
    ) -> Incident:
        """Alerts escalated into an existing incident, in ``w``'s transaction: their actors
        join the incident's and its window widens to cover them (from
        :data:`ALERT_LOOKBACK_DAYS` days before the earliest, to the latest finding), logged
        as ``joined`` with what changed. The scope counts them from then on; an assessment
        already recorded stays as it was until the next one recounts.

        Raises :class:`NotFoundError` (the incident or an alert) and :class:`TransitionError`
        for a closed incident. Nothing changes when the alerts add nothing.
        """
        incident = _locked(w, incident_id)
        if incident.state is State.CLOSED:
            raise TransitionError(
                f"incident {incident_id} is closed: escalate into an open one, or a new one"
            )
        rows = []
        for alert_id in alert_ids:
            row = self.store.alert(alert_id)
            if row is None:
                raise NotFoundError(f"no alert with id {alert_id!r}")
            rows.append(row)
        added = [a for a in dict.fromkeys(r.actor for r in rows) if a not in incident.actors]
        start = min([incident.from_us, *(r.time_us - ALERT_LOOKBACK_DAYS * DAY for r in rows)])
        end = max([incident.to_us, *(r.last_us for r in rows)])
        if not added and (start, end) == (incident.from_us, incident.to_us):
            return incident
        joined = replace(incident, actors=(*incident.actors, *added), from_us=start, to_us=end)
        w.update_incident(
            incident_id,
            actors_json=json.dumps(list(joined.actors)),
            from_us=start,
            to_us=end,
        )
        log_change(
            w,
            incident_id,
            by,
            Change.JOINED,
            {
                "alerts": list(alert_ids),
                "actors_added": added,
                "window": {
                    "before": incident.to_dict()["window"],
                    "after": joined.to_dict()["window"],
                },
                "reason": reason,
            },
        )
        return joined

    def advance(self, incident_id: str, target: State | str, *, by: str, reason: str) -> Incident:
        """Move an incident to the next state by hand, recording who decided it and why.

        The state must be true of the record (:func:`~sentinelle.incidents.model.check_advance`):
        ``assessed`` needs an assessment recorded, ``notifying`` a notice sent or a
        notification to the authority recorded; an assessed incident that requires no
        notification may close directly, and an open one whose scope shows no access at all.

        Raises :class:`NotFoundError`; :class:`TransitionError` if ``target`` is not the next
        state or what it needs is missing (named); :class:`IncidentInputError` without a
        reason (the register must give the reasoning). Nothing is written when it raises.
        """
        target = State.parse(target)  # a State is a str too
        if not reason.strip():
            raise IncidentInputError(
                [Problem(0, "reason", "say why the state changes")], unit="field"
            )
        found = self.get(incident_id)
        no_access = self._no_access(found, target)  # a read of the ledger: before the lock
        with self.store.writer() as w:
            incident = _locked(w, incident_id)
            notified = incident.state is State.ASSESSED and self._notified(
                incident_id, (LogEntry.from_row(r) for r in w.incident_log_rows(incident_id))
            )
            check_advance(incident, target, notified=notified, no_access=no_access)
            move_state(w, incident, target, by=by, reason=reason.strip(), checked=True)
        return self.get(incident_id)

    def moves(self, incident_id: str, *, shown: Scope | None = None) -> list[State]:
        """The states :meth:`advance` would move ``incident_id`` to now (what a form offers).

        ``shown``: a scope of the incident already counted (on any basis): if it holds an
        access, the incident's scope is not empty, and it is not counted again.
        """
        found = self.get(incident_id)
        notified = found.state is State.ASSESSED and self._notified(
            incident_id, self.log(incident_id)
        )
        allowed = []
        for target in (found.state.next, State.CLOSED):
            if target is None or target in allowed:
                continue
            known = shown is not None and bool(shown.per_merchant)
            no_access = not known and self._no_access(found, target)
            try:
                check_advance(found, target, notified=notified, no_access=no_access)
            except TransitionError:
                continue
            allowed.append(target)
        return allowed

    def _no_access(self, found: Incident, target: State) -> bool:
        """Whether moving ``found`` to ``target`` is closing it unassessed and its scope (every
        access, justified or not) is empty: no personal data breach to assess."""
        return (
            found.state is State.OPEN
            and target is State.CLOSED
            and found.assessment is None
            and not compute_scope(self.store, found).per_merchant
        )

    def _notified(self, incident_id: str, entries: Iterable[LogEntry]) -> bool:
        """Whether anything about the incident was notified: a notification to the authority
        recorded (``entries``: its log), or a notice the mail server accepted (even if the
        run that sent it stopped before logging it)."""
        return any(e.change == Change.AUTHORITY_NOTIFIED for e in entries) or any(
            status is NoticeStatus.SENT and count > 0
            for _audience, _version, status, count in self.store.notice_counts(incident_id)
        )

    def record_notification(
        self,
        incident_id: str,
        phase: Phase | str,
        *,
        by: str,
        sent_us: int | None = None,
        reference: str | None = None,
        note: str | None = None,
        delay_reasons: str | None = None,
    ) -> Clock:
        """Record a notification sent to the supervisory authority; return the clock after it.

        ``sent_us`` defaults to now. ``reference`` is the authority's (e.g. the CNIL's case
        number), ``note`` what it contained or why, ``delay_reasons`` why a late initial
        notification is late, required then (Art. 33(1)). Blank texts count as not given.
        Recording the initial notification of an ``assessed`` incident moves it to
        ``notifying``, logged as a ``state`` change in the same transaction: the
        notifications are under way. The final notification does not close the incident;
        closing stays a decision of its own (:meth:`advance`).

        Raises :class:`NotFoundError`; :class:`TransitionError` and
        :class:`IncidentInputError` as :func:`~sentinelle.incidents.model.check_notification`
        says. Nothing is written when it raises.
        """
        phase = Phase.parse(phase)  # a Phase is a str too
        now = now_us()
        sent = sent_us if sent_us is not None else now
        reference, note, delay_reasons = (_text(t) for t in (reference, note, delay_reasons))
        with self.store.writer() as w:
            incident = _locked(w, incident_id)
            # Read the log on the writer's connection, inside its transaction and under its
            # write lock: two people recording an initial notification at once cannot both
            # pass the check.
            log = [LogEntry.from_row(r) for r in w.incident_log_rows(incident_id)]
            clock = Clock.of(incident, log, now_us=now)
            check_notification(
                incident,
                clock,
                phase,
                sent_us=sent,
                reference=reference,
                note=note,
                delay_reasons=delay_reasons,
            )
            sent_entry = AuthorityNotification(
                phase=phase,
                sent_us=sent,
                by=by,
                recorded_us=now,
                reference=reference,
                note=note,
                delay_reasons=delay_reasons,
                deadline_us=clock.deadline_us if phase is Phase.INITIAL else None,
            )
            log_change(
                w, incident_id, by, Change.AUTHORITY_NOTIFIED, sent_entry.details(), at_us=now
            )
            if incident.state is State.ASSESSED:
                reason = f"{phase.value} notification sent to the supervisory authority"
                move_state(w, incident, State.NOTIFYING, by=by, reason=reason)
        return self.clock(incident_id, now=now)


def _text(value: str | None) -> str | None:
    stripped = value.strip() if value is not None else ""
    return stripped or None


def _new_id(now: int) -> str:
    day = from_us(now).strftime("%Y%m%d")
    return f"inc-{day}-{secrets.token_hex(4)}"


def move_state(
    w: Writer, incident: Incident, target: State, *, by: str, reason: str, checked: bool = False
) -> None:
    """Move ``incident`` to ``target`` and log who and why, in ``w``'s transaction. Raises
    :class:`TransitionError` if ``target`` is not the next state, unless the caller
    ``checked`` the move (:func:`~sentinelle.incidents.model.check_advance`, which also lets
    an incident close early)."""
    if not checked:
        incident.state.check_move(target)
    w.update_incident(incident.id, state=target.value)
    log_change(
        w,
        incident.id,
        by,
        Change.STATE,
        {"from": incident.state.value, "to": target.value, "reason": reason},
    )


def _locked(w: Writer, incident_id: str) -> Incident:
    row = w.incident_row(incident_id)
    if row is None:
        raise NotFoundError(f"no incident with id {incident_id!r}")
    return Incident.from_row(row)


def log_change(
    w: Writer,
    incident_id: str,
    by: str,
    change: Change,
    details: dict[str, Any],
    *,
    at_us: int | None = None,
) -> None:
    """Append one entry to the incident's log in ``w``'s transaction: who, what, the details
    (JSON) and when (``at_us``, default now; kept strictly after the previous entry)."""
    # Log entries are ordered by time: keep one incident's times strictly increasing, so two
    # changes within a microsecond (or a clock step back) cannot swap places in the register.
    last = w.incident_last_log_us(incident_id)
    at = at_us if at_us is not None else now_us()
    if last is not None and at <= last:
        at = last + 1
    w.add_incident_log(
        incident_id, at_us=at, by=by, change=change.value, details_json=json.dumps(details)
    )
