"""The monitor's state directory and configuration: written whole, read strictly, refused
(and left alone) when corrupt, locked while a round runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import sentinelle.monitor
from sentinelle.errors import ConfigError
from sentinelle.ledger import Checkpoint, SigningKey, leaf_hash, root_hash
from sentinelle.ledger.cosignature import Cosigner
from sentinelle.monitor.checks import open_checkpoint
from sentinelle.monitor.config import MonitorConfig
from sentinelle.monitor.state import MonitorState, StateDir

ORIGIN = "shop.example/ledger"
KEY = SigningKey.generate(ORIGIN)
NOTE = KEY.sign(Checkpoint(origin=ORIGIN, size=3, root=root_hash([leaf_hash(b"x")] * 3)))


def saved(tmp_path: Path) -> StateDir:
    state = StateDir(tmp_path / "m")
    state.ensure()
    cp = open_checkpoint(NOTE, origin=ORIGIN, log_keys=[KEY.verifier()])
    reported = {"split_view-0123456789abcdef": frozenset({"seen", "webhook"})}
    state.save(
        MonitorState(
            origin=ORIGIN, checkpoint=cp, verified_at="2026-12-03T10:00:00+00:00", reported=reported
        )
    )
    return state


def test_the_state_round_trips_with_private_modes(tmp_path: Path) -> None:
    state = saved(tmp_path)
    assert os.stat(state.path).st_mode & 0o777 == 0o700
    assert os.stat(state.state_file).st_mode & 0o777 == 0o600
    got = state.load(origin=ORIGIN, log_keys=[KEY.verifier()])
    assert got.checkpoint is not None and got.checkpoint.note == NOTE
    assert got.reported == {"split_view-0123456789abcdef": frozenset({"seen", "webhook"})}
    assert [p.name for p in state.path.iterdir()] == ["state.json"]  # no temporary left
    empty = StateDir(tmp_path / "new").load(origin=ORIGIN, log_keys=[KEY.verifier()])
    assert empty == MonitorState(origin=ORIGIN)


def _edit(state: StateDir, **changes: object) -> None:
    data = json.loads(state.state_file.read_text())
    data.update(changes)
    state.state_file.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"format": 2}, "format 2 is not 1"),
        ({"extra": 1}, "it is not an object with exactly the keys"),
        ({"verified_at": None}, "a checkpoint without its time"),
        ({"verified_at": "yesterday"}, "its time 'yesterday' is not ISO 8601"),
        ({"checkpoint": NOTE.replace("\n3\n", "\n4\n")}, "its checkpoint does not verify"),
        ({"checkpoint": 7}, "its checkpoint or time is not a string"),
        ({"reported": {"x": ["seen"]}}, "its 'reported' is not an object of finding ids"),
        ({"reported": []}, "its 'reported' is not an object of finding ids"),
    ],
)
def test_a_corrupt_state_is_refused_and_kept(
    tmp_path: Path, changes: dict[str, object], why: str
) -> None:
    state = saved(tmp_path)
    _edit(state, **changes)
    before = state.state_file.read_bytes()
    with pytest.raises(ConfigError, match=f"^the monitor state {state.state_file} is refused: "):
        state.load(origin=ORIGIN, log_keys=[KEY.verifier()])
    with pytest.raises(ConfigError, match=why):
        state.load(origin=ORIGIN, log_keys=[KEY.verifier()])
    assert state.state_file.read_bytes() == before


@pytest.mark.parametrize("data", [b"", b"{", b"\xff", b"[]", b"null", b"x" * (4 * 1024 * 1024 + 1)])
def test_garbage_is_refused(tmp_path: Path, data: bytes) -> None:
    state = saved(tmp_path)
    state.state_file.write_bytes(data)
    with pytest.raises(ConfigError, match="is refused: "):
        state.load(origin=ORIGIN, log_keys=[KEY.verifier()])


def test_a_state_of_another_log_or_key(tmp_path: Path) -> None:
    state = saved(tmp_path)
    with pytest.raises(ConfigError, match="is for log 'shop.example/ledger', not 'other/log'"):
        state.load(origin="other/log", log_keys=[KEY.verifier()])
    rotated = SigningKey.generate(ORIGIN)
    with pytest.raises(ConfigError, match="keep the old key pinned beside the new one"):
        state.load(origin=ORIGIN, log_keys=[rotated.verifier()])
    assert state.load(origin=ORIGIN, log_keys=[rotated.verifier(), KEY.verifier()]).checkpoint


def test_a_directory_others_can_write_to_is_refused(tmp_path: Path) -> None:
    state = saved(tmp_path)
    state.path.chmod(0o777)
    with pytest.raises(ConfigError, match=r"is writable by group or others \(mode 0777\)"):
        state.ensure()


def test_one_monitor_per_directory(tmp_path: Path) -> None:
    state = saved(tmp_path)
    with state.locked():
        with pytest.raises(ConfigError, match="another monitor is running on"):
            with StateDir(state.path).locked():
                pass
    with state.locked():
        pass  # released


def test_evidence_is_kept_once(tmp_path: Path) -> None:
    state = saved(tmp_path)
    folder = state.keep_evidence("x-split_view", {"held-checkpoint": NOTE, "finding.txt": "a\n"})
    assert sorted(p.name for p in folder.iterdir()) == ["finding.txt", "held-checkpoint"]
    assert os.stat(folder / "held-checkpoint").st_mode & 0o777 == 0o600
    again = state.keep_evidence("x-split_view", {"held-checkpoint": "other"})
    assert again == folder and (folder / "held-checkpoint").read_text() == NOTE
    assert [p.name for p in (state.path / "evidence").iterdir()] == ["x-split_view"]


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_config(tmp_path: Path) -> None:
    w1, w2 = Cosigner.generate("witness.test/w1"), Cosigner.generate("witness.test/w2")
    base = (
        f'origin = "{ORIGIN}"\nlog_keys = ["{KEY.verifier_key()}"]\n'
        f'witnesses = ["{w1.verifier_key()}", "{w2.verifier_key()}"]\n'
    )
    config = MonitorConfig.from_toml(write_config(tmp_path / "a.toml", base + 'url = "http://x"\n'))
    assert (config.quorum, config.url, config.published) == (2, "http://x", None)
    assert [w.key_id for w in config.witnesses] == [w1.verifier().key_id, w2.verifier().key_id]
    refused = {
        base + "quorum = 3\n": "quorum: 3 cosignatures cannot come from 2 pinned witness(es)",
        base + "color = 1\n": "color: Extra inputs are not permitted",
        base.replace(w2.verifier_key(), w1.verifier_key()): "a witness key is listed twice",
        base.replace(w1.verifier_key(), KEY.verifier_key()): "is a log's signing key (0x01)",
        base + "quorum = -1\n": "quorum: Input should be greater than or equal to 0",
        base + "[": "Invalid initial character",
        base.replace("log_keys", "log_key"): "log_keys: Field required",
    }
    for text, why in refused.items():
        path = write_config(tmp_path / "bad.toml", text)
        with pytest.raises(ConfigError) as refusal:
            MonitorConfig.from_toml(path)
        assert str(path) in str(refusal.value) and why in str(refusal.value)
    with pytest.raises(ConfigError, match="cannot read the monitor config .*missing.toml"):
        MonitorConfig.from_toml(tmp_path / "missing.toml")


def test_the_package_exports_resolve() -> None:
    for name in sentinelle.monitor.__all__:
        assert getattr(sentinelle.monitor, name) is not None
    with pytest.raises(AttributeError):
        _ = sentinelle.monitor.nothing  # type: ignore[attr-defined]
