"""End to end on both stores: ``sentinelle ingest`` with a guard policy suspends the actor a
high alert names (and says so), ``sentinelle suspensions list`` shows it, ``suspensions lift``
needs a reason and lifts it once; without a policy, ingest suspends nobody."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cli_support import Run, run_many

from sentinelle.config import Settings
from sentinelle.guard.respond import SENTINELLE

POLICY = """
[teams.tier1]
actions = ["view"]
channels = ["support_console"]
categories = ["contact"]
"""
NO_TICKET = "deny: No ticket is cited, and no approved, live grant covers it: denied."


def _env(settings: Settings, policy: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    env["SENTINELLE_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["SENTINELLE_DATABASE_URL"] = settings.database_url
    if policy is not None:
        env["SENTINELLE_GUARD_POLICY"] = str(policy)
    return env


def _run(env: dict[str, str], cwd: Path, *args: str) -> Run:
    return Run(*run_many([args], env=env, cwd=cwd)[0])


def _denials(path: Path, actor: str) -> str:
    events: list[dict[str, Any]] = [
        {"id": f"{actor}-{i}", "time": f"2026-11-05T09:{10 + i:02d}:00Z",
         "actor": {"id": actor, "kind": "staff", "team": "tier1"}, "action": "view",
         "merchant": f"m-{i}", "data": ["contact"], "channel": "support_console",
         "justification": {"reason": NO_TICKET}, "outcome": "denied"}
        for i in range(6)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return str(path)


def test_ingest_suspends_and_the_cli_lists_and_lifts(settings: Settings, tmp_path: Path) -> None:
    policy = tmp_path / "guard.toml"
    policy.write_text(POLICY)
    env = _env(settings, policy)
    done = _run(env, tmp_path, "ingest", _denials(tmp_path / "a.jsonl", "agent-1")).ok()
    assert "suspended agent-1 on alert al-" in done.out
    assert "(probing, high): 0 grant(s) revoked, escalated into incident" in done.out
    listed = _run(env, tmp_path, "suspensions", "list").ok().out
    assert listed.startswith("agent-1: suspended 2026-") and f"by {SENTINELLE} on alert" in listed
    [shown] = _run(env, tmp_path, "suspensions", "list", "--json").json_lines()
    assert shown["actor"] == "agent-1" and shown["active"] is True
    assert [s["kind"] for s in shown["history"]] == ["suspended"]
    # A reason is required, and only a suspended actor can be lifted.
    assert "reason: say why" in _run(env, tmp_path, "suspensions", "lift", "agent-1",
                                     "--reason", "  ").fails().err  # fmt: skip
    nobody = _run(env, tmp_path, "suspensions", "lift", "agent-9", "--reason", "x").fails()
    assert "agent-9 is not suspended" in nobody.err
    lifted = _run(env, tmp_path, "suspensions", "lift", "agent-1", "--reason",
                  "test data", "--by", "cli:ana").ok()  # fmt: skip
    assert "lifted the suspension of agent-1 (alert al-" in lifted.out
    assert "by cli:ana: test data" in lifted.out
    assert _run(env, tmp_path, "suspensions", "list").ok().out == "no actor is suspended\n"
    everything = _run(env, tmp_path, "suspensions", "list", "--all").ok().out
    assert "lifted by cli:ana: test data" in everything
    # Without a guard policy, ingest responds to nothing.
    plain = _run(_env(settings, None), tmp_path, "ingest", "--json",
                 _denials(tmp_path / "b.jsonl", "agent-2")).ok()  # fmt: skip
    assert json.loads(plain.out)["suspended"] == []
