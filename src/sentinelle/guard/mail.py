"""The e-mail that asks a merchant to approve a grant: a short plain message with two one-time
links (approve, deny) to the console (``SENTINELLE_PUBLIC_URL``), sent over SMTP as notices
are (``SENTINELLE_SMTP``, ``SENTINELLE_SMTP_TLS``, the SMTP login), from
``SENTINELLE_NOTIFY_FROM``, to the merchant's addresses in ``SENTINELLE_MERCHANT_DIRECTORY``.

The links carry a token of 32 random bytes (:func:`sentinelle.guard.grants.new_link`: only
its SHA-256 is stored); the token is in the message only, never in a log or an error. Opening
a link shows a confirmation page (a GET changes nothing: mail scanners open links); the
button on that page acts, as the merchant, once.

Nothing here is required for a grant request: without the settings, or when the merchant has
no address or the relay refuses, the request stands and :class:`MailOutcome` says why no
e-mail went.
"""

from __future__ import annotations

import json
import logging
import smtplib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Final, TypeVar
from urllib.parse import quote

from sentinelle.config import Settings
from sentinelle.connectors.mail_out import MailSession
from sentinelle.errors import Error
from sentinelle.guard.grants import SYSTEM, hash_token, log_step, new_link
from sentinelle.guard.policy import Policy
from sentinelle.notify.directory import open_directory
from sentinelle.notify.setup import smtp_config
from sentinelle.store import Store
from sentinelle.store.grants import GrantRow
from sentinelle.timeutil import readable
from sentinelle.transparency.accesses import Pseudonyms

__all__ = ["MailOutcome", "approval_message", "link_url", "merchant_addresses", "send_links"]

_logger = logging.getLogger(__name__)
_T = TypeVar("_T")
#: Where the links lead, under the public URL: ``/grant-links/{grant}/{token}/{approve|deny}``.
LINK_PATH: Final = "/grant-links"


@dataclass(frozen=True, slots=True)
class MailOutcome:
    """Whether the approval e-mail went (``sent``) and, if not, why (``detail``)."""

    sent: bool
    detail: str
    recipients: int = 0

    def to_dict(self) -> dict[str, object]:
        """JSON form, as the grants API answers it (``email``)."""
        return {"sent": self.sent, "detail": self.detail, "recipients": self.recipients}


def link_url(base: str, grant_id: str, token: str, action: str) -> str:
    """The address of one of the two links."""
    return f"{base}{LINK_PATH}/{quote(grant_id, safe='')}/{token}/{action}"


def merchant_addresses(settings: Settings, merchant: str) -> list[str]:
    """The merchant's e-mail addresses in ``SENTINELLE_MERCHANT_DIRECTORY`` (none: ``[]``).
    Raises :class:`~sentinelle.errors.ConfigError` (or a directory's error) for a directory
    that cannot be read."""
    spec = settings.merchant_directory
    if spec is None:
        return []
    query = settings.notify_query if spec.startswith("sql:") else None
    directory = open_directory(spec, query=query)
    try:
        return sorted({c.email for c in directory.lookup([(None, merchant)])})
    finally:
        directory.close()


def staff_shown(settings: Settings, row: GrantRow) -> tuple[str, str | None]:
    """Who the e-mail names, as the merchant's page shows them
    (``SENTINELLE_MERCHANT_STAFF_IDENTITY``): ``(grantee, requester)``. Under ``named``, the
    staff id and who asked; under ``pseudonymous`` (the default), the pseudonym the merchant's
    accesses list gives the grantee on the day it was asked, and no requester (a staff member
    or the platform's guard: the merchant learns no name either way)."""
    if settings.merchant_staff_identity == "named":
        return row.actor, row.requested_by
    return Pseudonyms.load_or_create(settings.data_dir).of_grantee(row), None


def approval_message(
    *,
    sender: str,
    to: list[str],
    row: GrantRow,
    approve: str,
    deny: str,
    expires_us: int,
    grantee: str,
    requester: str | None,
) -> EmailMessage:
    """The plain-text message asking ``row``'s merchant to approve it, naming the grantee
    and the requester as :func:`staff_shown` gives them."""
    actions = ", ".join(_loads(row.actions_json))
    data = ", ".join(_loads(row.categories_json)).replace("_", " ")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = f"Approve access to your customers' data? ({row.id})"
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    ticket = f", ticket {row.ticket}" if row.ticket else ""
    message.set_content(
        f"{requester or 'The platform'} asks that {'' if requester else 'support staff member '}"
        f"{grantee} may {actions} the data of up to "
        f"{row.max_records:,} of your customers ({data}){ticket}.\n"
        f"Reason given: {row.reason}\n\n"
        f"Approve: {approve}\n"
        f"Deny:    {deny}\n\n"
        "Each link opens a page where you confirm. The links work once (using one ends both) "
        f"and expire at {readable(expires_us)}. You can also answer in the console, on your "
        "merchant page.\n"
        "If you did not expect this, deny it: nothing is granted without your approval.\n"
    )
    return message


def send_links(
    settings: Settings,
    store: Store,
    policy: Policy,
    row: GrantRow,
    *,
    now_us: int,
    locked: Callable[[], AbstractContextManager[object]],
) -> MailOutcome:
    """E-mail ``row``'s merchant a pair of one-time links, if the settings allow and the
    merchant has an address; log ``link_sent`` in ``guard_log`` once the relay accepted it.
    ``locked()`` holds the store's writers off while a link is stored or the step logged
    (the SMTP conversation itself runs without it). Never raises for mail: the outcome says
    what happened."""
    missing = [
        name
        for name, value in (
            ("SENTINELLE_PUBLIC_URL", settings.public_url),
            ("SENTINELLE_NOTIFY_FROM", settings.notify_from),
            ("SENTINELLE_MERCHANT_DIRECTORY", settings.merchant_directory),
        )
        if not value
    ]
    if missing:
        return MailOutcome(False, f"no e-mail sent: set {', '.join(missing)} to send one")
    sender = settings.notify_from or ""
    try:
        to = merchant_addresses(settings, row.merchant)
        smtp = smtp_config(settings, sender=_address(sender))
        smtp.check()
        # Before a link is made: an unreadable pseudonym key is an outcome, not an error
        # after the request is stored.
        grantee, requester = staff_shown(settings, row)
    except Error as exc:
        return MailOutcome(False, f"no e-mail sent: {exc.diagnostics()}")
    if not to:
        return MailOutcome(
            False, f"no e-mail sent: merchant {row.merchant} has no address in the directory"
        )
    with locked():
        token, link = new_link(store, policy, row, now_us=now_us)
    expires = link.expires_us
    base = settings.public_url or ""
    message = approval_message(
        sender=sender,
        to=to,
        row=row,
        approve=link_url(base, row.id, token, "approve"),
        deny=link_url(base, row.id, token, "deny"),
        expires_us=expires,
        grantee=grantee,
        requester=requester,
    )
    session = MailSession(smtp)
    try:
        session.send(message, to)
    except (OSError, smtplib.SMTPException) as exc:
        # The reply may quote an address; it never holds the token (not in the envelope).
        _logger.warning("approval e-mail for grant %s not sent: %s", row.id, type(exc).__name__)
        return MailOutcome(False, f"no e-mail sent: the relay refused it ({type(exc).__name__})")
    finally:
        session.close()
    with locked():
        log_step(
            store, row.id, "link_sent", by=SYSTEM,
            reason=f"approval links e-mailed to the merchant ({len(to)} address(es)), "
            f"valid until {readable(expires)}",
            now_us=now_us, key=hash_token(token),
        )  # fmt: skip
    return MailOutcome(True, f"e-mailed to merchant {row.merchant}", len(to))


def _address(sender: str) -> str:
    """``Name <a@b>`` → ``a@b``."""
    return sender.rpartition("<")[2].rstrip(">").strip() if "<" in sender else sender.strip()


def _loads(text: str) -> list[str]:
    found: list[str] = json.loads(text)
    return found
