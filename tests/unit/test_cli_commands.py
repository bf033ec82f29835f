"""The ``sentinelle`` group loads a command's module when the command is asked for: the map
of commands to modules (``sentinelle.cli.app.COMMANDS``) must name every module that defines
a command or one of its subcommands, and a command must not load the others'."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

import sentinelle.cli
from sentinelle.cli.app import COMMANDS, cli_group
from sentinelle.sim import generate_events


def _modules(command: click.Command) -> set[str]:
    """The modules whose functions make up ``command`` and its subcommands."""
    found = {command.callback.__module__} if command.callback is not None else set()
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            found |= _modules(sub)
    return found


def test_every_command_is_mapped_to_the_modules_defining_it() -> None:
    for info in pkgutil.iter_modules(sentinelle.cli.__path__):
        importlib.import_module(f"sentinelle.cli.{info.name}")
    assert set(cli_group.commands) == set(COMMANDS)
    for name, command in cli_group.commands.items():
        defined = {m.removeprefix("sentinelle.cli.") for m in _modules(command)}
        assert defined <= set(COMMANDS[name]), name


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli_group, ["--help"])
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line}
    assert listed == set(COMMANDS)


def test_a_command_loads_its_own_modules_only() -> None:
    # A fresh interpreter: what `sentinelle ingest --help` imported.
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from sentinelle.cli import cli_group\n"
        "r = CliRunner().invoke(cli_group, ['ingest', '--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('sentinelle.'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    loaded = set(json.loads(out))
    assert "sentinelle.cli.ingest" in loaded
    for other in ("demo", "simulate", "users", "notify", "witness"):
        assert f"sentinelle.cli.{other}" not in loaded
    assert "sentinelle.sim" not in loaded  # the simulator (the demo's)
    assert "sentinelle.access.accounts" not in loaded  # the password hasher


def test_ingest_without_detection_loads_no_detection(tmp_path: Path) -> None:
    # `sentinelle ingest --no-detect` stores and signs; the detection engine, live detection,
    # the response and the notices (SMTP) are loaded only when detection follows.
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(next(generate_events(events=1, seed=1))) + "\n")
    code = (
        "import json, sys\n"
        "from sentinelle.cli import main\n"
        "try:\n"
        "    main(['ingest', '--no-detect', sys.argv[1]])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('sentinelle.'))))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(events)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SENTINELLE_DATA_DIR": str(tmp_path / "data")},
    )
    assert run.returncode == 0, run.stderr
    stored, loaded = run.stdout.strip().splitlines()
    assert stored.startswith("received 1, stored 1")
    loaded_modules = set(json.loads(loaded))
    assert "sentinelle.ledger.log" in loaded_modules
    for heavy in ("detect.engine", "detect.runner", "live", "response", "notify"):
        assert f"sentinelle.{heavy}" not in loaded_modules, heavy


def test_an_unexpected_exception_is_one_line_naming_it_and_the_traceback_with_verbose(
    monkeypatch: object, capsys: object
) -> None:
    """A bug (an exception that is no Sentinelle error) is said in one line with its type
    and the place in Sentinelle's code, exit 1; ``--verbose`` lets the traceback through."""
    import pytest

    from sentinelle.cli import main
    from sentinelle.cli import simulate as simulate_module

    def broken(*_args: object, **_kwargs: object) -> None:
        raise ZeroDivisionError("division by zero")

    mp: pytest.MonkeyPatch = monkeypatch  # type: ignore[assignment]
    mp.setattr(simulate_module, "parse_scenarios", broken)
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--agents", "2", "--merchants", "2", "--days", "1"])
    assert exited.value.code == 1
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: unexpected ZeroDivisionError: division by zero in ")
    assert "sentinelle/cli/simulate.py:" in lines[0]
    assert "--verbose" in lines[0] and "Traceback" not in err
    with pytest.raises(ZeroDivisionError):
        main(["--verbose", "simulate", "--agents", "2", "--merchants", "2", "--days", "1"])


def test_a_command_ending_with_click_exit_keeps_its_code() -> None:
    """``ctx.exit(n)`` / ``click.exceptions.Exit(n)`` is returned, not raised, by click in
    non-standalone mode: ``main`` exits with it, not 0."""
    import pytest

    from sentinelle.cli import main

    @cli_group.command("exits-3", hidden=True)
    def exits_3() -> None:
        raise click.exceptions.Exit(3)

    try:
        with pytest.raises(SystemExit) as exited:
            main(["exits-3"])
        assert exited.value.code == 3
    finally:
        cli_group.commands.pop("exits-3", None)


def test_a_window_end_given_as_a_date_includes_that_whole_day() -> None:
    """``incident open --to 2026-11-11``: accesses on 11 November are in the window (its end
    is included); a full time stays as given; out of range is said, not 'not a time'."""
    from sentinelle.cli.detect import END_TIME, TIME
    from sentinelle.timeutil import parse_time

    assert END_TIME.convert("2026-11-11", None, None) == parse_time("2026-11-12T00:00:00Z") - 1
    assert END_TIME.convert("2026-11-11T08:00:00Z", None, None) == parse_time(
        "2026-11-11T08:00:00Z"
    )
    assert TIME.convert("2026-11-11", None, None) == parse_time("2026-11-11T00:00:00Z")
    import pytest

    with pytest.raises(click.BadParameter, match="out of range"):
        TIME.convert("9999-12-31T23:59:59Z", None, None)
    with pytest.raises(click.BadParameter, match="is not a time"):
        TIME.convert("yesterday", None, None)
