"""The ledger's verifier keys, bound to its database.

The first time a ledger is opened on a database, the database records the *public* verifier
key of the data directory's signing key ("bound on first use"). Opening it later with another
signing key — a second data directory pointed at the same PostgreSQL database, a lost key
file replaced by a new one — is refused, naming both keys, instead of signing checkpoints no
verifier will accept.

Replacing the key is explicit (``sentinelle ledger rotate-key``): a new key in the data
directory, the old one archived beside it, and a row recording the new public key, the tree
size from which it signs, when, who and why. The row carries a statement signed by the
previous key, so someone with database access alone cannot add a key of their own to the
chain. A checkpoint must be signed by the key that was current at its tree size: a retired
key (perhaps the reason for the rotation) cannot sign later checkpoints.

Only public keys are ever stored; private keys stay in the data directory (mode 0600).
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sentinelle.errors import ConfigError, Error, IntegrityError
from sentinelle.ledger.checkpoint import SigningKey, Verifier

__all__ = [
    "KEY_FILE",
    "LedgerKey",
    "archive_path",
    "check_chain",
    "check_text",
    "default_who",
    "fsync_dir",
    "load_chain",
    "parse_keys",
    "iso",
    "pending_path",
    "rotation_text",
    "until_size",
]

KEY_FILE: Final = "ledger-signing.key"
FIRST_USE: Final = "first use"


def pending_path(data_dir: Path, key_id: bytes) -> Path:
    """Where a rotation keeps its new key until the database has recorded it."""
    return data_dir / f"{KEY_FILE}.{key_id.hex()}.pending"


def archive_path(data_dir: Path, key_id: bytes) -> Path:
    """Where a rotation keeps the key it retired."""
    return data_dir / f"ledger-signing.{key_id.hex()}.retired.key"


def default_who() -> str:
    """``user@host`` of this process, for the record of who bound or rotated a key."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def check_text(what: str, value: str) -> str:
    """``value`` if it is one non-empty line without control characters (it is signed).

    Raises :class:`ConfigError` otherwise.
    """
    if not value.strip() or any(c < " " or c == "\x7f" for c in value):
        raise ConfigError(f"{what} must be one non-empty line without control characters")
    return value


def iso(us: int) -> str:
    """A time in microseconds since the epoch, as ``2026-12-03T07:41Z``."""
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%dT%H:%MZ")


def rotation_text(
    origin: str, old: Verifier, new: Verifier, *, from_size: int, at_us: int, by: str, reason: str
) -> str:
    """The statement a rotation's previous key signs (a signed-note text)."""
    return (
        f"{origin} key rotation\n"
        f"old {old.verifier_key()}\n"
        f"new {new.verifier_key()}\n"
        f"size {from_size}\n"
        f"time {at_us}\n"
        f"by {by}\n"
        f"reason {reason}\n"
    )


@dataclass(frozen=True, slots=True)
class LedgerKey:
    """A verifier key recorded for the ledger, and from which tree size it signs."""

    seq: int
    verifier: Verifier
    from_size: int
    added_us: int
    added_by: str
    reason: str
    statement: str | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> LedgerKey:
        """Parse a ``ledger_keys`` row. Raises :class:`IntegrityError` if it is malformed."""
        try:
            verifier = Verifier.from_verifier_key(str(row[1]))
        except Error as exc:
            raise IntegrityError(
                f"recorded ledger key #{row[0]} is not a verifier key ({exc}): "
                "the ledger_keys table was altered"
            ) from None
        return cls(
            int(row[0]), verifier, int(row[2]), int(row[3]), str(row[4]), str(row[5]), row[6]
        )

    @classmethod
    def own(cls, key: SigningKey) -> LedgerKey:
        """A record for ``key`` as if bound from size 0 (a ledger whose database has none)."""
        return cls(0, key.verifier(), 0, 0, "", FIRST_USE, None)

    @property
    def key_id(self) -> str:
        """``<name>+<hex key ID>``: how errors and signature lines name the key."""
        return f"{self.verifier.name}+{self.verifier.key_hash.hex()}"

    def describe(self) -> str:
        """``bound 2026-12-03T07:41Z by alice@host`` or ``rotated in …, at tree size N``."""
        if self.seq == 0:
            return f"bound {iso(self.added_us)} by {self.added_by}"
        return f"rotated in {iso(self.added_us)} by {self.added_by} at tree size {self.from_size}"


def check_chain(keys: list[LedgerKey], origin: str) -> None:
    """Check the recorded keys form one chain: numbered from 0, each rotation signed by the
    key before it, tree sizes not going back.

    Raises :class:`IntegrityError` naming the first bad record.
    """
    for i, key in enumerate(keys):
        if key.seq != i:
            raise IntegrityError(
                f"recorded ledger key #{key.seq} should be #{i}: the ledger_keys table was altered"
            )
        if i == 0:
            if key.from_size != 0 or key.statement is not None:
                raise IntegrityError(
                    f"the first recorded ledger key {key.key_id} does not start at tree size 0: "
                    "the ledger_keys table was altered"
                )
            continue
        prev = keys[i - 1]
        expected = rotation_text(
            origin,
            prev.verifier,
            key.verifier,
            from_size=key.from_size,
            at_us=key.added_us,
            by=key.added_by,
            reason=key.reason,
        )
        try:
            signed = prev.verifier.open_note(key.statement or "")
        except IntegrityError:
            signed = None
        if signed != expected or key.from_size < prev.from_size:
            raise IntegrityError(
                f"the rotation to ledger key {key.key_id} (#{key.seq}) is not signed by the "
                f"previous key {prev.key_id}, or its record was changed: the ledger_keys table "
                "was altered"
            )


def parse_keys(rows: Sequence[tuple[Any, ...]]) -> list[LedgerKey]:
    """The keys of ``ledger_keys`` rows, oldest first (not checked: :func:`load_chain`)."""
    return [LedgerKey.from_row(row) for row in rows]


def load_chain(rows: Sequence[tuple[Any, ...]], origin: str) -> list[LedgerKey]:
    """The keys of ``ledger_keys`` rows, checked as one chain (:func:`check_chain`; empty if
    none is recorded). Raises :class:`IntegrityError` naming the first bad record."""
    keys = parse_keys(rows)
    check_chain(keys, origin)
    return keys


def until_size(keys: Sequence[LedgerKey], i: int) -> int | None:
    """The last tree size ``keys[i]`` signs: the next key's first (the checkpoint recorded at a
    rotation is the old key's); ``None`` for the current key."""
    return keys[i + 1].from_size if i + 1 < len(keys) else None


def fsync_dir(path: Path) -> None:
    """Make a rename or link in directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
