"""Storage of the console's sessions and failed logins (migration 10), and of the logins
waiting for their second factor (migration 12).

A session is stored by the SHA-256 of its token only (the token is in the browser's cookie
and nowhere else), so whoever reads the database cannot take over a session. A session is
read together with its account, so an account disabled after login loses its sessions at
their next use. Logging in and out appends to the audit log in the same transaction. A login
waiting for its TOTP code (a *challenge*) is stored by its token's SHA-256 too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, NamedTuple

from sentinelle.store.accounts import _audit

if TYPE_CHECKING:
    from sentinelle.store.base import Writer

__all__ = ["ChallengeRow", "SessionRow", "SessionStoreMixin"]


class SessionRow(NamedTuple):
    """A session with its account's role, merchant, whether it is disabled and whether it has
    a second factor."""

    token_hash: str
    email: str
    created_us: int
    last_seen_us: int
    expires_us: int
    role: str
    merchant: str | None
    disabled_us: int | None
    totp: bool


class ChallengeRow(NamedTuple):
    """A login waiting for its TOTP code, with its account's state and second factor."""

    token_hash: str
    email: str
    expires_us: int
    role: str
    merchant: str | None
    disabled_us: int | None
    sealed_secret: str | None
    last_step: int | None


class SessionStoreMixin:
    """Sessions and failed logins; a base of :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

        def writer(self) -> AbstractContextManager[Writer]: ...

    # -- sessions ------------------------------------------------------------------------------
    def add_session(
        self,
        *,
        token_hash: str,
        email: str,
        now_us: int,
        expires_us: int,
        stale_before_us: int,
        details: dict[str, Any],
    ) -> None:
        """Record a new session (and ``login.succeeded`` in the audit log); sessions that
        ended (absolute end passed, or idle since ``stale_before_us``) are removed."""
        with self.writer() as w:
            w._x(
                "DELETE FROM sessions WHERE expires_us <= ? OR last_seen_us < ?",
                (now_us, stale_before_us),
            )
            w._x(
                "INSERT INTO sessions (token_hash, email, created_us, last_seen_us, expires_us) "
                "VALUES (?, ?, ?, ?, ?)",
                (token_hash, email, now_us, now_us, expires_us),
            )
            _audit(w, email, "login.succeeded", email, details)

    def session(self, token_hash: str) -> SessionRow | None:
        """The session with this token hash and its account (whatever its state)."""
        rows = self._x(
            "SELECT s.token_hash, s.email, s.created_us, s.last_seen_us, s.expires_us, "
            "u.role, u.merchant, u.disabled_us, u.totp_secret IS NOT NULL "
            "FROM sessions s JOIN users u ON u.email = s.email WHERE s.token_hash = ?",
            (token_hash,),
        )
        if not rows:
            return None
        r = rows[0]
        return SessionRow(
            r[0],
            r[1],
            int(r[2]),
            int(r[3]),
            int(r[4]),
            r[5],
            r[6],
            int(r[7]) if r[7] is not None else None,
            bool(r[8]),
        )

    def touch_session(self, token_hash: str, now_us: int) -> None:
        """Record that the session was used now."""
        with self.writer() as w:
            w._x("UPDATE sessions SET last_seen_us = ? WHERE token_hash = ?", (now_us, token_hash))

    def delete_session(self, token_hash: str, *, audit: str | None = None) -> bool:
        """End one session; with ``audit`` (e.g. ``logout``), record it under the account.
        Whether there was such a session."""
        with self.writer() as w:
            found = w._x(
                "SELECT email FROM sessions WHERE token_hash = ?", (token_hash,)
            ).fetchone()
            if found is None:
                return False
            w._x("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))
            if audit is not None:
                _audit(w, found[0], audit, found[0], {})
        return True

    def delete_sessions_of(self, email: str) -> int:
        """End every session of an account; how many there were."""
        with self.writer() as w:
            cur = w._x("DELETE FROM sessions WHERE email = ?", (email,))
            return int(cur.rowcount)

    def sessions_of(self, email: str) -> int:
        """How many sessions the account has (ended or not, until removed)."""
        return int(self._x("SELECT count(*) FROM sessions WHERE email = ?", (email,))[0][0])

    # -- failed logins -------------------------------------------------------------------------
    def login_failures(self, subject: str, since_us: int) -> list[int]:
        """When ``subject`` failed to log in since ``since_us``, newest first."""
        rows = self._x(
            "SELECT at_us FROM login_failures WHERE subject = ? AND at_us >= ? ORDER BY at_us DESC",
            (subject, since_us),
        )
        return [int(r[0]) for r in rows]

    def add_login_failure(
        self,
        subjects: Iterable[str],
        *,
        now_us: int,
        forget_before_us: int,
        target: str,
        details: dict[str, Any],
    ) -> None:
        """Record a failed login for each subject (and ``login.failed`` in the audit log);
        failures older than ``forget_before_us`` are removed."""
        with self.writer() as w:
            w._x("DELETE FROM login_failures WHERE at_us < ?", (forget_before_us,))
            for subject in subjects:
                w._x("INSERT INTO login_failures (subject, at_us) VALUES (?, ?)", (subject, now_us))
            _audit(w, "anonymous", "login.failed", target, details)

    def clear_login_failures(self, subject: str) -> None:
        """Forget the failures of ``subject`` (after a successful login)."""
        with self.writer() as w:
            w._x("DELETE FROM login_failures WHERE subject = ?", (subject,))

    # -- logins waiting for their second factor (migration 12) --------------------------------
    def add_challenge(self, *, token_hash: str, email: str, now_us: int, expires_us: int) -> None:
        """Record a login whose password was right and whose TOTP code is awaited; ended
        challenges are removed."""
        with self.writer() as w:
            w._x("DELETE FROM login_challenges WHERE expires_us <= ?", (now_us,))
            w._x(
                "INSERT INTO login_challenges (token_hash, email, created_us, expires_us) "
                "VALUES (?, ?, ?, ?)",
                (token_hash, email, now_us, expires_us),
            )

    def challenge(self, token_hash: str) -> ChallengeRow | None:
        """The challenge with this token hash, with its account (whatever their state)."""
        rows = self._x(
            "SELECT c.token_hash, c.email, c.expires_us, u.role, u.merchant, u.disabled_us, "
            "u.totp_secret, u.totp_last_step "
            "FROM login_challenges c JOIN users u ON u.email = c.email WHERE c.token_hash = ?",
            (token_hash,),
        )
        if not rows:
            return None
        r = rows[0]
        return ChallengeRow(
            r[0],
            r[1],
            int(r[2]),
            r[3],
            r[4],
            int(r[5]) if r[5] is not None else None,
            r[6],
            int(r[7]) if r[7] is not None else None,
        )

    def delete_challenge(self, token_hash: str) -> None:
        """Forget a challenge (ended, or its account changed)."""
        with self.writer() as w:
            w._x("DELETE FROM login_challenges WHERE token_hash = ?", (token_hash,))

    def complete_challenge(self, token_hash: str, *, email: str, step: int) -> bool:
        """Accept the code of time-step ``step`` for the challenge: record the step as the
        account's last and end the challenge, in one transaction. ``False`` (nothing changed)
        when the challenge is gone or the account already accepted this step or a later one,
        so that one code opens one session, even when presented twice at once."""
        with self.writer() as w:
            cur = w._x(
                "UPDATE users SET totp_last_step = ? WHERE email = ? AND totp_secret IS NOT NULL "
                "AND (totp_last_step IS NULL OR totp_last_step < ?) AND EXISTS "
                "(SELECT 1 FROM login_challenges WHERE token_hash = ? AND email = ?)",
                (step, email, step, token_hash, email),
            )
            if cur.rowcount != 1:
                return False
            w._x("DELETE FROM login_challenges WHERE token_hash = ?", (token_hash,))
        return True
