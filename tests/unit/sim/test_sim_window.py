"""The simulated window: a first day (``start``, default 2026-10-19) or an end (``end``:
the ``days`` whole UTC days before it), deterministic for a given end."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sentinelle.cli import main
from sentinelle.cli.app import cli_group
from sentinelle.sim import DEFAULT_START, SimulationError, simulate


def first_and_last(sim_lines: list[bytes]) -> tuple[str, str]:
    return json.loads(sim_lines[0])["time"], json.loads(sim_lines[-1])["time"]


@pytest.mark.parametrize(
    "end",
    [
        dt.date(2026, 12, 3),
        dt.datetime(2026, 12, 3, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 3, 23, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=5))),  # 04:00 UTC
        dt.datetime(2026, 12, 3, 12, 0),  # naive: UTC
    ],
)
def test_end_is_rounded_down_to_midnight_utc(end: dt.date) -> None:
    sim = simulate(merchants=30, agents=5, days=3, seed=1, end=end)
    assert (sim.start, sim.end) == (dt.date(2026, 11, 30), dt.date(2026, 12, 3))
    lines = list(sim.lines())
    assert (sim.truth["start"], sim.truth["end"]) == (
        "2026-11-30T00:00:00Z",
        "2026-12-03T00:00:00Z",
    )
    first, last = first_and_last(lines)
    assert "2026-11-29T00:00:00Z" <= first and last < "2026-12-03T00:00:00Z"


def test_a_time_zone_can_move_the_end_to_another_utc_day() -> None:
    paris_midnight = dt.datetime(2026, 12, 3, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert simulate(days=2, end=paris_midnight).end == dt.date(2026, 12, 2)


def test_same_end_same_bytes_and_default_start_unchanged() -> None:
    morning = simulate(
        merchants=30, agents=5, days=2, seed=4, end=dt.datetime(2026, 12, 3, 1, tzinfo=dt.UTC)
    )
    evening = simulate(
        merchants=30, agents=5, days=2, seed=4, end=dt.datetime(2026, 12, 3, 22, tzinfo=dt.UTC)
    )
    assert list(morning.lines()) == list(evening.lines())
    assert simulate(days=2).start == DEFAULT_START
    same = simulate(merchants=30, agents=5, days=2, seed=4, start=dt.date(2026, 12, 1))
    assert list(same.lines()) == list(morning.lines())


def test_start_and_end_together_are_refused() -> None:
    with pytest.raises(SimulationError, match="start or its end, not both"):
        simulate(days=2, start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 3))


def test_simulate_cli_end(tmp_path: Path) -> None:
    truth = tmp_path / "truth.json"
    args = ["simulate", "--merchants", "30", "--agents", "5", "--days", "2", "--end", "2026-12-03"]
    result = CliRunner().invoke(
        cli_group, [*args, "--out", str(tmp_path / "e.jsonl"), "--truth", str(truth)]
    )
    assert result.exit_code == 0, result.output
    got = json.loads(truth.read_text())
    assert (got["start"], got["end"]) == ("2026-12-01T00:00:00Z", "2026-12-03T00:00:00Z")


def test_simulate_cli_start_and_end_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "simulate",
                "--out",
                "-",
                "--days",
                "2",
                "--start",
                "2026-11-01",
                "--end",
                "2026-11-03",
            ]
        )
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "start or its end, not both" in err and "Traceback" not in err
