"""People's console sessions: logging in (rate limited), the session a cookie names, its CSRF
token, and logging out.

A session token has 256 bits of entropy and lives only in the browser's cookie; the store
keeps its SHA-256 (as for API keys). A session ends after ``session_idle_timeout`` seconds
without a request, ``session_max_age`` seconds after login whatever its use, at logout, or as
soon as its account is disabled (checked at every use).

The CSRF token of a session is an HMAC of the session token: it is tied to the session,
needs no storage, and cannot be computed by whoever does not hold the cookie. Every request
that may change something and is made with the session (not with an API key) must carry it.

An account with a second factor (:mod:`sentinelle.access.totp`) logs in in two steps: the right
password opens no session but a *challenge* (a random token in its own cookie, stored by its
SHA-256, ended after ``CHALLENGE_SECONDS``), and the challenge's token with a current TOTP code
opens the session. Wrong codes are failed logins like wrong passwords. An account of a role
in ``totp_required_roles`` without a second factor is refused (:class:`TotpRequiredError`).

Failed logins are counted per e-mail and per client address, in the database so that the
limit holds across processes: ``login_max_failures`` failures within ``login_window`` seconds
refuse further attempts until the oldest of them is that old. Logs and the audit log never
hold a password, and a failed login's e-mail only as a hash prefix (people type passwords into
the e-mail field). The e-mail's hash, in the counts and in the logs, is keyed
(:func:`login_key`): a plain hash of a password typed as the e-mail could be checked against
guesses by whoever reads the database or the logs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sentinelle.access import Principal, Role
from sentinelle.access.accounts import check_password
from sentinelle.access.totp import matching_step, totp_key, unseal
from sentinelle.config import Settings
from sentinelle.errors import ConfigError
from sentinelle.keyfile import load_or_create
from sentinelle.store import Store
from sentinelle.timeutil import SECOND

__all__ = [
    "CHALLENGE_COOKIE",
    "CHALLENGE_SECONDS",
    "LOGIN_CSRF_COOKIE",
    "LOGIN_KEY_FILE",
    "SESSION_COOKIE",
    "LoginExpiredError",
    "LoginLockedError",
    "LoginResult",
    "SecondStep",
    "TotpRequiredError",
    "complete_login",
    "csrf_matches",
    "csrf_token",
    "email_digest",
    "hash_token",
    "log_in",
    "log_out",
    "login_key",
    "session_principal",
]

SESSION_COOKIE: Final = "sentinelle_session"
LOGIN_CSRF_COOKIE: Final = "sentinelle_login_csrf"
CHALLENGE_COOKIE: Final = "sentinelle_login_totp"
CHALLENGE_SECONDS: Final = 5 * 60  # from the right password to the code
LOGIN_KEY_FILE: Final = "login.key"
_LOGIN_KEY_SIZE: Final = 32
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


def login_key(data_dir: Path) -> bytes:
    """The key of the hashes that name a login's e-mail in the failed-login counts and logs,
    ``data_dir/login.key`` (32 random bytes, made on first use, mode 0600). Every host
    serving one database needs the same file, or each counts an e-mail's failures apart."""
    path = data_dir / LOGIN_KEY_FILE

    def parse(data: bytes) -> bytes:
        if len(data) != _LOGIN_KEY_SIZE:
            raise ConfigError(f"login key file {path} is not {_LOGIN_KEY_SIZE} bytes")
        return data

    return load_or_create(
        path,
        what="login key file",
        make=lambda: secrets.token_bytes(_LOGIN_KEY_SIZE),
        parse=parse,
    )


def _email_mac(key: bytes, email: str) -> str:
    message = b"sentinelle-login-email-v1\x00" + email.strip().lower().encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def email_digest(email: str, key: bytes) -> str:
    """A short keyed hash of an e-mail, for logs of failed logins (never the e-mail itself,
    nor a hash a guess could be checked against: people type passwords there)."""
    return _email_mac(key, email)[:12]


def session_principal(
    store: Store, token: str, *, now_us: int, settings: Settings
) -> Principal | None:
    """The principal of the live session whose token is ``token``, or ``None``.

    A session past its absolute end or idle too long is removed; so are the sessions of a
    disabled account, and of an account without the second factor its role now requires
    (``totp_required_roles`` changed since it logged in). A live session's last use is
    recorded (at most once a minute).
    """
    if not token or len(token) > _MAX_TOKEN:
        return None
    key = hash_token(token)
    found = store.session(key)
    if found is None:
        return None
    idle = settings.session_idle_timeout * SECOND
    if found.disabled_us is not None or (not found.totp and found.role in settings.totp_roles):
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


@dataclass(frozen=True, slots=True)
class SecondStep:
    """A right password for an account with TOTP: no session yet, but a challenge whose token
    (for its cookie) and a current code will open one (:func:`complete_login`)."""

    token: str
    email: str


class TotpRequiredError(Exception):
    """The password was right, but the account's role requires a second factor it lacks."""

    def __init__(self, role: Role) -> None:
        super().__init__(f"the role {role.value} requires a second factor (TOTP)")
        self.role = role


class LoginExpiredError(Exception):
    """No live challenge for the presented token: log in again."""


def _subjects(email: str, address: str | None, key: bytes) -> list[str]:
    subjects = ["email:" + _email_mac(key, email)]
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
) -> LoginResult | SecondStep | None:
    """Check an e-mail and password and start a session, or ``None`` (the same for an unknown
    e-mail, a wrong password and a disabled account).

    For an account with TOTP, a right password gives a :class:`SecondStep` instead of a
    session. Raises :class:`LoginLockedError` while the e-mail or the address has too many
    recent failures (the password is then not checked at all, and the attempt is not counted),
    and :class:`TotpRequiredError` for a right password of an account that lacks the second
    factor its role requires (audited as ``login.failed``, reason ``totp_required``).
    """
    email = email.strip().lower()
    key = login_key(settings.data_dir)
    subjects = _subjects(email, address, key)
    now = clock()
    wait = _retry_after(store, subjects, now_us=now, settings=settings)
    if wait:
        _log.warning("login refused (rate limit) for e-mail #%s", email_digest(email, key))
        raise LoginLockedError(wait)
    principal = check_password(store, email, password)
    now = clock()
    if principal is None:
        digest = email_digest(email, key)
        store.add_login_failure(
            subjects,
            now_us=now,
            forget_before_us=now - settings.login_window * SECOND,
            target=f"#{digest}",
            details={"address": address, "reason": "password"},
        )
        _log.warning("login failed for e-mail #%s from %s", digest, address)
        return None
    if store.user_totp(principal.name) is not None:
        # The failures of the e-mail are cleared by the code, not by the password: else the
        # password would reset the count of wrong codes.
        token = secrets.token_urlsafe(32)
        store.add_challenge(
            token_hash=hash_token(token),
            email=principal.name,
            now_us=now,
            expires_us=now + CHALLENGE_SECONDS * SECOND,
        )
        _log.info("password of %s right from %s; TOTP code asked", principal.name, address)
        return SecondStep(token, principal.name)
    if principal.role.value in settings.totp_roles:
        # Not counted (the password was right: no guess to slow down), but recorded.
        store.add_login_failure(
            [],
            now_us=now,
            forget_before_us=now - settings.login_window * SECOND,
            target=principal.name,
            details={"address": address, "reason": "totp_required"},
        )
        _log.warning("login of %s refused: its role requires TOTP", principal.name)
        raise TotpRequiredError(principal.role)
    return _start_session(store, principal, subjects, now=now, address=address, settings=settings)


def _start_session(
    store: Store,
    principal: Principal,
    subjects: list[str],
    *,
    now: int,
    address: str | None,
    settings: Settings,
    factor: str = "password",
) -> LoginResult:
    token = secrets.token_urlsafe(32)  # 256 bits
    store.clear_login_failures(subjects[0])
    store.add_session(
        token_hash=hash_token(token),
        email=principal.name,
        now_us=now,
        expires_us=now + settings.session_max_age * SECOND,
        stale_before_us=now - settings.session_idle_timeout * SECOND,
        details={"address": address, "factors": factor},
    )
    _log.info("login of %s from %s", principal.name, address)
    return LoginResult(token, principal)


def complete_login(
    store: Store,
    token: str,
    code: str,
    *,
    address: str | None,
    settings: Settings,
    clock: Callable[[], int],
) -> LoginResult | None:
    """The second step of a login with TOTP: the challenge's ``token`` and a ``code`` of the
    account's current time-step (or one either side) start a session; ``None`` for a wrong
    code, or one already used (counted and audited as a failed login, reason ``totp``).

    Raises :class:`LoginExpiredError` when the token names no live challenge of an enabled
    account with TOTP, :class:`LoginLockedError` while the account's e-mail or the address
    has too many recent failures (the code is then not checked, nor counted), and
    :class:`~sentinelle.access.totp.TotpKeyError` when the stored secret cannot be opened.
    """
    if not token or len(token) > _MAX_TOKEN:
        raise LoginExpiredError
    key = hash_token(token)
    found = store.challenge(key)
    now = clock()
    if found is None:
        raise LoginExpiredError
    if now >= found.expires_us or found.disabled_us is not None or found.sealed_secret is None:
        store.delete_challenge(key)
        raise LoginExpiredError
    email = found.email
    subjects = _subjects(email, address, login_key(settings.data_dir))
    wait = _retry_after(store, subjects, now_us=now, settings=settings)
    if wait:
        _log.warning("TOTP code refused (rate limit) for %s", email)
        raise LoginLockedError(wait)
    secret = unseal(totp_key(settings.data_dir, create=False), email, found.sealed_secret)
    step = matching_step(secret, code, now_us=now)
    replayed = step is not None and found.last_step is not None and step <= found.last_step
    if step is None or replayed or not store.complete_challenge(key, email=email, step=step):
        store.add_login_failure(
            subjects,
            now_us=now,
            forget_before_us=now - settings.login_window * SECOND,
            target=email,
            details={"address": address, "reason": "totp", "replayed": step is not None},
        )
        _log.warning("login failed (TOTP code) for %s from %s", email, address)
        return None
    principal = Principal("user", email, Role(found.role), found.merchant)
    return _start_session(
        store, principal, subjects, now=now, address=address, settings=settings, factor="totp"
    )


def log_out(store: Store, token: str) -> bool:
    """End the session whose token is ``token`` (``logout`` in the audit log); whether it
    was live."""
    if not token or len(token) > _MAX_TOKEN:
        return False
    return store.delete_session(hash_token(token), audit="logout")
