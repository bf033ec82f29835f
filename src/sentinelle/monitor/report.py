"""Where the monitor reports a finding, beside its exit code: a signed JSON webhook, e-mail.

* :class:`WebhookReporter` POSTs the finding as JSON, signed as the alert webhooks sign theirs
  (:mod:`sentinelle.connectors.outbound`): ``X-Sentinelle-Signature: sha256=<hex
  HMAC-SHA256 of the body>`` and ``X-Sentinelle-Delivery: <finding id>``, the receiver's
  idempotency key. The HMAC key comes from ``SENTINELLE_MONITOR_WEBHOOK_SECRET`` or a file.
* :class:`EmailReporter` sends a plain-text e-mail through the SMTP relay the notices use
  (``SENTINELLE_SMTP``, ``SENTINELLE_SMTP_TLS``, ``SENTINELLE_SMTP_USERNAME`` /
  ``SENTINELLE_SMTP_PASSWORD``: :func:`sentinelle.notify.setup.smtp_config`), in a session of
  the outbound e-mails' :class:`~sentinelle.connectors.mail_out.MailSession`.

A channel that fails raises :class:`~sentinelle.monitor.monitor.ReportError`; the monitor keeps
the finding unreported on that channel and tries again next round.
"""

from __future__ import annotations

import http.client
import json
import re
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Final

from sentinelle.config import MIN_SECRET_CHARS
from sentinelle.connectors.mail_out import MailSession
from sentinelle.connectors.outbound import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from sentinelle.errors import ConfigError
from sentinelle.monitor.monitor import Finding, ReportError
from sentinelle.notify.delivery import SmtpConfig

__all__ = ["EVENT_TYPE", "EmailReporter", "WebhookReporter", "webhook_body"]

#: The ``type`` of every webhook body.
EVENT_TYPE: Final = "sentinelle.monitor.finding"
_TIMEOUT: Final = 10.0
_URL: Final = re.compile(r"https?://[^\s/?#]+(/[^\s#]*)?", re.ASCII)


def webhook_body(finding: Finding) -> bytes:
    """The JSON body POSTed for ``finding`` (keys sorted, compact: what the HMAC signs)."""
    data = {"type": EVENT_TYPE, **finding.to_dict()}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookReporter:
    """POSTs each finding, HMAC-signed, to ``url``.

    Raises :class:`ConfigError` if the URL is not http(s) or the secret is shorter than 16
    characters.
    """

    channel: Final = "webhook"

    def __init__(self, url: str, secret: str) -> None:
        if not _URL.fullmatch(url):
            raise ConfigError("the webhook URL must be http:// or https://")
        if len(secret) < MIN_SECRET_CHARS:
            raise ConfigError(
                f"the webhook's HMAC key must have at least {MIN_SECRET_CHARS} characters"
            )
        self._url = url
        self._key = secret.encode("utf-8")

    def __repr__(self) -> str:
        return "WebhookReporter(…)"  # the URL may hold a token, the key is secret

    def send(self, finding: Finding) -> None:
        """POST the finding; a 2xx delivers it. Raises :class:`ReportError` otherwise."""
        body = webhook_body(finding)
        request = urllib.request.Request(  # noqa: S310 - the scheme was checked
            self._url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(body, self._key),
                DELIVERY_HEADER: finding.id,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as answer:  # noqa: S310
                status = answer.status
        except urllib.error.HTTPError as answer:
            status = answer.code
            answer.close()
        except OSError as exc:  # the URL is not shown: it may hold a token
            raise ReportError(f"the webhook cannot be reached ({type(exc).__name__})") from None
        except http.client.HTTPException as exc:  # reached, but the answer is not HTTP
            raise ReportError(f"the webhook did not answer HTTP ({type(exc).__name__})") from None
        if not 200 <= status < 300:
            raise ReportError(f"the webhook answered HTTP {status}")


class EmailReporter:
    """E-mails each finding to ``to`` through ``smtp`` (its sender is the From address)."""

    channel: Final = "email"

    def __init__(self, smtp: SmtpConfig, to: tuple[str, ...]) -> None:
        smtp.check()
        if not to or not all("@" in a and "\n" not in a for a in to):
            raise ConfigError("the monitor's e-mail reports need recipient addresses")
        self._smtp = smtp
        self._to = to

    def send(self, finding: Finding) -> None:
        """Send one message. Raises :class:`ReportError` if the relay refuses or is away."""
        cfg = self._smtp
        msg = EmailMessage()
        msg["From"] = cfg.sender
        msg["To"] = ", ".join(self._to)
        msg["Subject"] = f"[sentinelle monitor] {finding.outcome.label}: {finding.log}"
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(idstring=finding.id, domain=cfg.domain)
        lines = [finding.message, ""]
        lines += [f"{k}: {v}" for k, v in finding.to_dict().items() if k != "message"]
        msg.set_content("\n".join(lines) + "\n")
        session = MailSession(cfg)
        try:
            session.send(msg, self._to)
        except (OSError, smtplib.SMTPException) as exc:
            raise ReportError(f"e-mail via {cfg.host}:{cfg.port} failed: {exc}") from None
        finally:
            session.close()
