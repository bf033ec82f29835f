"""End to end: the console's optional TOTP second factor (RFC 6238) — enrolment from the CLI,
the two-step login, wrong and replayed codes, the challenge's expiry, the roles that require
it, and the secret sealed at rest — on both stores (``settings``) where storage matters.

Codes are computed with pyotp from the enrolled secret at the app's injected clock
(``State.clock``, never a sleep); the CLI's own enrolment uses the real clock, as a person's
authenticator app does.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest
from cli_support import TIMEOUT, console_script
from fastapi.testclient import TestClient

from console_support import PASSWORD, T0, Clock, Console, form_token, open_console
from console_support import login as _login
from sentinelle.access import Role
from sentinelle.access.sessions import (
    CHALLENGE_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    csrf_token,
)
from sentinelle.access.totp import (
    KEY_FILE,
    TotpKeyError,
    begin_enrolment,
    confirm_enrolment,
    totp_key,
    unseal,
)
from sentinelle.api.main import create_app
from sentinelle.config import Settings
from sentinelle.store import Store, open_store, sqlite_path
from sentinelle.timeutil import MINUTE, SECOND

STEP = 30 * SECOND
SECOND_STEP = "Second factor"
WRONG_CODE = "Wrong code"
GENERIC = "Wrong e-mail or password."


@dataclass
class TotpConsole(Console):
    """The console harness, with enrolment and codes at the app's clock."""

    def enrol(self, email: str) -> str:
        """Enrol ``email`` at the clock's time (that code is then used); its base32 secret."""
        enrolment = begin_enrolment(self.store, email)
        code = self.code(enrolment.secret)
        assert confirm_enrolment(
            self.store,
            enrolment,
            code,
            data_dir=self.settings.data_dir,
            now_us=self.clock.now,
            by="admin",
        )
        return enrolment.secret

    def code(self, secret: str, *, steps: int = 0) -> str:
        """The code of ``secret`` at the clock's time, ``steps`` time-steps away."""
        return pyotp.TOTP(secret).at(self.clock.now // SECOND + 30 * steps)


@pytest.fixture
def console(settings: Settings) -> Iterator[TotpConsole]:
    yield from open_console(settings, TotpConsole)


@pytest.fixture
def strict_console(tmp_path: Path) -> Iterator[TotpConsole]:
    """SQLite, with TOTP required of admins and DPOs."""
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=None,
        totp_required_roles="DPO, admin",
    )
    assert settings.totp_roles == {"admin", "dpo"}
    yield from open_console(settings, TotpConsole)


def _code(client: TestClient, page: httpx.Response | str, code: str) -> httpx.Response:
    """Post ``code`` on the second step's form (``page``: its page, or a CSRF token)."""
    token = page if isinstance(page, str) else form_token(page)
    return client.post("/login/totp", data={"code": code, "csrf_token": token})


def _failures(store: Store) -> list[tuple[str, dict[str, object]]]:
    return [
        (a.target, json.loads(a.details_json))
        for a in store.audit_log()
        if a.action == "login.failed"
    ]


# -- the two steps -----------------------------------------------------------------------------


def test_the_password_alone_opens_no_session_the_code_does(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    email = console.user("dpo@example.org")
    secret = console.enrol(email)
    console.clock.advance(MINUTE)  # past the enrolment's code
    client = console.client()

    step = _login(client, email)
    assert step.status_code == 200 and SECOND_STEP in step.text, step.text
    assert 'action="/login/totp"' in step.text and 'name="code"' in step.text
    assert SESSION_COOKIE not in client.cookies and console.store.sessions_of(email) == 0
    assert client.get("/").headers["location"] == "/login"  # no session yet
    # The challenge's cookie: HttpOnly, SameSite=Strict, 5 minutes; the form's CSRF cookie.
    cookies = step.headers.get_list("set-cookie")
    challenge = next(c for c in cookies if c.startswith(CHALLENGE_COOKIE + "="))
    assert "HttpOnly" in challenge and "SameSite=strict" in challenge
    assert "Max-Age=300" in challenge and "Path=/" in challenge
    assert any(c.startswith(LOGIN_CSRF_COOKIE + "=") for c in cookies)
    # The console's security headers, as on every page.
    assert "frame-ancestors 'none'" in step.headers["content-security-policy"]
    assert step.headers["x-frame-options"] == "DENY"
    assert step.headers["cache-control"] == "no-store"
    # Reloading the step shows the form again, with the challenge kept.
    again = client.get("/login/totp")
    assert again.status_code == 200 and SECOND_STEP in again.text

    # The code needs the form's CSRF token (double submit).
    code = console.code(secret)
    refused = _code(client, "not-the-token", code)
    assert refused.status_code == 403 and SESSION_COOKIE not in client.cookies

    stale = _code(client, again, code)  # that form's token was replaced by the refusal's
    assert stale.status_code == 403
    done = _code(client, stale, code)
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert console.store.sessions_of(email) == 1
    home = client.get("/")
    assert home.status_code == 200 and email in home.text
    assert CHALLENGE_COOKIE not in client.cookies  # the challenge's cookie is cleared
    # The session is a full one: the API with its CSRF token.
    assert client.get("/v1/alerts").status_code == 200
    token = client.cookies[SESSION_COOKIE]
    assert client.post("/logout", data={"csrf_token": csrf_token(token)}).status_code == 303

    actions = [
        (a.action, json.loads(a.details_json)) for a in console.store.audit_log() if a.by != "t"
    ]
    assert ("user.totp_enabled", {}) in actions
    assert ("login.succeeded", {"address": "testclient", "factors": "totp"}) in actions
    for text in (caplog.text, json.dumps(actions)):
        assert secret not in text and code not in text and PASSWORD not in text
    assert GENERIC not in step.text


def test_an_account_without_totp_logs_in_with_its_password(console: TotpConsole) -> None:
    email = console.user("ana@example.org", Role.RESPONDER)
    client = console.client()
    done = _login(client, email)
    assert done.status_code == 303 and SESSION_COOKIE in client.cookies
    assert client.get("/login/totp").headers["location"] == "/login"  # no challenge
    succeeded = [a for a in console.store.audit_log() if a.action == "login.succeeded"]
    assert json.loads(succeeded[0].details_json)["factors"] == "password"


def test_enrolling_ends_the_sessions_opened_with_the_password_alone(console: TotpConsole) -> None:
    email = console.user("ana@example.org", Role.RESPONDER)
    client = console.client()
    assert _login(client, email).status_code == 303 and console.store.sessions_of(email) == 1
    assert client.get("/").status_code == 200
    console.enrol(email)  # a second factor from now on: the password-only session ends
    assert console.store.sessions_of(email) == 0
    assert client.get("/").headers["location"] == "/login"


def test_a_role_now_required_to_have_totp_ends_its_password_only_sessions(
    console: TotpConsole,
) -> None:
    """``SENTINELLE_TOTP_REQUIRED_ROLES`` gains the role after the account logged in: its
    session, opened with the password alone, is over (as a disabled account's is)."""
    email = console.user("dpo@example.org", Role.DPO)
    client = console.client()
    assert _login(client, email).status_code == 303 and console.store.sessions_of(email) == 1
    strict = console.settings.model_copy(update={"totp_required_roles": "dpo"})
    later = open_console(strict, TotpConsole)
    restarted = next(later)
    try:
        browser = restarted.client()
        browser.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE])
        assert browser.get("/").headers["location"] == "/login"
        assert console.store.sessions_of(email) == 0
    finally:
        later.close()


def test_a_wrong_password_gets_the_generic_answer_not_the_second_step(console: TotpConsole) -> None:
    email = console.user("dpo@example.org")
    console.enrol(email)
    client = console.client()
    wrong = _login(client, email, "not the password at all")
    assert wrong.status_code == 200 and GENERIC in wrong.text and SECOND_STEP not in wrong.text
    assert CHALLENGE_COOKIE not in client.cookies


# -- wrong codes, the rate limit, replays ------------------------------------------------------


def test_wrong_codes_are_failed_logins_and_reach_the_rate_limit(console: TotpConsole) -> None:
    email = console.user("dpo@example.org")
    secret = console.enrol(email)
    console.clock.advance(MINUTE)
    client = console.client()
    wrong = console.code(secret, steps=5)  # a real code, of another time
    page = _login(client, email)
    for _ in range(3):
        page = _code(client, page, wrong)
        assert page.status_code == 200 and WRONG_CODE in page.text
        assert SESSION_COOKIE not in client.cookies
    page = _code(client, page, "12ab56")
    assert WRONG_CODE in page.text
    # The right password again does not reset the count of wrong codes.
    page = _login(client, email)
    assert SECOND_STEP in page.text
    page = _code(client, page, wrong)
    assert WRONG_CODE in page.text
    # Five failures: the sixth attempt, even with the right code, is refused unheard.
    locked = _code(client, page, console.code(secret))
    assert locked.status_code == 429 and "Too many failed logins" in locked.text
    assert int(locked.headers["retry-after"]) == 15 * 60  # all five failures just now
    assert console.store.sessions_of(email) == 0
    assert CHALLENGE_COOKIE not in client.cookies
    # Counted per e-mail and per address, as wrong passwords are.
    since = T0
    assert len(console.store.login_failures("addr:testclient", since)) == 5
    assert _login(client, email).status_code == 429  # the e-mail is locked
    other = console.user("other@example.org", Role.AUDITOR)
    assert _login(client, other).status_code == 429  # and the address
    failed = _failures(console.store)
    assert len(failed) == 5
    assert all(t == email and d["reason"] == "totp" for t, d in failed)

    # When the window has passed, the right code opens a session.
    console.clock.advance(15 * MINUTE)
    page = _login(client, email)
    done = _code(client, page, console.code(secret))
    assert done.status_code == 303 and console.store.sessions_of(email) == 1


def test_a_code_is_accepted_once_within_one_step_of_drift(console: TotpConsole) -> None:
    email = console.user("dpo@example.org")
    secret = console.enrol(email)
    first, second = console.client(), console.client()

    # The code that confirmed the enrolment cannot also log in.
    page = _login(first, email)
    refused = _code(first, page, console.code(secret))
    assert WRONG_CODE in refused.text and SESSION_COOKIE not in first.cookies

    console.clock.advance(2 * STEP)
    code = console.code(secret)
    assert _code(first, refused, code).status_code == 303
    # The same code, at once, in another browser (someone who saw it typed): refused.
    page = _login(second, email)
    replayed = _code(second, page, code)
    assert replayed.status_code == 200 and WRONG_CODE in replayed.text
    assert SESSION_COOKIE not in second.cookies
    target, details = _failures(console.store)[-1]
    assert target == email and details["reason"] == "totp" and details["replayed"] is True

    # A phone one step behind is heard (the previous step's code, if not used yet)...
    console.clock.advance(3 * STEP)
    behind = console.code(secret, steps=-1)
    done = _code(second, replayed, behind)
    assert done.status_code == 303 and SESSION_COOKIE in second.cookies
    # ... two steps behind or ahead is not.
    console.clock.advance(3 * STEP)
    third = console.client()
    page = _login(third, email)
    for steps in (-2, 2):
        page = _code(third, page, console.code(secret, steps=steps))
        assert WRONG_CODE in page.text
    assert _code(third, page, console.code(secret, steps=1)).status_code == 303
    assert console.store.sessions_of(email) == 3


def test_the_challenge_expires(console: TotpConsole) -> None:
    email = console.user("dpo@example.org")
    secret = console.enrol(email)
    console.clock.advance(MINUTE)
    client = console.client()
    page = _login(client, email)
    console.clock.advance(5 * MINUTE)
    late = _code(client, page, console.code(secret))
    assert late.status_code == 200 and "expired" in late.text
    assert 'action="/login"' in late.text
    assert SESSION_COOKIE not in client.cookies and CHALLENGE_COOKIE not in client.cookies
    assert console.store.sessions_of(email) == 0
    # Not a failed login: nobody guessed anything.
    assert _failures(console.store) == []

    # A forged or missing challenge is refused the same way.
    client.cookies.set(CHALLENGE_COOKIE, "forged")
    page = client.get("/login/totp")
    forged = _code(client, page, console.code(secret))
    assert "expired" in forged.text and SESSION_COOKIE not in client.cookies
    page = client.get("/login")
    missing = _code(client, page, console.code(secret))
    assert "expired" in missing.text and SESSION_COOKIE not in client.cookies

    # An account disabled (or whose TOTP is removed) between the steps: refused too.
    page = _login(client, email)
    console.store.disable_user(email, by="t")
    gone = _code(client, page, console.code(secret))
    assert "expired" in gone.text and console.store.sessions_of(email) == 0


def test_a_missing_key_file_refuses_plainly(console: TotpConsole) -> None:
    email = console.user("dpo@example.org")
    secret = console.enrol(email)
    console.clock.advance(MINUTE)
    (console.settings.data_dir / KEY_FILE).unlink()
    client = console.client()
    page = _login(client, email)
    answer = _code(client, page, console.code(secret))
    assert answer.status_code == 503 and "administrator" in answer.text
    assert SESSION_COOKIE not in client.cookies
    assert not (console.settings.data_dir / KEY_FILE).exists()  # not replaced by a new key


# -- roles that require it ---------------------------------------------------------------------


def test_required_roles_refuse_unenrolled_accounts(strict_console: TotpConsole) -> None:
    console = strict_console
    dpo = console.user("dpo@example.org", Role.DPO)
    admin = console.user("admin@example.org", Role.ADMIN)
    responder = console.user("responder@example.org", Role.RESPONDER)
    client = console.client()

    refused = _login(client, dpo)
    assert refused.status_code == 403
    assert "ask an administrator to enrol you" in refused.text
    assert "dpo" in refused.text and SESSION_COOKIE not in client.cookies
    # Only after the right password: a wrong one gets the generic answer.
    wrong = _login(client, dpo, "not the password at all")
    assert GENERIC in wrong.text and "enrol" not in wrong.text
    # Recorded, not counted (the password was right).
    assert (dpo, {"address": "testclient", "reason": "totp_required"}) in _failures(console.store)
    assert console.store.login_failures("addr:testclient", T0) == [T0]  # the wrong password

    assert _login(console.client(), admin).status_code == 403
    # Other roles may, and need not, have TOTP.
    assert _login(client, responder).status_code == 303
    # Once enrolled, the DPO logs in with the code.
    secret = console.enrol(dpo)
    console.clock.advance(MINUTE)
    other = console.client()
    page = _login(other, dpo)
    assert SECOND_STEP in page.text
    assert _code(other, page, console.code(secret)).status_code == 303


def test_the_setting_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError, match="root"):
        Settings(_env_file=None, totp_required_roles="admin,root")
    assert Settings(_env_file=None).totp_roles == frozenset()


# -- the secret at rest ------------------------------------------------------------------------


def test_the_secret_is_sealed_at_rest(console: TotpConsole) -> None:
    email = console.user("dpo@example.org")
    other = console.user("other@example.org")
    secret = console.enrol(email)
    stored = console.store.user_totp(email)
    assert stored is not None and stored.sealed_secret.startswith("v1:")
    if console.settings.database_url is None:
        path = sqlite_path(console.settings)
        assert path is not None
        files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
        dump = b"".join(p.read_bytes() for p in files)
        assert stored.sealed_secret.encode() in dump  # the scan does see the users table
    else:
        dump = repr(console.store._x("SELECT * FROM users")).encode()
        assert stored.sealed_secret.encode() in dump
    for form in (secret.encode(), secret.lower().encode(), base64.b32decode(secret)):
        assert form not in dump
    assert secret.encode() not in (console.settings.data_dir / KEY_FILE).read_bytes()

    key = totp_key(console.settings.data_dir)
    assert unseal(key, email, stored.sealed_secret) == secret
    # Sealed for its account: copied onto another one, it does not open.
    with pytest.raises(TotpKeyError):
        unseal(key, other, stored.sealed_secret)


# -- the CLI -----------------------------------------------------------------------------------


def _cli_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    env["SENTINELLE_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["SENTINELLE_DATABASE_URL"] = settings.database_url
    return env


def _run(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script(), *args],
        env=_cli_env(settings),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _enable(settings: Settings, email: str, *codes: str | None) -> tuple[int, str, str, str]:
    """``users totp enable EMAIL --code-stdin``: each code typed back (``None``: the right one,
    computed from the secret the command printed); exit code, stdout, stderr, the secret."""
    with subprocess.Popen(
        [console_script(), "users", "totp", "enable", email, "--code-stdin", "--by", "root"],
        env=_cli_env(settings),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        uri = proc.stdout.readline()
        secret = proc.stdout.readline().strip()
        for code in codes:
            proc.stdin.write((pyotp.TOTP(secret).now() if code is None else code) + "\n")
        proc.stdin.close()
        out, err = proc.stdout.read(), proc.stderr.read()  # a few lines each: no pipe fills
        proc.wait(timeout=TIMEOUT)
    return proc.returncode, uri + secret + "\n" + out, err, secret


def _listed(settings: Settings) -> dict[str, list[str]]:
    run = _run(settings, "users", "list")
    assert run.returncode == 0, run.stderr
    return {line.split("\t")[0]: line.split("\t")[1:] for line in run.stdout.splitlines()}


def test_cli_enrols_after_a_confirming_code_and_disables(settings: Settings) -> None:
    email = "dpo@example.org"
    made = _run(
        settings,
        "users",
        "create",
        email,
        "--role",
        "dpo",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    assert _listed(settings)[email] == ["dpo", "-", "active", "-"]

    # Wrong codes, then no more input: nothing stored, nobody locked out.
    code, out, err, secret = _enable(settings, email, "000000", "12345")
    assert code == 1 and "TOTP not enabled" in err and "Traceback" not in err
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), out
    assert _listed(settings)[email][3] == "-"

    # The right code: enabled. The URI and the secret are on stdout only.
    code, out, err, secret = _enable(settings, email, "999999", None)
    assert code == 0, err
    uri, printed = out.splitlines()
    assert uri.startswith("otpauth://totp/Sentinelle:dpo%40example.org?")
    assert f"secret={secret}" in uri and "issuer=Sentinelle" in uri and printed == secret
    assert secret not in err and "TOTP enabled for dpo@example.org" in err
    assert _listed(settings)[email] == ["dpo", "-", "active", "totp"]
    with open_store(settings, create=False) as store:
        totp = store.user_totp(email)
        assert totp is not None and secret not in totp.sealed_secret
        audit = [(a.by, a.action, a.target, a.details_json) for a in store.audit_log()]
    assert ("root", "user.totp_enabled", email, "{}") in audit
    assert not any(secret in str(entry) for entry in audit)

    # The secret the CLI printed logs in through the console.
    app = create_app(settings)
    with TestClient(app, follow_redirects=False) as client:
        page = _login(client, email)
        assert SECOND_STEP in page.text
        # The enrolment's code was used: the next step's code (within the drift) is not.
        app.state.sentinelle.clock = Clock(app.state.sentinelle.clock() + 3 * STEP)
        at = app.state.sentinelle.clock() // SECOND
        done = _code(client, page, pyotp.TOTP(secret).at(at))
        assert done.status_code == 303

    # Already enrolled: refused (disable first).
    again = _run(settings, "users", "totp", "enable", email, "--code-stdin")
    assert again.returncode == 1 and "already has TOTP" in again.stderr and again.stdout == ""
    # Unknown or disabled accounts: refused, nothing printed.
    unknown = _run(settings, "users", "totp", "enable", "nobody@example.org", "--code-stdin")
    assert unknown.returncode == 1 and unknown.stdout == ""

    off = _run(settings, "users", "totp", "disable", "DPO@example.org", "--by", "root")
    assert off.returncode == 0 and off.stdout == "TOTP disabled for dpo@example.org\n"
    assert _listed(settings)[email][3] == "-"
    twice = _run(settings, "users", "totp", "disable", email)
    assert twice.returncode == 1 and "no account with TOTP" in twice.stderr
    with open_store(settings, create=False) as store:
        assert store.user_totp(email) is None
        actions = [(a.by, a.action, a.target) for a in store.audit_log()]
    assert actions.count(("root", "user.totp_disabled", email)) == 1
