"""Secret files: created once 0600 without leftovers, refused when others can read them."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sentinelle.errors import ConfigError
from sentinelle.keyfile import load_or_create


def _load(path: Path, value: bytes = b"secret") -> bytes:
    return load_or_create(path, what="test key", make=lambda: value, parse=bytes)


def test_created_once_private_and_without_leftovers(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k"
    assert _load(path, b"first") == b"first"
    assert _load(path, b"second") == b"first"  # never replaced
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["k"]


def test_concurrent_creators_read_the_same_secret(tmp_path: Path) -> None:
    path = tmp_path / "k"
    with ThreadPoolExecutor(8) as pool:
        got = set(pool.map(lambda i: _load(path, f"value {i}".encode()), range(32)))
    assert len(got) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["k"]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_file_others_can_access_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k"
    _load(path)
    os.chmod(path, mode)
    with pytest.raises(ConfigError, match=r"test key .* accessible by group or others.*chmod 600"):
        _load(path)


def test_a_file_too_large_to_be_a_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_bytes(b"x" * 10_000)
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match="too large"):
        _load(path)


def test_a_directory_in_place_of_the_key_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match=r"test key .*/k is not a regular file"):
        _load(path)
    assert path.is_dir() and not any(path.iterdir())
