"""End to end: ``sentinelle policy check`` and ``policy explain``, run as subprocesses of the
installed console script: exit codes, what is printed, one-line diagnostics without tracebacks,
and the ticket read from the stored context events (SQLite)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cli_support import Run, run_many

EXAMPLE = Path(__file__).parents[2] / "conf" / "guard.example.toml"
EXPLAIN = (
    "policy",
    "explain",
    "--policy",
    str(EXAMPLE),
    "--actor",
    "agent-1",
    "--team",
    "tier1",
    "--merchant",
    "m-1",
    "--at",
    "2026-11-23T10:00:00Z",
)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    env["SENTINELLE_DATA_DIR"] = str(tmp_path / "data")
    return env


def _runs(tmp_path: Path, *commands: tuple[str, ...]) -> list[Run]:
    return [Run(*r) for r in run_many(commands, env=_env(tmp_path), cwd=tmp_path)]


def test_check_and_explain(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    text = EXAMPLE.read_text(encoding="utf-8")
    bad.write_text(
        text.replace(
            '"update"]\nchannels = ["support_console"]', '"exprot"]\nchannels = []'
        ).replace("grant_hours = 8.0", "grant_hours = 400"),
        encoding="utf-8",
    )
    not_toml = tmp_path / "not.toml"
    not_toml.write_text("[teams\n", encoding="utf-8")
    ok, errors, unreadable, missing, view, export, denied, wrong = _runs(
        tmp_path,
        ("policy", "check", str(EXAMPLE)),
        ("policy", "check", str(bad)),
        ("policy", "check", str(not_toml)),
        ("policy", "check", str(tmp_path / "missing.toml")),
        (*EXPLAIN, "--action", "view", "--data", "address,contact,payment_partial")
        + ("--ticket", "T-42", "--ticket-state", "open", "--purpose", "shipping_question"),
        (*EXPLAIN, "--role", "lead", "--action", "export", "--data", "contact", "--count", "500")
        + ("--json",),
        (*EXPLAIN, "--action", "view", "--data", "address", "--ticket", "T-9")
        + ("--ticket-state", "open", "--ticket-merchant", "m-3", "--purpose", "shipping_question")
        + ("--json",),
        (*EXPLAIN, "--action", "exprot", "--data", "address"),
    )
    assert "valid guard policy: 3 team(s) (tier1, tier2, trust_safety)" in ok.ok().out
    errors.fails()
    assert f"error: invalid guard policy {bad}:" in errors.err
    assert (
        'line 22: teams.tier1.actions[2]: "exprot" is not an action '
        "(view, search, export, download, update, delete)"
    ) in errors.err
    assert "defaults.grant_hours: 400 hours is out of bounds" in errors.err
    assert f"cannot read guard policy {not_toml}" in unreadable.fails().err
    assert "missing.toml" in missing.fails().err
    assert view.ok().out.splitlines() == [
        "decision: allow",
        "grant: -",
        "mask: contact, payment_partial",
        "expires: when the ticket closes",
        "reasons:",
        "  - Ticket T-42 is open, assigned to you and for merchant m-1: a view of one customer "
        "is allowed until the ticket closes.",
        "  - Purpose shipping_question: address shown; contact and payment_partial masked "
        "(not needed for this purpose).",
    ]
    pending = json.loads(export.ok().out)
    assert pending["decision"] == "pending" and pending["approvers"] == ["merchant"]
    assert pending["reasons"][0].startswith("An export needs approval")
    deny = json.loads(denied.ok().out)
    assert deny["decision"] == "deny"
    assert deny["reasons"][0] == (
        "Ticket T-9 belongs to merchant m-3, not m-1, and no approved, live grant covers it: "
        "denied."
    )
    assert 'error: action: "exprot" is not an action' in wrong.fails().err


def test_explain_refuses_what_the_endpoint_refuses(tmp_path: Path) -> None:
    # The endpoint answers 422 for these: explain must not decide them (it did, exit 0).
    empty, long_team, huge, usage, when = _runs(
        tmp_path,
        (*EXPLAIN, "--actor", "", "--action", "view", "--data", "contact"),
        (*EXPLAIN, "--team", "t" * 65, "--action", "view", "--data", "contact"),
        (*EXPLAIN, "--action", "export", "--data", "contact", "--count", str(2**53)),
        ("policy", "explain", "--help"),
        (*EXPLAIN, "--action", "view", "--data", "contact", "--at", "yesterday"),
    )
    assert "error: $.actor: Expected `str` of length >= 1" in empty.fails().err
    assert "error: $.team: Expected `str` of length <= 64" in long_team.fails().err
    assert "error: $.count: Expected `int` <= 9007199254740991" in huge.fails().err
    assert "Traceback" not in empty.err + long_team.err + huge.err
    assert "TODO" not in usage.ok().out  # a developer's note is no help for users
    # A value of the wrong form is a usage error: exit 2 with the usage line (was 1).
    assert when.code == 2, when
    assert "Invalid value for --at: 'yesterday' is not a time" in when.err


def test_explain_reads_the_ticket_from_the_store(tmp_path: Path) -> None:
    events = tmp_path / "context.jsonl"
    lines = [
        {"id": "c-1", "time": "2026-11-23T09:00:00Z", "type": "ticket.opened", "ticket": "T-42"}
        | {"merchant": "m-1", "by": "customer", "reason": "shipping_question"},
        {"id": "c-2", "time": "2026-11-23T09:01:00Z", "type": "ticket.assigned"}
        | {"ticket": "T-42", "actor": "agent-1"},
        {"id": "c-3", "time": "2026-11-23T09:00:00Z", "type": "ticket.opened", "ticket": "T-7"}
        | {"merchant": "m-1"},
        {"id": "c-4", "time": "2026-11-23T09:30:00Z", "type": "ticket.closed", "ticket": "T-7"},
    ]
    events.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    (no_store,) = _runs(
        tmp_path, (*EXPLAIN, "--action", "view", "--data", "address", "--ticket", "T-42")
    )
    assert "or give its state with --ticket-state" in no_store.fails().err
    assert not (tmp_path / "data").exists()  # explain creates no database
    (ingest,) = _runs(tmp_path, ("ingest", str(events), "--no-detect"))
    ingest.ok()
    view = (*EXPLAIN, "--action", "view", "--data", "address,contact", "--json")
    open_, closed, unknown, early = _runs(
        tmp_path,
        (*view, "--ticket", "T-42", "--purpose", "fraud_review"),
        (*view, "--ticket", "T-7"),
        (*view, "--ticket", "T-99"),
        (*view, "--ticket", "T-42", "--at", "2026-11-23T08:00:00Z"),  # the last --at wins
    )
    allowed = json.loads(open_.ok().out)
    assert allowed["decision"] == "allow" and allowed["mask"] == ["contact"]
    assert any("ticket T-42 is a shipping_question" in r for r in allowed["reasons"])
    assert json.loads(closed.ok().out)["reasons"][0].startswith("Ticket T-7 is closed")
    assert json.loads(unknown.ok().out)["reasons"][0].startswith(
        "Ticket T-99 is not known to Sentinelle"
    )
    # before the ticket was opened, it was not known
    assert json.loads(early.ok().out)["decision"] == "deny"


def test_explain_reads_grants_and_suspension_from_the_store(tmp_path: Path) -> None:
    """explain decides on what the decision endpoint reads: the actor's live grants at the
    merchant and the actor's suspension."""
    from sentinelle.config import Settings
    from sentinelle.store import open_store
    from sentinelle.store.grants import GrantRow
    from sentinelle.timeutil import HOUR, parse_time

    events = tmp_path / "context.jsonl"
    opened = {"id": "c-1", "time": "2026-11-23T09:00:00Z", "type": "ticket.opened"}
    events.write_text(json.dumps(opened | {"ticket": "T-1", "merchant": "m-1"}) + "\n")
    (ingest,) = _runs(tmp_path, ("ingest", str(events), "--no-detect"))
    ingest.ok()
    at = parse_time("2026-11-23T10:00:00Z")
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", database_url=None)
    with open_store(settings) as store, store.writer() as w:
        w.insert_grant(GrantRow(
            "g-1", "agent-1", "m-1", '["export"]', '["contact"]', 1000, None, "recall", None,
            "key:guard", at - HOUR, f'[{{"as": "merchant", "by": "shop", "at_us": {at}}}]',
            at + HOUR, "approved", at - HOUR,
        ))  # fmt: skip
        w.suspend("agent-2", by="response", reason="alert a-1", at_us=at - HOUR)
    export = (*EXPLAIN, "--role", "lead", "--action", "export", "--data", "contact", "--json")
    granted, elsewhere, suspended = _runs(
        tmp_path,
        (*export, "--count", "500"),
        (*export, "--count", "500", "--merchant", "m-2"),
        (*EXPLAIN, "--actor", "agent-2", "--action", "view", "--data", "contact", "--json"),
    )
    allowed = json.loads(granted.ok().out)
    assert allowed["decision"] == "allow" and allowed["grant"] == "g-1", allowed
    assert json.loads(elsewhere.ok().out)["decision"] == "pending"  # a grant is per merchant
    denied = json.loads(suspended.ok().out)
    assert denied["decision"] == "deny" and "suspended" in denied["reasons"][0]
