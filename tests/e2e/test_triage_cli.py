"""End to end: ``sentinelle alerts triage`` and ``sentinelle alerts --status``, on both stores.

Alerts are written straight into the store; the console script then decides on them and
lists them by status, as text (the status on each alert's line, the latest decision below its
reasons) and as JSON (the whole history).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from cli_support import run_script

from sentinelle.config import Settings
from sentinelle.detect import Alert, Severity
from sentinelle.detect.runner import alert_row
from sentinelle.store import open_store
from sentinelle.timeutil import DAY, SECOND, parse_time

T0 = parse_time("2026-11-02T08:00:00Z")


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    env["SENTINELLE_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["SENTINELLE_DATABASE_URL"] = settings.database_url
    return env


def _stored(settings: Settings) -> None:
    with open_store(settings) as store, store.writer() as w:
        w.upsert_alerts(
            [
                alert_row(
                    Alert(
                        id=f"al-{i}",
                        actor=f"agent-{i}",
                        detector="unjustified_access",
                        time_us=T0 + i * 60 * SECOND,
                        last_us=T0 + i * 60 * SECOND,
                        severity=Severity.MEDIUM,
                        score=50.0,
                        merchants=["m-1"],
                        events=[f"evt-{i}"],
                        reasons=[f"reason {i}"],
                    )
                )
                for i in range(3)
            ]
        )


def test_triage_from_the_command_line(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stored(settings)
    env = _env(settings)
    monkeypatch.chdir(tmp_path)

    listed = run_script(env, "alerts", "--status", "new").stdout.splitlines()
    assert [line.split()[2] for line in listed if not line.startswith(" ")] == ["new"] * 3

    dismissed = run_script(
        env,
        "alerts",
        "triage",
        "al-0",
        "--status",
        "dismissed",
        "--reason",
        "a test account",
        "--suppress-days",
        "7",
        "--by",
        "rita@example.org",
    ).stdout
    assert dismissed.startswith("al-0: dismissed; its actor and detector raise no alert until ")

    escalated = run_script(
        env, "alerts", "triage", "al-1", "--status", "escalated", "--reason", "real", "--by", "r"
    ).stdout
    match = re.fullmatch(r"al-1: escalated, incident (inc-\S+) \(opened\)\n", escalated)
    assert match, escalated
    incident = match[1]

    [alert] = [
        json.loads(line)
        for line in run_script(env, "alerts", "--status", "dismissed", "--json").stdout.splitlines()
    ]
    assert alert["id"] == "al-0"
    assert alert["status"] == "dismissed"
    [decision] = alert["triage"]
    assert (decision["by"], decision["reason"], decision["incident"]) == (
        "rita@example.org",
        "a test account",
        None,
    )
    span = parse_time(decision["suppress_until"]) - parse_time(decision["at"])
    assert span == 7 * DAY

    text = run_script(env, "alerts").stdout.splitlines()
    assert re.fullmatch(
        r"\S+  MEDIUM   escalated    agent-1  unjustified_access  \[al-1\]", text[3]
    )
    assert text[5].startswith("    escalated by r at ")
    assert text[5].endswith(f", incident {incident}: real")
    still_new = run_script(env, "alerts", "--status", "new").stdout.splitlines()
    assert [line.split()[-1] for line in still_new if not line.startswith(" ")] == ["[al-2]"]

    # Refusals: no reason (a usage error), an unknown alert, a suppression of an escalation.
    run_script(env, "alerts", "triage", "al-2", "--status", "dismissed", code=2)
    unknown = run_script(
        env, "alerts", "triage", "al-9", "--status", "dismissed", "--reason", "x", code=1
    )
    assert "al-9" in unknown.stderr
    wrong = run_script(
        env,
        "alerts",
        "triage",
        "al-2",
        "--status",
        "escalated",
        "--reason",
        "x",
        "--suppress-days",
        "3",
        code=1,
    )
    assert "suppress_days" in wrong.stderr
    assert run_script(env, "alerts", "--status", "new", "--json").stdout.count("al-2") == 1
