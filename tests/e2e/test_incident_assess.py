"""From alerts to an assessed incident: the pair harvest of a simulated month, through the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cli_support import run_script

from sentinelle.sim import simulate


def _run(env: dict[str, str], *args: str) -> str:
    return run_script(env, *args).stdout


def test_pair_harvest_incident_is_scoped_and_assessed(tmp_path: Path) -> None:
    sim = simulate(merchants=300, agents=40, days=24, seed=5, scenarios="pair_harvest")
    events = tmp_path / "events.jsonl"
    sim.write(str(events))
    truth = sim.truth["scenarios"][0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    env["SENTINELLE_DATA_DIR"] = str(tmp_path / "data")
    _run(env, "ingest", str(events))
    alerts = [
        json.loads(x)
        for x in _run(env, "alerts", "--min-severity", "medium", "--json").splitlines()
    ]
    on_insiders = [a for a in alerts if a["actor"] in truth["actors"]]
    assert on_insiders, "the detectors raised nothing on the insiders"
    first = on_insiders[0]
    others = [a for a in truth["actors"] if a != first["actor"]]
    incident = (
        _run(
            env,
            "incident",
            "open",
            "--title",
            "Support agents harvesting customer lists",
            "--from-alert",
            first["id"],
            "--actors",
            ",".join(others),
            "--from",
            truth["start"],
            "--to",
            truth["end"],
        )
        .strip()
        .splitlines()[-1]
    )
    scope = json.loads(_run(env, "incident", "scope", incident, "--unjustified-only", "--json"))
    assert set(scope["actors"]) == set(truth["actors"])
    assert {m["merchant"] for m in scope["per_merchant"]} >= set(truth["merchants"])
    assert scope["subjects"] >= len(truth["subjects"])
    decision = json.loads(
        _run(
            env,
            "incident",
            "assess",
            incident,
            "--unjustified-only",
            "--json",
            "--aware-at",
            truth["end"],
            "--now",
            truth["end"],
        )
    )
    assert decision["notify_authority"]["required"] is True
    assert decision["notify_subjects"]["required"] is True
    assert decision["notify_authority"]["late"] is False
    assert any("phishing" in r for r in decision["notify_authority"]["reasons"])
    register = json.loads(_run(env, "incident", "register", "--json"))
    entry = next(e for e in register if e["id"] == incident)
    assert entry["state"] == "assessed"
    assert any(d["change"] == "assessment" for d in entry["decisions"])
