"""The monitor's memory: a directory of its own, on the machine of whoever runs it.

::

    DIR/                 mode 0700, refused if group or others can write to it
      monitor.toml       the configuration (pinned keys, quorum, where the log is); yours
      state.json         the last verified checkpoint, and which findings were reported where
      evidence/          one folder per misbehaviour found: the conflicting signed notes
      lock               held (flock) while a round runs: one monitor per directory at a time

``state.json`` is written whole or not at all (a temporary file, fsynced, renamed, the
directory fsynced), mode 0600. It is read strictly: a file that is not exactly what this
module writes, or whose checkpoint no pinned log key signed, is refused with an error naming
the problem and left as it is — a monitor that silently started over would accept a rolled-back
or forked log as new. Moving the file away is a person's decision.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import re
import secrets
import stat
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from sentinelle.errors import ConfigError, IntegrityError
from sentinelle.ledger.checkpoint import Verifier
from sentinelle.ledger.keys import fsync_dir
from sentinelle.ledger.publish import write_atomic
from sentinelle.monitor.checks import SignedCheckpoint, open_checkpoint

__all__ = ["STATE_FILE", "MonitorState", "StateDir", "evidence_stamp"]

STATE_FILE: Final = "state.json"
_FORMAT: Final = 1
_MAX_STATE_BYTES: Final = 4 * 1024 * 1024
_KEYS: Final = frozenset({"format", "origin", "checkpoint", "verified_at", "reported"})
_FINDING_ID: Final = re.compile(r"[a-z_]{1,32}-[0-9a-f]{16}")
_CHANNEL: Final = re.compile(r"[a-z]{1,16}")


@dataclass(frozen=True, slots=True)
class MonitorState:
    """The last verified checkpoint (``None`` before the first), when it was verified, and per
    finding id the report channels (``webhook``, ``email``) that have delivered it."""

    origin: str
    checkpoint: SignedCheckpoint | None = None
    verified_at: str | None = None
    reported: Mapping[str, frozenset[str]] = field(default_factory=dict)


class StateDir:
    """The monitor's directory: its state file, its evidence, its lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def state_file(self) -> Path:
        """``DIR/state.json``."""
        return self.path / STATE_FILE

    def ensure(self) -> None:
        """Create the directory (0700) if missing; refuse one others can write to.

        Raises :class:`ConfigError` if it cannot be created or is writable by group or others.
        """
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            mode = self.path.stat().st_mode
        except OSError as exc:
            raise ConfigError(f"monitor state directory {self.path}: {exc.strerror}") from None
        if not stat.S_ISDIR(mode):
            raise ConfigError(f"monitor state directory {self.path} is not a directory")
        if mode & 0o022:
            raise ConfigError(
                f"monitor state directory {self.path} is writable by group or others (mode "
                f"{stat.S_IMODE(mode):04o}): anyone who can write there can change what the "
                f"monitor trusts; run: chmod 700 {self.path}"
            )

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory's lock for a round. Raises :class:`ConfigError` if another
        monitor holds it."""
        self.ensure()
        fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    raise ConfigError(
                        f"another monitor is running on {self.path} (its lock is held)"
                    ) from None
                raise
            yield
        finally:
            os.close(fd)

    def load(self, *, origin: str, log_keys: Sequence[Verifier]) -> MonitorState:
        """The state, or an empty one for ``origin`` if there is no state file yet.

        Raises :class:`ConfigError` naming the problem if the file is unreadable, malformed,
        for another log, or holds a checkpoint that no pinned key signed.
        """
        path = self.state_file
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            return MonitorState(origin=origin)
        except OSError as exc:
            raise ConfigError(f"cannot read the monitor state {path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as f:
            data = f.read(_MAX_STATE_BYTES + 1)
        return self._parse(data, origin=origin, log_keys=log_keys)

    def _parse(self, data: bytes, *, origin: str, log_keys: Sequence[Verifier]) -> MonitorState:
        path = self.state_file

        def corrupt(why: str) -> ConfigError:
            return ConfigError(
                f"the monitor state {path} is refused: {why}. It was left as it is; if you "
                "cannot restore it from a backup, move it away to start over (the monitor "
                "then trusts the log's next checkpoint, as on its first run)"
            )

        if len(data) > _MAX_STATE_BYTES:
            raise corrupt(f"it is larger than {_MAX_STATE_BYTES} bytes")
        try:
            raw = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise corrupt(f"it is not JSON ({exc})") from None
        if not isinstance(raw, dict) or set(raw) != _KEYS:
            raise corrupt(f"it is not an object with exactly the keys {sorted(_KEYS)}")
        if raw["format"] != _FORMAT:
            raise corrupt(f"format {raw['format']!r} is not {_FORMAT}")
        if raw["origin"] != origin:
            raise ConfigError(
                f"the monitor state {path} is for log {raw['origin']!r}, not {origin!r}: use "
                "another state directory for another log"
            )
        note, verified_at, reported = raw["checkpoint"], raw["verified_at"], raw["reported"]
        if (note is None) != (verified_at is None):
            raise corrupt("it has a checkpoint without its time, or a time without a checkpoint")
        checkpoint = None
        if note is not None:
            if not isinstance(note, str) or not isinstance(verified_at, str):
                raise corrupt("its checkpoint or time is not a string")
            try:
                dt.datetime.fromisoformat(verified_at)
                checkpoint = open_checkpoint(note, origin=origin, log_keys=log_keys)
            except ValueError:
                raise corrupt(f"its time {verified_at!r} is not ISO 8601") from None
            except IntegrityError as exc:
                raise corrupt(
                    f"its checkpoint does not verify with the pinned log keys ({exc}); if the "
                    "log rotated its key, keep the old key pinned beside the new one"
                ) from None
        if not isinstance(reported, dict) or not all(
            isinstance(k, str)
            and _FINDING_ID.fullmatch(k)
            and isinstance(v, list)
            and all(isinstance(c, str) and _CHANNEL.fullmatch(c) for c in v)
            for k, v in reported.items()
        ):
            raise corrupt("its 'reported' is not an object of finding ids to channel lists")
        return MonitorState(
            origin=origin,
            checkpoint=checkpoint,
            verified_at=verified_at,
            reported={k: frozenset(v) for k, v in reported.items()},
        )

    def save(self, state: MonitorState) -> None:
        """Write ``state`` whole or not at all (mode 0600)."""
        cp = state.checkpoint
        data = {
            "format": _FORMAT,
            "origin": state.origin,
            "checkpoint": None if cp is None else cp.note,
            "verified_at": state.verified_at,
            "reported": {k: sorted(v) for k, v in sorted(state.reported.items())},
        }
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        write_atomic(self.state_file, text.encode("utf-8"), durable=True, mode=0o600)

    def keep_evidence(self, name: str, files: Mapping[str, str]) -> Path:
        """Write ``files`` (name → text) into ``DIR/evidence/<name>/``, each whole or not at
        all, mode 0600; returns the folder. A folder of that name already there is kept as
        it is (the same finding, found again)."""
        folder = self.path / "evidence" / name
        if folder.exists():
            return folder
        staging = self.path / "evidence" / f".{name}.{secrets.token_hex(6)}.tmp"
        staging.mkdir(mode=0o700, parents=True)
        for file_name, text in files.items():
            write_atomic(staging / file_name, text.encode("utf-8"), durable=True, mode=0o600)
        try:
            os.rename(staging, folder)  # whole folder at once; refused if another got there
        except OSError:
            for child in staging.iterdir():
                child.unlink()
            staging.rmdir()
        fsync_dir(folder.parent)
        return folder


def evidence_stamp(now: dt.datetime) -> str:
    """``20261203T171500Z``: how evidence folders sort."""
    return now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
