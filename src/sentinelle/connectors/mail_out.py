"""E-mail destinations: each message as a short plain-text e-mail (RFC 5322), handed to the
SMTP relay the notices use (``SENTINELLE_SMTP``, ``SENTINELLE_SMTP_TLS``, the SMTP login; RFC
5321), from ``SENTINELLE_NOTIFY_FROM``.

One SMTP session per delivery run and relay, reused for every message of the run. The relay's
250 after DATA is the delivery; any other reply, or none, is an attempt failed, recorded by the
error's type and SMTP code (never the reply's text, which may quote an address). The
Message-ID derives from the delivery key, so a message sent again after a crash is recognisably
the same one. ``Auto-Submitted: auto-generated`` (RFC 3834) keeps auto-responders quiet.
"""

from __future__ import annotations

import hashlib
import re
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING, Final

from sentinelle.connectors.messages import Message
from sentinelle.errors import ConfigError

if TYPE_CHECKING:
    from sentinelle.notify.delivery import SmtpConfig

__all__ = [
    "DELIVERY_HEADER",
    "MailSession",
    "MailTarget",
    "check_relay",
    "error_text",
    "mail_message",
    "message_id",
]

DELIVERY_HEADER: Final = "X-Sentinelle-Delivery"
_ADDRESS_RE: Final = re.compile(r"[^\s<>()\[\]@,;:\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


@dataclass(frozen=True, slots=True)
class MailTarget:
    """One e-mail destination: its ``name`` (the key of its deliveries) and address."""

    name: str
    address: str

    @classmethod
    def parse(cls, name: str, address: str) -> MailTarget:
        """One item of ``SENTINELLE_ALERT_EMAILS``, split at its ``=`` (the list:
        :func:`sentinelle.connectors.outbound.parse_mail`): ``("soc-mail", "soc@shop.example")``.

        Raises :class:`ConfigError` naming the item when the address is not one.
        """
        if not _ADDRESS_RE.fullmatch(address):
            raise ConfigError(f"alert_emails item {name!r}: {address!r} is not an e-mail address")
        return cls(name, address)


def message_id(delivery: str, domain: str) -> str:
    """The Message-ID of one delivery: a hash of its key, ``@`` the sender's domain."""
    digest = hashlib.sha256(f"sentinelle-outbound\x00{delivery}".encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def mail_message(
    message: Message, *, sender: str, to: str, delivery: str, console: str | None
) -> EmailMessage:
    """The plain-text e-mail of ``message``: its line, its sentences, its identifiers, and a
    link to its page when the console's address (``SENTINELLE_PUBLIC_URL``) is known."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    # One line: a staff id is whatever the events carried, line breaks included, which a
    # header may not hold (nor slip another header in).
    mail["Subject"] = " ".join(message.subject().split())
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    domain = sender.rpartition("@")[2].rstrip(">") or "sentinelle.invalid"
    mail["Message-ID"] = message_id(delivery, domain)
    mail["Auto-Submitted"] = "auto-generated"
    mail[DELIVERY_HEADER] = delivery
    lines = [message.line(), "", *message.body(), ""]
    lines += [f"{name}: {value}" for name, value in message.fields()]
    if console:
        lines += ["", f"In the console: {console}{message.link()}"]
    lines += ["", f"Delivery {delivery}. Sent by Sentinelle; do not reply."]
    mail.set_content("\n".join(lines) + "\n")
    return mail


class MailSession:
    """One SMTP session to the relay, opened on first use and kept for a delivery run.
    :meth:`send` raises :class:`OSError` or :class:`smtplib.SMTPException`; the session is then
    closed (the next send opens a new one)."""

    def __init__(self, smtp: SmtpConfig) -> None:
        self.smtp = smtp
        self._client: smtplib.SMTP | None = None

    def send(self, mail: EmailMessage, to: str | Sequence[str]) -> None:
        """Hand ``mail`` to the relay for ``to`` (one address, or several in one transaction);
        returns once the relay answered 250."""
        to_addrs = [to] if isinstance(to, str) else list(to)
        try:
            if self._client is None:
                self._client = self._open()
            self._client.send_message(mail, from_addr=self.smtp.sender, to_addrs=to_addrs)
        except (OSError, smtplib.SMTPException):
            self.close()
            raise

    def _open(self) -> smtplib.SMTP:
        from sentinelle.notify.delivery import TlsMode

        s = self.smtp
        context = s.tls_context or ssl.create_default_context()
        client: smtplib.SMTP
        if s.tls is TlsMode.IMPLICIT:
            client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            if s.tls is TlsMode.STARTTLS:
                client.starttls(context=context)
            if s.username is not None and s.password is not None:
                client.login(s.username, s.password)
        except BaseException:
            client.close()
            raise
        return client

    def close(self) -> None:
        """End the session (QUIT when the relay still listens)."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()


def error_text(exc: BaseException) -> str:
    """What a failed attempt records: the error's type and, for an SMTP reply, its code."""
    code = getattr(exc, "smtp_code", None)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({c for c, _ in exc.recipients.values()})
        code = codes[0] if codes else None
    return f"{type(exc).__name__} {code}" if code else type(exc).__name__


def check_relay(*, smtp: str, tls: str, sender: str | None) -> None:
    """Refuse settings under which e-mail destinations could not send: no sender
    (``SENTINELLE_NOTIFY_FROM``), or plain SMTP to a relay not on this host. Raises
    :class:`ConfigError`."""
    from sentinelle.config import parse_host_port
    from sentinelle.notify.setup import LOOPBACK

    if not sender:
        raise ConfigError("alert_emails needs SENTINELLE_NOTIFY_FROM, the sender of its e-mails")
    try:
        host, _ = parse_host_port(smtp)
    except ValueError as exc:
        raise ConfigError(f"alert_emails: the SMTP relay {exc}") from None
    if tls == "none" and host not in LOOPBACK:
        raise ConfigError(
            f"alert_emails: plain SMTP is only allowed to a relay on this host; for {host}, "
            "set SENTINELLE_SMTP_TLS=starttls or implicit"
        )
