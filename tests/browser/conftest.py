"""The browser tests' fixtures: one small world served by uvicorn, one headless Chromium.

* ``world`` (module): a data dir (SQLite) with the pair harvest of browser_support (events
  ingested through the API, alerts written into the store) and console accounts (a
  responder, a DPO, the merchants m-1 and m-2); the console (``create_app(settings)``) served
  by uvicorn on a free loopback port in a thread, stopped at the end.
* ``sink`` (module): the SMTP server (tests/smtpsink.py) the console sends notices to; the
  merchants' contact directory names m-1 and m-2.
* ``browser`` (module): Debian's Chromium (``/usr/bin/chromium``, or ``chromium`` on PATH)
  driven headless by Playwright. Playwright's own browser download is never used; when
  Chromium is missing the fixture fails (no skip) and says to run ``scripts/ensure-services``.
* ``visit`` (function): a fresh browser context (its own cookies) in the Asia/Tokyo zone, and
  its page, watched (``browser_support.Visit``); the test fails on any error it saw.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from browser_support import (
    CHROMIUM_ARGS,
    CSP_WATCH_JS,
    MERCHANTS,
    SCREENSHOTS,
    SHOP,
    TIMEOUT_MS,
    USERS,
    ZONE,
    Visit,
    World,
    alerts,
    pair_harvest,
)
from playwright.sync_api import Browser, Playwright, sync_playwright

from console_support import PASSWORD
from sentinelle.access import Role
from sentinelle.access.accounts import create_key, create_user
from sentinelle.api.deps import State
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from served import served
from smtpsink import SmtpSink


def _chromium() -> str:
    """Debian's Chromium, or a clear failure (never a skip: a green run has run these)."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            "browser tests: Chromium is missing (no /usr/bin/chromium, no chromium on PATH); "
            "run `bash scripts/ensure-services` (as root or with sudo), which installs "
            "Debian's chromium. Playwright's own browser download is not used.",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    """The SMTP server the console's notices go to (a real one, on loopback)."""
    with SmtpSink() as started:
        yield started


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, sink: SmtpSink) -> Iterator[World]:
    """The console on a free loopback port, serving the pair harvest (see the module)."""
    with pytest.MonkeyPatch.context() as env:  # a developer's SENTINELLE_* must not leak in
        for name in list(os.environ):
            if name.startswith("SENTINELLE_"):
                env.delenv(name)
        folder = tmp_path_factory.mktemp("browser")
        merchants = folder / "merchants.csv"
        merchants.write_text(
            "subject,merchant,email,name,locale\n"
            + "".join(f"{m},,{email},{name},en\n" for m, (email, name) in MERCHANTS.items()),
            encoding="utf-8",
        )
        settings = Settings(
            _env_file=None,
            data_dir=folder / "data",
            shop_name=SHOP,  # who notices come from: a dry run renders them
            shop_domain="shop.example",
            dpo_contact="dpo@shop.example",
            notify_from=f"{SHOP} <privacy@shop.example>",
            smtp=f"127.0.0.1:{sink.port}",  # a real SMTP server, in this process
            merchant_directory=str(merchants),
        )
    app = create_app(settings)
    state: State = app.state.sentinelle
    day = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
    day -= timedelta(days=2)
    events = pair_harvest(day)
    ingest = create_key(state.store, name="ingest", role=Role.INGEST, by="tests")
    for email, (role, merchant) in USERS.items():
        create_user(
            state.store, email=email, role=role, password=PASSWORD, merchant=merchant, by="tests"
        )
    with state.store.writer() as w:
        w.upsert_alerts(alerts(day))
    try:
        with served(app, what="the console") as url:
            with httpx.Client(base_url=url, timeout=60) as client:
                sent = client.post(
                    "/v1/events", json=events, headers={"Authorization": f"Bearer {ingest}"}
                )
                assert sent.status_code == 200, sent.text
            by_merchant: dict[str, list[str]] = {}
            for e in events:
                if "action" in e:
                    by_merchant.setdefault(e["merchant"], []).append(e["id"])
            yield World(
                url=url,
                state=state,
                sink=sink,
                events_by_merchant=by_merchant,
                unjustified_subjects=6,  # c-1-a, c-1-b, c-1-c, c-2-a, c-2-b, c-2-c
                unjustified_merchants=2,
            )
    finally:
        state.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless; one for the session."""
    executable = _chromium()
    launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    """``test-output/screenshots/``, emptied of this suite's earlier shots."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("test_*.png"):
        old.unlink()
    return SCREENSHOTS


@pytest.fixture
def visit(
    request: pytest.FixtureRequest, world: World, browser: Browser, screenshots: Path
) -> Iterator[Visit]:
    """A fresh context (its own cookies) in the Asia/Tokyo zone, and its watched page."""
    context = browser.new_context(
        timezone_id=ZONE, locale="en-GB", viewport={"width": 1280, "height": 860}
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(CSP_WATCH_JS)
    try:
        page = context.new_page()
        watched = Visit(page, world.url, request.node.name, screenshots)
        yield watched
        watched.assert_clean()  # whatever the test checked itself
    finally:
        context.close()
