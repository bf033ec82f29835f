"""The merchant's page, API and console, on SQLite and PostgreSQL (``settings``):

* who per policy: a merchant's key sees staff pseudonymously (team, role, country, a
  pseudonym per merchant and UTC day; no event text, the leaf hash instead), apps by name; the
  platform's reader key and a merchant with ``merchant_staff_identity=named`` see names;
* each filter and the customer lookup select exactly the events a plain reading selects;
  filters are carried by the cursor; bad filters are 422 naming the parameter;
* a merchant key or account reaches only its own merchant (403);
* the CSV: header row, formula cells neutralised, every row checked by
  ``sentinelle ledger verify-accesses`` (and the JSON page too); a changed row fails it;
* a stored event changed in the database: the page is still served, with the server's
  warning, and that row fails the offline check;
* the console page: filter form, CSV link, rows carrying what proofs.js checks.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_support import console_script
from fastapi.testclient import TestClient

from console_support import Console, login, open_console
from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.config import Settings

MERCHANT = "m-1"


def _event(n: int) -> dict[str, Any]:
    """Twelve kinds of access to m-1 (and a few to m-2), varied on every filtered field."""
    kinds = ["staff", "app", "integration", "staff"]
    event: dict[str, Any] = {
        "id": f"e-{n:03d}",
        "time": f"2026-11-{1 + n % 5:02d}T{n % 24:02d}:00:00Z",
        "actor": {"id": f"agent-{n % 3}", "kind": kinds[n % 4], "role": "support", "team": "t1"},
        "action": ["view", "search", "export"][n % 3],
        "merchant": "m-2" if n % 7 == 6 else MERCHANT,
        "resource": {"type": "customer", "count": 1 + n % 4},
        "subjects": [f"c-{n % 5}", f"c-{n % 4}"],
        "data": [["contact"], ["address", "special"], ["payment_partial"]][n % 3],
        "channel": "support_console",
        "outcome": "denied" if n % 5 == 4 else "allowed",
        "source": {"country": "FR", "ip": "10.0.0.7"},
    }
    if n % 2 == 0:
        event["justification"] = {"ticket": f"T-{n}", "reason": "customer_request"}
    if n == 3:
        event["actor"]["role"] = "=HYPERLINK(1)"  # a formula, in a CSV cell it must not run
    return event


EVENTS = [_event(n) for n in range(60)]


@dataclass
class World:
    client: TestClient
    reader: dict[str, str]
    merchant: dict[str, str]
    other: dict[str, str]
    settings: Settings


def _world(settings: Settings) -> Iterator[World]:
    from sentinelle.api.main import create_app

    app = create_app(settings)
    store = app.state.sentinelle.store
    with TestClient(app) as client:

        def key(name: str, role: Role, merchant: str | None = None) -> dict[str, str]:
            made = create_key(store, name=name, role=role, merchant=merchant, by="tests")
            return {"Authorization": f"Bearer {made}"}

        ingest = key("ingest", Role.INGEST)
        sent = client.post("/v1/events", json=EVENTS, headers=ingest)
        assert sent.status_code == 200, sent.text
        yield World(
            client,
            key("reader", Role.READER),
            key("m1", Role.MERCHANT, MERCHANT),
            key("m2", Role.MERCHANT, "m-2"),
            settings,
        )


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    yield from _world(settings)


def _all(world: World, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every item, following ``next`` (the cursor alone: it carries the filters)."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 7, **params}
    while True:
        page = world.client.get(f"/v1/merchants/{MERCHANT}/accesses", params=query, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        items.extend(body["items"])
        if body["next"] is None:
            return items
        query = {"limit": 7, "cursor": body["next"]}


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["shown"]["id"] for i in items]


def _expected(keep: Any) -> list[str]:
    """The ids a plain reading of the events selects, newest (last stored) first."""
    return [e["id"] for e in reversed(EVENTS) if e["merchant"] == MERCHANT and keep(e)]


FILTERS = [
    ({}, lambda _: True),
    ({"kind": "app"}, lambda e: e["actor"]["kind"] == "app"),
    ({"kind": ["app", "integration"]}, lambda e: e["actor"]["kind"] in ("app", "integration")),
    ({"action": "export"}, lambda e: e["action"] == "export"),
    ({"outcome": "denied"}, lambda e: e["outcome"] == "denied"),
    ({"category": "special"}, lambda e: "special" in e["data"]),
    ({"justified": "false"}, lambda e: "justification" not in e),
    (
        {"justified": "true", "outcome": "allowed"},
        lambda e: "justification" in e and e["outcome"] == "allowed",
    ),
    ({"customer": "c-3"}, lambda e: "c-3" in e["subjects"]),
    (
        {"customer": "c-3", "kind": "staff"},
        lambda e: "c-3" in e["subjects"] and e["actor"]["kind"] == "staff",
    ),
    ({"customer": "c-nobody"}, lambda _: False),
    (
        {"since": "2026-11-02T00:00:00Z", "until": "2026-11-04T00:00:00Z"},
        lambda e: "2026-11-02" <= e["time"][:10] < "2026-11-04",
    ),
]


@pytest.mark.parametrize(("params", "keep"), FILTERS, ids=[str(p) for p, _ in FILTERS])
def test_each_filter_selects_what_a_plain_reading_selects(
    world: World, params: dict[str, Any], keep: Any
) -> None:
    assert _ids(_all(world, world.reader, **params)) == _expected(keep)


def test_a_merchant_sees_staff_pseudonymously_and_apps_by_name(world: World) -> None:
    items = _all(world, world.merchant)
    assert _ids(items) == _expected(lambda _: True)
    by_id = {e["id"]: e for e in EVENTS}
    days: dict[tuple[str, str], set[str]] = {}
    for item in items:
        shown, sent = item["shown"], by_id[item["shown"]["id"]]
        assert shown["team"] == "t1" and shown["country"] == "FR"
        if sent["actor"]["kind"] == "staff":
            assert item["event"] is None and not shown["named"]
            assert re.fullmatch(r"staff-[0-9a-f]{8}", shown["actor"])
            assert "agent-" not in json.dumps(item) and "10.0.0.7" not in json.dumps(item)
            days.setdefault((sent["actor"]["id"], sent["time"][:10]), set()).add(shown["actor"])
        else:
            assert (
                item["event"] == sent and shown["named"] and shown["actor"] == sent["actor"]["id"]
            )
    # one pseudonym per person and day; another person or another day, another pseudonym
    assert all(len(p) == 1 for p in days.values())
    assert len({next(iter(p)) for p in days.values()}) == len(days)
    # the platform's reader key sees every name and every event text
    named = _all(world, world.reader)
    assert all(i["event"] is not None and i["shown"]["named"] for i in named)


def test_the_named_policy_shows_merchants_names(settings: Settings) -> None:
    for world in _world(settings.model_copy(update={"merchant_staff_identity": "named"})):
        items = _all(world, world.merchant, kind="staff")
        assert items and all(i["event"] is not None for i in items)
        assert {i["shown"]["actor"] for i in items} <= {"agent-0", "agent-1", "agent-2"}


def test_a_merchant_reaches_only_its_own_merchant(world: World) -> None:
    c = world.client
    for path in ("/v1/merchants/m-1/accesses", "/v1/merchants/m-1/accesses.csv"):
        assert c.get(path, headers=world.other).status_code == 403
        assert c.get(path).status_code == 401
    m2 = c.get("/v1/merchants/m-2/accesses", headers=world.other).json()["items"]
    assert {i["shown"]["id"] for i in m2} == {e["id"] for e in EVENTS if e["merchant"] == "m-2"}
    # a cursor of m-1 does not open m-2's list
    first = c.get("/v1/merchants/m-1/accesses?limit=2", headers=world.reader).json()
    moved = c.get(
        "/v1/merchants/m-2/accesses", params={"cursor": first["next"]}, headers=world.other
    )
    assert moved.status_code == 422 and moved.json()["detail"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"kind": "robot"}, "kind"),
        ({"action": "steal"}, "action"),
        ({"outcome": "maybe"}, "outcome"),
        ({"category": "dna"}, "category"),
        ({"justified": "perhaps"}, "justified"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-03T00:00:00Z", "until": "2026-11-02T00:00:00Z"}, "until"),
        ({"customer": "x" * 129}, "customer"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_a_bad_filter_is_422_naming_it(world: World, params: dict[str, str], name: str) -> None:
    paths = ["/v1/merchants/m-1/accesses"]
    if name != "cursor":  # the export has no cursor: it runs to the end
        paths.append("/v1/merchants/m-1/accesses.csv")
    for path in paths:
        answer = world.client.get(path, params=params, headers=world.reader)
        assert answer.status_code == 422, (path, answer.text)
        assert name in [e["loc"][1] for e in answer.json()["detail"]]


def test_the_cursor_carries_the_filters_and_refuses_others(world: World) -> None:
    c = world.client
    first = c.get(
        "/v1/merchants/m-1/accesses", params={"limit": 2, "kind": "staff"}, headers=world.reader
    ).json()
    same = c.get(
        "/v1/merchants/m-1/accesses",
        params={"cursor": first["next"], "kind": "staff"},
        headers=world.reader,
    )
    assert same.status_code == 200
    other = c.get(
        "/v1/merchants/m-1/accesses",
        params={"cursor": first["next"], "kind": "app"},
        headers=world.reader,
    )
    assert other.status_code == 422 and "other filters" in other.text


def test_the_cursor_takes_the_same_filters_in_any_order(world: World) -> None:
    c = world.client
    given = {"kind": ["staff", "app"], "limit": 2}  # not in the order the cursor keeps them
    first = c.get("/v1/merchants/m-1/accesses", params=given, headers=world.reader).json()
    again = c.get(
        "/v1/merchants/m-1/accesses",
        params={**given, "kind": ["staff", "app", "staff"], "cursor": first["next"]},
        headers=world.reader,
    )
    assert again.status_code == 200, again.text


@dataclass
class Checked:
    exit_code: int
    output: str


def _verify(tmp_path: Path, name: str, text: str | bytes, key: str) -> Checked:
    """``sentinelle ledger verify-accesses`` on ``text`` (a real process, no database)."""
    listing = tmp_path / name
    if isinstance(text, bytes):
        listing.write_bytes(text)
    else:
        listing.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [console_script(), "ledger", "verify-accesses", str(listing), "--key", key],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return Checked(done.returncode, done.stdout + done.stderr)


def test_the_csv_export_is_safe_and_verifies(world: World, tmp_path: Path) -> None:
    c = world.client
    key = c.get("/v1/ledger/key", headers=world.merchant).json()["verifier_key"]
    answer = c.get("/v1/merchants/m-1/accesses.csv", headers=world.merchant)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text, newline="")))
    assert [r["event_id"] for r in rows] == _expected(lambda _: True)
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    formula = next(r for r in rows if r["event_id"] == "e-003")
    assert formula["role"] == "'=HYPERLINK(1)"
    staff = next(r for r in rows if r["actor_kind"] == "staff")
    assert staff["event"] == "" and staff["named"] == "no" and len(staff["leaf_hash"]) == 64
    app = next(r for r in rows if r["actor_kind"] == "app")
    assert json.loads(app["event"])["id"] == app["event_id"]
    done = _verify(tmp_path, "all.csv", answer.text, key)
    assert done.exit_code == 0, done.output
    assert f"{len(rows)} of {len(rows)} rows verified" in done.output
    # filtered, over several pages of the export: the same rows as the JSON pages
    lookup = c.get("/v1/merchants/m-1/accesses.csv?customer=c-2", headers=world.reader).text
    assert [r["event_id"] for r in csv.DictReader(io.StringIO(lookup, newline=""))] == _expected(
        lambda e: "c-2" in e["subjects"]
    )
    assert _verify(tmp_path, "c2.csv", lookup, key).exit_code == 0
    # the JSON page verifies the same way; a changed row or a wrong key fails
    page = c.get("/v1/merchants/m-1/accesses?limit=5", headers=world.reader).text
    assert _verify(tmp_path, "page.json", page, key).exit_code == 0
    changed = page.replace('"action":"view"', '"action":"delete"', 1)
    failed = _verify(tmp_path, "changed.json", changed, key)
    assert failed.exit_code == 1 and "FAILED" in failed.output
    other_key = key[: key.index("+") + 1] + "00000000" + key[key.rindex("+") :]
    assert _verify(tmp_path, "page2.json", page, other_key).exit_code != 0
    # A listing that is no page is named as such: a JSON array, a file that is not text.
    array = _verify(tmp_path, "array.json", f"[{page}]", key)
    assert array.exit_code == 1 and "the listing is a JSON array" in array.output
    binary = _verify(tmp_path, "binary.json", b"\xd9" + page.encode(), key)
    assert binary.exit_code == 1
    assert binary.output.strip().endswith("binary.json: the file is not UTF-8 text")


def test_a_changed_event_is_served_and_fails_its_check(world: World, tmp_path: Path) -> None:
    c = world.client
    key = c.get("/v1/ledger/key", headers=world.reader).json()["verifier_key"]
    target = next(
        e for e in reversed(EVENTS) if e["merchant"] == MERCHANT and e["outcome"] == "allowed"
    )
    with world.client.app.state.sentinelle.store.writer() as w:  # type: ignore[attr-defined]
        w._x(
            "UPDATE events SET body = replace(body, ?, ?) WHERE id = ?",
            ('"outcome":"allowed"', '"outcome":"denied"', target["id"]),
        )
    page = c.get("/v1/merchants/m-1/accesses?limit=5", headers=world.reader)
    assert page.status_code == 200
    done = _verify(tmp_path, "page.json", page.text, key)
    assert done.exit_code == 1
    assert re.search(rf"{target['id']}: FAILED", done.output), done.output
    assert done.output.count("FAILED") == 1


@pytest.fixture
def console(settings: Settings) -> Iterator[Console]:
    yield from open_console(settings)


def test_the_console_page_filters_exports_and_carries_the_proofs(console: Console) -> None:
    ingest = create_key(console.store, name="ingest", role=Role.INGEST, by="t")
    client = console.clients[0]
    sent = client.post("/v1/events", json=EVENTS, headers={"Authorization": f"Bearer {ingest}"})
    assert sent.status_code == 200
    console.user("m1@example.org", Role.MERCHANT, MERCHANT)
    console.user("m2@example.org", Role.MERCHANT, "m-2")
    browser = console.client()
    assert login(browser, "m1@example.org").status_code == 303
    page = browser.get("/merchants/m-1?kind=app&since=2026-11-02&until=2026-11-03")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-leaf-index="(\d+)"', page.text)
    wanted = _expected(
        lambda e: e["actor"]["kind"] == "app" and "2026-11-02" <= e["time"][:10] <= "2026-11-03"
    )
    assert len(rows) == len(wanted) > 0
    assert all(f"<code>{i}</code></summary>" in page.text for i in wanted)
    assert 'data-event="{&#34;action&#34;' in page.text  # an app's row: its stored text
    assert "/static/proofs.js" in page.text
    link = re.search(r'href="(/v1/merchants/m-1/accesses\.csv\?[^"]+)"', page.text)
    assert link is not None
    export = browser.get(link.group(1).replace("&amp;", "&"))
    assert export.status_code == 200
    got = [r["event_id"] for r in csv.DictReader(io.StringIO(export.text, newline=""))]
    assert got == wanted
    staff = browser.get("/merchants/m-1?kind=staff").text
    assert "data-leaf-hash=" in staff and "agent-" not in staff and 'class="pseudonym"' in staff
    bad = browser.get("/merchants/m-1?kind=robot")
    assert bad.status_code == 200 and "Filters not applied: kind" in bad.text
    assert browser.get("/merchants/m-2").status_code == 403
    assert browser.get("/v1/merchants/m-2/accesses.csv").status_code == 403


def test_only_staff_are_shown_wanting_a_ticket(console: Console) -> None:
    """Tickets and grants are asked of staff: a staff access without one is flagged, an app's
    is not (apps read under the shop's installation); and a merchant is
    not shown the operator's setting when the guard has no policy."""
    ingest = create_key(console.store, name="ingest", role=Role.INGEST, by="t")
    client = console.clients[0]
    sent = client.post("/v1/events", json=EVENTS, headers={"Authorization": f"Bearer {ingest}"})
    assert sent.status_code == 200
    console.user("m1@example.org", Role.MERCHANT, MERCHANT)
    browser = console.client()
    assert login(browser, "m1@example.org").status_code == 303
    flagged = '<strong class="unjustified">no ticket or grant</strong>'
    staff = browser.get("/merchants/m-1?kind=staff&justified=false").text
    assert staff.count(flagged) == len(re.findall(r'<tr data-leaf-index="', staff)) > 0
    assert "not asked of" not in staff
    apps = browser.get("/merchants/m-1?kind=app&justified=false").text
    rows = len(re.findall(r'<tr data-leaf-index="', apps))
    assert rows > 0 and flagged not in apps
    assert apps.count("no ticket: not asked of apps") == rows
    home = browser.get("/merchants/m-1").text
    assert "SENTINELLE_GUARD_POLICY" not in home
    assert "The platform has not set up its access policy" in home
    assert "No grant was ever requested for your customers' data." in home
    # Staff reading the same page are told the setting, and it is not "your" data.
    console.user("dpo@example.org", Role.DPO)
    staff_browser = console.client()
    assert login(staff_browser, "dpo@example.org").status_code == 303
    seen = staff_browser.get("/merchants/m-1").text
    assert "The guard has no policy (SENTINELLE_GUARD_POLICY)" in seen
    assert "No grant was ever requested for this merchant's customers' data." in seen
    assert (
        staff_browser.get("/merchants/m-1?kind=app&justified=false").text.count(
            "no ticket: not asked of apps"
        )
        == rows
    )
