"""Out where teams already look: alerts, suspensions and 72-hour deadline warnings to webhooks,
syslog and e-mail, exactly once per message and destination (docs/connectors.md, "Alerts out").

**Messages** (:mod:`sentinelle.connectors.messages`): every alert of medium severity or more,
queued in live detection's own transaction (:func:`queue`, ``DetectionRunner(also=…)``); an
actor suspended by the automatic response and that suspension lifted, queued in the
suspension's or the lift's own transaction (:func:`guard_hook`, passed to
:func:`sentinelle.guard.respond.respond` and :func:`~sentinelle.guard.respond.lift`); an
incident's 72-hour deadline warnings, 24 h and 6 h before and once passed, queued by the
due-check :func:`queue_deadlines` (after every batch, and by ``sentinelle outbound deliver``).

**Destinations**: ``SENTINELLE_ALERT_WEBHOOKS`` (``NAME=URL``; ``slack:URL`` for a
Slack-compatible webhook), ``SENTINELLE_ALERT_SYSLOG`` (``NAME=udp|tcp|tls://HOST[:PORT]``,
:mod:`sentinelle.connectors.syslog`) and ``SENTINELLE_ALERT_EMAILS`` (``NAME=ADDRESS``,
:mod:`sentinelle.connectors.mail_out`). Names are unique across the three.

**Exactly once.** Each message has one row per destination in ``outbound_deliveries``
(``INSERT … ON CONFLICT DO NOTHING``: a message queued again is not queued twice).
:func:`deliver_due` sends the due rows, following the lease idea of
:mod:`sentinelle.notify.delivery`: under the store's write lock a row is marked ``sending``
(committed, leased for :data:`LEASE_SECONDS`) before it is sent, and ``delivered`` after the
destination took it, so two processes never send the same row at once. A failure is retried
with exponential backoff (``min(2^attempts, 3600)`` s plus up to 10 % jitter) and given up after
:data:`MAX_ATTEMPTS` (``failed``); every outcome is recorded on the row, errors by their type
or status only (a URL or an SMTP reply may hold a token or an address). A deadline warning whose
incident got its authority notification recorded (or was closed) before it could go is not
sent: its row becomes ``obsolete``.

JSON webhooks receive the message's OCSF event signed with HMAC-SHA256
(``X-Sentinelle-Signature: sha256=<hex>``, keyed by ``SENTINELLE_ALERT_WEBHOOK_SECRET``);
Slack-compatible ones a ``{"text": …}`` line. Every destination gets the delivery key
``<message id>:<destination>`` (``X-Sentinelle-Delivery``; syslog's ``delivery`` parameter; the
e-mail's header and Message-ID), the same on every attempt: the receiver's idempotency key for
the rare resend after a run died between sending and recording it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from sentinelle.connectors.mail_out import DELIVERY_HEADER, MailSession, MailTarget
from sentinelle.connectors.messages import (
    AlertMessage,
    DeadlineMessage,
    Kind,
    Message,
    Stage,
    SuspensionMessage,
    message_from_facts,
)
from sentinelle.connectors.syslog import SyslogConnection, SyslogTarget
from sentinelle.errors import ConfigError, Error
from sentinelle.store.deliveries import DeliveryRow, DeliveryState, Queued

if TYPE_CHECKING:
    import httpx

    from sentinelle.config import Settings
    from sentinelle.detect import Alert
    from sentinelle.incidents.model import Incident, LogEntry
    from sentinelle.store import Store, Writer
    from sentinelle.store.guardlog import GuardLogRow

__all__ = [
    "DELIVERY_HEADER",
    "MAX_ATTEMPTS",
    "SIGNATURE_HEADER",
    "Delivered",
    "Destinations",
    "Round",
    "GuardHook",
    "Webhook",
    "deadline_warnings",
    "deliver_due",
    "enqueue",
    "guard_hook",
    "parse_mail",
    "parse_syslog",
    "parse_webhooks",
    "queue",
    "queue_deadlines",
    "queue_messages",
    "send_round",
    "sign",
]

_logger = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-Sentinelle-Signature"
MAX_ATTEMPTS: Final = 10
LEASE_SECONDS: Final = 300
TIMEOUT_SECONDS: Final = 5.0
_CLAIM: Final = 10  # rows per claim: 10 sends of at most 5 s each fit well in the lease
_MAX_BACKOFF_SECONDS: Final = 3600
_SECOND_US: Final = 1_000_000
_SPLIT_RE: Final = re.compile(r"[\s,]+")
_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_URL_RE: Final = re.compile(r"https?://[^\s/?#@]+(@[^\s/?#@]+)?(/[^\s#]*)?")
#: Seconds since a delivery run began, for its leases (tests replace it).
_monotonic: Callable[[], float] = time.monotonic

#: What a suspension or a lift hands the outbound queue, in its own transaction: the writer,
#: its ``guard_log`` step, and the alert it was on (``None``: none recorded).
GuardHook = Callable[["Writer", "GuardLogRow", "str | None"], object]


@dataclass(frozen=True, slots=True)
class Webhook:
    """One destination: its ``name`` (the key of its deliveries), URL, and whether it is
    Slack-compatible (``{"text": …}``) rather than signed OCSF JSON."""

    name: str
    url: str
    slack: bool

    @classmethod
    def parse(cls, name: str, url: str) -> Webhook:
        """One item of ``SENTINELLE_ALERT_WEBHOOKS``, split at its ``=``: ``("soc",
        "https://siem.example/hook")`` or ``("chat", "slack:https://hooks.example/T1")``.

        Raises :class:`ConfigError` naming the item when the URL is not http(s).
        """
        slack = url.startswith("slack:")
        url = url.removeprefix("slack:")
        if not _URL_RE.fullmatch(url):
            raise ConfigError(f"alert_webhooks item {name!r}: the URL must be http:// or https://")
        return cls(name, url, slack)


def parse_webhooks(text: str) -> list[Webhook]:
    """The webhooks of ``SENTINELLE_ALERT_WEBHOOKS``. Raises :class:`ConfigError` on a
    malformed item or a name listed twice."""
    return [Webhook.parse(n, v) for n, v in _items("alert_webhooks", text, "URL")]


def parse_syslog(text: str) -> list[SyslogTarget]:
    """The destinations of ``SENTINELLE_ALERT_SYSLOG``. Raises :class:`ConfigError` on a
    malformed item or a name listed twice."""
    shape = "udp|tcp|tls://HOST[:PORT]"
    return [SyslogTarget.parse(n, v) for n, v in _items("alert_syslog", text, shape)]


def parse_mail(text: str) -> list[MailTarget]:
    """The destinations of ``SENTINELLE_ALERT_EMAILS``. Raises :class:`ConfigError` on a
    malformed item or a name listed twice."""
    return [MailTarget.parse(n, v) for n, v in _items("alert_emails", text, "ADDRESS")]


def _items(setting: str, text: str, shape: str) -> list[tuple[str, str]]:
    """The NAME=VALUE items of a destinations setting, separated by spaces or commas, each
    split at its first ``=``. Raises :class:`ConfigError` naming a malformed item, or a name
    listed twice."""
    found = []
    for item in _SPLIT_RE.split(text.strip()):
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or not _NAME_RE.fullmatch(name):
            raise ConfigError(
                f"{setting} item {_shown(item)!r} is not NAME={shape} (NAME: letters, digits, "
                "'_', '.', '-')"
            )
        found.append((name, value))
    _unique(setting, [name for name, _ in found])
    return found


def _unique(what: str, names: list[str]) -> None:
    if twice := sorted({n for n in names if names.count(n) > 1}):
        raise ConfigError(f"{what} lists the name {', '.join(twice)} twice")


def _shown(item: str) -> str:
    # An item's value may carry a token (Slack's URLs are secrets): error messages show its
    # name only.
    return item.partition("=")[0] + ("=…" if "=" in item else "")


@dataclass(frozen=True, slots=True)
class Destinations:
    """Every configured destination, by kind; their names are unique across kinds."""

    webhooks: list[Webhook] = field(default_factory=list)
    syslog: list[SyslogTarget] = field(default_factory=list)
    mail: list[MailTarget] = field(default_factory=list)

    @classmethod
    def parse(cls, *, webhooks: str = "", syslog: str = "", mail: str = "") -> Destinations:
        """From the three settings' text. Raises :class:`ConfigError` naming a bad item, or a
        name used twice."""
        found = cls(parse_webhooks(webhooks), parse_syslog(syslog), parse_mail(mail))
        _unique("the alert destinations (webhooks, syslog, e-mails)", found.names)
        return found

    @classmethod
    def from_settings(cls, settings: Settings) -> Destinations:
        """The destinations of ``settings`` (already validated when they were built)."""
        return cls.parse(
            webhooks=settings.alert_webhooks,
            syslog=settings.alert_syslog,
            mail=settings.alert_emails,
        )

    @property
    def names(self) -> list[str]:
        """Every destination's name."""
        return [
            *(w.name for w in self.webhooks),
            *(s.name for s in self.syslog),
            *(m.name for m in self.mail),
        ]

    def __bool__(self) -> bool:
        return bool(self.webhooks or self.syslog or self.mail)


def configured(settings: Settings) -> bool:
    """Whether any destination is configured (nothing is queued otherwise)."""
    return bool(settings.alert_webhooks or settings.alert_syslog or settings.alert_emails)


@dataclass(frozen=True, slots=True)
class Delivered:
    """What one :func:`deliver_due` run did: rows delivered, to retry later, given up, and
    deadline warnings not sent because their incident was notified or closed first."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    obsolete: int = 0

    def to_dict(self) -> dict[str, int]:
        """The JSON form."""
        return {
            "delivered": self.delivered,
            "retrying": self.retrying,
            "failed": self.failed,
            "obsolete": self.obsolete,
        }


@dataclass(frozen=True, slots=True)
class Round:
    """What one :func:`send_round` did: deadline warnings queued (rows), then what was sent."""

    warned: int
    sent: Delivered

    def to_dict(self) -> dict[str, int]:
        """The JSON form: :meth:`Delivered.to_dict` and ``deadline_warnings_queued``."""
        return {**self.sent.to_dict(), "deadline_warnings_queued": self.warned}


def send_round(store: Store, settings: Settings, *, now_us: int, deadlines: bool = True) -> Round:
    """One round of the alert destinations: queue the deadline warnings due at ``now_us``
    (:func:`queue_deadlines`; not with ``deadlines`` false, as right after a batch, whose
    :func:`sentinelle.live.after_batch` queued them at its own clock), then send every delivery
    due (:func:`deliver_due`). What ``sentinelle outbound deliver``, the API server's rounds and
    the delivery after an events batch all run.

    Raises :class:`ConfigError` if httpx (the ``client`` extra) is missing for a webhook.
    """
    warned = queue_deadlines(store, settings, now_us=now_us) if deadlines else 0
    return Round(warned, deliver_due(store, settings, now_us))


# -- queueing ----------------------------------------------------------------------------------


def enqueue(store: Store, settings: Settings, alerts: Sequence[Alert], *, now_us: int) -> int:
    """Queue each alert of medium severity or more for every configured destination, once per
    (alert, destination) ever; returns how many rows were new."""
    with store.writer() as w:
        return queue(w, settings, alerts, now_us=now_us)


def queue(w: Writer, settings: Settings, alerts: Sequence[Alert], *, now_us: int) -> int:
    """:func:`enqueue` in the transaction of ``w`` (live detection's own, so an alert is
    queued exactly when it is stored)."""
    from sentinelle.detect import Severity

    medium = [Queued(a.id, Kind.ALERT) for a in alerts if a.severity >= Severity.MEDIUM]
    return queue_messages(w, settings, medium, now_us=now_us)


def queue_messages(
    w: Writer, settings: Settings, messages: Sequence[Queued], *, now_us: int
) -> int:
    """Queue ``messages`` for every configured destination in the transaction of ``w``, once
    per (message, destination) ever; returns how many rows were new."""
    names = Destinations.from_settings(settings).names if messages else []
    return w.enqueue_deliveries(messages, names, at_us=now_us) if names else 0


def guard_hook(store: Store, settings: Settings) -> GuardHook | None:
    """What :func:`~sentinelle.guard.respond.respond` and :func:`~sentinelle.guard.respond.lift`
    call in their transaction to queue a ``suspended`` or ``lifted`` step; ``None`` when no
    destination is configured."""
    if not configured(settings):
        return None

    def hook(w: Writer, step: GuardLogRow, alert_id: str | None) -> None:
        detector, severity = None, None
        found = store.alert(alert_id) if alert_id else None
        if found is not None:
            detector, severity = found.detector, int(found.severity)
        message = SuspensionMessage(
            step=step.id,
            actor=step.subject,
            at_us=step.at_us,
            by=step.done_by,
            lifted=step.kind == "lifted",
            alert=alert_id,
            detector=detector,
            severity=severity,
        )
        queue_messages(w, settings, [_queued(message)], now_us=step.at_us)

    return hook


def _queued(message: Message) -> Queued:
    return Queued(message.id, message.kind.value, message.facts())


def deadline_warnings(
    store: Store, *, now_us: int, incident: str | None = None
) -> list[DeadlineMessage]:
    """The deadline warnings due at ``now_us`` (of ``incident`` only, if given): for each
    incident not closed whose 72-hour clock runs or is overdue (awareness recorded, no initial
    notification to the authority, the assessment does not say none is required), the latest
    stage reached — passed once the deadline is behind, else 6 h or 24 h before it. A stage
    skipped (the check did not run in time, or awareness was recorded late) is not sent
    afterwards: the later warning says more."""
    from sentinelle.incidents.model import AUTHORITY_NOTIFIED, Incident, LogEntry

    rows, log_rows = store.deadline_watch(AUTHORITY_NOTIFIED, incident)
    notified: dict[str, list[LogEntry]] = {}
    for r in log_rows:  # the clock reads the authority notifications only
        notified.setdefault(r.incident, []).append(LogEntry.from_row(r))
    found = []
    for row in rows:
        warning = _warning(Incident.from_row(row), notified.get(row.id, []), now_us=now_us)
        if warning is not None:
            found.append(warning)
    return found


def _warning(incident: Incident, log: list[LogEntry], *, now_us: int) -> DeadlineMessage | None:
    from sentinelle.incidents.model import Clock, ClockStatus

    if incident.aware_us is None:
        return None
    clock = Clock.of(incident, log, now_us=now_us)
    if clock.status not in (ClockStatus.RUNNING, ClockStatus.OVERDUE):
        return None
    deadline = clock.deadline_us
    assert deadline is not None  # noqa: S101  (a running clock has one)
    if now_us > deadline:
        stage = Stage.PASSED
    elif now_us >= deadline - Stage.HOURS_6.before_us:
        stage = Stage.HOURS_6
    elif now_us >= deadline - Stage.HOURS_24.before_us:
        stage = Stage.HOURS_24
    else:
        return None
    return DeadlineMessage(
        incident=incident.id,
        stage=stage,
        deadline_us=deadline,
        aware_us=incident.aware_us,
        at_us=now_us,
        state=incident.state.value,
        required=clock.required,
    )


def queue_deadlines(store: Store, settings: Settings, *, now_us: int) -> int:
    """Queue the deadline warnings due at ``now_us`` (:func:`deadline_warnings`) for every
    destination, once per (warning, destination) ever; returns how many rows were new.

    Idempotent and safe from several processes at once: the rows already queued are read first
    (most runs end there, without the write lock); what is new is decided again and inserted
    under the write lock, where a notification recorded meanwhile is seen.
    """
    names = Destinations.from_settings(settings).names
    if not names:
        return 0
    due = deadline_warnings(store, now_us=now_us)
    queued = store.queued_pairs([m.id for m in due])
    if all((m.id, n) in queued for m in due for n in names):
        return 0
    with store.writer() as w:
        due = deadline_warnings(store, now_us=now_us)
        return w.enqueue_deliveries([_queued(m) for m in due], names, at_us=now_us)


# -- delivery ----------------------------------------------------------------------------------


def deliver_due(
    store: Store,
    settings: Settings,
    now_us: int | None = None,
    *,
    client: httpx.Client | None = None,
) -> Delivered:
    """Send every delivery due at ``now_us`` (default: now) and record each outcome.

    Raises :class:`ConfigError` if httpx (the ``client`` extra) is missing for a webhook.
    """
    from sentinelle.timeutil import now_us as wall_clock_us

    now = wall_clock_us() if now_us is None else now_us
    started = _monotonic()
    counts = dict.fromkeys(DeliveryState, 0)
    channels = _Channels(settings, client)
    try:
        while True:
            # Each claim is held for the lease from when it is made, not from when the run
            # began: else a run sending for longer than the lease claimed rows already free
            # to another run, which sent them too.
            held = LEASE_SECONDS * _SECOND_US + int((_monotonic() - started) * _SECOND_US)
            with store.writer() as w:
                claimed = w.claim_deliveries(
                    now_us=now, lease_us=held, limit=_CLAIM, destinations=channels.names
                )
            if not claimed:
                break
            for row in claimed:
                found = _message(store, row, now_us=now)
                obsolete = found is None
                try:
                    error = None if found is None else channels.send(row, found)
                except ConfigError:  # no httpx: the run's, not a row's
                    raise
                except Exception as exc:  # any other failure is this row's attempt
                    # Not the whole run's: that left the row and the rest of its claim
                    # "sending", and failed the next run again, for ever.
                    error = type(exc).__name__
                if obsolete:
                    state, next_at, done = DeliveryState.OBSOLETE, now, None
                    error = "obsolete: the authority notification was recorded first"
                elif error is None:
                    state, next_at, done = DeliveryState.DELIVERED, now, now
                elif row.attempts >= MAX_ATTEMPTS:
                    state, next_at, done = DeliveryState.FAILED, now, None
                else:
                    state, next_at, done = DeliveryState.PENDING, now + _backoff(row.attempts), None
                with store.writer() as w:
                    recorded = w.finish_delivery(
                        row.message,
                        row.destination,
                        state=state,
                        last_error=error,
                        next_at_us=next_at,
                        delivered_us=done,
                        attempts=row.attempts,
                    )
                if not recorded:  # held too long: another run claimed it since, and says
                    _logger.info("%s to %s: claimed again meanwhile", row.message, row.destination)
                    continue
                counts[state] += 1
                if error is not None and not obsolete:
                    _logger.warning(
                        "%s %s to %s: %s (attempt %d, %s)",
                        row.kind,
                        row.message,
                        row.destination,
                        error,
                        row.attempts,
                        state.value,
                    )
    finally:
        channels.close()
    return Delivered(
        delivered=counts[DeliveryState.DELIVERED],
        retrying=counts[DeliveryState.PENDING],
        failed=counts[DeliveryState.FAILED],
        obsolete=counts[DeliveryState.OBSOLETE],
    )


def _message(store: Store, row: DeliveryRow, *, now_us: int) -> Message | str | None:
    """The message of ``row``; a string says why there is none to send (an attempt failed);
    ``None`` when it should no longer be sent (a deadline warning whose incident was notified
    or closed since)."""
    from sentinelle.detect.runner import alert_from_row

    if row.kind == Kind.ALERT:
        found = store.alert(row.message)
        return "alert not found" if found is None else AlertMessage(alert_from_row(found))
    try:
        message = message_from_facts(row.kind, row.facts)
    except Error as exc:
        _logger.error("delivery %s: %s", row.message, exc.diagnostics())
        return "facts do not decode"
    if isinstance(message, DeadlineMessage) and not _still_due(store, message, now_us=now_us):
        return None
    return message


def _still_due(store: Store, message: DeadlineMessage, *, now_us: int) -> bool:
    return bool(deadline_warnings(store, now_us=now_us, incident=message.incident))


class _Channels:
    """The connections of one delivery run, opened on first use per destination."""

    def __init__(self, settings: Settings, client: httpx.Client | None) -> None:
        self.settings = settings
        found = Destinations.from_settings(settings)
        self.webhooks = {w.name: w for w in found.webhooks}
        self.syslog = {s.name: s for s in found.syslog}
        self.mail = {m.name: m for m in found.mail}
        secret = settings.alert_webhook_secret
        self.key = secret.get_secret_value().encode() if secret is not None else b""
        self.own_http = client is None
        # Built on first use: most runs (one after every ingested batch) find nothing due,
        # and an httpx.Client (its TLS context) costs ~20 ms to build.
        self.http = client
        self.sockets: dict[str, SyslogConnection] = {}
        self.session: MailSession | None = None

    @property
    def names(self) -> list[str]:
        """The destinations this run can send to: only their rows are claimed (a process
        configured without one leaves its rows pending for one that has it)."""
        return [*self.webhooks, *self.syslog, *self.mail]

    def send(self, row: DeliveryRow, message: Message | str) -> str | None:
        """Send ``message`` to ``row``'s destination: ``None`` once it took it, else what went
        wrong (never a URL, address or reply text)."""
        if isinstance(message, str):
            return message
        name, key = row.destination, f"{row.message}:{row.destination}"
        if name in self.webhooks:
            return self._post(self.webhooks[name], message, key)
        if name in self.syslog:
            return self._syslog(self.syslog[name], message, key)
        if name in self.mail:
            return self._mail(self.mail[name], message, key)
        return "destination not configured"

    def _post(self, hook: Webhook, message: Message, key: str) -> str | None:
        if self.http is None:
            self.http = _client()
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: key}
        if hook.slack:
            body = _json({"text": message.line()})
        else:
            body = _json(message.ocsf())
            headers[SIGNATURE_HEADER] = sign(body, self.key)
        try:
            answer = self.http.post(hook.url, content=body, headers=headers)
        except Exception as exc:  # any failure is retried; its type is recorded
            return type(exc).__name__
        return None if answer.is_success else f"HTTP {answer.status_code}"

    def _syslog(self, target: SyslogTarget, message: Message, key: str) -> str | None:
        from sentinelle.connectors.syslog import frame

        connection = self.sockets.get(target.name)
        if connection is None:
            connection = SyslogConnection(target, ca_file=self.settings.alert_syslog_ca)
            self.sockets[target.name] = connection
        data = frame(message, delivery=key, facility=target.facility, transport=target.transport)
        try:
            connection.send(data)
        except OSError as exc:
            return type(exc).__name__
        return None

    def _mail(self, target: MailTarget, message: Message, key: str) -> str | None:
        import smtplib

        from sentinelle.connectors.mail_out import error_text, mail_message

        sender = self.settings.notify_from or ""
        if self.session is None:
            from email.utils import parseaddr

            from sentinelle.notify.setup import smtp_config

            try:
                smtp = smtp_config(self.settings, sender=parseaddr(sender)[1])
                smtp.check()
                self.session = MailSession(smtp)
            except Error as exc:
                _logger.error("e-mail destinations: %s", exc.diagnostics())
                return "SMTP settings refused"
        mail = mail_message(
            message,
            sender=sender,
            to=target.address,
            delivery=key,
            console=self.settings.public_url,
        )
        try:
            self.session.send(mail, target.address)
        except (OSError, smtplib.SMTPException) as exc:
            return error_text(exc)
        return None

    def close(self) -> None:
        for connection in self.sockets.values():
            connection.close()
        if self.session is not None:
            self.session.close()
        if self.own_http and self.http is not None:
            self.http.close()


def _client() -> httpx.Client:
    try:
        import httpx
    except ImportError:  # pragma: no cover - the dev environment has it
        raise ConfigError("alert webhooks need httpx: pip install 'sentinelle[client]'") from None
    return httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)


def _backoff(attempts: int) -> int:
    """Microseconds until the next attempt: ``min(2^attempts, 3600)`` s plus up to 10 %."""
    delay = min(1 << min(attempts, 12), _MAX_BACKOFF_SECONDS) * _SECOND_US
    return delay + secrets.randbelow(delay // 10 + 1)


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: bytes, key: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``, the value of :data:`SIGNATURE_HEADER`."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
