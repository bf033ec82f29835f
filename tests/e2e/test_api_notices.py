"""End to end: an incident's notices dry run and sent over HTTP, to a real SMTP server
(``smtp_sink``), with the server's settings (SENTINELLE_SMTP, SENTINELLE_NOTIFY_DIRECTORY, …).

The shared incident world (tests/incident_world.py): Ana read six customers of m-1 and m-2.
The shop's directory knows five of them, Alice as a customer of both shops (one address: one
notice naming both); c-2-b is missing from it. A DPO sends; an auditor reads the runs and
sends nothing; a merchant key reaches none of it. Sending and the state it leaves are checked
on both stores (``settings``); refusals that do not depend on the store, on SQLite.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from incident_world import ALL_SUBJECTS, FROM, TO, incident_events
from notice_world import AUTHORITY, CUSTOMERS, MERCHANTS, PEOPLE, configured
from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.response import hold_lease
from sentinelle.store import open_store
from smtpsink import SmtpSink

pytestmark = pytest.mark.integration

WAIT = 60.0  # seconds a run may take before the test gives up on it (never asserted)


@dataclass(frozen=True, slots=True)
class Api:
    client: TestClient
    keys: dict[str, str]
    incident: str

    @property
    def base(self) -> str:
        return f"/v1/incidents/{self.incident}/notices"

    def call(self, who: str, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        response: httpx.Response = self.client.request(method, path, json=body, headers=headers)
        return response

    def dry_run(self, audience: str, who: str = "dpo") -> httpx.Response:
        return self.call(who, "POST", f"{self.base}/{audience}/dry-run")

    def send(self, audience: str, who: str = "dpo", **body: Any) -> httpx.Response:
        return self.call(who, "POST", f"{self.base}/{audience}/send", {"confirm": True, **body})

    def runs(self, who: str = "auditor") -> dict[str, Any]:
        response = self.call(who, "GET", f"{self.base}/runs")
        assert response.status_code == 200, response.text
        runs: dict[str, Any] = response.json()["runs"]
        return runs

    def finished(self, audience: str) -> dict[str, Any]:
        """The run's status once it ended (polled; a test never asserts how long it took)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            run: dict[str, Any] = self.runs()[audience]
            if run["done"]:
                return run
            time.sleep(0.05)
        raise AssertionError(f"the run to {audience} did not end: {self.runs()[audience]}")

    def incident_view(self) -> dict[str, Any]:
        response = self.call("auditor", "GET", f"/v1/incidents/{self.incident}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        found.pop("clock")
        return found


def _api(settings: Settings, *, assess: bool = True) -> Iterator[Api]:
    app = create_app(settings)
    store = app.state.sentinelle.store
    roles = {
        "ingest": Role.INGEST,
        "responder": Role.RESPONDER,
        "dpo": Role.DPO,
        "auditor": Role.AUDITOR,
        "reader": Role.READER,
    }
    with TestClient(app) as client:
        keys = {n: create_key(store, name=n, role=r, by="tests") for n, r in roles.items()}
        keys["merchant"] = create_key(
            store, name="merchant", role=Role.MERCHANT, merchant="m-1", by="tests"
        )
        headers = {"Authorization": f"Bearer {keys['ingest']}"}
        assert client.post("/v1/events", json=incident_events(), headers=headers).is_success
        headers = {"Authorization": f"Bearer {keys['responder']}"}
        opened = client.post(
            "/v1/incidents",
            json={"title": "harvest", "actors": ["ana"], "from": FROM, "to": TO},
            headers=headers,
        )
        assert opened.status_code == 201, opened.text
        api = Api(client, keys, opened.json()["id"])
        if assess:
            done = api.call("dpo", "POST", f"/v1/incidents/{api.incident}/assess", {"basis": "all"})
            assert done.status_code == 200, done.text
        yield api


@pytest.fixture
def api(settings: Settings, smtp_sink: SmtpSink, tmp_path: Path) -> Iterator[Api]:
    """Both stores, the notices configured, the incident assessed (all accesses)."""
    yield from _api(configured(settings, tmp_path, smtp_sink.port))


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", database_url=None)


def _received(sink: SmtpSink) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for received in sink.messages():
        message = email.message_from_bytes(received.data, policy=email.policy.default)
        for rcpt in received.rcpts:
            out.setdefault(rcpt, []).append(message)
    return out


# -- dry run -----------------------------------------------------------------------------------


def test_a_dry_run_shows_every_language_and_the_counts_and_sends_nothing(
    api: Api, smtp_sink: SmtpSink
) -> None:
    before = api.incident_view()
    response = api.dry_run("subjects")
    assert response.status_code == 200, response.text
    dry = response.json()
    assert dry["audience"] == "subjects" and dry["incident"] == api.incident
    assert {s["locale"] for s in dry["samples"]} == {"en", "fr"}
    for sample in dry["samples"]:
        assert sample["subject"] and "\n" not in sample["subject"]
        assert "dpo@shop.example" in sample["text"]
        assert "<html" in sample["html"].lower()
        assert "Boutique Lune" in sample["text"]  # shops named from the merchants' directory
    assert dry["recipients"] == len(PEOPLE)  # Alice once, for both shops
    assert dry["missing"] == 1
    assert dry["missing_ids"] == [{"merchant": "m-2", "id": "c-2-b"}]
    assert dry["content"] and dry["note"] is None

    merchants = api.dry_run("merchants").json()
    assert (merchants["recipients"], merchants["missing"]) == (len(MERCHANTS), 0)
    authority = api.dry_run("authority").json()
    assert (authority["recipients"], authority["missing"]) == (1, 0)

    assert smtp_sink.count == 0
    assert api.call("auditor", "GET", api.base).json()["audiences"] == {}
    assert api.incident_view() == before  # nothing recorded, not even the dry run
    assert api.runs() == {}


# -- sending -----------------------------------------------------------------------------------


def test_a_send_over_http_reaches_each_recipient_once(api: Api, smtp_sink: SmtpSink) -> None:
    started = api.send("subjects")
    assert started.status_code == 202, started.text
    assert started.json()["by"] == "key:dpo"
    run = api.finished("subjects")
    assert run["state"] == "finished", run
    assert (run["recipients"], run["sent"], run["missing"]) == (len(PEOPLE), len(PEOPLE), 1)
    assert run["error"] is None

    received = _received(smtp_sink)
    assert set(received) == PEOPLE  # every person the directory knows, nobody else
    assert all(len(messages) == 1 for messages in received.values())
    alice = received["alice@example.org"][0].get_body(("plain",)).get_content()
    assert "Boutique Lune" in alice and "Atelier Soleil" in alice  # one notice, both shops
    assert received["chloe@example.org"][0]["Content-Language"] == "fr"

    # The same version again sends nothing new.
    again = api.send("subjects", version=1)
    assert again.status_code == 202, again.text
    rerun = api.finished("subjects")
    assert (rerun["sent"], rerun["skipped"]) == (0, len(PEOPLE))
    assert smtp_sink.count == len(PEOPLE)

    status = api.call("auditor", "GET", api.base).json()["audiences"]["subjects"]
    assert (status["sent"], status["pending"], status["failed"]) == (len(PEOPLE), 0, 0)
    shown = api.incident_view()
    assert shown["state"] == "notifying"
    logged = [d for d in shown["decisions"] if d["change"] == "notices"]
    assert logged and {d["by"] for d in logged} == {"key:dpo"}

    # Merchants and the authority, each once.
    for audience in ("merchants", "authority"):
        assert api.send(audience).status_code == 202
        assert api.finished(audience)["state"] == "finished"
    received = _received(smtp_sink)
    assert set(received) == PEOPLE | {m[2] for m in MERCHANTS} | {AUTHORITY}
    assert all(len(messages) == 1 for messages in received.values())
    assert set(api.runs()) == {"subjects", "merchants", "authority"}


def test_a_send_while_a_run_is_under_way_is_409(
    api: Api, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    # The SMTP server holds every recipient until the gate opens: the run stays under way.
    gate = threading.Event()
    accept = smtp_sink._fault

    def held(address: str) -> str | None:
        gate.wait(WAIT)
        return accept(address)

    monkeypatch.setattr(smtp_sink, "_fault", held)
    try:
        first = api.send("subjects")
        assert first.status_code == 202, first.text
        assert first.json()["state"] == "sending"
        second = api.send("subjects")
        assert second.status_code == 409, second.text
        assert "under way on this server" in second.json()["detail"]
        assert "key:dpo" in second.json()["detail"]
    finally:
        gate.set()
    assert api.finished("subjects")["sent"] == len(PEOPLE)

    # A run of another process holds the lease in the database: refused, nothing sent.
    other = open_store(settings, create=False)  # the API's database, another connection
    try:
        with hold_lease(other, f"notify:{api.incident}:merchants", what="another run"):
            refused = api.send("merchants")
    finally:
        other.close()
    assert refused.status_code == 409, refused.text
    assert "under way elsewhere" in refused.json()["detail"]
    assert "merchants" not in api.runs()
    assert smtp_sink.count == len(PEOPLE)


def test_notices_of_an_incident_not_assessed_are_409(
    sqlite_settings: Settings, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    for api in _api(configured(sqlite_settings, tmp_path, smtp_sink.port), assess=False):
        for response in (api.send("subjects"), api.dry_run("subjects")):
            assert response.status_code == 409, response.text
            assert "assess it first" in response.json()["detail"]
        unknown = api.call(
            "dpo", "POST", "/v1/incidents/inc-nope/notices/subjects/send", {"confirm": True}
        )
        assert unknown.status_code == 404, unknown.text
        assert api.call("auditor", "GET", "/v1/incidents/inc-nope/notices/runs").status_code == 404
    assert smtp_sink.count == 0


@pytest.mark.parametrize(
    ("changes", "audience", "named"),
    [
        ({"notify_directory": None}, "subjects", "SENTINELLE_NOTIFY_DIRECTORY"),
        ({"merchant_directory": None}, "merchants", "SENTINELLE_MERCHANT_DIRECTORY"),
        ({"authority_email": None}, "authority", "SENTINELLE_AUTHORITY_EMAIL"),
        ({"shop_name": None, "notify_from": None}, "authority", "SENTINELLE_SHOP_NAME"),
        ({"smtp": "relay.example:587"}, "authority", "SENTINELLE_SMTP_TLS"),
    ],
    ids=["no-directory", "no-merchant-directory", "no-authority", "no-shop", "plain-remote"],
)
def test_what_the_server_lacks_is_a_409_naming_the_setting(
    sqlite_settings: Settings,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    changes: dict[str, Any],
    audience: str,
    named: str,
) -> None:
    for api in _api(configured(sqlite_settings, tmp_path, smtp_sink.port, **changes)):
        refused = api.send(audience)
        assert refused.status_code == 409, refused.text
        assert named in refused.json()["detail"]
        assert api.runs() == {}
    assert smtp_sink.count == 0


def test_a_dry_run_without_a_directory_shows_the_samples_without_counts(
    sqlite_settings: Settings, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    settings = configured(sqlite_settings, tmp_path, smtp_sink.port, notify_directory=None)
    for api in _api(settings):
        dry = api.dry_run("subjects")
        assert dry.status_code == 200, dry.text
        body = dry.json()
        assert {s["locale"] for s in body["samples"]} == {"en", "fr"}
        assert body["recipients"] is None and body["missing"] is None
        assert "SENTINELLE_NOTIFY_DIRECTORY" in body["note"]


def test_who_may_dry_run_send_and_watch(
    sqlite_settings: Settings, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    for api in _api(configured(sqlite_settings, tmp_path, smtp_sink.port)):
        before = api.incident_view()
        for who in ("merchant", "auditor", "reader", "responder"):
            for response in (api.send("subjects", who=who), api.dry_run("subjects", who=who)):
                assert response.status_code == 403, (who, response.text)
        merchant_view = api.call("merchant", "GET", f"{api.base}/runs")
        assert merchant_view.status_code == 403, merchant_view.text
        assert api.runs("auditor") == {} and api.runs("reader") == {}
        assert api.incident_view() == before
        # The body must say so: without confirm, or with another audience, nothing starts.
        for body in ({}, {"confirm": False}):
            response = api.call("dpo", "POST", f"{api.base}/subjects/send", body)
            assert response.status_code == 422, response.text
        assert (
            api.call("dpo", "POST", f"{api.base}/everyone/send", {"confirm": True}).status_code
            == 422
        )
    assert smtp_sink.count == 0
    assert ALL_SUBJECTS == len(CUSTOMERS) + 1  # the directory lacks one person in scope
