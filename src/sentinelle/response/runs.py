"""Notice runs started over HTTP: sent in the background of the API process, watched by the
console, and dry runs rendered in memory.

``sentinelle incident notify`` sends in the foreground of its own process; the API cannot hold
a request open for a campaign of a hundred thousand notices. :class:`NoticeRuns` starts
:meth:`ResponseEngine.send_notices <sentinelle.response.ResponseEngine.send_notices>` in a
thread of its own, on connections of its own (never the API's request connection), and keeps
each run's progress in memory for :meth:`NoticeRuns.status`. What makes a run safe is the
engine's, unchanged: the lease in the database (one run per incident and audience, across
processes and hosts), the content recorded before the first message, each recipient exactly
once. A run goes on when the client that started it goes away; at shutdown the API waits for
runs a bounded time (:data:`SHUTDOWN_WAIT`), then leaves them: a process that ends mid-run is
a killed run, whose lease is taken over at once on this host (after 60 seconds from another)
and which a rerun finishes with the same Message-IDs.

Everything comes from the server's settings (:mod:`sentinelle.notify.setup`): the notice
settings, ``SENTINELLE_SMTP``/``_SMTP_TLS`` and the directories. A caller chooses only the
incident, the audience and the notice version.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from sentinelle.config import Settings
from sentinelle.errors import ConfigError, Error
from sentinelle.incidents import Incident, Scope
from sentinelle.notify.delivery import DeliveryProgress, Retry, SmtpConfig
from sentinelle.notify.directory import address_key
from sentinelle.notify.model import Audience, RenderedNotice
from sentinelle.notify.render import NoticePlan, notice_version, sample_notices
from sentinelle.notify.setup import NoticeSetup, notice_setup, smtp_config
from sentinelle.response.engine import NoticeRun, NotifyError, ResponseEngine
from sentinelle.response.lease import LeaseHeldError
from sentinelle.store import open_store
from sentinelle.timeutil import iso, now_us

__all__ = [
    "MISSING_SHOWN",
    "SHUTDOWN_WAIT",
    "START_WAIT",
    "DryRun",
    "NoticeRuns",
    "RunState",
    "RunStatus",
    "dry_run",
]

_logger = logging.getLogger(__name__)

SHUTDOWN_WAIT: Final = 10.0
"""Seconds the API's shutdown waits for runs under way before leaving them (see module)."""
START_WAIT: Final = 30.0
"""Seconds :meth:`NoticeRuns.start` waits for a run to start sending (lease taken, directory
checked, content recorded) so that a refusal is the caller's answer, not a later status."""
MISSING_SHOWN: Final = 20
"""Ids missing from the directory that a dry run lists (all are counted)."""

_SETTING: Final = {
    Audience.SUBJECTS: "SENTINELLE_NOTIFY_DIRECTORY",
    Audience.MERCHANTS: "SENTINELLE_MERCHANT_DIRECTORY",
}


class RunState(enum.StrEnum):
    """Where a run is: ``planning`` (taking the lease, checking the directory, recording the
    content), ``sending``, then ``finished`` or ``failed`` (``error`` says why)."""

    PLANNING = "planning"
    SENDING = "sending"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RunStatus:
    """One run of this process as it stands: who started it, the plan (``recipients``,
    ``missing`` ids, ``content`` hash, once known) and the delivery counts so far.

    ``sent``, ``failed`` (refused for good by the server), ``deferred`` (left for a rerun),
    ``skipped`` (done by an earlier run), ``duplicates`` and ``resumed`` as in
    :class:`~sentinelle.notify.DeliveryReport`; ``error`` is why a failed run stopped (rows
    not sent stay for a rerun).
    """

    incident: str
    audience: Audience
    version: int
    by: str
    started_us: int
    state: RunState = RunState.PLANNING
    voluntary: bool = False
    recipients: int | None = None
    missing: int | None = None
    content: str | None = None
    read: int = 0
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    skipped: int = 0
    duplicates: int = 0
    resumed: int = 0
    finished_us: int | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        """The run ended (finished or failed): nothing more will change."""
        return self.state in (RunState.FINISHED, RunState.FAILED)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (times RFC 3339)."""
        return {
            "incident": self.incident,
            "audience": self.audience.value,
            "version": self.version,
            "by": self.by,
            "started": iso(self.started_us),
            "finished": iso(self.finished_us) if self.finished_us is not None else None,
            "state": self.state.value,
            "done": self.done,
            "voluntary": self.voluntary,
            "recipients": self.recipients,
            "missing": self.missing,
            "content": self.content,
            "read": self.read,
            "sent": self.sent,
            "failed": self.failed,
            "deferred": self.deferred,
            "skipped": self.skipped,
            "duplicates": self.duplicates,
            "resumed": self.resumed,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class DryRun:
    """What sending would do, without sending: the notice in each language, and — when the
    audience's contacts are known (a directory on the server, or the authority's address) —
    how many would get it and which ids the directory lacks (the first
    :data:`MISSING_SHOWN`, as ``(merchant, id)``). ``note`` says why counts are missing."""

    incident: str
    audience: Audience
    content: str
    voluntary: bool
    samples: tuple[RenderedNotice, ...]
    recipients: int | None = None
    missing: int | None = None
    missing_ids: tuple[tuple[str | None, str], ...] = ()
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "incident": self.incident,
            "audience": self.audience.value,
            "content": self.content,
            "voluntary": self.voluntary,
            "samples": [
                {"locale": s.locale, "subject": s.subject, "text": s.text, "html": s.html}
                for s in self.samples
            ],
            "recipients": self.recipients,
            "missing": self.missing,
            "missing_ids": [{"merchant": m, "id": i} for m, i in self.missing_ids],
            "note": self.note,
        }


def _notifiable(
    engine: ResponseEngine,
    settings: Settings,
    incident_id: str,
    audience: Audience,
    setup: NoticeSetup | None = None,
) -> tuple[Incident, Scope, NoticeSetup]:
    """The incident and scope to notify, and ``setup`` (default: the server's for
    ``audience``, from the settings alone).

    Raises :class:`~sentinelle.errors.NotFoundError`, :class:`NotifyError` when the incident
    is not assessed, and :class:`ConfigError` naming the settings missing."""
    found, scope = engine.notifiable(incident_id)  # the engine's rule, not a copy of it
    if setup is None:
        setup = notice_setup(settings, audience, shops=lambda: sorted(scope.per_merchant))
    return found, scope, setup


def dry_run(
    engine: ResponseEngine,
    settings: Settings,
    incident_id: str,
    audience: Audience,
    *,
    setup: NoticeSetup | None = None,
    samples: bool = True,
) -> DryRun:
    """Render ``audience``'s notices for review in memory and, with its contacts configured,
    plan them (the directory is read and checked whole, as before a send): nothing is sent
    or recorded. The API's (the server's settings) and ``sentinelle incident notify
    --dry-run``'s, which passes the ``setup`` its flags make and writes its samples to files
    (``samples=False``: none in memory).

    Raises :class:`~sentinelle.errors.NotFoundError`, :class:`NotifyError` (not assessed),
    :class:`ConfigError` naming missing settings or a bad template,
    :class:`~sentinelle.notify.DirectoryError` for a directory with bad rows.
    """
    found, scope, setup = _notifiable(engine, settings, incident_id, audience, setup)
    rendered = tuple(sample_notices(setup.config, found, scope, audience)) if samples else ()
    voluntary = engine.voluntary(found, audience)
    if setup.directory is None and audience is not Audience.AUTHORITY:
        return DryRun(
            incident=incident_id,
            audience=audience,
            content=notice_version(setup.config, found, audience),
            voluntary=voluntary,
            samples=rendered,
            note=f"no contact directory for {audience.value} on the server "
            f"({_SETTING[audience]}): samples only, no counts",
        )
    with engine.planned_notices(
        incident_id,
        audience,
        config=setup.config,
        key=address_key(settings.data_dir),
        directory=setup.directory,
        query=setup.query,
    ) as plan:
        pass  # planning read and checked the directory; nothing is streamed
    return DryRun(
        incident=incident_id,
        audience=audience,
        content=plan.version,
        voluntary=voluntary,
        samples=rendered,
        recipients=plan.recipients,
        missing=len(plan.missing),
        missing_ids=tuple(plan.missing[:MISSING_SHOWN]),
    )


class _Run:
    """One run's status, updated by its thread and read by requests."""

    def __init__(self, status: RunStatus) -> None:
        self._status = status
        self._lock = threading.Lock()
        self.sending = False  # the first notice was claimed: the run is under way
        self.started = threading.Event()  # sending, or ended
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def status(self) -> RunStatus:
        with self._lock:
            return self._status

    def update(self, **changes: Any) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)

    def planned(self, plan: NoticePlan) -> None:
        self.update(recipients=plan.recipients, missing=len(plan.missing), content=plan.version)

    def progress(self, p: DeliveryProgress) -> None:
        self.update(
            state=RunState.SENDING,
            read=p.read,
            sent=p.sent,
            failed=p.failed,
            deferred=p.deferred,
            skipped=p.skipped,
            duplicates=p.duplicates,
        )
        self.sending = True
        self.started.set()

    def finish(self, run: NoticeRun) -> None:
        r = run.report
        self.update(
            state=RunState.FINISHED,
            recipients=run.recipients,
            missing=len(run.missing),
            content=run.content,
            read=r.read,
            sent=r.sent,
            failed=r.failed,
            deferred=r.deferred,
            skipped=r.skipped,
            duplicates=r.duplicates,
            resumed=r.resumed,
            finished_us=now_us(),
        )
        self.started.set()

    def fail(self, exc: BaseException) -> None:
        text = exc.diagnostics() if isinstance(exc, Error) else f"{type(exc).__name__}: {exc}"
        self.error = exc
        self.update(state=RunState.FAILED, error=text, finished_us=now_us())
        self.started.set()


@dataclass(frozen=True, slots=True)
class _Options:
    concurrency: int
    rate: float | None
    retry: Retry | None
    start_wait: float


class NoticeRuns:
    """The notice runs of this API process: start one, see where they stand, and dry runs.

    ``open_engine`` opens a response engine on connections of its own (default: the settings'
    store, with a heartbeat connection for the lease); each run and each dry run gets one and
    closes it. ``concurrency``, ``rate`` and ``retry`` are the delivery's (as the CLI's
    ``--concurrency`` and ``--rate``).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        open_engine: Callable[[], ResponseEngine] | None = None,
        concurrency: int = 16,
        rate: float | None = None,
        retry: Retry | None = None,
        start_wait: float = START_WAIT,
    ) -> None:
        self.settings = settings
        self._open = open_engine or self._open_default
        self._options = _Options(concurrency, rate, retry, start_wait)
        self._runs: dict[tuple[str, Audience], _Run] = {}
        self._lock = threading.Lock()
        self._closing = False

    def _open_default(self) -> ResponseEngine:
        settings = self.settings
        return ResponseEngine(
            open_store(settings, create=False),
            reopen=lambda: open_store(settings, create=False),
        )

    # -- dry run -------------------------------------------------------------------------------
    def dry_run(self, incident_id: str, audience: Audience) -> DryRun:
        """:func:`dry_run` on a connection of its own (a large directory takes a while to
        check; the API's other requests do not wait for it)."""
        engine = self._open()
        try:
            return dry_run(engine, self.settings, incident_id, audience)
        finally:
            engine.store.close()

    # -- runs ----------------------------------------------------------------------------------
    def start(
        self, incident_id: str, audience: Audience, *, by: str, version: int = 1
    ) -> RunStatus:
        """Start sending ``audience``'s notices of ``version`` in the background, attributed to
        ``by``; return the run's status once it is sending (or ended, or after
        :data:`START_WAIT` seconds still planning).

        What prevents the run is raised here, and nothing was sent:
        :class:`~sentinelle.errors.NotFoundError`; :class:`NotifyError` (not assessed, the
        content changed since ``version`` went out, the server shutting down);
        :class:`ConfigError` naming the setting missing or wrong (notice settings, contact
        directory, SMTP relay and TLS); :class:`LeaseHeldError` when a run for the incident and
        audience is under way, in this process or another;
        :class:`~sentinelle.notify.DirectoryError` for a directory with bad rows. What happens
        once sending began (the SMTP server unreachable…) is in the run's status.
        """
        key = (incident_id, audience)
        run = _Run(RunStatus(incident_id, audience, version, by, now_us()))
        with self._lock:
            if self._closing:
                raise NotifyError("the server is shutting down: start the notices again later")
            previous = self._runs.get(key)
            if previous is not None and not previous.status().done:
                was = previous.status()
                raise LeaseHeldError(
                    f"a run sending {incident_id}'s notices to {audience.value} is under way "
                    f"on this server (started by {was.by} at {iso(was.started_us)}): wait for "
                    "it to end (GET …/notices/runs)"
                )
            self._runs[key] = run  # reserved: a second start now finds it under way
        try:
            self._launch(run)
            run.started.wait(self._options.start_wait)
            if run.error is not None and not run.sending:
                raise run.error
        except BaseException:
            with self._lock:  # it never started: the previous run's status stays shown
                if self._runs.get(key) is run:
                    if previous is None:
                        del self._runs[key]
                    else:
                        self._runs[key] = previous
            raise
        return run.status()

    def _launch(self, run: _Run) -> None:
        s = run.status()
        engine = self._open()
        try:
            found, _scope, setup = _notifiable(engine, self.settings, s.incident, s.audience)
            if setup.directory is None and s.audience is not Audience.AUTHORITY:
                raise ConfigError(
                    f"notices to {s.audience.value} need a contact directory: the server has "
                    f"no {_SETTING[s.audience]}"
                )
            smtp = smtp_config(self.settings, sender=setup.config.sender_address)
            key = address_key(self.settings.data_dir)
            run.update(voluntary=engine.voluntary(found, s.audience))
            thread = threading.Thread(
                target=self._send,
                args=(run, engine, setup, smtp, key),
                name=f"notices-{s.incident}-{s.audience.value}",
                daemon=True,  # a run left at exit is a killed run: the lease design covers it
            )
            run.thread = thread
            thread.start()
        except BaseException:
            engine.store.close()
            raise

    def _send(
        self, run: _Run, engine: ResponseEngine, setup: NoticeSetup, smtp: SmtpConfig, key: bytes
    ) -> None:
        s = run.status()
        o = self._options
        try:
            result = engine.send_notices(
                s.incident,
                s.audience,
                config=setup.config,
                key=key,
                smtp=smtp,
                by=s.by,
                directory=setup.directory,
                query=setup.query,
                version=s.version,
                rate=o.rate,
                concurrency=o.concurrency,
                progress=run.progress,
                on_plan=run.planned,
                retry=o.retry,
            )
        except Exception as exc:  # kept on the run, for its status and for start()
            if isinstance(exc, Error):
                _logger.warning(
                    "notices of %s to %s stopped: %s",
                    s.incident,
                    s.audience.value,
                    exc.diagnostics(),
                )
            else:
                _logger.exception("notices of %s to %s failed", s.incident, s.audience.value)
            run.fail(exc)
        else:
            run.finish(result)
        finally:
            engine.store.close()

    def status(self, incident_id: str) -> dict[Audience, RunStatus]:
        """The latest run of this process for each audience of ``incident_id`` (under way or
        ended; runs of other processes and before a restart are not here: the notices' own
        status, :meth:`ResponseEngine.notice_status`, has what they sent)."""
        with self._lock:
            runs = [(a, r) for (i, a), r in self._runs.items() if i == incident_id]
        return {audience: run.status() for audience, run in sorted(runs, key=lambda x: x[0])}

    def close(self, timeout: float = SHUTDOWN_WAIT) -> list[RunStatus]:
        """Refuse new runs and wait up to ``timeout`` seconds for those under way; return the
        ones still sending (left to go on until the process ends; see the module)."""
        with self._lock:
            self._closing = True
            runs = list(self._runs.values())
        deadline = time.monotonic() + timeout
        for run in runs:
            if run.thread is not None:
                run.thread.join(max(0.0, deadline - time.monotonic()))
        left = [r.status() for r in runs if r.thread is not None and r.thread.is_alive()]
        for s in left:
            _logger.warning(
                "notices of %s to %s still sending at shutdown (%d sent so far): if the "
                "process ends first, run them again (the lease expires; nobody gets two)",
                s.incident,
                s.audience.value,
                s.sent,
            )
        return left
