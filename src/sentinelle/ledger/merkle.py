"""Merkle tree hashing and proofs, as pure functions (RFC 9162 §2.1, SHA-256).

The tree is the one of RFC 9162 §2.1.1 (the same as RFC 6962 §2.1)::

    MTH({})       = SHA-256()
    MTH({d(0)})   = SHA-256(0x00 || d(0))                      (leaf hash)
    MTH(D[n])     = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))  (node hash)

where ``k`` is the largest power of two smaller than ``n``.

Nothing here touches storage. Proof construction asks a :data:`SubtreeHash` callback for
``MTH(D[start:end])`` of the O(log n) ranges a proof is made of; every range it asks for is a
node of the RFC tree, so a store that keeps the hashes of aligned perfect subtrees (tiles) can
answer with :func:`perfect_subtrees` and :func:`combine` without reading any leaf.

Verification follows the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 literally and raises
:class:`~sentinelle.errors.IntegrityError` on any failure; it never returns ``False``.
Invalid arguments to the constructing functions (a leaf index outside the tree, a range that
is not a node) raise :class:`~sentinelle.errors.Error`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from sentinelle.errors import Error, IntegrityError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "SubtreeHash",
    "combine",
    "consistency_proof",
    "consistency_ranges",
    "edge_ranges",
    "inclusion_ranges",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "perfect_subtrees",
    "root_from_inclusion",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
    "verify_inclusions",
]

HASH_SIZE = 32
"""Size in bytes of every hash in the tree (SHA-256)."""

_sha256 = hashlib.sha256
_ONE_HASH_SIZE = {HASH_SIZE}
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

EMPTY_ROOT: bytes = _sha256(b"").digest()
"""MTH of the empty list: SHA-256 of the empty string (RFC 9162 §2.1.1)."""

SubtreeHash = Callable[[int, int], bytes]
"""``subtree(start, end)`` returns ``MTH(D[start:end])``, the hash of leaves ``start .. end-1``."""


def leaf_hash(leaf: bytes) -> bytes:
    """Return the hash of one leaf: ``SHA-256(0x00 || leaf)``."""
    return _sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return ``MTH`` of a list of leaves, given their leaf hashes.

    Hashes level by level: pair neighbours, and carry an odd last node up unchanged. This
    builds exactly the RFC tree (its left subtrees are perfect, so only the rightmost node of a
    level can be left without a partner) with ``n - 1`` node hashes and no recursion.
    """
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    level = leaf_hashes
    sha, prefix = _sha256, _NODE_PREFIX
    while n > 1:
        pairs = iter(level)
        nxt = [sha(prefix + a + b).digest() for a, b in zip(pairs, pairs, strict=False)]
        if n & 1:
            nxt.append(level[-1])
        level = nxt
        n = len(nxt)
    return level[0]


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """Split ``[start, end)`` into maximal aligned perfect subtrees, left to right.

    Each piece is ``(level, index)``: the perfect subtree of ``2**level`` leaves
    ``[index * 2**level, (index + 1) * 2**level)``.
    The pieces follow the binary digits of ``end - start``, largest first, which is how the RFC
    tree splits a node; ``combine`` of their hashes is therefore ``MTH(D[start:end])``.

    This holds when ``start`` is a multiple of the largest power of two not above
    ``end - start`` (then every piece is aligned). Every node of an RFC tree, hence every range
    of a proof and every tree ``[0, n)``, qualifies.

    Raises :class:`~sentinelle.errors.Error` if the range is negative, reversed or misaligned.
    """
    if start < 0 or end < start:
        raise Error(f"invalid leaf range [{start}, {end})")
    size = end - start
    if size == 0:
        return []
    top = size.bit_length() - 1
    if start & ((1 << top) - 1):
        raise Error(
            f"leaf range [{start}, {end}) is not a Merkle tree node: "
            f"its start is not a multiple of {1 << top}"
        )
    pieces: list[tuple[int, int]] = []
    pos = start
    for level in range(top, -1, -1):
        if size >> level & 1:
            pieces.append((level, pos >> level))
            pos += 1 << level
    return pieces


def combine(subtree_hashes: Sequence[bytes]) -> bytes:
    """Return the ``MTH`` of a range from the hashes of its :func:`perfect_subtrees`.

    Folds from the right, ``h0 . (h1 . (h2 . h3))``, which is the RFC tree shape for pieces of
    decreasing size. No pieces means the empty tree, :data:`EMPTY_ROOT`.
    """
    if not subtree_hashes:
        return EMPTY_ROOT
    sha, prefix = _sha256, _NODE_PREFIX
    acc = subtree_hashes[-1]
    for i in range(len(subtree_hashes) - 2, -1, -1):
        acc = sha(prefix + subtree_hashes[i] + acc).digest()
    return acc


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Ranges whose MTHs make ``PATH(index, D[0:size])``, in RFC order (leaf-adjacent first)."""
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = 1 << ((hi - lo - 1).bit_length() - 1)  # largest power of two < hi - lo
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Ranges whose MTHs make ``PROOF(old_size, D[0:new_size])``, in RFC order.

    Iterative form of SUBPROOF (RFC 9162 §2.1.4.1). The flag ``b`` of the RFC is true exactly
    while the walk has only gone left (``lo == 0``): then the subtree reached is the old tree
    itself, which the verifier knows, so its hash is left out.
    """
    if old_size == 0 or old_size == new_size:
        return []
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, new_size
    while hi != old_size:
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        if old_size <= lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    if lo != 0:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def inclusion_proof(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """Return the inclusion proof ``PATH(index, D[0:size])`` (RFC 9162 §2.1.3.1).

    The hashes are in RFC order, the sibling of the leaf first. ``subtree`` is called once per
    proof hash, ``ceil(log2(size))`` times at most, and only on nodes of the tree.

    Raises :class:`~sentinelle.errors.Error` unless ``0 <= index < size``.
    """
    if not 0 <= index < size:
        raise Error(f"leaf index {index} is not in a tree of size {size}")
    return [subtree(start, end) for start, end in inclusion_ranges(index, size)]


def edge_ranges(fork: int, size: int) -> list[tuple[int, int]]:
    """Ranges of the end of every inclusion proof whose leaf's *fork level* is ``fork``, in RFC
    order: the part of the path above the perfect subtree of ``2**fork`` leaves that holds the
    leaf and ends at or before ``size``, where the leaf's path leaves the tree's right border.

    The fork level of leaf ``index`` is ``(index ^ size).bit_length() - 1``; the fork node is
    ``[begin, end)`` with ``end = size >> fork << fork`` and ``begin = end - 2**fork``. The
    path is then the ``fork`` siblings below the fork node (perfect subtrees inside it), then
    ``[end, size)`` if not empty (the rest of the right border), then the perfect subtrees of
    ``[0, begin)``, smallest first. Every leaf with the same fork level ends its path with
    these same ranges, so a page of proofs computes them once; and two leaves of one fork level
    ``i`` and ``j`` also share their siblings from level ``(i ^ j).bit_length()`` up.
    """
    end = size >> fork << fork
    begin = end - (1 << fork)
    ranges = [(end, size)] if end < size else []
    ranges += [(i << lv, (i + 1) << lv) for lv, i in reversed(perfect_subtrees(0, begin))]
    return ranges


def consistency_proof(old_size: int, new_size: int, subtree: SubtreeHash) -> list[bytes]:
    """Return the consistency proof ``PROOF(old_size, D[0:new_size])`` (RFC 9162 §2.1.4.1).

    Empty when ``old_size`` is 0 or equals ``new_size`` (nothing to prove). ``subtree`` is
    called once per proof hash, O(log new_size) times, and only on nodes of the tree.

    Raises :class:`~sentinelle.errors.Error` unless ``0 <= old_size <= new_size``.
    """
    if not 0 <= old_size <= new_size:
        raise Error(f"no consistency proof from size {old_size} to size {new_size}")
    return [subtree(start, end) for start, end in consistency_ranges(old_size, new_size)]


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise IntegrityError(f"{what} is {len(value)} bytes, expected {HASH_SIZE}")


def _check_proof(proof: Sequence[bytes], expected: int, what: str) -> None:
    if len(proof) != expected:
        raise IntegrityError(f"{what} has {len(proof)} hashes, expected {expected}")
    if proof and set(map(len, proof)) != _ONE_HASH_SIZE:
        for i, h in enumerate(proof):
            if len(h) != HASH_SIZE:
                raise IntegrityError(f"{what} hash {i} is {len(h)} bytes, expected {HASH_SIZE}")


def root_from_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Return the root implied by an inclusion proof (RFC 9162 §2.1.3.2, steps 1-4).

    The caller must compare the result with a root it trusts; :func:`verify_inclusion` does.

    Raises :class:`~sentinelle.errors.IntegrityError` if the proof is malformed: index not in
    the tree, wrong number of hashes, or a hash of the wrong size.
    """
    _check_inclusion(leaf_hash, index, size, proof)
    return _climb(leaf_hash, index, size - 1, proof)


def _check_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> None:
    if not 0 <= index < size:
        raise IntegrityError(f"leaf index {index} is not in a tree of size {size}")
    _check_hash(leaf_hash, "leaf hash")
    # Proof length = the leaf's depth: the levels where index and size - 1 differ (inner
    # part), plus the left-subtree levels above them along the right border.
    inner = (index ^ (size - 1)).bit_length()
    _check_proof(proof, inner + (index >> inner).bit_count(), "inclusion proof")


def _climb(r: bytes, fn: int, sn: int, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2 step 4: hash ``r``, the node ``fn`` of a level whose last node is
    ``sn``, up with ``proof``; the hash reached."""
    sha, prefix = _sha256, _NODE_PREFIX
    for p in proof:
        if sn == 0:
            raise IntegrityError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = sha(prefix + p + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = sha(prefix + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise IntegrityError("inclusion proof is too short")
    return r


def _climb_perfect(
    r: bytes, index: int, proof: Sequence[bytes], lo: int, hi: int, up: list[bytes]
) -> bytes:
    """Hash ``r``, leaf ``index``'s ancestor at level ``lo`` inside a perfect subtree, up to
    level ``hi`` with ``proof[lo:hi]`` (left or right by the bits of ``index``), keeping each
    ancestor in ``up``; the hash reached."""
    sha, prefix = _sha256, _NODE_PREFIX
    for h in range(lo, hi):
        p = proof[h]
        r = sha(prefix + p + r).digest() if index >> h & 1 else sha(prefix + r + p).digest()
        up[h + 1] = r
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    Implements RFC 9162 §2.1.3.2. Returns nothing on success.

    Raises :class:`~sentinelle.errors.IntegrityError` if the proof is malformed or does not
    lead to ``root``.
    """
    _check_hash(root, "root hash")
    if root_from_inclusion(leaf_hash, index, size, proof) != root:
        raise IntegrityError(
            f"inclusion proof for leaf {index} does not match the root of the tree of size {size}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``(new_size, new_root)`` extends the tree ``(old_size, old_root)``.

    Implements RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``. The RFC leaves the edge cases
    out; here the proof must then be empty, and equal sizes need equal roots, and size 0 needs
    the empty-tree root (every tree extends the empty one). Returns nothing on success.

    Raises :class:`~sentinelle.errors.IntegrityError` if the sizes are impossible, the proof
    is malformed, or it does not lead to both roots.
    """
    if not 0 <= old_size <= new_size:
        raise IntegrityError(f"a tree of size {new_size} cannot extend one of size {old_size}")
    _check_hash(old_root, "old root hash")
    _check_hash(new_root, "new root hash")
    if old_size == new_size or old_size == 0:
        _check_proof(proof, 0, "consistency proof")
        if old_size == new_size and old_root != new_root:
            raise IntegrityError(f"two different roots for the same tree size {old_size}")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise IntegrityError("old root of the empty tree is not the empty-tree hash")
        return
    _check_proof(proof, len(consistency_ranges(old_size, new_size)), "consistency proof")

    sha, prefix = _sha256, _NODE_PREFIX
    path: Sequence[bytes] = proof
    if old_size & (old_size - 1) == 0:  # old tree is perfect: its root starts the path
        path = [old_root, *proof]
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for i in range(1, len(path)):
        c = path[i]
        if sn == 0:
            raise IntegrityError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = sha(prefix + c + fr).digest()
            sr = sha(prefix + c + sr).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = sha(prefix + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise IntegrityError("consistency proof is too short")
    if fr != old_root:
        raise IntegrityError(
            f"consistency proof from size {old_size} to {new_size} does not match the old root"
        )
    if sr != new_root:
        raise IntegrityError(
            f"consistency proof from size {old_size} to {new_size} does not match the new root"
        )


def verify_inclusions(
    proofs: Iterable[tuple[bytes, int, Sequence[bytes]]], size: int, root: bytes
) -> None:
    """Check many inclusion proofs ``(leaf hash, index, proof)`` against one tree at once.

    Succeeds exactly when :func:`verify_inclusion` succeeds for every proof, but hashes the
    nodes that consecutive proofs share once. Below its fork level (see :func:`edge_ranges`) a
    leaf's path climbs perfect subtrees: the node reached after ``h`` hashes is
    ``(h, index >> h)``, and RFC 9162 §2.1.3.2 there only hashes left or right by the bit of
    ``index``. Two leaves ``i`` and ``j`` of one fork share every node from level
    ``(i ^ j).bit_length()`` up; when the previous proof reached that node with the same hash
    and its remaining hashes are the same, this proof would repeat that walk (which reached
    ``root``, or the call failed), so it stops there. The same node with two different hashes
    is a failure: at most one of them is in the tree. Proofs of leaves in index order (either
    way) share the most; any order is checked in full.

    Raises :class:`~sentinelle.errors.IntegrityError` if a proof is malformed or does not lead
    to ``root``.
    """
    _check_hash(root, "root hash")
    last = size - 1
    # The previous leaf, its proof, and its ancestors' hashes below its fork: up[h] = (h, i >> h)
    prev_index, prev_fork = -1, -1
    prev_proof: Sequence[bytes] = ()
    up: list[bytes] = []
    for lh, index, proof in proofs:
        _check_inclusion(lh, index, size, proof)
        fork = (index ^ size).bit_length() - 1
        meet = (index ^ prev_index).bit_length() if prev_fork == fork else fork + 1
        if meet <= fork:  # the leaves share the fork node, and the nodes from level meet up
            known, up[0] = up[meet], lh
            r = _climb_perfect(lh, index, proof, 0, meet, up)
            if r != known:
                raise IntegrityError(
                    f"inclusion proof for leaf {index} does not match the root of the tree of "
                    f"size {size}: it gives another hash to a node the previous proof has"
                )
            if proof[meet:] == prev_proof[meet:]:
                prev_index, prev_proof = index, proof
                continue  # the rest of the walk is the previous one's, already checked
            r = _climb_perfect(r, index, proof, meet, fork, up)
        else:
            up = [lh] * (fork + 1)
            r = _climb_perfect(lh, index, proof, 0, fork, up)
        # the rest of the walk, from the fork node, as root_from_inclusion does it
        r = _climb(r, index >> fork, last >> fork, proof[fork:])
        if r != root:
            raise IntegrityError(
                f"inclusion proof for leaf {index} does not match the root of the tree of "
                f"size {size}"
            )
        prev_index, prev_proof, prev_fork = index, proof, fork
