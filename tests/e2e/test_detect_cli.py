"""End to end: ``sentinelle ingest`` (live detection), ``detect``, ``alerts`` and ``risk``, run as
subprocesses of the installed console script on both stores (``settings`` fixture).

Each test writes hand-made events as JSON lines, runs the real commands with
``SENTINELLE_DATA_DIR`` (and ``SENTINELLE_DATABASE_URL`` for PostgreSQL), and checks what a
user sees: exit codes, the lines printed, one-line diagnostics without tracebacks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_support import Run, run_many

from sentinelle.config import Settings
from sentinelle.detect import DetectConfig, DetectionRunner
from sentinelle.detect.evidence import EvidenceConfig
from sentinelle.ingest import Ingestor
from sentinelle.ledger.log import Ledger
from sentinelle.store import open_store
from sentinelle.timeutil import parse_time


def _console_script() -> str:
    beside = Path(sys.executable).parent / "sentinelle"
    if beside.exists():
        return str(beside)
    found = shutil.which("sentinelle")
    assert found, "the sentinelle console script is not installed (pip install -e '.[dev]')"
    return found


SENTINELLE = _console_script()
TIMEOUT = 60
ALERT_KEYS = {
    "id",
    "actor",
    "time",
    "detector",
    "severity",
    "score",
    "merchants",
    "events",
    "reasons",
    "status",  # the triage status and history (sentinelle alerts triage)
    "triage",
}
ALERT_LINE = re.compile(r"alerts raised or updated: (\d+) \((\d+) medium or higher\)")


@dataclass(frozen=True, slots=True)
class Cli:
    """Runs the console script with a fixed environment and working directory."""

    env: dict[str, str]
    cwd: Path

    def many(self, *commands: Sequence[str], env: dict[str, str] | None = None) -> list[Run]:
        """Run commands side by side (the suite is mostly process start-up)."""
        return [Run(*r) for r in run_many(commands, env=self.env | (env or {}), cwd=self.cwd)]

    def run(self, *args: str, env: dict[str, str] | None = None) -> Run:
        """Run ``sentinelle ARGS``."""
        return self.many(args, env=env)[0]


@pytest.fixture
def cli(settings: Settings, tmp_path: Path) -> Cli:
    """The console script pointed at the store of ``settings``, in an empty directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    env["SENTINELLE_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["SENTINELLE_DATABASE_URL"] = settings.database_url
    work = tmp_path / "cwd"
    work.mkdir()
    # These tests are about the commands: each alert keeps its detector's own severity and
    # its one reason (evidence grading is tested in tests/unit/detect/test_evidence.py).
    config = tmp_path / "detect.toml"
    config.write_text("[detect.evidence]\nenabled = false\n", encoding="utf-8")
    env["SENTINELLE_DETECT_CONFIG"] = str(config)
    return Cli(env=env, cwd=work)


# -- events ------------------------------------------------------------------------------------


def _at(day: int, hour: int, minute: int = 0) -> str:
    return f"2026-11-{2 + day:02d}T{hour:02d}:{minute:02d}:00Z"


class Story:
    """Hand-made events, written as JSON lines."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.events: list[dict[str, Any]] = []

    def view(self, actor: str, merchant: str, time: str, **kw: Any) -> None:
        self.events.append(
            {
                "id": f"{self.tag}-{len(self.events)}",
                "time": time,
                "actor": {"id": actor, "kind": "staff", "role": "support", "team": "care"},
                "action": "view",
                "merchant": merchant,
                "resource": {"type": "customer", "count": 1},
                "subjects": [f"c-{merchant}-1"],
                "data": ["contact"],
                "channel": "support_console",
                "outcome": "allowed",
                **kw,
            }
        )

    def context(self, kind: str, time: str, **kw: Any) -> None:
        self.events.append(
            {"id": f"{self.tag}-{len(self.events)}", "time": time, "type": kind, **kw}
        )

    def write(self, path: Path) -> str:
        ordered = sorted(self.events, key=lambda e: e["time"])
        path.write_text("".join(json.dumps(e) + "\n" for e in ordered), encoding="utf-8")
        return str(path)


EXPORT = {"action": "export", "resource": {"type": "customer_list", "count": 250}}


def first_days(tmp_path: Path) -> str:
    """Days 0-8: ana works tickets for a week, then reaches five merchants new to her without
    tickets (MEDIUM, at the fifth); dee and eve give notice."""
    story = Story("one")
    for day in range(8):
        ticket = {"ticket": f"TA{day}", "merchant": f"k{day}"}
        story.context("ticket.opened", _at(day, 9), **ticket)
        story.context("ticket.assigned", _at(day, 9), actor="ana", **ticket)
        story.view("ana", f"k{day}", _at(day, 9, 5), justification={"ticket": f"TA{day}"})
    for i in range(5):
        story.view("ana", f"u{i}", _at(8, 10, i))
    story.context("staff.notice_given", _at(2, 9), actor="dee")
    story.context("staff.notice_given", _at(2, 9), actor="eve")
    return story.write(tmp_path / "one.jsonl")


def later_days(tmp_path: Path) -> str:
    """Days 9-10: dee exports (HIGH); eve exports with a ticket (LOW)."""
    story = Story("two")
    story.view("dee", "m1", _at(9, 10), **EXPORT)
    story.context("ticket.opened", _at(10, 8), ticket="TE", merchant="m3", by="merchant-m3")
    story.context("ticket.assigned", _at(10, 8), ticket="TE", merchant="m3", actor="eve")
    story.view("eve", "m3", _at(10, 9), justification={"ticket": "TE"}, **EXPORT)
    return story.write(tmp_path / "two.jsonl")


def last_day(tmp_path: Path) -> str:
    """Day 12: nothing that alerts."""
    story = Story("three")
    story.view("bob", "k2", _at(12, 9))
    return story.write(tmp_path / "three.jsonl")


# -- tests -------------------------------------------------------------------------------------


def test_ingest_runs_live_detection_unless_told_not_to(cli: Cli, tmp_path: Path) -> None:
    first = cli.run("ingest", first_days(tmp_path)).ok()
    lines = first.out.splitlines()
    assert lines[0].startswith("received 31, stored 31, duplicates 0;")
    assert ALERT_LINE.fullmatch(lines[1]), first.out
    assert lines[1] == "alerts raised or updated: 1 (1 medium or higher)"
    assert len(lines) == 2

    skipped = cli.run("ingest", later_days(tmp_path), "--no-detect").ok()
    assert skipped.out.startswith("received 4, stored 4, duplicates 0;")
    assert len(skipped.out.splitlines()) == 1
    assert "alerts" not in skipped.out
    assert [a["actor"] for a in cli.run("alerts", "--json").json_lines()] == ["ana"]

    # The next ingest with detection picks up the skipped events too (live cursor).
    got = json.loads(cli.run("ingest", last_day(tmp_path), "--json").ok().out)
    assert (got["stored"], got["alerts"], got["alerts_medium_plus"]) == (1, 2, 1)
    actors = sorted(a["actor"] for a in cli.run("alerts", "--json").json_lines())
    assert actors == ["ana", "dee", "eve"]


def _loaded(settings: Settings, tmp_path: Path) -> list[dict[str, Any]]:
    """Both files ingested with live detection, in-process (the CLI path is tested above)."""
    with open_store(settings) as store:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        for path in (first_days(tmp_path), later_days(tmp_path)):
            lines = Path(path).read_text(encoding="utf-8").splitlines()
            Ingestor(store, ledger).ingest(enumerate(lines, 1))
            DetectionRunner(store, DetectConfig(evidence=EvidenceConfig(enabled=False))).catch_up()
        untriaged = {"status": "new", "triage": []}
        alerts = [a.to_dict() | untriaged for a in DetectionRunner(store).alerts()]
    assert len(alerts) == 3
    return alerts


def test_alerts_json_and_filters(cli: Cli, settings: Settings, tmp_path: Path) -> None:
    _loaded(settings, tmp_path)
    as_json, text, ana, since, high, medium, none, bad_since, bad_severity = cli.many(
        ("alerts", "--json"),
        ("alerts",),
        ("alerts", "--actor", "ana", "--json"),
        ("alerts", "--since", "2026-11-11", "--json"),
        ("alerts", "--min-severity", "high", "--json"),
        ("alerts", "--min-severity", "medium", "--json"),
        ("alerts", "--actor", "nobody"),
        ("alerts", "--since", "last tuesday"),
        ("alerts", "--min-severity", "severe"),
    )
    alerts = as_json.json_lines()
    assert len(alerts) == 3
    for alert in alerts:
        assert set(alert) == ALERT_KEYS
        assert re.fullmatch(r"al-[0-9a-f]{16}", alert["id"])
        assert alert["severity"] in {"low", "medium", "high", "critical"}
        assert 0 < alert["score"] <= 100
        assert alert["merchants"] and alert["events"] and alert["reasons"]
        assert alert["time"].endswith("Z")
    assert [a["time"] for a in alerts] == sorted(a["time"] for a in alerts)  # oldest first
    by_actor = {a["actor"]: a for a in alerts}
    assert by_actor["ana"]["detector"] == "unjustified_access"
    assert by_actor["ana"]["severity"] == "medium"
    assert by_actor["ana"]["merchants"] == ["u0", "u1", "u2", "u3", "u4"]
    # Raised by the fifth new merchant (the floor), not before.
    assert by_actor["ana"]["events"] == ["one-28"]
    assert (by_actor["dee"]["detector"], by_actor["dee"]["severity"]) == (
        "export_after_notice",
        "high",
    )
    assert (by_actor["eve"]["detector"], by_actor["eve"]["severity"]) == (
        "export_after_notice",
        "low",
    )

    lines = text.ok().out.splitlines()
    assert len(lines) == 6  # a heading and one reason each
    assert re.fullmatch(
        r"2026-11-10T10:04:00Z  MEDIUM   new          ana  unjustified_access  \[al-[0-9a-f]{16}\]",
        lines[0],
    )
    assert lines[1].startswith("    ana ")
    assert "5 merchants" in lines[1]
    assert [a["actor"] for a in ana.json_lines()] == ["ana"]
    assert [a["actor"] for a in since.json_lines()] == ["dee", "eve"]
    assert all(parse_time(a["time"]) >= parse_time("2026-11-11") for a in since.json_lines())
    assert [(a["actor"], a["severity"]) for a in high.json_lines()] == [("dee", "high")]
    assert [a["actor"] for a in medium.json_lines()] == ["ana", "dee"]
    assert none.ok().out == ""

    bad_since.fails(2)
    errors = [line for line in bad_since.err.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: Invalid value for '--since': 'last tuesday' is not a time: use RFC 3339 "
        "(2026-11-23T10:00:00Z), a date (2026-11-23) or a duration back from now "
        "(30m, 24h, 7d, 2w)"
    ]
    bad_severity.fails(2)
    assert "'severe' is not one of 'low', 'medium', 'high', 'critical'" in bad_severity.err


def test_detect_is_idempotent(cli: Cli, settings: Settings, tmp_path: Path) -> None:
    live = _loaded(settings, tmp_path)
    first = cli.run("detect").ok()
    match = re.fullmatch(
        r"3 alerts in \d+\.\d s: 1 high, 1 medium, 1 low\n((?:  \w+: \d+\n)+)", first.out
    )
    assert match, first.out
    assert sorted(match.group(1).split("\n")[:-1]) == [
        "  export_after_notice: 2",
        "  unjustified_access: 1",
    ]
    summary = json.loads(cli.run("detect", "--json").ok().out)
    assert summary["alerts"] == 3
    assert summary["by_severity"] == {"high": 1, "medium": 1, "low": 1}
    assert summary["by_detector"] == {"unjustified_access": 1, "export_after_notice": 2}
    # Same alerts, same ids: the replays replaced what live detection stored.
    assert cli.run("alerts", "--json").json_lines() == live


def test_risk_ranks_actors(cli: Cli, settings: Settings, tmp_path: Path) -> None:
    open_store(settings).close()  # an empty store (reading commands never create one)
    empty = cli.run("risk").ok()
    assert empty.out == ""
    assert empty.err.startswith("no alerts in ")
    _loaded(settings, tmp_path)
    text, as_json, top = cli.many(("risk",), ("risk", "--json"), ("risk", "--top", "1"))
    ranked = as_json.json_lines()
    assert [r["actor"] for r in ranked] == ["dee", "ana", "eve"]
    assert all(0 < r["risk"] <= 100 for r in ranked)
    assert [r["risk"] for r in ranked] == sorted((r["risk"] for r in ranked), reverse=True)
    lines = text.ok().out.splitlines()
    assert [line.split() for line in lines] == [[f"{r['risk']:.1f}", r["actor"]] for r in ranked]
    assert top.ok().out.split() == lines[0].split()


def test_bad_detection_config_is_a_one_line_error(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "detect.toml"
    bad.write_text("[detect.detectors.collusion]\nmin_shared = 'three'\n", encoding="utf-8")
    good = tmp_path / "good.toml"
    good.write_text("[detect.detectors.unjustified_access]\nenabled = false\n")
    nope = tmp_path / "nope.toml"
    env = {"SENTINELLE_DETECT_CONFIG": str(bad)}

    skipped = cli.run("ingest", first_days(tmp_path), "--no-detect", env=env).ok()
    assert "alerts" not in skipped.out
    detect, from_option, overridden, listed = cli.many(
        ("detect",),
        ("detect", "--config", str(bad)),
        ("detect", "--config", str(good)),  # --config wins over the variable
        ("alerts", "--json"),  # listing needs no thresholds
        env=env,
    )
    for run in (detect, from_option):
        run.fails(1)
        assert run.err.splitlines() == [
            f"error: invalid detection config {bad}: detectors.collusion.min_shared: "
            "Input should be a valid integer, unable to parse string as an integer"
        ]
    # ana's five merchants without tickets alert only while the detector is on.
    assert overridden.ok().out.startswith("0 alerts in ")
    assert listed.ok().out == ""

    missing = cli.run("detect", env={"SENTINELLE_DETECT_CONFIG": str(nope)}).fails(1)
    assert missing.err == f"error: cannot read detection config {nope}: No such file or directory\n"


def test_times_may_be_durations_back_from_now(cli: Cli, tmp_path: Path) -> None:
    import time

    cli.run("ingest", first_days(tmp_path)).ok()
    everything = cli.run("alerts", "--json").json_lines()
    assert everything
    ago = cli.many(
        ("alerts", "--json", "--since", "100000d"),
        ("alerts", "--json", "--since", "0m"),
        ("detect", "--json", "--since", "5200w", "--until", "0h"),
        ("detect", "--json", "--since", "10 d"),
    )
    assert ago[0].json_lines() == everything
    now = time.time_ns() // 1000
    assert len(ago[1].json_lines()) == sum(1 for a in everything if parse_time(a["time"]) >= now)
    assert json.loads(ago[2].ok().out)["alerts"] == len(everything)
    assert "alerts" in json.loads(ago[3].ok().out)
    for bad in ("7x", "yesterday", "-3d", "1.5h"):
        refused = cli.run("detect", "--since", bad).fails(2)
        assert refused.err.splitlines()[-1] == (
            f"Error: Invalid value for '--since': {bad!r} is not a time: use RFC 3339 "
            "(2026-11-23T10:00:00Z), a date (2026-11-23) or a duration back from now "
            "(30m, 24h, 7d, 2w)"
        )


def test_an_inverted_window_is_refused(cli: Cli, settings: Settings) -> None:
    # --since after --until would read nothing and say "0 alerts": a mistake, said so.
    refused = cli.run("detect", "--since", "2026-12-01", "--until", "2026-11-01").fails(2)
    assert "--since (2026-12-01T00:00:00Z) must be before --until (2026-11-01T00:00:00Z)" in (
        refused.err
    )
    assert not settings.data_dir.exists() or not any(settings.data_dir.iterdir())


def test_tickets_that_cannot_be_checked_are_a_warning(cli: Cli, tmp_path: Path) -> None:
    # No help desk connected: every view cites a ticket that no ticket event describes.
    story = Story("desk")
    for day in range(3):
        story.view("ana", f"k{day}", _at(day, 9), justification={"ticket": f"ZD-{day}"})
    path = story.write(tmp_path / "desk.jsonl")
    warning = (
        "warning: 3 accesses cited tickets that no ticket event describes, while no ticket "
        "event came in the last 7 days: the help desk is not connected, or its feed stopped."
    )
    ingested = cli.run("ingest", path, "--json").ok()
    assert warning in ingested.err, ingested.err
    assert ingested.err.count("cited tickets") == 1, ingested.err  # not logged as well
    [said] = json.loads(ingested.out)["warnings"]
    assert said.startswith(warning.removeprefix("warning: "))
    replayed = cli.run("detect").ok()
    assert warning in replayed.err, replayed.err
    assert replayed.err.count("cited tickets") == 1, replayed.err
    assert replayed.out.startswith("0 alerts in ")
    # `sentinelle feeds` says so too, and what detection does meanwhile.
    feeds = cli.run("feeds").ok().out.splitlines()
    assert feeds[0].startswith("Live detection has read 3 events, up to ")
    assert feeds[1].startswith(
        "Help desk: no ticket event in the last 7 days (none yet): tickets that accesses cite "
        "are taken as stated"
    )
    assert json.loads(cli.run("feeds", "--json").ok().out)["tickets"]["silent"] is True


def test_tickets_cited_by_other_ids_than_the_help_desks_are_a_warning(
    cli: Cli, tmp_path: Path
) -> None:
    # The help desk is connected and names its tickets 101, 102, …; the support console cites
    # them as ZD-101, ZD-102, …: each access counts as citing no ticket, said once.
    story = Story("ids")
    for i in range(20):
        ticket = {"ticket": f"{101 + i}", "merchant": f"k{i}"}
        story.context("ticket.opened", _at(0, 9, i), **ticket)
        story.context("ticket.assigned", _at(0, 9, i), actor="ana", **ticket)
        story.view("ana", f"k{i}", _at(0, 10, i), justification={"ticket": f"ZD-{101 + i}"})
    path = story.write(tmp_path / "ids.jsonl")
    ingested = cli.run("ingest", path, "--json").ok()
    warning = (
        "warning: 20 of 20 accesses citing a ticket cited one that no ticket event names, "
        "though the help desk's events come: each counts as citing no ticket. Do the access "
        "events cite tickets by the help desk's own ids? A connector's ticket_prefix turns "
        "its 123 into ZD-123"
    )
    assert warning in ingested.err, ingested.err
    assert ingested.err.count("no ticket event names") == 1, ingested.err  # not logged too
    assert any(w.startswith("20 of 20 accesses") for w in json.loads(ingested.out)["warnings"])
    feeds = cli.run("feeds").ok().out
    assert (
        "  tickets cited: 20 of the 20 accesses citing a ticket in the last 7 days cited one "
        "that no ticket event names, and each counts as citing no ticket." in feeds
    ), feeds
    said = json.loads(cli.run("feeds", "--json").ok().out)["tickets"]["cited"]
    assert said == {"accesses": 20, "unknown": 20}


def test_feeds_needs_live_detection_to_have_run(cli: Cli, tmp_path: Path) -> None:
    missing = cli.run("feeds").fails(1)  # no database (SQLite), or one never ingested into
    said_so = ("error: no Sentinelle database in ", "error: live detection has not run on ")
    assert missing.err.startswith(said_so), missing.err
    cli.run("ingest", first_days(tmp_path), "--no-detect").ok()
    idle = cli.run("feeds", "--json").fails(1)
    assert "live detection has not run on " in idle.err and idle.out == "", idle.err
    cli.run("ingest", later_days(tmp_path)).ok()
    said = json.loads(cli.run("feeds", "--json").ok().out)
    assert said["events_read"] == 35 and said["tickets"]["silent"] is False
