"""Publish the ledger as static files: C2SP ``tlog-tiles`` layout, for any web server or
object store to serve.

``<dir>/checkpoint`` is the newest recorded checkpoint with the cosignatures recorded for it
(one signed note, several signatures). With tiles, ``<dir>/tile/<L>/<N>`` are the full hash
tiles (256 hashes, 8,192 bytes: at level 0 the leaf hashes, at level L the hashes of the full
tiles of level L-1) and ``<dir>/tile/<L>/<N>.p/<W>`` the partial tiles of the checkpoint's
tree size, ``<N>`` written in 3-digit groups (``x001/x234/067``). From them anyone holding the
checkpoint can compute the tree's root and any consistency proof, without the database.

Simplifications: the entries themselves (``tile/entries/…``) are not published: they are
who-saw-what records, for the people entitled to read them, not for the web. Old partial
tiles are left in place (the spec allows deleting them once the full tile exists).

Every file is written to a temporary name and renamed into place, so a reader never sees a
half-written one; the checkpoint is written last, so it never names tiles not yet there. Full
tiles never change: a run writes only those not published yet, so publishing is incremental.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sentinelle.errors import ConfigError, IntegrityError
from sentinelle.ledger.keys import fsync_dir
from sentinelle.ledger.tiles import TILE_HEIGHT, TILE_WIDTH
from sentinelle.ledger.witnessing import cosignature_lines, recorded_checkpoint

__all__ = ["PublishReport", "publish", "tile_path", "write_atomic"]

_H: Final = 32
_CHUNK: Final = 64  # tiles read per query


@dataclass(frozen=True, slots=True)
class PublishReport:
    """What :func:`publish` wrote: the checkpoint's tree size, its cosignature count, tiles."""

    size: int
    cosignatures: int
    tiles_written: int


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]`` with ``N`` in zero-padded 3-digit groups, all but the last
    prefixed ``x`` (C2SP tlog-tiles): index 1234067 at level 0 is ``tile/0/x001/x234/067``."""
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    path = f"tile/{level}/{'/'.join(reversed(groups))}"
    return path if width == TILE_WIDTH else f"{path}.p/{width}"


def publish(store: Any, directory: Path, *, tiles: bool = False) -> PublishReport:
    """Write the newest checkpoint (with its cosignatures) and, with ``tiles``, the hash tiles
    of its tree to ``directory``.

    Raises :class:`~sentinelle.errors.NotFoundError` if no checkpoint is recorded,
    :class:`IntegrityError` if a stored tile the tree needs is missing or too short,
    :class:`ConfigError` if ``directory`` cannot be written.
    """
    cp = recorded_checkpoint(store)
    lines = cosignature_lines(store, cp)
    note = str(cp.note) + "".join(lines)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        written = _publish_tiles(store, directory, cp.size) if tiles else 0
        if written:
            os.sync()  # the tiles on disk before the checkpoint that names them
        write_atomic(directory / "checkpoint", note.encode("utf-8"), durable=True)
    except OSError as exc:
        raise ConfigError(f"cannot publish to {directory}: {exc}") from None
    return PublishReport(cp.size, len(lines), written)


def _publish_tiles(store: Any, directory: Path, size: int) -> int:
    """Write the tiles of the tree at ``size`` not yet in ``directory``; return how many."""
    written = 0
    level = 0
    while size >> (TILE_HEIGHT * level):
        hashes = size >> (TILE_HEIGHT * level)  # nodes of this tile level in the tree
        full, width = hashes >> TILE_HEIGHT, hashes & (TILE_WIDTH - 1)
        # Tiles are written in order, so the first missing one is after the last present.
        first = full
        while first > 0 and not (directory / tile_path(level, first - 1)).exists():
            first -= 1
        wanted = [(i, TILE_WIDTH) for i in range(first, full)]
        if width:
            wanted.append((full, width))
        for start in range(0, len(wanted), _CHUNK):
            part = wanted[start : start + _CHUNK]
            stored = store.tiles_range(level, part[0][0], part[-1][0])
            for index, w in part:
                blob = stored.get(index)
                if blob is None or len(blob) < w * _H:
                    raise IntegrityError(
                        f"tile (level {level}, index {index}) is missing from the store or "
                        "shorter than the tree needs: run `sentinelle ledger verify`"
                    )
                write_atomic(directory / tile_path(level, index, w), bytes(blob[: w * _H]))
                written += 1
        level += 1
    return written


def write_atomic(path: Path, data: bytes, *, durable: bool = False, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file (created with ``mode``) renamed
    into place (fsynced first, and the directory after, if ``durable``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
