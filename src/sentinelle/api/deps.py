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
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Final, TypeVar

from fastapi import Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute

from sentinelle.access import ForbiddenError, Permission, Principal, authorize
from sentinelle.access.accounts import authenticate_key
from sentinelle.access.sessions import SESSION_COOKIE, csrf_matches, session_principal
from sentinelle.config import Settings
from sentinelle.detect import DetectConfig
from sentinelle.ledger.log import Ledger
from sentinelle.response import ResponseEngine
from sentinelle.store import Store, open_store
from sentinelle.timeutil import now_us

__all__ = [
    "CSRF_HEADER",
    "PERMISSION_KEY",
    "SAFE_METHODS",
    "CurrentPrincipal",
    "GuardedRoute",
    "State",
    "StateDep",
    "guarded",
    "locked",
    "session_of",
]

PERMISSION_KEY: Final = "x-sentinelle-permission"
CSRF_HEADER: Final = "X-CSRF-Token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_T = TypeVar("_T")


class State:
    """The store and ledger of the API process, used by one request at a time (one
    connection), and the response engine over them; ``clock`` (microseconds) is what sessions
    and the login rate limit take as now (tests replace it)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: Store = open_store(settings)
        self.ledger = Ledger.open(
            self.store, data_dir=settings.data_dir, origin=settings.log_origin
        )
        self.detect_config = DetectConfig.from_settings(settings)
        self.lock = threading.Lock()
        self.engine = ResponseEngine(self.store, reopen=lambda: open_store(settings, create=False))
        self.clock: Callable[[], int] = now_us


def _state(request: Request) -> State:
    state: State = request.app.state.sentinelle
    return state


StateDep = Annotated[State, Depends(_state)]


async def locked(state: State, work: Callable[[], _T]) -> _T:
    """Run ``work`` on the store, one request at a time, off the event loop."""

    def run() -> _T:
        with state.lock:
            return work()

    return await run_in_threadpool(run)


def session_of(request: Request) -> Principal | None:
    """The account of the request's live console session, if any (no CSRF check here)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    state = _state(request)
    with state.lock:
        return session_principal(state.store, token, now_us=state.clock(), settings=state.settings)


def _principal(request: Request) -> Principal:
    """Who presents the request: an API key, else a console session. Raises 401, or 403 for
    a session's state-changing request without its CSRF token."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    found = None
    if request.headers.get("authorization"):
        if scheme.lower() == "bearer" and token:
            state = _state(request)
            with state.lock:
                found = authenticate_key(state.store, token.strip())
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


CurrentPrincipal = Annotated[Principal, Depends(_principal)]


class _Allow:
    """The check of one permission (on the path's merchant, if the route has one)."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, request: Request, principal: CurrentPrincipal) -> Principal:
        merchant = request.path_params.get("merchant")
        try:
            authorize(principal, self.permission, merchant=merchant)
        except ForbiddenError as exc:
            raise HTTPException(status_code=403, detail=exc.diagnostics()) from None
        return principal

    def check(self, request: Request) -> Principal:
        """The whole check (401, then 403) from the request alone."""
        return self(request, _principal(request))


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
            await run_in_threadpool(allow.check, request)  # the store lookup is synchronous
            return await handle(request)

        return authorized_first


def guarded(permission: Permission) -> dict[str, Any]:
    """Route arguments that require ``permission``: ``@router.get(path, **guarded(p))``."""
    return {
        "dependencies": [Depends(_Allow(permission))],
        "openapi_extra": {PERMISSION_KEY: permission.value},
    }
