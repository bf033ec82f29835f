"""``sentinelle monitor`` across a rotation of the log's key (docs/ledger.md "Rotation"): with
only the first key pinned, the monitor follows the rotation the log lists at
``GET /v1/ledger/keys`` (each statement signed by the key before), on both stores; a list it
cannot verify from the pinned key is not followed, and the new key's checkpoints are then a
``bad_checkpoint`` as before. Uses test_monitor's log (the API on loopback, real witnesses)
and monitor (its CLI, its state directory)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from test_monitor import EVENTS, Log, Monitor, log, monitor  # noqa: F401  (fixtures)

from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.cli.monitor import API_KEY_ENV
from sentinelle.monitor import Outcome


def rotate(log: Log) -> str:  # noqa: F811
    """Rotate the log's key (nothing else writing) and serve the API again with the new one;
    the old verifier key."""
    old = log.ledger.key.verifier_key()
    log.ledger.rotate_key(data_dir=log.settings.data_dir, by="carol", reason="yearly")
    log.serve()
    return old


def pin(monitor: Monitor, log: Log, key: str, quorum: int) -> None:  # noqa: F811
    config = {
        "origin": log.ledger.origin,
        "log_keys": [key],
        "witnesses": [w.key for w in log.witnesses],
        "quorum": quorum,
        "url": log.url,
    }
    text = "".join(f"{k} = {json.dumps(v)}\n" for k, v in config.items())
    (monitor.state / "monitor.toml").write_text(text, encoding="utf-8")


def test_the_monitor_follows_a_rotation_from_its_pinned_key(log: Log, monitor: Monitor) -> None:  # noqa: F811
    log.ingest(0, 300)
    log.witness()
    assert monitor.expect(Outcome.OK) == []  # the first key pinned
    first = rotate(log)
    pin(monitor, log, first, quorum=2)  # the API's URL is the same; pinned: the first key only
    log.ingest(300, 600)  # signed by the new key; the witnesses know the old one only
    assert monitor.expect(Outcome.OK) == []
    assert monitor.held() == 300  # the newest witnessed checkpoint
    # With no quorum the state moves to the new key's checkpoint, and the next round still
    # opens it: the held checkpoint is checked with the followed keys too.
    pin(monitor, log, first, quorum=0)
    assert monitor.expect(Outcome.OK) == []
    assert monitor.held() == 600
    assert monitor.expect(Outcome.OK) == []


def test_a_key_list_that_does_not_verify_is_not_followed(log: Log, monitor: Monitor) -> None:  # noqa: F811
    log.ingest(0, 300)
    log.witness()
    assert monitor.expect(Outcome.OK) == []
    first = rotate(log)
    pin(monitor, log, first, quorum=2)
    log.ingest(300, 600)
    # Someone with the database changes the rotation's record: the log serves no list (its
    # chain is checked first: 500), and the first key alone cannot open the new checkpoint.
    cur = log.store._conn.cursor()
    cur.execute(log.store.sql("UPDATE ledger_keys SET reason = 'nothing' WHERE seq = 1"))
    log.store._conn.commit()
    findings = monitor.expect(Outcome.BAD_CHECKPOINT)
    assert [f["finding"] for f in findings] == ["bad_checkpoint"]


def test_a_merchants_slice_across_the_rotation_is_checked(
    log: Log,  # noqa: F811
    monitor: Monitor,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The slice answer from the checkpoint held (the old key's) to the new one (the new
    key's): each end checked with the key of its size."""
    merchant = Counter(e["merchant"] for e in EVENTS[:600] if "merchant" in e).most_common(1)[0][0]
    own = create_key(log.store, name="own", role=Role.MERCHANT, merchant=merchant, by="tests")
    monkeypatch.setenv(API_KEY_ENV, own)  # a merchant's key reads its own slice only
    log.ingest(0, 300)
    log.witness()
    assert monitor.expect(Outcome.OK, "--merchant", merchant) == []
    first = rotate(log)
    pin(monitor, log, first, quorum=0)
    log.ingest(300, 600)
    assert monitor.expect(Outcome.OK, "--merchant", merchant) == []
    assert monitor.held() == 600


def test_a_key_rotated_out_does_not_vouch_for_later_checkpoints(log: Log) -> None:  # noqa: F811
    """Whoever still holds the old key (perhaps why it was rotated) signs a checkpoint past the
    rotation: with the log's list of keys, the monitor refuses it, naming the key's sizes."""
    import httpx

    from sentinelle.errors import IntegrityError
    from sentinelle.ledger.checkpoint import Checkpoint, Verifier
    from sentinelle.monitor.checks import follow_keys, open_checkpoint

    log.ingest(0, 300)
    old_key = log.ledger.key  # the signing key the rotation retires
    first = rotate(log)
    log.ingest(300, 600)
    history = httpx.get(
        f"{log.url}/v1/ledger/keys", headers={"Authorization": f"Bearer {log.key}"}
    ).json()
    pinned = (Verifier.from_verifier_key(first),)
    spans = follow_keys(history, origin=log.ledger.origin, pinned=pinned).spans
    assert (spans[first].from_size, spans[first].until_size) == (0, 300)
    size = log.store.ledger_size()
    forged = old_key.sign(
        Checkpoint(origin=log.ledger.origin, size=size, root=log.ledger.root(size))
    )
    # The old key's signature verifies; without the spans (no list of keys) it is accepted.
    assert open_checkpoint(forged, origin=log.ledger.origin, log_keys=pinned).size == size
    with pytest.raises(IntegrityError, match=r"signing tree sizes 0 to 300, not 600: a key"):
        open_checkpoint(forged, origin=log.ledger.origin, log_keys=pinned, spans=spans)
    # A checkpoint of its own sizes still opens with it.
    recorded = log.store.checkpoint_at(300)
    assert recorded is not None
    opened = open_checkpoint(recorded.note, origin=log.ledger.origin, log_keys=pinned, spans=spans)
    assert opened.size == 300
