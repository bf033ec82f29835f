"""``/v1/actors``: the risk list and one actor's activity, through the API, on both stores.

A small team over eight days: Ana (tier1) works six days with 2, 4, … 12 accesses, then on
the eighth day harvests 40 merchants' customer lists and exports one; Bob and Cid (tier1) and
Dan (tier2) work the same days. Alerts are written directly (known severities, times and
statuses) so the risk order is the one the definitions give.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sentinelle import actors
from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.detect.base import Alert, Severity
from sentinelle.detect.runner import alert_row
from sentinelle.ingest import Ingestor
from sentinelle.store.alerts import TriageRow
from sentinelle.timeutil import DAY, HOUR, parse_time

START = parse_time("2026-11-01T00:00:00Z")  # day 1; the harvest is on day 8 (2026-11-08)
UNTIL = "2026-11-09T00:00:00Z"
SINCE = "2026-11-01T00:00:00Z"


def _access(n: int, day: int, actor: str, team: str, merchant: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{actor}-{day}-{n}",
        "time": f"2026-11-{day:02d}T{9 + n % 8:02d}:{n % 60:02d}:00Z",
        "actor": {"id": actor, "kind": "staff", "role": "support", "team": team},
        "action": "view",
        "merchant": merchant,
        "resource": {"type": "customer", "count": 1},
        "subjects": [f"cust-{actor}-{day}-{n}"],
        "data": ["contact"],
        "channel": "support_console",
        "outcome": "allowed",
        "justification": {"ticket": f"T-{n}"},
        **extra,
    }


def world() -> list[dict[str, Any]]:
    events = []
    for day in range(1, 7):  # six ordinary days
        events += [_access(n, day, "ana", "tier1", f"m-{n % 3}") for n in range(2 * day)]
        events += [_access(n, day, "bob", "tier1", "m-1") for n in range(3)]
        events += [_access(n, day, "cid", "tier1", f"m-{n}") for n in range(5)]
        events += [_access(n, day, "dan", "tier2", "m-1") for n in range(50)]
    # Day 8: Ana reads 40 merchants' customer lists without a ticket and exports one.
    events += [
        {
            **_access(
                n,
                8,
                "ana",
                "tier1",
                f"m-{100 + n}",
                resource={"type": "customer_list", "count": 25},
            ),
            "justification": {"reason": "checking"},
        }
        for n in range(40)
    ]
    events.append({**_access(40, 8, "ana", "tier1", "m-100"), "action": "export"})
    events += [_access(n, 8, "bob", "tier1", "m-1") for n in range(3)]
    events += [_access(n, 8, "cid", "tier1", f"m-{n}") for n in range(5)]
    return events


def _alert(actor: str, n: int, severity: Severity, last: int) -> Alert:
    return Alert(
        id=f"al-{actor}-{n}",
        actor=actor,
        detector="bulk_harvest",
        time_us=last - HOUR,
        last_us=last,
        severity=severity,
        score=50.0,
        merchants=["m-1"],
        events=[f"{actor}-8-0"],
        reasons=["because"],
    )


@dataclass(frozen=True, slots=True)
class World:
    client: TestClient
    keys: dict[Role, str]
    store: Any

    def get(self, path: str, role: Role = Role.RESPONDER, **params: Any) -> Any:
        return self.client.get(
            path, params=params, headers={"Authorization": f"Bearer {self.keys[role]}"}
        )


@pytest.fixture
def api(settings: Settings) -> Iterator[World]:
    app = create_app(settings)
    state = app.state.sentinelle
    with TestClient(app) as client:
        Ingestor(state.store, state.ledger).ingest(
            (i, json.dumps(e)) for i, e in enumerate(world())
        )
        end = parse_time(UNTIL)
        alerts = [
            _alert("ana", 1, Severity.CRITICAL, end),
            _alert("bob", 1, Severity.MEDIUM, end),
            _alert("bob", 2, Severity.MEDIUM, end),
            _alert("cid", 1, Severity.HIGH, end),  # dismissed below: Cid is not listed
            _alert("dan", 1, Severity.HIGH, end - 14 * DAY + HOUR),  # before the window
            _alert("dan", 2, Severity.LOW, end - 7 * DAY),  # a week old: half its weight
        ]
        with state.store.writer() as w:
            w.upsert_alerts([alert_row(a) for a in alerts])
            w.record_triage(
                [TriageRow("al-cid-1", end, "tests", "dismissed", "a false alarm", None, None)]
            )
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
        yield World(client, keys, state.store)


def test_the_risk_list_orders_actors_by_decayed_severity_weights(api: World) -> None:
    page = api.get("/v1/actors", since=SINCE, until=UNTIL)
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["next"] is None
    ranked = [(i["actor"], i["score"]) for i in body["items"]]
    # Ana: one critical (27); Bob: two medium (3 + 3); Dan: one low a week old (1 / 2). Cid's
    # only alert was dismissed; Dan's high one was triggered before the window.
    assert ranked == [("ana", 27.0), ("bob", 6.0), ("dan", 0.5)]
    ana = body["items"][0]
    assert ana["team"] == "tier1"
    assert ana["highest"] == "critical"
    assert ana["open"] == {"low": 0, "medium": 0, "high": 0, "critical": 1}
    assert ana["latest"] == UNTIL
    assert body["items"][2]["team"] == "tier2"


def test_the_risk_list_pages_with_its_cursor(api: World) -> None:
    seen, cursor = [], None
    for _ in range(4):
        params: dict[str, Any] = {"limit": 1, "since": SINCE, "until": UNTIL}
        if cursor is not None:
            params["cursor"] = cursor
        body = api.get("/v1/actors", **params).json()
        seen += [i["actor"] for i in body["items"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == ["ana", "bob", "dan"]
    # The cursor carries its window: given without since/until it continues the same list.
    first = api.get("/v1/actors", limit=1, since=SINCE, until=UNTIL).json()
    assert [i["actor"] for i in api.get("/v1/actors", cursor=first["next"]).json()["items"]] == [
        "bob",
        "dan",
    ]
    # …and refuses another window.
    other = api.get("/v1/actors", cursor=first["next"], until="2026-11-08T00:00:00Z")
    assert other.status_code == 422


def test_risk_list_function_matches_the_route(api: World) -> None:
    found = actors.risk_list(
        api.store, since_us=parse_time(SINCE), until_us=parse_time(UNTIL), limit=10
    )
    assert [(r.actor, r.score, r.alerts, r.highest) for r in found] == [
        ("ana", 27.0, 1, Severity.CRITICAL),
        ("bob", 6.0, 2, Severity.MEDIUM),
        ("dan", 0.5, 1, Severity.LOW),
    ]
    after = actors.risk_list(
        api.store,
        since_us=parse_time(SINCE),
        until_us=parse_time(UNTIL),
        limit=10,
        after=found[0].key,
    )
    assert [r.actor for r in after] == ["bob", "dan"]


def test_an_actors_days_against_their_usual_and_their_team(api: World) -> None:
    response = api.get("/v1/actors/ana", since=SINCE, until=UNTIL)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["team"] == "tier1"
    days = {d["day"]: d for d in body["days"]}
    assert list(days) == [f"2026-11-{d:02d}" for d in range(1, 9)]  # every day, zeros too
    assert days["2026-11-07"]["figures"] == {
        "accesses": 0,
        "merchants": 0,
        "list_views": 0,
        "exports": 0,
        "unjustified": 0,
        "records": 0,
    }
    assert [days[f"2026-11-0{d}"]["figures"]["accesses"] for d in range(1, 7)] == [
        2,
        4,
        6,
        8,
        10,
        12,
    ]
    harvest = days["2026-11-08"]
    assert harvest["figures"] == {
        "accesses": 41,
        "merchants": 40,
        "list_views": 40,
        "exports": 1,
        "unjustified": 40,  # the export cites a ticket
        "records": 40 * 25 + 1,
    }
    # Usual: the median of her six active days before (days off are not zeros).
    assert harvest["usual"]["accesses"] == 7.0
    assert harvest["usual"]["merchants"] == 3.0
    assert harvest["usual"]["list_views"] == 0.0
    # Too little history before the sixth active day.
    assert [days[f"2026-11-0{d}"]["usual"] is None for d in range(1, 7)] == [True] * 5 + [False]
    assert days["2026-11-06"]["usual"]["accesses"] == 6.0  # median of 2, 4, 6, 8, 10
    # Team: Bob (3 accesses, 1 merchant) and Cid (5, 5); Ana left out, Dan in another team.
    assert harvest["team"] == {
        "members": 2,
        "average": {
            "accesses": 4.0,
            "merchants": 3.0,
            "list_views": 0.0,
            "exports": 0.0,
            "unjustified": 0.0,
            "records": 4.0,
        },
    }
    assert days["2026-11-07"]["team"] is None  # nobody else worked
    assert body["risk"]["score"] == 27.0
    assert [a["id"] for a in body["alerts"]] == ["al-ana-1"]
    assert body["alerts_total"] == 1
    # Actors are staff ids; customers are never named.
    assert "cust-" not in response.text


def test_dismissed_alerts_are_listed_but_not_counted(api: World) -> None:
    body = api.get("/v1/actors/cid", since=SINCE, until=UNTIL).json()
    assert body["risk"] is None
    assert [(a["id"], a["status"]) for a in body["alerts"]] == [("al-cid-1", "dismissed")]


def test_the_window_defaults_and_limits(api: World) -> None:
    assert api.get("/v1/actors/nobody").status_code == 404
    assert api.get("/v1/actors/ana", since=UNTIL, until=SINCE).status_code == 422
    long = api.get("/v1/actors/ana", since="2025-01-01T00:00:00Z", until=UNTIL)
    assert long.status_code == 422
    assert "366" in long.json()["detail"]
    # Without since: the 30 days before until.
    body = api.get("/v1/actors/ana", until=UNTIL).json()
    assert len(body["days"]) == 30
    assert body["days"][-1]["day"] == "2026-11-08"


@pytest.mark.parametrize("role", [Role.MERCHANT, Role.READER, Role.INGEST])
def test_actors_are_not_for_merchants_tools_or_ingest(api: World, role: Role) -> None:
    assert api.get("/v1/actors", role=role).status_code == 403
    assert api.get("/v1/actors/ana", role=role).status_code == 403


@pytest.mark.parametrize("role", [Role.ADMIN, Role.DPO, Role.RESPONDER, Role.AUDITOR])
def test_people_who_investigate_see_actors(api: World, role: Role) -> None:
    assert api.get("/v1/actors", role=role, since=SINCE, until=UNTIL).status_code == 200
    assert api.get("/v1/actors/dan", role=role, since=SINCE, until=UNTIL).status_code == 200
