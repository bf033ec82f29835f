"""Storage of who may use Sentinelle (migrations 1, 8, 12): API keys (their SHA-256, never the
key), people's accounts (argon2id hashes, never a password; a TOTP secret only encrypted) and
the audit log of administrative changes.

Every change to a key or an account is one transaction that also appends its audit entry, so
the audit log never misses or invents a change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from sentinelle.errors import NotFoundError, StoreError
from sentinelle.timeutil import now_us

if TYPE_CHECKING:
    from sentinelle.store.base import Writer

__all__ = ["AccountStoreMixin", "ApiKey", "AuditRow", "TotpRow", "UserRow"]


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key's record (the key itself is never stored). ``role`` is a
    :class:`~sentinelle.access.Role` value; ``merchant`` binds a merchant's key."""

    id: str
    name: str
    created_us: int
    revoked_us: int | None
    role: str = "ingest"
    merchant: str | None = None


class UserRow(NamedTuple):
    """A person's account."""

    email: str
    role: str
    merchant: str | None
    password_hash: str
    created_us: int
    created_by: str
    disabled_us: int | None


class TotpRow(NamedTuple):
    """An account's second factor: its TOTP secret as stored (AES-GCM sealed, see
    :mod:`sentinelle.access.totp`) and the last time-step a code was accepted for."""

    sealed_secret: str
    last_step: int | None


class AuditRow(NamedTuple):
    """One administrative change: when, who, what, on what, and its details (JSON)."""

    at_us: int
    by: str
    action: str
    target: str
    details_json: str


_KEY_COLUMNS = "id, name, created_us, revoked_us, role, merchant"
_USER_COLUMNS = "email, role, merchant, password_hash, created_us, created_by, disabled_us"


def _key(row: Sequence[Any]) -> ApiKey:
    return ApiKey(
        row[0], row[1], int(row[2]), int(row[3]) if row[3] is not None else None, row[4], row[5]
    )


def _user(row: Sequence[Any]) -> UserRow:
    return UserRow(
        row[0],
        row[1],
        row[2],
        row[3],
        int(row[4]),
        row[5],
        int(row[6]) if row[6] is not None else None,
    )


def _audit(w: Writer, by: str, action: str, target: str, details: dict[str, Any]) -> None:
    w._x(
        "INSERT INTO audit_log (at_us, changed_by, action, target, details) VALUES (?, ?, ?, ?, ?)",
        (now_us(), by, action, target, json.dumps(details)),
    )


class AccountStoreMixin:
    """Keys, accounts and the audit log (each change a transaction of its own); a base of
    :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

        def writer(self) -> AbstractContextManager[Writer]: ...

    # -- API keys ------------------------------------------------------------------------------
    def add_api_key(
        self,
        *,
        key_id: str,
        name: str,
        key_hash: str,
        role: str = "ingest",
        merchant: str | None = None,
        by: str = "unknown",
    ) -> ApiKey:
        """Record a new API key by its hash. Raises :class:`StoreError` if the name is taken."""
        with self.writer() as w:
            taken = w._x("SELECT 1 FROM api_keys WHERE name = ?", (name,)).fetchone()
            if taken:
                raise StoreError(f"an API key named {name!r} already exists")
            created = now_us()
            w._x(
                "INSERT INTO api_keys (id, name, key_hash, created_us, role, merchant) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, name, key_hash, created, role, merchant),
            )
            _audit(w, by, "key.created", name, {"role": role, "merchant": merchant})
        return ApiKey(key_id, name, created, None, role, merchant)

    def find_api_key(self, key_hash: str) -> ApiKey | None:
        """The active key with this hash."""
        rows = self._x(
            f"SELECT {_KEY_COLUMNS} FROM api_keys "  # noqa: S608 - fixed column list
            "WHERE key_hash = ? AND revoked_us IS NULL",
            (key_hash,),
        )
        return _key(rows[0]) if rows else None

    def list_api_keys(self) -> list[ApiKey]:
        """All keys, revoked ones included."""
        rows = self._x(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_us")  # noqa: S608
        return [_key(r) for r in rows]

    def revoke_api_key(self, name: str, *, by: str = "unknown") -> None:
        """Revoke a key by name. Raises :class:`StoreError` if there is no such active key."""
        with self.writer() as w:
            cur = w._x(
                "UPDATE api_keys SET revoked_us = ? WHERE name = ? AND revoked_us IS NULL",
                (now_us(), name),
            )
            if cur.rowcount != 1:
                raise StoreError(f"no active API key named {name!r}")
            _audit(w, by, "key.revoked", name, {})

    # -- accounts ------------------------------------------------------------------------------
    def add_user(self, row: UserRow) -> None:
        """Record a new account. Raises :class:`StoreError` if the e-mail is taken."""
        with self.writer() as w:
            if w._x("SELECT 1 FROM users WHERE email = ?", (row.email,)).fetchone():
                raise StoreError(f"an account for {row.email} already exists")
            w._x(
                f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                tuple(row),
            )
            _audit(
                w,
                row.created_by,
                "user.created",
                row.email,
                {"role": row.role, "merchant": row.merchant},
            )

    def user(self, email: str) -> UserRow | None:
        """The account with this e-mail (lower case), disabled or not."""
        rows = self._x(
            f"SELECT {_USER_COLUMNS} FROM users WHERE email = ?",  # noqa: S608
            (email,),
        )
        return _user(rows[0]) if rows else None

    def users(self) -> list[UserRow]:
        """Every account, oldest first."""
        rows = self._x(f"SELECT {_USER_COLUMNS} FROM users ORDER BY created_us, email")  # noqa: S608
        return [_user(r) for r in rows]

    def disable_user(self, email: str, *, by: str) -> None:
        """Disable an account (it stays, for the record) and end its sessions. Raises
        :class:`NotFoundError` if there is no enabled account with this e-mail."""
        with self.writer() as w:
            cur = w._x(
                "UPDATE users SET disabled_us = ? WHERE email = ? AND disabled_us IS NULL",
                (now_us(), email),
            )
            if cur.rowcount != 1:
                raise NotFoundError(f"no enabled account for {email}")
            # Its sessions end now, not at their next use (migration 10).
            w._x("DELETE FROM sessions WHERE email = ?", (email,))
            _audit(w, by, "user.disabled", email, {})

    # -- second factor (migration 12) ---------------------------------------------------------
    def user_totp(self, email: str) -> TotpRow | None:
        """The account's TOTP secret (sealed) and last accepted step; ``None`` without TOTP."""
        rows = self._x(
            "SELECT totp_secret, totp_last_step FROM users "
            "WHERE email = ? AND totp_secret IS NOT NULL",
            (email,),
        )
        if not rows:
            return None
        return TotpRow(rows[0][0], int(rows[0][1]) if rows[0][1] is not None else None)

    def totp_emails(self) -> set[str]:
        """The accounts that have a second factor."""
        return {r[0] for r in self._x("SELECT email FROM users WHERE totp_secret IS NOT NULL")}

    def enable_totp(self, email: str, *, sealed_secret: str, step: int, by: str) -> None:
        """Give an enabled account without TOTP its (sealed) secret, ``step`` being the step of
        the code that confirmed it (it cannot be used again to log in), and end its sessions:
        they were opened with the password alone. Raises :class:`NotFoundError` without such
        an account, :class:`StoreError` if it has TOTP."""
        with self.writer() as w:
            found = w._x(
                "SELECT totp_secret FROM users WHERE email = ? AND disabled_us IS NULL", (email,)
            ).fetchone()
            if found is None:
                raise NotFoundError(f"no enabled account for {email}")
            if found[0] is not None:
                raise StoreError(
                    f"{email} already has TOTP: disable it first (sentinelle users totp disable)"
                )
            w._x(
                "UPDATE users SET totp_secret = ?, totp_last_step = ? WHERE email = ?",
                (sealed_secret, step, email),
            )
            w._x("DELETE FROM sessions WHERE email = ?", (email,))
            _audit(w, by, "user.totp_enabled", email, {})

    def disable_totp(self, email: str, *, by: str) -> None:
        """Remove an account's second factor (and its logins waiting for a code). Raises
        :class:`NotFoundError` if there is no account with TOTP for this e-mail."""
        with self.writer() as w:
            cur = w._x(
                "UPDATE users SET totp_secret = NULL, totp_last_step = NULL "
                "WHERE email = ? AND totp_secret IS NOT NULL",
                (email,),
            )
            if cur.rowcount != 1:
                raise NotFoundError(f"no account with TOTP for {email}")
            w._x("DELETE FROM login_challenges WHERE email = ?", (email,))
            _audit(w, by, "user.totp_disabled", email, {})

    def audit_log(self) -> list[AuditRow]:
        """The administrative changes, oldest first."""
        rows = self._x(
            "SELECT at_us, changed_by, action, target, details FROM audit_log ORDER BY at_us"
        )
        return [AuditRow(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]
