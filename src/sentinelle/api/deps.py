"""What every route depends on: the shared state, the principal and the permission check.

Every route but ``/health`` and the API's own description declares its permission with
:func:`guarded`: the check runs before the route (401 without valid credentials, 403 when the
role does not allow it or the merchant in the path is not the caller's) and the permission is
written into the OpenAPI document (``x-sentinelle-permission``), where a test reads it to prove
each route refuses what it must.

The principal is an API key's (``Authorization: Bearer``) or, without that header, the
account of a live console session (the ``sentinelle_session`` cookie,
:mod:`sentinelle.access.sessions`). A session's request that may change something (any method
but GET, HEAD, OPTIONS) must carry the session's CSRF token in ``X-CSRF-Token``, or gets 403:
a browser sends the cookie with any site's request, never the header. A key's request needs
none (browsers never add an ``Authorization`` header on their own).

Routers are made with ``route_class=GuardedRoute``: FastAPI reads and parses a request's JSON
body before it runs any dependency, so without it a stranger's malformed body got a 422 (and
was read in full) before the 401. :class:`GuardedRoute` decides 401/403 first, from the same
declaration; the dependency stays as the check of a route on a plain router.

Work on the store runs off the event loop in one of two ways. :func:`locked` runs it on the
process's one connection (``state.store``, ``state.ledger``, ``state.engine``), one request at
a time: every write, and any read that must follow this process's writes in order.
:func:`reading` runs a read on a connection of a small pool (:data:`READ_CONNECTIONS`), in one
read transaction, next to other reads and while a write holds the lock: SQLite in WAL mode and
PostgreSQL let readers work beside one writer. Its connections refuse writes. A key's lookup
is such a read; a console session's is not (it records the session's last use).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Final, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute

from sentinelle.access import ForbiddenError, Permission, Principal, authorize
from sentinelle.access.accounts import authenticate_key, hash_key
from sentinelle.access.sessions import SESSION_COOKIE, csrf_matches, session_principal
from sentinelle.config import Settings
from sentinelle.detect import DetectConfig
from sentinelle.errors import StoreError
from sentinelle.guard.service import GuardPolicy
from sentinelle.ledger.log import Ledger
from sentinelle.live import AfterBatch, after_batch
from sentinelle.response import NoticeRuns, ResponseEngine
from sentinelle.store import Store, open_store
from sentinelle.timeutil import MINUTE, now_us

_logger = logging.getLogger(__name__)

__all__ = [
    "CSRF_HEADER",
    "PERMISSION_KEY",
    "READ_CONNECTIONS",
    "REQUEST_THREADS",
    "SAFE_METHODS",
    "CurrentPrincipal",
    "GuardedRoute",
    "Reader",
    "State",
    "StateDep",
    "guarded",
    "locked",
    "reading",
    "session_of",
]

PERMISSION_KEY: Final = "x-sentinelle-permission"
CSRF_HEADER: Final = "X-CSRF-Token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
#: Read connections of an API process, opened when first needed. The work of a read is mostly
#: Python (one core per process, the GIL): more would add memory (each SQLite connection
#: caches up to 64 MiB) and PostgreSQL connections, not speed.
READ_CONNECTIONS: Final = 4
REQUEST_THREADS: Final = max(2, os.cpu_count() or 1)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Reader:
    """A read connection in one read transaction, and the ledger over it (proofs)."""

    store: Store
    ledger: Ledger

    @property
    def engine(self) -> ResponseEngine:
        """The response engine over this connection, for its reads (a write through it
        fails: the connection is read-only)."""
        return ResponseEngine(self.store)


class _ReadPool:
    """Up to ``size`` read-only connections, each used by one thread at a time."""

    def __init__(self, settings: Settings, ledger: Ledger, size: int) -> None:
        self._settings = settings
        self._ledger = ledger
        self._size = size
        self._idle: list[Reader] = []
        self._opened = 0
        self._closed = False
        self._ready = threading.Condition()

    def _take(self) -> Reader:
        with self._ready:
            while not self._idle and self._opened >= self._size:
                self._ready.wait()
            if self._closed:
                raise StoreError("the API is shutting down")
            if self._idle:
                return self._idle.pop()
            self._opened += 1
        try:
            return self._open()
        except BaseException:
            self._lost()
            raise

    def _open(self) -> Reader:
        store = open_store(self._settings, create=False)
        try:
            store.read_only()
        except BaseException:
            store.close()
            raise
        main = self._ledger
        ledger = Ledger(store, main.key, main.keys)
        # Full tiles never change: every connection's ledger shares the process's tile cache.
        ledger._tile_cache = main._tile_cache
        ledger.slices = main.slices  # and the merchant map (sentinelle.ledger.slices)
        return Reader(store, ledger)

    def _lost(self) -> None:
        with self._ready:
            self._opened -= 1
            self._ready.notify()

    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        reader = self._take()
        try:
            with reader.store.snapshot():
                yield reader
        except StoreError:  # the connection may be broken: the next read opens another
            reader.store.close()
            self._lost()
            raise
        except BaseException:
            self._give(reader)
            raise
        self._give(reader)

    def _give(self, reader: Reader) -> None:
        with self._ready:
            if self._closed:
                self._opened -= 1
                reader.store.close()
            else:
                self._idle.append(reader)
            self._ready.notify()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            idle, self._idle = self._idle, []
            self._opened -= len(idle)
            self._ready.notify_all()
        for reader in idle:
            reader.store.close()


class State:
    """The store and ledger of the API process, used by one request at a time (one
    connection, :func:`locked`), and the response engine over them; read connections for
    :func:`reading`; ``clock`` (microseconds) is what sessions and the login rate limit take
    as now (tests replace it)."""

    def __init__(self, settings: Settings, *, read_connections: int = READ_CONNECTIONS) -> None:
        self.settings = settings
        self.store: Store = open_store(settings)
        self.ledger = Ledger.open(
            self.store, data_dir=settings.data_dir, origin=settings.log_origin
        )
        self.detect_config = DetectConfig.from_settings(settings)
        self.lock = threading.Lock()
        self.engine = ResponseEngine(self.store, reopen=lambda: open_store(settings, create=False))
        # Notices sent in the background, each run on connections of its own (not ``store``).
        self.notice_runs = NoticeRuns(settings)
        self.clock: Callable[[], int] = now_us
        self.readers = _ReadPool(settings, self.ledger, max(1, read_connections))
        # The threads the read path of requests runs in (the key check, reads): as many as
        # the cores. More only take turns at the GIL: measured at 10M events with 8 clients,
        # the default 40 threads served 143 requests/s at 7.0 ms of CPU each, 2 threads 288/s
        # at 3.5 ms. Writes and long work (locked, notices) keep the default pool.
        self.request_threads = anyio.CapacityLimiter(REQUEST_THREADS)
        # The guard policy (SENTINELLE_GUARD_POLICY), read when a guard route first needs it;
        # the decisions' group recorder, made by sentinelle.api.routes.guard on first use.
        self.guard_policy = GuardPolicy(settings.guard_policy)
        self.guard_recorder: Any = None
        self.keys = KeyCache()
        self.warming: threading.Thread | None = None  # building the merchant map at startup
        # Closed with the state, or at exit: the app's shutdown closes ``store`` only.
        self._close_readers = weakref.finalize(self, self.readers.close)

    def after_batch(self, *, flush: bool = False) -> AfterBatch:
        """What follows a committed batch on this store (:func:`sentinelle.live.after_batch`:
        live detection, the alerts queued for the webhooks, the automatic response). Never
        raises. Call it holding :attr:`lock` (:func:`locked`)."""
        return after_batch(
            self.store,
            self.ledger,
            self.engine,
            settings=self.settings,
            detect_config=self.detect_config,
            guard_policy=self.guard_policy,
            now_us=self.clock(),
            flush=flush,
        )

    def warm_slices(self) -> None:
        """Build the process's merchant map on a connection of its own (the server starts it
        in a thread: the first ingest or slice answer would otherwise wait seconds for it at
        100,000 merchants). Never raises: a failure is logged, and the map is then built on
        first use as before."""
        try:
            store = open_store(self.settings, create=False)
            try:
                with store.snapshot():
                    self.ledger.slices.warm(store)
            finally:
                store.close()
        except Exception as exc:
            # The type only: a connection error's text may name the database's address.
            _logger.warning(
                "the merchant map was not built ahead (%s): built on first use",
                type(exc).__name__,
            )

    def detectable(self, time_us: int) -> bool:
        """Whether live detection would process an event of ``time_us`` if it ran now: its
        reorder buffer holds events for ``reorder_minutes`` after their time (wall clock)."""
        return time_us + int(self.detect_config.reorder_minutes * MINUTE) <= now_us()

    def close(self) -> None:
        """Close the read connections and the store: the store once the work holding
        :attr:`lock` (a batch's live detection still running after its answer) has ended;
        closing a SQLite connection under another thread's statement crashes the process."""
        self._close_readers()
        with self.lock:
            self.store.close()


#: How long a key found in the store is trusted without looking again: a client's key is read
#: once per period, not once per request (a decision costs no store read and no thread hop to
#: authenticate). The price: a key revoked by ``sentinelle keys revoke`` (another process)
#: keeps working that long at most.
KEY_CACHE_SECONDS: Final = 2.0
_KEY_CACHE_SIZE: Final = 10_000


class KeyCache:
    """Principals of API keys recently found active, by the key's SHA-256 (never the key),
    each for :data:`KEY_CACHE_SECONDS`; at most :data:`_KEY_CACHE_SIZE` (then it starts
    afresh). Unknown keys are not remembered: each is looked up (and refused) again."""

    def __init__(
        self, seconds: float = KEY_CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self._found: dict[str, tuple[Principal, float]] = {}

    def get(self, token: str) -> Principal | None:
        """The principal of ``token`` if it was found active less than the period ago."""
        hit = self._found.get(hash_key(token))
        if hit is None or hit[1] <= self.clock():
            return None
        return hit[0]

    def put(self, token: str, principal: Principal) -> None:
        """Remember that ``token`` is ``principal``'s active key, as of now."""
        if len(self._found) >= _KEY_CACHE_SIZE:
            self._found = {}
        self._found[hash_key(token)] = (principal, self.clock() + self.seconds)


def _bearer(request: Request) -> str | None:
    """The request's bearer token, if it presents one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _state(request: Request) -> State:
    state: State = request.app.state.sentinelle
    return state


async def _state_of(request: Request) -> State:
    # async: FastAPI runs a plain function dependency in a worker thread (a hop per request)
    return _state(request)


StateDep = Annotated[State, Depends(_state_of)]


async def locked(state: State, work: Callable[[], _T]) -> _T:
    """Run ``work`` on the store, one request at a time, off the event loop."""

    def run() -> _T:
        with state.lock:
            return work()

    return await run_in_threadpool(run)


async def reading(state: State, work: Callable[[Reader], _T]) -> _T:
    """Run ``work`` (reads only) on a read connection, off the event loop, beside other
    reads and while a write holds the lock: every read of ``work`` sees the same committed
    state (one read transaction). ``work`` gets the connection's store and ledger and must not
    use ``state.store``, ``state.ledger`` or ``state.engine``; a write through it fails."""

    def run() -> _T:
        with state.readers.snapshot() as reader:
            return work(reader)

    return await anyio.to_thread.run_sync(run, limiter=state.request_threads)


def session_of(request: Request) -> Principal | None:
    """The account of the request's live console session, if any (no CSRF check here)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    state = _state(request)
    with state.lock:
        return session_principal(state.store, token, now_us=state.clock(), settings=state.settings)


def _find_principal(request: Request) -> Principal:
    """Who presents the request: an API key, else a console session. Raises 401, or 403 for
    a session's state-changing request without its CSRF token. Blocking (a store lookup)."""
    found = _known(request)
    if found is not None:
        return found
    if "authorization" in request.headers:  # even empty: the request is judged by it alone
        token = _bearer(request)
        if token is not None:
            state = _state(request)
            with state.readers.snapshot() as reader:
                found = authenticate_key(reader.store, token)
            if found is not None:
                state.keys.put(token, found)
    else:
        found = session_of(request)
        if (
            found is not None
            and request.method not in SAFE_METHODS
            and not csrf_matches(
                request.cookies.get(SESSION_COOKIE, ""), request.headers.get(CSRF_HEADER)
            )
        ):
            raise HTTPException(
                status_code=403,
                detail=f"a session's request that changes something needs its {CSRF_HEADER}",
            )
    if found is None:
        raise HTTPException(
            status_code=401,
            detail="missing or invalid API key (Authorization: Bearer <key>) or session",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = found
    return found


def _known(request: Request) -> Principal | None:
    """The request's principal when it is known without a store read: found earlier for this
    request (a :class:`GuardedRoute` checks before the body is read), or its key found active
    moments ago (:class:`KeyCache`)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    token = _bearer(request)
    found = _state(request).keys.get(token) if token is not None else None
    if found is not None:
        request.state.principal = found
    return found


async def _principal(request: Request) -> Principal:
    """:func:`_find_principal`: at once when it is :func:`_known`, else in a thread among the
    request threads (a store lookup)."""
    known = _known(request)
    if known is not None:
        return known
    state = _state(request)
    return await anyio.to_thread.run_sync(_find_principal, request, limiter=state.request_threads)


CurrentPrincipal = Annotated[Principal, Depends(_principal)]


class _Allow:
    """The check of one permission (on the path's merchant, if the route has one)."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, request: Request, principal: CurrentPrincipal) -> Principal:
        # async: the check is pure, FastAPI would run a plain function in a thread
        return self.allowed(request, principal)

    def allowed(self, request: Request, principal: Principal) -> Principal:
        """``principal`` if its role grants the permission (on the path's merchant), else 403."""
        merchant = request.path_params.get("merchant")
        try:
            authorize(principal, self.permission, merchant=merchant)
        except ForbiddenError as exc:
            raise HTTPException(status_code=403, detail=exc.diagnostics()) from None
        return principal


class GuardedRoute(APIRoute):
    """A route that decides 401/403 before FastAPI reads, parses or validates the body (a
    dependency runs only after that): a caller who may not use the route learns nothing of
    what it accepts, and sends it nothing it must parse."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        declared = (self.openapi_extra or {}).get(PERMISSION_KEY)
        if declared is None:
            return handle
        allow = _Allow(Permission(declared))

        async def authorized_first(request: Request) -> Response:
            allow.allowed(request, await _principal(request))
            return await handle(request)

        return authorized_first


def guarded(permission: Permission) -> dict[str, Any]:
    """Route arguments that require ``permission``: ``@router.get(path, **guarded(p))``."""
    return {
        "dependencies": [Depends(_Allow(permission))],
        "openapi_extra": {PERMISSION_KEY: permission.value},
    }
