"""The notification phases and the authority report through the installed ``sentinelle``
script: ``incident notified``, the clock in ``incident show --json``, the register's columns,
``incident report`` as text, JSON and a printable HTML page."""

from __future__ import annotations

import csv
import html.parser
import io
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_support import TIMEOUT, Run, console_script

from sentinelle.notify.report import NOT_KNOWN, SECTIONS

TITLE = 'Agents copying customer lists <script>alert("x")</script>'
AWARE = "2026-11-20T08:00:00Z"  # deadline 2026-11-23T08:00:00Z
SUBJECTS = [f"cust-{i:04d}" for i in range(7)]


def _event(i: int, merchant: str, subjects: list[str]) -> dict[str, Any]:
    return {
        "id": f"e{i}",
        "time": f"2026-11-1{i}T10:00:00Z",
        "actor": {"id": "agent-7", "kind": "staff", "role": "agent", "team": "tier1"},
        "action": "view",
        "merchant": merchant,
        "subjects": subjects,
        "resource": {"type": "customer", "count": len(subjects)},
        "data": ["contact", "address"],
        "channel": "support_console",
        "outcome": "allowed",
    }


@dataclass
class Cli:
    env: dict[str, str]
    cwd: Path

    def __call__(self, *args: str) -> Run:
        proc = subprocess.run(
            [console_script(), *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        return Run(tuple(args), proc.returncode, proc.stdout, proc.stderr)

    def json(self, *args: str) -> Any:
        return json.loads(self(*args).ok().out)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    env["SENTINELLE_DATA_DIR"] = str(tmp_path / "data")
    yield Cli(env, tmp_path)


@pytest.fixture
def assessed(cli: Cli, tmp_path: Path) -> str:
    """An incident over 7 customers at 2 merchants, assessed with a facts file."""
    events = tmp_path / "events.jsonl"
    events.write_text(
        "\n".join(
            json.dumps(e) for e in (_event(1, "m-1", SUBJECTS[:4]), _event(2, "m-2", SUBJECTS[3:]))
        )
        + "\n"
    )
    cli("ingest", str(events)).ok()
    incident = cli(
        "incident", "open", "--title", TITLE, "--actors", "agent-7", "--from", "2026-11-10",
        "--to", "2026-11-15", "--by", "dpo",
    ).ok().out.strip()  # fmt: skip
    # Refused before the assessment: nothing is written.
    refused = cli("incident", "notified", incident, "--phase", "initial").fails()
    assert "not assessed yet" in refused.err
    facts = tmp_path / "facts.json"
    facts.write_text(
        json.dumps(
            {
                "aware_at": AWARE,
                "controller": {"name": "Boutique & Co", "dpo_contact": "dpo@boutique.example"},
                "mitigations": ["agent accounts suspended", "exports now need approval"],
                "jurisdictions": ["EU-FR"],
            }
        )
    )
    cli(
        "incident", "assess", incident, "--facts", str(facts), "--now", "2026-11-20T09:00:00Z",
        "--by", "dpo",
    ).ok()  # fmt: skip
    return incident


def test_notified_show_clock_and_register(cli: Cli, assessed: str) -> None:
    incident = assessed
    shown = cli.json("incident", "show", incident, "--json", "--now", "2026-11-22T08:00:00Z")
    assert shown["state"] == "assessed"
    assert [d["change"] for d in shown["decisions"]] == [
        "opened",
        "scope",
        "facts",
        "assessment",
        "state",
    ]
    clock = shown["clock"]
    assert (clock["aware_at"], clock["deadline"], clock["now"]) == (
        AWARE,
        "2026-11-23T08:00:00Z",
        "2026-11-22T08:00:00Z",
    )
    assert (clock["status"], clock["time_left_seconds"], clock["required"]) == (
        "running",
        86400,
        True,
    )
    assert clock["phases"] == [] and clock["initial_notification_at"] is None

    # complementary first, then a late initial without reasons: refused, nothing written
    err = cli("incident", "notified", incident, "--phase", "complementary").fails().err
    assert "needs the initial notification first" in err
    late = ("incident", "notified", incident, "--phase", "initial", "--at", "2026-11-23T20:30Z")
    err = cli(*late, "--reference", "CNIL-1").fails().err
    assert err.startswith("error: delay_reasons: the initial notification is 12 h 30 min after")
    assert "Art. 33(1)" in err
    again = cli.json("incident", "show", incident, "--json", "--now", "2026-11-22T08:00:00Z")
    assert again == shown  # nothing was written
    assert cli("incident", "notified", incident, "--phase", "last").fails(2).err

    out = cli(
        *late, "--reference", "CNIL-2026-0042", "--delay-reasons", "scope took a day",
        "--by", "dpo",
    ).ok().out  # fmt: skip
    assert "12 h 30 min after the deadline 2026-11-23T08:00:00Z" in out
    cli(
        "incident", "notified", incident, "--phase", "complementary", "--at", "2026-11-24T10:00Z",
        "--note", "final counts", "--by", "ciso",
    ).ok()  # fmt: skip
    shown = cli.json("incident", "show", incident, "--json", "--now", "2026-11-25T00:00:00Z")
    assert shown["state"] == "notifying"
    clock = shown["clock"]
    assert (clock["status"], clock["on_time"], clock["late_by_seconds"]) == ("late", False, 45000)
    assert clock["initial_notification_at"] == "2026-11-23T20:30:00Z"
    assert clock["delay_reasons"] == "scope took a day"
    assert [(p["phase"], p["by"], p["reference"], p["note"]) for p in clock["phases"]] == [
        ("initial", "dpo", "CNIL-2026-0042", None),
        ("complementary", "ciso", None, "final counts"),
    ]
    text = cli("incident", "show", incident).ok().out
    assert "72-hour clock: initial notification sent 2026-11-23T20:30:00Z" in text
    assert "reasons for the delay: scope took a day" in text

    rows = list(csv.DictReader(io.StringIO(cli("incident", "register", "--csv").ok().out)))
    header = list(rows[0])
    assert header[:11] == [
        "id",
        "title",
        "state",
        "actors",
        "from",
        "to",
        "created",
        "created_by",
        "facts",
        "assessment",
        "decisions",
    ]
    assert rows[0]["authority_on_time"] == "false"
    assert rows[0]["authority_late_by_seconds"] == "45000"
    assert [p["phase"] for p in json.loads(rows[0]["authority_phases"])] == [
        "initial",
        "complementary",
    ]
    entry = cli.json("incident", "register", "--json")[0]
    assert entry["authority_clock"]["status"] == "late"

    cli("incident", "notified", incident, "--phase", "final", "--at", "2026-11-25T09:00Z").ok()
    err = cli("incident", "notified", incident, "--phase", "complementary").fails().err
    assert "final notification was sent 2026-11-25T09:00:00Z" in err
    cli("incident", "advance", incident, "closed", "--reason", "handled").ok()
    assert "closed" in cli("incident", "notified", incident, "--phase", "final").fails().err


class _Page(html.parser.HTMLParser):
    """Collects section ids, tags, attributes and text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.tags: set[str] = set()
        self.attrs: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)
        if tag == "section":
            self.sections.append(dict(attrs)["id"] or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_report_json_html_and_text(cli: Cli, assessed: str, tmp_path: Path) -> None:
    incident = assessed
    now = ("--now", "2026-11-21T08:00:00Z")
    report = cli.json("incident", "report", incident, "--json", *now)
    assert report["format"] == "sentinelle/authority-report/v1"
    assert report["notification"]["next_phase"] == "initial"
    assert report["notification"]["title"] == TITLE
    assert report["controller"] == {
        "name": "Boutique & Co",
        "sector": None,
        "dpo_contact": "dpo@boutique.example",
    }
    assert report["subjects"]["count"] == 7 and report["records"]["count"] == 8
    assert report["scope"] == {
        "merchants": 2,
        "subjects": 7,
        "records": 8,
        "categories": ["address", "contact"],
        "actors": 1,
        "unjustified_only": True,  # the default basis
    }
    assert report["timeline"]["status"] == "running"
    assert report["timeline"]["breach_start"] == "2026-11-11T10:00:00Z"
    assert report["measures"]["taken_or_proposed"] == [
        "agent accounts suspended",
        "exports now need approval",
    ]
    assert report["cross_border"]["jurisdictions"] == ["EU-FR"]
    assert report["assessment"]["authority"]["required"] is True
    assert "Art. 33(1)" in report["assessment"]["authority"]["articles"]
    assert report["assessment"]["authority"]["reasons"]
    # nothing invented: a missing fact is null and listed
    assert report["nature"]["summary"] is None and "summary" in report["not_known"]
    assert "controller.name" not in report["not_known"]
    assert report["notification"]["complete"] is False

    cli(
        "incident", "notified", incident, "--phase", "initial", "--at", "2026-11-24T08:00Z",
        "--delay-reasons", "waited for <b>forensics</b>", "--reference", "CNIL-7",
    ).ok()  # fmt: skip
    report = cli.json("incident", "report", incident, "--json", *now)
    assert report["notification"]["next_phase"] == "complementary"
    assert report["notification"]["authority_reference"] == "CNIL-7"
    assert (report["timeline"]["on_time"], report["timeline"]["late_by_seconds"]) == (
        False,
        86400,
    )
    assert report["timeline"]["delay_reasons"] == "waited for <b>forensics</b>"

    page_file = tmp_path / "report.html"
    out = cli("incident", "report", incident, "--html", str(page_file), "--json").ok().out
    assert json.loads(out)["notification"]["incident"] == incident
    page = page_file.read_text(encoding="utf-8")
    parsed = _Page()
    parsed.feed(page)
    assert parsed.sections == [section for section, _ in SECTIONS]
    text = " ".join(parsed.text)
    for _, heading in SECTIONS:
        assert heading in text
    # escaped, never executed or fetched
    assert "script" not in parsed.tags and "<script" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;forensics&lt;/b&gt;" in page
    assert "Boutique &amp; Co" in page
    assert not {"src", "href"} & parsed.attrs and "@import" not in page and "url(" not in page
    assert "@media print" in page
    assert NOT_KNOWN in text  # e.g. the breach's description
    assert "waited for <b>forensics</b>" in text  # the reasons for the delay, as text
    assert "CNIL-7" in text and "2026-11-24 08:00 UTC" in text  # read as people do
    assert '<time datetime="2026-11-24T08:00:00Z"' in page  # the exact time kept
    # counts only: no data subject id anywhere
    summary = cli("incident", "report", incident).ok().out
    for subject in SUBJECTS:
        assert subject not in page and subject not in out and subject not in summary
    assert "agent-7" not in page

    assert summary.startswith(f"{incident}  notifying  {TITLE}")
    assert "next notification: complementary (information incomplete)" in summary
    assert "reasons for the delay: waited for <b>forensics</b>" in summary
    assert f"? = {NOT_KNOWN}: " in summary
    printed = cli("incident", "report", incident, "--html", "-").ok().out
    assert printed.startswith("<!DOCTYPE html>") and 'id="not-known"' in printed
    assert cli("incident", "report", incident, "--html", "-", "--json").fails(2).err
    assert cli("incident", "report", "inc-nope").fails().err.startswith("error: no incident")
