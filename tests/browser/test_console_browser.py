"""The console in a real browser: Debian's Chromium, headless, driven by Playwright.

The same flows as tests/e2e/test_console_pages.py, through the pages as people use them (see
tests/browser/conftest.py for the world, the server and the browser):

* a responder logs in, ticks the pair harvest's two alerts in the queue (one by click, one by
  keyboard), escalates them with a reason and lands on the new incident: its scope (2
  merchants, 6 people) and its 72-hour clock, not started before the assessment;
* a DPO assesses the incident with the facts form: the countdown appears and ticks; times are
  shown in the browser's zone (Asia/Tokyo, UTC+9); then records the initial notification to
  the authority: "notified on time"; and runs a dry run of the notices to the people
  concerned: the sample notice's subject names the shop, nothing is sent;
* a merchant logs in, lands on its own accesses, opens a proof, sees nothing of another
  merchant's (403 on its page and on the queue).

On every page visited: no Content-Security-Policy violation, no console error, no script
error, and every form control has an accessible label. Full-page screenshots of each step are
saved to test-output/screenshots/.
"""

from __future__ import annotations

import re
from datetime import datetime

import httpx
from browser_support import (
    DPO,
    LOW,
    MERCHANT,
    MERCHANTS,
    PAIR,
    RESPONDER,
    SHOP,
    ZONE_OFFSET,
    Visit,
    World,
)
from playwright.sync_api import expect

from console_support import form_token, login

INCIDENT_URL = re.compile(r"/incidents/(inc-[\w-]+)\?done=opened$")
COUNTDOWN = re.compile(r"^(\d+ d )?\d\d:\d\d:\d\d left$")


def _escalate_over_http(world: World) -> str:
    """The responder's escalation through the forms (httpx): for the DPO's test alone."""
    with httpx.Client(base_url=world.url, follow_redirects=False, timeout=60) as client:
        assert login(client, RESPONDER).status_code == 303
        token = form_token(client.get("/alerts"))
        done = client.post(
            "/alerts/triage",
            data={"ids": list(PAIR), "status": "escalated", "reason": "x", "csrf_token": token},
        )
        assert done.status_code == 303, done.text
        found = INCIDENT_URL.search(done.headers["location"])
        assert found is not None
        return found.group(1)


def _assert_local_times(visit: Visit) -> int:
    """Every <time> shown by the script is its UTC datetime in the browser's zone (+9 h)."""
    times = visit.page.locator("time[data-local]")
    expect(times.first).to_have_attribute("title", re.compile(r"\(UTC\)$"))  # the script ran
    checked = 0
    for item in times.all():
        utc = datetime.fromisoformat(item.get_attribute("datetime") or "")
        assert item.inner_text() == (utc + ZONE_OFFSET).strftime("%Y-%m-%d %H:%M")
        checked += 1
    return checked


def test_responder_escalates_the_pair_harvest(visit: Visit, world: World) -> None:
    page = visit.page
    visit.login(RESPONDER)  # lands on the start page
    page.get_by_role("link", name="Alerts", exact=True).click()
    expect(page).to_have_url(visit.url("/alerts"))
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(3)
    # most severe first: the pair's two high alerts, then bob's low one
    order = [r.locator("a.alert-link").inner_text() for r in rows.all()]
    assert set(order[:2]) == set(PAIR) and order[2] == LOW
    expect(rows.first).to_contain_text("without a ticket or grant (m-1, m-2)")
    _assert_local_times(visit)

    page.get_by_label(f"Tick alert {PAIR[0]}").click()
    second = page.get_by_label(f"Tick alert {PAIR[1]}")
    second.focus()
    page.keyboard.press("Space")
    expect(second).to_be_checked()
    expect(page.get_by_label(f"Tick alert {LOW}")).not_to_be_checked()
    page.get_by_label("Decision").select_option("escalated")
    page.get_by_label("Why", exact=True).fill("agent-017 and agent-203 harvest m-1 and m-2")
    visit.shot("queue-ticked")
    page.get_by_role("button", name="Record").click()

    expect(page).to_have_url(INCIDENT_URL)
    found = INCIDENT_URL.search(page.url)
    assert found is not None
    world.incident = found.group(1)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Escalated 2 alerts")
    # the scope, counted from the ledger: the unjustified reads only (not a-0, under T-1)
    expect(page.locator(".n-merchants")).to_have_text(str(world.unjustified_merchants))
    expect(page.locator(".n-subjects")).to_have_text(str(world.unjustified_subjects))
    scope_rows = page.locator("table.scope tbody tr")
    expect(scope_rows).to_have_count(2)
    expect(scope_rows.locator("code")).to_have_text(["m-1", "m-2"], ignore_case=False)
    # no awareness before the assessment, so no clock, and no assess form for a responder
    expect(page.locator(".clock")).to_contain_text("not started")
    expect(page.locator("[data-deadline]")).to_have_count(0)
    expect(page.get_by_role("button", name="Assess")).to_have_count(0)
    visit.shot("incident")

    page.goto(visit.url("/alerts?status=escalated"))
    expect(page.locator("table.queue tbody tr")).to_have_count(2)
    expect(page.locator("table.queue")).to_contain_text(f"by {RESPONDER}")
    visit.shot("queue-escalated")


def test_dpo_assesses_and_notifies_the_authority(visit: Visit, world: World) -> None:
    incident = world.incident or _escalate_over_http(world)
    page = visit.page
    visit.login(DPO)
    page.goto(visit.url(f"/incidents/{incident}"))
    expect(page.locator(".clock")).to_contain_text("not started")
    visit.shot("before")

    page.get_by_label("What happened (summary)").fill(
        "Two support agents read customers of two merchants without a ticket."
    )
    # labelled in words, the facts key beside for who writes the JSON
    page.get_by_label("Whether it was deliberate cause.intent").select_option("malicious")
    page.get_by_label("Whether the data left our systems exfiltration").select_option("confirmed")
    page.get_by_label("Who obtained the data recipients").select_option("unknown")
    page.get_by_label("What was done (one measure per line)").fill(
        "accounts suspended\nsessions revoked"
    )
    visit.shot("assess-filled")
    page.get_by_role("button", name="Assess", exact=True).click()

    expect(page.get_by_role("status")).to_have_text("Assessment recorded.")
    expect(
        page.get_by_role("heading", name="Tell the supervisory authority (Art. 33)")
    ).to_be_visible()
    # the live countdown (console.js) replaces the server's "2 d 23 h left" and ticks
    countdown = page.locator(".clock [data-deadline]")
    expect(countdown).to_have_text(COUNTDOWN)
    first = countdown.inner_text()
    page.wait_for_timeout(1_100)
    expect(countdown).not_to_have_text(first)
    expect(countdown).to_have_text(COUNTDOWN)
    # times in the browser's zone, UTC in the title; the deadline is 72 h after awareness
    assert _assert_local_times(visit) >= 3
    visit.shot("assessed")

    form = page.locator("form", has=page.get_by_role("button", name="Record the notification"))
    form.get_by_label("Phase").select_option("initial")
    form.get_by_label("Authority's reference").fill("CNIL-2026-42")
    form.get_by_label("Note").fill("initial notification, by the DPO's portal")
    form.get_by_role("button", name="Record the notification").click()

    expect(page.get_by_role("status")).to_have_text("Notification to the authority recorded.")
    expect(page.locator(".clock").first).to_contain_text("notified on time")
    expect(page.locator("[data-deadline]")).to_have_count(0)
    expect(page.get_by_role("cell", name="CNIL-2026-42", exact=True)).to_be_visible()
    visit.shot("notified")

    # a dry run of the notices to the people concerned: each language's sample, nothing sent
    page.locator("tr.audience-subjects").get_by_role("link", name="Dry run").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dry run: notices to the subjects")
    expect(page.get_by_role("status")).to_contain_text("Nothing was sent.")
    expect(page.locator(".sample .subject").first).to_have_text(
        f"Information about your personal data at {SHOP}"
    )
    expect(page.locator("tr.audience-subjects")).to_have_count(0)  # not the incident page
    visit.shot("notices-dry-run")

    # the notices to the merchants go out by SMTP, once each; the page shows the progress
    page.go_back()
    row = page.locator("tr.audience-merchants")
    row.get_by_label("Send to the merchants").check()
    row.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status")).to_contain_text("Sending started")
    for _ in range(100):  # the run is in the server's background: reload until it ended
        if page.locator("tr.audience-merchants .run-finished").count():
            break
        page.wait_for_timeout(100)
        page.reload()
    expect(page.locator("tr.audience-merchants td.sent")).to_have_text("2")
    expect(page.locator("tr.audience-merchants")).to_contain_text(f"finished by {DPO}")
    sent = sorted(r for m in world.sink.messages() for r in m.rcpts)
    assert sent == sorted(email for email, _ in MERCHANTS.values())
    visit.shot("notices-sent")


def test_merchant_sees_its_own_accesses_only(visit: Visit, world: World) -> None:
    page = visit.page
    visit.login(MERCHANT)
    expect(page).to_have_url(visit.url("/merchants/m-1"))
    rows = page.locator("table.accesses tbody tr")
    expect(rows).to_have_count(len(world.events_by_merchant["m-1"]))
    table = page.locator("table.accesses")
    for event_id in world.events_by_merchant["m-1"]:
        expect(table.locator("code", has_text=re.compile(f"^{event_id}$"))).to_have_count(1)
    for event_id in world.events_by_merchant["m-2"]:
        expect(table.locator("code", has_text=re.compile(f"^{event_id}$"))).to_have_count(0)
    expect(table).to_contain_text("ticket T-1")
    expect(table.locator("strong.unjustified").first).to_have_text("no ticket or grant")
    _assert_local_times(visit)

    proof = rows.first.locator("details")
    expect(proof.locator("ol.path")).not_to_be_visible()
    proof.locator("summary").click()
    expect(proof).to_have_attribute("open", "")
    hashes = proof.locator("ol.path li code")
    expect(hashes.first).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    visit.shot("accesses-proof-open")

    for refused in ("/merchants/m-2", "/alerts"):
        visit.refused.add(visit.url(refused))
        response = page.goto(visit.url(refused))
        assert response is not None and response.status == 403, refused
        expect(page.locator("body")).not_to_contain_text("c-2-")
        visit.shot("refused-" + refused.strip("/").replace("/", "-"))


def test_the_watch_sees_a_csp_violation(visit: Visit) -> None:
    """The watch the other tests rely on: an inline script is refused, and both the page's
    securitypolicyviolation event and Chromium's console error report it."""
    page = visit.page
    page.goto(visit.url("/login"))
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text) as said:
        page.evaluate(
            """() => { const s = document.createElement("script");
                       s.textContent = "window.ran = 1"; document.head.append(s); }"""
        )
    assert said.value.type == "error"
    assert page.evaluate("() => window.ran") is None  # not run: the CSP holds
    page.wait_for_function("() => (window.__sentinelleCsp || []).length > 0")
    violations = visit.csp_violations()
    assert any(v.startswith("script-src") for v in violations), violations
    assert any("Content Security Policy" in p for p in visit.problems), visit.problems
    page.evaluate("() => { window.__sentinelleCsp = []; }")
    visit.problems.clear()  # the violation was the point
