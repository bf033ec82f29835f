"""``sentinelle simulate --guard``: every staff access of the simulated month is the guard's
decision; the insiders' attempts that need an approval are refused, honest exports are
approved by their merchant first; the stream still ingests whole, and the same seed gives the
same bytes."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_script

ARGS = ("--merchants", "120", "--agents", "30", "--days", "22", "--seed", "5", "--scenario", "all")


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    tmp = tmp_path_factory.mktemp("guarded")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    out, truth = tmp / "events.ndjson.gz", tmp / "truth.json"
    proc = run_script(env, "simulate", *ARGS, "--guard", "--out", str(out), "--truth", str(truth))
    return out, json.loads(truth.read_text()), proc.stderr


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.open(path).read().splitlines()]


def test_every_staff_access_is_a_decision_and_insiders_are_refused(
    guarded: tuple[Path, dict[str, Any], str],
) -> None:
    path, truth, stderr = guarded
    events = _events(path)
    staff = [e for e in events if "action" in e and e["actor"]["kind"] == "staff"]
    assert staff
    for e in staff:  # each one carries its decision
        assert e["outcome"] in ("allowed", "denied")
        verdict = e["justification"]["reason"].split(":")[0]
        assert (verdict == "allow") == (e["outcome"] == "allowed")
        assert verdict in ("allow", "deny", "pending")
    malicious = {i for s in truth["scenarios"] for i in s["events"]}
    theirs = [e for e in staff if e["id"] in malicious]
    refused = [e for e in theirs if e["outcome"] == "denied"]
    assert len(refused) > len(theirs) / 2  # most of the harvest never reaches them
    # Nobody approves an insider's export: every one of them is refused.
    exports = [e for e in theirs if e["action"] == "export"]
    assert exports and all(e["outcome"] == "denied" for e in exports)
    # Honest exports are approved by their merchant, through a grant the access cites.
    approved = {e["grant"]: e for e in events if e.get("type") == "grant.approved" and "by" in e}
    by_merchant = [g for g in approved.values() if g["by"].startswith("merchant:")]
    cited = {e["justification"].get("grant") for e in staff if e["outcome"] == "allowed"}
    assert by_merchant and all(g["grant"] in cited for g in by_merchant)
    # Break-glass grants are self-approved, and their access cites them.
    glass = [g for g in approved.values() if g["grant"].startswith("bg-")]
    assert glass
    for g in glass:
        assert g["by"] == g["actor"] and g["reason"].startswith("break-glass:")
        assert g["grant"] in cited
    assert "insiders' accesses" in stderr and "refused" in stderr


def test_the_guarded_stream_ingests_whole_and_is_the_same_for_the_same_seed(
    guarded: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    path, _truth, _ = guarded
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    again = tmp_path / "again.ndjson"
    run_script(env, "simulate", *ARGS, "--guard", "--out", str(again))
    assert again.read_bytes() == gzip.open(path).read()
    data = tmp_path / "data"
    proc = run_script(env, "--data-dir", str(data), "ingest", "--no-detect", str(again))
    lines = len(again.read_bytes().splitlines())
    assert f"received {lines}, stored {lines}, duplicates 0" in proc.stdout + proc.stderr


def test_guard_options_are_checked(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    bad = tmp_path / "bad.toml"
    bad.write_text('[teams.tier1]\nactions = ["exprot"]\n')
    out = tmp_path / "out.ndjson"
    proc = run_script(
        env, "simulate", *ARGS, "--guard", "--guard-policy", str(bad), "--out", str(out), code=1
    )
    assert 'teams.tier1.actions[0]: "exprot" is not an action' in proc.stderr
    assert not out.exists()
    proc = run_script(env, "simulate", *ARGS, "--guard-policy", str(bad), "--out", str(out), code=2)
    assert "--guard-policy is for --guard" in proc.stderr
    assert not out.exists()
