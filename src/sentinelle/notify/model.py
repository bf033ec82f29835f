"""Records shared by the notify modules: contacts, rendered notices, audiences."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

__all__ = ["Audience", "Contact", "Outbound", "RenderedNotice"]


class Audience(enum.StrEnum):
    """Who a notice is for."""

    MERCHANTS = "merchants"
    SUBJECTS = "subjects"
    AUTHORITY = "authority"


@dataclass(frozen=True, slots=True)
class Contact:
    """Where to reach one party, as the directory gave it; held in memory for one send only.

    ``party`` is the data-subject id (audience subjects) or the merchant id (merchants);
    ``merchant`` is the shop the subject is a customer of (``None`` for merchants' contacts).
    """

    party: str
    email: str
    name: str | None = None
    locale: str | None = None
    merchant: str | None = None


@dataclass(frozen=True, slots=True)
class RenderedNotice:
    """One notice, rendered for one recipient in one language."""

    subject: str
    text: str
    html: str
    locale: str


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message to send: what delivery needs, and nothing it may keep but ``recipient``.

    ``recipient`` is the keyed hash of the address (stored, for exactly-once and status);
    ``to`` is the address itself (used for this send only, never stored or logged);
    ``build`` renders the message on demand for the given Message-ID, so a campaign of any
    size holds one rendered message per in-flight send. ``build_bytes``, when given, is a
    cheaper way to the same message: the RFC 5322 bytes, CRLF line ends, ready to sign and
    send (delivery prefers it and still checks the Message-ID in them).
    """

    recipient: str
    to: str
    build: Callable[[str], EmailMessage]
    build_bytes: Callable[[str], bytes] | None = None
