"""People's accounts and machines' API keys: created, checked and disabled.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommended
setting); only the hash is stored. API keys have 256 bits of entropy, so a plain SHA-256 of the
key is enough to make the stored form useless to whoever reads the database; lookups go by
hash, so no key is ever compared in the clear. Every change is recorded in the audit log with
who made it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sentinelle.access import USER_ROLES, Principal, Role
from sentinelle.errors import Problem, ValidationError
from sentinelle.store import Store
from sentinelle.store.accounts import UserRow
from sentinelle.timeutil import now_us

__all__ = [
    "KEY_PREFIX",
    "MIN_PASSWORD",
    "AccountInputError",
    "authenticate_key",
    "check_password",
    "create_key",
    "create_user",
    "hash_key",
]

KEY_PREFIX: Final = "snl_"
MIN_PASSWORD: Final = 12  # characters (NIST SP 800-63B asks at least 8; 15 for single factor)
_MAX_PASSWORD: Final = 1024
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_hasher: Final = PasswordHasher()  # argon2id


class AccountInputError(ValidationError):
    """An account or key was refused: each problem names the field at fault."""

    def diagnostics(self) -> str:
        return "; ".join(f"{p.path}: {p.message}" for p in self.problems)


def _refuse(field: str, message: str) -> AccountInputError:
    return AccountInputError([Problem(0, field, message)], unit="field")


def _check_binding(role: Role, merchant: str | None) -> None:
    if role is Role.MERCHANT and not merchant:
        raise _refuse("merchant", "a merchant's account or key needs --merchant")
    if role is not Role.MERCHANT and merchant:
        raise _refuse("merchant", f"only the merchant role is bound to a merchant, not {role}")


def hash_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    store: Store, *, name: str, role: Role = Role.INGEST, merchant: str | None = None, by: str
) -> str:
    """Create, record (by hash) and return a new key.

    Raises :class:`AccountInputError` for a bad name or binding, ``StoreError`` if the name
    is taken.
    """
    if not _NAME.fullmatch(name):  # not match: "$" also matches before a final newline
        raise _refuse(
            "name", "1–64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    _check_binding(role, merchant)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    store.add_api_key(
        key_id=secrets.token_hex(8),
        name=name,
        key_hash=hash_key(key),
        role=role.value,
        merchant=merchant,
        by=by,
    )
    return key


def authenticate_key(store: Store, key: str) -> Principal | None:
    """The principal of a presented, active key, or ``None``."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    found = store.find_api_key(hash_key(key))
    if found is None:
        return None
    return Principal("key", found.name, Role(found.role), found.merchant)


def create_user(
    store: Store,
    *,
    email: str,
    role: Role,
    password: str,
    merchant: str | None = None,
    by: str,
) -> UserRow:
    """Record a new account with an argon2id hash of ``password``.

    Raises :class:`AccountInputError` for a bad e-mail, role, binding or a password shorter
    than :data:`MIN_PASSWORD`; ``StoreError`` if the e-mail is taken.
    """
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email) or len(email) > 254:
        raise _refuse("email", "not an e-mail address")
    if role not in USER_ROLES:
        names = ", ".join(r.value for r in USER_ROLES)
        raise _refuse("role", f"accounts have one of the roles {names}")
    _check_binding(role, merchant)
    if len(password) < MIN_PASSWORD:
        raise _refuse("password", f"at least {MIN_PASSWORD} characters")
    if len(password) > _MAX_PASSWORD:
        raise _refuse("password", f"at most {_MAX_PASSWORD} characters")
    row = UserRow(
        email=email,
        role=role.value,
        merchant=merchant,
        password_hash=_hasher.hash(password),
        created_us=now_us(),
        created_by=by,
        disabled_us=None,
    )
    store.add_user(row)
    return row


def check_password(store: Store, email: str, password: str) -> Principal | None:
    """The principal of an enabled account whose password matches, or ``None``.

    Unknown accounts take as long as known ones (a hash is checked either way), so the answer
    time does not tell which e-mails have an account. A password longer than any account may
    have never matches: only its first characters are hashed (bounded work), so without that
    check the right password followed by anything at all would be accepted.
    """
    found = store.user(email.strip().lower())
    stored = found.password_hash if found is not None else _DUMMY
    try:
        _hasher.verify(stored, password[:_MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if len(password) > _MAX_PASSWORD or found is None or found.disabled_us is not None:
        return None
    return Principal("user", found.email, Role(found.role), found.merchant)


# What the password of an unknown e-mail is checked against, so that the answer takes as long
# as for a known one: an argon2id hash with the hasher's parameters (a test checks that it
# needs no rehash) of a random password that was not kept. A constant, rather than hashed at
# import: hashing costs every process that imports this module 0.1 s.
_DUMMY: Final = (
    "$argon2id$v=19$m=65536,t=3,p=4$eNkHfKc8d4LvwuXI6seV/A$"
    "OlnItMNEUKYT+7wiV4uLg2RYSm+xhkpjlAK2zbAXee8"
)
