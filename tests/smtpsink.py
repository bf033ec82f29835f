"""A real SMTP server on loopback for the delivery tests and the notify benchmark.

``SmtpSink`` runs an aiosmtpd server on ``127.0.0.1`` (a free port unless one is given) in a
background thread with its own event loop (the package's
:class:`~sentinelle.notify.catcher.SmtpServerThread`, as the demo's mail catcher), and
records every message it accepts as a ``Received`` (envelope sender and recipients,
Message-ID, the bytes as received). It can be told to misbehave for chosen recipients:

* ``sink.defer(address, times=2)``: answer RCPT with ``451`` that many times, then accept;
* ``sink.reject(address)``: answer RCPT with ``550`` (the reply quotes the address, as real
  servers do, so tests can check that nobody stores it);
* ``drop_after=N``: close each connection after its N-th message (clients must reconnect).

With ``out=FILE`` each accepted message is also appended to FILE as one JSON line
``{"message_id", "rcpts", "size"}``, flushed at once, so another process can follow it.

Run it as a process of its own (the kill-and-resume test and ``benchmarks/notify.py`` do)::

    python tests/smtpsink.py --port 0 --out received.jsonl

It prints ``port N`` on stdout once it listens, and stops on SIGTERM or SIGINT. Needs
aiosmtpd (a dev dependency) and sentinelle, never pytest, so benchmark scripts can import it too::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from smtpsink import SmtpSink
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from sentinelle.notify.catcher import SmtpServerThread

__all__ = ["Received", "SmtpSink"]

_MESSAGE_ID = re.compile(rb"(?im)^message-id:[ \t]*(<[^>\r\n]*>)")


@dataclass(frozen=True, slots=True)
class Received:
    """One message the sink accepted."""

    mail_from: str
    rcpts: tuple[str, ...]
    message_id: str | None
    data: bytes


def message_id_of(data: bytes) -> str | None:
    """The Message-ID header of a raw message (the header block only is searched)."""
    head = data.split(b"\r\n\r\n", 1)[0]
    found = _MESSAGE_ID.search(head)
    return found.group(1).decode("ascii", "replace") if found else None


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        _server: SMTP,
        _session: Session,
        envelope: Envelope,
        address: str,
        _rcpt_options: list[str],
    ) -> str:
        reply = self.sink._fault(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, _session: Session, envelope: Envelope
    ) -> str:
        data = envelope.original_content or b""
        self.sink._record(
            Received(
                mail_from=str(envelope.mail_from),
                rcpts=tuple(envelope.rcpt_tos),
                message_id=message_id_of(data),
                data=data,
            ),
            server,
        )
        return "250 2.0.0 Ok: queued"


class SmtpSink(SmtpServerThread):
    """An aiosmtpd server in a background thread that records what it receives."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        out: Path | None = None,
        keep_data: bool = True,
        keep_messages: bool = True,
        drop_after: int | None = None,
    ) -> None:
        super().__init__(host=host, port=port, thread_name="smtp-sink")
        self.keep_data = keep_data
        self.keep_messages = keep_messages
        self.drop_after = drop_after
        self.received: list[Received] = []
        self.connections = 0
        self.count = 0  # messages accepted
        self.refusals: Counter[tuple[str, int]] = Counter()  # (address, code) -> replies
        self._out_path = out
        self._out: IO[str] | None = None
        self._lock = threading.Lock()
        self._defer: dict[str, list[int]] = {}  # address -> [times left, code]
        self._reject: dict[str, int] = {}
        self._per_session: dict[int, int] = {}

    # -- scripted faults -------------------------------------------------------------------
    def defer(self, address: str, *, times: int = 1, code: int = 451) -> None:
        """Answer RCPT for ``address`` with a 4xx ``times`` times, then accept it."""
        with self._lock:
            self._defer[address.lower()] = [times, code]

    def reject(self, address: str, *, code: int = 550) -> None:
        """Answer RCPT for ``address`` with a 5xx, always."""
        with self._lock:
            self._reject[address.lower()] = code

    def _fault(self, address: str) -> str | None:
        key = address.lower()
        with self._lock:
            if key in self._reject:
                code = self._reject[key]
                self.refusals[(key, code)] += 1
                return f"{code} 5.1.1 <{address}>: Recipient address rejected"
            deferred = self._defer.get(key)
            if deferred and deferred[0] > 0:
                deferred[0] -= 1
                self.refusals[(key, deferred[1])] += 1
                return f"{deferred[1]} 4.7.1 <{address}>: try again later"
        return None

    def _record(self, message: Received, server: SMTP) -> None:
        with self._lock:
            self.count += 1
            if self.keep_messages:
                self.received.append(message if self.keep_data else _without_data(message))
            if self._out is not None:
                line = {
                    "message_id": message.message_id,
                    "rcpts": list(message.rcpts),
                    "size": len(message.data),
                }
                self._out.write(json.dumps(line) + "\n")
                self._out.flush()
            if self.drop_after is not None:
                n = self._per_session.get(id(server), 0) + 1
                self._per_session[id(server)] = n
                if n >= self.drop_after and server.transport is not None:
                    # After the 250 reply has gone out: the next command finds it closed.
                    asyncio.get_running_loop().call_soon(server.transport.close)

    # -- reading -----------------------------------------------------------------------------
    def messages(self) -> list[Received]:
        """A snapshot of what was received so far."""
        with self._lock:
            return list(self.received)

    def by_recipient(self) -> dict[str, list[str | None]]:
        """Message-IDs received for each recipient address, in arrival order."""
        out: dict[str, list[str | None]] = {}
        for message in self.messages():
            for rcpt in message.rcpts:
                out.setdefault(rcpt, []).append(message.message_id)
        return out

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> SmtpSink:
        """Start listening; returns once the port is open."""
        if self._out_path is not None:
            self._out = self._out_path.open("a", encoding="utf-8")
        try:
            self._serve_in_thread()
        except Exception as exc:
            raise RuntimeError(f"the SMTP sink did not start: {exc}") from exc
        return self

    def stop(self) -> None:
        """Stop listening and close every connection."""
        self._stop_serving()
        if self._out is not None:
            self._out.close()
            self._out = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _factory(self) -> SMTP:
        with self._lock:
            self.connections += 1
        # hostname given: aiosmtpd would otherwise look up this host's FQDN per connection.
        return SMTP(_Handler(self), hostname="sink.test", ident="smtpsink", loop=self._loop)


def _without_data(message: Received) -> Received:
    return Received(message.mail_from, message.rcpts, message.message_id, b"")


def main(argv: list[str] | None = None) -> None:
    """Run a sink as a process: print its port, append what it receives to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (default)")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, one per message")
    args = parser.parse_args(argv)
    stop = threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with SmtpSink(host=args.host, port=args.port, out=args.out, keep_messages=False) as sink:
        print(f"port {sink.port}", flush=True)  # noqa: T201 - the parent reads it
        while not stop.wait(0.5):
            pass


if __name__ == "__main__":
    main()
