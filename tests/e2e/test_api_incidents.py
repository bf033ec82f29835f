"""End to end: the incident workflow over HTTP on both stores (``settings``), each step by the
role that may take it and refused to the roles that may not.

An ingest key sends the events (as tests/integration/test_response_engine.py stores them); a
responder opens the incident; only a DPO assesses and records the initial notification; an
auditor reads everything and changes nothing. Every refusal leaves the incident as it was.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from incident_world import (
    ALL_SUBJECTS,
    FROM,
    TO,
    UNJUSTIFIED_SUBJECTS,
    incident_events,
)
from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.config import Settings


@dataclass(frozen=True, slots=True)
class Api:
    client: TestClient
    keys: dict[str, str]  # by name: ingest, responder, dpo, auditor

    def call(
        self, who: str, method: str, path: str, *, body: Any = None, **params: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        response: httpx.Response = self.client.request(
            method, path, json=body, params=params, headers=headers
        )
        return response

    def get(self, who: str, path: str, **params: Any) -> httpx.Response:
        return self.call(who, "GET", path, **params)

    def post(self, who: str, path: str, body: Any) -> httpx.Response:
        return self.call(who, "POST", path, body=body)

    def snapshot(self, incident_id: str) -> dict[str, Any]:
        """The incident as stored, its change log included (read as the auditor)."""
        response = self.get("auditor", f"/v1/incidents/{incident_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        found.pop("clock")  # its "now" and time left move with the wall clock
        return found


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    app = create_app(settings)
    store = app.state.sentinelle.store
    roles = {
        "ingest": Role.INGEST,
        "responder": Role.RESPONDER,
        "dpo": Role.DPO,
        "auditor": Role.AUDITOR,
    }
    with TestClient(app) as client:
        keys = {
            name: create_key(store, name=name, role=role, by="tests")
            for name, role in roles.items()
        }
        yield Api(client, keys)


def _refusal(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def _open(api: Api) -> str:
    sent = api.call(
        "ingest",
        "POST",
        "/v1/events",
        body=incident_events(),
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["stored"] == len(incident_events())
    opened = api.post(
        "responder",
        "/v1/incidents",
        {"title": "harvest", "actors": ["ana"], "from": FROM, "to": TO},
    )
    assert opened.status_code == 201, opened.text
    incident_id: str = opened.json()["id"]
    return incident_id


def test_the_incident_workflow_by_role(api: Api) -> None:
    incident_id = _open(api)
    base = f"/v1/incidents/{incident_id}"
    shown = api.snapshot(incident_id)
    assert shown["state"] == "open"
    assert shown["decisions"], "opening is logged"
    assert {d["by"] for d in shown["decisions"]} == {"key:responder"}

    # A responder opens and scopes, but may not assess: refused, nothing recorded.
    refused = _refusal(api.post("responder", f"{base}/assess", {"basis": "all"}), 403)
    assert "responder" in refused["detail"]
    assert api.snapshot(incident_id) == shown

    # A DPO assesses, with facts people state: nothing to compare with the first time.
    first = api.post(
        "dpo",
        f"{base}/assess",
        {"facts": {"summary": "an agent copied customer lists"}, "basis": "all"},
    )
    assert first.status_code == 200, first.text
    assert first.json()["changes"] == []
    assert first.json()["scope_basis"] == "all"
    assessed = api.snapshot(incident_id)
    assert assessed["state"] == "assessed"
    assert assessed["facts"]["summary"] == "an agent copied customer lists"
    assert assessed["facts"]["subjects"]["count"] == ALL_SUBJECTS
    assert [d["by"] for d in assessed["decisions"][len(shown["decisions"]) :]] == ["key:dpo"] * (
        len(assessed["decisions"]) - len(shown["decisions"])
    )

    # Narrowing the scope without a reason: 422 naming ``reason``, nothing recorded.
    narrowed = _refusal(api.post("dpo", f"{base}/assess", {"basis": "unjustified"}), 422)
    assert [e["path"] for e in narrowed["errors"]] == ["reason"]
    assert "narrows" in narrowed["detail"]
    assert api.snapshot(incident_id) == assessed

    # With the reason: recorded, and what changed is listed.
    reason = "ticketed work is not a breach"
    done = api.post("dpo", f"{base}/assess", {"basis": "unjustified", "reason": reason})
    assert done.status_code == 200, done.text
    changes = {c["field"]: (c["before"], c["after"]) for c in done.json()["changes"]}
    assert changes["scope_basis"] == ("all", "unjustified")
    assert changes["facts.subjects.count"] == (ALL_SUBJECTS, UNJUSTIFIED_SUBJECTS)
    narrow = api.snapshot(incident_id)
    last = [d for d in narrow["decisions"] if d["change"] == "assessment"][-1]
    assert last["by"] == "key:dpo" and last["details"]["reason"] == reason

    # A facts key the schema does not know: 422 naming it, nothing recorded.
    wrong = _refusal(api.post("dpo", f"{base}/assess", {"facts": {"colour": "red"}}), 422)
    assert any("colour" in e["path"] or "colour" in e["message"] for e in wrong["errors"])
    assert "colour" in wrong["detail"] and "nothing was recorded" in wrong["detail"]
    assert api.snapshot(incident_id) == narrow

    # The initial notification to the authority, on time; a second initial one conflicts.
    phase = api.post("dpo", f"{base}/phases", {"phase": "initial", "reference": "CNIL-1"})
    assert phase.status_code == 200, phase.text
    clock = phase.json()
    assert clock["on_time"] is True
    assert clock["initial_notification_at"] is not None
    assert [p["phase"] for p in clock["phases"]] == ["initial"]
    notified = api.snapshot(incident_id)
    again = _refusal(api.post("dpo", f"{base}/phases", {"phase": "initial"}), 409)
    assert "already sent" in again["detail"]
    assert api.snapshot(incident_id) == notified

    # The report, as JSON and as a printable page without script.
    report = api.get("auditor", f"{base}/report")
    assert report.status_code == 200, report.text
    assert report.headers["content-type"].startswith("application/json")
    assert incident_id in json.dumps(report.json())
    page = api.get("auditor", f"{base}/report", format="html")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text.lower() and "<script" not in page.text.lower()

    # The register, as JSON and as CSV.
    register = api.get("auditor", "/v1/register")
    assert register.status_code == 200, register.text
    assert incident_id in json.dumps(register.json())
    assert len(register.json()) == 1
    sheet = api.get("auditor", "/v1/register", format="csv")
    assert sheet.status_code == 200, sheet.text
    assert sheet.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(sheet.text)))
    assert len(rows) == 2  # the header and the one incident
    assert incident_id in rows[1]


def test_an_unknown_incident_is_404(api: Api) -> None:
    _open(api)
    base = "/v1/incidents/no-such-incident"
    for path in ("", "/scope", "/facts", "/notices", "/report"):
        response = api.get("auditor", base + path)
        assert response.status_code == 404, (path, response.text)
        assert "no-such-incident" in response.json()["detail"]
    for path, body in (
        ("/assess", {}),
        ("/phases", {"phase": "initial"}),
        ("/advance", {"state": "assessed", "reason": "checking"}),
    ):
        response = api.post("dpo", base + path, body)
        assert response.status_code == 404, (path, response.text)


def test_times_out_of_range_are_422_naming_the_field(api: Api) -> None:
    # An offset that carries a time past the year 9999 or before the year 1 (in UTC), or a
    # time whose 72-hour deadline would: refused by name, nothing recorded, never a 500.
    incident_id = _open(api)
    base = f"/v1/incidents/{incident_id}"
    before = api.snapshot(incident_id)
    for path, body, field in (
        (
            "/v1/incidents",
            {"title": "t", "actors": ["ana"], "from": "0001-01-01T00:00:00+05:00"},
            "from",
        ),
        (
            "/v1/incidents",
            {"title": "t", "actors": ["ana"], "to": "9999-12-31T23:59:59-23:59"},
            "to",
        ),
        (f"{base}/assess", {"aware_at": "9999-12-31T23:00:00Z"}, "aware_at"),
        (f"{base}/assess", {"aware_at": "9999-12-31T23:59:59-23:59"}, "aware_at"),
        (f"{base}/phases", {"phase": "initial", "at": "9999-12-31T23:59:59-23:59"}, "at"),
    ):
        refused = _refusal(api.post("dpo", path, body), 422)
        assert [e["loc"][-1] for e in refused["detail"]] == [field], (path, body)
        assert "out of range" in refused["detail"][0]["msg"]
    assert api.snapshot(incident_id) == before
    assert len(api.get("auditor", "/v1/incidents").json()) == 1
    # The earliest time taken is printed as RFC 3339 (a year of four digits) and assessed.
    early = api.post(
        "responder",
        "/v1/incidents",
        {"title": "early", "actors": ["ana"], "from": "0001-01-02T00:00:00Z", "to": TO},
    )
    assert early.status_code == 201, early.text
    assert early.json()["window"]["from"] == "0001-01-02T00:00:00Z"
    facts = api.get("auditor", f"/v1/incidents/{early.json()['id']}/facts")
    assert facts.status_code == 200, facts.text


def test_an_auditor_reads_everything_and_changes_nothing(api: Api) -> None:
    incident_id = _open(api)
    base = f"/v1/incidents/{incident_id}"
    assert api.post("dpo", f"{base}/assess", {"basis": "all"}).status_code == 200
    before = api.snapshot(incident_id)

    for path, params in (
        ("/v1/incidents", {}),
        (base, {}),
        (f"{base}/scope", {}),
        (f"{base}/facts", {}),
        (f"{base}/notices", {}),
        (f"{base}/report", {}),
        (f"{base}/report", {"format": "html"}),
        ("/v1/register", {}),
        ("/v1/register", {"format": "csv"}),
    ):
        response = api.get("auditor", path, **params)
        assert response.status_code == 200, (path, params, response.text)

    for path, body in (
        ("/v1/incidents", {"title": "mine", "actors": ["ana"], "from": FROM, "to": TO}),
        (f"{base}/assess", {"basis": "unjustified", "reason": "an auditor's view"}),
        (f"{base}/phases", {"phase": "initial"}),
        (f"{base}/advance", {"state": "notifying", "reason": "an auditor's view"}),
    ):
        response = api.post("auditor", path, body)
        assert response.status_code == 403, (path, response.text)
        assert "auditor" in response.json()["detail"]
    assert api.snapshot(incident_id) == before
    listed = api.get("auditor", "/v1/incidents").json()
    assert [i["id"] for i in listed] == [incident_id]  # no incident was opened


def test_a_state_is_only_taken_when_the_record_bears_it_out(api: Api) -> None:
    # assessed needs an assessment, notifying something notified: by hand each is a 409
    # naming what is missing, and nothing is recorded.
    incident_id = _open(api)
    base = f"/v1/incidents/{incident_id}"
    before = api.snapshot(incident_id)
    refused = api.post("responder", f"{base}/advance", {"state": "assessed", "reason": "seen"})
    assert refused.status_code == 409, refused.text
    assert "no assessment is recorded" in refused.json()["detail"]
    assert f"sentinelle incident assess {incident_id}" in refused.json()["detail"]
    assert api.snapshot(incident_id) == before
    assert api.post("dpo", f"{base}/assess", {}).status_code == 200
    before = api.snapshot(incident_id)
    for state, missing in (
        ("notifying", "nothing was notified yet"),
        ("closed", "cannot be closed before it is notified"),
    ):
        refused = api.post("responder", f"{base}/advance", {"state": state, "reason": "done"})
        assert refused.status_code == 409, refused.text
        assert missing in refused.json()["detail"]
    assert api.snapshot(incident_id) == before
    assert api.post("dpo", f"{base}/phases", {"phase": "initial"}).status_code == 200
    moved = api.post("responder", f"{base}/advance", {"state": "closed", "reason": "done"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["state"] == "closed"
