"""The merchant's page in a real browser: every proof is checked by the page's own script
(``/static/proofs.js``: SHA-256 leaf hash with WebCrypto, the RFC 9162 path, the checkpoint's
Ed25519 signature against the verifier key), and the page says so row by row.

* a responder (names shown, event texts embedded) sees "verified" on every row and the
  checkpoint verified against the published key;
* the merchant (staff pseudonymous: leaf hashes, no texts) sees "verified (by hash)", no
  staff id anywhere, and can filter by customer;
* with another key pasted in the form, the checkpoint and every row say FAILED;
* an event changed in the database: its row says FAILED (for the responder and the
  merchant), the others stay verified, and the server's own warning is shown.

Screenshots of each step go to test-output/screenshots/ (see conftest.py).
"""

from __future__ import annotations

from browser_support import MERCHANT, RESPONDER, Visit, World
from playwright.sync_api import expect

from sentinelle.ledger.checkpoint import SigningKey

CHECKS = "table#proofs tbody tr output.check"


def _wait_for_checks(visit: Visit) -> list[str]:
    """The text of every row's check, once the script has checked them all."""
    page = visit.page
    expect(page.locator("#proof-summary")).not_to_contain_text("not checked yet")
    return [c.inner_text() for c in page.locator(CHECKS).all()]


def test_a_responder_sees_every_proof_verified(visit: Visit, world: World) -> None:
    visit.login(RESPONDER)
    visit.page.goto(visit.url("/merchants/m-1"))
    checks = _wait_for_checks(visit)
    assert checks == ["verified"] * len(world.events_by_merchant["m-1"])
    expect(visit.page.locator("#checkpoint-check")).to_contain_text("Checkpoint verified")
    expect(visit.page.locator("#proof-summary")).to_contain_text("verified against the signed")
    assert "agent-017" in visit.page.locator("table#proofs").inner_text()  # names, for staff
    visit.page.locator("table#proofs details").first.click()
    visit.shot("staff-view")


def test_the_merchant_sees_pseudonyms_and_proofs_by_hash(visit: Visit, world: World) -> None:
    visit.login(MERCHANT)  # lands on its own page
    checks = _wait_for_checks(visit)
    assert checks == ["verified (by hash)"] * len(world.events_by_merchant["m-1"])
    table = visit.page.locator("table#proofs").inner_text()
    assert "agent-" not in table and "staff-" in table and "tier1" in table
    visit.shot("merchant-view")
    visit.page.get_by_label("Customer").fill("c-1-z")
    visit.page.get_by_role("button", name="Show").click()
    assert _wait_for_checks(visit) == ["verified (by hash)"]  # only a-0 named c-1-z
    expect(visit.page.locator("table#proofs")).to_contain_text("ticket T-1")
    visit.shot("merchant-customer-lookup")


def test_another_key_fails_the_checkpoint_and_every_row(visit: Visit, world: World) -> None:
    visit.login(RESPONDER)
    visit.page.goto(visit.url("/merchants/m-1"))
    _wait_for_checks(visit)
    origin = world.state.settings.log_origin
    visit.page.get_by_label("Verifier key").fill(SigningKey.generate(origin).verifier_key())
    visit.page.get_by_role("button", name="Check again with this key").click()
    expect(visit.page.locator("#checkpoint-check")).to_contain_text("Checkpoint FAILED")
    expect(visit.page.locator("#proof-summary")).to_contain_text("FAILED")
    checks = [c.inner_text() for c in visit.page.locator(CHECKS).all()]
    assert checks and all(c.startswith("FAILED: the checkpoint is not verified") for c in checks)
    visit.shot("wrong-key")


def test_a_changed_event_fails_its_row(visit: Visit, world: World) -> None:
    store = world.state.store
    changed = "a-1"
    with store.writer() as w:
        w._x(
            "UPDATE events SET body = replace(body, ?, ?) WHERE id = ?",
            ('"count":2', '"count":1', changed),
        )
    try:
        for who in (RESPONDER, MERCHANT):
            visit.login(who)
            visit.page.goto(visit.url("/merchants/m-1"))
            _wait_for_checks(visit)
            rows = visit.page.locator("table#proofs tbody tr")
            failed = []
            for i in range(rows.count()):
                row = rows.nth(i)
                check = row.locator("output.check").inner_text()
                if row.locator("summary").inner_text().endswith(f", {changed}"):
                    failed.append(check)
                    assert check.startswith("FAILED: "), check
                else:
                    assert check.startswith("verified"), check
            assert len(failed) == 1, failed  # the changed row is on the page, and checked
            expect(visit.page.locator("p.error").first).to_contain_text("own check of these proofs")
            expect(visit.page.locator("#checkpoint-check")).to_contain_text("Checkpoint verified")
            visit.shot(f"changed-event-{who.split('@')[0]}")
            visit.page.context.clear_cookies()
    finally:
        with store.writer() as w:
            w._x(
                "UPDATE events SET body = replace(body, ?, ?) WHERE id = ?",
                ('"count":1', '"count":2', changed),
            )
