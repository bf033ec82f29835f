"""Witness cosignatures: C2SP ``tlog-cosignature`` ``cosignature/v1`` (Ed25519).

A cosignature (https://c2sp.org/tlog-cosignature) is a signed-note signature line by a
witness on a checkpoint, saying "as of this time, this is the largest tree I have seen for
this log, and it is consistent with every one I saw before"::

    — witness.example/w1 base64(key ID || timestamp || Ed25519 signature)

* the key ID is ``SHA-256(name || 0x0A || 0x04 || public key)[:4]`` (algorithm byte 0x04,
  not the 0x01 of the log's own signatures: the same public key gives another key ID);
* the timestamp is 8 bytes, big-endian, seconds since the epoch, at most 2^63 - 1;
* the signature is Ed25519 over ``"cosignature/v1\\ntime <timestamp>\\n"`` followed by the whole
  checkpoint body (with its extension lines, without signature lines).

The verifier key of a witness is ``<name>+<hex key ID>+<base64(0x04 || public key)>``. Its
private key file is a standard note signer key (``PRIVATE+KEY+<name>+<hex>+<base64(0x01 ||
seed)>``, as :class:`~sentinelle.ledger.checkpoint.SigningKey` writes it), which is also what
``NewSignerForCosignatureV1`` of ``github.com/transparency-dev/formats/note`` reads.

Verification failures raise :class:`~sentinelle.errors.IntegrityError`; a malformed verifier
key raises :class:`~sentinelle.errors.ConfigError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NoReturn

from cryptography.exceptions import InvalidSignature

from sentinelle.errors import ConfigError, IntegrityError
from sentinelle.keyfile import load_or_create
from sentinelle.ledger.checkpoint import (
    _KEY_ID_SIZE,
    _SIG_PREFIX,
    Checkpoint,
    SigningKey,
    _b64encode,
    _NamedPublicKey,
    _split_verifier_key,
    parse_note,
)

__all__ = ["Cosignature", "CosignatureVerifier", "Cosigner", "cosigned_message"]

ALG_COSIGNATURE_V1: Final = b"\x04"
_TIMESTAMP_SIZE: Final = 8
_SIGNATURE_SIZE: Final = 64
_MAX_TIMESTAMP: Final = (1 << 63) - 1


def cosigned_message(body: str, timestamp: int) -> bytes:
    """What a ``cosignature/v1`` signs: the header line, the time line, the checkpoint body."""
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified cosignature: the checkpoint it is on, when, and its signature line."""

    checkpoint: Checkpoint
    timestamp: int
    line: str


class CosignatureVerifier(_NamedPublicKey):
    """Verifies the ``cosignature/v1`` lines of one witness key."""

    __slots__ = ()

    def __init__(self, *, name: str, public_key: bytes) -> None:
        super().__init__(name, public_key, ALG_COSIGNATURE_V1)

    @classmethod
    def from_verifier_key(cls, text: str) -> CosignatureVerifier:
        """Parse ``<name>+<8 hex key ID>+<base64(0x04 || public key)>``.

        Raises :class:`ConfigError` if it is malformed, not a cosignature/v1 key (a log's
        0x01 key is refused, naming the mix-up), or its key ID does not match.
        """
        name, hash_hex, raw = _split_verifier_key(text, "witness verifier key")
        if len(raw) != 33 or raw[:1] != ALG_COSIGNATURE_V1:
            kind = "a log's signing key (0x01)" if raw[:1] == b"\x01" else "not Ed25519"
            raise ConfigError(
                f"verifier key {name}+{hash_hex} is {kind}, not a witness's cosignature/v1 key "
                "(0x04 || 32 bytes): `sentinelle witness key` prints it"
            )
        verifier = cls(name=name, public_key=raw[1:])
        if verifier.key_hash.hex() != hash_hex:
            raise ConfigError(f"witness key ID {hash_hex} does not match the key")
        return verifier

    @property
    def key_id(self) -> str:
        """``<name>+<hex key ID>``: how messages name the witness."""
        return f"{self._name}+{self._key_hash.hex()}"

    def verifier_key(self) -> str:
        """Return ``<name>+<8 hex key ID>+<base64(0x04 || public key)>``."""
        return f"{self.key_id}+{_b64encode(ALG_COSIGNATURE_V1 + self._public)}"

    def verify(self, note: str) -> Cosignature:
        """Verify this witness's cosignature on a signed checkpoint note.

        Lines of other keys (the log's, other witnesses') are ignored. At least one line must
        be this witness's, and each of them must verify; the newest is returned.

        Raises :class:`IntegrityError` if the note or checkpoint is malformed, a line of this
        key is malformed or does not verify, or there is none.
        """
        body, signatures = parse_note(note)
        checkpoint = Checkpoint.from_body(body)
        found: Cosignature | None = None
        for name, raw in signatures:
            if name != self._name or raw[:_KEY_ID_SIZE] != self._key_hash:
                continue
            rest = raw[_KEY_ID_SIZE:]
            if len(rest) != _TIMESTAMP_SIZE + _SIGNATURE_SIZE:
                raise IntegrityError(f"cosignature by {self.key_id} is not a cosignature/v1")
            (timestamp,) = struct.unpack(">Q", rest[:_TIMESTAMP_SIZE])
            if timestamp > _MAX_TIMESTAMP:
                raise IntegrityError(f"cosignature by {self.key_id} has an impossible time")
            try:
                self._key.verify(rest[_TIMESTAMP_SIZE:], cosigned_message(body, timestamp))
            except InvalidSignature:
                raise IntegrityError(
                    f"the cosignature by witness {self.key_id} on the checkpoint of size "
                    f"{checkpoint.size} does not verify"
                ) from None
            line = f"{_SIG_PREFIX}{name} {_b64encode(raw)}\n"
            if found is None or timestamp >= found.timestamp:
                found = Cosignature(checkpoint, timestamp, line)
        if found is None:
            raise IntegrityError(
                f"the checkpoint of size {checkpoint.size} has no cosignature by witness "
                f"{self.key_id}"
            )
        return found

    def verify_line(self, checkpoint: Checkpoint, line: str) -> Cosignature:
        """Verify one signature ``line`` of this witness on ``checkpoint`` (its body, with its
        extension lines).

        Raises :class:`IntegrityError` as :meth:`verify` does.
        """
        return self.verify(f"{checkpoint.body()}\n{line.rstrip(chr(10))}\n")

    def __repr__(self) -> str:
        return f"CosignatureVerifier({self.verifier_key()!r})"


class Cosigner:
    """A witness's Ed25519 key, signing ``cosignature/v1`` lines.

    ``repr`` shows the name and key ID only, never the private key.
    """

    __slots__ = ("_key", "_verifier")

    def __init__(self, key: SigningKey) -> None:
        self._key = key
        self._verifier = CosignatureVerifier(name=key.name, public_key=key._public_key())

    @classmethod
    def generate(cls, name: str) -> Cosigner:
        """A new random witness key named ``name`` (a schema-less URL, by convention)."""
        return cls(SigningKey.generate(name))

    @classmethod
    def load_or_create(cls, path: Path, name: str | None = None) -> Cosigner:
        """The key stored at ``path``, created (mode 0600) on first use, as the ledger's key is.

        ``name`` is needed to create the key; an existing key keeps its own name (if ``name``
        is given, it must be that one).

        Raises :class:`ConfigError` if the file is readable by group or others, malformed,
        holds a key of another name, or is missing and no ``name`` is given.
        """

        def make() -> bytes:
            if name is None:
                raise ConfigError(f"no witness key at {path}: give its name (--name) to create it")
            return SigningKey.generate(name)._file_text().encode("utf-8")

        def parse(data: bytes) -> SigningKey:
            return SigningKey._parse(data, path, name)

        return cls(load_or_create(path, what="witness key file", make=make, parse=parse))

    @property
    def name(self) -> str:
        """The witness's key name."""
        return self._key.name

    def verifier(self) -> CosignatureVerifier:
        """The :class:`CosignatureVerifier` of this key."""
        return self._verifier

    def verifier_key(self) -> str:
        """``<name>+<hex key ID>+<base64(0x04 || public key)>``, what logs and verifiers pin."""
        return self._verifier.verifier_key()

    def cosign(self, body: str, *, timestamp: int) -> str:
        """The cosignature line (ending in a newline) on a checkpoint ``body`` at ``timestamp``.

        Raises :class:`IntegrityError` if ``body`` is not a checkpoint or the time is out of
        range.
        """
        Checkpoint.from_body(body)
        if not 0 <= timestamp <= _MAX_TIMESTAMP:
            raise IntegrityError(f"cosignature time {timestamp} is out of range")
        signature = self._key._sign_raw(cosigned_message(body, timestamp))
        raw = self._verifier.key_hash + struct.pack(">Q", timestamp) + signature
        return f"{_SIG_PREFIX}{self.name} {_b64encode(raw)}\n"

    def __repr__(self) -> str:
        return f"Cosigner({self._verifier.key_id!r})"

    def __reduce__(self) -> NoReturn:
        # Pickling would copy the private key into caches, queues and logs; refuse.
        raise TypeError("Cosigner cannot be pickled")
