"""Delivery of breach notices by SMTP: each (incident, audience, version, recipient) once.

SMTP is RFC 5321 (a 4xx reply is transient, a 5xx permanent; 250 after DATA hands the
message over), the Message-ID is RFC 5322 §3.6.4, DKIM signatures are RFC 6376.

**Exactly once.** Every notice has a row in the store (:mod:`sentinelle.store.notices`),
keyed by the keyed hash of the address, never the address. A run:

1. reads the outbound records in chunks (the iterable is streamed, never held whole) and
   records each chunk as ``pending`` in one transaction, skipping rows already ``sent`` or
   ``failed``; rows this run already queued (a recipient repeated in the input) are skipped too;
2. before a worker starts the SMTP transaction of a notice, marks its row ``sending`` and waits
   for that commit (marks of several workers share one commit);
3. marks the row ``sent`` only after the server's 250 reply to DATA, ``failed`` on a 5xx, and
   back to ``pending`` on a 4xx (retried with exponential backoff, a bounded number of times).

A worker commits its previous outcome with its next ``sending`` mark, so when the process is
killed at most one notice per worker (``concurrency`` in all) may have reached the server
without being recorded ``sent``. A rerun sends every ``pending`` and ``sending`` row again, with
the same Message-ID, derived from the row's key (:func:`message_id_for`): a recipient may
receive the same message twice, but never two different notices.

One run per (incident, audience, version) at a time: two concurrent runs would both take over
the rows the other has queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import itertools
import logging
import re
import secrets
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import aiosmtplib

from sentinelle.errors import ConfigError, Error, StoreError
from sentinelle.notify.model import Outbound
from sentinelle.store.base import Store
from sentinelle.store.notices import NoticeStatus
from sentinelle.timeutil import from_us, now_us

__all__ = [
    "DeliveryError",
    "DeliveryProgress",
    "DeliveryReport",
    "DkimConfig",
    "Retry",
    "SmtpConfig",
    "TlsMode",
    "TokenBucket",
    "deliver",
    "deliver_async",
    "message_id_for",
    "notice_status",
]

_logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_EMAIL: Final = re.compile(r"[^\s<>()\[\]@,;:\"]+@[^\s<>()\[\]@,;:\"]+")
_REPLY_MAX: Final = 500
# Replies that condemn the session (authentication or TLS required), not the recipient: every
# further notice would fail the same way, so the run stops instead of failing them all for good.
_SESSION_CODES: Final = frozenset({530, 534, 535, 538})


class DeliveryError(Error):
    """Delivery stopped: the SMTP server is unreachable or refuses the session or sender.

    Nothing is lost: rows not yet sent stay ``pending`` (or ``sending``) and a rerun sends them.
    """


class TlsMode(enum.StrEnum):
    """How the SMTP connection is protected.

    NONE: plain text (loopback relays only). STARTTLS: upgrade after EHLO (port 587).
    IMPLICIT: TLS from the first byte (port 465).
    """

    NONE = "none"
    STARTTLS = "starttls"
    IMPLICIT = "implicit"


@dataclass(frozen=True, slots=True, kw_only=True)
class DkimConfig:
    """DKIM signing (RFC 6376): the selector and domain published in DNS and the private key.

    ``key_file`` holds the RSA private key in PEM (PKCS#1 or PKCS#8).
    """

    selector: str
    domain: str
    key_file: Path

    def load_key(self) -> bytes:
        """The private key's PEM bytes. Raises :class:`ConfigError` if it cannot be read."""
        try:
            return self.key_file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the DKIM key {self.key_file}: {exc}") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpConfig:
    """Where and how to hand notices over.

    ``sender`` is the envelope sender (bounces go there); its domain also names the
    Message-IDs. ``helo`` defaults to this host's name.
    """

    host: str
    port: int
    sender: str
    tls: TlsMode = TlsMode.STARTTLS
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    dkim: DkimConfig | None = None
    timeout: float = 30.0
    tls_context: ssl.SSLContext | None = None
    helo: str | None = None

    def check(self) -> None:
        """Refuse unsafe or incomplete settings. Raises :class:`ConfigError`."""
        if "@" not in self.sender:
            raise ConfigError("the SMTP sender must be an address (notices@example.org)")
        if (self.username is None) != (self.password is None):
            raise ConfigError("SMTP login needs both a username and a password")
        # A password sent over plain text is readable by anyone on the path; only a relay on
        # this host is exempt.
        if (
            self.username is not None
            and self.tls is TlsMode.NONE
            and self.host not in ("localhost", "127.0.0.1", "::1")
        ):
            raise ConfigError("SMTP login without TLS would send the password in clear")

    @property
    def domain(self) -> str:
        """The sender's domain."""
        return self.sender.rpartition("@")[2]


@dataclass(frozen=True, slots=True, kw_only=True)
class Retry:
    """Retries of a transient failure (4xx reply, lost connection) within one run.

    Attempt ``n`` (from 1) that fails is retried after ``min(cap, base * 2 ** (n - 1))``
    seconds, until ``attempts`` attempts were made; the row then stays unsent for a rerun.
    """

    attempts: int = 5
    base: float = 1.0
    cap: float = 300.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        return float(min(self.cap, self.base * 2 ** (attempt - 1)))


class TokenBucket:
    """A token bucket: ``rate`` tokens a second, at most ``burst`` saved up.

    :meth:`reserve` takes a token and says how long to wait before using it; tokens taken
    ahead are a debt, so waits never add up their lateness.

    >>> bucket = TokenBucket(rate=10, burst=1, now=0.0)
    >>> [round(bucket.reserve(0.0), 2) for _ in range(3)]
    [0.0, 0.1, 0.2]
    """

    def __init__(self, *, rate: float, burst: float = 1.0, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ConfigError("the rate limit must be positive, with a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last = now

    def reserve(self, now: float) -> float:
        """Take one token at time ``now``; return the seconds to wait before using it."""
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


@dataclass(frozen=True, slots=True)
class DeliveryProgress:
    """Counts so far, for a progress display.

    ``read`` outbound records were read; each ends up ``sent``, ``failed``, ``deferred``
    (transient failures left for a rerun), ``skipped`` (sent or failed by an earlier run),
    ``duplicates`` (repeated in the input) or is still ``queued``.
    """

    read: int
    sent: int
    failed: int
    deferred: int
    skipped: int
    duplicates: int
    queued: int


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one run did; ``resumed`` counts notices an interrupted run left ``sending``
    (sent again with the same Message-ID; the recipient may see it twice)."""

    incident: str
    audience: str
    version: int
    read: int
    sent: int
    failed: int
    deferred: int
    skipped: int
    duplicates: int
    resumed: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "incident": self.incident,
            "audience": self.audience,
            "version": self.version,
            "read": self.read,
            "sent": self.sent,
            "failed": self.failed,
            "deferred": self.deferred,
            "skipped": self.skipped,
            "duplicates": self.duplicates,
            "resumed": self.resumed,
            "seconds": round(self.seconds, 3),
        }


def message_id_for(incident: str, audience: str, version: int, recipient: str, domain: str) -> str:
    """The Message-ID of one notice: a hash of its key, ``@`` the sender's domain.

    The same notice always gets the same id, so a resend after a crash is recognisably the
    same message; the recipient hash it is built from is itself keyed, so the id reveals
    nothing about the address.
    """
    key = "\x00".join(("sentinelle-notice", incident, audience, str(version), recipient))
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def deliver(
    store: Store,
    *,
    incident: str,
    audience: str,
    version: int,
    outbound: Iterable[Outbound],
    smtp: SmtpConfig,
    rate: float | None = None,
    concurrency: int = 8,
    progress: Callable[[DeliveryProgress], None] | None = None,
    retry: Retry | None = None,
    batch: int = 500,
) -> DeliveryReport:
    """Send every notice of ``outbound`` not yet sent, each once; see the module docstring.

    ``rate`` caps messages per second (``None``: no cap); ``concurrency`` is the number of
    SMTP connections, each reused for many messages; ``progress`` is called after each notice.
    Runs its own event loop: from async code, await :func:`deliver_async`.

    Raises :class:`DeliveryError` if the server cannot be reached or refuses the session,
    :class:`ConfigError` on bad settings and :class:`StoreError` if the store fails; rows
    not sent stay unsent and a rerun sends them.
    """
    return asyncio.run(
        deliver_async(
            store,
            incident=incident,
            audience=audience,
            version=version,
            outbound=outbound,
            smtp=smtp,
            rate=rate,
            concurrency=concurrency,
            progress=progress,
            retry=retry,
            batch=batch,
        )
    )


async def deliver_async(
    store: Store,
    *,
    incident: str,
    audience: str,
    version: int,
    outbound: Iterable[Outbound],
    smtp: SmtpConfig,
    rate: float | None = None,
    concurrency: int = 8,
    progress: Callable[[DeliveryProgress], None] | None = None,
    retry: Retry | None = None,
    batch: int = 500,
) -> DeliveryReport:
    """:func:`deliver` for a running event loop."""
    smtp.check()
    if concurrency < 1 or batch < 1:
        raise ConfigError("concurrency and batch must be at least 1")
    run = _Run(
        store,
        key=(incident, str(audience), version),
        smtp=smtp,
        rate=rate,
        concurrency=concurrency,
        progress=progress,
        retry=retry or Retry(),
        batch=batch,
    )
    return await run.execute(outbound)


def notice_status(store: Store, incident: str, *, recipients: bool = True) -> dict[str, Any]:
    """Where an incident's notices stand, for ``sentinelle incident notices ID --json``.

    ``audiences`` maps each audience to counts ``sent``, ``failed`` and ``pending`` (not yet
    sent: ``sending`` is the part of those that may have reached the server, to be resent with
    the same Message-ID), in total and per notice version. ``recipients`` lists each notice
    by hashed address, unless ``recipients=False``.
    """
    audiences: dict[str, dict[str, Any]] = {}
    for audience, version, status, count in store.notice_counts(incident):
        entry = audiences.setdefault(audience, {**_zero_counts(), "versions": {}})
        per_version = entry["versions"].setdefault(str(version), _zero_counts())
        for target in (entry, per_version):
            if status.done:
                target[status.value] += count
            else:
                target["pending"] += count
                if status is NoticeStatus.SENDING:
                    target["sending"] += count
    out: dict[str, Any] = {"incident": incident, "audiences": audiences}
    if recipients:
        out["recipients"] = [
            {
                "audience": row.audience,
                "version": row.version,
                "recipient": row.recipient,
                "message_id": row.message_id,
                "status": row.status.value,
                "attempts": row.attempts,
                "updated": from_us(row.updated_us).isoformat(),
                "reply_code": row.reply_code,
                "reply_text": row.reply_text,
            }
            for rows in store.notice_rows(incident)
            for row in rows
        ]
    return out


def _zero_counts() -> dict[str, int]:
    return {"sent": 0, "failed": 0, "pending": 0, "sending": 0}


def _redact(text: str, address: str) -> str:
    """A server reply without the address (replies often quote it) or any other address."""
    if address:
        text = re.sub(re.escape(address), "recipient", text, flags=re.IGNORECASE)
    return _EMAIL.sub("address", text)[:_REPLY_MAX]


@dataclass(slots=True)
class _Job:
    out: Outbound
    message_id: str
    attempt: int = 0


class _Temporary(Exception):  # noqa: N818 - internal signal, never escapes
    """A transient failure of one attempt: retry later.

    ``status`` is what the row becomes: ``pending`` after a 4xx (the server did not take
    the message), ``sending`` after a lost connection (it may have: a rerun resends it with
    the same Message-ID), ``None`` when nothing was sent (the row is left as it is).
    """

    def __init__(self, code: int | None, text: str, *, status: str | None) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.status = status


class _Connection:
    """One worker's SMTP connection: opened on first use, reused, reopened when dropped."""

    def __init__(self, smtp: SmtpConfig) -> None:
        self._smtp = smtp
        self._client: aiosmtplib.SMTP | None = None

    async def client(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        self.drop()
        cfg = self._smtp
        client = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            username=cfg.username,
            password=cfg.password,
            local_hostname=cfg.helo,
            timeout=cfg.timeout,
            use_tls=cfg.tls is TlsMode.IMPLICIT,
            start_tls=cfg.tls is TlsMode.STARTTLS,
            tls_context=cfg.tls_context,
        )
        await client.connect()
        self._client = client
        return client

    def drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def quit(self) -> None:
        if self._client is not None and self._client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
                await self._client.quit()
        self.drop()


class _Run:
    """The state of one delivery run (one event loop)."""

    def __init__(
        self,
        store: Store,
        *,
        key: tuple[str, str, int],
        smtp: SmtpConfig,
        rate: float | None,
        concurrency: int,
        progress: Callable[[DeliveryProgress], None] | None,
        retry: Retry,
        batch: int,
    ) -> None:
        self.store = store
        self.key = key
        self.smtp = smtp
        self.concurrency = concurrency
        self.progress = progress
        self.retry = retry
        self.batch = batch
        self.rate = rate
        self.token = secrets.token_hex(8)  # this run's claim on the rows it queues
        self.dkim_key = smtp.dkim.load_key() if smtp.dkim is not None else None
        self.counts = dict.fromkeys(
            ("read", "sent", "failed", "deferred", "skipped", "duplicates", "resumed"), 0
        )
        self.outstanding = 0
        self.producing = True
        self.stopped = False
        self.connect_failures = 0
        # Outcomes waiting to be committed, and the rows waiting for their "sending" mark.
        self.finals: list[tuple[str, str, int | None, str | None, int]] = []
        self.sending: list[tuple[str, asyncio.Future[bool]]] = []
        # Outcomes whose commit failed: those rows stay "sending" in the store.
        self.unrecorded: list[tuple[str, str, int | None, str | None, int]] = []
        self.closing = False

    # -- the run ---------------------------------------------------------------------------
    async def execute(self, outbound: Iterable[Outbound]) -> DeliveryReport:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        self.loop = loop
        # One thread owns the store connection for the run: commits overlap SMTP round trips.
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notices-db")
        self.queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self.room = asyncio.Semaphore(self.batch + 2 * self.concurrency)
        self.wake = asyncio.Event()
        self.bucket = (
            TokenBucket(rate=self.rate, now=loop.time()) if self.rate is not None else None
        )
        recorder = asyncio.create_task(self._record())
        tasks = [asyncio.create_task(self._produce(outbound))]
        tasks += [asyncio.create_task(self._worker()) for _ in range(self.concurrency)]
        work = asyncio.gather(*tasks)  # fails as soon as one task fails
        flush_error: Exception | None = None
        try:
            # The recorder only ends early by failing; then the store is unusable.
            waiting: list[asyncio.Future[Any]] = [work, recorder]
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for finished in done:
                finished.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if work.done() and not work.cancelled():
                work.exception()  # retrieved: the first failure is already being raised
            # Commit every outcome known, even when stopping on an error.
            self.closing = True
            self.wake.set()
            try:
                await recorder
            except Exception as exc:  # raised below, unless another error already is
                flush_error = exc
            self.db.shutdown(wait=True)
        if flush_error is not None:
            # Never report as sent what the store does not say was sent.
            raise self._unrecorded_error(flush_error)
        c = self.counts
        report = DeliveryReport(
            self.key[0],
            self.key[1],
            self.key[2],
            read=c["read"],
            sent=c["sent"],
            failed=c["failed"],
            deferred=c["deferred"],
            skipped=c["skipped"],
            duplicates=c["duplicates"],
            resumed=c["resumed"],
            seconds=time.perf_counter() - started,
        )
        _logger.info(
            "notices %s/%s v%d: %d sent, %d failed, %d deferred, %d skipped, %d duplicates",
            *self.key,
            report.sent,
            report.failed,
            report.deferred,
            report.skipped,
            report.duplicates,
        )
        return report

    async def _in_db(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await self.loop.run_in_executor(self.db, _store_call, fn, *args)

    def _notify(self) -> None:
        if self.progress is not None:
            c = self.counts
            self.progress(
                DeliveryProgress(
                    read=c["read"],
                    sent=c["sent"],
                    failed=c["failed"],
                    deferred=c["deferred"],
                    skipped=c["skipped"],
                    duplicates=c["duplicates"],
                    queued=self.outstanding,
                )
            )

    # -- producer: stream the input, record it, queue what is missing -----------------------
    async def _produce(self, outbound: Iterable[Outbound]) -> None:
        records = iter(outbound)
        while chunk := list(itertools.islice(records, self.batch)):
            self.counts["read"] += len(chunk)
            unique: dict[str, Outbound] = {}
            for out in chunk:
                if out.recipient in unique:
                    self.counts["duplicates"] += 1
                else:
                    unique[out.recipient] = out
            take, duplicates, skipped, resumed = await self._in_db(self._claim, unique)
            self.counts["duplicates"] += duplicates
            self.counts["skipped"] += skipped
            self.counts["resumed"] += resumed
            self._notify()
            for out, message_id in take:
                await self.room.acquire()
                self.outstanding += 1
                self.queue.put_nowait(_Job(out, message_id))
            del chunk, unique, take
        self.producing = False
        self._maybe_stop()

    def _claim(
        self, unique: dict[str, Outbound]
    ) -> tuple[list[tuple[Outbound, str]], int, int, int]:
        """Record a chunk as pending and claim what this run must send (in the DB thread)."""
        incident, audience, version = self.key
        domain = self.smtp.domain
        recipients = list(unique)
        take: list[tuple[Outbound, str]] = []
        duplicates = skipped = resumed = 0
        with self.store.writer() as w:
            w.add_notices(
                incident,
                audience,
                version,
                [(r, message_id_for(incident, audience, version, r, domain)) for r in recipients],
                at_us=now_us(),
            )
            states = w.notice_states(incident, audience, version, recipients)
            for recipient, out in unique.items():
                status, message_id, claim = states[recipient]
                if claim == self.token:  # queued earlier in this run: a repeated recipient
                    duplicates += 1
                elif status in ("sent", "failed"):
                    skipped += 1
                else:
                    resumed += status == "sending"
                    take.append((out, message_id))
            w.claim_notices(incident, audience, version, [o.recipient for o, _ in take], self.token)
        return take, duplicates, skipped, resumed

    def _maybe_stop(self) -> None:
        if not self.producing and self.outstanding == 0 and not self.stopped:
            self.stopped = True
            for _ in range(self.concurrency):
                self.queue.put_nowait(None)

    def _finish(self, outcome: str) -> None:
        self.counts[outcome] += 1
        self.outstanding -= 1
        self.room.release()
        self._notify()
        self._maybe_stop()

    # -- recorder: group commits of status changes -----------------------------------------
    async def _record(self) -> None:
        while True:
            if not self.finals and not self.sending:
                if self.closing:
                    return
                self.wake.clear()
                await self.wake.wait()
                continue
            finals, sending = self.finals, self.sending
            self.finals, self.sending = [], []
            try:
                marked = await self._in_db(self._commit, finals, [r for r, _ in sending])
            except BaseException as exc:
                self.unrecorded += finals
                for _, future in sending:
                    if not future.done():
                        future.set_exception(exc)
                raise
            for recipient, future in sending:
                if not future.done():
                    future.set_result(recipient in marked)

    def _commit(
        self, finals: Sequence[tuple[str, str, int | None, str | None, int]], sending: Sequence[str]
    ) -> set[str]:
        # Outcomes first: a row's outcome is always queued before its next "sending" mark.
        with self.store.writer() as w:
            if finals:
                w.set_notice_outcomes(*self.key, finals)
            return w.mark_notices_sending(*self.key, sending, at_us=now_us()) if sending else set()

    def _unrecorded_error(self, exc: Exception) -> Error:
        lost = self.unrecorded + self.finals
        if not lost:
            return exc if isinstance(exc, Error) else StoreError(f"cannot record notices: {exc}")
        sent = sum(1 for outcome in lost if outcome[1] == "sent")
        return StoreError(
            f"{sent} notices were sent but not recorded as sent (and {len(lost) - sent} other "
            f"outcomes were lost): {exc}; they stay 'sending', and a rerun sends them again "
            "with the same Message-ID"
        )

    async def _mark_sending(self, recipient: str) -> bool:
        future: asyncio.Future[bool] = self.loop.create_future()
        self.sending.append((recipient, future))
        self.wake.set()
        return await future

    def _outcome(self, recipient: str, status: str, code: int | None, text: str | None) -> None:
        self.finals.append((recipient, status, code, text, now_us()))
        self.wake.set()

    # -- workers -----------------------------------------------------------------------------
    async def _worker(self) -> None:
        conn = _Connection(self.smtp)
        try:
            while (job := await self.queue.get()) is not None:
                await self._attempt(job, conn)
            await conn.quit()
        finally:
            conn.drop()

    def _render(self, job: _Job) -> bytes:
        build_bytes = job.out.build_bytes
        if build_bytes is not None:
            data = _checked_bytes(build_bytes(job.message_id), job.message_id)
        else:
            message = job.out.build(job.message_id)
            if message["Message-ID"] is None:
                message["Message-ID"] = job.message_id
            elif message["Message-ID"].strip() != job.message_id:
                # A builder that ignores the id would make a resend look like a new notice.
                raise DeliveryError("the notice builder set a Message-ID other than the one given")
            # The builder's own policy (header folding, encodings), with the CRLF line ends
            # SMTP needs, so the bytes signed are the bytes sent.
            data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        if self.smtp.dkim is not None:
            import dkim  # type: ignore[import-untyped]

            cfg = self.smtp.dkim
            try:
                signature = dkim.sign(
                    data, cfg.selector.encode(), cfg.domain.encode(), self.dkim_key
                )
            except dkim.DKIMException as exc:
                raise ConfigError(f"cannot DKIM-sign notices: {exc}") from None
            data = signature + data
        return bytes(data)

    async def _attempt(self, job: _Job, conn: _Connection) -> None:
        job.attempt += 1
        recipient = job.out.recipient
        if self.bucket is not None:
            wait = self.bucket.reserve(self.loop.time())
            if wait > 0:
                await asyncio.sleep(wait)
        data = self._render(job)
        try:
            client = await self._connect(conn)
            if not await self._mark_sending(recipient):
                # Sent or failed meanwhile (another run): never send a row twice.
                self._finish("skipped")
                return
            refused = await self._send(client, conn, job.out.to, data)
        except _Temporary as exc:
            self._retry_later(job, exc)
            return
        if refused is None:
            self._outcome(recipient, "sent", 250, None)
            self._finish("sent")
            return
        code, text = refused
        self._outcome(recipient, "failed", code, text)
        _logger.warning("notice to %s… failed for good: %d %s", recipient[:12], code, text)
        self._finish("failed")

    async def _connect(self, conn: _Connection) -> aiosmtplib.SMTP:
        try:
            client = await conn.client()
        except (aiosmtplib.SMTPAuthenticationError, aiosmtplib.SMTPNotSupported) as exc:
            raise DeliveryError(
                f"the SMTP server {self.smtp.host}:{self.smtp.port} refused the session: "
                f"{_redact(str(exc), '')}"
            ) from None
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            conn.drop()
            if type(exc) is aiosmtplib.SMTPException:
                # No reply code: the server lacks what the settings need (STARTTLS, AUTH);
                # no retry or rerun helps, so say what is missing at once.
                raise DeliveryError(
                    f"the SMTP server {self.smtp.host}:{self.smtp.port} cannot be used with "
                    f"these settings: {_redact(str(exc), '')}"
                ) from None
            self.connect_failures += 1
            if self.connect_failures > self.retry.attempts + self.concurrency:
                raise DeliveryError(
                    f"cannot connect to the SMTP server {self.smtp.host}:{self.smtp.port} "
                    f"({type(exc).__name__}: {_redact(str(exc), '')}); unsent notices stay "
                    "pending, run again"
                ) from None
            code = exc.code if isinstance(exc, aiosmtplib.SMTPResponseException) else None
            reason = _redact(str(exc), "")
            raise _Temporary(
                code,
                f"cannot connect: {type(exc).__name__}" + (f": {reason}" if reason else ""),
                status=None,
            ) from None
        self.connect_failures = 0
        return client

    async def _send(
        self, client: aiosmtplib.SMTP, conn: _Connection, to: str, data: bytes
    ) -> tuple[int, str] | None:
        """One SMTP transaction: ``None`` once the server took it, ``(code, reply)`` on a 5xx.

        Raises :class:`_Temporary` on a 4xx or a lost connection, :class:`DeliveryError` when
        the reply condemns the session or the sender rather than this recipient.
        """
        try:
            await client.sendmail(self.smtp.sender, [to], data)
            return None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients[0].code, exc.recipients[0].message
        except aiosmtplib.SMTPSenderRefused as exc:
            raise DeliveryError(
                f"the SMTP server refused the sender {self.smtp.sender}: {exc.code} "
                f"{_redact(exc.message, to)}"
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            code, text = exc.code, exc.message
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            # Lost between MAIL and the reply to DATA: the server may have the message.
            conn.drop()
            raise _Temporary(
                None, f"connection lost: {type(exc).__name__}", status="sending"
            ) from None
        text = _redact(text, to)
        if code == 421:  # the server is closing the connection
            conn.drop()
        if code in _SESSION_CODES:
            raise DeliveryError(f"the SMTP server refused the session: {code} {text}")
        if 400 <= code < 500:
            raise _Temporary(code, text, status="pending")
        return code, text

    def _retry_later(self, job: _Job, exc: _Temporary) -> None:
        recipient = job.out.recipient
        if exc.status is not None:
            self._outcome(recipient, exc.status, exc.code, exc.text)
        if job.attempt >= self.retry.attempts:
            _logger.warning(
                "notice to %s… deferred after %d attempts: %s",
                recipient[:12],
                job.attempt,
                exc.text,
            )
            self._finish("deferred")
            return
        self.loop.call_later(self.retry.delay(job.attempt), self.queue.put_nowait, job)


_MESSAGE_ID: Final = re.compile(rb"(?im)^message-id:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)")


def _checked_bytes(data: bytes, message_id: str) -> bytes:
    """A built message's bytes, refused unless CRLF throughout with the Message-ID given.

    Without a Message-ID header, one is added. Raises :class:`DeliveryError` otherwise:
    a builder that ignores the id would make a resend look like a new notice, and a bare LF
    would change the bytes between signing and sending.
    """
    if data.count(b"\n") != data.count(b"\r\n") or data.count(b"\r") != data.count(b"\r\n"):
        raise DeliveryError("the notice builder must give CRLF line ends")
    end = data.find(b"\r\n\r\n")
    head = data[: end + 2] if end >= 0 else data
    found = [m.group(1).replace(b"\r\n", b"").strip() for m in _MESSAGE_ID.finditer(head)]
    if not found:
        return b"Message-ID: " + message_id.encode("ascii") + b"\r\n" + data
    if found != [message_id.encode("ascii", "replace")]:
        raise DeliveryError("the notice builder set a Message-ID other than the one given")
    return data


def _store_call(fn: Callable[..., _T], *args: Any) -> _T:
    """Run a store operation; database driver errors become :class:`StoreError`."""
    try:
        return fn(*args)
    except Error:
        raise
    except Exception as exc:
        # Only hashes and counts go to the store: its errors carry no address.
        raise StoreError(f"cannot record notices: {exc}") from exc
