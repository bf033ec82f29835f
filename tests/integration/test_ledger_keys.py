"""The ledger's signing key is bound to its database; rotating it is explicit and recorded.

Each test runs on SQLite and on a real PostgreSQL (``settings`` fixture). "Two data
directories on one database" is two ``Settings`` with different ``data_dir`` and the same
database: the PostgreSQL URL, or for SQLite a ``sqlite:///`` URL naming the first one's file.
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sentinelle.config import Settings
from sentinelle.errors import ConfigError, IntegrityError
from sentinelle.ingest import Ingestor
from sentinelle.ledger import log as ledger_log
from sentinelle.ledger.checkpoint import Checkpoint, SigningKey
from sentinelle.ledger.keys import KEY_FILE, rotation_text
from sentinelle.ledger.log import Ledger
from sentinelle.sim import generate_events
from sentinelle.store import Store, open_store


def lines(evs: list[dict[str, Any]]) -> list[tuple[int, bytes]]:
    return [(i, json.dumps(e).encode()) for i, e in enumerate(evs, 1)]


EVENTS = list(generate_events(events=400, seed=3))[:400]


def sql(store: Store, text: str, params: tuple[Any, ...] = ()) -> Any:
    cur = store._conn.cursor()
    cur.execute(store.sql(text), params)
    return cur.fetchall() if cur.description else None


def shared(settings: Settings, data_dir: Path) -> Settings:
    """Settings for another data directory on the same database as ``settings``."""
    url = settings.database_url or f"sqlite:///{settings.data_dir / 'sentinelle.db'}"
    return Settings(_env_file=None, data_dir=data_dir, database_url=url)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = open_store(settings)
    try:
        yield s
    finally:
        s.close()


def open_ledger(store: Store, settings: Settings, by: str | None = None) -> Ledger:
    return Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin, by=by)


def key_id(key: SigningKey) -> str:
    return f"{key.name}+{key.key_hash.hex()}"


def test_the_database_records_the_verifier_key_on_first_use(
    store: Store, settings: Settings
) -> None:
    ledger = open_ledger(store, settings, by="alice@host1")
    rows = store.ledger_keys()
    assert len(rows) == 1
    seq, verifier_key, from_size, added_us, by, reason, statement = rows[0]
    assert (seq, verifier_key, from_size, by, reason, statement) == (
        0,
        ledger.key.verifier_key(),
        0,
        "alice@host1",
        "first use",
        None,
    )
    assert added_us > 0
    # The public key only: nothing of the private key file is in the database.
    # PRIVATE+KEY+<name>+<hash>+<base64 key>: the base64 itself may hold a '+'.
    secret = (settings.data_dir / KEY_FILE).read_text().strip().split("+", 4)[4]
    assert len(secret) > 40 and secret not in repr(rows)
    # Opening again with the same key changes nothing.
    open_ledger(store, settings)
    assert store.ledger_keys() == rows


def test_a_second_data_directory_on_the_same_database_is_refused(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    first = open_ledger(store, settings)
    Ingestor(store, first).ingest(lines(EVENTS[:100]))
    other = shared(settings, tmp_path / "second")
    with open_store(other) as store2:
        # No key file there: refused, and no key is created behind the user's back.
        with pytest.raises(ConfigError) as info:
            open_ledger(store2, other)
        assert str(info.value).startswith(
            f"the database's ledger is signed by key {key_id(first.key)} (bound "
        )
        assert f"but {other.data_dir} has no {KEY_FILE}" in str(info.value)
        assert not (other.data_dir / KEY_FILE).exists()
        # Another key there: refused, naming both keys and what to do.
        stranger = SigningKey.generate(settings.log_origin)
        other.data_dir.mkdir(parents=True, exist_ok=True)
        stranger.save(other.data_dir / KEY_FILE)
        with pytest.raises(ConfigError) as info:
            open_ledger(store2, other)
        message = str(info.value)
        assert message.startswith(
            f"the signing key in {other.data_dir / KEY_FILE} is {key_id(stranger)}, but the "
            f"database's ledger is signed by {key_id(first.key)} (bound "
        )
        assert "copy its ledger-signing.key here (mode 0600)" in message
        assert "sentinelle ledger rotate-key" in message
        assert "\n" not in message and "PRIVATE" not in message
        # Nothing was signed or recorded with the stranger key, and the ledger still verifies.
        assert len(store2.ledger_keys()) == 1
        first.verify()
        # With the right key file copied over, the second data directory works.
        (other.data_dir / KEY_FILE).unlink()
        first.key.save(other.data_dir / KEY_FILE)
        second = open_ledger(store2, other)
        Ingestor(store2, second).ingest(lines(EVENTS[100:200]))
        assert second.verify().leaves == 200
    assert first.verify().leaves == 200


def test_rotate_key_is_recorded_and_old_checkpoints_still_verify(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    ledger = open_ledger(store, settings)
    Ingestor(store, ledger).ingest(lines(EVENTS[:100]))
    old = ledger.key
    old_note = store.latest_checkpoint().note
    record = ledger.rotate_key(data_dir=settings.data_dir, by="bob@ops", reason="yearly rotation")
    new = ledger.key
    assert new.key_hash != old.key_hash
    assert (record.seq, record.from_size, record.added_by, record.reason) == (
        1,
        100,
        "bob@ops",
        "yearly rotation",
    )
    assert record.verifier.verifier_key() == new.verifier_key()
    # The data directory: the new key in place, the old one archived, both mode 0600.
    archived = settings.data_dir / f"ledger-signing.{old.key_hash.hex()}.retired.key"
    assert archived.exists()
    for path in (settings.data_dir / KEY_FILE, archived):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SigningKey.load_or_create(archived, settings.log_origin).key_hash == old.key_hash
    assert not list(settings.data_dir.glob("*.pending"))
    # The database: the new public key, from size 100, when, who and why, signed by the old key.
    rows = store.ledger_keys()
    assert [r[1] for r in rows] == [old.verifier_key(), new.verifier_key()]
    seq, _, from_size, added_us, by, reason, statement = rows[1]
    assert old.verifier().open_note(statement) == rotation_text(
        settings.log_origin,
        old.verifier(),
        new.verifier(),
        from_size=100,
        at_us=added_us,
        by="bob@ops",
        reason="yearly rotation",
    )
    # New checkpoints are signed by the new key; the old ones still verify with the old key.
    Ingestor(store, ledger).ingest(lines(EVENTS[100:250]))
    latest = store.latest_checkpoint()
    assert latest.size == 250
    assert new.verifier().verify(latest.note).size == 250
    report = ledger.verify(notes=[("old-note", old_note)])
    assert (report.leaves, report.checkpoints, report.keys) == (250, 3, 2)
    assert ledger.check_note(old_note).size == 100
    # A fresh open from the data directory uses the new key; the old key is refused now.
    assert open_ledger(store, settings).key.key_hash == new.key_hash
    stale = shared(settings, tmp_path / "stale")
    stale.data_dir.mkdir()
    old.save(stale.data_dir / KEY_FILE)
    with open_store(stale) as store2:
        with pytest.raises(ConfigError, match=re.escape(f"signed by {key_id(new)} (rotated in ")):
            open_ledger(store2, stale)
    # Rotating again from a data directory that does not hold the current key is refused.
    with pytest.raises(ConfigError):
        Ledger(store, old, []).rotate_key(data_dir=stale.data_dir, by="x", reason="y")
    assert len(store.ledger_keys()) == 2
    assert not list(stale.data_dir.glob("*.pending"))


def test_a_retired_key_cannot_sign_later_checkpoints(store: Store, settings: Settings) -> None:
    ledger = open_ledger(store, settings)
    Ingestor(store, ledger).ingest(lines(EVENTS[:100]))
    old = ledger.key
    ledger.rotate_key(data_dir=settings.data_dir, by="bob", reason="key leaked")
    Ingestor(store, ledger).ingest(lines(EVENTS[100:200]))
    ledger.verify()
    # Whoever holds the leaked key re-signs the newest checkpoint with it.
    cp = store.latest_checkpoint()
    forged = old.sign(Checkpoint(origin=ledger.origin, size=cp.size, root=cp.root))
    sql(store, "UPDATE checkpoints SET note = ? WHERE size = ?", (forged, cp.size))
    with pytest.raises(
        IntegrityError,
        match=rf"^the recorded checkpoint of size 200 is signed by key {re.escape(key_id(old))}, "
        r"which was replaced at tree size 100 \(rotated in .* by bob at tree size 100\)",
    ):
        ledger.verify()


def test_a_key_added_to_the_database_without_the_previous_keys_signature_is_refused(
    store: Store, settings: Settings
) -> None:
    ledger = open_ledger(store, settings)
    Ingestor(store, ledger).ingest(lines(EVENTS[:50]))
    mallory = SigningKey.generate(settings.log_origin)
    text = rotation_text(
        settings.log_origin,
        ledger.key.verifier(),
        mallory.verifier(),
        from_size=50,
        at_us=1,
        by="mallory",
        reason="mine now",
    )
    sql(
        store,
        "INSERT INTO ledger_keys (seq, verifier_key, from_size, added_us, added_by, reason, "
        "statement) VALUES (1, ?, 50, 1, 'mallory', 'mine now', ?)",
        (mallory.verifier_key(), mallory.sign_text(text)),
    )
    expected = (
        rf"^the rotation to ledger key {re.escape(key_id(mallory))} \(#1\) is not signed by the "
        rf"previous key {re.escape(key_id(ledger.key))}"
    )
    with pytest.raises(IntegrityError, match=expected):
        ledger.verify()
    with pytest.raises(IntegrityError, match=expected):
        open_ledger(store, settings)


def test_verify_fails_when_the_recorded_keys_were_deleted(store: Store, settings: Settings) -> None:
    ledger = open_ledger(store, settings)
    Ingestor(store, ledger).ingest(lines(EVENTS[:50]))
    sql(store, "DELETE FROM ledger_keys")
    with pytest.raises(
        IntegrityError, match="^the database records no verifier key for its ledger of 50 leaves"
    ):
        ledger.verify()


def test_an_interrupted_rotation_is_finished_on_the_next_open(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = open_ledger(store, settings)
    Ingestor(store, ledger).ingest(lines(EVENTS[:50]))
    old = ledger.key

    def killed(*_: object, **__: object) -> None:
        raise KeyboardInterrupt  # the process dies after the database recorded the new key

    monkeypatch.setattr(ledger_log, "_install", killed)
    with pytest.raises(KeyboardInterrupt):
        ledger.rotate_key(data_dir=settings.data_dir, by="bob", reason="rotation")
    monkeypatch.undo()
    new_id = store.ledger_keys()[-1][1].split("+")[1]
    assert (settings.data_dir / f"{KEY_FILE}.{new_id}.pending").exists()
    reopened = open_ledger(store, settings)
    assert reopened.key.key_hash.hex() == new_id
    assert (settings.data_dir / f"ledger-signing.{old.key_hash.hex()}.retired.key").exists()
    Ingestor(store, reopened).ingest(lines(EVENTS[50:80]))
    assert reopened.verify().leaves == 80


def test_a_database_from_before_key_binding_binds_only_the_key_that_signed_it(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    ledger = open_ledger(store, settings)
    Ingestor(store, ledger).ingest(lines(EVENTS[:50]))
    sql(store, "DELETE FROM ledger_keys")  # as a database made before migration 7
    other = shared(settings, tmp_path / "other")
    with open_store(other) as store2:
        with pytest.raises(ConfigError, match="^the database's checkpoints are signed by "):
            open_ledger(store2, other)  # creates a new key there, which did not sign them
        assert store2.ledger_keys() == []
    again = open_ledger(store, settings)  # the key that signed them is bound
    assert [r[1] for r in store.ledger_keys()] == [ledger.key.verifier_key()]
    assert again.verify().leaves == 50


def test_rotation_refuses_a_multi_line_reason(store: Store, settings: Settings) -> None:
    ledger = open_ledger(store, settings)
    with pytest.raises(ConfigError, match="one non-empty line"):
        ledger.rotate_key(data_dir=settings.data_dir, by="bob", reason="a\nb")
    assert len(store.ledger_keys()) == 1


def test_a_process_opened_before_a_rotation_cannot_sign_with_the_retired_key(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    running = open_ledger(store, settings)  # e.g. `sentinelle serve`, started before
    Ingestor(store, running).ingest(lines(EVENTS[:50]))
    other = shared(settings, tmp_path / "ops")
    other.data_dir.mkdir()
    running.key.save(other.data_dir / KEY_FILE)
    with open_store(other) as store2:
        rotated = open_ledger(store2, other).rotate_key(
            data_dir=other.data_dir, by="ops", reason="rotation"
        )
    with pytest.raises(
        ConfigError,
        match=rf"^the ledger key was rotated to {re.escape(rotated.key_id)} \(rotated in .*\) "
        r"after this process opened it with .*: restart it to use the new key$",
    ):
        Ingestor(store, running).ingest(lines(EVENTS[50:60]))
    assert store.ledger_size() == 50  # nothing was written
    with pytest.raises(ConfigError, match="restart it"):
        running.checkpoint()
