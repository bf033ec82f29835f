"""A mail catcher for the demo: an SMTP server on loopback that delivers nothing and keeps
every message it accepts as one ``.eml`` file in a folder, to be opened with any mail client.

``sentinelle demo`` starts one next to the console so that notices sent from the console
land in ``<demo folder>/outbox/`` instead of anybody's mailbox. It listens on loopback only
(``127.0.0.1`` or ``::1``), with no TLS and no authentication: it is not a relay, and not
for production. Each file is the message exactly as received, after two header lines naming
the envelope (``Return-Path`` and one ``Delivered-To`` per recipient), written whole or not
at all (a temporary file renamed), readable by its owner only. Its name sorts by arrival:
``YYYYmmddTHHMMSS-NNNNNN-recipient.eml``.

Needs aiosmtpd (the ``demo`` extra: ``pip install 'sentinelle[demo]'``)::

    with MailCatcher(Path("outbox")) as catcher:
        ...  # send to 127.0.0.1:catcher.port
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sentinelle.errors import ConfigError
from sentinelle.notify.setup import LOOPBACK

if TYPE_CHECKING:
    from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["MailCatcher", "SmtpServerThread"]

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9@._+-]+")


def _safe(address: str) -> str:
    return _UNSAFE.sub("_", address)[:80] or "unknown"


class SmtpServerThread:
    """An aiosmtpd server on an event loop of its own in a background thread: the serving
    part of :class:`MailCatcher` and of the tests' SMTP sink (``tests/smtpsink.py``).

    A subclass makes each connection's ``aiosmtpd.smtp.SMTP`` in :meth:`_factory` (on the
    server's loop, :attr:`loop`). :meth:`_serve_in_thread` starts listening on ``host`` and
    ``port`` (0: a free one, then :attr:`port` is the one chosen) and returns once the port
    is open; :meth:`_stop_serving` closes every connection and ends the thread.
    """

    def __init__(self, *, host: str, port: int, thread_name: str) -> None:
        self.host = host
        self.port = port
        self._thread_name = thread_name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The server's event loop while it serves."""
        return self._loop

    def _factory(self) -> SMTP:
        """A connection's SMTP protocol (called on the server's loop)."""
        raise NotImplementedError

    def _serve_in_thread(self) -> None:
        """Start the thread; return once the port is open. Raises what opening it raised (an
        :class:`OSError`: the port taken, the address not this host's…), or
        :class:`TimeoutError` if it is not open within 10 seconds."""
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._serve, name=self._thread_name, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError(f"{self.host}:{self.port} not open within 10 seconds")
        if self._error is not None:
            raise self._error

    def _stop_serving(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            server = loop.run_until_complete(
                loop.create_server(self._factory, self.host, self.port)
            )
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            loop.run_until_complete(server.wait_closed())
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


class _Keeper:
    """The catcher's aiosmtpd handler: each message whole to the outbox, or a 451."""

    def __init__(self, catcher: MailCatcher) -> None:
        self.catcher = catcher

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, _server: SMTP, _session: Session, envelope: Envelope
    ) -> str:
        data = envelope.original_content or b""
        try:
            self.catcher.keep(str(envelope.mail_from), list(envelope.rcpt_tos), data)
        except OSError as exc:
            return f"451 4.3.0 cannot keep the message: {exc.strerror or exc}"
        return "250 2.0.0 Ok: kept in the outbox"


class MailCatcher(SmtpServerThread):
    """An SMTP server in a background thread that writes what it receives to ``outbox``."""

    def __init__(self, outbox: Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in LOOPBACK:
            raise ConfigError(f"the mail catcher listens on loopback only, not {host}")
        super().__init__(host=host, port=port, thread_name="mail-catcher")
        self.outbox = outbox
        self.count = 0  # messages kept (written whole)
        self._numbered = 0  # messages numbered, kept or not
        self._lock = threading.Lock()

    def keep(self, mail_from: str, rcpts: list[str], data: bytes) -> Path:
        """Write one message to the outbox; its path."""
        head = f"Return-Path: <{mail_from}>\r\n" + "".join(f"Delivered-To: {r}\r\n" for r in rcpts)
        with self._lock:
            self._numbered += 1
            number = self._numbered
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        path = self.outbox / f"{stamp}-{number:06d}-{_safe(rcpts[0] if rcpts else '')}.eml"
        fd, tmp = tempfile.mkstemp(dir=self.outbox, prefix=".", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(head.encode("utf-8", "replace"))
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with self._lock:
            self.count += 1  # only now: a message refused with a 451 was not kept
        return path

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> MailCatcher:
        """Create the outbox and start listening; returns once the port is open.

        Raises :class:`ConfigError` if aiosmtpd is missing or the port cannot be opened.
        """
        try:
            import aiosmtpd.smtp  # noqa: F401
        except ImportError:
            raise ConfigError(
                "the demo's mail catcher needs aiosmtpd: pip install 'sentinelle[demo]'"
            ) from None
        self.outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            self._serve_in_thread()
        except Exception as exc:
            raise ConfigError(
                f"the mail catcher could not listen on {self.host}:{self.port}: {exc}"
            ) from None
        return self

    def stop(self) -> None:
        """Stop listening and close every connection."""
        self._stop_serving()

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _factory(self) -> SMTP:
        from aiosmtpd.smtp import SMTP

        # hostname given: aiosmtpd would otherwise look up this host's FQDN per connection.
        return SMTP(
            _Keeper(self),
            hostname="sentinelle-demo.invalid",
            ident="Sentinelle demo mail catcher",
            enable_SMTPUTF8=True,
            loop=self._loop,
        )
