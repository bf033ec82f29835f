"""End to end: triage of alerts over the REST API, on both stores.

Alerts are written straight into the store. Responders, DPOs and admins decide; the others are
refused (the permission walk in test_api_permissions.py covers every route and role, this
checks the outcome). An escalation opens exactly one incident and links it; a batch is all or
nothing; every decision stays in the alert's history; a reason is required.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.detect import Alert, Severity
from sentinelle.detect.runner import alert_row
from sentinelle.store import Store
from sentinelle.timeutil import DAY, SECOND, parse_time

T0 = parse_time("2026-11-02T08:00:00Z")


@dataclass(frozen=True, slots=True)
class Api:
    client: TestClient
    store: Store
    keys: dict[Role, str]

    def post(self, path: str, body: Any, *, role: Role = Role.RESPONDER) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        response: httpx.Response = self.client.post(path, json=body, headers=headers)
        return response

    def get(self, path: str, *, role: Role = Role.READER, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        response = self.client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    app = create_app(settings)
    store = app.state.sentinelle.store
    with TestClient(app) as client:
        keys = {
            role: create_key(
                store,
                name=f"k-{role.value}",
                role=role,
                merchant="m-1" if role is Role.MERCHANT else None,
                by="tests",
            )
            for role in Role
        }
        rows = [
            alert_row(
                Alert(
                    id=f"al-{i}",
                    actor=f"agent-{i % 2}",
                    detector="unjustified_access",
                    time_us=T0 + i * 60 * SECOND,
                    last_us=T0 + i * 60 * SECOND,
                    severity=Severity.MEDIUM,
                    score=50.0,
                    merchants=["m-1"],
                    events=[f"evt-{i}"],
                    reasons=[f"reason {i}"],
                )
            )
            for i in range(4)
        ]
        with store.writer() as w:
            w.upsert_alerts(rows)
        yield Api(client, store, keys)


def _alert(api: Api, alert_id: str) -> dict[str, Any]:
    found: dict[str, Any] = api.get(f"/v1/alerts/{alert_id}")
    return found


def test_who_may_triage(api: Api) -> None:
    for role in (Role.RESPONDER, Role.DPO, Role.ADMIN):
        body = {"status": "acknowledged", "reason": f"seen by {role}"}
        response = api.post("/v1/alerts/al-0/triage", body, role=role)
        assert response.status_code == 200, (role, response.text)
    for role in (Role.AUDITOR, Role.READER, Role.MERCHANT, Role.INGEST):
        response = api.post(
            "/v1/alerts/al-1/triage", {"status": "dismissed", "reason": "x"}, role=role
        )
        assert response.status_code == 403, (role, response.text)
        bulk = api.post(
            "/v1/alerts/triage", {"ids": ["al-1"], "status": "dismissed", "reason": "x"}, role=role
        )
        assert bulk.status_code == 403, (role, bulk.text)
    by = [d["by"] for d in _alert(api, "al-0")["triage"]]
    assert by == ["key:k-responder", "key:k-dpo", "key:k-admin"]
    assert (_alert(api, "al-1")["status"], _alert(api, "al-1")["triage"]) == ("new", [])


def test_history_is_kept_across_decisions(api: Api) -> None:
    steps = [
        {"status": "acknowledged", "reason": "looking"},
        {"status": "dismissed", "reason": "a test account", "suppress_days": 14},
        {"status": "acknowledged", "reason": "not a test account after all"},
    ]
    for body in steps:
        response = api.post("/v1/alerts/al-2/triage", body)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == body["status"]
    alert = _alert(api, "al-2")
    assert alert["status"] == "acknowledged"
    assert [(d["status"], d["reason"]) for d in alert["triage"]] == [
        (s["status"], s["reason"]) for s in steps
    ]
    dismissed = alert["triage"][1]
    until = parse_time(dismissed["suppress_until"]) - parse_time(dismissed["at"])
    assert until == 14 * DAY
    assert [d["suppress_until"] for d in alert["triage"]][::2] == [None, None]
    # The list shows the same, and filters on the status.
    listed = api.get("/v1/alerts", status="acknowledged")["items"]
    assert [a["id"] for a in listed] == ["al-2"]
    assert listed[0] == alert
    assert {a["id"] for a in api.get("/v1/alerts", status="new")["items"]} == {
        "al-0",
        "al-1",
        "al-3",
    }
    assert api.get("/v1/alerts", status="dismissed")["items"] == []


def test_a_dismissal_with_suppression_is_in_force_until_lifted(api: Api) -> None:
    body = {"status": "dismissed", "reason": "known tester", "suppress_days": 30}
    assert api.post("/v1/alerts/al-1/triage", body).status_code == 200
    [suppression] = api.store.suppressions()
    assert (suppression.actor, suppression.detector) == ("agent-1", "unjustified_access")
    assert suppression.until_us - suppression.from_us == 30 * DAY
    assert _alert(api, "al-1")["triage"][0]["suppress_until"] is not None
    lifted = {"status": "escalated", "reason": "the tester left", "incident": None}
    assert api.post("/v1/alerts/al-1/triage", lifted).status_code == 200
    assert api.store.suppressions() == []


def test_an_escalation_opens_exactly_one_incident_and_links_it(api: Api) -> None:
    response = api.post("/v1/alerts/al-1/triage", {"status": "escalated", "reason": "real"})
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["incident_opened"] is True
    incident_id = got["incident"]
    incidents = api.get("/v1/incidents", role=Role.AUDITOR)
    assert [i["id"] for i in incidents] == [incident_id]
    assert incidents[0]["actors"] == ["agent-1"]
    assert got["status"] == "escalated"
    assert got["triage"][-1]["incident"] == incident_id
    # Escalating another alert into it opens nothing more.
    joined = api.post(
        "/v1/alerts/al-3/triage",
        {"status": "escalated", "reason": "same person", "incident": incident_id},
    )
    assert joined.status_code == 200, joined.text
    assert (joined.json()["incident"], joined.json()["incident_opened"]) == (incident_id, False)
    assert len(api.get("/v1/incidents", role=Role.AUDITOR)) == 1
    # An unknown incident: 404, nothing recorded.
    unknown = api.post(
        "/v1/alerts/al-0/triage", {"status": "escalated", "reason": "x", "incident": "inc-nope"}
    )
    assert unknown.status_code == 404
    assert "inc-nope" in unknown.json()["detail"]
    assert _alert(api, "al-0")["triage"] == []
    assert len(api.get("/v1/incidents", role=Role.AUDITOR)) == 1


def test_a_bulk_triage_is_all_or_nothing(api: Api) -> None:
    refused = api.post(
        "/v1/alerts/triage",
        {"ids": ["al-0", "al-nope", "al-2"], "status": "dismissed", "reason": "noise"},
    )
    assert refused.status_code == 404
    assert "al-nope" in refused.json()["detail"]
    assert {a["status"] for a in api.get("/v1/alerts")["items"]} == {"new"}

    done = api.post(
        "/v1/alerts/triage",
        {"ids": ["al-0", "al-2"], "status": "dismissed", "reason": "noise", "suppress_days": 1},
    )
    assert done.status_code == 200, done.text
    assert done.json()["alerts"] == ["al-0", "al-2"]
    dismissed = api.get("/v1/alerts", status="dismissed")["items"]
    assert sorted(a["id"] for a in dismissed) == ["al-0", "al-2"]
    assert all(a["triage"][0]["reason"] == "noise" for a in dismissed)
    assert len(api.store.suppressions()) == 2

    escalated = api.post(
        "/v1/alerts/triage", {"ids": ["al-1", "al-3"], "status": "escalated", "reason": "both"}
    )
    assert escalated.status_code == 200, escalated.text
    incidents = api.get("/v1/incidents", role=Role.AUDITOR)
    assert [i["id"] for i in incidents] == [escalated.json()["incident"]]
    # Titled by what was found and about whom.
    assert incidents[0]["title"] == "Escalated 2 alerts: unjustified_access by agent-1"
    assert {
        a["triage"][-1]["incident"] for a in api.get("/v1/alerts", status="escalated")["items"]
    } == {incidents[0]["id"]}
    too_many = api.post(
        "/v1/alerts/triage",
        {"ids": [f"al-{i}" for i in range(501)], "status": "dismissed", "reason": "x"},
    )
    assert too_many.status_code == 422
    assert [e["loc"] for e in too_many.json()["detail"]] == [["body", "ids"]]


@pytest.mark.parametrize(
    "body",
    [
        {"status": "dismissed"},
        {"status": "dismissed", "reason": ""},
        {"status": "dismissed", "reason": "   "},
        {"status": "dismissed", "reason": "x" * 5001},
    ],
    ids=["missing", "empty", "blank", "too-long"],
)
def test_a_reason_is_required(api: Api, body: dict[str, Any]) -> None:
    for path, extra in (("/v1/alerts/al-0/triage", {}), ("/v1/alerts/triage", {"ids": ["al-0"]})):
        response = api.post(path, body | extra)
        assert response.status_code == 422, response.text
        assert [e["loc"] for e in response.json()["detail"]] == [["body", "reason"]]
    assert _alert(api, "al-0")["triage"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "new"}, "status"),
        ({"status": "dismissed", "suppress_days": 91}, "suppress_days"),
        ({"status": "dismissed", "suppress_days": -1}, "suppress_days"),
        ({"status": "dismissed", "colour": "red"}, "colour"),
    ],
)
def test_bad_fields_are_422_by_name(api: Api, body: dict[str, Any], field: str) -> None:
    response = api.post("/v1/alerts/al-0/triage", body | {"reason": "r"})
    assert response.status_code == 422, response.text
    assert [e["loc"][-1] for e in response.json()["detail"]] == [field]


def test_fields_that_do_not_fit_the_decision_are_422(api: Api) -> None:
    for body, field in (
        ({"status": "acknowledged", "suppress_days": 3}, "suppress_days"),
        ({"status": "dismissed", "incident": "inc-1"}, "incident"),
    ):
        response = api.post("/v1/alerts/al-0/triage", body | {"reason": "r"})
        assert response.status_code == 422, response.text
        assert [e["path"] for e in response.json()["errors"]] == [field]
    unknown = api.post("/v1/alerts/al-nope/triage", {"status": "acknowledged", "reason": "r"})
    assert unknown.status_code == 404
    assert "al-nope" in unknown.json()["detail"]


def test_escalating_into_an_incident_adds_the_alerts_actors(api: Api) -> None:
    opened = api.post("/v1/alerts/al-1/triage", {"status": "escalated", "reason": "harvest"})
    incident_id = opened.json()["incident"]
    before = api.get(f"/v1/incidents/{incident_id}", role=Role.AUDITOR)
    assert before["actors"] == ["agent-1"]
    # the colleague's alert joins: their accesses count in the scope from now on
    joined = api.post(
        "/v1/alerts/al-0/triage",
        {"status": "escalated", "reason": "the pair", "incident": incident_id},
    )
    assert joined.status_code == 200, joined.text
    after = api.get(f"/v1/incidents/{incident_id}", role=Role.AUDITOR)
    assert after["actors"] == ["agent-1", "agent-0"]
    entry = after["decisions"][-1]
    assert (entry["change"], entry["by"]) == ("joined", "key:k-responder")
    assert entry["details"]["actors_added"] == ["agent-0"]
    assert entry["details"]["alerts"] == ["al-0"] and "the pair" in entry["details"]["reason"]
    assert after["window"]["from"] <= before["window"]["from"]
    # the same actor again changes nothing and logs nothing
    again = api.post(
        "/v1/alerts/al-2/triage",
        {"status": "escalated", "reason": "again", "incident": incident_id},
    )
    assert again.status_code == 200
    assert len(api.get(f"/v1/incidents/{incident_id}", role=Role.AUDITOR)["decisions"]) == len(
        after["decisions"]
    )


def test_escalating_into_a_closed_incident_is_refused_and_records_nothing(api: Api) -> None:
    incident_id = api.post(
        "/v1/alerts/al-1/triage", {"status": "escalated", "reason": "harvest"}
    ).json()["incident"]
    with api.store.writer() as w:
        w.update_incident(incident_id, state="closed")
    refused = api.post(
        "/v1/alerts/al-0/triage", {"status": "escalated", "reason": "x", "incident": incident_id}
    )
    assert refused.status_code == 409, refused.text
    assert "closed" in refused.json()["detail"]
    assert _alert(api, "al-0")["triage"] == []
    assert api.get(f"/v1/incidents/{incident_id}", role=Role.AUDITOR)["actors"] == ["agent-1"]


def test_an_escalation_that_fails_opens_no_incident(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentinelle.store.base import Writer

    def broken(self: Writer, rows: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(Writer, "record_triage", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        api.post("/v1/alerts/al-1/triage", {"status": "escalated", "reason": "harvest"})
    monkeypatch.undo()
    assert api.get("/v1/incidents", role=Role.AUDITOR) == []
    assert _alert(api, "al-1")["triage"] == []
