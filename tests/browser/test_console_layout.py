"""The console's layout on a phone (390 px wide, as an iPhone 12-15): a wide table scrolls in
its own box, the page itself never scrolls sideways; ids in tables (tickets, events, grants)
are never broken across lines (the table scrolls instead). See tests/browser/conftest.py for
the world, the server and the browser."""

from __future__ import annotations

import httpx
from browser_support import DPO, PAIR, RESPONDER, Visit, World
from playwright.sync_api import ViewportSize, expect

from console_support import form_token, login

PHONE: ViewportSize = {"width": 390, "height": 844}
# Every id (a <code> of a table cell, hashes aside) laid out on more than one line.
BROKEN_IDS_JS = """() => [...document.querySelectorAll("td code:not(.wrap)")]
  .filter((c) => !c.closest("ol.path") && c.getClientRects().length > 1)
  .map((c) => `${c.textContent} (${c.getClientRects().length} lines)`)"""


def _incident(world: World) -> str:
    """An incident to look at: the pair harvest escalated through the queue's form."""
    if world.incident:
        return world.incident
    with httpx.Client(base_url=world.url, follow_redirects=False, timeout=60) as client:
        assert login(client, RESPONDER).status_code == 303
        done = client.post(
            "/alerts/triage",
            data={"ids": list(PAIR), "status": "escalated", "reason": "x",
                  "csrf_token": form_token(client.get("/alerts"))},
        )  # fmt: skip
        assert done.status_code == 303, done.text
        world.incident = done.headers["location"].rsplit("/", 1)[1]
    return world.incident


def test_no_page_scrolls_sideways_on_a_phone(visit: Visit, world: World) -> None:
    incident = _incident(world)
    page = visit.page
    visit.login(DPO)
    page.set_viewport_size(PHONE)
    for name, path in [
        ("home", "/"),
        ("alerts", "/alerts?status=all"),
        ("merchant", "/merchants/m-1"),
        ("incident", f"/incidents/{incident}"),
    ]:
        page.goto(visit.url(path))
        expect(page.locator("main h1")).to_be_visible()
        page.wait_for_timeout(300)  # the scripts (local times, proofs) have run
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path}: the page is {width} px wide"
        assert page.evaluate(BROKEN_IDS_JS) == [], path
        visit.shot(f"phone-{name}")
    # the tables are still all there: they scroll in their own box
    page.goto(visit.url("/merchants/m-1"))
    box = page.locator(".table-scroll:has(table.accesses)")
    assert box.evaluate("(el) => el.scrollWidth > el.clientWidth")
    expect(page.locator("table.accesses tbody tr").first).to_be_visible()
