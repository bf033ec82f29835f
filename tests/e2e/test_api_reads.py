"""End to end: the read routes of alerts and of a merchant's accesses, on both stores.

Alerts are written straight into the store (many sharing one time, so the id breaks ties) and
listed page by page under several filters: every matching alert comes exactly once, newest
first. A merchant's accesses come from simulated events sent through ``POST /v1/events``;
each page's proofs are checked as a merchant would: the checkpoint's signature with the key
of ``/v1/ledger/key``, the leaf recomputed from the event with an independent RFC 8785
implementation, the proof against the checkpoint's root.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import rfc8785
from fastapi.testclient import TestClient

from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.detect import DetectionRunner
from sentinelle.detect.runner import alert_from_row
from sentinelle.events import ACCESS_ACTIONS
from sentinelle.ledger.checkpoint import Verifier
from sentinelle.ledger.merkle import leaf_hash, verify_inclusion
from sentinelle.sim import generate_events
from sentinelle.store import Store
from sentinelle.store.alerts import AlertRow
from sentinelle.timeutil import SECOND, iso, parse_time

ORIGIN = "sentinelle.local/ledger"
MERCHANT, OTHER = "m-1000", "m-1001"
T0 = parse_time("2026-11-02T08:00:00Z")


@dataclass(frozen=True, slots=True)
class Api:
    """A TestClient on the app, its store, and keys: ``ingest``, ``reader``, and ``merchant``
    (a merchant key bound to :data:`MERCHANT`)."""

    client: TestClient
    store: Store
    ingest: str
    reader: str
    merchant: str

    def get(self, path: str, *, key: str | None = None, **params: Any) -> httpx.Response:
        auth = {"Authorization": f"Bearer {key or self.reader}"}
        response: httpx.Response = self.client.get(path, params=params, headers=auth)
        return response

    def ok(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def post_events(self, events: list[dict[str, Any]]) -> None:
        headers = {"Authorization": f"Bearer {self.ingest}", "Content-Type": "application/json"}
        response = self.client.post("/v1/events", content=json.dumps(events), headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["stored"] == len(events)


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    # Staff named to the merchant: these tests compare whole events across pages (the
    # pseudonymous listing, which withholds staff events, is test_merchant_accesses').
    app = create_app(settings.model_copy(update={"merchant_staff_identity": "named"}))
    state = app.state.sentinelle
    with TestClient(app) as client:
        yield Api(
            client=client,
            store=state.store,
            ingest=create_key(state.store, name="ingest", by="tests"),
            reader=create_key(state.store, name="reader", role=Role.READER, by="tests"),
            merchant=create_key(
                state.store, name="shop", role=Role.MERCHANT, merchant=MERCHANT, by="tests"
            ),
        )


def _pages(
    fetch: Callable[..., dict[str, Any]], **params: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every item across pages, and the pages themselves (following ``next``)."""
    pages = [fetch(**params)]
    while pages[-1]["next"] is not None:
        assert len(pages) < 1000, "the cursor does not advance"
        pages.append(fetch(**params, cursor=pages[-1]["next"]))
    return [item for page in pages for item in page["items"]], pages


def _cursor_error(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["query", "cursor"]]


# -- alerts ------------------------------------------------------------------------------------

DETECTORS = ("breadth_volume", "off_hours", "no_ticket")
ACTORS = ("agent-1", "agent-2", "agent-3")


def _alert_rows(count: int) -> list[AlertRow]:
    """``count`` alerts, four at a time sharing one trigger time (the id breaks the tie), with
    ids that do not sort like their times."""
    rows = []
    for i in range(count):
        t = T0 + (i // 4) * 60 * SECOND
        rows.append(
            AlertRow(
                id=f"al-{(i * 7919) % 1000:03d}-{i}",
                actor=ACTORS[i % 3],
                detector=DETECTORS[(i // 2) % 3],
                time_us=t,
                last_us=t + SECOND,
                severity=1 + i % 4,
                score=10.0 + i,
                merchants_json=json.dumps([f"m-{1000 + i % 5}"]),
                events_json=json.dumps([f"evt-{i}"]),
                reasons_json=json.dumps([f"reason {i}"]),
            )
        )
    return rows


def _store_alerts(store: Store, rows: list[AlertRow]) -> None:
    with store.writer() as w:
        w.upsert_alerts(rows)


_UNTRIAGED = {"status": "new", "triage": []}  # alerts nobody has triaged yet


def _newest_first(rows: list[AlertRow]) -> list[dict[str, Any]]:
    return [
        alert_from_row(r).to_dict() | _UNTRIAGED
        for r in sorted(rows, key=lambda r: (r.time_us, r.id))[::-1]
    ]


@pytest.mark.parametrize("limit", [1, 7, 500])
def test_alert_pages_cover_every_alert_once_newest_first(api: Api, limit: int) -> None:
    rows = _alert_rows(61)
    _store_alerts(api.store, rows)
    since, until = T0 + 3 * 60 * SECOND, T0 + 11 * 60 * SECOND
    cases: list[tuple[dict[str, Any], Callable[[AlertRow], bool]]] = [
        ({}, lambda _: True),
        ({"min_severity": "medium"}, lambda r: r.severity >= 2),
        ({"min_severity": "high"}, lambda r: r.severity >= 3),
        ({"min_severity": "critical"}, lambda r: r.severity >= 4),
        ({"detector": "off_hours"}, lambda r: r.detector == "off_hours"),
        ({"actor": "agent-2"}, lambda r: r.actor == "agent-2"),
        ({"since": iso(since)}, lambda r: r.time_us >= since),
        ({"until": iso(until)}, lambda r: r.time_us < until),
        (
            {
                "since": iso(since),
                "until": iso(until),
                "actor": "agent-1",
                "min_severity": "medium",
            },
            lambda r: since <= r.time_us < until and r.actor == "agent-1" and r.severity >= 2,
        ),
        ({"actor": "nobody"}, lambda _: False),
    ]
    for params, keep in cases:
        items, pages = _pages(lambda **p: api.ok("/v1/alerts", **p), limit=limit, **params)
        expected = _newest_first([r for r in rows if keep(r)])
        assert items == expected, params
        assert len({i["id"] for i in items}) == len(items)
        assert len(pages) == max(1, -(-len(expected) // limit)), params
        assert all(len(p["items"]) == limit for p in pages[:-1])
        assert pages[-1]["next"] is None


def test_alerts_are_listed_as_the_cli_prints_them(api: Api) -> None:
    rows = _alert_rows(9)
    _store_alerts(api.store, rows)
    cli = [a.to_dict() | _UNTRIAGED for a in DetectionRunner(api.store).alerts()]  # oldest first
    got = api.ok("/v1/alerts")
    assert got == {"items": cli[::-1], "next": None}
    assert set(got["items"][0]) == {
        "id",
        "actor",
        "time",
        "detector",
        "severity",
        "score",
        "merchants",
        "events",
        "reasons",
        "status",
        "triage",
    }


def test_one_alert_by_id(api: Api) -> None:
    rows = _alert_rows(5)
    _store_alerts(api.store, rows)
    assert api.ok(f"/v1/alerts/{rows[3].id}") == alert_from_row(rows[3]).to_dict() | _UNTRIAGED
    missing = api.get("/v1/alerts/al-unknown")
    assert missing.status_code == 404
    assert "al-unknown" in missing.json()["detail"]


def test_alert_query_errors_are_422_naming_the_parameter(api: Api) -> None:
    _store_alerts(api.store, _alert_rows(5))
    accesses_cursor = base64.urlsafe_b64encode(b'["accesses",5,3,"m-1000"]').decode()
    for bad in (
        "not-a-cursor!",
        "",
        base64.urlsafe_b64encode(b"{}").decode(),
        base64.urlsafe_b64encode(b'["alerts",-1,"x"]').decode(),
        base64.urlsafe_b64encode(b'["alerts","1","x"]').decode(),
        base64.urlsafe_b64encode(b'["alerts",1]').decode(),
        base64.urlsafe_b64encode(b'["alerts",9223372036854775808,"x"]').decode(),  # > BIGINT
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        accesses_cursor,
        "x" * 600,
    ):
        _cursor_error(api.get("/v1/alerts", cursor=bad))
    for name, value in (
        ("limit", 0),
        ("limit", 501),
        ("min_severity", "severe"),
        ("since", "2026-11-02T08:00:00"),  # no offset: not RFC 3339
        ("since", "0001-01-01T00:00:00+05:00"),  # before the year 1 in UTC
        ("until", "9999-12-31T23:59:59-01:00"),  # after the year 9999
        ("until", "yesterday"),
    ):
        extra: dict[str, Any] = {name: value}
        response = api.get("/v1/alerts", **extra)
        assert response.status_code == 422, (name, value)
        assert [e["loc"] for e in response.json()["detail"]] == [["query", name]]


def test_a_merchant_key_reads_no_alerts(api: Api) -> None:
    _store_alerts(api.store, _alert_rows(3))
    assert api.get("/v1/alerts", key=api.merchant).status_code == 403
    assert api.get("/v1/alerts/al-000-0", key=api.merchant).status_code == 403
    assert api.get("/v1/alerts", key=api.ingest).status_code == 403
    # Refused before the query is looked at: no key, or the wrong role, with invalid values.
    bad = {"limit": 0, "cursor": "%%%", "since": "yesterday"}
    assert api.client.get("/v1/alerts", params=bad).status_code == 401
    assert api.get("/v1/alerts", key=api.merchant, **bad).status_code == 403
    assert api.get(f"/v1/merchants/{OTHER}/accesses", key=api.merchant, **bad).status_code == 403


# -- a merchant's accesses ---------------------------------------------------------------------


def _sim(count: int, tag: str, *, seed: int) -> list[dict[str, Any]]:
    """Simulated access and context events of merchants m-1000 to m-1002, ids tagged."""
    return [
        {**e, "id": f"{tag}-{e['id']}"}
        for e in generate_events(events=count, seed=seed, merchants=3)
    ]


def _accesses_in_store(
    store: Store, merchant: str, size: int, keep: Callable[[int], bool] = lambda _: True
) -> list[tuple[int, str]]:
    """``(leaf index, body)`` of the merchant's access events in the tree of ``size``, newest
    first, read by walking every stored event."""
    found = [
        (seq, body)
        for rows in store.iter_events()
        for seq, _, t_us, action, _, merchant_, _, body in rows
        if merchant_ == merchant and action in ACCESS_ACTIONS and seq < size and keep(t_us)
    ]
    return found[::-1]


def _checked(api: Api, page: dict[str, Any]) -> int:
    """Check the page's checkpoint and every proof as a merchant would; the tree size."""
    key = api.get("/v1/ledger/key", key=api.merchant).json()["verifier_key"]
    cp = Verifier.from_verifier_key(key).verify(page["checkpoint"], origin=ORIGIN)
    assert cp.size == page["size"]
    for item in page["items"]:
        hashed = bytes.fromhex(item["leaf_hash"])
        if item["event"] is not None:  # shown: it is the leaf the hash is of
            assert leaf_hash(rfc8785.dumps(item["event"])) == hashed
        path = [bytes.fromhex(h) for h in item["proof"]]
        verify_inclusion(hashed, item["leaf_index"], cp.size, path, cp.root)
    return cp.size


def test_accesses_newest_first_across_pages_each_proven(api: Api) -> None:
    for n, seed in enumerate((1, 2, 3)):  # three batches: three checkpoints
        api.post_events(_sim(150, f"b{n}", seed=seed))
    size = api.store.ledger_size()

    def fetch(**params: Any) -> dict[str, Any]:
        response = api.get(f"/v1/merchants/{MERCHANT}/accesses", key=api.merchant, **params)
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        assert set(page) == {"checkpoint", "size", "items", "next"}
        assert _checked(api, page) == size  # every page: the first page's checkpoint
        if page["next"] is not None and len(pages_seen) == 0:
            # Events arrive between the pages: the listing stays on its checkpoint.
            api.post_events(_sim(60, "late", seed=9))
        pages_seen.append(page)
        return page

    pages_seen: list[dict[str, Any]] = []
    items, pages = _pages(fetch, limit=7)
    assert api.store.ledger_size() > size
    expected = _accesses_in_store(api.store, MERCHANT, size)
    assert len(expected) > 14  # three pages at least
    assert [i["leaf_index"] for i in items] == [seq for seq, _ in expected]
    assert [i["event"] for i in items] == [json.loads(body) for _, body in expected]
    assert all(i["event"]["merchant"] == MERCHANT and "action" in i["event"] for i in items)
    assert all(len(p["items"]) == 7 for p in pages[:-1])
    assert len({p["checkpoint"] for p in pages}) == 1

    # A new listing starts from the latest checkpoint, which includes the late events.
    fresh = api.ok(f"/v1/merchants/{MERCHANT}/accesses", limit=500)
    assert fresh["size"] == api.store.ledger_size()
    assert [i["leaf_index"] for i in fresh["items"]] == [
        seq for seq, _ in _accesses_in_store(api.store, MERCHANT, fresh["size"])
    ]
    assert _checked(api, fresh) == fresh["size"]


def test_accesses_within_a_time_window(api: Api) -> None:
    api.post_events(_sim(300, "w", seed=5))
    events = _accesses_in_store(api.store, OTHER, api.store.ledger_size())
    times = sorted(parse_time(json.loads(b)["time"]) for _, b in events)
    since, until = times[len(times) // 4], times[3 * len(times) // 4]
    items, pages = _pages(
        lambda **p: api.ok(f"/v1/merchants/{OTHER}/accesses", **p),
        since=iso(since),
        until=iso(until),
        limit=5,
    )
    expected = _accesses_in_store(
        api.store, OTHER, api.store.ledger_size(), lambda t: since <= t < until
    )
    assert 0 < len(expected) < len(events)
    assert [i["leaf_index"] for i in items] == [seq for seq, _ in expected]
    for page in pages:
        _checked(api, page)


def test_a_merchant_key_reads_only_its_own_merchant(api: Api) -> None:
    api.post_events(_sim(100, "own", seed=6))
    own = api.get(f"/v1/merchants/{MERCHANT}/accesses", key=api.merchant)
    assert own.status_code == 200, own.text
    assert own.json()["items"]
    other = api.get(f"/v1/merchants/{OTHER}/accesses", key=api.merchant)
    assert other.status_code == 403
    assert other.json()["detail"] == "a merchant reaches only its own merchant's data"
    unknown = api.get("/v1/merchants/m-nowhere/accesses", key=api.merchant)
    assert (unknown.status_code, unknown.json()) == (403, other.json())  # says nothing more
    assert api.get(f"/v1/merchants/{MERCHANT}/accesses", key=api.ingest).status_code == 403
    assert api.get(f"/v1/merchants/{OTHER}/accesses").status_code == 200  # a reader: any


def test_a_merchant_without_accesses_still_gets_the_checkpoint(api: Api) -> None:
    empty = api.ok("/v1/merchants/m-1000/accesses")
    assert empty == {"checkpoint": None, "size": 0, "items": [], "next": None}
    api.post_events(_sim(50, "few", seed=7))
    got = api.ok("/v1/merchants/m-9999/accesses")
    assert (got["items"], got["next"], got["size"]) == ([], None, api.store.ledger_size())
    assert _checked(api, got) == api.store.ledger_size()


def test_bad_access_cursors_are_422(api: Api) -> None:
    api.post_events(_sim(200, "c", seed=8))
    path = f"/v1/merchants/{MERCHANT}/accesses"
    first = api.ok(path, limit=2)
    assert first["next"] is not None
    size = first["size"]
    # Another merchant's cursor, an alerts cursor, a size with no checkpoint, a position
    # beyond the tree, and what is no cursor at all.
    other = api.ok(f"/v1/merchants/{OTHER}/accesses", limit=2)["next"]

    def made(*values: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")

    for bad in (
        other,
        made("alerts", T0, "al-1"),
        made("accesses", size - 1, 3, MERCHANT, ""),
        made("accesses", size, size + 1, MERCHANT, ""),
        made("accesses", size, 0, MERCHANT, ""),
        made("accesses", size, -2, MERCHANT, ""),
        made("accesses", 2**63, 1, MERCHANT, ""),  # more than a BIGINT holds: not a 500
        "%%%",
        "e30",  # {}
    ):
        _cursor_error(api.get(path, cursor=bad))
    # The cursor as returned works, with or without base64 padding stripped.
    assert api.get(path, cursor=first["next"], limit=2).status_code == 200
    # (size, below, merchant, the filters it carries as a query string: none here)
    assert api.get(path, cursor=made("accesses", size, 5, MERCHANT, "")).status_code == 200
    for name, value in (("limit", 0), ("limit", 501), ("since", "2026-11-02")):
        extra: dict[str, Any] = {name: value}
        response = api.get(path, **extra)
        assert response.status_code == 422, (name, value)
        assert [e["loc"] for e in response.json()["detail"]] == [["query", name]]
