"""Syslog destinations: each message as one RFC 5424 syslog message, over UDP (RFC 5426: one
message per datagram), TCP with octet-counting framing (RFC 6587 §3.4.1: ``MSG-LEN SP
SYSLOG-MSG``), or TLS (RFC 5425, the same framing).

A frame::

    <PRI>1 TIMESTAMP HOSTNAME sentinelle PROCID MSGID [sentinelle@32473 delivery="…" …] BOM MSG

PRI is ``facility * 8 + severity`` (RFC 5424 §6.2.1): the facility is the destination's
(``auth`` unless its ``?facility=`` says otherwise), the severity follows the message's level —
critical 2 (Critical), high 3 (Error), medium 4 (Warning), low 5 (Notice). MSGID is the
message's kind (``alert``, ``suspended``, ``lifted``, ``deadline``); the structured data element
carries the delivery key and the message's identifiers (PARAM-VALUEs escape ``"``, ``\\`` and
``]``, §6.3.3); MSG is the one-line text, UTF-8 behind its BOM (§6.4). The SD-ID is a private
one, ``sentinelle@32473``: 32473 is the enterprise number RFC 5612 reserves for documentation,
used until Sentinelle has one of its own.

Syslog has no acknowledgement: a message is delivered once its bytes are handed to the socket
(UDP) or written to the connection (TCP, TLS). Over UDP a lost datagram is not noticed; use
TCP or TLS where that matters.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sentinelle.connectors.messages import Message
from sentinelle.errors import ConfigError
from sentinelle.timeutil import iso

__all__ = [
    "FACILITIES",
    "SD_ID",
    "SyslogConnection",
    "SyslogTarget",
    "frame",
    "syslog_severity",
]

#: The structured data element's id (RFC 5424 §6.3.2, ``name@<private enterprise number>``).
SD_ID: Final = "sentinelle@32473"
APP_NAME: Final = "sentinelle"
#: RFC 5424 §6.2.1 facility codes by their usual names.
FACILITIES: Final = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    "ntp": 12,
    "audit": 13,
    "alert": 14,
    "clock": 15,
    **{f"local{i}": 16 + i for i in range(8)},
}
DEFAULT_FACILITY: Final = "auth"
#: Largest frame per transport: RFC 5426 §3.2 (UDP: 2048 octets should be supported), RFC 5425
#: §4.3.1 (TLS: 8192 should be); the text is cut (at a character) to fit.
MAX_OCTETS: Final = {"udp": 2048, "tcp": 8192, "tls": 8192}
DEFAULT_PORTS: Final = {"udp": 514, "tcp": 601, "tls": 6514}
TIMEOUT_SECONDS: Final = 5.0
_BOM: Final = b"\xef\xbb\xbf"
_TARGET_RE: Final = re.compile(
    r"(?P<transport>udp|tcp|tls)://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)"
    r"(?::(?P<port>\d{1,5}))?/?(?:\?facility=(?P<facility>[a-z0-9]+))?"
)
_UNPRINTABLE: Final = re.compile(r"[^\x21-\x7e]")  # PRINTUSASCII, RFC 5424 §6


@dataclass(frozen=True, slots=True)
class SyslogTarget:
    """One syslog destination: its ``name`` (the key of its deliveries), transport, host,
    port and facility code."""

    name: str
    transport: str
    host: str
    port: int
    facility: int

    @classmethod
    def parse(cls, name: str, target: str) -> SyslogTarget:
        """One item of ``SENTINELLE_ALERT_SYSLOG``, split at its ``=`` (the list:
        :func:`sentinelle.connectors.outbound.parse_syslog`): ``("siem",
        "tcp://logs.example:601")``, ``("siem", "tls://logs.example?facility=local4")``.

        Raises :class:`ConfigError` naming the item when the target is not
        udp|tcp|tls://HOST[:PORT] with a known facility.
        """
        found = _TARGET_RE.fullmatch(target)
        if found is None:
            raise ConfigError(
                f"alert_syslog item {name!r}: {target!r} is not udp://, tcp:// or tls:// "
                "HOST[:PORT][?facility=NAME]"
            )
        transport = found["transport"]
        port = int(found["port"]) if found["port"] else DEFAULT_PORTS[transport]
        if not 0 < port < 65536:
            raise ConfigError(f"alert_syslog item {name!r}: port {port} is not 1-65535")
        facility = found["facility"] or DEFAULT_FACILITY
        if facility not in FACILITIES:
            raise ConfigError(
                f"alert_syslog item {name!r}: unknown facility {facility!r} (one of "
                f"{', '.join(FACILITIES)})"
            )
        return cls(name, transport, found["host"].strip("[]"), port, FACILITIES[facility])


def syslog_severity(level: int) -> int:
    """RFC 5424 severity of a Sentinelle level: critical 2, high 3, medium 4, low 5."""
    return {4: 2, 3: 3, 2: 4}.get(level, 5)


def _escape(value: str) -> str:
    # RFC 5424 §6.3.3: '"', '\' and ']' are escaped with '\' inside a PARAM-VALUE.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_word(value: str, limit: int) -> str:
    return _UNPRINTABLE.sub("", value)[:limit] or "-"


def frame(
    message: Message,
    *,
    delivery: str,
    facility: int,
    transport: str,
    hostname: str | None = None,
    procid: int | None = None,
) -> bytes:
    """The bytes that carry ``message`` to a syslog destination: one RFC 5424 message, with
    its octet count in front for ``tcp`` and ``tls`` (RFC 6587 §3.4.1), alone for ``udp``."""
    pri = facility * 8 + syslog_severity(int(message.level))
    host = _header_word(hostname if hostname is not None else socket.gethostname(), 255)
    proc = str(procid if procid is not None else os.getpid())
    params = [("delivery", delivery), ("kind", message.kind.value), *message.fields()]
    sd = "[" + SD_ID + "".join(f' {n}="{_escape(v)}"' for n, v in params) + "]"
    head = (
        f"<{pri}>1 {iso(message.time_us)} {host} {APP_NAME} {proc} {message.kind.value} {sd} "
    ).encode()
    text = " ".join(message.line().split()).encode()  # one line: no CR, LF or tabs
    room = MAX_OCTETS[transport] - len(head) - len(_BOM)
    if len(text) > room:
        text = text[: max(room, 0)].decode("utf-8", "ignore").encode()
    payload = head + _BOM + text
    if transport == "udp":
        return payload
    return str(len(payload)).encode() + b" " + payload


class SyslogConnection:
    """A connection to one syslog destination, opened on first use and kept for a delivery
    run; :meth:`send` raises :class:`OSError` (:class:`ssl.SSLError` among them) when the
    bytes cannot be handed over, and the connection is then closed (the next send opens a new
    one)."""

    def __init__(
        self, target: SyslogTarget, *, ca_file: Path | None = None, timeout: float = TIMEOUT_SECONDS
    ) -> None:
        self.target = target
        self.ca_file = ca_file
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._udp_address: tuple[str, int] | None = None

    def send(self, data: bytes) -> None:
        """Hand ``data`` (one :func:`frame`) over. Raises :class:`OSError`."""
        try:
            if self._sock is None:
                self._sock = self._open()
            if self.target.transport == "udp":
                assert self._udp_address is not None  # noqa: S101  (set by _open)
                self._sock.sendto(data, self._udp_address)
            else:
                self._sock.sendall(data)
        except OSError:
            self.close()
            raise

    def _open(self) -> socket.socket:
        t = self.target
        if t.transport == "udp":
            family, kind, proto, _, address = socket.getaddrinfo(
                t.host, t.port, type=socket.SOCK_DGRAM
            )[0]
            self._udp_address = (str(address[0]), int(address[1]))
            return socket.socket(family, kind, proto)
        sock = socket.create_connection((t.host, t.port), timeout=self.timeout)
        if t.transport == "tcp":
            return sock
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        try:
            return context.wrap_socket(sock, server_hostname=t.host)
        except BaseException:
            sock.close()
            raise

    def close(self) -> None:
        """Close the connection, if open; a TLS one after its closure alert (RFC 5425 §4.4)."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            if isinstance(sock, ssl.SSLSocket):
                # Not a bare close: a TLS 1.3 server sends session tickets nobody reads, and
                # closing with unread bytes makes the kernel reset the connection, which can
                # discard the frames the server has not read yet. unwrap() sends close_notify
                # and reads up to the server's (or its end of stream) first.
                sock.unwrap()
        except (OSError, ValueError):
            pass  # the server closed first, or the connection broke: nothing more to read
        finally:
            sock.close()
