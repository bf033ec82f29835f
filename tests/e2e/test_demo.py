"""`sentinelle demo` runs end to end and finds the insiders it hides, in the days up to today."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

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
