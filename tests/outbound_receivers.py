"""Real receivers on loopback for what Sentinelle sends out, for the outbound tests and
``benchmarks/outbound.py``: a syslog server over UDP, TCP or TLS that splits what arrives into
RFC 5424 messages (octet counting, RFC 6587 §3.4.1, on TCP and TLS) and an HTTP server that
records every POST. Each runs in background threads until closed. Needs ``cryptography`` (a
dependency of sentinelle) for the TLS server's certificate, never pytest.

:func:`parse_5424` is an independent reader of RFC 5424 §6 (the ABNF, strictly): the tests
check the frames with it, not with the code that wrote them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["HttpReceiver", "Syslog5424", "SyslogReceiver", "parse_5424", "self_signed"]

_HEADER = re.compile(
    rb"<(?P<pri>\d{1,3})>(?P<version>[1-9]\d{0,2}) "
    rb"(?P<timestamp>-|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) "
    rb"(?P<hostname>[\x21-\x7e]{1,255}) (?P<app>[\x21-\x7e]{1,48}) "
    rb"(?P<procid>[\x21-\x7e]{1,128}) (?P<msgid>[\x21-\x7e]{1,32}) "
)
_SD_NAME_CHARS = re.compile(rb'[^= \]"]+')


@dataclass(frozen=True, slots=True)
class Syslog5424:
    """One RFC 5424 message as read: the header fields, the structured data (SD-ID →
    parameters, values unescaped) and the message (UTF-8 text after its BOM)."""

    pri: int
    version: int
    timestamp: str
    hostname: str
    app: str
    procid: str
    msgid: str
    sd: dict[str, dict[str, str]]
    msg: str

    @property
    def facility(self) -> int:
        return self.pri // 8

    @property
    def severity(self) -> int:
        return self.pri % 8


def parse_5424(data: bytes) -> Syslog5424:
    """Read one SYSLOG-MSG (RFC 5424 §6). Raises ``ValueError`` naming what does not fit."""
    head = _HEADER.match(data)
    if head is None:
        raise ValueError(f"not an RFC 5424 header: {data[:80]!r}")
    if not 0 <= int(head["pri"]) <= 191:
        raise ValueError("PRIVAL out of 0..191")
    rest = data[head.end() :]
    sd: dict[str, dict[str, str]] = {}
    if rest.startswith(b"-"):
        rest = rest[1:]
    else:
        while rest.startswith(b"["):
            sd_id = _SD_NAME_CHARS.match(rest, 1)
            if sd_id is None or len(sd_id.group()) > 32:
                raise ValueError("bad SD-ID")
            params: dict[str, str] = {}
            i = sd_id.end()
            while rest[i : i + 1] == b" ":
                name = _SD_NAME_CHARS.match(rest, i + 1)
                if (
                    name is None
                    or len(name.group()) > 32
                    or rest[name.end() : name.end() + 2] != b'="'
                ):
                    raise ValueError("bad SD-PARAM")
                j, value = name.end() + 2, bytearray()
                while rest[j : j + 1] != b'"':
                    if j >= len(rest):
                        raise ValueError("unterminated PARAM-VALUE")
                    if rest[j : j + 1] == b"\\" and rest[j + 1 : j + 2] in (b'"', b"\\", b"]"):
                        value += rest[j + 1 : j + 2]
                        j += 2
                        continue
                    if rest[j : j + 1] in (b'"', b"]"):
                        raise ValueError("unescaped character in PARAM-VALUE")
                    value += rest[j : j + 1]
                    j += 1
                params[name.group().decode()] = value.decode("utf-8")
                i = j + 1
            if rest[i : i + 1] != b"]":
                raise ValueError("SD-ELEMENT not closed")
            sd[sd_id.group().decode()] = params
            rest = rest[i + 1 :]
    msg = ""
    if rest:
        if not rest.startswith(b" "):
            raise ValueError("no SP before MSG")
        body = rest[1:]
        if body.startswith(b"\xef\xbb\xbf"):
            msg = body[3:].decode("utf-8")
        else:
            msg = body.decode("ascii", "replace")
    return Syslog5424(
        pri=int(head["pri"]),
        version=int(head["version"]),
        timestamp=head["timestamp"].decode(),
        hostname=head["hostname"].decode(),
        app=head["app"].decode(),
        procid=head["procid"].decode(),
        msgid=head["msgid"].decode(),
        sd=sd,
        msg=msg,
    )


def self_signed(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` (its own CA) and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sentinelle test syslog")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "syslog-cert.pem", folder / "syslog-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@dataclass
class SyslogReceiver:
    """A syslog server on 127.0.0.1: ``udp`` (a datagram is a message), ``tcp`` or ``tls``
    (octet-counted frames). ``frames`` holds every message's bytes as received, in order;
    ``framing`` the problems met splitting the stream (none expected)."""

    transport: str
    cert: tuple[Path, Path] | None = None  # tls: (certificate, key)
    frames: list[bytes] = field(default_factory=list)
    framing: list[str] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    _sock: socket.socket | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closing: bool = False
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> SyslogReceiver:
        kind = socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM
        self._sock = socket.socket(socket.AF_INET, kind)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        if self.transport == "udp":
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            target: Any = self._datagrams
        else:
            self._sock.listen(64)
            target = self._accept
        self._spawn(target)
        return self

    @property
    def url(self) -> str:
        return f"{self.transport}://127.0.0.1:{self.port}"

    def messages(self) -> list[Syslog5424]:
        with self._lock:
            return [parse_5424(f) for f in self.frames]

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` frames arrived (UDP and the TCP stream are asynchronous)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.frames) >= count, timeout)

    def close(self) -> None:
        self._closing = True
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        for t in self._threads:
            t.join(timeout=5)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _add(self, frame: bytes) -> None:
        with self._arrived:
            with self._lock:
                self.frames.append(frame)
            self._arrived.notify_all()

    def _datagrams(self) -> None:
        assert self._sock is not None
        while not self._closing:
            try:
                data, _ = self._sock.recvfrom(65536)
            except OSError:
                return
            if data:
                self._add(data)

    def _accept(self) -> None:
        assert self._sock is not None
        context = None
        if self.transport == "tls":
            assert self.cert is not None
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.cert[0]), str(self.cert[1]))
        while not self._closing:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            self._spawn(self._stream, conn, context)

    def _stream(self, conn: socket.socket, context: ssl.SSLContext | None) -> None:
        try:
            if context is not None:
                conn = context.wrap_socket(conn, server_side=True)
            buffer = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                while True:
                    space = buffer.find(b" ")
                    if space < 0:
                        break
                    length = buffer[:space]
                    if not length.isdigit() or length.startswith(b"0"):
                        self.framing.append(f"bad MSG-LEN {length[:20]!r}")
                        return
                    end = space + 1 + int(length)
                    if len(buffer) < end:
                        break
                    self._add(buffer[space + 1 : end])
                    buffer = buffer[end:]
            if buffer:
                self.framing.append(f"{len(buffer)} bytes left at close")
        except (OSError, ssl.SSLError) as exc:
            if not self._closing:
                self.framing.append(type(exc).__name__)
        finally:
            conn.close()


@dataclass
class HttpReceiver:
    """A loopback HTTP server recording every POST (headers lower-cased, body); answers the
    ``statuses`` queued, then 200."""

    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0
    keep: bool = True
    count: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> HttpReceiver:
        found = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    found.count += 1
                    if found.keep:
                        found.requests.append(
                            ({k.lower(): v for k, v in self.headers.items()}, body)
                        )
                    status = found.statuses.pop(0) if found.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def keys(self) -> list[str]:
        return [headers["x-sentinelle-delivery"] for headers, _ in self.requests]

    def close(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
