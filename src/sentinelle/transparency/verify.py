"""Check, without trusting Sentinelle, that a merchant's list of accesses is complete.

This module is the merchant's side of issue 12 §2. It needs only the standard library and
``cryptography`` (Ed25519), imports nothing else of Sentinelle, and can be copied out and
read on its own. Everything it checks is defined here, byte for byte.

What a checkpoint commits to
----------------------------
Sentinelle's ledger is an RFC 9162 Merkle tree of every stored event; its leaf ``g`` is the
event's RFC 8785 canonical JSON, hashed ``SHA-256(0x00 || json)``. A checkpoint is a C2SP
``tlog-checkpoint`` signed note (``origin``, tree size, base64 root), signed with the log's
Ed25519 key (C2SP ``signed-note``), and cosigned by witnesses (C2SP ``tlog-cosignature``).

Since merchant slices exist, each checkpoint also carries one extension line::

    sentinelle/merchant-map/v1 <base64 map root>

* **A merchant's slice** is its own append-only RFC 9162 log: one leaf per access event of
  that merchant (the events whose ``merchant`` is it and whose ``action`` is an access, in
  the global log's order). Slice leaf ``i`` is the 40 bytes ``uint64_be(g) || SHA-256(0x00
  || json)``, where ``g`` is the event's index in the global log: it binds the event *and* its
  place, so a slice cannot be reordered or fed an event that is not in the log.
  :func:`slice_leaf_hash` hashes it as an RFC 9162 leaf.
* **The merchant map** is a sparse Merkle tree over 256-bit keys ``SHA-256(merchant id)``
  (:func:`map_key`), whose leaf for a merchant is ``SHA-256(0x00 || key || uint64_be(size) ||
  slice root)`` (:func:`map_leaf_hash`). It is the *compact* form (as in Diem's Jellyfish
  tree): a subtree holding one merchant is that merchant's leaf, an empty subtree is 32 zero
  bytes (:data:`MAP_EMPTY`), any other node is ``SHA-256(0x01 || left || right)``, where a
  key's bit ``d`` (most significant bit of the first byte is bit 0) chooses right (1) or left
  (0) at depth ``d``. A merchant with no access at all is absent, and that is provable too:
  the path for its key ends in an empty subtree or at another merchant's leaf whose key
  shares the path. The map of no merchant has root :data:`MAP_EMPTY`.

So a checkpoint of size ``T`` says: "merchant M's slice had ``n`` entries and root ``r``",
and a merchant can check the list it is given between two checkpoints ``F <= T``:

1. both notes are signed by the log's key (:func:`verify_note`), and carry a map line;
2. the map proves M's ``(n_F, r_F)`` at ``F`` and ``(n_T, r_T)`` at ``T`` (:func:`verify_map_proof`;
   ``F = 0`` is the empty slice);
3. the slice only grew: an RFC 9162 consistency proof from ``(n_F, r_F)`` to ``(n_T, r_T)``
   (:func:`verify_consistency`): nothing M saw before was removed or changed;
4. the list holds exactly the slice entries ``n_F .. n_T - 1``, each with an inclusion proof in
   ``(n_T, r_T)`` (:func:`verify_inclusion`), each at a global index in ``[F, T)``, in order.

Then nothing was left out: an access of M logged between the two checkpoints is one of the
slice's entries ``n_F .. n_T - 1`` (the slice at ``F`` had ``n_F``), and every one of those is
in the list. :func:`verify_slice` does all of it for the pages of one answer.

Customer lookups follow: "customer X was not accessed" holds for the window of log positions
``[F, T)`` once the list is verified complete, since every access of M logged there is in it;
:func:`accesses_to` lists the verified entries naming X (an empty list is the proof of
absence, for that window). An access is logged when Sentinelle receives it, so choose ``F``
among checkpoints made before the period of interest began and ``T`` after it ended (and after
late events arrived): ``verified.first_time``/``last_time`` tell the events' own time range.

What is trusted: the log's verifier key, obtained outside the log (and the witnesses' keys,
for whoever checks their cosignatures with :func:`verify_cosignature`, as ``sentinelle
monitor`` does). After the log rotates its key, :func:`verify_key_history` follows the keys
``GET /v1/ledger/keys`` lists from the one pinned, each rotation signed by the key before, and
:func:`verify_note_by_history` checks a checkpoint with the key of its tree size. The
slices and the map are built at ingest from the same events, in the same transaction; that the
operator built them honestly is auditable by anyone holding the log (the map is a function of
it: replay the events, as ``sentinelle ledger verify`` does), and once signed they cannot be changed
without the signature or the witnesses' record of the log disagreeing. Checkpoints made
before slices existed carry no map line: they stay valid checkpoints of the log
(:func:`verify_note` accepts them), but completeness cannot be proven against them
(:class:`MissingMapError`).

Functions raise a :class:`VerificationError` subclass naming what failed; they never return
``False``. The answer format is the one of ``GET /v1/merchants/{merchant}/slice`` and
``sentinelle ledger slice --json``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = [
    "EMPTY_ROOT",
    "MAP_EMPTY",
    "MAP_LINE_PREFIX",
    "CompletenessError",
    "KeyHistory",
    "KeyHistoryError",
    "LogKey",
    "MapProof",
    "MapProofError",
    "MissingMapError",
    "NoteError",
    "ProofError",
    "SignedCheckpoint",
    "SliceEntry",
    "SliceHead",
    "VerificationError",
    "VerifiedSlice",
    "accesses_to",
    "event_leaf_hash",
    "map_key",
    "map_leaf_hash",
    "map_line",
    "map_root_from_proof",
    "map_root_in",
    "slice_leaf_hash",
    "verify_consistency",
    "verify_cosignature",
    "verify_inclusion",
    "verify_key_history",
    "verify_map_proof",
    "verify_note",
    "verify_note_by_history",
    "verify_slice",
]

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
"""Root of an empty RFC 9162 tree (an empty slice)."""
MAP_EMPTY: Final = bytes(32)
"""Hash of an empty subtree of the merchant map, and root of the empty map."""
MAP_LINE_PREFIX: Final = "sentinelle/merchant-map/v1 "
"""The checkpoint extension line that carries the map root: this, then base64 of the root."""
_ACCESS_ACTIONS: Final = frozenset({"view", "search", "export", "download", "update", "delete"})
_SIG_PREFIX: Final = "\u2014 "  # EM DASH, space
_SIZE: Final = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_CONTROL: Final = re.compile(r"[\x00-\x09\x0b-\x1f]")  # ASCII controls other than newline
_ALG_ED25519: Final = 0x01  # the log's note signatures (C2SP signed-note)
_ALG_COSIGNATURE: Final = 0x04  # witnesses' cosignature/v1 (C2SP tlog-cosignature)


# -- errors ----------------------------------------------------------------------------------
class VerificationError(Exception):
    """Something did not verify; the message says what, in words a person can act on."""


class NoteError(VerificationError):
    """A signed note is malformed, or not signed by the expected key."""


class MissingMapError(VerificationError):
    """A checkpoint carries no merchant-map line: it was made before merchant slices existed
    (it is still a valid checkpoint of the log; only completeness cannot be proven with it)."""


class ProofError(VerificationError):
    """An RFC 9162 inclusion or consistency proof is malformed or does not lead to its root."""


class MapProofError(VerificationError):
    """A map proof does not lead to the map root of its checkpoint."""


class CompletenessError(VerificationError):
    """The listed entries are not exactly the slice's entries between the two checkpoints."""


# -- hashing ---------------------------------------------------------------------------------
def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def event_leaf_hash(event_json: str | bytes) -> bytes:
    """The global log's leaf hash of a stored event: ``SHA-256(0x00 || canonical JSON)``."""
    data = event_json.encode() if isinstance(event_json, str) else event_json
    return _sha(b"\x00" + data)


def slice_leaf_hash(leaf_index: int, global_leaf_hash: bytes) -> bytes:
    """The slice leaf hash of the event at ``leaf_index`` in the global log:
    ``SHA-256(0x00 || uint64_be(leaf_index) || global leaf hash)``."""
    return _sha(b"\x00" + leaf_index.to_bytes(8, "big") + global_leaf_hash)


def map_key(merchant: str) -> bytes:
    """A merchant's key in the map: ``SHA-256(UTF-8 merchant id)``."""
    return _sha(merchant.encode("utf-8"))


def map_leaf_hash(key: bytes, size: int, root: bytes) -> bytes:
    """The map leaf of a merchant whose slice has ``size`` entries and ``root``:
    ``SHA-256(0x00 || key || uint64_be(size) || root)``."""
    return _sha(b"\x00" + key + size.to_bytes(8, "big") + root)


def map_line(root: bytes) -> str:
    """The checkpoint extension line for a map root (without its newline)."""
    return MAP_LINE_PREFIX + base64.b64encode(root).decode("ascii")


def _bit(key: bytes, depth: int) -> int:
    return key[depth >> 3] >> (7 - (depth & 7)) & 1


# -- signed notes ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint whose signature verified: origin, tree size, root, extension lines, and
    the merchant-map root they carry (``None``: a checkpoint from before slices)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...]
    map_root: bytes | None


def _b64(text: str, what: str, error: type[VerificationError]) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise error(f"{what} is not base64") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise error(f"{what} is not canonical base64")
    return data


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """A signed note's text (with its final newline) and its signatures: ``(key name, key ID
    || signature)`` of each ``— <name> <base64>`` line after the blank line."""
    if _CONTROL.search(note):
        raise NoteError("signed note contains a control character")
    try:
        note.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError("signed note is not valid UTF-8") from None
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("signed note has no blank line before its signatures")
    signatures = []
    for line in note[split + 2 : -1].split("\n"):
        if not line.startswith(_SIG_PREFIX):
            raise NoteError(f"signed note line {line!r} is not a signature line")
        sig_name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        signatures.append((sig_name, _b64(b64, f"signature of {sig_name}", NoteError)))
    return note[: split + 1], signatures


def verify_note(note: str, verifier_key: str, *, origin: str | None = None) -> SignedCheckpoint:
    """Check a signed checkpoint note against the log's verifier key and parse it.

    ``verifier_key`` is ``<name>+<hex key ID>+<base64(0x01 || Ed25519 public key)>`` (what
    ``GET /v1/ledger/key`` and ``sentinelle ledger key`` print). Signature lines of other keys
    (witnesses) are ignored; at least one must be the log's, and each of the log's must verify.
    With ``origin``, the checkpoint must be that log's.

    Raises :class:`NoteError` naming what is wrong.
    """
    name, key_id, public = _parse_verifier_key(verifier_key, _ALG_ED25519)
    body, signatures = _split_note(note)
    try:
        signed = _signed_by(body, signatures, name, key_id, public)
    except InvalidSignature:
        raise NoteError(f"the signature by {name} does not verify: the note was altered") from None
    if not signed:
        raise NoteError(f"the note has no signature by key {name}+{key_id.hex()} (the log's)")
    cp = _checkpoint(body)
    if origin is not None and cp.origin != origin:
        raise NoteError(f"the checkpoint is for log {cp.origin!r}, expected {origin!r}")
    return cp


def _signed_by(
    body: str,
    signatures: Sequence[tuple[str, bytes]],
    name: str,
    key_id: bytes,
    public: Ed25519PublicKey,
) -> bool:
    """Whether a note's ``body`` carries a signature line of the key ``name``, ``key_id``
    (lines of other keys, such as witnesses' cosignatures, are not checked here). Raises
    :class:`InvalidSignature` if one of its lines does not verify."""
    signed = False
    for sig_name, raw in signatures:
        if sig_name == name and raw[:4] == key_id:
            public.verify(raw[4:], body.encode("utf-8"))
            signed = True
    return signed


def map_root_in(extensions: Sequence[str]) -> bytes | None:
    """The merchant-map root a checkpoint's extension lines carry (``None``: no map line).

    Raises :class:`NoteError` if there are two, or the root is not canonical base64 of 32
    bytes.
    """
    maps = [e for e in extensions if e.startswith(MAP_LINE_PREFIX)]
    if len(maps) > 1:
        raise NoteError("the checkpoint carries two merchant-map lines")
    if not maps:
        return None
    map_root = _b64(maps[0][len(MAP_LINE_PREFIX) :], "merchant-map root", NoteError)
    if len(map_root) != HASH_SIZE:
        raise NoteError("merchant-map root is not 32 bytes")
    return map_root


def _checkpoint(body: str) -> SignedCheckpoint:
    """The checkpoint (C2SP tlog-checkpoint) of a note's text."""
    lines = body[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise NoteError("the checkpoint is not origin, size and root hash lines")
    origin, size_text, root_text = lines[:3]
    if not _SIZE.fullmatch(size_text):
        raise NoteError(f"checkpoint tree size {size_text!r} is not a canonical decimal")
    root = _b64(root_text, "checkpoint root hash", NoteError)
    if len(root) != HASH_SIZE:
        raise NoteError("checkpoint root hash is not 32 bytes")
    extensions = tuple(lines[3:])
    return SignedCheckpoint(origin, int(size_text), root, extensions, map_root_in(extensions))


def verify_cosignature(note: str, witness_key: str) -> int | None:
    """Check a witness's cosignatures (C2SP ``tlog-cosignature``, ``cosignature/v1``) on a
    signed checkpoint note: the time of its newest one (seconds since the epoch), or ``None``
    if the note has no line of that witness.

    ``witness_key`` is ``<name>+<hex key ID>+<base64(0x04 || Ed25519 public key)>`` (what
    ``sentinelle witness key`` prints). Each of the witness's lines must be 8 bytes of
    big-endian time and an Ed25519 signature of ``"cosignature/v1\ntime <time>\n"`` followed
    by the checkpoint's text. Other lines are ignored (this checks no log signature).

    Raises :class:`NoteError` if the note is malformed or a line of the witness does not verify
    (forged, or copied from another checkpoint).
    """
    name, key_id, public = _parse_verifier_key(witness_key, _ALG_COSIGNATURE)
    body, signatures = _split_note(note)
    cp = _checkpoint(body)
    newest = None
    for sig_name, raw in signatures:
        if sig_name != name or raw[:4] != key_id:
            continue
        time = int.from_bytes(raw[4:12], "big")
        try:
            if len(raw) != 4 + 8 + 64 or time >= 1 << 63:
                raise InvalidSignature
            public.verify(raw[12:], f"cosignature/v1\ntime {time}\n{body}".encode())
        except InvalidSignature:
            raise NoteError(
                f"the cosignature by witness {name}+{key_id.hex()} on the checkpoint of size "
                f"{cp.size} does not verify"
            ) from None
        newest = time if newest is None else max(newest, time)
    return newest


def _parse_verifier_key(text: str, alg: int) -> tuple[str, bytes, Ed25519PublicKey]:
    parts = text.strip().split("+", 2)  # base64 may hold '+' too
    if len(parts) != 3:
        raise NoteError("verifier key is not <name>+<key id>+<base64 key>")
    name, id_hex, key_b64 = parts
    key = _b64(key_b64, "verifier key", NoteError)
    if len(key) != 33 or key[0] != alg:
        kind = "note" if alg == _ALG_ED25519 else "cosignature/v1"
        raise NoteError(f"verifier key is not an Ed25519 {kind} key ({alg:#04x} || 32 bytes)")
    key_id = _sha(name.encode("utf-8") + b"\n" + key)[:4]
    if key_id.hex() != id_hex:
        raise NoteError(f"verifier key ID {id_hex} does not match its key")
    return name, key_id, Ed25519PublicKey.from_public_bytes(key[1:])


# -- the log's keys --------------------------------------------------------------------------
class KeyHistoryError(VerificationError):
    """The log's list of keys (``GET /v1/ledger/keys``) is malformed, does not hold the pinned
    key, or a rotation in it is not signed by the key before."""


@dataclass(frozen=True, slots=True)
class LogKey:
    """A verifier key of the log and the checkpoints it signs: tree sizes ``from_size`` to
    ``until_size``, both included (``None``: the current key). At a rotation's size both the
    old and the new key may sign (the checkpoint recorded then is the old key's)."""

    verifier_key: str
    from_size: int
    until_size: int | None

    def signs(self, size: int) -> bool:
        """Whether this key may sign the checkpoint of tree ``size``."""
        return self.from_size <= size and (self.until_size is None or size <= self.until_size)


@dataclass(frozen=True, slots=True)
class KeyHistory:
    """The log's keys from a pinned one on, each rotation checked (:func:`verify_key_history`)."""

    origin: str
    keys: tuple[LogKey, ...]

    def keys_for(self, size: int) -> tuple[str, ...]:
        """The verifier keys that may sign the checkpoint of tree ``size`` (newest first).

        Raises :class:`KeyHistoryError` if none does: a size before the pinned key signed
        (pin an older key to check older checkpoints)."""
        found = tuple(k.verifier_key for k in reversed(self.keys) if k.signs(size))
        if not found:
            raise KeyHistoryError(
                f"no key of the history signs tree size {size}: it starts at size "
                f"{self.keys[0].from_size}, where the pinned key took over (pin an older key to "
                "check older checkpoints)"
            )
        return found


def _key_name(key: str) -> str:
    """``<name>+<key id>`` of a verifier key (its base64 may hold '+')."""
    return "+".join(key.split("+", 2)[:2])


def _same_key(a: str, b: str) -> bool:
    return _parse_verifier_key(a, _ALG_ED25519)[:2] == _parse_verifier_key(b, _ALG_ED25519)[:2]


def _rotation_lines(statement: str, old_key: str) -> dict[str, str]:
    """The lines of a rotation statement (a signed note), after checking that ``old_key``
    signed it: ``{"": "<origin> key rotation", "old": …, "new": …, "size": …, …}``."""
    name, key_id, public = _parse_verifier_key(old_key, _ALG_ED25519)
    try:
        body, signatures = _split_note(statement)
    except NoteError as exc:
        raise KeyHistoryError(f"its statement is not a signed note: {exc}") from None
    try:
        signed = _signed_by(body, signatures, name, key_id, public)
    except InvalidSignature:
        raise KeyHistoryError(
            f"its statement's signature by the previous key {name}+{key_id.hex()} does not "
            "verify: the statement was altered"
        ) from None
    if not signed:
        raise KeyHistoryError(
            f"its statement is not signed by the previous key {name}+{key_id.hex()}"
        )
    head, *rest = body[:-1].split("\n")
    lines = {"": head}
    for line in rest:
        field, _, value = line.partition(" ")
        lines[field] = value
    return lines


@dataclass(frozen=True, slots=True)
class _KeyRecord:
    """One record of ``GET /v1/ledger/keys`` as far as the check goes: the key and its sizes,
    and the rotation's ``statement``, ``by`` and ``reason`` (not yet checked)."""

    key: LogKey
    statement: Any
    by: Any
    reason: str

    @classmethod
    def parse(cls, k: Mapping[str, Any]) -> _KeyRecord:
        """Raises ``KeyError``, ``TypeError`` or ``ValueError`` for a malformed record."""
        until = k["until_size"]
        return cls(
            LogKey(
                str(k["verifier_key"]),
                int(k["from_size"]),
                None if until is None else int(until),
            ),
            k.get("statement"),
            k.get("by"),
            str(k.get("reason", "")),
        )


def verify_key_history(
    answer: Mapping[str, Any], pinned_key: str, *, origin: str | None = None
) -> KeyHistory:
    """Check the log's keys (the answer of ``GET /v1/ledger/keys``) from ``pinned_key`` on.

    ``pinned_key`` is a key of the log obtained outside it (usually the first one, published
    when the log started). Every later key must come with its rotation statement, a signed note
    by the key before it naming the old and new keys and the tree size from which the new one
    signs (and who and why, as the record says); the tree sizes must follow one another. Keys
    before the pinned one are left out: nothing the pinned key signed vouches for them. With
    ``origin``, the log must be that one.

    Raises :class:`KeyHistoryError` naming the first problem.
    """
    try:
        log = str(answer["origin"])
        records = [_KeyRecord.parse(k) for k in answer["keys"]]
    except (KeyError, TypeError, ValueError):
        raise KeyHistoryError("the list of keys is malformed") from None
    if origin is not None and log != origin:
        raise KeyHistoryError(f"the keys are of log {log!r}, expected {origin!r}")
    if not records or records[0].key.from_size != 0:
        raise KeyHistoryError("the log's first key must sign from tree size 0")
    for i, record in enumerate(records):
        key, start, until = record.key.verifier_key, record.key.from_size, record.key.until_size
        nxt = records[i + 1].key.from_size if i + 1 < len(records) else None
        if until != nxt or (nxt is not None and nxt < start):
            raise KeyHistoryError(
                f"key {i} ({_key_name(key)}) signs sizes {start} to {until}, but the next "
                f"key signs from {nxt}"
            )
        try:
            _parse_verifier_key(key, _ALG_ED25519)
        except NoteError as exc:
            raise KeyHistoryError(f"key {i}: {exc}") from None
    try:
        _parse_verifier_key(pinned_key, _ALG_ED25519)
    except NoteError as exc:
        raise KeyHistoryError(f"the pinned key: {exc}") from None
    try:
        pinned = next(i for i, r in enumerate(records) if _same_key(r.key.verifier_key, pinned_key))
    except StopIteration:
        raise KeyHistoryError(
            f"the pinned key {_key_name(pinned_key)} is not one of the log's keys"
        ) from None
    for i in range(pinned + 1, len(records)):
        record = records[i]
        key, start, statement = record.key.verifier_key, record.key.from_size, record.statement
        prev = records[i - 1].key.verifier_key
        label = f"the rotation to key {_key_name(key)} (key {i}, from size {start})"
        if not isinstance(statement, str):
            raise KeyHistoryError(f"{label} has no statement by the previous key")
        try:
            lines = _rotation_lines(statement, prev)
        except KeyHistoryError as exc:
            raise KeyHistoryError(f"{label}: {exc}") from None
        said = (lines.get(""), lines.get("old"), lines.get("new"), lines.get("size"))
        want = (f"{log} key rotation", prev, key, str(start))
        if said[:2] != want[:2] or not _same_key(said[2] or "", key) or said[3] != want[3]:
            raise KeyHistoryError(
                f"{label}: its signed statement names another log, key or tree size than the record"
            )
        if lines.get("by") != record.by or lines.get("reason") != record.reason:
            raise KeyHistoryError(f"{label}: its signed statement names another who or why")
    return KeyHistory(log, tuple(r.key for r in records[pinned:]))


def verify_note_by_history(note: str, history: KeyHistory) -> SignedCheckpoint:
    """:func:`verify_note` with the key of ``history`` that signs the note's tree size.

    Raises :class:`NoteError` (or :class:`KeyHistoryError` for a size before the pinned key).
    """
    size = _checkpoint(_split_note(note)[0]).size
    problems = []
    for key in history.keys_for(size):
        try:
            return verify_note(note, key, origin=history.origin)
        except NoteError as exc:
            problems.append(str(exc))
    raise NoteError("; ".join(problems))


# -- RFC 9162 proofs -------------------------------------------------------------------------
def _hashes(proof: Sequence[bytes], what: str) -> None:
    for i, h in enumerate(proof):
        if len(h) != HASH_SIZE:
            raise ProofError(f"{what}: hash {i} is {len(h)} bytes, expected 32")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``
    (RFC 9162 §2.1.3.2). Raises :class:`ProofError`."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    _hashes(proof, f"inclusion proof of leaf {index}")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError(f"inclusion proof of leaf {index} is too long")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _node(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"inclusion proof of leaf {index} is too short")
    if r != root:
        raise ProofError(f"leaf {index} is not in the tree of size {size} with that root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``(new_size, new_root)`` extends ``(old_size, old_root)``
    (RFC 9162 §2.1.4.2; size 0 is the empty tree, equal sizes need equal roots).
    Raises :class:`ProofError`."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of size {new_size} cannot extend one of size {old_size}")
    _hashes(proof, "consistency proof")
    if old_size == 0 or old_size == new_size:
        if proof:
            raise ProofError("consistency proof should be empty")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError("the old tree is empty but its root is not the empty-tree hash")
        if old_size == new_size and old_root != new_root:
            raise ProofError(f"two different roots for the same tree size {old_size}")
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a perfect old tree: its root starts the path
        path.insert(0, old_root)
    if not path:
        raise ProofError("consistency proof is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != old_root:
        raise ProofError(f"consistency proof {old_size} → {new_size} does not match the old root")
    if sr != new_root:
        raise ProofError(f"consistency proof {old_size} → {new_size} does not match the new root")


# -- the merchant map ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SliceHead:
    """A merchant's slice as a checkpoint commits it: ``size`` entries, RFC 9162 ``root``
    (size 0 and :data:`EMPTY_ROOT`: no access yet, the merchant is absent from the map)."""

    size: int
    root: bytes


@dataclass(frozen=True, slots=True)
class MapProof:
    """The path of a key in the map: ``siblings`` from the deepest up to the root's child, and
    for an absent key the leaf found in its place (``other_key``, ``other_leaf``), if any."""

    siblings: tuple[bytes, ...]
    other_key: bytes | None = None
    other_leaf: bytes | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MapProof:
        """From its JSON form ``{"siblings": [hex], "other": null | {"key", "leaf_hash"}}``."""
        other = data.get("other")
        return cls(
            tuple(_hex(h, "map proof sibling", MapProofError) for h in data["siblings"]),
            _hex(other["key"], "map proof other key", MapProofError) if other else None,
            _hex(other["leaf_hash"], "map proof other leaf", MapProofError) if other else None,
        )


def map_root_from_proof(key: bytes, head: SliceHead, proof: MapProof) -> bytes:
    """The map root that ``proof`` gives for ``key`` holding ``head`` (absent if size 0).

    Raises :class:`MapProofError` if the proof is malformed (too deep, an absent key's
    neighbour that is the key itself or lies off its path, a present key with a neighbour).
    """
    depth = len(proof.siblings)
    if depth > 256 or len(key) != HASH_SIZE:
        raise MapProofError("map proof is deeper than the 256 bits of a key")
    if head.size:
        if proof.other_key is not None:
            raise MapProofError("map proof of a present merchant names another leaf")
        h = map_leaf_hash(key, head.size, head.root)
    elif head.root != EMPTY_ROOT:
        raise MapProofError("an empty slice must have the empty-tree root")
    elif proof.other_key is None:
        h = MAP_EMPTY
    else:
        other, leaf = proof.other_key, proof.other_leaf
        if leaf is None or len(other) != HASH_SIZE or len(leaf) != HASH_SIZE:
            raise MapProofError("map proof's other leaf is malformed")
        if other == key or any(_bit(other, d) != _bit(key, d) for d in range(depth)):
            raise MapProofError("map proof's other leaf is not on the merchant's path")
        h = leaf
    for i, sibling in enumerate(proof.siblings):
        if len(sibling) != HASH_SIZE:
            raise MapProofError(f"map proof sibling {i} is not 32 bytes")
        h = _node(sibling, h) if _bit(key, depth - 1 - i) else _node(h, sibling)
    return h


def verify_map_proof(map_root: bytes, merchant: str, head: SliceHead, proof: MapProof) -> None:
    """Check that the map with ``map_root`` gives ``merchant`` the slice ``head`` (size 0:
    the merchant is absent, it had no access). Raises :class:`MapProofError`."""
    if map_root_from_proof(map_key(merchant), head, proof) != map_root:
        what = f"a slice of {head.size} entries" if head.size else "no slice (no access)"
        raise MapProofError(
            f"the map proof does not give merchant {merchant!r} {what} under the signed map root"
        )


# -- a whole answer --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SliceEntry:
    """One verified access: its place in the slice and in the log, and the event (canonical
    JSON as logged, and decoded)."""

    slice_index: int
    leaf_index: int
    event_json: str
    event: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class VerifiedSlice:
    """What :func:`verify_slice` proved: every access of ``merchant`` logged between the
    checkpoints of size ``from_size`` and ``to_size`` is in ``entries``, and nothing else."""

    merchant: str
    from_checkpoint: SignedCheckpoint | None
    to_checkpoint: SignedCheckpoint
    from_head: SliceHead
    to_head: SliceHead
    entries: tuple[SliceEntry, ...]

    @property
    def from_size(self) -> int:
        """The older checkpoint's tree size (0: from the beginning)."""
        return self.from_checkpoint.size if self.from_checkpoint else 0

    @property
    def to_size(self) -> int:
        """The newer checkpoint's tree size."""
        return self.to_checkpoint.size

    @property
    def first_time(self) -> str | None:
        """The earliest event time among the entries (RFC 3339), if any."""
        return min((str(e.event.get("time")) for e in self.entries), default=None)

    @property
    def last_time(self) -> str | None:
        """The latest event time among the entries (RFC 3339), if any."""
        return max((str(e.event.get("time")) for e in self.entries), default=None)


def _hex(text: Any, what: str, error: type[VerificationError]) -> bytes:
    try:
        data = bytes.fromhex(text)
    except (TypeError, ValueError):
        raise error(f"{what} is not hex") from None
    if len(data) != HASH_SIZE:
        raise error(f"{what} is not 32 bytes")
    return data


def _side(
    side: Mapping[str, Any], merchant: str, verifier_key: str, origin: str | None, label: str
) -> tuple[SignedCheckpoint | None, SliceHead]:
    """Verify one end of an answer: its note, map line and map proof."""
    size = side["size"]
    head = SliceHead(
        int(side["slice"]["size"]), _hex(side["slice"]["root"], f"{label} slice root", ProofError)
    )
    if size == 0:
        if head != SliceHead(0, EMPTY_ROOT) or side.get("checkpoint"):
            raise CompletenessError("the slice at tree size 0 must be empty")
        return None, head
    try:
        cp = verify_note(side["checkpoint"], verifier_key, origin=origin)
    except NoteError as exc:
        raise NoteError(f"{label} checkpoint (size {size}): {exc}") from None
    if cp.size != size:
        raise NoteError(f"{label} checkpoint is of size {cp.size}, the answer says {size}")
    if cp.map_root is None:
        raise MissingMapError(
            f"{label} checkpoint (size {size}) carries no merchant-map line: it was made before "
            "merchant slices existed, so completeness cannot be proven against it (pick a later "
            "checkpoint, or from 0)"
        )
    try:
        verify_map_proof(cp.map_root, merchant, head, MapProof.from_dict(side["map_proof"]))
    except MapProofError as exc:
        raise MapProofError(f"{label} checkpoint (size {size}): {exc}") from None
    return cp, head


def verify_slice(
    pages: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    verifier_key: str,
    merchant: str,
    origin: str | None = None,
    known: tuple[int, SliceHead] | None = None,
    from_verifier_key: str | None = None,
) -> VerifiedSlice:
    """Check that the pages of one slice answer list exactly ``merchant``'s accesses logged
    between its two checkpoints (the steps of the module docstring).

    ``pages`` is one answer (a dict) or all the pages of one, in order (each page repeats the
    checkpoints and proofs, and is checked whole; together their entries must run from the
    first slice index to the last). ``known`` is ``(tree size, SliceHead)`` the caller verified
    earlier (a monitor's state, usually the ``to`` of its last run, passed as ``from`` now):
    when the answer's ``from`` is at that size its head must be the same, else the merchant's
    history was rewritten. ``from_verifier_key``: the key that signed the ``from`` checkpoint
    when the log's key was rotated between the two (default: ``verifier_key``, as ``to``; see
    :func:`verify_key_history`).

    Raises :class:`NoteError`, :class:`MissingMapError`, :class:`MapProofError`,
    :class:`ProofError` or :class:`CompletenessError` naming what failed: the entry (slice
    index, log index, event id) for a changed or foreign event, how many are missing.
    """
    listed = [pages] if isinstance(pages, Mapping) else list(pages)
    if not listed:
        raise CompletenessError("no page to verify")
    entries: list[SliceEntry] = []
    first = listed[0]
    ends = (first["from"]["size"], first["to"]["size"])
    from_key = from_verifier_key or verifier_key
    from_cp, from_head = _side(first["from"], merchant, from_key, origin, "from")
    to_cp, to_head = _side(first["to"], merchant, verifier_key, origin, "to")
    if to_cp is None:
        raise CompletenessError("the 'to' checkpoint must be of a size above 0")
    if ends[0] > ends[1]:
        raise CompletenessError(f"from size {ends[0]} is after to size {ends[1]}")
    if known is not None and known[0] == ends[0] and known[1] != from_head:
        raise CompletenessError(
            f"the slice at tree size {known[0]} was {known[1].size} entries, the answer now says "
            f"{from_head.size}: the merchant's history was rewritten"
        )
    if first.get("merchant") != merchant:
        raise CompletenessError(f"the answer is for merchant {first.get('merchant')!r}")
    consistency = [
        _hex(h, "slice consistency proof hash", ProofError) for h in first["consistency"]
    ]
    try:
        verify_consistency(from_head.size, to_head.size, from_head.root, to_head.root, consistency)
    except ProofError as exc:
        raise ProofError(
            f"the slice of {from_head.size} entries at size {ends[0]} is not a prefix of the slice "
            f"of {to_head.size} at size {ends[1]}: the merchant's history was rewritten ({exc})"
        ) from None
    expected = from_head.size
    last_leaf = ends[0] - 1
    for number, page in enumerate(listed):
        if number and (
            page["from"] != first["from"]
            or page["to"] != first["to"]
            or page["consistency"] != first["consistency"]
        ):
            raise CompletenessError(f"page {number + 1} is of another answer (other checkpoints)")
        if page.get("start") != expected:
            raise CompletenessError(
                f"page {number + 1} starts at slice entry {page.get('start')}, expected {expected}"
            )
        for item in page["entries"]:
            entry = _entry(item, expected, to_head, merchant, ends, last_leaf)
            entries.append(entry)
            last_leaf = entry.leaf_index
            expected += 1
    if expected != to_head.size:
        missing = to_head.size - expected
        raise CompletenessError(
            f"the answer lists {expected - from_head.size} accesses of merchant {merchant!r} but "
            f"its slice grew by {to_head.size - from_head.size} between tree sizes {ends[0]} and "
            f"{ends[1]}: {missing} missing (slice entries {expected}–{to_head.size - 1})"
            if missing > 0
            else f"the answer lists more entries than the slice holds ({to_head.size})"
        )
    return VerifiedSlice(merchant, from_cp, to_cp, from_head, to_head, tuple(entries))


def _entry(
    item: Mapping[str, Any],
    expected: int,
    head: SliceHead,
    merchant: str,
    ends: tuple[int, int],
    last_leaf: int,
) -> SliceEntry:
    index, leaf, text = item["slice_index"], item["leaf_index"], item["event"]
    if index != expected:
        raise CompletenessError(f"slice entry {expected} is missing (the next listed is {index})")
    try:
        event = json.loads(text)
        event_id = event["id"]
    except (TypeError, ValueError, KeyError):
        raise CompletenessError(f"slice entry {index} is not an event") from None
    label = f"slice entry {index} (log leaf {leaf}, event {event_id!r})"
    if not ends[0] <= leaf < ends[1] or leaf <= last_leaf:
        raise CompletenessError(
            f"{label} is not logged between tree sizes {ends[0]} and {ends[1]} after the "
            "previous entry"
        )
    if event.get("merchant") != merchant or event.get("action") not in _ACCESS_ACTIONS:
        raise CompletenessError(f"{label} is not an access of merchant {merchant!r}")
    proof = [_hex(h, f"{label} proof hash", ProofError) for h in item["proof"]]
    try:
        verify_inclusion(
            slice_leaf_hash(leaf, event_leaf_hash(text)), index, head.size, proof, head.root
        )
    except ProofError:
        raise ProofError(
            f"{label} is not the one the merchant's slice committed at that place: the event "
            "was altered, replaced or moved (or an access before it was removed)"
        ) from None
    return SliceEntry(index, leaf, text, event)


def accesses_to(verified: VerifiedSlice, customer: str) -> list[SliceEntry]:
    """The verified accesses whose ``subjects`` name ``customer``. Empty: no access of the
    merchant logged between the two checkpoints touched that customer (see the module
    docstring for what window that is)."""
    return [e for e in verified.entries if customer in (e.event.get("subjects") or ())]
