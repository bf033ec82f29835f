"""The ledger: a store's events as an append-only Merkle log with signed checkpoints.

:class:`Ledger` serves what the ``sentinelle ledger`` commands print: signed checkpoints
(C2SP ``tlog-checkpoint``), inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4) read
from stored tiles, a full verification that recomputes every leaf from the stored event, and
the explicit rotation of the signing key (see :mod:`sentinelle.ledger.keys`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from sentinelle.errors import ConfigError, IntegrityError, NotFoundError
from sentinelle.events import (
    ACCESS_ACTIONS,
    AccessEvent,
    ContextEvent,
    Event,
    EventError,
    canonical,
    decode_event,
)
from sentinelle.ledger.checkpoint import Checkpoint, SigningKey, Verifier, parse_note
from sentinelle.ledger.cosignature import CosignatureVerifier
from sentinelle.ledger.keys import (
    FIRST_USE,
    KEY_FILE,
    LedgerKey,
    archive_path,
    check_text,
    default_who,
    fsync_dir,
    iso,
    load_chain,
    parse_keys,
    pending_path,
    rotation_text,
    until_size,
)
from sentinelle.ledger.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    consistency_ranges,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
    verify_inclusions,
)
from sentinelle.ledger.slices import MerchantSlices
from sentinelle.ledger.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TileCache,
    TileReader,
    TreeBuilder,
    tile_width,
)
from sentinelle.ledger.verify_slices import MapCommitment, SliceCheck, map_root_in
from sentinelle.timeutil import EPOCH

if TYPE_CHECKING:
    from sentinelle.store.events import FacetedRow

__all__ = ["KEY_FILE", "Ledger", "VerifyReport", "event_columns", "event_row"]

_logger = logging.getLogger(__name__)
_H = 32  # bytes per hash
_MICROSECOND: Final = dt.timedelta(microseconds=1)


class _Store(Protocol):
    def ledger_size(self) -> int: ...
    def fetch_tiles(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]: ...
    def tiles_range(self, level: int, first: int, last: int) -> dict[int, bytes]: ...
    def event_by_id(self, event_id: str) -> tuple[int, str] | None: ...
    def iter_events(self, start: int = 0, *, batch: int = ...) -> Any: ...
    def checkpoints(self) -> Any: ...
    def latest_checkpoint(self) -> Any: ...
    def ledger_keys(self) -> list[tuple[Any, ...]]: ...
    def cosignatures(self, size: int | None = None) -> list[Any]: ...
    def writer(self) -> Any: ...


def event_row(seq: int, event: Event, body: str, facets: int | None = None) -> FacetedRow:
    """The row ingest stores for an event, in one tuple: ``(seq, id, time_us, action, actor,
    merchant, ref, body, facets)`` (:data:`~sentinelle.store.events.FacetedRow`).

    ``ref`` is the ticket a ``ticket.*`` event is about, or the grant of a ``grant.*`` event
    (``None`` otherwise): scoping an incident reads the history of the tickets and grants its
    accesses cite through it. Built field by field, not from a tuple unpacked into another:
    it runs once per ingested event.
    """
    if type(event) is AccessEvent:
        return (
            seq,
            event.id,
            (event.time - EPOCH) // _MICROSECOND,
            event.action,
            event.actor.id,
            event.merchant,
            None,
            body,
            facets,
        )
    context = cast(ContextEvent, event)  # mypy does not narrow the union's other member
    kind, actor, merchant = context.type, context.actor, context.merchant
    if kind.startswith("ticket."):
        ref = context.ticket
    elif kind.startswith("grant."):
        ref = context.grant
    else:
        ref = None
    return (
        seq,
        context.id,
        (context.time - EPOCH) // _MICROSECOND,
        kind,
        actor if actor.__class__ is str else None,
        merchant if merchant.__class__ is str else None,
        ref if ref.__class__ is str else None,
        body,
        facets,
    )


def event_columns(event: Event) -> tuple[str, int, str, str | None, str | None, str | None]:
    """The indexed columns of a stored event: ``(id, time_us, action, actor, merchant, ref)``,
    as :func:`event_row` stores them."""
    return event_row(0, event, "")[1:7]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What :meth:`Ledger.verify` checked.

    ``checkpoints`` counts the recorded checkpoints and the notes given; ``covered`` is the
    largest tree size a verified checkpoint signs (the whole ledger, or verify fails) and
    ``recorded_covered`` the largest a *recorded* one signs: less than ``leaves`` only when a
    note given from outside covers what the database's own checkpoints no longer do.
    ``witnessed`` is the largest tree size a configured witness cosigned (0 without witness
    keys), ``witnesses`` how many witness keys were checked. ``merchants`` is how many
    merchants' slices were rebuilt from the events, ``mapped`` how many merchant-map lines of
    signed checkpoints were compared with the map they give.
    """

    leaves: int
    tiles: int
    checkpoints: int
    root: bytes
    keys: int = 1
    covered: int = 0
    recorded_covered: int = 0
    witnessed: int = 0
    witnesses: int = 0
    merchants: int = 0
    mapped: int = 0


@dataclass(frozen=True, slots=True)
class _Signed:
    """A checkpoint to check against the rebuilt tree, and how to name it."""

    size: int
    root: bytes
    label: str
    recorded_cosignature: bool = False  # a cosignature read from the cosignatures table


@dataclass(slots=True)
class _Suspect:
    """The first leaf, since the last checkpoint that matched, whose stored event does not
    hash to the leaf hash logged in the stored tiles: the event or the tile was changed."""

    seq: int
    event_id: str
    logged_at: int | None  # where the stored tiles log this event's hash, if elsewhere
    columns: tuple[str, ...] = ()  # indexed columns that differ from the stored event


class Ledger:
    """A store's ledger, signing with the key kept in the data directory."""

    _tile_cache: TileCache

    def __init__(self, store: _Store, key: SigningKey, keys: Sequence[LedgerKey] = ()) -> None:
        self.store = store
        self.key = key
        self.verifier = Verifier.from_verifier_key(key.verifier_key())
        self.keys = list(keys) or [LedgerKey.own(key)]
        # Full tiles never change: kept for the process (bounded, see TileCache).
        self._tile_cache = TileCache()
        # The merchant map, kept by the process (see sentinelle.ledger.slices).
        self.slices = MerchantSlices()

    @classmethod
    def open(cls, store: _Store, *, data_dir: Path, origin: str, by: str | None = None) -> Ledger:
        """The ledger of ``store``, signing with the data directory's key.

        The first time a ledger is opened on a database, the key is created (mode 0600) if the
        data directory has none, and the database records its verifier key (``by``: who, for
        the record; default ``user@host``). Later the data directory's key must be the one
        the database records.

        Raises :class:`ConfigError` if it is not (naming both keys), or if the database
        records a key and the data directory has no key file; :class:`IntegrityError` if
        the recorded keys were tampered with.
        """
        path = data_dir / KEY_FILE
        keys = load_chain(store.ledger_keys(), origin)
        if keys:
            _finish_rotation(data_dir, keys[-1], origin)
            if not os.path.lexists(path):
                raise ConfigError(
                    f"the database's ledger is signed by key {keys[-1].key_id} "
                    f"({keys[-1].describe()}) but {data_dir} has no {KEY_FILE}: point "
                    "SENTINELLE_DATA_DIR at the data directory holding that key, or copy its "
                    f"{KEY_FILE} here (mode 0600)"
                )
        key = SigningKey.load_or_create(path, origin)
        if not keys:
            keys = _bind(store, key, by or default_who())
        current = keys[-1]
        if current.verifier.verifier_key() != key.verifier_key():
            raise ConfigError(
                f"the signing key in {path} is {key.name}+{key.key_hash.hex()}, but the "
                f"database's ledger is signed by {current.key_id} ({current.describe()}): "
                "point SENTINELLE_DATA_DIR at the data directory holding that key, or copy its "
                f"{KEY_FILE} here (mode 0600); to replace that key, run `sentinelle ledger "
                "rotate-key` with the data directory holding it, then copy the new key here"
            )
        return cls(store, key, keys)

    @property
    def origin(self) -> str:
        """The checkpoint origin line, which is also the key name."""
        return self.key.name

    def sign(self, size: int, root: bytes, extensions: Sequence[str] = ()) -> str:
        """A signed checkpoint note for a tree of ``size`` leaves with this root (and these
        extension lines: the merchant map's, :attr:`SliceBatch.line`).

        Called inside the write transaction that records the checkpoint, it reads the current
        recorded key in that transaction: a process that opened the ledger before a rotation
        cannot sign with the retired key. Raises :class:`ConfigError` if it would.
        """
        keys = self.store.ledger_keys()
        if keys and keys[-1][1] != self.key.verifier_key():
            current = LedgerKey.from_row(keys[-1])
            raise ConfigError(
                f"the ledger key was rotated to {current.key_id} ({current.describe()}) after "
                f"this process opened it with {self.key.name}+{self.key.key_hash.hex()}: "
                "restart it to use the new key"
            )
        return self.key.sign(
            Checkpoint(origin=self.origin, size=size, root=root, extensions=tuple(extensions))
        )

    def reader(self, size: int) -> TileReader:
        """Node hashes of the tree at ``size`` (≤ the current size), from stored tiles."""
        return TileReader(self.store.fetch_tiles, size=size, cache=self._tile_cache)

    def root(self, size: int) -> bytes:
        """Root hash of the tree at ``size``."""
        return self.reader(size).root()

    def checkpoint(self) -> Any:
        """Sign and record a checkpoint of the current tree, with the merchant map's line;
        returns the stored checkpoint (the one already recorded at this size, if any)."""
        with self.store.writer() as w:
            size = w.ledger_size()
            root = self.root(size)
            batch = self.slices.prepare(w, start=size, leaves=(), end=size)
            cp = w.add_checkpoint(size, root, self.sign(size, root, (batch.line,)))
        batch.apply()
        return cp

    def rotate_key(self, *, data_dir: Path, by: str, reason: str) -> LedgerKey:
        """Replace the signing key: a new key in ``data_dir``, the old one archived there.

        The database records the new verifier key, from the current tree size on, with when,
        ``by`` whom and why, in a statement signed by the old key; checkpoints signed before
        still verify with the old key. Run it with the data directory holding the current key,
        with no other process writing (a running ``sentinelle serve`` keeps signing with the
        key it opened: restart it afterwards).

        Raises :class:`ConfigError` if this ledger's key is not the database's current one or
        ``by``/``reason`` is not one line.
        """
        check_text("who rotates the key (--by)", by)
        check_text("the reason (--reason)", reason)
        # The new key goes to a file of its own first: if the process dies after the database
        # recorded it, the next open finds it there and finishes the rotation.
        new = SigningKey.generate(self.origin)
        pending = pending_path(data_dir, new.key_hash)
        new.save(pending)
        with self.store.writer() as w:
            keys = parse_keys(w.ledger_keys())
            if not keys or keys[-1].verifier.verifier_key() != self.key.verifier_key():
                pending.unlink(missing_ok=True)  # nothing was recorded: the new key is unused
                raise ConfigError(
                    "the database's current ledger key is no longer "
                    f"{self.key.name}+{self.key.key_hash.hex()}: another rotation happened"
                )
            size = w.ledger_size()
            at = _now_us()
            statement = self.key.sign_text(
                rotation_text(
                    self.origin,
                    self.key.verifier(),
                    new.verifier(),
                    from_size=size,
                    at_us=at,
                    by=by,
                    reason=reason,
                )
            )
            row = (keys[-1].seq + 1, new.verifier_key(), size, at, by, reason, statement)
            w.add_ledger_key(row)
        record = LedgerKey.from_row(row)
        _install(data_dir, pending, old=self.key)
        self.key = new
        self.verifier = new.verifier()
        self.keys = [*keys, record]
        _logger.info("ledger key rotated to %s at tree size %d", record.key_id, size)
        return record

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
                "make a newer checkpoint, or ask for a proof in a larger tree size"
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

    def inclusion_proofs(
        self, leaves: Sequence[tuple[int, str]], size: int, root: bytes
    ) -> list[list[bytes]]:
        """Inclusion proofs of stored leaves, ``(leaf index, stored event)``, in the tree at
        ``size`` whose root is ``root`` (a checkpoint's), in the order given.

        The proofs are built together (:meth:`TileReader.inclusion_paths`): their tiles are
        read in one round trip, and the nodes they share are read or hashed once, so a page of
        proofs costs little more than one. Every proof is checked against ``root`` before it is
        returned, from the stored event's leaf hash, hashing each node the proofs share once
        (:func:`verify_inclusions`): a changed event or tile fails the page. Raises
        :class:`NotFoundError` for a leaf not in the tree; :class:`IntegrityError` if the
        stored tree does not prove a stored event under ``root``.
        """
        for index, _ in leaves:
            if not 0 <= index < size:
                raise NotFoundError(f"leaf {index} is not in a tree of size {size}")
        paths = self.reader(size).inclusion_paths([index for index, _ in leaves])
        verify_inclusions(
            (
                (leaf_hash(body.encode()), index, path)
                for (index, body), path in zip(leaves, paths, strict=True)
            ),
            size,
            root,
        )
        return paths

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
        """Check a signed checkpoint note against this ledger's keys and stored tree.

        Raises :class:`IntegrityError` if the signature, the signing key, the origin or the
        root is wrong.
        """
        cp = self._check_signed(
            note, load_chain(self.store.ledger_keys(), self.origin) or self.keys, "note"
        )
        size = self.store.ledger_size()
        if cp.size > size:
            raise IntegrityError(
                f"the checkpoint signs {cp.size} leaves, but the ledger holds only {size}: "
                "events were removed"
            )
        if cp.size and self.root(cp.size) != cp.root:
            raise IntegrityError(f"checkpoint of size {cp.size}: the stored tree has another root")
        return cp

    def verify(
        self,
        *,
        notes: Sequence[tuple[str, str]] = (),
        witnesses: Sequence[CosignatureVerifier] = (),
        max_unwitnessed: int | None = None,
        batch: int = 64 * TILE_WIDTH,
        progress: Callable[[int], None] | None = None,
    ) -> VerifyReport:
        """Recompute every leaf from its stored event, the tree, and every checkpoint.

        ``notes`` are ``(name, text)`` of signed checkpoints kept outside the database, checked
        like the recorded ones. ``progress`` is called with the number of leaves done after
        each batch of ``batch``.

        ``witnesses`` are the keys of witnesses trusted as a root outside the database. Each
        must have cosigned a checkpoint, recorded (``cosignatures``) or in a note given, and
        every such cosignature must verify; the tree at its size must have the root it
        cosigned, and the checkpoint it cosigned must still be recorded. With
        ``max_unwitnessed``, at most that many of the newest leaves may lack a cosignature.

        Every checkpoint must be signed by the recorded key current at its tree size, and the
        newest (recorded or given) must cover every leaf: a ledger whose last leaves no
        checkpoint signs is not verified.

        The merchants' slices are rebuilt from the access events as they are read, and the
        merchant map at every signed checkpoint compared with its note's map line; at the end
        each merchant's latest ``slice_nodes`` row is compared with its rebuilt slice
        (:mod:`sentinelle.ledger.verify_slices`).

        Raises :class:`IntegrityError` naming what is wrong: a missing, invalid or altered
        event (leaf index and event id), rows reordered, a checkpoint whose root the events do
        not give (and the leaves that hold the change), leaves no checkpoint covers, a missing
        or altered tile (level and index), a forged or misattributed checkpoint, or a tampered
        key record; a cosignature that does not verify, a witness that cosigned nothing, a
        tree that is not the one a witness cosigned, a cosigned checkpoint that was deleted; a
        map line the events do not give (and the merchant whose slice differs, when the stored
        slices tell), the newest checkpoint without a map line, an altered slice row.
        """
        size = self.store.ledger_size()
        keys = load_chain(self.store.ledger_keys(), self.origin)
        signed: list[_Signed] = []
        recorded = list(self.store.checkpoints())
        if not keys and (size or recorded):
            raise IntegrityError(
                f"the database records no verifier key for its ledger of {size} leaves: the "
                "ledger_keys table was emptied"
            )
        keys = keys or self.keys
        maps: list[MapCommitment] = []  # the map line of every signed checkpoint
        for cp in recorded:
            label = f"the recorded checkpoint of size {cp.size}"
            got = self._check_signed(cp.note, keys, label)
            if (got.size, got.root) != (cp.size, cp.root):
                raise IntegrityError(
                    f"{label}: its size or root column differs from its signed note "
                    "(the checkpoints table was altered)"
                )
            signed.append(_Signed(cp.size, cp.root, label))
            maps.append(MapCommitment(cp.size, label, map_root_in(got.extensions, label)))
        for name, note in notes:
            got = self._check_signed(note, keys, f"checkpoint {name}")
            label = f"checkpoint {name} (size {got.size})"
            signed.append(_Signed(got.size, got.root, label))
            maps.append(MapCommitment(got.size, label, map_root_in(got.extensions, label)))
        cosigned, cosigned_maps = self._witnessed(witnesses, notes, size)
        signed.extend(cosigned)
        maps.extend(cosigned_maps)
        for s in signed:
            if s.size > size:
                raise IntegrityError(
                    f"{s.label}: the ledger holds only {size} leaves, fewer than it signs: "
                    "events were removed"
                )
        signed.sort(key=lambda s: s.size)
        covered = signed[-1].size if signed else 0
        recorded_covered = max((cp.size for cp in recorded), default=0)

        builder = TreeBuilder()
        access = frozenset(ACCESS_ACTIONS)
        slice_check = SliceCheck(self.store, maps, size)  # the merchants' slices and the map
        next_map = slice_check.reached(0)  # next tree size at which to compare the map
        pos = 0  # next checkpoint to compare
        while pos < len(signed) and signed[pos].size == 0:
            if signed[pos].root != EMPTY_ROOT:
                raise IntegrityError(f"{signed[pos].label} does not have the empty tree's root")
            pos += 1
        last_good = 0  # size of the last checkpoint the events matched
        suspect: _Suspect | None = None
        columns_changed: _Suspect | None = None  # first row whose columns differ from its event
        tile_fault: str | None = None
        tiles_checked = 0
        expected = 0
        logged: dict[int, bytes] = {}
        for rows in self.store.iter_events(0, batch=batch):
            # The stored leaf hashes of this batch: a tile begins with its 256 leaf hashes.
            logged = self.store.tiles_range(
                0, rows[0][0] >> TILE_HEIGHT, rows[-1][0] >> TILE_HEIGHT
            )
            for seq, event_id, t_us, action, actor, merchant, ref, body in rows:
                if seq != expected:
                    raise IntegrityError(
                        f"leaf {expected} is missing: the next stored event is leaf {seq} "
                        f"(event {event_id!r})"
                    )
                differ = _row_problem(
                    seq, event_id, (event_id, t_us, action, actor, merchant, ref), body
                )
                if differ and columns_changed is None:
                    columns_changed = _Suspect(seq, event_id, None, differ)
                lh = leaf_hash(body.encode())
                builder.append(lh)
                if differ:  # the slice is the signed event's, not the columns'
                    _, _, action, _, merchant, _ = event_columns(decode_event(body))
                if merchant is not None and action in access:
                    slice_check.add(seq, merchant, lh)
                tile = logged.get(seq >> TILE_HEIGHT)
                at = (seq & (TILE_WIDTH - 1)) * _H
                if tile is None:
                    tile_fault = tile_fault or _missing_tile(0, seq >> TILE_HEIGHT, size)
                elif suspect is None and tile[at : at + _H] != lh:
                    suspect = _Suspect(seq, event_id, _logged_at(logged, lh))
                expected += 1
                while pos < len(signed) and signed[pos].size == expected:
                    target = signed[pos]
                    pos += 1
                    if builder.root() != target.root:
                        raise IntegrityError(
                            _root_mismatch(target, last_good, suspect or columns_changed)
                        )
                    last_good = expected
                    if columns_changed is not None:  # the event is the signed one
                        raise IntegrityError(
                            f"leaf {columns_changed.seq} (event {columns_changed.event_id!r}): "
                            f"its {_names(columns_changed.columns)} changed: the column no longer "
                            f"matches the stored event, which {target.label} covers"
                        )
                    if suspect is not None:  # the event is the signed one: its tile changed
                        tile_fault = tile_fault or (
                            f"tile (level 0, index {suspect.seq >> TILE_HEIGHT}) was altered: "
                            f"its hash of leaf {suspect.seq} is not that of the stored event "
                            f"{suspect.event_id!r}"
                        )
                        suspect = None
                if expected == next_map:  # the tree matched every checkpoint of this size
                    next_map = slice_check.reached(expected)
            done = builder.take_completed()
            tiles_checked += len(done)
            tile_fault = tile_fault or self._compare_tiles(done, logged, size)
            if progress is not None:
                progress(len(rows))
        if expected != size:
            raise IntegrityError(
                f"the ledger records {size} leaves but {expected} events are stored: "
                f"leaf {expected} onwards is missing"
            )
        if covered < size:
            have = (
                "no checkpoint is recorded"
                if not signed
                else f"the newest checkpoint covers only {covered}"
            )
            also = ""
            if suspect is not None:
                also = (
                    f"; and leaf {suspect.seq} (event {suspect.event_id!r}) does not hash to "
                    "its logged leaf hash"
                )
            elif columns_changed is not None:
                also = (
                    f"; and leaf {columns_changed.seq} (event {columns_changed.event_id!r}) no "
                    f"longer matches its {_names(columns_changed.columns)}"
                )
            raise IntegrityError(
                f"not verified: the ledger holds {size} leaves but {have}, so no signature "
                f"vouches for leaves {covered}–{size - 1}{also}; checkpoints were deleted or "
                "events appended without one. Check against a checkpoint kept outside the "
                "database: sentinelle ledger verify --checkpoint FILE"
            )
        partial = builder.partial_tiles()
        tiles_checked += len(partial)
        tile_fault = tile_fault or self._compare_tiles(partial, logged, size)
        if tile_fault is not None:
            raise IntegrityError(
                f"{tile_fault} (the events match the signed checkpoints: the stored tree was "
                "changed, not the events; proofs read from it would fail)"
            )
        witnessed = self._check_witnessed(
            cosigned, {cp.size for cp in recorded}, size, max_unwitnessed
        )
        slices = slice_check.finish()
        return VerifyReport(
            size,
            tiles_checked,
            len(recorded) + len(notes),
            builder.root(),
            keys=len(keys),
            covered=covered,
            recorded_covered=recorded_covered,
            witnessed=witnessed,
            witnesses=len(witnesses),
            merchants=slices.merchants,
            mapped=slices.mapped,
        )

    def _witnessed(
        self, witnesses: Sequence[CosignatureVerifier], notes: Sequence[tuple[str, str]], size: int
    ) -> tuple[list[_Signed], list[MapCommitment]]:
        """The checkpoints the ``witnesses`` cosigned (recorded, or in the ``notes``), each
        cosignature verified; and the map lines of the recorded ones (those of the notes are
        the notes' own). Raises :class:`IntegrityError` if one does not verify, or a witness
        cosigned none while the ledger has leaves."""
        out: list[_Signed] = []
        lines: list[tuple[int, str, tuple[str, ...]]] = []  # (size, witness, extensions)
        by_key = {w.verifier_key(): w for w in witnesses}
        seen: set[str] = set()
        for row in self.store.cosignatures():
            w = by_key.get(row.witness)
            if w is None:
                continue  # not a trust root here: anyone with the database can add a row
            try:
                cp = Checkpoint(
                    origin=self.origin,
                    size=row.size,
                    root=row.root,
                    extensions=tuple(row.extensions.splitlines()),
                )
                w.verify_line(cp, row.line)
            except IntegrityError:
                raise IntegrityError(
                    f"the cosignature by witness {w.key_id} recorded for the checkpoint of size "
                    f"{row.size} does not verify: the cosignatures table was altered"
                ) from None
            seen.add(w.verifier_key())
            label = (
                f"the checkpoint of size {row.size} that witness {w.key_id} cosigned "
                f"({_iso_s(row.cosigned_s)})"
            )
            out.append(_Signed(row.size, row.root, label, recorded_cosignature=True))
            lines.append((row.size, w.key_id, cp.extensions))
        for name, note in notes:
            _, signatures = parse_note(note)
            present = {(n, raw[:4]) for n, raw in signatures}
            for w in witnesses:
                if (w.name, w.key_hash) not in present:
                    continue
                try:
                    got = w.verify(note)
                except IntegrityError as exc:
                    raise IntegrityError(f"checkpoint {name}: {exc}") from None
                seen.add(w.verifier_key())
                label = (
                    f"checkpoint {name} (size {got.checkpoint.size}), which witness {w.key_id} "
                    f"cosigned ({_iso_s(got.timestamp)})"
                )
                out.append(_Signed(got.checkpoint.size, got.checkpoint.root, label))
        missing = [w.key_id for w in witnesses if w.verifier_key() not in seen]
        if missing and size:
            raise IntegrityError(
                f"not verified: no checkpoint cosigned by witness {', '.join(missing)} is "
                "recorded or given, so nothing outside the database vouches for the ledger: the "
                "cosignatures were deleted, or `sentinelle ledger witness` never ran with that "
                "witness. Check against a cosigned checkpoint kept outside (the witness's own "
                "copy: sentinelle witness latest) with --checkpoint FILE"
            )
        maps = []
        for cosigned_size, key_id, extensions in lines:
            label = f"the checkpoint of size {cosigned_size} that witness {key_id} cosigned"
            maps.append(MapCommitment(cosigned_size, label, map_root_in(extensions, label)))
        return out, maps

    def _check_witnessed(
        self,
        cosigned: Sequence[_Signed],
        recorded: set[int],
        size: int,
        max_unwitnessed: int | None,
    ) -> int:
        """After the tree matched every witnessed root: the checkpoints witnesses cosigned must
        still be recorded, and at most ``max_unwitnessed`` leaves may lack a cosignature.
        Returns the largest tree size cosigned (0: none)."""
        for c in sorted(cosigned, key=lambda c: c.size):
            if c.recorded_cosignature and c.size not in recorded:
                raise IntegrityError(
                    f"{c.label} is missing from the checkpoints table: checkpoint rows were "
                    "deleted (the events still give the root the witness cosigned)"
                )
        witnessed = max((c.size for c in cosigned), default=0)
        if max_unwitnessed is not None and size - witnessed > max_unwitnessed:
            newest = (
                f"the newest witnessed checkpoint is of size {witnessed}"
                if witnessed
                else "no witness cosigned any"
            )
            raise IntegrityError(
                f"not verified: leaves {witnessed}–{size - 1} are signed by the ledger's own key "
                f"only ({newest}; at most {max_unwitnessed} may be): run `sentinelle ledger "
                "witness`, or find out why the witnesses refuse"
            )
        return witnessed

    def _check_signed(self, note: str, keys: Sequence[LedgerKey], label: str) -> Checkpoint:
        """The checkpoint of ``note`` if the recorded key current at its size signed it."""
        try:
            body, signatures = parse_note(note)
            cp = Checkpoint.from_body(body)
        except IntegrityError as exc:
            raise IntegrityError(f"{label}: {exc}") from None
        by = {(name, raw[:4]) for name, raw in signatures}
        mine = [k for k in keys if (k.verifier.name, k.verifier.key_hash) in by]
        if not mine:
            names = ", ".join(sorted(f"{n}+{h.hex()}" for n, h in by))
            recorded = ", ".join(k.key_id for k in keys)
            raise IntegrityError(
                f"{label} is signed by {names}, not by a key recorded for this ledger "
                f"({recorded}): it is forged, or from another log"
            )
        valid = []
        for k in mine:
            until = until_size(keys, k.seq)
            if k.from_size <= cp.size and (until is None or cp.size <= until):
                valid.append(k)
        if not valid:
            k = mine[-1]
            if k.seq + 1 < len(keys):
                nxt = keys[k.seq + 1]
                why = f"which was replaced at tree size {nxt.from_size} ({nxt.describe()})"
            else:
                why = f"which signs only from tree size {k.from_size} on"
            raise IntegrityError(
                f"{label} is signed by key {k.key_id}, {why}: a key signed a checkpoint "
                "outside the tree sizes it was current for"
            )
        try:
            return valid[-1].verifier.verify(note, origin=self.origin)
        except IntegrityError as exc:
            raise IntegrityError(f"{label}: {exc}") from None

    def _compare_tiles(
        self, tiles: list[tuple[int, int, bytes]], logged: dict[int, bytes], size: int
    ) -> str | None:
        """What is wrong with the first stored tile that differs from the rebuilt one, if any.

        The leaf hashes of level-0 tiles are compared leaf by leaf as events are read; here
        only their inner levels, and every hash of the higher tiles.
        """
        by_level: dict[int, list[tuple[int, bytes]]] = {}
        for level, idx, blob in tiles:
            by_level.setdefault(level, []).append((idx, blob))
        for level, items in sorted(by_level.items()):
            stored = (
                logged if level == 0 else self.store.tiles_range(level, items[0][0], items[-1][0])
            )
            for idx, blob in items:
                got = stored.get(idx)
                if got == blob:
                    continue
                if got is None:
                    if level == 0:
                        continue  # named as events were read
                    return _missing_tile(level, idx, size)
                if len(got) != len(blob):
                    return (
                        f"tile (level {level}, index {idx}) was altered: it holds {len(got)} "
                        f"bytes, the events give {len(blob)}"
                    )
                first = _first_difference(blob, got, start=TILE_WIDTH * _H if level == 0 else 0)
                if first is None:
                    continue  # only leaf hashes differ: named as events were read
                h, offset = _tile_position(blob, first)
                node = (idx << (TILE_HEIGHT - h)) + offset
                return (
                    f"tile (level {level}, index {idx}) was altered: its node at tree level "
                    f"{level * TILE_HEIGHT + h}, index {node}, is not the one the events give"
                )
        return None


def _now_us() -> int:
    return time.time_ns() // 1000


def _iso_s(seconds: int) -> str:
    return iso(seconds * 1_000_000)


def _bind(store: _Store, key: SigningKey, by: str) -> list[LedgerKey]:
    """Record ``key`` as the ledger's key, unless another process bound one first."""
    with store.writer() as w:
        keys = parse_keys(w.ledger_keys())
        if keys:
            return keys
        row = (0, key.verifier_key(), 0, _now_us(), check_text("who", by), FIRST_USE, None)
        _check_existing_signatures(store, key)
        w.add_ledger_key(row)
    _logger.info("ledger key %s+%s bound to the database", key.name, key.key_hash.hex())
    return [LedgerKey.from_row(row)]


def _check_existing_signatures(store: _Store, key: SigningKey) -> None:
    """A database that has checkpoints but no recorded key (made before keys were recorded):
    bind only the key that signed its newest checkpoint."""
    latest = store.latest_checkpoint()
    if latest is None:
        return
    try:
        key.verifier().open_note(latest.note)
    except IntegrityError:
        _, signatures = parse_note(latest.note)
        names = ", ".join(f"{n}+{raw[:4].hex()}" for n, raw in signatures)
        raise ConfigError(
            f"the database's checkpoints are signed by {names}, not by this data directory's "
            f"key {key.name}+{key.key_hash.hex()}: point SENTINELLE_DATA_DIR at the data "
            f"directory holding that key, or copy its {KEY_FILE} here (mode 0600)"
        ) from None


def _finish_rotation(data_dir: Path, current: LedgerKey, origin: str) -> None:
    """Install a rotated key the database records but an interrupted rotation left pending."""
    pending = pending_path(data_dir, current.verifier.key_hash)
    if not pending.exists():
        return
    new = SigningKey.load_or_create(pending, origin)
    if new.verifier_key() != current.verifier.verifier_key():
        return
    path = data_dir / KEY_FILE
    old = SigningKey.load_or_create(path, origin) if path.exists() else None
    _install(data_dir, pending, old=old)
    _logger.warning("finished an interrupted rotation to ledger key %s", current.key_id)


def _install(data_dir: Path, pending: Path, *, old: SigningKey | None) -> None:
    """Archive the old key file and move the new one into its place."""
    path = data_dir / KEY_FILE
    if old is not None:
        try:
            os.link(path, archive_path(data_dir, old.key_hash))
        except FileExistsError:
            pass
    os.replace(pending, path)
    fsync_dir(data_dir)


def _missing_tile(level: int, idx: int, size: int) -> str:
    span = TILE_WIDTH << (level * TILE_HEIGHT)  # leaves under one tile of this level
    first, last = idx * span, min(size, (idx + 1) * span) - 1
    return (
        f"tile (level {level}, index {idx}), over leaves {first}–{last}, is missing from the store"
    )


def _logged_at(logged: dict[int, bytes], lh: bytes) -> int | None:
    """The leaf at which the stored level-0 tiles log ``lh``, if they do."""
    for idx, blob in logged.items():
        leaves = blob[: min(len(blob), TILE_WIDTH * _H)]
        for i in range(0, len(leaves) - _H + 1, _H):
            if leaves[i : i + _H] == lh:
                return (idx << TILE_HEIGHT) + i // _H
    return None


def _root_mismatch(target: _Signed, last_good: int, suspect: _Suspect | None) -> str:
    if suspect is not None and suspect.columns:
        return (
            f"leaf {suspect.seq} (event {suspect.event_id!r}) was altered: the stored event no "
            f"longer matches its {_names(suspect.columns)}, and the events do not give the root "
            f"of {target.label} (the logged leaf hashes were recomputed to hide it)"
        )
    if suspect is not None:
        if suspect.logged_at is not None and suspect.logged_at != suspect.seq:
            return (
                f"leaf {suspect.seq} (event {suspect.event_id!r}) is logged at leaf "
                f"{suspect.logged_at}: stored events were reordered, and the events no longer "
                f"give the root of {target.label}"
            )
        return (
            f"leaf {suspect.seq} (event {suspect.event_id!r}) was altered: the stored event "
            f"does not hash to the logged leaf hash, and the events no longer give the root of "
            f"{target.label}"
        )
    return (
        f"the events do not give the root of {target.label}, yet the logged leaf hashes agree "
        f"with them: an event among leaves {last_good}–{target.size - 1} was altered and the "
        "stored tree recomputed to hide it (the signatures cannot tell which; compare with a "
        "backup)"
    )


def _first_difference(rebuilt: bytes, stored: bytes, *, start: int = 0) -> int | None:
    """Offset of the first 32-byte hash, from ``start``, that differs."""
    for i in range(start, len(rebuilt), _H):
        if rebuilt[i : i + _H] != stored[i : i + _H]:
            return i
    return None


def _tile_position(blob: bytes, offset: int) -> tuple[int, int]:
    """``(level in tile, index in that level)`` of the hash at byte ``offset`` of a tile."""
    width = tile_width(blob)
    pos = offset // _H
    for h in range(TILE_HEIGHT):
        n = width >> h
        if pos < n:
            return h, pos
        pos -= n
    raise AssertionError("offset beyond the tile")


_COLUMN_NAMES: Final = ("id", "time_us", "action", "actor", "merchant", "ref")


def _names(columns: tuple[str, ...]) -> str:
    return f"{', '.join(columns)} column{'s' if len(columns) > 1 else ''}"


def _row_problem(seq: int, event_id: str, columns: tuple[Any, ...], body: str) -> tuple[str, ...]:
    """The indexed columns of a stored row that differ from its event (empty if none).

    Raises :class:`IntegrityError` if the stored event is not one ingest could have written
    (invalid, or not canonical JSON): it was altered.
    """
    try:
        event = decode_event(body)
    except EventError as exc:
        raise IntegrityError(
            f"leaf {seq} (event {event_id!r}) was altered: the stored event is invalid: {exc}"
        ) from None
    if canonical(event) != body.encode():
        raise IntegrityError(
            f"leaf {seq} (event {event_id!r}) was altered: the stored event is not canonical JSON"
        )
    expected = event_columns(event)
    if expected == columns:
        return ()
    return tuple(
        name
        for name, got, want in zip(_COLUMN_NAMES, columns, expected, strict=True)
        if got != want
    )
