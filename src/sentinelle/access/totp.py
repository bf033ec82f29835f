"""The console's optional second factor: RFC 6238 TOTP (30-second steps, 6 digits, SHA-1, the
parameters every authenticator app understands).

Enrolment (``sentinelle users totp enable``) makes a 160-bit secret (RFC 4226's recommended
length), shows it once (as an ``otpauth://`` URI for a QR code and in base32), and stores it
only once a code computed from it has been typed back: a mistyped or unscanned enrolment
changes nothing, so it cannot lock anyone out.

The secret is stored sealed with AES-256-GCM under a key kept in the data directory
(``totp.key``, 32 random bytes, mode 0600, created like the ledger signing key:
:mod:`sentinelle.keyfile`), the account's e-mail being the associated data: a dump of the
database alone yields no second factor, and a sealed secret copied onto another account does
not open. Codes of the current step and of one step either side are accepted (clock drift),
and only for a step later than the last one accepted for the account, so that a code, once
used, is refused (RFC 6238 §5.2).
"""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sentinelle.errors import ConfigError, NotFoundError, StoreError
from sentinelle.keyfile import load_or_create
from sentinelle.store import Store
from sentinelle.timeutil import SECOND

__all__ = [
    "DIGITS",
    "ISSUER",
    "KEY_FILE",
    "STEP_SECONDS",
    "Enrolment",
    "TotpKeyError",
    "begin_enrolment",
    "confirm_enrolment",
    "disable_totp",
    "matching_step",
    "seal",
    "time_step",
    "totp_key",
    "unseal",
]

ISSUER: Final = "Sentinelle"
KEY_FILE: Final = "totp.key"
STEP_SECONDS: Final = 30
DIGITS: Final = 6
DRIFT: Final = 1  # steps accepted either side of the current one
_KEY_SIZE: Final = 32  # AES-256
_NONCE: Final = 12
_VERSION: Final = "v1:"


class TotpKeyError(ConfigError):
    """The TOTP key is missing or does not open a stored secret (another data directory?)."""


def totp_key(data_dir: Path, *, create: bool = True) -> bytes:
    """The key that seals TOTP secrets, ``data_dir/totp.key``; created on first use when
    ``create`` (enrolment), else :class:`TotpKeyError` when missing (checking a code: a new
    key could not open the stored secrets anyway)."""
    path = data_dir / KEY_FILE

    def make() -> bytes:
        if not create:
            raise TotpKeyError(
                f"no TOTP key {path}: the console must use the data directory where "
                "accounts were enrolled (SENTINELLE_DATA_DIR)"
            )
        return secrets.token_bytes(_KEY_SIZE)

    def parse(data: bytes) -> bytes:
        if len(data) != _KEY_SIZE:
            raise TotpKeyError(f"TOTP key {path} is not {_KEY_SIZE} bytes")
        return data

    return load_or_create(path, what="TOTP key file", make=make, parse=parse)


def _aad(email: str) -> bytes:
    return b"sentinelle-totp-v1\x00" + email.encode()


def seal(key: bytes, email: str, secret: str) -> str:
    """The stored form of ``email``'s base32 secret: ``v1:`` + base64(nonce + ciphertext)."""
    nonce = secrets.token_bytes(_NONCE)
    sealed = AESGCM(key).encrypt(nonce, secret.encode(), _aad(email))
    return _VERSION + base64.b64encode(nonce + sealed).decode()


def unseal(key: bytes, email: str, stored: str) -> str:
    """The base32 secret sealed by :func:`seal` for ``email``; :class:`TotpKeyError` when it
    does not open (another key, another account's secret, a damaged value)."""
    try:
        if not stored.startswith(_VERSION):
            raise ValueError(stored[:3])
        raw = base64.b64decode(stored.removeprefix(_VERSION), validate=True)
        plain = AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], _aad(email))
    except (ValueError, InvalidTag):
        raise TotpKeyError(
            f"the TOTP secret of {email} does not open with this data directory's {KEY_FILE}"
        ) from None
    return plain.decode()


def time_step(now_us: int) -> int:
    """The TOTP time-step of ``now_us`` (microseconds since the epoch)."""
    return now_us // (STEP_SECONDS * SECOND)


def matching_step(secret: str, code: str, *, now_us: int) -> int | None:
    """The latest step within :data:`DRIFT` of now whose code is ``code``, or ``None``.

    Spaces in ``code`` are ignored ("123 456"); anything but 6 digits never matches. Every
    step is compared (in constant time), whichever matches.
    """
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    otp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    now = time_step(now_us)
    found = None
    for step in range(now - DRIFT, now + DRIFT + 1):
        if hmac.compare_digest(otp.generate_otp(step).encode(), code.encode()):
            found = step
    return found


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A second factor being enrolled: shown to its owner, stored once confirmed."""

    email: str
    secret: str  # base32

    @property
    def uri(self) -> str:
        """The ``otpauth://totp/...`` URI that authenticator apps read (as a QR code)."""
        return pyotp.TOTP(self.secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
            name=self.email, issuer_name=ISSUER
        )


def begin_enrolment(store: Store, email: str) -> Enrolment:
    """A new secret for the enabled account ``email``, which has no TOTP yet (nothing stored).

    Raises :class:`NotFoundError` without such an account, :class:`StoreError` when it
    already has TOTP.
    """
    email = email.strip().lower()
    found = store.user(email)
    if found is None or found.disabled_us is not None:
        raise NotFoundError(f"no enabled account for {email}")
    if store.user_totp(email) is not None:
        raise StoreError(
            f"{email} already has TOTP: disable it first (sentinelle users totp disable)"
        )
    return Enrolment(email, pyotp.random_base32())  # 32 characters: 160 bits


def confirm_enrolment(
    store: Store, enrolment: Enrolment, code: str, *, data_dir: Path, now_us: int, by: str
) -> bool:
    """Store the enrolment's secret (sealed) if ``code`` is a current code of it; whether it
    was. The code's step counts as used: it cannot also log in."""
    step = matching_step(enrolment.secret, code, now_us=now_us)
    if step is None:
        return False
    key = totp_key(data_dir)
    store.enable_totp(
        enrolment.email,
        sealed_secret=seal(key, enrolment.email, enrolment.secret),
        step=step,
        by=by,
    )
    return True


def disable_totp(store: Store, email: str, *, by: str) -> None:
    """Remove the second factor of ``email`` (audited as ``user.totp_disabled``)."""
    store.disable_totp(email.strip().lower(), by=by)
