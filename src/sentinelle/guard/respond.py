"""The automatic response to alerts, and its undoing (docs/guard-response.md).

:func:`respond` runs right after live detection (``POST /v1/events``, ``sentinelle ingest``,
the decision route's group writes), on the alerts that run created or changed. An alert at or
above the policy's ``response.suspend_at`` whose detector is not in ``response.exempt``
suspends its actor, in this order, each step with who (``sentinelle``) and why:

1. the suspension (``suspensions``, naming the alert) and its ``suspended`` step in
   ``guard_log``, in one transaction (with the message that says so queued for the alert
   destinations, when ``also`` is given: :func:`sentinelle.connectors.outbound.guard_hook`):
   from its commit every decision about the actor is a denial ("suspended pending review");
2. the actor's live grants revoked (:func:`sentinelle.guard.grants.revoke_all`: a
   ``grant.revoked`` event each in the ledger);
3. with ``response.escalate``, the alert escalated into a new incident
   (:func:`sentinelle.detect.triage.triage`), unless someone already decided on it.

An alert suspends at most once (its ``suspended`` step's id derives from the alert): an actor
suspended on another alert is left as is, and after a responder lifted the suspension, the same
alert raised further does not suspend again (a new alert does). :func:`respond` never raises:
the events are committed before it runs; a failure is logged (its type and place, no data) and
reported in :attr:`Responded.notes`. Steps 2 and 3 are completed when the alert is raised
again (revoking and escalating only what is not done yet).

:func:`lift` ends a suspension: a responder, with a reason, logged as a ``lifted`` step (and
queued for the alert destinations in the same transaction, when ``also`` is given).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from hashlib import sha256
from typing import TYPE_CHECKING, Any, Final

from sentinelle.detect.base import Alert, Severity
from sentinelle.detect.engine import where
from sentinelle.detect.triage import MAX_REASON, Status, TriageInputError, triage
from sentinelle.errors import ConfigError, NotFoundError, Problem
from sentinelle.guard.grants import revoke_all
from sentinelle.store.guardlog import GuardLogRow
from sentinelle.store.suspensions import SuspensionRow
from sentinelle.timeutil import iso

if TYPE_CHECKING:
    from sentinelle.guard.policy import Policy
    from sentinelle.guard.service import GuardPolicy
    from sentinelle.ledger.log import Ledger
    from sentinelle.response import ResponseEngine
    from sentinelle.store import Store, Writer

    #: Called in a suspension's or a lift's transaction with its step and the alert it was on.
    StepHook = Callable[[Writer, GuardLogRow, str | None], object]

__all__ = [
    "SENTINELLE",
    "Lifted",
    "LiftInputError",
    "Responded",
    "Step",
    "Suspended",
    "Suspension",
    "configured",
    "lift",
    "respond",
    "suspension_of",
]

_logger = logging.getLogger(__name__)

#: Who the automatic response is, in suspensions, the guard log, grant events and triage.
SENTINELLE: Final = "sentinelle"
_BY: Final = 128
# Blank as the API's schema sees it (a reason must match ``\S``): Unicode White_Space and the
# BOM, not the control characters Python's str.strip() also removes.
_BLANK: Final = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_REASON: Final = 256  # a grant event's reason, at most


@dataclass(frozen=True, slots=True)
class Suspended:
    """One actor suspended by :func:`respond`: on which alert, the grants revoked, the incident
    the alert was escalated into (``None``: not escalated, or someone decided on it first)."""

    actor: str
    alert: str
    detector: str
    severity: str
    revoked: tuple[str, ...]
    incident: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form, in the API's and the CLI's answers."""
        return {
            "actor": self.actor,
            "alert": self.alert,
            "detector": self.detector,
            "severity": self.severity,
            "revoked": list(self.revoked),
            "incident": self.incident,
        }


@dataclass(frozen=True, slots=True)
class Responded:
    """What :func:`respond` did, and what a person should know (a step that failed)."""

    suspended: list[Suspended] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def configured(guard_policy: GuardPolicy) -> Policy | None:
    """The guard policy the automatic response follows, or ``None`` when there is none: unset
    (no automatic response), or invalid (logged; the guard's routes say why)."""
    if guard_policy.path is None:
        return None
    try:
        return guard_policy.get()
    except ConfigError:
        _logger.error("the automatic response did not run: the guard policy is invalid")
        return None


def _step_id(alert_id: str) -> str:
    return "gl-susp-" + sha256(alert_id.encode()).hexdigest()[:32]


def respond(
    store: Store,
    ledger: Ledger,
    engine: ResponseEngine,
    policy: Policy,
    alerts: Iterable[Alert],
    *,
    now_us: int,
    also: StepHook | None = None,
) -> Responded:
    """Suspend the actors of ``alerts`` that call for it (see the module docstring); ``also``
    runs in each suspension's transaction. Never raises; what failed is logged and in
    :attr:`Responded.notes`."""
    rule = policy.response
    if rule.suspend_at is None:
        return Responded()
    due: dict[str, Alert] = {}
    for alert in sorted(alerts, key=lambda a: (-int(a.severity), a.time_us, a.id)):
        if int(alert.severity) >= rule.suspend_at and alert.detector not in rule.exempt:
            due.setdefault(alert.actor, alert)  # the most severe alert of each actor
    done = Responded()
    for actor, alert in sorted(due.items()):
        try:
            found = _suspend(store, ledger, engine, policy, alert, now_us=now_us, also=also)
        except Exception as exc:
            _logger.error(
                "the automatic response failed (%s at %s); it is completed when the alert is "
                "raised again",
                type(exc).__name__,
                where(exc),
            )
            done.notes.append(
                f"the automatic response failed for alert {alert.id} (see the log); it is "
                "completed when the alert is raised again"
            )
            continue
        if found is not None:
            done.suspended.append(found)
            _logger.warning("suspended %s on alert %s (%s)", actor, alert.id, alert.detector)
    return done


def _suspend(
    store: Store,
    ledger: Ledger,
    engine: ResponseEngine,
    policy: Policy,
    alert: Alert,
    *,
    now_us: int,
    also: StepHook | None,
) -> Suspended | None:
    actor = alert.actor
    why = f"alert {alert.id} ({alert.detector}, {alert.severity}) suspended {actor} pending review"
    step = _step_id(alert.id)
    with store.writer() as w:
        held = w.suspension_in_force(actor)
        if held is None:
            if any(r.id == step for r in store.guard_log([actor])):
                return None  # this alert suspended them once; a responder lifted it
            w.suspend(actor, by=SENTINELLE, reason=why, at_us=now_us, alert=alert.id)
            logged = GuardLogRow(step, now_us, actor, "suspended", SENTINELLE, why)
            w.log_guard([logged])
            if also is not None:
                also(w, logged, alert.id)
        elif held.alert != alert.id:
            return None  # suspended on another alert, which took the steps below
    # From here every decision about the actor is a denial; then the grants and the incident
    # (both done again, as far as they are not done yet, when this alert is raised further:
    # a run that failed between the steps is completed by the next).
    revoked = revoke_all(store, ledger, actor, by=SENTINELLE, reason=why[:_REASON], now_us=now_us)
    incident = None
    if policy.response.escalate and store.alert_statuses([alert.id]).get(alert.id) == Status.NEW:
        decided = triage(
            store,
            engine,
            [alert.id],
            Status.ESCALATED,
            by=SENTINELLE,
            reason=f"automatic response: {why}",
            at_us=now_us,
        )
        incident = decided.incident
    if held is not None and not revoked and incident is None:
        return None  # suspended on this alert before, and nothing was left to do
    return Suspended(
        actor, alert.id, alert.detector, str(Severity(alert.severity)), tuple(revoked), incident
    )


class LiftInputError(TriageInputError):
    """A lift was refused: each problem names the field at fault (``reason``)."""


@dataclass(frozen=True, slots=True)
class Lifted:
    """A suspension lifted: whose, who lifted it, when and why, and the alert it was on."""

    actor: str
    by: str
    at_us: int
    reason: str
    alert: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "actor": self.actor,
            "lifted_by": self.by,
            "lifted": iso(self.at_us),
            "reason": self.reason,
            "alert": self.alert,
        }


def lift(
    store: Store,
    actor: str,
    *,
    by: str,
    reason: str,
    now_us: int,
    also: StepHook | None = None,
) -> Lifted:
    """Lift ``actor``'s suspension, saying why; logged as a ``lifted`` step (``also`` runs in
    that transaction). From its commit the actor's decisions follow the policy again (their
    revoked grants stay revoked).

    Raises :class:`LiftInputError` for an empty or too long reason,
    :class:`~sentinelle.errors.NotFoundError` when the actor is not suspended; nothing is
    recorded then.
    """
    text = reason.strip(_BLANK)
    if not text:
        raise LiftInputError([Problem(0, "reason", "say why the suspension is lifted")])
    if len(text) > MAX_REASON or "\x00" in text:
        raise LiftInputError(
            [Problem(0, "reason", f"at most {MAX_REASON} characters, no NUL character")]
        )
    with store.writer() as w:
        held = w.suspension_in_force(actor)
        if held is None or not w.lift_suspension(actor, at_us=now_us, by=by, reason=text):
            raise NotFoundError(f"{actor} is not suspended; nothing was recorded")
        step_id = "gl-lift-" + sha256(f"{actor}\x00{now_us}\x00{by}".encode()).hexdigest()[:32]
        logged = GuardLogRow(step_id, now_us, actor, "lifted", by[:_BY], text)
        w.log_guard([logged])
        if also is not None:
            also(w, logged, held.alert)
    _logger.warning("suspension of %s lifted", actor)
    return Lifted(actor, by, now_us, text, held.alert)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of an actor's suspensions: ``suspended`` or ``lifted``, when, by whom, why."""

    at_us: int
    kind: str
    by: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"at": iso(self.at_us), "kind": self.kind, "by": self.by, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Suspension:
    """An actor's suspension as the API, the CLI and the console show it: the latest one (in
    force unless ``lifted_us``) and every suspension step in ``guard_log``, oldest first."""

    row: SuspensionRow
    history: tuple[Step, ...]

    @property
    def active(self) -> bool:
        """Whether it is in force."""
        return self.row.lifted_us is None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        r = self.row
        return {
            "active": self.active,
            "since": iso(r.since_us),
            "by": r.suspended_by,
            "alert": r.alert,
            "reason": r.reason,
            "lifted": None if r.lifted_us is None else iso(r.lifted_us),
            "lifted_by": r.lifted_by,
            "lift_reason": r.lift_reason,
            "history": [s.to_dict() for s in self.history],
        }


_KINDS: Final = ("suspended", "lifted")


def suspension_of(store: Store, actor: str) -> Suspension | None:
    """``actor``'s latest suspension and its history; ``None`` if never suspended."""
    row = store.suspension(actor)
    if row is None:
        return None
    steps = [
        Step(s.at_us, s.kind, s.done_by, s.reason)
        for s in store.guard_log([actor])
        if s.kind in _KINDS
    ]
    steps.sort(key=lambda s: (s.at_us, _KINDS.index(s.kind)))  # at one instant: suspended first
    return Suspension(row, tuple(steps))
