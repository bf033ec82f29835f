"""End to end: ``GET /v1/merchants/{merchant}/slice`` and ``sentinelle ledger slice``, on both
stores. Events go in through ``POST /v1/events``; the answers are checked as a merchant would,
with the standalone verifier and the key of ``/v1/ledger/key``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.cli import main
from sentinelle.config import Settings
from sentinelle.sim import generate_events
from sentinelle.transparency.verify import verify_slice

MERCHANT, OTHER = "m-1000", "m-1001"


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str], list[int]]]:
    app = create_app(settings)
    store = app.state.sentinelle.store
    with TestClient(app) as client:
        keys = {
            "ingest": create_key(store, name="ingest", by="tests"),
            "reader": create_key(store, name="reader", role=Role.READER, by="tests"),
            "merchant": create_key(
                store, name="shop", role=Role.MERCHANT, merchant=MERCHANT, by="tests"
            ),
        }
        sizes = []
        for n, seed in enumerate((1, 2, 3)):  # three batches: three checkpoints
            events = [
                {**e, "id": f"b{n}-{e['id']}"}
                for e in generate_events(events=150, seed=seed, merchants=3)
            ]
            response = client.post(
                "/v1/events",
                content=json.dumps(events),
                headers={"Authorization": f"Bearer {keys['ingest']}"},
            )
            assert response.status_code == 200, response.text
            sizes.append(response.json()["ledger_size"])
        yield client, keys, sizes


def get(client: TestClient, key: str, path: str, **params: Any) -> Any:
    return client.get(path, params=params, headers={"Authorization": f"Bearer {key}"})


def test_a_merchant_proves_its_list_complete_across_pages(api):
    client, keys, sizes = api
    vkey = get(client, keys["merchant"], "/v1/ledger/key").json()["verifier_key"]
    for f, t in ((0, sizes[-1]), (sizes[0], sizes[-1]), (sizes[0], sizes[1])):
        pages = [
            get(
                client,
                keys["merchant"],
                f"/v1/merchants/{MERCHANT}/slice",
                **{"from": f, "to": t, "limit": 5},
            )
        ]
        while pages[-1].json()["next"] is not None:
            pages.append(
                get(
                    client,
                    keys["merchant"],
                    f"/v1/merchants/{MERCHANT}/slice",
                    **{"from": f, "to": t, "limit": 5, "cursor": pages[-1].json()["next"]},
                )
            )
        assert all(p.status_code == 200 for p in pages), pages[-1].text
        got = verify_slice([p.json() for p in pages], verifier_key=vkey, merchant=MERCHANT)
        assert got.to_size == t and len(got.entries) == got.to_head.size - got.from_head.size
    # to defaults to the latest checkpoint
    page = get(client, keys["merchant"], f"/v1/merchants/{MERCHANT}/slice").json()
    assert page["to"]["size"] == sizes[-1] and page["from"]["size"] == 0


def test_a_merchant_key_reads_only_its_own_slice(api):
    client, keys, sizes = api
    assert get(client, keys["merchant"], f"/v1/merchants/{OTHER}/slice").status_code == 403
    assert get(client, keys["reader"], f"/v1/merchants/{OTHER}/slice").status_code == 200
    assert get(client, keys["ingest"], f"/v1/merchants/{OTHER}/slice").status_code == 403


@pytest.mark.parametrize(
    ("params", "param"),
    [
        (lambda z: {"from": z[1], "to": z[0]}, "from"),  # from after to
        (lambda z: {"from": 0, "to": z[0] + 1}, "to"),  # no checkpoint at that size
        (lambda z: {"from": z[0] - 1, "to": z[1]}, "from"),
        (lambda _: {"from": 0, "cursor": "nonsense"}, "cursor"),
        (lambda _: {"to": 2**63}, "to"),  # more than a BIGINT holds: not a 500
        (lambda _: {"from": 2**63}, "from"),
    ],
)
def test_bad_parameters_are_422_naming_them(api, params, param):
    client, keys, sizes = api
    response = get(client, keys["merchant"], f"/v1/merchants/{MERCHANT}/slice", **params(sizes))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", param]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    else:
        code = 0
    out = capsys.readouterr()
    return code, out.out + out.err


def test_the_cli_prints_and_verifies_a_slice(api, settings, monkeypatch, capsys):
    _, _, sizes = api
    monkeypatch.setenv("SENTINELLE_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("SENTINELLE_DATABASE_URL", settings.database_url)
    code, out = cli(capsys, "ledger", "slice", MERCHANT, "--from", str(sizes[0]), "--verify")
    assert code == 0, out
    assert "verified complete" in out
    code, out = cli(capsys, "ledger", "slice", MERCHANT, "--json")
    assert code == 0, out
    answer = json.loads(out)
    assert answer["merchant"] == MERCHANT and answer["next"] is None
    subject = next(s for e in answer["entries"] for s in json.loads(e["event"])["subjects"])
    code, out = cli(capsys, "ledger", "slice", MERCHANT, "--verify", "--customer", subject)
    assert code == 0 and f"customer {subject}: " in out and "access(es)" in out, out
    code, out = cli(capsys, "ledger", "slice", MERCHANT, "--verify", "--customer", "c-nobody")
    assert code == 0 and "not accessed (proven)" in out, out
    code, out = cli(capsys, "ledger", "slice", MERCHANT, "--from", str(sizes[0] + 1))
    assert code == 1 and "--from" in out, out


def test_a_restarted_server_builds_the_merchant_map_before_it_is_asked(api, settings):
    client, keys, sizes = api
    vkey = get(client, keys["merchant"], "/v1/ledger/key").json()["verifier_key"]
    # A second process on the same database (a restart): its map is built at startup, in a
    # thread of its own, to the size the slices are built to, and is the map the newest
    # checkpoint signs.
    app = create_app(settings)
    state = app.state.sentinelle
    assert state.ledger.slices._gsize is None  # nothing built before the server starts
    with TestClient(app) as restarted:
        assert state.warming is not None
        state.warming.join(timeout=60)
        assert not state.warming.is_alive()
        assert state.ledger.slices._gsize == sizes[-1] == state.store.slice_state()
        answer = get(restarted, keys["merchant"], f"/v1/merchants/{MERCHANT}/slice", to=sizes[-1])
        assert answer.status_code == 200, answer.text
        got = verify_slice([answer.json()], verifier_key=vkey, merchant=MERCHANT)
        assert got.to_size == sizes[-1]
