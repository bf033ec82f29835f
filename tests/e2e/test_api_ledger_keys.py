"""End to end: ``GET /v1/ledger/keys``, every verifier key of the log with the tree sizes it
signs, on both stores; and the standalone verifier following a rotation from a pinned key.

Events are ingested, the key rotated, more events ingested; then the API answers and a
merchant checks checkpoints from before and after the rotation with the keys it lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.ingest import Ingestor
from sentinelle.ledger.checkpoint import Checkpoint, SigningKey, parse_note
from sentinelle.ledger.log import Ledger
from sentinelle.sim import generate_events
from sentinelle.store import open_store
from sentinelle.transparency.verify import (
    KeyHistoryError,
    NoteError,
    verify_key_history,
    verify_note,
    verify_note_by_history,
)


def ingest(store: Any, ledger: Ledger, n: int, seed: int) -> int:
    events = [
        {**e, "id": f"s{seed}-{e['id']}"}
        for e in list(generate_events(events=n, seed=seed, merchants=3))[:n]
    ]
    result = Ingestor(store, ledger).ingest(
        [(i, json.dumps(e).encode()) for i, e in enumerate(events)]
    )
    return result.ledger_size


@pytest.fixture
def rotated(settings: Settings) -> Iterator[dict[str, Any]]:
    """A ledger of two batches signed by the first key, rotated, then one more batch."""
    store = open_store(settings)
    try:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        first_key = ledger.key.verifier_key()
        ingest(store, ledger, 100, 1)
        at = ingest(store, ledger, 100, 2)
        ledger.rotate_key(data_dir=settings.data_dir, by="carol@ops", reason="yearly")
        end = ingest(store, ledger, 100, 3)
        notes = {cp.size: cp.note for cp in store.checkpoints()}
        new_key = ledger.key.verifier_key()
    finally:
        store.close()
    app = create_app(settings)
    store = app.state.sentinelle.store
    with TestClient(app) as client:
        keys = {
            "reader": create_key(store, name="reader", role=Role.READER, by="tests"),
            "merchant": create_key(
                store, name="shop", role=Role.MERCHANT, merchant="m-1000", by="tests"
            ),
            "ingest": create_key(store, name="ingest", by="tests"),
        }
        yield {
            "client": client,
            "keys": keys,
            "first": first_key,
            "new": new_key,
            "at": at,
            "end": end,
            "notes": notes,
            "settings": settings,
            "store": store,
        }


def get(client: TestClient, key: str | None, path: str) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.get(path, headers=headers)


def test_both_keys_are_listed_with_their_sizes(rotated):
    w = rotated
    response = get(w["client"], w["keys"]["merchant"], "/v1/ledger/keys")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["origin"] == w["settings"].log_origin
    first, second = body["keys"]
    assert (first["verifier_key"], first["from_size"], first["until_size"]) == (
        w["first"],
        0,
        w["at"],
    )
    assert (second["verifier_key"], second["from_size"], second["until_size"]) == (
        w["new"],
        w["at"],
        None,
    )
    assert (first["reason"], first["statement"]) == ("first use", None)
    assert (second["by"], second["reason"]) == ("carol@ops", "yearly")
    assert second["statement"].startswith(f"{w['settings'].log_origin} key rotation\n")
    assert first["recorded"].endswith("Z") and second["key_id"] == "+".join(w["new"].split("+")[:2])
    # The current key is the one /v1/ledger/key serves; no private key anywhere.
    current = get(w["client"], w["keys"]["merchant"], "/v1/ledger/key").json()
    assert current["verifier_key"] == w["new"]
    key_file = (w["settings"].data_dir / "ledger-signing.key").read_text()
    assert "PRIVATE" not in response.text and key_file.strip() not in response.text


def test_a_checkpoint_before_the_rotation_verifies_with_the_old_key_from_the_list(rotated):
    w = rotated
    answer = get(w["client"], w["keys"]["merchant"], "/v1/ledger/keys").json()
    old_note, new_note = w["notes"][w["at"] - 100], w["notes"][w["end"]]
    # The current key alone cannot check the old checkpoint …
    with pytest.raises(NoteError, match="no signature by key"):
        verify_note(old_note, w["new"])
    # … the list, followed from the first key pinned at onboarding, checks both.
    history = verify_key_history(answer, w["first"], origin=w["settings"].log_origin)
    assert [k.verifier_key for k in history.keys] == [w["first"], w["new"]]
    assert verify_note_by_history(old_note, history).size == w["at"] - 100
    assert verify_note_by_history(new_note, history).size == w["end"]
    # At the rotation's size, the checkpoint recorded then is the old key's.
    assert verify_note_by_history(w["notes"][w["at"]], history).size == w["at"]
    # Pinned to the new key, the history starts at the rotation: older sizes are not vouched.
    later = verify_key_history(answer, w["new"])
    with pytest.raises(KeyHistoryError, match="pin an older key"):
        verify_note_by_history(old_note, later)
    # The retired key (leaked, maybe) cannot sign past the rotation.
    settings = w["settings"]
    retired = SigningKey.load_or_create(
        settings.data_dir / f"ledger-signing.{w['first'].split('+')[1]}.retired.key",
        settings.log_origin,
    )
    head = Checkpoint.from_body(parse_note(new_note)[0])
    with pytest.raises(NoteError, match="no signature by key"):
        verify_note_by_history(retired.sign(head), history)


def test_a_list_changed_on_the_way_is_refused(rotated):
    w = rotated
    answer = get(w["client"], w["keys"]["merchant"], "/v1/ledger/keys").json()
    # A key of the log's operator's own, put in place of the rotated one.
    other = json.loads(json.dumps(answer))
    other["keys"][1]["verifier_key"] = w["first"]
    with pytest.raises(KeyHistoryError, match="names another log, key or tree size"):
        verify_key_history(other, w["first"])
    # The rotation moved to another size.
    moved = json.loads(json.dumps(answer))
    moved["keys"][1]["from_size"] = moved["keys"][0]["until_size"] = w["at"] - 100
    with pytest.raises(KeyHistoryError, match="names another log, key or tree size"):
        verify_key_history(moved, w["first"])
    # The statement dropped or altered.
    for statement, match in ((None, "no statement"), ("x\n\n— a b\n", "not a signed note")):
        broken = json.loads(json.dumps(answer))
        broken["keys"][1]["statement"] = statement
        with pytest.raises(KeyHistoryError, match=match):
            verify_key_history(broken, w["first"])
    altered = json.loads(json.dumps(answer))
    altered["keys"][1]["statement"] = altered["keys"][1]["statement"].replace("yearly", "daily")
    with pytest.raises(KeyHistoryError, match="does not verify"):
        verify_key_history(altered, w["first"])
    # A pinned key that is not the log's.
    with pytest.raises(KeyHistoryError, match="is not one of the log's keys"):
        verify_key_history(answer, SigningKey.generate("other.example/log").verifier_key())
    with pytest.raises(KeyHistoryError, match="the pinned key: verifier key is not"):
        verify_key_history(answer, "other.example/log+00000000+AQ")


def test_a_tampered_key_record_is_not_served(rotated):
    w = rotated
    store = w["store"]
    cur = store._conn.cursor()
    cur.execute(store.sql("UPDATE ledger_keys SET reason = ? WHERE seq = 1"), ("nothing",))
    store._conn.commit()
    response = get(w["client"], w["keys"]["reader"], "/v1/ledger/keys")
    assert response.status_code == 500
    assert "is not signed by the previous key" in response.json()["detail"]


def test_the_route_needs_a_key_that_may_read_the_checkpoint(rotated):
    w = rotated
    assert get(w["client"], None, "/v1/ledger/keys").status_code == 401
    assert get(w["client"], "snl_not-a-key", "/v1/ledger/keys").status_code == 401
    assert get(w["client"], w["keys"]["ingest"], "/v1/ledger/keys").status_code == 403
    assert get(w["client"], w["keys"]["reader"], "/v1/ledger/keys").status_code == 200
