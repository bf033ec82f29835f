"""Leases: one holder at a time for a named piece of work, across processes and hosts.

A notice run for one (incident, audience) must be the only one: two runs would both take over
the rows the other has queued. The rule lives in the database (table ``leases``), so it holds
for every host sharing a PostgreSQL database and for API callers as well as the CLI. The
holder renews its lease while it works (a heartbeat thread on a connection of its own); a
holder that dies stops renewing and its lease expires. A holder on the same host whose process
is gone is taken over at once, so a killed run can be resumed without waiting for the expiry.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

from sentinelle.errors import Error
from sentinelle.store import Store
from sentinelle.store.incidents import LeaseRow
from sentinelle.timeutil import SECOND, iso, now_us

__all__ = ["DEFAULT_TTL_US", "LeaseHeldError", "hold_lease"]

_logger = logging.getLogger(__name__)

DEFAULT_TTL_US: Final = 60 * SECOND  # a lease not renewed for this long is free


class LeaseHeldError(Error):
    """Someone else holds the lease: the work is under way elsewhere."""


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _stale_here(holder: str) -> bool:
    """Whether ``holder`` is a process of this host that no longer runs."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it runs, under another user
        return False
    return False


@contextmanager
def hold_lease(
    store: Store,
    name: str,
    *,
    what: str,
    ttl_us: int = DEFAULT_TTL_US,
    heartbeat: Callable[[], Store] | None = None,
) -> Iterator[str]:
    """Hold the lease ``name`` for the block; yield the holder's id.

    ``what`` says what the work is, for the error. With ``heartbeat`` (opens a store
    connection of its own), a thread renews the lease every third of ``ttl_us`` while the
    block runs; without it the lease must not outlive ``ttl_us``.

    Raises :class:`LeaseHeldError` if another live holder has it, naming the holder and
    when it expires.
    """
    me = _holder()
    now = now_us()
    with store.writer() as w:
        current = w.lease(name)
        if current is not None and current.expires_us > now and not _stale_here(current.holder):
            raise LeaseHeldError(
                f"{what} is under way elsewhere ({current.holder.rsplit(':', 1)[0]}, since "
                f"{iso(current.acquired_us)}); wait for it to end, or until "
                f"{iso(current.expires_us)} if it died"
            )
        w.put_lease(LeaseRow(name, me, now, now + ttl_us))
    stop = threading.Event()
    thread = None
    if heartbeat is not None:
        thread = threading.Thread(
            target=_beat, args=(heartbeat, name, me, ttl_us, stop), daemon=True
        )
        thread.start()
    try:
        yield me
    finally:
        stop.set()
        if thread is not None:
            thread.join()
        with store.writer() as w:
            w.drop_lease(name, me)


def _beat(
    open_store: Callable[[], Store], name: str, me: str, ttl_us: int, stop: threading.Event
) -> None:
    try:
        own = open_store()
    except Error as exc:
        _logger.warning("lease %s: no heartbeat connection (%s)", name, exc.diagnostics())
        return
    try:
        while not stop.wait(ttl_us / SECOND / 3):
            try:
                with own.writer() as w:
                    if not w.renew_lease(name, me, now_us() + ttl_us):
                        _logger.warning("lease %s was taken over while held", name)
                        return
            except Error as exc:  # a busy database: try again at the next beat
                _logger.warning("lease %s: heartbeat failed (%s)", name, exc.diagnostics())
    finally:
        own.close()
