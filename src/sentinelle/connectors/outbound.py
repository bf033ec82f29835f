"""Alerts out: every alert of medium severity or more to the teams' webhooks, exactly once.

Destinations are ``SENTINELLE_ALERT_WEBHOOKS`` (``NAME=URL`` items; ``slack:URL`` for a
Slack-compatible webhook). After live detection, :func:`enqueue` records one ``pending`` row
per (alert, destination) in ``alert_deliveries`` (``INSERT … ON CONFLICT DO NOTHING``: an alert
detected again, or raised further, is not queued twice). :func:`deliver_due` sends the due
rows, following the lease idea of :mod:`sentinelle.notify.delivery`: under the store's write
lock a row is marked ``sending`` (committed, leased for :data:`LEASE_SECONDS`) before its POST,
and ``delivered`` after a 2xx, so two processes never send the same row at once. A failure
(another status, or no answer within 5 s) is retried with exponential backoff
(``min(2^attempts, 3600)`` s plus up to 10 % jitter) and given up after
:data:`MAX_ATTEMPTS` (``failed``); every outcome is recorded on the row.

JSON webhooks receive an OCSF 1.1.0 Detection Finding (class 2004,
https://schema.ocsf.io/1.1.0/classes/detection_finding) signed with HMAC-SHA256
(``X-Sentinelle-Signature: sha256=<hex>``, keyed by ``SENTINELLE_ALERT_WEBHOOK_SECRET``);
Slack-compatible ones a ``{"text": …}`` line. Both carry ``X-Sentinelle-Delivery:
<alert id>:<destination>``, the same on every attempt: the receiver's idempotency key for the
rare resend after a run died between the POST and its record. Bodies hold identifiers (alert,
actor, merchants) and the alert's reasons, never customers' personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sentinelle.config import MIN_SECRET_CHARS
from sentinelle.errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from sentinelle.config import Settings
    from sentinelle.detect import Alert
    from sentinelle.store import Store, Writer

__all__ = [
    "DELIVERY_HEADER",
    "MAX_ATTEMPTS",
    "MIN_SECRET_CHARS",
    "SIGNATURE_HEADER",
    "Delivered",
    "Webhook",
    "deliver_due",
    "enqueue",
    "queue",
    "ocsf_finding",
    "parse_webhooks",
    "sign",
    "slack_message",
]

_logger = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-Sentinelle-Signature"
DELIVERY_HEADER: Final = "X-Sentinelle-Delivery"
MAX_ATTEMPTS: Final = 10
TIMEOUT_SECONDS: Final = 5.0
#: How long a run holds the rows it claimed: longer than it takes to POST one claim's rows.
LEASE_SECONDS: Final = 300
_CLAIM: Final = 10  # rows per claim: 10 POSTs of at most 5 s each fit well in the lease
_MAX_BACKOFF_SECONDS: Final = 3600
_SECOND_US: Final = 1_000_000
_SPLIT_RE: Final = re.compile(r"[\s,]+")
_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_URL_RE: Final = re.compile(r"https?://[^\s/?#@]+(@[^\s/?#@]+)?(/[^\s#]*)?")
# OCSF severity_id: 3 Medium, 4 High, 5 Critical (Sentinelle's 2, 3, 4).
_OCSF_SEVERITY: Final = {2: (3, "Medium"), 3: (4, "High"), 4: (5, "Critical")}


@dataclass(frozen=True, slots=True)
class Webhook:
    """One destination: its ``name`` (the key of its deliveries), URL, and whether it is
    Slack-compatible (``{"text": …}``) rather than signed OCSF JSON."""

    name: str
    url: str
    slack: bool

    @classmethod
    def parse(cls, item: str) -> Webhook:
        """``"soc=https://siem.example/hook"`` or ``"chat=slack:https://hooks.example/T1"``.

        Raises :class:`ConfigError` naming the item when it is not NAME=URL with an http(s) URL.
        """
        name, sep, url = item.partition("=")
        if not sep or not _NAME_RE.fullmatch(name):
            raise ConfigError(
                f"alert_webhooks item {_shown(item)!r} is not NAME=URL (NAME: letters, digits, "
                "'_', '.', '-')"
            )
        slack = url.startswith("slack:")
        url = url.removeprefix("slack:")
        if not _URL_RE.fullmatch(url):
            raise ConfigError(f"alert_webhooks item {name!r}: the URL must be http:// or https://")
        return cls(name, url, slack)


def parse_webhooks(text: str) -> list[Webhook]:
    """The webhooks of ``SENTINELLE_ALERT_WEBHOOKS`` (items separated by spaces or commas).

    Raises :class:`ConfigError` on a malformed item or a name listed twice.
    """
    found = [Webhook.parse(item) for item in _SPLIT_RE.split(text.strip()) if item]
    names = [w.name for w in found]
    if twice := sorted({n for n in names if names.count(n) > 1}):
        raise ConfigError(f"alert_webhooks lists the name {', '.join(twice)} twice")
    return found


def _shown(item: str) -> str:
    # An item's URL may carry a token (Slack's are secrets): error messages show its name only.
    return item.partition("=")[0] + ("=…" if "=" in item else "")


@dataclass(frozen=True, slots=True)
class Delivered:
    """What one :func:`deliver_due` run did: rows delivered, to retry later, given up."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def to_dict(self) -> dict[str, int]:
        """The JSON form."""
        return {"delivered": self.delivered, "retrying": self.retrying, "failed": self.failed}


def enqueue(store: Store, settings: Settings, alerts: Sequence[Alert], *, now_us: int) -> int:
    """Queue each alert of medium severity or more for every configured webhook, once per
    (alert, webhook) ever; returns how many rows were new."""
    with store.writer() as w:
        return queue(w, settings, alerts, now_us=now_us)


def queue(w: Writer, settings: Settings, alerts: Sequence[Alert], *, now_us: int) -> int:
    """:func:`enqueue` in the transaction of ``w`` (live detection's own, so an alert is
    queued exactly when it is stored)."""
    from sentinelle.detect import Severity

    hooks = parse_webhooks(settings.alert_webhooks)
    keys = [(a.id, h.name) for a in alerts if a.severity >= Severity.MEDIUM for h in hooks]
    return w.enqueue_deliveries(keys, at_us=now_us) if keys else 0


def deliver_due(
    store: Store,
    settings: Settings,
    now_us: int | None = None,
    *,
    client: httpx.Client | None = None,
) -> Delivered:
    """Send every delivery due at ``now_us`` (default: now) and record each outcome.

    Raises :class:`ConfigError` if httpx (the ``client`` extra) is missing.
    """
    from sentinelle.store.deliveries import DeliveryState
    from sentinelle.timeutil import now_us as wall_clock_us

    now = wall_clock_us() if now_us is None else now_us
    hooks = {h.name: h for h in parse_webhooks(settings.alert_webhooks)}
    secret = settings.alert_webhook_secret
    key = secret.get_secret_value().encode() if secret is not None else b""
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    # Built on the first row claimed: most runs (one after every ingested batch) find nothing
    # due, and an httpx.Client (its TLS context) costs ~20 ms to build.
    http = client
    try:
        while True:
            with store.writer() as w:
                claimed = w.claim_deliveries(
                    now_us=now, lease_us=LEASE_SECONDS * _SECOND_US, limit=_CLAIM
                )
            if not claimed:
                break
            if http is None:
                http = _client()
            for row in claimed:
                error = _send(store, http, hooks.get(row.destination), row.alert_id, key)
                if error is None:
                    state, next_at, done = DeliveryState.DELIVERED, now, now
                elif row.attempts >= MAX_ATTEMPTS:
                    state, next_at, done = DeliveryState.FAILED, now, None
                else:
                    state, next_at, done = DeliveryState.PENDING, now + _backoff(row.attempts), None
                with store.writer() as w:
                    w.finish_delivery(
                        row.alert_id,
                        row.destination,
                        state=state,
                        last_error=error,
                        next_at_us=next_at,
                        delivered_us=done,
                    )
                counts[{"delivered": "delivered", "pending": "retrying"}.get(state, "failed")] += 1
                if error is not None:
                    _logger.warning(
                        "alert %s to webhook %s: %s (attempt %d, %s)",
                        row.alert_id,
                        row.destination,
                        error,
                        row.attempts,
                        state.value,
                    )
    finally:
        if client is None and http is not None:
            http.close()
    return Delivered(**counts)


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


def _send(
    store: Store, http: httpx.Client, hook: Webhook | None, alert_id: str, key: bytes
) -> str | None:
    """POST one alert to one webhook; ``None`` on a 2xx, else what went wrong (the status or
    the exception's type: never the URL, whose query or path may hold a token)."""
    from sentinelle.detect.runner import alert_from_row

    if hook is None:
        return "destination not configured"
    row = store.alert(alert_id)
    if row is None:
        return "alert not found"
    alert = alert_from_row(row)
    headers = {"Content-Type": "application/json", DELIVERY_HEADER: f"{alert_id}:{hook.name}"}
    if hook.slack:
        body = _json(slack_message(alert))
    else:
        body = _json(ocsf_finding(alert))
        headers[SIGNATURE_HEADER] = sign(body, key)
    try:
        answer = http.post(hook.url, content=body, headers=headers)
    except Exception as exc:  # any failure is retried; its type is recorded
        return type(exc).__name__
    return None if answer.is_success else f"HTTP {answer.status_code}"


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: bytes, key: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``, the value of :data:`SIGNATURE_HEADER`."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def ocsf_finding(alert: Alert) -> dict[str, Any]:
    """The alert as an OCSF 1.1.0 Detection Finding (class_uid 2004, activity Create)."""
    severity_id, severity = _OCSF_SEVERITY.get(int(alert.severity), (1, "Informational"))
    return {
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "severity_id": severity_id,
        "severity": severity,
        "time": alert.time_us // 1000,
        "finding_info": {
            "uid": alert.id,
            "title": f"{alert.detector}: {alert.actor}",
            "desc": " ".join(alert.reasons),
            "types": [alert.detector],
            "created_time": alert.time_us // 1000,
            "modified_time": alert.last_us // 1000,
        },
        "actor": {"user": {"uid": alert.actor}},
        "metadata": {
            "product": {"name": "Sentinelle", "vendor_name": "Sentinelle"},
            "version": "1.1.0",
        },
        "unmapped": {"merchants": list(alert.merchants), "score": round(alert.score, 1)},
    }


def slack_message(alert: Alert) -> dict[str, str]:
    """One plain line: severity, actor, detector, the first reason and the alert's id."""
    reason = alert.reasons[0] if alert.reasons else ""
    return {
        "text": f"Sentinelle {str(alert.severity).upper()} alert: {alert.actor} "
        f"({alert.detector}): {reason} [alert {alert.id}]"
    }
