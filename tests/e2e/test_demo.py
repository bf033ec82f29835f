"""`sentinelle demo` runs end to end and finds the insiders it hides, in the days up to today;
then the console serves it, with the accounts it printed and a mail catcher for notices.

The demo runs once for the module (without a terminal: it prints how to serve instead of
serving); the served tests use ``--serve-only`` on that run's folder."""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

from sentinelle.config import Settings

EXE = Path(sys.executable).parent / "sentinelle"


@dataclass(frozen=True)
class Demo:
    data: Path
    out: str
    started: dt.datetime
    finished: dt.datetime

    def run(self, *args: str) -> str:
        """Another command against the demo's folder."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
        env["SENTINELLE_DATA_DIR"] = str(self.data / "demo")
        done = subprocess.run(
            [str(EXE), *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    data = tmp_path_factory.mktemp("demo") / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    env["SENTINELLE_DATA_DIR"] = str(data)
    started = dt.datetime.now(dt.UTC)
    run = subprocess.run(
        [str(EXE), "demo", "--merchants", "300", "--agents", "40", "--days", "24"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    return Demo(data, run.stdout, started, dt.datetime.now(dt.UTC))


def test_demo_finds_the_pair_harvest(demo: Demo) -> None:
    out, data = demo.out, demo.data
    found = re.search(r"medium-or-higher alerts: (\d+), (\d+) of them on the two insiders", out)
    assert found, out
    assert int(found.group(2)) >= 1
    assert "verified the ledger" in out
    assert re.search(r"inclusion proof of the alert's event evt-\d+: leaf \d+", out)
    assert (data / "demo" / "truth.json").is_file()
    assert re.search(r"incident inc-\S+ for agent-\d+ and agent-\d+", out)
    assert "authority: must be notified" in out
    assert re.search(r"72-hour (deadline|clock) for the authority: ", out)
    notices = re.search(r"notices \(dry run, nothing sent\): ([\d,]+) customers", out)
    assert notices and int(notices.group(1).replace(",", "")) > 0, out
    sample = data / "demo" / "notices" / "subjects-fr.html"
    assert f"read one: {sample}" in out
    assert "<html" in sample.read_text(encoding="utf-8")


def test_the_simulated_days_end_today(demo: Demo) -> None:
    # The days up to today's midnight UTC (the run may cross midnight: either day).
    ends = {f"{d.date().isoformat()}T00:00:00Z" for d in (demo.started, demo.finished)}
    truth = json.loads((demo.data / "demo" / "truth.json").read_text())
    assert truth["end"] in ends
    start = dt.datetime.fromisoformat(truth["start"])
    assert dt.datetime.fromisoformat(truth["end"]) - start == dt.timedelta(days=24)
    assert f"1. simulated the 24 days up to {truth['end']} of a support operation" in demo.out
    incident = re.search(r"incident (inc-\S+) for", demo.out)
    assert incident, demo.out
    shown = json.loads(demo.run("incident", "show", incident.group(1), "--json"))
    assert shown["window"]["to"] == truth["end"]


def test_the_incident_clock_is_live(demo: Demo) -> None:
    incident = re.search(r"incident (inc-\S+) for", demo.out)
    assert incident, demo.out
    clock = json.loads(demo.run("incident", "show", incident.group(1), "--json"))["clock"]
    aware = dt.datetime.fromisoformat(clock["aware_at"])
    assert demo.started - dt.timedelta(seconds=1) <= aware <= demo.finished
    assert clock["status"] == "running"
    assert 71 * 3600 < clock["time_left_seconds"] <= 72 * 3600


# -- the console on the demo -------------------------------------------------------------------

LOGIN = re.compile(r"^   (\S+@demo\.invalid) +(\S+) +(\w+):", re.MULTILINE)
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def _logins(out: str) -> dict[str, tuple[str, str]]:
    """The printed demo accounts: e-mail -> (password, role)."""
    return {email: (password, role) for email, password, role in LOGIN.findall(out)}


def _login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    form = client.get("/login")
    assert form.status_code == 200, form.text
    token = CSRF_FIELD.search(form.text)
    assert token is not None, form.text
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token.group(1)}
    )


def test_without_a_terminal_it_prints_the_logins_and_how_to_serve(demo: Demo) -> None:
    logins = _logins(demo.out)
    assert {email: role for email, (_, role) in logins.items()} == {
        "responder@demo.invalid": "responder",
        "dpo@demo.invalid": "dpo",
        "auditor@demo.invalid": "auditor",
        "admin@demo.invalid": "admin",
        "merchant@demo.invalid": "merchant",
    }, demo.out
    passwords = [password for password, _ in logins.values()]
    assert len(set(passwords)) == len(passwords)
    assert all(len(p) >= 12 for p in passwords)
    assert "demo credentials for this throwaway local store" in demo.out
    # The merchant's account is bound to a merchant of the incident.
    merchant = re.search(r"merchant: (m-\d+)'s accesses \(a merchant in the incident\)", demo.out)
    assert merchant, demo.out
    users = {
        line.split("\t")[0]: line.split("\t")
        for line in demo.run("users", "list").split("\n")
        if line
    }
    assert users["merchant@demo.invalid"][1:3] == ["merchant", merchant.group(1)]
    # Not a terminal: nothing served, the command that serves instead.
    assert "Not serving the console (standard output is not a terminal)" in demo.out
    assert f"demo --serve-only --data-dir {demo.data}\n" in demo.out
    assert "open http://127.0.0.1:8000/login" in demo.out
    # The passwords are printed once and written nowhere (the database keeps argon2id hashes).
    for path in (demo.data / "demo").rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(p.encode() in content for p in passwords), path


def test_the_printed_logins_open_the_console(demo: Demo) -> None:
    from fastapi.testclient import TestClient

    from sentinelle.api.main import create_app

    logins = _logins(demo.out)
    for email in ("responder@demo.invalid", "merchant@demo.invalid"):
        app = create_app(Settings(data_dir=demo.data / "demo"))
        with TestClient(app, follow_redirects=False) as client:
            wrong = _login(client, email, "not-the-password")
            assert wrong.status_code != 303
            done = _login(client, email, logins[email][0])
            assert done.status_code == 303, done.text
            assert done.headers["location"] == "/"
            assert email in client.get("/", follow_redirects=True).text


def test_serve_only_needs_a_demo(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    done = subprocess.run(
        [str(EXE), "demo", "--serve-only", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert f"no demo in {tmp_path / 'demo'}: run `sentinelle demo` first" in done.stderr
    assert "Traceback" not in done.stderr


def _lines(stream: IO[str]) -> tuple[queue.Queue[str], threading.Thread]:
    """The stream's lines, read in a thread (so a test can wait for one with a timeout); the
    thread ends at the end of the stream."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return lines, reader


def _wait_for(lines: queue.Queue[str], pattern: str, seen: list[str]) -> re.Match[str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(seen)}")


def test_served_demo_takes_logins_and_mail_and_stops_on_ctrl_c(demo: Demo) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    seen: list[str] = []
    with subprocess.Popen(
        [str(EXE), "demo", "--serve-only", "--data-dir", str(demo.data), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as served:
        try:
            assert served.stdout is not None and served.stderr is not None
            lines, reader = _lines(served.stdout)
            mail = _wait_for(lines, r"mail catcher \(SMTP on 127\.0\.0\.1:(\d+);", seen)
            _wait_for(lines, rf"Port {port} is taken: serving on (\d+)\.", seen)
            url = _wait_for(lines, r"^Console: (http://127\.0\.0\.1:\d+)/login", seen).group(1)
            with httpx.Client(base_url=url, follow_redirects=False, timeout=10) as client:
                assert client.get("/health").json()["status"] == "ok"
                responder = _logins(demo.out)["responder@demo.invalid"][0]
                done = _login(client, "responder@demo.invalid", responder)
                assert done.status_code == 303, done.text
            with smtplib.SMTP("127.0.0.1", int(mail.group(1)), timeout=10) as smtp:
                smtp.sendmail(
                    "privacy@shop.example",
                    ["someone@customer.example"],
                    b"Subject: a notice\r\n\r\nWe are sorry.\r\n",
                )
            outbox = demo.data / "demo" / "outbox"
            kept = list(outbox.glob("*-someone@customer.example.eml"))
            assert len(kept) == 1, list(outbox.iterdir())
            assert kept[0].read_bytes().endswith(b"\r\nWe are sorry.\r\n")
            assert b"Delivered-To: someone@customer.example\r\n" in kept[0].read_bytes()
            served.send_signal(signal.SIGINT)
            served.wait(timeout=30)
            reader.join(10)
            err = served.stderr.read()
        finally:
            taken.close()
            if served.poll() is None:
                served.kill()
    assert served.returncode == 0, err
    assert "Traceback" not in err, err
    out = "".join(seen) + "".join(lines.get() for _ in range(lines.qsize()))
    assert "Stopped the console and the mail catcher; 1 message(s) kept in" in out, out
