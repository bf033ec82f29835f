"""``sentinelle assess``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sentinelle.cli import main
from sentinelle.cli.app import cli_group

CASES = {
    c["id"]: c["facts"]
    for c in json.loads((Path(__file__).parent / "edpb-examples.json").read_text())["cases"]
}


def write(tmp_path: Path, facts: Any) -> str:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(facts))
    return str(path)


def test_json_output(tmp_path: Path) -> None:
    args = ["assess", write(tmp_path, CASES["CASE-11"]), "--json", "--now", "2026-02-03T09:00Z"]
    result = CliRunner().invoke(cli_group, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["severity"]["level"] == "very_high"
    assert out["notify_authority"]["required"] is True
    assert out["notify_authority"]["late"] is False
    assert out["notify_authority"]["deadline"] == "2026-02-05T09:00:00Z"
    assert out["notify_subjects"]["required"] is True
    assert out["document"] is True


def test_now_decides_lateness(tmp_path: Path) -> None:
    args = [
        "assess",
        write(tmp_path, CASES["CASE-08"]),
        "--json",
        "--now",
        "2026-02-06T00:00:00+00:00",
    ]
    out = json.loads(CliRunner().invoke(cli_group, args).stdout)
    assert out["notify_authority"]["late"] is True


def test_text_output(tmp_path: Path) -> None:
    args = ["assess", write(tmp_path, CASES["CASE-01"]), "--now", "2026-02-03T09:00Z"]
    result = CliRunner().invoke(cli_group, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "severity: low (SE = DPC 1 × EI 1 + CB 0.5 = 1.5, ENISA 2013)"
    assert "notify the supervisory authority: no" in lines
    assert "tell the people concerned: no" in lines
    assert "document the breach in the register: yes (always, Art. 33(5))" in lines


def test_text_output_with_deadline_and_stdin() -> None:
    args = ["assess", "-", "--now", "2026-02-06T09:00Z"]
    result = CliRunner().invoke(cli_group, args, input=json.dumps(CASES["CASE-11"]))
    assert result.exit_code == 0, result.output
    assert "notify the supervisory authority: YES, by 2026-02-05T09:00:00Z (LATE)" in result.stdout
    assert "tell the people concerned: YES" in result.stdout
    assert "assumptions:" in result.stdout


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        (
            {**CASES["CASE-08"], "cause": {"intent": "evil"}},
            "facts refused: $.cause.intent: Invalid enum value 'evil'",
        ),
        (
            {**CASES["CASE-08"], "extra": 1},
            "facts refused: $: Object contains unknown field `extra`",
        ),
        ("not an object", "facts refused: $: Expected `object`"),
    ],
)
def test_invalid_facts_are_one_line_and_exit_1(
    tmp_path: Path, facts: Any, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["assess", write(tmp_path, facts), "--json"])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["assess", "/nonexistent/facts.json"], 1, "Could not open file"),
        (["assess", "-", "--now", "soon"], 2, "not an RFC 3339 time"),
        (["assess", "-", "--now", "2026-02-03T09:00"], 2, "needs a UTC offset"),
    ],
)
def test_bad_arguments(
    args: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == code
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
