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
    # The README's plain re-assessment keeps what was recorded: awareness, the scope basis,
    # and so the number of people to notify (it used to reset awareness to the opening and
    # widen the scope to every access).
    shown = json.loads(_run(env, "incident", "show", incident, "--json"))
    again = json.loads(_run(env, "incident", "assess", incident, "--json"))
    after = json.loads(_run(env, "incident", "show", incident, "--json"))
    assert after["facts"]["aware_at"] == shown["facts"]["aware_at"] == truth["end"]
    assert after["clock"]["deadline"] == shown["clock"]["deadline"]
    assert after["scope_basis"] == again["scope_basis"] == "unjustified"
    assert after["facts"]["subjects"] == shown["facts"]["subjects"]
    assert again["changes"] == []
    # Narrowing is refused without a reason, widening is not; both are logged before → after.
    wide = run_script(env, "incident", "assess", incident, "--all-accesses").stdout
    assert "changed since the last assessment:" in wide
    assert 'scope_basis: "unjustified" → "all"' in wide
    refused = run_script(env, "incident", "assess", incident, "--unjustified-only", code=1)
    assert "narrows from all accesses" in refused.stderr and "--reason" in refused.stderr
    _run(env, "incident", "assess", incident, "--unjustified-only", "--reason", "ticketed work")
    # incident facts → edit → assess --facts: what people add is kept, the counts stay counted.
    facts = json.loads(_run(env, "incident", "facts", incident))
    assert facts["aware_at"] == truth["end"]
    facts["summary"] = "Two support agents copied customer lists."
    edited = tmp_path / "facts.json"
    edited.write_text(json.dumps(facts), encoding="utf-8")
    _run(env, "incident", "assess", incident, "--facts", str(edited))
    stated = json.loads(_run(env, "incident", "show", incident, "--json"))
    assert stated["facts_given"] == {
        "aware_at": truth["end"],  # given with --aware-at at the first assessment
        "summary": "Two support agents copied customer lists.",
    }
    # A key the schema does not know names the file and the key; nothing is recorded.
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"nature": {"summary": "x"}}), encoding="utf-8")
    bad = run_script(env, "incident", "assess", incident, "--facts", str(wrong), code=1)
    assert bad.stderr.startswith(f"error: facts refused ({wrong}), nothing was recorded")
    assert "nature" in bad.stderr and "batch" not in bad.stderr
    unchanged = json.loads(_run(env, "incident", "show", incident, "--json"))
    for key in ("state", "facts", "facts_given", "assessment", "scope_basis", "decisions"):
        assert unchanged[key] == stated[key], key
