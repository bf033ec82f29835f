"""Notices of the pair-harvest incident, through the CLI, to a real SMTP server.

One simulated month with the pair-harvest insiders and the matching synthetic directory;
the incident is opened from the alerts, assessed, then notified: customers (with the send
killed part-way and resumed), merchants and the authority. Checked on what the SMTP server
received: every affected customer's address and every affected merchant's contact gets one
distinct notice, in their language, and nobody else gets one.
"""

from __future__ import annotations

import csv
import email
import email.policy
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import TIMEOUT, console_script, run_script

from sentinelle.config import Settings
from sentinelle.incidents import Incidents, compute_scope
from sentinelle.notify import render
from sentinelle.response import hold_lease
from sentinelle.sim import simulate
from sentinelle.store import open_store
from smtpsink import SmtpSink

pytestmark = pytest.mark.integration


_run = run_script


class World:
    """The assessed incident, its environment and what its notices should reach."""

    def __init__(self, tmp: Path) -> None:
        sim = simulate(merchants=200, agents=30, days=24, seed=5, scenarios="pair_harvest")
        events = tmp / "events.jsonl"
        sim.write(str(events))
        self.customers, self.merchants = sim.write_directory(tmp / "directory")
        truth = sim.truth["scenarios"][0]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
        self.env.update(
            SENTINELLE_DATA_DIR=str(tmp / "data"),
            SENTINELLE_SHOP_NAME="Demo Shop",
            SENTINELLE_SHOP_DOMAIN="shop.example",
            SENTINELLE_DPO_CONTACT="dpo@shop.example",
            SENTINELLE_NOTIFY_FROM="Demo Shop <privacy@shop.example>",
            SENTINELLE_AUTHORITY_EMAIL="breaches@authority.example",
        )
        _run(self.env, "ingest", str(events))
        alerts = [
            json.loads(line)
            for line in _run(
                self.env, "alerts", "--min-severity", "medium", "--json"
            ).stdout.splitlines()
        ]
        first = next(a for a in alerts if a["actor"] in truth["actors"])
        opened = _run(
            self.env, "incident", "open", "--title", "Support agents harvesting customer lists",
            "--from-alert", first["id"], "--actors", ",".join(truth["actors"]),
            "--from", truth["start"], "--to", truth["end"],
        )  # fmt: skip
        self.incident = opened.stdout.strip().splitlines()[-1]
        _run(
            self.env, "incident", "assess", self.incident, "--unjustified-only",
            "--aware-at", truth["end"], "--now", truth["end"],
        )  # fmt: skip
        with open_store(Settings(data_dir=tmp / "data")) as store:
            found = Incidents(store).get(self.incident)
            scope = compute_scope(store, found, unjustified_only=True)
        keys = {(m, s) for m, ms in scope.per_merchant.items() for s in ms.subject_ids}
        self.truth_subjects = set(truth["subjects"])
        self.scope_keys = keys
        # What the shop's directory says about the affected people and merchants.
        self.people: dict[str, str] = {}  # address -> locale
        self.shared = 0
        for row in _rows(self.customers):
            if (row["merchant"], row["subject"]) in keys:
                self.shared += row["email"] in self.people
                self.people[row["email"]] = row["locale"]
        self.shops = {
            r["email"]: r["locale"]
            for r in _rows(self.merchants)
            if r["subject"] in scope.per_merchant
        }

    def notify(self, port: int, audience: str, *extra: str) -> list[str]:
        directory = {"subjects": self.customers, "merchants": self.merchants}.get(audience)
        args = ["incident", "notify", self.incident, "--audience", audience]
        args += ["--smtp", f"127.0.0.1:{port}", *extra]
        if directory is not None:
            args += ["--directory", str(directory)]
        return args


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("notify"))


def _parsed(sink: SmtpSink) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for received in sink.messages():
        message = email.message_from_bytes(received.data, policy=email.policy.default)
        for rcpt in received.rcpts:
            out.setdefault(rcpt, []).append(message)
    return out


def _language(locale: str) -> str:
    return "fr" if locale.startswith("fr") else "en"


def test_dry_run_renders_samples_and_plans_every_address(world: World, tmp_path: Path) -> None:
    out = tmp_path / "samples"
    proc = _run(world.env, *world.notify(1, "subjects", "--dry-run", "--out", str(out)))
    assert {p.name for p in out.iterdir()} >= {"subjects-en.eml", "subjects-fr.html"}
    assert f"would send {len(world.people):,} notices" in proc.stdout
    assert "; 0 ids not in the directory" in proc.stdout
    # Without the merchants' directory, customers' notices would name the shops by id: said.
    assert "shops have no name in the merchants' directory" in proc.stderr
    named = _run(
        world.env,
        *world.notify(1, "subjects", "--dry-run", "--out", str(out)),
        "--merchant-directory",
        str(world.merchants),
    )
    assert "no name in the merchants' directory" not in named.stderr


def test_a_dry_run_with_ids_the_directory_lacks_exits_1(world: World, tmp_path: Path) -> None:
    # As a send would: nobody is dropped silently, even in a rehearsal.
    rows = list(_rows(world.customers))
    lacking = tmp_path / "fewer.csv"
    with lacking.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if (r["merchant"], r["subject"]) not in world.scope_keys)
    args = world.notify(1, "subjects", "--dry-run", "--out", str(tmp_path / "samples"))
    args[args.index("--directory") + 1] = str(lacking)
    proc = _run(world.env, *args, code=1)
    assert "ids are not in the directory and would get no notice" in proc.stderr
    assert "would send 0 notices" in proc.stdout


def test_customers_each_get_one_notice_in_their_language_despite_a_kill(
    world: World, smtp_sink: SmtpSink
) -> None:
    assert {s for _, s in world.scope_keys} >= world.truth_subjects  # the harvest is in scope
    assert world.shared > 0, "the directory has people who are customers of two shops"
    args = [console_script(), *world.notify(smtp_sink.port, "subjects", "--concurrency", "4")]
    proc = subprocess.Popen(args, env=world.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + TIMEOUT
    while smtp_sink.count < len(world.people) // 4 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=TIMEOUT)  # reaps it and closes its pipe
    killed_at = smtp_sink.count
    assert 0 < killed_at < len(world.people)

    again = _run(world.env, *world.notify(smtp_sink.port, "subjects", "--json"))
    report = json.loads(again.stdout)
    assert report["sent"] + report["skipped"] == len(world.people)
    assert report["resumed"] <= 4  # at most the concurrency limit was in flight

    received = _parsed(smtp_sink)
    assert set(received) == set(world.people)  # every affected person, nobody else
    for address, messages in received.items():
        assert len({m["Message-ID"] for m in messages}) == 1, address  # one distinct notice
        message = messages[0]
        assert message["Content-Language"] == _language(world.people[address])
        text = message.get_body(("plain",)).get_content()
        assert "shop.example" in text and "dpo@shop.example" in text
    duplicates = sum(len(m) - 1 for m in received.values())
    assert duplicates <= report["resumed"]

    # A rerun has nothing left to send.
    rerun = json.loads(_run(world.env, *world.notify(smtp_sink.port, "subjects", "--json")).stdout)
    assert (rerun["sent"], rerun["skipped"]) == (0, len(world.people))
    status = json.loads(_run(world.env, "incident", "notices", world.incident, "--json").stdout)
    counts = status["audiences"]["subjects"]
    assert (counts["sent"], counts["pending"], counts["failed"]) == (len(world.people), 0, 0)
    assert all("@" not in r["recipient"] for r in status["recipients"])  # hashes only


def test_merchants_and_the_authority_are_told(world: World, smtp_sink: SmtpSink) -> None:
    _run(world.env, *world.notify(smtp_sink.port, "merchants"))
    _run(world.env, *world.notify(smtp_sink.port, "authority"))
    received = _parsed(smtp_sink)
    assert set(received) == set(world.shops) | {"breaches@authority.example"}
    for address, messages in received.items():
        assert len(messages) == 1, address
    # Each merchant is named as its contacts name it (its platform id beside), not by id alone.
    names = {r["email"]: r["name"] for r in _rows(world.merchants)}
    for address in world.shops:
        subject = str(received[address][0]["Subject"])
        assert names[address] and names[address] in subject, (subject, names[address])
    shown = json.loads(_run(world.env, "incident", "show", world.incident, "--json").stdout)
    assert shown["state"] == "notifying"
    assert [d["details"]["audience"] for d in shown["decisions"] if d["change"] == "notices"]


def test_a_changed_notice_is_refused_under_the_same_version(
    world: World, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    override = tmp_path / "templates" / "en"
    override.mkdir(parents=True)
    text = (Path(render.__file__).parent / "templates" / "en" / "authority.txt").read_text(
        encoding="utf-8"
    )
    (override / "authority.txt").write_text(text + "\nOne more line.\n", encoding="utf-8")
    args = world.notify(smtp_sink.port, "authority")
    _run(world.env, *args)  # version 1 (sent here, or already by the test above)
    before = smtp_sink.count
    env = {**world.env, "SENTINELLE_NOTIFY_TEMPLATES": str(tmp_path / "templates")}
    refused = _run(env, *args, code=1)
    assert "changed since version 1" in refused.stderr
    assert smtp_sink.count == before
    _run(env, *args, "--notice-version", "2")  # an update: sent again, as a new notice
    assert smtp_sink.count == before + 1


def test_a_second_run_at_the_same_time_is_refused(world: World, smtp_sink: SmtpSink) -> None:
    # A run in another live process holds the lease in the database: this one is refused.
    store = open_store(Settings(data_dir=Path(world.env["SENTINELLE_DATA_DIR"])))
    try:
        with hold_lease(store, f"notify:{world.incident}:authority", what="another run"):
            refused = _run(world.env, *world.notify(smtp_sink.port, "authority"), code=1)
    finally:
        store.close()
    assert f"sending {world.incident}'s notices to authority is under way elsewhere" in (
        refused.stderr
    )
    assert smtp_sink.count == 0


def test_a_bad_directory_is_refused_before_anything_is_sent(
    world: World, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    rows = list(_rows(world.merchants))
    rows[3]["email"] = "not-an-address"
    bad = tmp_path / "merchants.csv"
    with bad.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    before = json.loads(_run(world.env, "incident", "notices", world.incident, "--json").stdout)
    args = ["incident", "notify", world.incident, "--audience", "merchants"]
    args += ["--smtp", f"127.0.0.1:{smtp_sink.port}", "--directory", str(bad)]
    refused = _run(world.env, *args, code=1)
    assert f"{bad}:5" in refused.stderr and "email" in refused.stderr
    assert "not-an-address" not in refused.stderr  # addresses are never echoed
    assert smtp_sink.count == 0
    after = json.loads(_run(world.env, "incident", "notices", world.incident, "--json").stdout)
    assert after == before
