"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed-note envelopes, Ed25519.

A checkpoint (https://c2sp.org/tlog-checkpoint) commits to a tree head::

    example.com/shop-ledger                       origin
    1024                                          tree size, decimal, no leading zero
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=  root hash, base64

and is signed as a note (https://c2sp.org/signed-note): the body, a blank line, then one
``— <key name> <base64(key ID || signature)>`` line per signature. Key IDs, verifier keys
(``<name>+<hex key ID>+<base64(0x01 || public key)>``) and private key files
(``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>``) use the encodings of
``golang.org/x/mod/sumdb/note``, so Go tools can verify our notes and read our keys.

Parsing is strict and canonical: a text we accept is byte-for-byte one we could have written.
Extension lines (after the root hash; the spec allows them) are kept in
:attr:`Checkpoint.extensions` and written back by :meth:`Checkpoint.body`, so a cosignature,
which signs the whole body, verifies against a checkpoint rebuilt from its fields. Sentinelle's
own is the merchant-map line (:mod:`sentinelle.transparency.verify`). Malformed or
unverifiable checkpoints and notes raise :class:`~sentinelle.errors.IntegrityError`; a bad
key, key name or key file raises :class:`~sentinelle.errors.ConfigError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sentinelle.errors import ConfigError, IntegrityError
from sentinelle.keyfile import load_or_create

__all__ = [
    "NO_CHECKPOINT",
    "NO_WITNESSED_CHECKPOINT",
    "Checkpoint",
    "SigningKey",
    "Verifier",
    "parse_note",
]

#: What the log's API answers (404) when it has no checkpoint, or none a witness cosigned: a
#: monitor tells that answer from a 404 of a wrong address by these words.
NO_CHECKPOINT: Final = "no checkpoint yet"
NO_WITNESSED_CHECKPOINT: Final = "no witnessed checkpoint yet"

_HASH_SIZE = 32
_ALG_ED25519 = b"\x01"
_KEY_ID_SIZE = 4
_ED25519_SIG_SIZE = 64
_SIG_PREFIX = "\u2014 "  # EM DASH, space
_MAX_SIGNATURES = 100  # the spec requires at least 16; Go's note package allows 100
_MAX_TREE_SIZE = (1 << 63) - 1  # int64, what Go and SQL can hold

_SIZE_RE = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_HEX8_RE = re.compile(r"[0-9a-f]{8}", re.ASCII)
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f]")  # ASCII controls other than newline


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode_canonical(text: str) -> bytes | None:
    """Decode standard padded base64, or return None unless ``text`` is its canonical form.

    Refusing non-canonical text (stray bits in the last character, missing padding) means no
    byte of a signed note can change without the note changing meaning or being refused.
    """
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if _b64encode(data) == text else None


def _name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid signed-note key name, or None if it is."""
    if not name:
        return "key name is empty"
    if "+" in name:
        return f"key name {name!r} contains '+'"
    if any(c.isspace() or c < " " for c in name):
        return f"key name {name!r} contains a space or a control character"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return f"key name {name!r} is not valid UTF-8"
    return None


def _key_id(name: str, public_key: bytes, alg: bytes = _ALG_ED25519) -> bytes:
    """C2SP signed-note key ID: ``SHA-256(name || 0x0A || alg || public key)[:4]`` (alg 0x01 for
    Ed25519 note signatures, 0x04 for tlog-cosignature ``cosignature/v1``)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + alg + public_key).digest()[:_KEY_ID_SIZE]


def _split_verifier_key(text: str, what: str) -> tuple[str, str, bytes]:
    """``(name, hex key ID, decoded key)`` of ``<name>+<8 hex>+<base64>`` (surrounding
    whitespace ignored). Raises :class:`ConfigError` naming ``what`` if it is malformed."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise ConfigError(f"{what} must be <name>+<key id>+<base64 key>")
    name, hash_hex, key_b64 = parts
    if not _HEX8_RE.fullmatch(hash_hex):
        raise ConfigError(f"{what} ID {hash_hex!r} is not 8 lowercase hex digits")
    raw = _b64decode_canonical(key_b64)
    if raw is None:
        raise ConfigError(f"{what} is not canonical base64")
    return name, hash_hex, raw


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: the log's ``origin``, its ``size`` in leaves and its RFC 9162 ``root``, and
    its ``extensions``, the lines after the root (none, or Sentinelle's merchant-map line).

    Raises :class:`~sentinelle.errors.IntegrityError` on construction if a field cannot be
    written as a C2SP checkpoint (empty origin or one with control characters, negative size,
    root that is not 32 bytes, an empty extension line or one with a control character).
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin:
            raise IntegrityError("checkpoint origin is empty")
        if any(c < " " for c in self.origin):
            raise IntegrityError(f"checkpoint origin {self.origin!r} contains a control character")
        try:
            self.origin.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise IntegrityError(f"checkpoint origin {self.origin!r} is not valid UTF-8") from exc
        if isinstance(self.size, bool) or not 0 <= self.size <= _MAX_TREE_SIZE:
            raise IntegrityError(f"checkpoint tree size {self.size!r} is out of range")
        if len(self.root) != _HASH_SIZE:
            raise IntegrityError(f"checkpoint root hash must be {_HASH_SIZE} bytes")
        for line in self.extensions:
            if not line or any(c < " " for c in line):
                raise IntegrityError(f"checkpoint extension line {line!r} is empty or has controls")

    def body(self) -> str:
        """Return the note text: ``"<origin>\\n<size>\\n<base64 root>\\n"`` and then each
        extension line with its newline."""
        head = f"{self.origin}\n{self.size}\n{_b64encode(self.root)}\n"
        return head + "".join(line + "\n" for line in self.extensions)

    @classmethod
    def from_body(cls, text: str) -> Checkpoint:
        """Parse a checkpoint note text (C2SP tlog-checkpoint).

        Extension lines after the root hash are allowed by the spec and kept in
        :attr:`extensions`.

        Raises :class:`~sentinelle.errors.IntegrityError` if the text is not exactly three or
        more non-empty lines each ending in a newline, the size is not canonical decimal, or
        the root is not canonical base64 of 32 bytes.
        """
        if not text.endswith("\n"):
            raise IntegrityError("checkpoint text does not end with a newline")
        if _CONTROL_RE.search(text):
            raise IntegrityError("checkpoint text contains a control character")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise IntegrityError(
                f"checkpoint has {len(lines)} lines, expected origin, size and root hash"
            )
        if any(not line for line in lines):
            raise IntegrityError("checkpoint has an empty line")
        origin, size_text, root_text = lines[0], lines[1], lines[2]
        if not _SIZE_RE.fullmatch(size_text):
            raise IntegrityError(f"checkpoint tree size {size_text!r} is not a canonical decimal")
        root = _b64decode_canonical(root_text)
        if root is None:
            raise IntegrityError(f"checkpoint root hash {root_text!r} is not canonical base64")
        return cls(origin=origin, size=int(size_text), root=root, extensions=tuple(lines[3:]))


def parse_note(text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a signed note into its text and its signatures (C2SP signed-note).

    Returns ``(text, [(key name, key ID || signature), ...])``; the text keeps its final
    newline. Nothing is verified here.

    Raises :class:`~sentinelle.errors.IntegrityError` if the note is malformed: control
    characters, no blank line before the signatures, a signature line not of the form
    ``— <name> <base64>``, non-canonical base64, or more than 100 signatures.
    """
    if _CONTROL_RE.search(text):
        raise IntegrityError("signed note contains a control character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise IntegrityError("signed note is not valid UTF-8") from exc
    split = text.rfind("\n\n")
    if split < 0:
        raise IntegrityError("signed note has no blank line before its signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block.endswith("\n"):
        raise IntegrityError("signed note has no signature, or does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise IntegrityError(f"signed note has more than {_MAX_SIGNATURES} signatures")
    signatures: list[tuple[str, bytes]] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise IntegrityError(f"signed note line {line!r} is not a signature line")
        name, space, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        if not space or _name_problem(name) is not None:
            raise IntegrityError(f"signature line {line!r} has no valid key name")
        raw = _b64decode_canonical(b64)
        if raw is None or len(raw) <= _KEY_ID_SIZE:
            raise IntegrityError(f"signature line {line!r} has no valid base64 signature")
        signatures.append((name, raw))
    return body, signatures


class _NamedPublicKey:
    """A named Ed25519 public key and its signed-note key ID for one algorithm byte: the
    common part of a log's :class:`Verifier` and a witness's ``CosignatureVerifier`` (not
    interchangeable: the same key has another key ID, and signs other bytes, in each)."""

    __slots__ = ("_key", "_key_hash", "_name", "_public")

    def __init__(self, name: str, public_key: bytes, alg: bytes) -> None:
        problem = _name_problem(name)
        if problem is not None:
            raise ConfigError(problem)
        if len(public_key) != 32:
            raise ConfigError(f"Ed25519 public key is {len(public_key)} bytes, expected 32")
        self._name = name
        self._public = public_key
        self._key_hash = _key_id(name, public_key, alg)
        try:
            self._key = Ed25519PublicKey.from_public_bytes(public_key)
        except ValueError as exc:
            raise ConfigError("invalid Ed25519 public key") from exc

    @property
    def name(self) -> str:
        """The key name, as it appears in signature lines."""
        return self._name

    @property
    def key_hash(self) -> bytes:
        """The 4-byte key ID of its signature lines."""
        return self._key_hash


class Verifier(_NamedPublicKey):
    """Verifies checkpoints signed by one Ed25519 key, named as in its verifier key."""

    __slots__ = ()

    def __init__(self, *, name: str, public_key: bytes) -> None:
        super().__init__(name, public_key, _ALG_ED25519)

    @classmethod
    def from_verifier_key(cls, text: str) -> Verifier:
        """Parse a verifier key ``<name>+<8 hex key ID>+<base64(0x01 || public key)>``.

        Surrounding whitespace (a file's final newline) is ignored; everything else must be
        exact: lowercase hex, canonical base64, algorithm Ed25519, matching key ID.

        Raises :class:`~sentinelle.errors.ConfigError` if the key is malformed.
        """
        name, hash_hex, raw = _split_verifier_key(text, "verifier key")
        if len(raw) != 33 or raw[:1] != _ALG_ED25519:
            raise ConfigError("verifier key is not an Ed25519 key (0x01 || 32 bytes)")
        verifier = cls(name=name, public_key=raw[1:])
        if verifier.key_hash.hex() != hash_hex:
            raise ConfigError(f"verifier key ID {hash_hex} does not match the key")
        return verifier

    def verifier_key(self) -> str:
        """Return ``<name>+<8 hex key ID>+<base64(0x01 || public key)>``."""
        return f"{self._name}+{self._key_hash.hex()}+{_b64encode(_ALG_ED25519 + self._public)}"

    def open_note(self, note: str) -> str:
        """Verify a signed note of any text and return its text (with its final newline).

        Signature lines of other keys (other name or other key ID) are ignored, as the
        signed-note spec requires. At least one signature must be ours, and every one of ours
        must verify.

        Raises :class:`~sentinelle.errors.IntegrityError` if the note is malformed, a
        signature of this key fails, or none is present.
        """
        body, signatures = parse_note(note)
        message = body.encode("utf-8")
        verified = False
        for name, raw in signatures:
            if name != self._name or raw[:_KEY_ID_SIZE] != self._key_hash:
                continue
            signature = raw[_KEY_ID_SIZE:]
            if len(signature) != _ED25519_SIG_SIZE:
                raise IntegrityError(f"signature by {self._name} is not an Ed25519 signature")
            try:
                self._key.verify(signature, message)
            except InvalidSignature as exc:
                raise IntegrityError(f"signature by {self._name} does not verify") from exc
            verified = True
        if not verified:
            raise IntegrityError(
                f"note has no signature by key {self._name}+{self._key_hash.hex()}"
            )
        return body

    def verify(self, note: str, *, origin: str | None = None) -> Checkpoint:
        """Verify a signed checkpoint note and return the checkpoint.

        Signatures are checked as :meth:`open_note` does. With ``origin``, the checkpoint must
        also be for that log: one key may sign for several logs, so a client should say which
        log it expects.

        Raises :class:`~sentinelle.errors.IntegrityError` if the note or the checkpoint is
        malformed, a signature of this key fails, none is present, or the origin differs.
        """
        checkpoint = Checkpoint.from_body(self.open_note(note))
        if origin is not None and checkpoint.origin != origin:
            raise IntegrityError(
                f"checkpoint is for log {checkpoint.origin!r}, expected {origin!r}"
            )
        return checkpoint

    def __repr__(self) -> str:
        return f"Verifier({self.verifier_key()!r})"


class SigningKey:
    """An Ed25519 key that signs checkpoints under a signed-note key name.

    ``repr`` and ``str`` show the name and key ID only, never the private key.
    """

    __slots__ = ("_key", "_verifier")

    def __init__(self, *, name: str, seed: bytes) -> None:
        if len(seed) != 32:
            raise ConfigError(f"Ed25519 private key seed is {len(seed)} bytes, expected 32")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._verifier = Verifier(name=name, public_key=public)

    @classmethod
    def generate(cls, name: str) -> SigningKey:
        """Return a new random key named ``name``.

        Raises :class:`~sentinelle.errors.ConfigError` if ``name`` is not a valid key name
        (empty, or with spaces, control characters or ``+``).
        """
        return cls(name=name, seed=secrets.token_bytes(32))

    @classmethod
    def load_or_create(cls, path: Path, name: str) -> SigningKey:
        """Load the key stored at ``path``, creating it (mode 0600) on first use.

        The file holds ``PRIVATE+KEY+<name>+<key ID>+<base64(0x01 || seed)>``, the format of
        Go's ``note.NewSigner``. It is written to a temporary file created with mode 0600 and
        then hard-linked into place, so it is never readable by others, never seen half
        written, and a concurrent creator cannot overwrite it: the loser loads the winner's key.

        Raises :class:`~sentinelle.errors.ConfigError` if the file is readable or writable by
        group or others, is malformed, or holds a key with another name.
        """
        return load_or_create(
            path,
            what="signing key file",
            make=lambda: cls.generate(name)._file_text().encode("utf-8"),
            parse=lambda data: cls._parse(data, path, name),
        )

    def save(self, path: Path) -> None:
        """Write this key to a new file at ``path`` (mode 0600), as :meth:`load_or_create` does.

        Raises :class:`~sentinelle.errors.ConfigError` if ``path`` already holds another key
        or cannot be written.
        """
        saved = load_or_create(
            path,
            what="signing key file",
            make=lambda: self._file_text().encode("utf-8"),
            parse=lambda data: self._parse(data, path, self.name),
        )
        if saved.key_hash != self.key_hash:
            raise ConfigError(f"signing key file {path} already holds another key")

    @classmethod
    def _parse(cls, data: bytes, path: Path, name: str | None) -> SigningKey:
        """The key of a key file's ``data``; its name must be ``name`` (``None``: any)."""
        bad = ConfigError(
            f"signing key file {path} is not PRIVATE+KEY+<name>+<key id>+<base64 key>"
        )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise bad from None
        if text.endswith("\n"):
            text = text[:-1]
        parts = text.split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise bad
        file_name, hash_hex, key_b64 = parts[2], parts[3], parts[4]
        raw = _b64decode_canonical(key_b64)
        if not _HEX8_RE.fullmatch(hash_hex) or raw is None:
            raise bad
        if len(raw) != 33 or raw[:1] != _ALG_ED25519:
            raise ConfigError(f"signing key file {path} does not hold an Ed25519 key")
        if name is not None and file_name != name:
            raise ConfigError(
                f"signing key file {path} is for key name {file_name!r}, expected {name!r}"
            )
        key = cls(name=file_name, seed=raw[1:])
        if key.key_hash.hex() != hash_hex:
            raise ConfigError(f"signing key file {path}: key ID {hash_hex} does not match the key")
        return key

    def _file_text(self) -> str:
        seed = self._key.private_bytes_raw()
        return f"PRIVATE+KEY+{self.name}+{self.key_hash.hex()}+{_b64encode(_ALG_ED25519 + seed)}\n"

    @property
    def name(self) -> str:
        """The key name, written in signature lines."""
        return self._verifier.name

    @property
    def key_hash(self) -> bytes:
        """The 4-byte key ID: ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``."""
        return self._verifier.key_hash

    def verifier(self) -> Verifier:
        """Return the :class:`Verifier` for this key."""
        return self._verifier

    def verifier_key(self) -> str:
        """Return the public verifier key ``<name>+<8 hex key ID>+<base64(0x01 || key)>``."""
        return self._verifier.verifier_key()

    def sign(self, checkpoint: Checkpoint) -> str:
        """Return the signed note: the checkpoint body, a blank line, one signature line."""
        return self.sign_text(checkpoint.body())

    def sign_text(self, text: str) -> str:
        """Return ``text`` (non-empty lines, each ending in a newline) as a signed note.

        Raises :class:`~sentinelle.errors.IntegrityError` if ``text`` could not be read back
        as the same note (an empty line, a control character, no final newline).
        """
        if not text.endswith("\n") or "\n\n" in text or text.startswith("\n"):
            raise IntegrityError("a signed note's text must be non-empty lines ending in newlines")
        if _CONTROL_RE.search(text):
            raise IntegrityError("a signed note's text contains a control character")
        signature = self._key.sign(text.encode("utf-8"))
        return f"{text}\n{_SIG_PREFIX}{self.name} {_b64encode(self.key_hash + signature)}\n"

    def _sign_raw(self, message: bytes) -> bytes:
        """The Ed25519 signature of ``message`` (for :mod:`.cosignature`, which frames it)."""
        return self._key.sign(message)

    def _public_key(self) -> bytes:
        return self._verifier._public

    def __repr__(self) -> str:
        return f"SigningKey(name={self.name!r}, key_hash={self.key_hash.hex()!r})"

    def __reduce__(self) -> NoReturn:
        # Pickling would copy the private key into caches, queues and logs; refuse.
        raise TypeError("SigningKey cannot be pickled")
