"""End to end: the console's login, sessions, CSRF and login rate limit (sentinelle.web), on
both stores (``settings``) for what is stored.

Time is the app's injected clock (``State.clock``), never a sleep. Each test logs in through
the form as a browser would: GET /login (pre-session CSRF cookie and field), POST /login.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from console_support import CSRF_FIELD, PASSWORD, Console, open_console
from console_support import login as _login
from sentinelle.access import Role
from sentinelle.access.accounts import create_key, create_user
from sentinelle.access.sessions import SESSION_COOKIE, csrf_token, hash_token
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.timeutil import MINUTE

GENERIC = "Wrong e-mail or password."


def _logged_in(client: TestClient, email: str) -> str:
    """Log in; the session's CSRF token."""
    response = _login(client, email)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    return csrf_token(client.cookies[SESSION_COOKIE])


@pytest.fixture
def console(settings: Settings) -> Iterator[Console]:
    yield from open_console(settings)


# -- logging in and out ------------------------------------------------------------------------


def test_login_then_home_then_logout(console: Console) -> None:
    email = console.user("dpo@example.org", Role.DPO)
    client = console.client()
    assert client.get("/").headers["location"] == "/login"
    _logged_in(client, email)
    home = client.get("/")
    assert home.status_code == 200
    assert "dpo@example.org" in home.text and ">dpo<" in home.text
    # Only pages that exist are linked.
    for link in re.findall(r'href="(/[^"]*)"', home.text):
        assert client.get(link).status_code == 200, link
    assert client.get("/login").headers["location"] == "/"  # already logged in

    token = client.cookies[SESSION_COOKIE]
    assert console.store.sessions_of(email) == 1
    # Logout needs the session's CSRF token.
    assert client.post("/logout", data={"csrf_token": "wrong"}).status_code == 403
    assert client.post("/logout").status_code == 403
    assert console.store.sessions_of(email) == 1
    out = client.post("/logout", data={"csrf_token": csrf_token(token)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert console.store.sessions_of(email) == 0
    assert SESSION_COOKIE not in client.cookies
    # The old token is dead even if presented again.
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get("/").headers["location"] == "/login"
    actions = [a.action for a in console.store.audit_log() if a.target == email]
    assert actions == ["user.created", "login.succeeded", "logout"]


def test_wrong_password_and_unknown_email_get_the_same_answer(console: Console) -> None:
    email = console.user("ana@example.org", Role.AUDITOR)
    client = console.client()
    wrong = _login(client, email, "not the password at all")
    unknown = _login(client, "nobody@example.org", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 200
        assert GENERIC in response.text
        assert SESSION_COOKIE not in response.cookies
    # The pages differ only by the echoed e-mail and the fresh CSRF token.
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", wrong.text) == strip.sub("", unknown.text)
    failed = [a for a in console.store.audit_log() if a.action == "login.failed"]
    assert len(failed) == 2
    assert all("@" not in a.target and PASSWORD not in a.details_json for a in failed)


def test_a_disabled_account_cannot_log_in(console: Console) -> None:
    email = console.user("gone@example.org", Role.RESPONDER)
    console.store.disable_user(email, by="t")
    response = _login(console.client(), email)
    assert response.status_code == 200 and GENERIC in response.text


def test_login_csrf_is_required(console: Console) -> None:
    email = console.user("ana@example.org", Role.AUDITOR)
    client = console.client()
    assert _login(client, email, csrf="forged").status_code == 403
    client.cookies.clear()
    bare = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": "x"})
    assert bare.status_code == 403
    assert console.store.sessions_of(email) == 0


# -- cookies and headers -----------------------------------------------------------------------


def _set_cookie(response: httpx.Response, name: str) -> str:
    found = [v for v in response.headers.get_list("set-cookie") if v.startswith(name + "=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0].lower()


@pytest.mark.parametrize("https", [False, True])
def test_cookie_flags(console: Console, https: bool) -> None:
    email = console.user("ana@example.org", Role.AUDITOR)
    client = console.client(https=https)
    response = _login(client, email)
    assert response.status_code == 303
    cookie = _set_cookie(response, SESSION_COOKIE)
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert ("secure" in cookie.split("; ")) is https
    form_cookie = _set_cookie(console.client(https=https).get("/login"), "sentinelle_login_csrf")
    assert "httponly" in form_cookie and "samesite=strict" in form_cookie


def test_cookie_secure_setting(tmp_path: Path) -> None:
    # Behind a proxy that ends TLS the app sees http: the setting still marks cookies Secure.
    settings = Settings(
        _env_file=None, data_dir=tmp_path / "d", database_url=None, cookie_secure=True
    )
    app = create_app(settings)
    with TestClient(app, follow_redirects=False) as client:
        store = app.state.sentinelle.store
        create_user(store, email="a@example.org", role=Role.ADMIN, password=PASSWORD, by="t")
        form = client.get("/login")
        assert "secure" in _set_cookie(form, "sentinelle_login_csrf").split("; ")
        found = CSRF_FIELD.search(form.text)
        assert found is not None
        token = found.group(1)
        # httpx keeps a Secure cookie from plain http: sent by hand, as the browser would.
        response = client.post(
            "/login",
            data={"email": "a@example.org", "password": PASSWORD, "csrf_token": token},
            headers={"Cookie": f"sentinelle_login_csrf={token}"},
        )
        assert response.status_code == 303, response.text
        assert "secure" in _set_cookie(response, SESSION_COOKIE).split("; ")


def test_security_headers_on_pages(console: Console) -> None:
    email = console.user("ana@example.org", Role.AUDITOR)
    client = console.client()
    pages = [client.get("/login"), client.get("/"), client.get("/static/console.css")]
    _logged_in(client, email)
    pages.append(client.get("/"))
    for page in pages:
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in pages[0].text  # the login form needs none
    # The console's one script is ours, from this origin; no inline script anywhere.
    assert re.findall(r"<script[^>]*>", pages[-1].text) == [
        '<script src="/static/console.js" defer>'
    ]
    assert "script-src 'self'" in pages[-1].headers["content-security-policy"]
    assert "http" not in pages[0].text.replace('href="/', "")  # no external resource


# -- expiry and disabling ----------------------------------------------------------------------


def test_idle_timeout(console: Console) -> None:
    email = console.user("ana@example.org", Role.AUDITOR)
    client = console.client()
    _logged_in(client, email)
    for _ in range(3):  # used every 29 minutes: stays
        console.clock.advance(29 * MINUTE)
        assert client.get("/").status_code == 200
    console.clock.advance(30 * MINUTE)
    assert client.get("/").headers["location"] == "/login"
    assert client.get("/v1/alerts").status_code == 401
    assert console.store.sessions_of(email) == 0


def test_absolute_expiry(console: Console) -> None:
    email = console.user("ana@example.org", Role.AUDITOR)
    client = console.client()
    _logged_in(client, email)
    for _ in range(12 * 3 - 1):  # busy all day
        console.clock.advance(20 * MINUTE)
        assert client.get("/").status_code == 200
    console.clock.advance(20 * MINUTE)  # 12 h after login
    assert client.get("/").headers["location"] == "/login"


def test_disabling_an_account_ends_its_sessions(console: Console) -> None:
    email = console.user("ana@example.org", Role.AUDITOR)
    browser, api = console.client(), console.client()
    _logged_in(browser, email)
    _logged_in(api, email)
    assert console.store.sessions_of(email) == 2
    assert api.get("/v1/alerts").status_code == 200
    console.store.disable_user(email, by="t")
    assert console.store.sessions_of(email) == 0  # ended at once, not at their next use
    assert api.get("/v1/alerts").status_code == 401
    assert browser.get("/").headers["location"] == "/login"
    assert console.store.sessions_of(email) == 0


# -- rate limit --------------------------------------------------------------------------------


def test_rate_limit_per_email_and_its_end(console: Console) -> None:
    email = console.user("ana@example.org", Role.AUDITOR)
    client = console.client()
    for _ in range(5):
        assert GENERIC in _login(client, email, "wrong password 123").text
    locked = _login(client, email)  # even the right password
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) == 15 * 60
    assert console.store.sessions_of(email) == 0
    console.clock.advance(10 * MINUTE)
    again = _login(client, email)
    assert again.status_code == 429 and int(again.headers["retry-after"]) == 5 * 60
    console.clock.advance(5 * MINUTE)
    assert _login(client, email).status_code == 303


def test_rate_limit_per_address(console: Console) -> None:
    email = console.user("ana@example.org", Role.AUDITOR)
    client = console.client()
    for i in range(5):  # spraying: one guess per e-mail, all from one address
        assert GENERIC in _login(client, f"u{i}@example.org", PASSWORD).text
    assert _login(client, email).status_code == 429
    console.clock.advance(15 * MINUTE)
    assert _login(client, email).status_code == 303


def test_a_success_resets_the_count_of_its_email(console: Console) -> None:
    email = console.user("ana@example.org", Role.AUDITOR)
    client = console.client()
    for _ in range(4):
        _login(client, email, "wrong password 123")
    assert _login(client, email).status_code == 303
    client.cookies.clear()
    console.clock.advance(15 * MINUTE)  # the address's count ends with its window
    for _ in range(4):
        _login(client, email, "wrong password 123")
    assert _login(client, email).status_code == 303


# -- the API with a session --------------------------------------------------------------------


def test_session_reaches_the_api_by_role_with_csrf(console: Console) -> None:
    dpo, auditor = (
        console.user("dpo@example.org", Role.DPO),
        console.user("au@example.org", Role.AUDITOR),
    )
    client = console.client()
    csrf = _logged_in(client, dpo)
    body = {
        "title": "harvest",
        "actors": ["ana"],
        "from": "2026-11-02T00:00:00Z",
        "to": "2026-11-06T00:00:00Z",
    }
    refused = client.post("/v1/incidents", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert (
        client.post("/v1/incidents", json=body, headers={"X-CSRF-Token": "0" * 64}).status_code
        == 403
    )
    opened = client.post("/v1/incidents", json=body, headers={"X-CSRF-Token": csrf})
    assert opened.status_code == 201, opened.text
    incident = opened.json()["id"]
    assess = f"/v1/incidents/{incident}/assess"
    # No events in this store: the categories are stated (none is invented from the scope).
    stated = {"summary": "an agent copied customer lists", "data_categories": ["contact"]}
    facts = {"facts": stated, "basis": "all"}
    assert client.post(assess, json=facts).status_code == 403  # no CSRF
    done = client.post(assess, json=facts, headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200, done.text
    shown = client.get(f"/v1/incidents/{incident}").json()
    assert {d["by"] for d in shown["decisions"]} == {dpo}

    other = console.client()
    csrf = _logged_in(other, auditor)
    assert other.get(f"/v1/incidents/{incident}").status_code == 200
    refused = other.post(assess, json=facts, headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 403 and "auditor" in refused.json()["detail"]
    # Refused before the body is read, as for keys.
    assert (
        other.post(assess, content=b"{not json", headers={"X-CSRF-Token": csrf}).status_code == 403
    )


def test_bearer_requests_need_no_csrf(console: Console) -> None:
    key = create_key(console.store, name="dpo", role=Role.DPO, by="t")
    email = console.user("ana@example.org", Role.AUDITOR)
    client = console.client()
    _logged_in(client, email)  # a session cookie too: the key decides
    body = {
        "title": "harvest",
        "actors": ["ana"],
        "from": "2026-11-02T00:00:00Z",
        "to": "2026-11-06T00:00:00Z",
    }
    opened = client.post("/v1/incidents", json=body, headers={"Authorization": f"Bearer {key}"})
    assert opened.status_code == 201, opened.text
    # A wrong key is not rescued by the session, nor an empty header: it is judged alone.
    assert client.get("/v1/alerts").status_code == 200  # the session alone reads
    for header in ("Bearer snl_wrong", ""):
        assert client.get("/v1/alerts", headers={"Authorization": header}).status_code == 401


def test_a_merchant_account_is_bound_to_its_merchant(console: Console) -> None:
    email = console.user("shop@example.org", Role.MERCHANT, merchant="m-1")
    client = console.client()
    _logged_in(client, email)
    assert client.get("/").headers["location"] == "/merchants/m-1"
    assert "m-1" in client.get("/merchants/m-1").text
    assert client.get("/merchants/m-2").status_code == 403
    assert client.get("/v1/merchants/m-1/accesses").status_code == 200
    assert client.get("/v1/merchants/m-2/accesses").status_code == 403
    assert client.get("/v1/alerts").status_code == 403


# -- secrets stay secret -----------------------------------------------------------------------


def test_the_session_token_is_never_stored_in_clear(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", database_url=None)
    app = create_app(settings)
    with TestClient(app, follow_redirects=False) as client:
        create_user(
            app.state.sentinelle.store,
            email="a@example.org",
            role=Role.ADMIN,
            password=PASSWORD,
            by="t",
        )
        _logged_in(client, "a@example.org")
        token = client.cookies[SESSION_COOKIE]
        assert client.get("/").status_code == 200
        stored = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
        assert hash_token(token).encode() in stored  # the scan does see the sessions table
        assert token.encode() not in stored
        assert csrf_token(token).encode() not in stored
        assert PASSWORD.encode() not in stored


def test_a_password_typed_as_the_email_cannot_be_checked_against_guesses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # People type passwords into the e-mail field: the failed-login counts (in the database),
    # the audit log and the application log name what was typed by a keyed hash, which no
    # guess can be checked against (a plain SHA-256 can be, offline, billions a second).
    caplog.set_level(logging.DEBUG)
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", database_url=None)
    app = create_app(settings)
    typed = "my passphrase typed as the e-mail"
    with TestClient(app, follow_redirects=False) as client:
        assert GENERIC in _login(client, typed, "whatever").text
        [failed] = [a for a in app.state.sentinelle.store.audit_log() if a.action == "login.failed"]
    plain = hashlib.sha256(typed.encode()).hexdigest()
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert plain[:12].encode() not in stored
    assert plain[:12] not in failed.target and plain[:12] not in caplog.text
    assert re.fullmatch(r"#[0-9a-f]{12}", failed.target)  # still one name per e-mail typed
    assert failed.target[1:] in caplog.text


def test_no_password_or_token_in_logs(console: Console, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    email = console.user("ana@example.org", Role.AUDITOR)
    client = console.client()
    _login(client, email, "a wrong password typed")
    _login(client, "typo-secret-in-email@example.org", PASSWORD)
    _logged_in(client, email)
    token = client.cookies[SESSION_COOKIE]
    client.post("/logout", data={"csrf_token": csrf_token(token)})
    text = caplog.text
    assert "login failed" in text  # failures are logged
    for secret in (
        PASSWORD,
        "a wrong password typed",
        token,
        csrf_token(token),
        "typo-secret-in-email",
    ):
        assert secret not in text
