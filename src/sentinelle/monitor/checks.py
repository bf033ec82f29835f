"""What ``sentinelle monitor`` checks, in one short module a merchant's engineer can read.

Signatures, cosignatures and proofs are checked by the standalone verifier
:mod:`sentinelle.transparency.verify` (hashlib and ``cryptography``'s Ed25519, nothing else of
Sentinelle), the one the merchant-slice check uses too; the tiles are read with the pure RFC
9162 functions of :mod:`sentinelle.ledger.merkle`. No web framework, no database. The monitor
fetches untrusted bytes from the log; everything here treats them as hostile.

1. :func:`open_checkpoint`: the checkpoint (C2SP ``tlog-checkpoint`` in a C2SP
   ``signed-note``) is signed by one of the log keys the monitor pinned, for the pinned origin.
2. :func:`count_cosignatures`: witnesses (C2SP ``tlog-cosignature``, ``cosignature/v1``) whose
   keys the monitor pinned cosigned it; a line that names a pinned witness and does not verify
   is a forgery, told apart from a missing line.
3. :func:`relate`: the new checkpoint extends the one the monitor verified last (RFC 9162
   §2.1.4 consistency proof). When it does not, the answer says how, from what the log itself
   answered:

   * same size, another root (or other extension lines): two signed heads for one tree — a
     **split view**;
   * larger, and the log's tree at the old size has another root than the one it signed, which
     a valid proof ties to the new root — the log's history was **rewritten**;
   * larger, and no valid proof ties the two — a **split view** (the log serves a history
     that does not contain the one it showed before);
   * smaller — a **smaller tree**: checkpoints deleted, or the log rolled back.

4. :func:`tree_from_tiles`: from published C2SP ``tlog-tiles`` hash tiles, the same answer the
   API's ``/v1/ledger/consistency`` gives (the two roots and the proof), computed here.

Every check raises :class:`~sentinelle.errors.IntegrityError` or returns a typed verdict; none
returns ``False``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from sentinelle.errors import IntegrityError
from sentinelle.ledger.merkle import combine, consistency_proof, perfect_subtrees, root_hash
from sentinelle.transparency import verify
from sentinelle.transparency.verify import EMPTY_ROOT, HASH_SIZE

__all__ = [
    "MAX_PROOF_HASHES",
    "TILE_HEIGHT",
    "Cosignatures",
    "LogTree",
    "Relation",
    "PinnedKey",
    "SignedCheckpoint",
    "TreeHead",
    "LogKeys",
    "count_cosignatures",
    "follow_keys",
    "open_checkpoint",
    "relate",
    "tree_from_tiles",
]

#: A consistency proof of a tree of at most 2^63 leaves has at most 2·63 hashes.
MAX_PROOF_HASHES: Final = 128
#: C2SP tlog-tiles: a tile is 8 levels of the tree, 256 hashes wide.
TILE_HEIGHT: Final = 8
_TILE_WIDTH: Final = 1 << TILE_HEIGHT

#: ``fetch(level, index, width)``: the ``width`` hashes (``width * 32`` bytes) of tile
#: ``(level, index)`` as published for the tree being read.
FetchTile = Callable[[int, int, int], bytes]


class PinnedKey(Protocol):
    """A key the monitor pins (:class:`~sentinelle.ledger.checkpoint.Verifier` for the log,
    :class:`~sentinelle.ledger.cosignature.CosignatureVerifier` for a witness): its verifier
    key is what :mod:`sentinelle.transparency.verify` checks with."""

    def verifier_key(self) -> str:
        """``<name>+<hex key ID>+<base64 key>``."""
        ...


class TreeHead(Protocol):
    """What :func:`relate` compares of two checkpoints."""

    @property
    def size(self) -> int:
        """The tree size."""
        ...

    @property
    def root(self) -> bytes:
        """The root hash."""
        ...

    @property
    def extensions(self) -> tuple[str, ...]:
        """The lines after the root (Sentinelle's merchant-map line)."""
        ...


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint whose log signature verified, with the note it came in (kept as evidence)."""

    note: str
    checkpoint: verify.SignedCheckpoint

    @property
    def size(self) -> int:
        """The tree size."""
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        """The root hash."""
        return self.checkpoint.root


@dataclass(frozen=True, slots=True)
class LogKeys:
    """The verifier keys to check the log's checkpoints with (:func:`follow_keys`): the pinned
    ones, then those the log rotated to after one of them; and, per the log's verified list of
    keys, the tree sizes each signs (empty without a list that verifies)."""

    keys: tuple[str, ...]
    spans: Mapping[str, verify.LogKey] = field(default_factory=dict)


def open_checkpoint(
    note: str,
    *,
    origin: str,
    log_keys: Sequence[PinnedKey],
    spans: Mapping[str, verify.LogKey] | None = None,
) -> SignedCheckpoint:
    """The checkpoint of ``note`` if one of ``log_keys`` signed it, for log ``origin``
    (:func:`~sentinelle.transparency.verify.verify_note`).

    Several keys are pinned around a rotation of the log's key; any one signing is enough,
    within its ``spans`` when the log's list of keys gave them (:attr:`LogKeys.spans`): a key
    the log rotated out does not vouch for a checkpoint after its last size (whoever still
    holds it, perhaps the reason it was rotated).

    Raises :class:`IntegrityError` naming what is wrong: malformed note or checkpoint, no
    signature by a pinned key, a signature that does not verify, another origin.
    """
    if not log_keys:
        raise IntegrityError("no log key is pinned: nothing can vouch for a checkpoint")
    problems = []
    for key in log_keys:
        try:
            checkpoint = verify.verify_note(note, key.verifier_key(), origin=origin)
        except verify.NoteError as exc:
            problems.append(str(exc))
            continue
        span = (spans or {}).get(key.verifier_key())
        if span is not None and not span.signs(checkpoint.size):
            problems.append(
                f"signed by key {key.verifier_key().partition('+')[2][:8]}, which the log's "
                f"list of keys has signing tree sizes {span.from_size} to "
                f"{'now' if span.until_size is None else span.until_size}, not "
                f"{checkpoint.size}: a key the log rotated out"
            )
            continue
        return SignedCheckpoint(note, checkpoint)
    raise IntegrityError("; ".join(dict.fromkeys(problems)))


def follow_keys(
    history: Mapping[str, Any] | None, *, origin: str, pinned: Sequence[PinnedKey]
) -> LogKeys:
    """The keys to check the log's checkpoints with: the ``pinned`` ones, then the keys the
    log rotated to after one of them, per its list of keys (``GET /v1/ledger/keys``,
    ``history``), each rotation's statement signed by the key before it
    (:func:`~sentinelle.transparency.verify.verify_key_history`, once per pinned key); and the
    tree sizes each key of a list that verifies signs. A list that does not verify from any
    pinned key adds nothing: the pinned keys alone are checked, as without it."""
    keys = [k.verifier_key() for k in pinned]
    spans: dict[str, verify.LogKey] = {}
    if history is None:
        return LogKeys(tuple(keys), spans)
    for key in pinned:
        try:
            followed = verify.verify_key_history(history, key.verifier_key(), origin=origin)
        except verify.VerificationError:
            continue
        for k in followed.keys:
            spans.setdefault(k.verifier_key, k)
        keys += [k.verifier_key for k in followed.keys if k.verifier_key not in keys]
    return LogKeys(tuple(keys), spans)


@dataclass(frozen=True, slots=True)
class Cosignatures:
    """The pinned witnesses whose cosignature on a checkpoint verified, those with none, and
    those whose line is there but does not verify (forged or corrupted), by key ID."""

    valid: tuple[str, ...]
    missing: tuple[str, ...]
    bad: tuple[str, ...]

    def meets(self, quorum: int) -> bool:
        """At least ``quorum`` valid cosignatures, and no bad one."""
        return len(self.valid) >= quorum and not self.bad


def count_cosignatures(note: str, witnesses: Sequence[PinnedKey]) -> Cosignatures:
    """Check each pinned witness's cosignature on the checkpoint ``note``
    (:func:`~sentinelle.transparency.verify.verify_cosignature`).

    Lines of keys not pinned are ignored (anyone can add a line; only pinned keys count).
    A witness is named by its key ID, ``<name>+<hex key ID>``. ``note`` is one
    :func:`open_checkpoint` accepted (a malformed note would make every witness's line bad).
    """
    valid: list[str] = []
    missing: list[str] = []
    bad: list[str] = []
    for witness in witnesses:
        key = witness.verifier_key()
        key_id = "+".join(key.split("+", 2)[:2])
        try:
            cosigned = verify.verify_cosignature(note, key)
        except verify.NoteError:
            bad.append(key_id)
        else:
            (missing if cosigned is None else valid).append(key_id)
    return Cosignatures(tuple(valid), tuple(missing), tuple(bad))


@dataclass(frozen=True, slots=True)
class LogTree:
    """What the log says of its tree between two sizes: the root at the old size, the root at
    the new size, and the RFC 9162 consistency proof between them (unverified)."""

    old_root: bytes
    new_root: bytes
    proof: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if len(self.proof) > MAX_PROOF_HASHES:
            raise IntegrityError(f"consistency proof has more than {MAX_PROOF_HASHES} hashes")
        for value in (self.old_root, self.new_root, *self.proof):
            if len(value) != HASH_SIZE:
                raise IntegrityError(f"a hash of the log's answer is not {HASH_SIZE} bytes")


class Relation(enum.Enum):
    """How a new checkpoint stands to the one the monitor verified last."""

    SAME = "same"  # same size, same root
    EXTENDS = "extends"  # larger, and proven to contain the old tree
    SMALLER = "smaller"  # fewer leaves than the log signed before
    SPLIT_VIEW = "split view"  # same size, another root; or no proof ties the two
    REWRITTEN = "rewritten"  # the log's own tree at the old size has another root


def relate(old: TreeHead, new: TreeHead, answer: LogTree | None) -> Relation:
    """How ``new`` stands to ``old``; ``answer`` is the log's :class:`LogTree` from
    ``old.size`` to ``new.size``, needed only when ``new`` is larger and ``old`` not empty.

    Raises :class:`IntegrityError` if ``answer`` is needed and missing.
    """
    if new.size < old.size:
        return Relation.SMALLER
    if new.size == old.size:
        # Extension lines (Sentinelle's merchant-map root) are signed with the tree head: the
        # same tree with another map is two histories of the merchants' slices.
        same = (new.root, new.extensions) == (old.root, old.extensions)
        return Relation.SAME if same else Relation.SPLIT_VIEW
    if old.size == 0:
        # Every tree extends the empty one, whose root is fixed (RFC 9162 §2.1.1).
        return Relation.EXTENDS if old.root == EMPTY_ROOT else Relation.SPLIT_VIEW
    if answer is None:
        raise IntegrityError(f"no consistency proof from size {old.size} to {new.size}")
    if _consistent(old.size, new.size, old.root, new.root, answer.proof):
        return Relation.EXTENDS
    # The log's proof does not tie our old root to its new one. If it ties *another* old root
    # to the signed new root, the log itself says its tree at the old size is not the one it
    # signed: the history was rewritten. (A proof that reaches the signed new root fixes every
    # node below it, so the other old root is the log's, not a guess.)
    if (
        answer.new_root == new.root
        and answer.old_root != old.root
        and _consistent(old.size, new.size, answer.old_root, new.root, answer.proof)
    ):
        return Relation.REWRITTEN
    return Relation.SPLIT_VIEW


def _consistent(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    try:
        verify.verify_consistency(old_size, new_size, old_root, new_root, proof)
    except verify.ProofError:
        return False
    return True


def tree_from_tiles(fetch: FetchTile, old_size: int, new_size: int) -> LogTree:
    """The :class:`LogTree` from ``old_size`` to ``new_size``, computed from the hash tiles of
    the tree of ``new_size`` (C2SP ``tlog-tiles``: tile ``(L, N)`` holds the hashes of the
    nodes at tree level ``8·L``, indices ``256·N`` … ``256·N + 255``; a tile of the tree's
    right edge holds only the ``width`` there are).

    Each tile is fetched once. The caller compares :attr:`LogTree.new_root` with the signed
    root: the tiles are only as good as that check.

    Raises :class:`IntegrityError` if the sizes are impossible or a tile has the wrong length.
    """
    if not 0 < old_size <= new_size:
        raise IntegrityError(f"no tree from size {old_size} to size {new_size}")
    cache: dict[tuple[int, int], bytes] = {}

    def tile(level: int, index: int) -> bytes:
        key = (level, index)
        if key not in cache:
            count = new_size >> (TILE_HEIGHT * level)  # nodes at this level in the tree
            width = min(_TILE_WIDTH, count - index * _TILE_WIDTH)
            data = fetch(level, index, width)
            if len(data) != width * HASH_SIZE:
                raise IntegrityError(
                    f"tile (level {level}, index {index}) is {len(data)} bytes, expected "
                    f"{width * HASH_SIZE}"
                )
            cache[key] = data
        return cache[key]

    def node(level: int, index: int) -> bytes:
        # The node (level, index) is the perfect subtree over 2^r nodes of tile level
        # level // 8, all in one tile: hash them up.
        tile_level, r = divmod(level, TILE_HEIGHT)
        first = index << r
        data = tile(tile_level, first >> TILE_HEIGHT)
        at = (first & (_TILE_WIDTH - 1)) * HASH_SIZE
        hashes = [data[at + i * HASH_SIZE : at + (i + 1) * HASH_SIZE] for i in range(1 << r)]
        return root_hash(hashes)

    def subtree(start: int, end: int) -> bytes:
        return combine([node(level, index) for level, index in perfect_subtrees(start, end)])

    proof = consistency_proof(old_size, new_size, subtree)
    return LogTree(subtree(0, old_size), subtree(0, new_size), tuple(proof))
