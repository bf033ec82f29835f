"""The merchant's grants in a real browser (issue 12 §1): with a guard policy, the merchant's
page shows the request waiting for its answer and the grants' history with the grantee as the
accesses list shows staff (the same pseudonym, team, role and country), no staff id or staff
key name anywhere, every proof still verified by the page's script; the grant's page likewise;
a responder sees the names. Screenshots go to test-output/screenshots/.

This module serves its own console (a guard policy, one grant and its access), in place of the
shared pair harvest: ``world`` is overridden here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from browser_support import Visit
from playwright.sync_api import expect

from console_support import PASSWORD
from guard_support import ASK_AGENT_7, POLICY, access_citing
from sentinelle.access import Role
from sentinelle.access.accounts import create_key, create_user
from sentinelle.api.main import create_app
from sentinelle.api.staff_view import STAFF
from sentinelle.config import Settings
from sentinelle.transparency.accesses import Pseudonyms
from served import served

OWNER = "owner@shop2.example"
RITA = "rita@platform.example"


@dataclass
class GrantsWorld:
    url: str
    grant: str
    pseudonym: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrantsWorld]:
    """The console with a guard policy: a grant of m-2 for agent-7 asked by a responder,
    approved by the merchant and by another responder, an access citing it, and a request
    from the guard waiting for the merchant's answer."""
    with pytest.MonkeyPatch.context() as env:  # a developer's SENTINELLE_* must not leak in
        for name in list(os.environ):
            if name.startswith("SENTINELLE_"):
                env.delenv(name)
        folder = tmp_path_factory.mktemp("grants-browser")
        (folder / "guard.toml").write_text(POLICY)
        settings = Settings(
            _env_file=None, data_dir=folder / "data", guard_policy=folder / "guard.toml"
        )
    app = create_app(settings)
    state = app.state.sentinelle
    store = state.store
    keys = {
        name: create_key(store, name=name, role=role, merchant=merchant, by="tests")
        for name, role, merchant in (
            ("console", Role.GUARD, None),
            ("rita-key", Role.RESPONDER, None),
            ("sam-key", Role.RESPONDER, None),
            ("ingest", Role.INGEST, None),
            ("shop2", Role.MERCHANT, "m-2"),
        )
    }
    create_user(store, email=OWNER, role=Role.MERCHANT, password=PASSWORD, merchant="m-2", by="t")
    create_user(store, email=RITA, role=Role.RESPONDER, password=PASSWORD, by="t")
    try:
        with served(app, what="the console") as url, httpx.Client(base_url=url) as client:

            def call(key: str, path: str, body: object) -> dict:
                response = client.post(
                    path, json=body, headers={"Authorization": f"Bearer {keys[key]}"}
                )
                assert response.status_code in (200, 201), response.text
                return dict(response.json())

            grant = call("rita-key", "/v1/grants", ASK_AGENT_7)
            call("shop2", f"/v1/merchants/m-2/grants/{grant['id']}/approve", None)
            call("sam-key", f"/v1/merchants/m-2/grants/{grant['id']}/approve", None)
            # The same UTC day as the request, whenever the test runs.
            access = access_citing(grant["id"], grant["requested"])
            call("ingest", "/v1/events", [access])
            call(
                "console",
                "/v1/grants",
                {**ASK_AGENT_7, "actor": "agent-9", "reason": "address change"},
            )
            pseudonym = Pseudonyms.load_or_create(Path(settings.data_dir)).of(
                "m-2", "agent-7", grant["requested"][:10]
            )
            yield GrantsWorld(url, grant["id"], pseudonym)
    finally:
        state.close()


def test_the_merchant_sees_its_grants_staff_pseudonymously(
    visit: Visit, world: GrantsWorld
) -> None:
    visit.login(OWNER)  # lands on its own page
    page = visit.page
    expect(page.locator("#proof-summary")).to_contain_text("verified against the signed")
    history = page.locator("table.grants")
    expect(history).to_contain_text(world.pseudonym)
    expect(history).to_contain_text("team tier1")
    expect(history).to_contain_text(STAFF)
    # The accesses list shows the same person by the same pseudonym.
    expect(page.locator("table#proofs")).to_contain_text(world.pseudonym)
    waiting = page.locator("fieldset.grant-request")
    expect(waiting).to_contain_text("asks to export")
    expect(waiting).to_contain_text("key:console")  # the guard: a service, named
    text = page.locator("main").inner_text()
    assert "agent-7" not in text and "agent-9" not in text
    assert "rita-key" not in text and "sam-key" not in text
    visit.shot("merchant-grants")
    page.locator(f'a[href="/merchants/m-2/grants/{world.grant}"]').first.click()
    expect(page.locator("h1")).to_contain_text(world.grant)
    text = page.locator("main").inner_text()
    assert world.pseudonym in text and "agent-7" not in text and "sam-key" not in text
    visit.shot("merchant-grant")


def test_a_responder_sees_the_names(visit: Visit, world: GrantsWorld) -> None:
    visit.login(RITA)
    visit.page.goto(visit.url(f"/merchants/m-2/grants/{world.grant}"))
    main = visit.page.locator("main")
    expect(main).to_contain_text("agent-7")
    expect(main).to_contain_text("key:sam-key")
    visit.shot("responder-grant")
