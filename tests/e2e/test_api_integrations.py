"""Integrations as actors, end to end on both stores: events posted to ``POST /v1/events``,
live detection after each batch, the alert an integration's tenfold pull raises, and the
inventory (``GET /v1/integrations``, ``GET /v1/merchants/{merchant}/integrations``, the
console's ``/integrations``) with its permissions and a merchant's isolation.

The world: ``integration-erp`` syncs the orders of merchants m-1 and m-2 every two hours for
two weeks (500 records a pull, from one network, with token tok-1), ``app-crm`` reads m-2's
customers' contacts by day, ``agent-1`` (staff) works a ticket. On the fifteenth day the ERP
pulls 60,000 records of m-1 at 03:00 and reads payment data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from console_support import login
from sentinelle.access import Role
from sentinelle.access.accounts import create_key, create_user
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.timeutil import DAY, parse_time

START = parse_time("2026-11-02T00:00:00Z")
NOW = START + 15 * DAY  # the clock of the app: the end of the fifteenth day
PASSWORD = "correct horse battery staple"  # noqa: S105 - a test account's


def _time(day: int, hour: int, minute: int) -> str:
    return f"2026-11-{2 + day:02d}T{hour:02d}:{minute:02d}:00Z"


def _read(n: int, time: str, actor: str, kind: str, merchant: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": f"{actor}-{n}",
        "time": time,
        "actor": {"id": actor, "kind": kind},
        "action": "view",
        "merchant": merchant,
        "resource": {"type": "order_list", "count": kw.pop("count", 500)},
        "data": kw.pop("data", ["contact", "address", "order_details"]),
        "channel": "integration",
        "source": {"ip": "198.51.100.7", "device": "tok-1", "country": "FR"},
        "outcome": "allowed",
        **kw,
    }


def days(first: int, last: int) -> list[dict[str, Any]]:
    """The ordinary traffic of days ``first`` to ``last - 1``, in time order."""
    events = []
    for day in range(first, last):
        for hour in range(0, 24, 2):
            merchant = "m-1" if hour % 4 == 0 else "m-2"
            events.append(_read(day * 100 + hour, _time(day, hour, 10), "integration-erp",
                                "integration", merchant))  # fmt: skip
        for hour in range(9, 17):
            events.append(_read(day * 100 + hour, _time(day, hour, 30), "app-crm", "app", "m-2",
                                count=3, data=["contact"], channel="api",
                                source={"ip": "192.0.2.10", "country": "IE"}))  # fmt: skip
        events.append({
            "id": f"agent-{day}", "time": _time(day, 10, 0),
            "actor": {"id": "agent-1", "kind": "staff", "team": "care"}, "action": "view",
            "merchant": "m-1", "resource": {"type": "customer", "count": 1},
            "subjects": ["c-1"], "data": ["contact"], "channel": "support_console",
            "outcome": "allowed",
        })  # fmt: skip
    return events


THE_PULL = [
    _read(9001, _time(14, 3, 20), "integration-erp", "integration", "m-1", count=60_000),
    _read(9002, _time(14, 3, 25), "integration-erp", "integration", "m-1", count=10,
          data=["payment_full"]),
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class World:
    app: Any
    client: TestClient
    keys: dict[Role, str]

    def get(self, path: str, role: Role | None = Role.READER) -> Any:
        headers = {} if role is None else {"Authorization": f"Bearer {self.keys[role]}"}
        return self.client.get(path, headers=headers)

    def post(self, events: list[dict[str, Any]]) -> None:
        body = "\n".join(json.dumps(e) for e in events)
        answer = self.client.post(
            "/v1/events",
            content=body,
            headers={
                "Authorization": f"Bearer {self.keys[Role.INGEST]}",
                "Content-Type": "application/x-ndjson",
            },
        )
        assert answer.status_code == 200, answer.text


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    app = create_app(settings)
    state = app.state.sentinelle
    state.clock = lambda: NOW
    with TestClient(app, follow_redirects=False) as client:
        keys = {
            role: create_key(
                state.store,
                name=f"k-{role.value}",
                role=role,
                merchant="m-1" if role is Role.MERCHANT else None,
                by="tests",
            )
            for role in Role
        }
        made = World(app, client, keys)
        for week in (0, 7):  # two batches: live detection carries its state between them
            made.post(days(week, week + 7))
        made.post(THE_PULL)
        yield made


def test_a_tenfold_pull_raises_an_explained_alert(world: World) -> None:
    listed = world.get("/v1/alerts", Role.RESPONDER).json()["items"]
    mine = {a["detector"]: a for a in listed if a["actor"] == "integration-erp"}
    assert {"integration_volume", "integration_new_data"} <= set(mine)
    volume = mine["integration_volume"]
    assert volume["severity"] in ("medium", "high", "critical")
    reason = volume["reasons"][0]
    assert "integration-erp read 60,000 records in the hour 03:00–04:00 UTC" in reason
    assert "usually 500 records" in reason
    assert "payment_full" in mine["integration_new_data"]["reasons"][0]
    # Nothing about the app, or about people, from the machine detectors.
    assert not [
        a
        for a in listed
        if a["detector"].startswith("integration_") and a["actor"] != "integration-erp"
    ]


def test_the_inventory(world: World) -> None:
    answer = world.get("/v1/integrations")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["as_of"] == "2026-11-17T00:00:00Z"
    items = {i["actor"]: i for i in body["items"]}
    assert set(items) == {"integration-erp", "app-crm"}  # never a person
    erp = items["integration-erp"]
    assert erp["kind"] == "integration"
    assert erp["categories"] == ["contact", "address", "order_details", "payment_full"]
    assert erp["merchants"] == 2
    assert erp["first_seen"] == "2026-11-02T00:10:00Z"
    assert erp["last_seen"] == "2026-11-16T03:25:00Z"
    # 12 pulls of 500 a day; the last seven days (to the clock's, empty) hold five such days
    # and the pull's
    assert erp["usual_records_per_day"] == 6000.0
    assert erp["recent_records_per_day"] == round((5 * 6000 + 60_010) / 7, 1)
    assert {a["detector"] for a in erp["alerts"]} >= {"integration_volume"}
    assert erp["open_alerts"] == erp["alerts_total"] >= 2
    crm = items["app-crm"]
    assert (crm["kind"], crm["categories"], crm["merchants"]) == ("app", ["contact"], 1)
    assert crm["usual_records_per_day"] == 24.0 and crm["alerts"] == []


def test_a_merchant_sees_the_machines_that_read_its_own_data(world: World) -> None:
    answer = world.get("/v1/merchants/m-1/integrations", Role.MERCHANT)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["merchant"] == "m-1"
    assert [i["actor"] for i in body["items"]] == ["integration-erp"]  # app-crm reads m-2 only
    erp = body["items"][0]
    # m-1's pulls only: 6 a day for 14 days, then the pull and the payment read
    assert erp["records"] == 14 * 6 * 500 + 60_010
    assert erp["categories"] == ["contact", "address", "order_details", "payment_full"]
    other = world.get("/v1/merchants/m-2/integrations", Role.MERCHANT)
    assert other.status_code == 403
    both = world.get("/v1/merchants/m-2/integrations", Role.AUDITOR).json()
    assert [i["actor"] for i in both["items"]] == ["app-crm", "integration-erp"]


@pytest.mark.parametrize(
    ("role", "status"),
    [(None, 401), (Role.MERCHANT, 403), (Role.INGEST, 403), (Role.GUARD, 403),
     (Role.READER, 200), (Role.AUDITOR, 200), (Role.RESPONDER, 200)],
)  # fmt: skip
def test_who_reads_the_inventory(world: World, role: Role | None, status: int) -> None:
    assert world.get("/v1/integrations", role).status_code == status


def test_the_console_page(world: World) -> None:
    store = world.app.state.sentinelle.store
    create_user(store, email="aud@example.org", role=Role.AUDITOR, password=PASSWORD, by="t")
    create_user(
        store, email="m@example.org", role=Role.MERCHANT, password=PASSWORD, merchant="m-1", by="t"
    )
    assert world.client.get("/integrations").headers["location"] == "/login"
    assert login(world.client, "m@example.org").status_code == 303
    assert world.client.get("/integrations").status_code == 403
    world.client.cookies.clear()
    assert login(world.client, "aud@example.org").status_code == 303
    page = world.client.get("/integrations")
    assert page.status_code == 200
    text = page.text
    assert 'href="/integrations" aria-current="page"' in text
    row = text[
        text.index(">integration-erp<") : text.index("</tr>", text.index(">integration-erp<"))
    ]
    assert "contact, address, order_details, payment_full" in row
    assert "12,859 / 6,000" in row and "×)" not in row  # a ratio is shown from 3×
    assert "integration_volume" in row and 'class="sev sev-' in row
    assert ">app-crm<" in text
    assert ">agent-1<" not in text
    # Above the machines: what detection receives from the feeds (none here: the events cite
    # no ticket and no ticket event came).
    feeds = text[text.index("<h1>Feeds</h1>") : text.index("<h1>Apps and integrations</h1>")]
    assert "<li>Live detection has read 296 events, up to 2026-11-16T03:25:00Z.</li>" in feeds
    assert "Help desk: no ticket event in the last 7 days (none yet)" in feeds
    assert "HR: notice dates of 0 actor(s), joining dates of 0: none" in feeds
