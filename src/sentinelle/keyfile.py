"""Secret files in the data directory (the ledger signing key, the address hash key).

A secret file is created once, mode 0600, by writing a temporary file created 0600 with
``O_EXCL`` and hard-linking it into place: it is never readable by others (not even between
creating and a later ``chmod``), never seen half written, and a concurrent creator cannot
overwrite it — the loser reads the winner's secret. Reading refuses a file that group or others
can access, checked on the open file (``fstat``), not on whatever the path names by then.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sentinelle.errors import ConfigError

__all__ = ["load_or_create"]

_T = TypeVar("_T")
_LIMIT = 4096


def load_or_create(
    path: Path, *, what: str, make: Callable[[], bytes], parse: Callable[[bytes], _T]
) -> _T:
    """``parse`` of the secret stored at ``path``, created from ``make()`` on first use.

    ``what`` names the file in errors ("signing key file"). Raises
    :class:`~sentinelle.errors.ConfigError` if the file is accessible by group or others,
    larger than a secret can be, or cannot be read or created; ``parse`` raises its own.
    """
    try:
        return parse(_read(path, what))
    except FileNotFoundError:
        pass
    _create(path, make(), what)
    try:
        return parse(_read(path, what))
    except FileNotFoundError as exc:  # e.g. a dangling symlink: exists, yet cannot be read
        raise ConfigError(f"cannot create {what} {path}: {exc.strerror}") from exc


def _read(path: Path, what: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from exc
    try:
        mode = os.fstat(fd).st_mode  # the file we read, not whatever the path names now
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{what} {path} is not a regular file")
        if mode & 0o077:
            raise ConfigError(
                f"{what} {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
            )
        data = b""
        while chunk := os.read(fd, _LIMIT):
            data += chunk
            if len(data) > _LIMIT:
                raise ConfigError(f"{what} {path} is too large to be a key")
    finally:
        os.close(fd)
    return data


def _create(path: Path, data: bytes, what: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic, and refuses to replace an existing secret
        except FileExistsError:
            return  # someone else created it first; the caller reads theirs
    except OSError as exc:
        raise ConfigError(f"cannot create {what} {path}: {exc.strerror}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
