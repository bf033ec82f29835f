"""The ledger: a store's events as an append-only Merkle log with signed checkpoints.

:class:`Ledger` serves what the ``sentinelle ledger`` commands print: signed checkpoints
(C2SP ``tlog-checkpoint``), inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4) read
from stored tiles, and a full verification that recomputes every leaf from the stored event.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from sentinelle.errors import IntegrityError, NotFoundError
from sentinelle.events import AccessEvent, EventError, canonical, decode_event, time_us
from sentinelle.ledger.checkpoint import Checkpoint, SigningKey, Verifier
from sentinelle.ledger.merkle import (
    consistency_proof,
    consistency_ranges,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from sentinelle.ledger.tiles import TILE_WIDTH, TileReader, TreeBuilder

__all__ = ["KEY_FILE", "Ledger", "VerifyReport", "event_columns"]

_logger = logging.getLogger(__name__)

KEY_FILE: Final = "ledger-signing.key"


class _Store(Protocol):
    def ledger_size(self) -> int: ...
    def fetch_tiles(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]: ...
    def tiles_range(self, level: int, first: int, last: int) -> dict[int, bytes]: ...
    def event_by_id(self, event_id: str) -> tuple[int, str] | None: ...
    def iter_events(self, start: int = 0, *, batch: int = ...) -> Any: ...
    def checkpoints(self) -> Any: ...
    def latest_checkpoint(self) -> Any: ...
    def writer(self) -> Any: ...


def event_columns(
    event: AccessEvent | Any,
) -> tuple[str, int, str, str | None, str | None, str | None]:
    """The indexed columns of a stored event: ``(id, time_us, action, actor, merchant, ref)``.

    ``ref`` is the ticket a ``ticket.*`` event is about, or the grant of a ``grant.*`` event
    (``None`` otherwise): scoping an incident reads the history of the tickets and grants its
    accesses cite through it.
    """
    if isinstance(event, AccessEvent):
        return event.id, time_us(event), event.action, event.actor.id, event.merchant, None
    actor = event.actor if isinstance(event.actor, str) else None
    merchant = event.merchant if isinstance(event.merchant, str) else None
    kind = event.type
    ref = None
    if kind.startswith("ticket.") and isinstance(event.ticket, str):
        ref = event.ticket
    elif kind.startswith("grant.") and isinstance(event.grant, str):
        ref = event.grant
    return event.id, time_us(event), kind, actor, merchant, ref


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What :meth:`Ledger.verify` checked."""

    leaves: int
    tiles: int
    checkpoints: int
    root: bytes


class Ledger:
    """A store's ledger, signing with the key kept in the data directory."""

    _tile_cache: OrderedDict[tuple[int, int], bytes]

    def __init__(self, store: _Store, key: SigningKey) -> None:
        self.store = store
        self.key = key
        self.verifier = Verifier.from_verifier_key(key.verifier_key())
        self._tile_cache = OrderedDict()

    @classmethod
    def open(cls, store: _Store, *, data_dir: Path, origin: str) -> Ledger:
        """The ledger of ``store``; creates the signing key (mode 0600) on first use."""
        return cls(store, SigningKey.load_or_create(data_dir / KEY_FILE, origin))

    @property
    def origin(self) -> str:
        """The checkpoint origin line, which is also the key name."""
        return self.key.name

    def sign(self, size: int, root: bytes) -> str:
        """A signed checkpoint note for a tree of ``size`` leaves with this root."""
        return self.key.sign(Checkpoint(origin=self.origin, size=size, root=root))

    def reader(self, size: int) -> TileReader:
        """Node hashes of the tree at ``size`` (≤ the current size), from stored tiles."""
        return TileReader(self.store.fetch_tiles, size=size, cache=self._tile_cache)

    def root(self, size: int) -> bytes:
        """Root hash of the tree at ``size``."""
        return self.reader(size).root()

    def checkpoint(self) -> Any:
        """Sign and record a checkpoint of the current tree; returns the stored checkpoint."""
        with self.store.writer() as w:
            size = w.ledger_size()
            return w.add_checkpoint(size, self.root(size), self.sign(size, self.root(size)))

    def _default_size(self, size: int | None) -> int:
        if size is not None:
            current = self.store.ledger_size()
            if not 0 < size <= current:
                raise NotFoundError(f"tree size {size} is not between 1 and the ledger's {current}")
            return size
        latest = self.store.latest_checkpoint()
        if latest is None or latest.size == 0:
            raise NotFoundError("no checkpoint yet: run `sentinelle ledger checkpoint` first")
        return int(latest.size)

    def proof(self, event_id: str, size: int | None = None) -> dict[str, Any]:
        """Inclusion proof of a stored event in the tree at ``size`` (default: latest checkpoint).

        The proof is checked before it is returned. Raises :class:`NotFoundError` for an unknown
        event or a size that does not contain it; :class:`IntegrityError` if the stored tree
        does not prove the stored event.
        """
        found = self.store.event_by_id(event_id)
        if found is None:
            raise NotFoundError(f"no event with id {event_id!r}")
        index, body = found
        size = self._default_size(size)
        if index >= size:
            raise NotFoundError(
                f"event {event_id!r} is leaf {index}, not in a tree of size {size}: "
                "make a newer checkpoint or pass a larger --size"
            )
        reader = self.reader(size)
        reader.prefetch([*inclusion_ranges(index, size), (0, size)])
        leaf = body.encode()
        lh = leaf_hash(leaf)
        path = inclusion_proof(index, size, reader.subtree)
        root = reader.root()
        verify_inclusion(lh, index, size, path, root)
        return {
            "event_id": event_id,
            "leaf_index": index,
            "tree_size": size,
            "leaf": body,
            "leaf_hash": lh.hex(),
            "inclusion_path": [h.hex() for h in path],
            "root_hash": root.hex(),
        }

    def consistency(self, old_size: int, new_size: int | None = None) -> dict[str, Any]:
        """Consistency proof between two tree sizes (default new size: latest checkpoint)."""
        new_size = self._default_size(new_size)
        if not 0 < old_size <= new_size:
            raise NotFoundError(
                f"old size {old_size} must be between 1 and the new size {new_size}"
            )
        reader = self.reader(new_size)
        reader.prefetch([*consistency_ranges(old_size, new_size), (0, new_size)])
        proof = consistency_proof(old_size, new_size, reader.subtree)
        old_reader = self.reader(old_size)
        old_reader.prefetch([(0, old_size)])
        old_root, new_root = old_reader.root(), reader.root()
        verify_consistency(old_size, new_size, old_root, new_root, proof)
        return {
            "old_size": old_size,
            "new_size": new_size,
            "old_root": old_root.hex(),
            "new_root": new_root.hex(),
            "proof": [h.hex() for h in proof],
        }

    def check_note(self, note: str) -> Checkpoint:
        """Check a signed checkpoint note against this ledger's key and stored tree.

        Raises :class:`IntegrityError` if the signature, the origin or the root is wrong.
        """
        cp = self.verifier.verify(note, origin=self.origin)
        size = self.store.ledger_size()
        if cp.size > size:
            raise IntegrityError(
                f"checkpoint of size {cp.size} but the ledger holds only {size} leaves: "
                "events were removed"
            )
        if cp.size and self.root(cp.size) != cp.root:
            raise IntegrityError(f"checkpoint of size {cp.size}: the stored tree has another root")
        return cp

    def verify(self, *, batch: int = 64 * TILE_WIDTH) -> VerifyReport:
        """Recompute every leaf from its stored event, the tree, and every checkpoint.

        Raises :class:`IntegrityError` naming the first bad leaf index and event id, the first
        wrong tile or the first checkpoint that does not match.
        """
        size = self.store.ledger_size()
        checkpoints = list(self.store.checkpoints())
        for cp in checkpoints:
            signed = self.verifier.verify(cp.note, origin=self.origin)
            if (signed.size, signed.root) != (cp.size, cp.root):
                raise IntegrityError(f"checkpoint of size {cp.size}: record differs from its note")
            if cp.size > size:
                raise IntegrityError(
                    f"checkpoint of size {cp.size} but the ledger holds only {size} leaves: "
                    "events were removed"
                )
        pending = [cp for cp in checkpoints if cp.size > 0]
        builder = TreeBuilder()
        tiles_checked = 0
        expected = 0
        for rows in self.store.iter_events(0, batch=batch):
            for seq, event_id, t_us, action, actor, merchant, ref, body in rows:
                if seq != expected:
                    raise IntegrityError(
                        f"leaf {expected} is missing: the next stored event is leaf {seq} "
                        f"(event {event_id!r})"
                    )
                _check_row(seq, event_id, (event_id, t_us, action, actor, merchant, ref), body)
                builder.append(leaf_hash(body.encode()))
                expected += 1
                while pending and pending[0].size == expected:
                    if builder.root() != pending.pop(0).root:
                        # Name the first altered leaf, not the checkpoint that revealed it.
                        bad = self._first_bad_leaf(expected, batch=batch)
                        if bad is not None:
                            raise IntegrityError(
                                f"leaf {bad[0]} (event {bad[1]!r}) does not match the logged "
                                "leaf hash: the stored event was altered, replaced or reordered"
                            )
                        raise IntegrityError(
                            f"the events up to leaf {expected - 1} (event {event_id!r}) do not "
                            f"give the root of the signed checkpoint of size {expected}"
                        )
            tiles_checked += self._compare_tiles(builder.take_completed())
        if expected != size:
            raise IntegrityError(
                f"the ledger records {size} leaves but {expected} events are stored: "
                f"leaf {expected} onwards is missing"
            )
        tiles_checked += self._compare_tiles(builder.partial_tiles())
        if pending:
            raise IntegrityError(f"checkpoint of size {pending[0].size} is beyond the events")
        return VerifyReport(size, tiles_checked, len(checkpoints), builder.root())

    def _compare_tiles(self, tiles: list[tuple[int, int, bytes]]) -> int:
        by_level: dict[int, list[tuple[int, bytes]]] = {}
        for level, idx, blob in tiles:
            by_level.setdefault(level, []).append((idx, blob))
        for level, items in by_level.items():
            stored = self.store.tiles_range(level, items[0][0], items[-1][0])
            for idx, blob in items:
                if stored.get(idx) == blob:
                    continue
                if level == 0:
                    first = _first_difference(blob, stored.get(idx, b""))
                    leaf = idx * TILE_WIDTH + first
                    raise IntegrityError(
                        f"leaf {leaf} (event {self._event_at(leaf)!r}) does not match the "
                        "logged leaf hash: the stored event was altered, replaced or reordered"
                    )
                raise IntegrityError(
                    f"stored tree tile ({level}, {idx}) does not match the events: the tree "
                    "was altered"
                )
        return len(tiles)

    def _first_bad_leaf(self, end: int, *, batch: int) -> tuple[int, str] | None:
        """The first leaf below ``end`` whose stored event does not hash to its logged hash."""
        for rows in self.store.iter_events(0, batch=batch):
            tiles = self.store.tiles_range(0, rows[0][0] // TILE_WIDTH, rows[-1][0] // TILE_WIDTH)
            for seq, event_id, *_, body in rows:
                if seq >= end:
                    return None
                pos = (seq % TILE_WIDTH) * 32  # a tile starts with its base (leaf) hashes
                logged = tiles.get(seq // TILE_WIDTH, b"")[pos : pos + 32]
                if leaf_hash(body.encode()) != logged:
                    return int(seq), str(event_id)
        return None

    def _event_at(self, seq: int) -> str:
        for rows in self.store.iter_events(seq, batch=1):
            return str(rows[0][1])
        return "?"


def _first_difference(rebuilt: bytes, stored: bytes) -> int:
    for i in range(0, len(rebuilt), 32):
        if rebuilt[i : i + 32] != stored[i : i + 32]:
            return i // 32
    return 0


def _check_row(seq: int, event_id: str, columns: tuple[Any, ...], body: str) -> None:
    try:
        event = decode_event(body)
    except EventError as exc:
        raise IntegrityError(
            f"leaf {seq} (event {event_id!r}): stored event is invalid: {exc}"
        ) from None
    if canonical(event) != body.encode():
        raise IntegrityError(f"leaf {seq} (event {event_id!r}): stored event is not canonical")
    if event_columns(event) != columns:
        raise IntegrityError(
            f"leaf {seq} (event {event_id!r}): the indexed columns do not match the logged event"
        )
