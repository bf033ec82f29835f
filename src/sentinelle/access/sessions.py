"""People's console sessions: logging in (rate limited), the session a cookie names, its CSRF
token, and logging out.

A session token has 256 bits of entropy and lives only in the browser's cookie; the store
keeps its SHA-256 (as for API keys). A session ends after ``session_idle_timeout`` seconds
without a request, ``session_max_age`` seconds after login whatever its use, at logout, or as
soon as its account is disabled (checked at every use).

The CSRF token of a session is an HMAC of the session token: it is tied to the session,
needs no storage, and cannot be computed by whoever does not hold the cookie. Every request
that may change something and is made with the session (not with an API key) must carry it.

Failed logins are counted per e-mail (by its SHA-256) and per client address, in the
database so that the limit holds across processes: ``login_max_failures`` failures within
``login_window`` seconds refuse further attempts until the oldest of them is that old. Logs
and the audit log never hold a password, and a failed login's e-mail only as a hash prefix
(people type passwords into the e-mail field).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sentinelle.access import Principal, Role
from sentinelle.access.accounts import check_password
from sentinelle.config import Settings
from sentinelle.store import Store
from sentinelle.timeutil import SECOND

__all__ = [
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "LoginLockedError",
    "LoginResult",
    "csrf_matches",
    "csrf_token",
    "email_digest",
    "hash_token",
    "log_in",
    "log_out",
    "session_principal",
]

SESSION_COOKIE: Final = "sentinelle_session"
LOGIN_CSRF_COOKIE: Final = "sentinelle_login_csrf"
_TOUCH_EVERY: Final = 60 * SECOND  # last-seen is written at most once a minute per session
_MAX_TOKEN: Final = 200
_log = logging.getLogger(__name__)


def hash_token(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    """The CSRF token of the session whose token is ``session_token``."""
    return hmac.new(session_token.encode(), b"sentinelle-csrf-v1", hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, presented: str | None) -> bool:
    """Whether ``presented`` is the session's CSRF token (compared in constant time)."""
    if not presented:
        return False
    return hmac.compare_digest(csrf_token(session_token).encode(), presented.encode())


def email_digest(email: str) -> str:
    """A short hash of an e-mail, for logs of failed logins (never the e-mail itself)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:12]


def session_principal(
    store: Store, token: str, *, now_us: int, settings: Settings
) -> Principal | None:
    """The principal of the live session whose token is ``token``, or ``None``.

    A session past its absolute end or idle too long is removed; so are the sessions of a
    disabled account. A live session's last use is recorded (at most once a minute).
    """
    if not token or len(token) > _MAX_TOKEN:
        return None
    key = hash_token(token)
    found = store.session(key)
    if found is None:
        return None
    idle = settings.session_idle_timeout * SECOND
    if found.disabled_us is not None:
        store.delete_sessions_of(found.email)
        return None
    if now_us >= found.expires_us or now_us - found.last_seen_us >= idle:
        store.delete_session(key)
        return None
    if now_us - found.last_seen_us >= _TOUCH_EVERY:
        store.touch_session(key, now_us)
    return Principal("user", found.email, Role(found.role), found.merchant)


class LoginLockedError(Exception):
    """Too many failed logins: ``retry_after`` seconds until the next attempt is heard."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A successful login: the new session's token (for the cookie) and its principal."""

    token: str
    principal: Principal


def _subjects(email: str, address: str | None) -> list[str]:
    subjects = ["email:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()]
    if address:
        subjects.append("addr:" + address[:100])
    return subjects


def _retry_after(store: Store, subjects: list[str], *, now_us: int, settings: Settings) -> int:
    """Seconds until a locked subject may try again; 0 when none is locked."""
    window = settings.login_window * SECOND
    wait = 0
    for subject in subjects:
        failures = store.login_failures(subject, now_us - window)
        if len(failures) >= settings.login_max_failures:
            # Heard again when the limit-th most recent failure leaves the window.
            unlock = failures[settings.login_max_failures - 1] + window
            wait = max(wait, -(-(unlock - now_us) // SECOND))
    return wait


def log_in(
    store: Store,
    email: str,
    password: str,
    *,
    address: str | None,
    settings: Settings,
    clock: Callable[[], int],
) -> LoginResult | None:
    """Check an e-mail and password and start a session, or ``None`` (the same for an unknown
    e-mail, a wrong password and a disabled account).

    Raises :class:`LoginLockedError` while the e-mail or the address has too many recent
    failures; the password is then not checked at all, and the attempt is not counted.
    """
    email = email.strip().lower()
    subjects = _subjects(email, address)
    now = clock()
    wait = _retry_after(store, subjects, now_us=now, settings=settings)
    if wait:
        _log.warning("login refused (rate limit) for e-mail #%s", email_digest(email))
        raise LoginLockedError(wait)
    principal = check_password(store, email, password)
    now = clock()
    if principal is None:
        digest = email_digest(email)
        store.add_login_failure(
            subjects,
            now_us=now,
            forget_before_us=now - settings.login_window * SECOND,
            target=f"#{digest}",
            details={"address": address},
        )
        _log.warning("login failed for e-mail #%s from %s", digest, address)
        return None
    token = secrets.token_urlsafe(32)  # 256 bits
    store.clear_login_failures(subjects[0])
    store.add_session(
        token_hash=hash_token(token),
        email=principal.name,
        now_us=now,
        expires_us=now + settings.session_max_age * SECOND,
        stale_before_us=now - settings.session_idle_timeout * SECOND,
        details={"address": address},
    )
    _log.info("login of %s from %s", principal.name, address)
    return LoginResult(token, principal)


def log_out(store: Store, token: str) -> bool:
    """End the session whose token is ``token`` (``logout`` in the audit log); whether it
    was live."""
    if not token or len(token) > _MAX_TOKEN:
        return False
    return store.delete_session(hash_token(token), audit="logout")
