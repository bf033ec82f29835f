"""End to end: the console's pages as people use them, through the forms a browser posts.

The incident world (tests/incident_world.py) is ingested through the API; one alert about
Ana's unticketed reads is written into the store. A responder escalates it into an incident
from the queue, a DPO assesses it with the facts form and records the initial notification to
the authority; a merchant sees its own accesses with their proofs and nothing else. Every
console page sends a stranger to /login and refuses a role that lacks its permission.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from console_support import PASSWORD, form_token, login
from incident_world import UNJUSTIFIED_SUBJECTS, incident_events
from notice_world import AUTHORITY, configured
from sentinelle.access import Role
from sentinelle.access.accounts import create_key, create_user
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.detect import Alert, Severity
from sentinelle.detect.runner import alert_row
from sentinelle.guard.mail import LINK_PATH
from sentinelle.ledger.merkle import verify_inclusion
from sentinelle.response import ResponseEngine
from sentinelle.store import Store
from sentinelle.timeutil import parse_time
from sentinelle.web.pages import ROUTERS
from smtpsink import SmtpSink

ALERT = "al-ana"
INCIDENT_LINK = re.compile(r"^/incidents/(inc-[\w-]+)\?done=(opened|joined)$")
USERS = {
    "responder@example.org": (Role.RESPONDER, None),
    "dpo@example.org": (Role.DPO, None),
    "auditor@example.org": (Role.AUDITOR, None),
    "m1@example.org": (Role.MERCHANT, "m-1"),
    "m2@example.org": (Role.MERCHANT, "m-2"),
}


@dataclass
class Console:
    app: FastAPI
    store: Store
    clients: list[TestClient] = field(default_factory=list)

    def client(self) -> TestClient:
        client = TestClient(self.app, follow_redirects=False)
        client.__enter__()
        self.clients.append(client)
        return client

    def as_(self, email: str) -> TestClient:
        """A browser logged in as ``email``."""
        client = self.client()
        response = login(client, email)
        assert response.status_code == 303, response.text
        return client


@pytest.fixture
def console(settings: Settings, smtp_sink: SmtpSink, tmp_path: Path) -> Iterator[Console]:
    app = create_app(configured(settings, tmp_path, smtp_sink.port))
    store: Store = app.state.sentinelle.store
    made = Console(app, store)
    try:
        client = made.client()
        key = create_key(store, name="ingest", role=Role.INGEST, by="tests")
        sent = client.post(
            "/v1/events", json=incident_events(), headers={"Authorization": f"Bearer {key}"}
        )
        assert sent.status_code == 200, sent.text
        for email, (role, merchant) in USERS.items():
            create_user(
                store, email=email, role=role, password=PASSWORD, merchant=merchant, by="tests"
            )
        at = parse_time("2026-11-03T10:01:00Z")
        with store.writer() as w:
            w.upsert_alerts(
                [
                    alert_row(
                        Alert(
                            id=ALERT,
                            actor="ana",
                            detector="unjustified_access",
                            time_us=at,
                            last_us=at + 60_000_000,
                            severity=Severity.HIGH,
                            score=80.0,
                            merchants=["m-2"],
                            events=["a-1", "a-2"],
                            reasons=["read 2 merchants' customers with no ticket"],
                        )
                    ),
                    alert_row(
                        Alert(
                            id="al-low",
                            actor="bob",
                            detector="odd_hours",
                            time_us=at + 5_000_000,
                            last_us=at + 5_000_000,
                            severity=Severity.LOW,
                            score=10.0,
                            merchants=["m-1"],
                            events=["a-0"],
                            reasons=["worked at 03:00"],
                        )
                    ),
                ]
            )
        yield made
    finally:
        for client in reversed(made.clients):
            client.__exit__(None, None, None)


def _post(client: TestClient, page: str, action: str, data: dict[str, Any]) -> httpx.Response:
    """Post a form of ``page`` as the browser would: with the page's CSRF token."""
    token = form_token(client.get(page))
    return client.post(action, data={**data, "csrf_token": token})


def _escalate(console: Console) -> tuple[TestClient, str]:
    responder = console.as_("responder@example.org")
    queue = responder.get("/alerts")
    assert queue.status_code == 200
    # most severe first, reasons in full
    assert queue.text.index(ALERT) < queue.text.index("al-low")
    assert "read 2 merchants&#39; customers with no ticket" in queue.text
    done = _post(
        responder,
        "/alerts",
        "/alerts/triage?back=/alerts",
        {"ids": ALERT, "status": "escalated", "reason": "unticketed reads of m-2"},
    )
    assert done.status_code == 303, done.text
    found = INCIDENT_LINK.match(done.headers["location"])
    assert found is not None, done.headers["location"]
    landing = responder.get(done.headers["location"])  # says what the escalation did
    assert "Incident opened from the escalated alert(s)." in landing.text
    return responder, found.group(1)


def _finished(client: TestClient, incident_id: str, audience: str) -> dict[str, Any]:
    """The run's status once it ended (the send runs in the server's background)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = client.get(f"/v1/incidents/{incident_id}/notices/runs").json()["runs"]
        run: dict[str, Any] = runs[audience]
        if run["done"]:
            return run
        time.sleep(0.05)
    raise AssertionError(f"the {audience} run did not end: {run}")


def test_from_alert_to_authority_notification(console: Console, smtp_sink: SmtpSink) -> None:
    responder, incident_id = _escalate(console)
    page = responder.get(f"/incidents/{incident_id}")
    assert page.status_code == 200
    # the scope is counted from the ledger: Ana's unticketed reads of m-2
    assert re.search(r'class="n-merchants">1<', page.text)
    assert re.search(rf'class="n-subjects">{UNJUSTIFIED_SUBJECTS}<', page.text)
    assert "<code>m-2</code>" in page.text and "<code>m-1</code>" not in page.text
    # the alert it came from is named, with a link back
    assert f'Alerts escalated to it: <a href="/alerts/{ALERT}"><code>{ALERT}</code></a>' in (
        page.text
    )
    assert "not started" in page.text  # no awareness before the assessment
    assert 'action="/incidents/' + incident_id + '/assess"' not in page.text  # a DPO's
    refused = responder.post(
        f"/incidents/{incident_id}/assess",
        data={"csrf_token": form_token(page), "exfiltration": "confirmed"},
    )
    assert refused.status_code == 403
    # the queue shows who decided and why
    decided = responder.get("/alerts?status=escalated")
    assert "by responder@example.org" in decided.text
    assert "unticketed reads of m-2" in decided.text

    dpo = console.as_("dpo@example.org")
    assessed = _post(
        dpo,
        f"/incidents/{incident_id}",
        f"/incidents/{incident_id}/assess",
        {
            "summary": "A support agent read customers of a merchant without a ticket.",
            "cause.intent": "malicious",
            "exfiltration": "confirmed",
            "recipients": "unknown",
            "mitigations": "account suspended\npasswords reset",
        },
    )
    assert assessed.status_code == 303, assessed.text
    page = dpo.get(assessed.headers["location"])
    assert "Assessment recorded." in page.text
    assert "data-deadline=" in page.text  # the live countdown
    assert "Tell the supervisory authority" in page.text
    assert "account suspended" in page.text  # kept in the form as stated
    incident = dpo.get(f"/v1/incidents/{incident_id}").json()
    assert incident["state"] == "assessed"
    assert incident["clock"]["status"] == "running"

    # notices: a dry run shows the notice and sends nothing; a send needs its confirmation
    dry = dpo.get(f"/incidents/{incident_id}/notices/authority")
    assert dry.status_code == 200, dry.text
    assert "Nothing was sent" in dry.text and 'class="would-send">1<' in dry.text
    assert 'class="subject"' in dry.text and smtp_sink.messages() == []
    assert "In English: " in dry.text and "In en:" not in dry.text  # languages by name
    page = f"/incidents/{incident_id}"
    unconfirmed = _post(dpo, page, f"{page}/notices/merchants/send", {"version": "1"})
    assert unconfirmed.status_code == 422 and "Nothing was sent" in unconfirmed.text
    sent = _post(dpo, page, f"{page}/notices/merchants/send", {"confirm": "yes", "version": "1"})
    assert sent.status_code == 303, sent.text
    run = _finished(dpo, incident_id, "merchants")
    assert (run["state"], run["sent"], run["by"]) == ("finished", 1, "dpo@example.org")
    assert [m.rcpts for m in smtp_sink.messages()] == [("ops@soleil.example",)]  # m-2's
    shown = dpo.get(page)
    assert re.search(
        r'class="audience-merchants">\s*<td>merchants</td>\s*<td>[^<]*</td>\s*'
        r'<td class="sent">1</td>',
        shown.text,
    ), shown.text
    assert AUTHORITY not in shown.text  # no address on the page

    recorded = _post(
        dpo,
        f"/incidents/{incident_id}",
        f"/incidents/{incident_id}/phases",
        {"phase": "initial", "reference": "CNIL-2026-42", "note": "initial notification"},
    )
    assert recorded.status_code == 303, recorded.text
    page = dpo.get(recorded.headers["location"])
    assert "notified on time" in page.text and "CNIL-2026-42" in page.text
    log = dpo.get(f"/v1/incidents/{incident_id}").json()["decisions"]
    assert {e["by"] for e in log} >= {"responder@example.org", "dpo@example.org"}
    register = dpo.get("/register")
    assert incident_id in register.text


def test_bad_forms_change_nothing(console: Console) -> None:
    responder, incident_id = _escalate(console)
    dpo = console.as_("dpo@example.org")
    before = dpo.get(f"/v1/incidents/{incident_id}").json()
    page = f"/incidents/{incident_id}"
    bad = _post(dpo, page, f"{page}/assess", {"exfiltration": "maybe"})
    assert bad.status_code == 422
    assert "exfiltration must be one of confirmed, possible, ruled_out" in bad.text
    bad_json = _post(dpo, page, f"{page}/assess", {"facts_json": '{"records": -1}'})
    assert bad_json.status_code == 422 and "records" in bad_json.text
    not_json = _post(dpo, page, f"{page}/assess", {"facts_json": "{nope"})
    assert not_json.status_code == 422 and "not JSON" in not_json.text
    no_phase_before = _post(dpo, page, f"{page}/phases", {"phase": "final"})
    assert no_phase_before.status_code in (409, 422), no_phase_before.text
    no_csrf = dpo.post(f"{page}/assess", data={"exfiltration": "confirmed"})
    assert no_csrf.status_code == 403
    no_reason = _post(
        responder, "/alerts", "/alerts/triage", {"ids": "al-low", "status": "dismissed"}
    )
    assert no_reason.status_code == 422 and "Nothing was recorded" in no_reason.text
    unknown = _post(
        responder,
        "/alerts",
        "/alerts/triage",
        {"ids": "nope", "status": "dismissed", "reason": "x"},
    )
    assert unknown.status_code == 422 and "no alert with id" in unknown.text
    after = dpo.get(f"/v1/incidents/{incident_id}").json()
    assert after["decisions"] == before["decisions"] and after["state"] == "open"
    assert dpo.get("/v1/alerts/al-low").json()["status"] == "new"


def test_bulk_dismissal_and_filters(console: Console) -> None:
    responder = console.as_("responder@example.org")
    done = _post(
        responder,
        "/alerts",
        "/alerts/triage?back=/alerts%3Fstatus%3Dnew",
        {
            "ids": ["al-low", ALERT],
            "status": "dismissed",
            "reason": "known job",
            "suppress_days": "7",
        },
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/alerts?status=new&done=dismissed&n=2"
    page = responder.get(done.headers["location"])
    assert "2 alerts dismissed." in page.text and "No alert matches." in page.text
    dismissed = responder.get("/alerts?status=dismissed&min_severity=high")
    assert ALERT in dismissed.text and "al-low" not in dismissed.text
    odd = responder.get("/alerts?status=bogus&min_severity=nope")
    assert odd.status_code == 200 and "status must be one of" in odd.text
    one = responder.get(f"/alerts/{ALERT}")
    assert "known job" in one.text and "suppressed until" in one.text
    assert responder.get("/alerts/nope").status_code == 404


def test_auditor_reads_and_changes_nothing(console: Console) -> None:
    auditor = console.as_("auditor@example.org")
    for page in ("/", "/alerts", f"/alerts/{ALERT}", "/incidents", "/register", "/ledger"):
        response = auditor.get(page)
        assert response.status_code == 200, page
        assert 'action="/alerts/triage' not in response.text
    refused = _post(
        auditor, "/alerts", "/alerts/triage", {"ids": ALERT, "status": "dismissed", "reason": "x"}
    )
    assert refused.status_code == 403
    assert auditor.get(f"/v1/alerts/{ALERT}").json()["status"] == "new"


def test_merchant_sees_its_own_accesses_with_proofs(console: Console) -> None:
    merchant = console.as_("m1@example.org")
    home = merchant.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/merchants/m-1"
    page = merchant.get("/merchants/m-1")
    assert page.status_code == 200
    assert "ticket <code>T-1</code>" in page.text and "leaf #2," in page.text
    for other in ("/merchants/m-2", "/alerts", "/incidents", "/register", "/ledger", "/actors"):
        assert merchant.get(other).status_code in (403, 404), other
    # the page shows what the API proves: the leaf's proof checks against the checkpoint
    api = merchant.get("/v1/merchants/m-1/accesses").json()
    (item,) = api["items"]
    assert item["leaf_index"] == 2 and "a-0" in page.text
    # a staff access, shown to a merchant pseudonymously: its text withheld, its hash given
    assert item["event"] is None and item["shown"]["actor"].startswith("staff-")
    checkpoint = merchant.get("/v1/ledger/checkpoint").json()
    verify_inclusion(
        bytes.fromhex(item["leaf_hash"]),
        item["leaf_index"],
        checkpoint["size"],
        [bytes.fromhex(h) for h in item["proof"]],
        bytes.fromhex(checkpoint["root_hash"]),
    )
    other = console.as_("m2@example.org")
    assert "a-1" in other.get("/merchants/m-2").text
    assert "a-0" not in other.get("/merchants/m-2").text


def test_ledger_proof_lookup(console: Console) -> None:
    auditor = console.as_("auditor@example.org")
    found = auditor.get("/ledger?event=a-1")
    assert found.status_code == 200 and "Leaf index" in found.text and "3 of 5" in found.text
    missing = auditor.get("/ledger?event=zzz")
    assert missing.status_code == 404 and "no event with id" in missing.text


def _console_pages() -> list[tuple[str, str]]:
    """Every console page's route (method, path): the login form's are in test_console.py."""
    out = []
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            if route.path.startswith(LINK_PATH):  # public by design: test_console_grants.py
                continue
            for method in sorted(route.methods):
                path = route.path.replace("{merchant}", "m-1")
                out.append((method, re.sub(r"\{[^}]+\}", "x", path)))
    return out


def test_every_page_needs_a_session_and_its_permission(console: Console) -> None:
    pages = _console_pages()
    assert len(pages) >= 12, pages
    stranger = console.client()
    for method, path in pages:
        response = stranger.request(method, path, data={"csrf_token": "x"})
        assert response.status_code == 303, (method, path, response.status_code)
        assert response.headers["location"] == "/login", (method, path)
    merchant = console.as_("m2@example.org")
    for method, path in pages:
        if path == "/":
            continue
        response = merchant.request(method, path, data={"csrf_token": "x"})
        assert response.status_code == 403, (method, path, response.status_code)


def test_actor_pages(console: Console) -> None:
    responder = console.as_("responder@example.org")
    risky = responder.get("/actors?until=2026-11-03&days=30")
    assert risky.status_code == 200
    assert risky.text.index(">ana<") < risky.text.index(">bob<")  # high before low
    page = responder.get("/actors/ana?until=2026-11-04&days=7&metric=unjustified")
    assert page.status_code == 200
    svg = page.text[page.text.index("<svg") : page.text.index("</svg>")]
    assert 'class="mine"' in svg and "2026-11-03: 2</title>" in svg  # two unticketed reads
    assert "<td>2026-11-03</td>" in page.text  # the table beside the chart
    assert "<code>T-1</code> × 1" in page.text and ">2</strong> cited no ticket" in page.text
    assert ALERT in page.text
    odd = responder.get("/actors/ana?metric=nope&days=0")
    assert "metric must be one of" in odd.text and "days must be" in odd.text
    assert responder.get("/actors/nobody").status_code == 404


def test_a_new_alert_on_an_incidents_actor_says_so(console: Console) -> None:
    """An alert still waiting on someone an open incident is about names that incident (the
    queue and the alert's page), so it does not look like news; others do not."""
    responder, incident_id = _escalate(console)  # ana's alert: the incident is about ana
    at = parse_time("2026-11-05T10:00:00Z")
    later = Alert(id="al-later", actor="ana", detector="long_horizon", time_us=at, last_us=at,
                  severity=Severity.MEDIUM, score=40.0, merchants=["m-2"], events=["a-1"],
                  reasons=["more of the same"])  # fmt: skip
    with console.store.writer() as w:
        w.upsert_alerts([alert_row(later)])
    said = f'ana is in open incident <a href="/incidents/{incident_id}">{incident_id}</a>'
    queue = responder.get("/alerts")
    assert queue.text.count(said) == 1, queue.text  # al-later's row; bob's al-low has none
    assert "bob is in open incident" not in queue.text
    page = responder.get("/alerts/al-later")
    assert said in page.text and "dismiss it as covered" in page.text
    assert "is in open incident" not in responder.get("/alerts/al-low").text
    # the incident's page counts them, with a link to them in the queue
    incident_page = responder.get(f"/incidents/{incident_id}").text
    assert (
        'New alerts on its actors, waiting for triage: <a href="/alerts?actor=ana&amp;status=new">'
        "ana: 1</a>."
    ) in incident_page
    # and so does the start page, under the counts of new alerts
    home = responder.get("/").text
    assert (
        'Of them, on people an open incident is about: <a href="/alerts?actor=ana&amp;status=new">'
        "ana: 1</a>."
    ) in home
    # once decided, the alert is no longer waiting: the note goes
    done = _post(
        responder,
        "/alerts",
        "/alerts/triage?back=/alerts",
        {"ids": "al-later", "status": "dismissed", "reason": "covered by the incident"},
    )
    assert done.status_code == 303, done.text
    assert said not in responder.get("/alerts?status=all").text
    assert "waiting for triage" not in responder.get(f"/incidents/{incident_id}").text
    assert "on people an open incident is about" not in responder.get("/").text


def test_a_reason_naming_the_alert_it_adds_to_links_to_it(console: Console) -> None:
    """A finding held back as "not a new alert" names the alert it adds to: the console links
    that id, and escapes everything else in the reason."""
    at = parse_time("2026-11-04T10:01:00Z")
    first = "al-0123456789abcdef"
    with console.store.writer() as w:
        w.upsert_alerts(
            [
                alert_row(
                    Alert(
                        id="al-again",
                        actor="<b>ana</b>",
                        detector="long_horizon",
                        time_us=at,
                        last_us=at,
                        severity=Severity.LOW,
                        score=20.0,
                        merchants=["m-2"],
                        events=["a-3"],
                        reasons=[
                            "lists again",
                            f"Not a new alert: this adds to {first} (unjustified_access, high, "
                            "2026-11-03T10:01Z) about <b>ana</b> on the same signal.",
                        ],
                    )
                )
            ]
        )
    responder = console.as_("responder@example.org")
    for page in ("/alerts/al-again", "/alerts?min_severity=low"):
        text = responder.get(page).text
        assert f'this adds to <a href="/alerts/{first}">{first}</a> (unjustified_access' in text
        assert "about &lt;b&gt;ana&lt;/b&gt; on the same signal" in text
        # its UTC time is a <time> the console shows in the viewer's zone, as every other
        assert (
            '<time datetime="2026-11-03T10:01Z" title="2026-11-03T10:01Z" data-local>'
            "2026-11-03T10:01Z</time>) about" in text
        )


def _section(page: str, heading: str, end: str) -> str:
    """The page's text from ``heading`` to the next ``end``."""
    start = page.index(heading)
    return page[start : page.index(end, start)]


def test_the_incident_page_says_it_in_words(console: Console, smtp_sink: SmtpSink) -> None:
    _, incident_id = _escalate(console)
    dpo = console.as_("dpo@example.org")
    page = f"/incidents/{incident_id}"
    stated = {"cause.intent": "malicious", "exfiltration": "confirmed"}  # recipients unknown
    assert _post(dpo, page, f"{page}/assess", stated).status_code == 303
    assumed = _section(dpo.get(page).text, "Assumed until someone states otherwise", "</section>")
    # each assumption by the fact in words, its answers that would change the decision once
    assert "$." not in assumed and "Who obtained the data" in assumed
    assert "stating it would change" not in assumed and ".," not in assumed
    recipients = _section(assumed, "Who obtained the data", "</ul>")
    assert recipients.count("Answers that would change the decision") == 1
    assert re.search(
        r"<li>“none”: the authority would not have to be notified[^<]*\.</li>", recipients
    )

    # the send: "Sending started" once, not kept in the page's address; the version labelled
    shown = dpo.get(page).text
    assert '<label for="version-merchants">version</label>' in shown
    sent = _post(dpo, page, f"{page}/notices/merchants/send", {"confirm": "yes", "version": "1"})
    assert sent.status_code == 303 and "done=" not in sent.headers["location"]
    assert "Sending started" in dpo.get(sent.headers["location"]).text
    _finished(dpo, incident_id, "merchants")
    assert "Sending started" not in dpo.get(sent.headers["location"]).text  # a reload
    assert _post(
        dpo, page, f"{page}/phases", {"phase": "initial", "reference": "CNIL-2026-42"}
    ).status_code == 303  # fmt: skip

    log = _section(dpo.get(page).text, 'id="h-log"', "</table>")
    for raw in ("authority_notified", "<td>notices</td>", "<td>scope</td>", "<td>assessment"):
        assert raw not in log
    assert (
        "<strong>authority notified</strong>: initial notification; reference CNIL-2026-42; on time"
        in log
    )
    assert "<strong>notices sent</strong>: to the merchants, version 1; 1 sent" in log
    assert re.search(r"<strong>scope recorded</strong>: 1 merchants, \d+ people", log)
    assert "<strong>assessed</strong>: severity " in log


def test_refused_triage_says_it_in_words_and_keeps_the_form(console: Console) -> None:
    responder = console.as_("responder@example.org")
    form = {"ids": ALERT, "status": "dismissed", "reason": "a known job", "suppress_days": "120"}
    refused = _post(responder, "/alerts", "/alerts/triage", form)
    assert refused.status_code == 422
    assert "Nothing was recorded: Suppress for (days): at most 90." in refused.text
    assert "Input should" not in refused.text and "suppress_days" not in refused.text.split(
        'name="suppress_days"')[0]  # fmt: skip
    # what was typed and ticked is there again
    assert 'value="a known job"' in refused.text and 'value="120"' in refused.text
    assert '<option value="dismissed" selected>' in refused.text
    assert re.search(rf'value="{ALERT}"[^>]*checked', refused.text)
    assert not re.search(r'value="al-low"[^>]*checked', refused.text)
    no_reason = _post(
        responder, f"/alerts/{ALERT}", f"/alerts/{ALERT}/triage", {"status": "acknowledged"}
    )
    assert no_reason.status_code == 422 and "Reason: say why" in no_reason.text
    assert '<option value="acknowledged" selected>' in no_reason.text
    assert "Field required" not in no_reason.text
    assert responder.get(f"/v1/alerts/{ALERT}").json()["status"] == "new"


def test_an_incident_with_no_access_in_scope_can_be_closed_from_its_page(
    console: Console,
) -> None:
    # A false lead: its actor read no customer data. The engine lets it close unassessed, and
    # the page offers it (an incident with accesses in scope is offered nothing before its
    # assessment).
    engine = ResponseEngine(console.store)
    lead = engine.open(
        title="a false lead", by="tests", actors=["nobody"], from_us=parse_time("2026-11-01")
    )
    real = engine.open(title="ana", by="tests", actors=["ana"], from_us=parse_time("2026-11-01"))
    dpo = console.as_("dpo@example.org")
    assert '<option value="closed">' in dpo.get(f"/incidents/{lead.id}").text
    assert 'id="a-state"' not in dpo.get(f"/incidents/{real.id}").text
    done = _post(
        dpo,
        f"/incidents/{lead.id}",
        f"/incidents/{lead.id}/advance",
        {"state": "closed", "reason": "nobody read customer data"},
    )
    assert done.status_code == 303, done.text
    assert engine.get(lead.id).state.value == "closed"


def test_a_time_written_for_people_in_a_text_is_shown_in_the_viewers_zone_too() -> None:
    """Guard texts write times as people read them (``… valid until 2026-12-07 20:49 UTC``,
    a grant's history): they become ``<time>`` as ISO ones do; the rest is escaped."""
    from sentinelle.web.common import _alert_links

    shown = str(_alert_links("links <sent>, valid until 2026-12-07 20:49 UTC; not 2026-12-07"))
    assert shown == (
        "links &lt;sent&gt;, valid until "
        '<time datetime="2026-12-07T20:49Z" title="2026-12-07T20:49Z" data-local>'
        "2026-12-07 20:49 UTC</time>; not 2026-12-07"
    )
