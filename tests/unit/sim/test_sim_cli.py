"""``sentinelle simulate``."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sentinelle.cli import main
from sentinelle.cli.app import cli_group
from sentinelle.events import decode_event


def test_simulate_writes_events_and_truth(tmp_path: Path) -> None:
    out, truth = tmp_path / "events.jsonl.gz", tmp_path / "truth.json"
    args = ["simulate", "--merchants", "80", "--agents", "25", "--days", "22", "--seed", "3"]
    args += ["--scenario", "pair_harvest,fake_tickets", "--out", str(out), "--truth", str(truth)]
    result = CliRunner().invoke(cli_group, args)
    assert result.exit_code == 0, result.output
    with gzip.open(out) as f:
        lines = f.read().splitlines()
    assert len(lines) > 10_000
    for line in lines[:2000]:
        decode_event(line)
    facts = json.loads(truth.read_text())
    assert [s["name"] for s in facts["scenarios"]] == ["pair_harvest", "fake_tickets"]
    assert f"wrote {len(lines):,} events" in result.stderr
    assert not list(tmp_path.glob(".*.tmp"))


def test_simulate_to_stdout_without_scenarios() -> None:
    args = ["simulate", "--merchants", "30", "--agents", "5", "--days", "2", "--out", "-"]
    result = CliRunner().invoke(cli_group, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout_bytes.splitlines()
    assert lines and all(decode_event(line) for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "pair_harvest,nope"], "unknown scenario 'nope'; valid: all, pair_harvest"),
        (["--days", "5", "--scenario", "all"], "need at least 21 days"),
        (["--agents", "0"], "Invalid value for '--agents'"),
    ],
)
def test_bad_input_is_one_clear_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--out", "-", *args])
    assert exit_info.value.code in (1, 2)
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_a_device_or_pipe_as_output_is_written_to_not_replaced(tmp_path: Path) -> None:
    """``--out /dev/null`` (or a named pipe) is written through: renaming a temporary file
    over it would replace the device by a regular file (as root, /dev/null for everyone)."""
    import os
    import stat
    import threading

    pipe = tmp_path / "events.fifo"
    os.mkfifo(pipe)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_bytes()), daemon=True)
    reader.start()
    args = ["simulate", "--merchants", "30", "--agents", "5", "--days", "2", "--out", str(pipe)]
    result = CliRunner().invoke(cli_group, args)
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(pipe.stat().st_mode)  # still the pipe, not a file put in its place
    lines = got[0].splitlines()
    assert lines and all(decode_event(line) for line in lines)
    assert not list(tmp_path.glob(".*.tmp"))
