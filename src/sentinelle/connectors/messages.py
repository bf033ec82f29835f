"""What Sentinelle sends out (docs/connectors.md, "Alerts out"): the messages every destination
renders — a webhook as OCSF JSON or one Slack line, syslog as an RFC 5424 frame, e-mail as a
plain-text message.

* :class:`AlertMessage`: an alert of medium severity or more (its content read from the store
  when sent, so a retry sends the alert as it stands);
* :class:`SuspensionMessage`: an actor suspended by the automatic response, or that suspension
  lifted by a responder (:mod:`sentinelle.guard.respond`);
* :class:`DeadlineMessage`: the 72-hour clock of GDPR Art. 33(1) of an incident whose
  authority notification is not recorded, 24 hours and 6 hours before the deadline and once it
  has passed (:class:`~sentinelle.incidents.model.Clock`).

Each carries identifiers only — alert, incident, staff actor, detector, merchants — and
sentences Sentinelle wrote, never customers' data nor free text people typed (a lift's reason,
an incident's title): those stay in Sentinelle, behind its access control.

The OCSF shapes (schema 1.1.0): an alert is a Detection Finding (class 2004, activity Create);
a suspension an Account Change (class 3001) of activity Lock (9), its lift one of activity
Other (99) named ``Unlock`` (1.1.0 has no Unlock activity); a deadline warning an Incident
Finding (class 2005) of activity Update (2).
"""

from __future__ import annotations

import abc
import enum
import json
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from sentinelle.detect.base import Alert, Severity
from sentinelle.errors import StoreError
from sentinelle.timeutil import HOUR, iso

__all__ = [
    "AlertMessage",
    "DeadlineMessage",
    "Kind",
    "Message",
    "Stage",
    "SuspensionMessage",
    "message_from_facts",
]

OCSF_VERSION: Final = "1.1.0"
# OCSF severity_id and its caption for Sentinelle's levels (1 low: informational).
_OCSF_SEVERITY: Final = {
    1: (1, "Informational"),
    2: (3, "Medium"),
    3: (4, "High"),
    4: (5, "Critical"),
}
_PRODUCT: Final = {"name": "Sentinelle", "vendor_name": "Sentinelle"}


class Kind(enum.StrEnum):
    """What a message is about. ALERT: an alert of medium severity or more. SUSPENDED: an
    actor suspended by the automatic response. LIFTED: that suspension lifted. DEADLINE: an
    incident's 72-hour deadline to notify the authority is near or has passed."""

    ALERT = "alert"
    SUSPENDED = "suspended"
    LIFTED = "lifted"
    DEADLINE = "deadline"


class Stage(enum.StrEnum):
    """Which deadline warning: 24 hours before, 6 hours before, or passed. Each has the level
    its messages carry (medium, high, critical) and the time before the deadline it is due."""

    HOURS_24 = "24h"
    HOURS_6 = "6h"
    PASSED = "passed"

    @property
    def before_us(self) -> int:
        """How long before the deadline the warning is due (0: once it has passed)."""
        return {Stage.HOURS_24: 24 * HOUR, Stage.HOURS_6: 6 * HOUR, Stage.PASSED: 0}[self]

    @property
    def level(self) -> Severity:
        """The level of its messages."""
        return {
            Stage.HOURS_24: Severity.MEDIUM,
            Stage.HOURS_6: Severity.HIGH,
            Stage.PASSED: Severity.CRITICAL,
        }[self]


class Message(abc.ABC):
    """One message, whatever the destination: its id (the delivery key's first part), kind,
    time, level and the parts each destination renders."""

    @property
    @abc.abstractmethod
    def kind(self) -> Kind:
        """What it is about."""

    @property
    @abc.abstractmethod
    def id(self) -> str:
        """Unique among all messages: the alert's id, the guard log step's, or the warning's."""

    @property
    @abc.abstractmethod
    def time_us(self) -> int:
        """When what it reports happened."""

    @property
    @abc.abstractmethod
    def level(self) -> Severity:
        """How urgent it is, on Sentinelle's scale (low: for information)."""

    @abc.abstractmethod
    def line(self) -> str:
        """One line for people (a Slack message, an e-mail's first line)."""

    @abc.abstractmethod
    def subject(self) -> str:
        """A short title (an e-mail's subject)."""

    @abc.abstractmethod
    def body(self) -> list[str]:
        """The sentences of a longer text (an e-mail's body), after :meth:`line`."""

    @abc.abstractmethod
    def fields(self) -> list[tuple[str, str]]:
        """The identifiers it carries, ``(name, value)`` (syslog structured data, e-mail)."""

    @abc.abstractmethod
    def ocsf(self) -> dict[str, Any]:
        """The OCSF event (see the module docstring for the classes)."""

    @abc.abstractmethod
    def link(self) -> str:
        """Its page under the console's address (``/alerts/ID``, ``/incidents/ID``, …)."""

    def facts(self) -> str | None:
        """What the delivery row keeps (JSON) to build it again when sent; ``None`` for an
        alert, read from the store instead."""
        return None


def _ms(us: int) -> int:
    return us // 1000


def _base(
    class_uid: int, category: tuple[int, str], activity: tuple[int, str], level: int
) -> dict[str, Any]:
    severity_id, severity = _OCSF_SEVERITY.get(level, (0, "Unknown"))
    return {
        "class_uid": class_uid,
        "category_uid": category[0],
        "category_name": category[1],
        "activity_id": activity[0],
        "activity_name": activity[1],
        "type_uid": class_uid * 100 + activity[0],
        "severity_id": severity_id,
        "severity": severity,
        "metadata": {"product": dict(_PRODUCT), "version": OCSF_VERSION},
    }


@dataclass(frozen=True, slots=True)
class AlertMessage(Message):
    """An alert of medium severity or more, as stored when it is sent."""

    alert: Alert

    @property
    def kind(self) -> Kind:
        return Kind.ALERT

    @property
    def id(self) -> str:
        return self.alert.id

    @property
    def time_us(self) -> int:
        return self.alert.last_us

    @property
    def level(self) -> Severity:
        return Severity(self.alert.severity)

    def line(self) -> str:
        a = self.alert
        reason = a.reasons[0] if a.reasons else ""
        return (
            f"Sentinelle {str(self.level).upper()} alert: {a.actor} ({a.detector}): {reason} "
            f"[alert {a.id}]"
        )

    def subject(self) -> str:
        a = self.alert
        return f"Sentinelle {str(self.level).upper()} alert: {a.actor} ({a.detector})"

    def body(self) -> list[str]:
        a = self.alert
        return [
            *a.reasons,
            f"First seen {iso(a.time_us)}, last {iso(a.last_us)}; score {round(a.score, 1)}.",
            f"Merchants: {', '.join(a.merchants) or 'none'}.",
        ]

    def fields(self) -> list[tuple[str, str]]:
        a = self.alert
        return [
            ("alert", a.id),
            ("actor", a.actor),
            ("detector", a.detector),
            ("severity", str(self.level)),
            ("merchants", ",".join(a.merchants)),
        ]

    def link(self) -> str:
        return f"/alerts/{self.alert.id}"

    def ocsf(self) -> dict[str, Any]:
        """The alert as an OCSF Detection Finding (class_uid 2004, activity Create)."""
        a = self.alert
        return {
            **_base(2004, (2, "Findings"), (1, "Create"), int(a.severity)),
            "class_name": "Detection Finding",
            "time": _ms(a.time_us),
            "finding_info": {
                "uid": a.id,
                "title": f"{a.detector}: {a.actor}",
                "desc": " ".join(a.reasons),
                "types": [a.detector],
                "created_time": _ms(a.time_us),
                "modified_time": _ms(a.last_us),
            },
            "actor": {"user": {"uid": a.actor}},
            "unmapped": {"merchants": list(a.merchants), "score": round(a.score, 1)},
        }


@dataclass(frozen=True, slots=True)
class SuspensionMessage(Message):
    """An actor suspended by the automatic response (``lifted`` false: ``by`` is
    ``sentinelle``, ``alert`` the alert it acted on, with its detector and level), or that
    suspension lifted by ``by`` (the lift's reason is not carried: people typed it)."""

    step: str  # the guard log step's id: the message's
    actor: str
    at_us: int
    by: str
    lifted: bool
    alert: str | None = None
    detector: str | None = None
    severity: int | None = None

    @property
    def kind(self) -> Kind:
        """SUSPENDED or LIFTED."""
        return Kind.LIFTED if self.lifted else Kind.SUSPENDED

    @property
    def id(self) -> str:
        return self.step

    @property
    def time_us(self) -> int:
        return self.at_us

    @property
    def level(self) -> Severity:
        if self.lifted:
            return Severity.LOW
        return Severity(self.severity) if self.severity else Severity.HIGH

    def _cause(self) -> str:
        if self.alert is None:
            return ""
        extra = ", ".join(str(x) for x in (self.detector, self._severity_name()) if x)
        return f"alert {self.alert}" + (f" ({extra})" if extra else "")

    def _severity_name(self) -> str | None:
        return str(Severity(self.severity)) if self.severity else None

    def line(self) -> str:
        if self.lifted:
            on = f" (it followed {self._cause()})" if self.alert else ""
            return (
                f"Sentinelle: the suspension of {self.actor} was lifted by {self.by}{on} "
                f"[lifted {self.step}]"
            )
        return (
            f"Sentinelle suspended {self.actor} pending review: {self._cause() or 'an alert'} "
            f"[suspension {self.step}]"
        )

    def subject(self) -> str:
        if self.lifted:
            return f"Sentinelle: suspension of {self.actor} lifted"
        return f"Sentinelle suspended {self.actor} pending review"

    def body(self) -> list[str]:
        when = iso(self.at_us)
        if self.lifted:
            return [
                f"Lifted at {when} by {self.by}; the reason is recorded in Sentinelle.",
                f"From now on the guard decides on {self.actor}'s requests by the policy again; "
                "the grants revoked at the suspension stay revoked.",
            ]
        return [
            f"Suspended at {when} by the automatic response: every request of {self.actor} to "
            "read customer data is denied until a responder lifts the suspension, and their "
            "live grants were revoked.",
            "Review the alert, then lift the suspension or escalate it (sentinelle suspensions "
            "lift, or the actor's page in the console).",
        ]

    def fields(self) -> list[tuple[str, str]]:
        found = [("actor", self.actor), ("step", self.step), ("by", self.by)]
        if self.alert is not None:
            found.append(("alert", self.alert))
        if self.detector is not None:
            found.append(("detector", self.detector))
        found.append(("severity", str(self.level)))
        return found

    def link(self) -> str:
        return f"/actors/{self.actor}"

    def ocsf(self) -> dict[str, Any]:
        """An OCSF Account Change (class_uid 3001): activity Lock (9) for a suspension,
        Other (99) named ``Unlock`` for its lift."""
        activity = (99, "Unlock") if self.lifted else (9, "Lock")
        return {
            **_base(3001, (3, "Identity & Access Management"), activity, int(self.level)),
            "class_name": "Account Change",
            "time": _ms(self.at_us),
            "status_id": 1,
            "status": "Success",
            "message": self.line(),
            "user": {"uid": self.actor},
            "actor": {"user": {"uid": self.by}},
            "unmapped": {
                "suspension_step": self.step,
                "alert": self.alert,
                "detector": self.detector,
            },
        }

    def facts(self) -> str:
        return _facts(self)


# An incident's state → OCSF Incident Finding status_id (closed incidents are not warned).
_INCIDENT_STATUS: Final = {
    "open": (1, "New"),
    "assessed": (2, "In Progress"),
    "notifying": (2, "In Progress"),
}


@dataclass(frozen=True, slots=True)
class DeadlineMessage(Message):
    """An incident's 72-hour deadline (GDPR Art. 33(1)) near or passed, with no initial
    notification to the authority recorded: ``stage`` says which warning, ``at_us`` when it
    was found due, ``state`` the incident's state then, ``required`` its assessment's answer
    (``None``: not assessed; the clock runs either way)."""

    incident: str
    stage: Stage
    deadline_us: int
    aware_us: int
    at_us: int
    state: str
    required: bool | None = None

    @property
    def kind(self) -> Kind:
        return Kind.DEADLINE

    @staticmethod
    def id_for(incident: str, stage: Stage) -> str:
        """The message id of ``incident``'s warning at ``stage``: one each, ever."""
        return f"deadline-{stage.value}-{incident}"

    @property
    def id(self) -> str:
        return self.id_for(self.incident, self.stage)

    @property
    def time_us(self) -> int:
        return self.at_us

    @property
    def level(self) -> Severity:
        return self.stage.level

    def _left(self) -> str:
        from sentinelle.incidents.model import span

        return span(self.deadline_us - self.at_us)

    def line(self) -> str:
        due = iso(self.deadline_us)
        if self.stage is Stage.PASSED:
            return (
                f"Sentinelle: the 72-hour deadline {due} to notify the supervisory authority of "
                f"incident {self.incident} has passed, with no notification recorded "
                f"[deadline {self.stage.value} {self.incident}]"
            )
        return (
            f"Sentinelle: notify the supervisory authority of incident {self.incident} by {due} "
            f"(GDPR Art. 33(1)): {self._left()} left [deadline {self.stage.value} {self.incident}]"
        )

    def subject(self) -> str:
        if self.stage is Stage.PASSED:
            return f"Sentinelle: 72-hour deadline passed for incident {self.incident}"
        return (
            f"Sentinelle: {self._left()} left to notify the authority of incident {self.incident}"
        )

    def body(self) -> list[str]:
        found = [
            f"Aware since {iso(self.aware_us)}: the authority must be notified without undue "
            f"delay and no later than {iso(self.deadline_us)}, weekends and holidays included.",
        ]
        record = (
            f"sentinelle incident notified {self.incident} --phase initial, or the incident's "
            "page in the console"
        )
        if self.stage is Stage.PASSED:
            found.append(
                "Notify now, and give the reasons for the delay with the notification; record "
                f"it in Sentinelle ({record})."
            )
        else:
            found.append(
                f"Once sent, record it in Sentinelle ({record}): no further warning then goes out."
            )
        if self.required is None:
            found.append(
                "The incident is not assessed yet: assess it to know whether the duty applies."
            )
        return found

    def fields(self) -> list[tuple[str, str]]:
        return [
            ("incident", self.incident),
            ("stage", self.stage.value),
            ("deadline", iso(self.deadline_us)),
            ("aware", iso(self.aware_us)),
            ("severity", str(self.level)),
        ]

    def link(self) -> str:
        return f"/incidents/{self.incident}"

    def ocsf(self) -> dict[str, Any]:
        """An OCSF Incident Finding (class_uid 2005), activity Update (2). Sentinelle does not
        know who handles the incident: ``assignee`` is left out."""
        status_id, status = _INCIDENT_STATUS.get(self.state, (99, self.state))
        return {
            **_base(2005, (2, "Findings"), (2, "Update"), int(self.level)),
            "class_name": "Incident Finding",
            "time": _ms(self.at_us),
            "status_id": status_id,
            "status": status,
            "desc": self.line(),
            "is_suspected_breach": True,
            "finding_info_list": [
                {
                    "uid": self.incident,
                    "title": "GDPR Art. 33(1): notify the supervisory authority within 72 hours",
                    "types": [f"gdpr_art33_deadline_{self.stage.value}"],
                    "created_time": _ms(self.aware_us),
                }
            ],
            "unmapped": {
                "stage": self.stage.value,
                "deadline": iso(self.deadline_us),
                "aware_at": iso(self.aware_us),
                "notification_required": self.required,
            },
        }

    def facts(self) -> str:
        return _facts(self)


def _facts(message: SuspensionMessage | DeadlineMessage) -> str:
    # Every field, by name (sorted): message_from_facts decodes them back into the same type.
    return json.dumps(msgspec.to_builtins(message), sort_keys=True)


#: The type each kind kept as facts decodes to (an alert is read from the store instead).
_KEPT: Final[dict[str, type[SuspensionMessage] | type[DeadlineMessage]]] = {
    Kind.SUSPENDED: SuspensionMessage,
    Kind.LIFTED: SuspensionMessage,
    Kind.DEADLINE: DeadlineMessage,
}


def message_from_facts(kind: str, facts: str | None) -> Message:
    """The message a delivery row keeps (not an alert: see :meth:`Message.facts`).

    Raises :class:`~sentinelle.errors.StoreError` for a kind or facts that do not decode.
    """
    found = _KEPT.get(kind)
    if found is None:
        raise StoreError(f"a delivery has the unknown kind {kind!r}")
    try:
        return msgspec.json.decode(facts or "", type=found)
    except msgspec.DecodeError as exc:  # ValidationError among them: a field of the wrong type
        raise StoreError(
            f"a delivery of kind {kind!r} has facts that do not decode ({exc})"
        ) from None
