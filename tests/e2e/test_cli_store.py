"""The console script and its store: commands that only read create nothing and say which
store they read; ``--data-dir`` on the group and on every command; a busy database and a bad
PostgreSQL URL are one-line errors (the URL's password never shown).

Real processes (the installed ``sentinelle`` script), real SQLite files and, through
``settings``, a real PostgreSQL database.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Sequence
from pathlib import Path

import click
import pytest
from cli_support import Run, run_many
from click.testing import CliRunner

from sentinelle.cli.app import cli_group
from sentinelle.config import Settings
from sentinelle.sim import generate_events
from sentinelle.store import open_store
from sentinelle.store.postgres import redact_url

# Commands that only read the store, or change what it already holds.
READS: list[tuple[str, ...]] = [
    ("alerts",),
    ("alerts", "--json"),
    ("alerts", "triage", "al-x", "--status", "acknowledged", "--reason", "r"),
    ("risk",),
    ("detect",),  # over stored history: there is none
    ("ledger", "checkpoint"),
    ("ledger", "verify"),
    ("ledger", "proof", "some-event"),
    ("ledger", "consistency", "1"),
    ("ledger", "key"),  # a new key would belong to no log
    ("ledger", "key", "--history"),
    ("ledger", "rotate-key", "--reason", "r"),
    ("keys", "list"),
    ("keys", "revoke", "x"),
    ("users", "list"),
    ("users", "disable", "a@shop.example"),
    ("users", "totp", "enable", "a@shop.example", "--code-stdin"),
    ("users", "totp", "disable", "a@shop.example"),
    ("outbound", "status"),
    ("grants", "expire"),
    ("suspensions", "list"),
    ("suspensions", "lift", "bob", "--reason", "r"),
    ("incident", "list"),
    ("incident", "register", "--json"),
    ("incident", "show", "inc-20260101-abcd"),
    ("incident", "notices", "inc-20260101-abcd"),
]


def _no_store(where: str) -> str:
    return (
        f"error: no Sentinelle database in {where} (run `sentinelle ingest` or `sentinelle "
        "demo` first, or check --data-dir or SENTINELLE_DATA_DIR)\n"
    )


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    env.update({f"SENTINELLE_{k.upper()}": v for k, v in settings.items()})
    return env


def _run(commands: Sequence[Sequence[str]], env: dict[str, str], cwd: Path) -> list[Run]:
    return [Run(*r) for r in run_many(commands, env=env, cwd=cwd)]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """An empty working directory (Settings also reads ./.env, which must not leak in)."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    return folder


def _events_file(folder: Path, count: int = 20) -> Path:
    path = folder / "events.jsonl"
    events = list(generate_events(events=count, seed=1))
    path.write_text("".join(json.dumps(e) + "\n" for e in events[:count]), encoding="utf-8")
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- reading a store that is not there ------------------------------------------------------


def test_read_commands_on_a_missing_store_create_nothing(tmp_path: Path, work: Path) -> None:
    data = tmp_path / "data"
    for result in _run(READS, _env(data_dir=str(data)), work):
        assert result.code == 1, str(result)
        assert result.out == "", str(result)
        assert result.err == _no_store(str(data)), str(result)
    assert not data.exists()


def test_the_default_data_dir_is_not_created_by_reading(work: Path) -> None:
    (result,) = _run([("alerts",)], _env(), work)
    assert result.code == 1, str(result)
    assert result.err == _no_store("sentinelle-data")
    assert list(work.iterdir()) == []


def test_a_refused_or_empty_first_batch_leaves_no_store(tmp_path: Path, work: Path) -> None:
    bad, empty, no_notices = tmp_path / "bad.jsonl", tmp_path / "empty.jsonl", tmp_path / "n.json"
    bad.write_text('{"bad": 1}\n', encoding="utf-8")
    empty.write_text("", encoding="utf-8")
    no_notices.write_text('{"notices": []}', encoding="utf-8")
    kept = tmp_path / "kept"  # a folder that exists stays, empty
    kept.mkdir()
    runs = [
        ("ingest", str(bad), "--data-dir", str(tmp_path / "new1" / "data")),
        ("ingest", str(bad), "--no-detect", "--data-dir", str(tmp_path / "new2")),
        ("ingest", str(empty), "--data-dir", str(tmp_path / "new3" / "data")),
        ("ingest", str(empty), "--no-detect", "--data-dir", str(kept)),
        ("connectors", "hr-notices", str(no_notices), "--data-dir", str(tmp_path / "new4")),
    ]
    refused, refused_quick, nothing, nothing_quick, no_rows = _run(runs, _env(), work)
    for result in (refused, refused_quick):
        assert result.code == 1 and "batch refused" in result.err, str(result)
    for result in (nothing, nothing_quick, no_rows):
        assert result.code == 0 and "received 0" in result.out, str(result)
    for name in ("new1", "new2", "new3", "new4"):
        assert not (tmp_path / name).exists(), name
    assert list(kept.iterdir()) == []
    assert list(work.iterdir()) == []
    # Into an existing store, a refused batch leaves the store and its key as they were.
    events = str(_events_file(tmp_path))
    data = str(tmp_path / "data")
    stored, refused_after = _run([("ingest", events, "--data-dir", data)], _env(), work) + _run(
        [("ingest", str(bad), "--data-dir", data)], _env(), work
    )
    assert stored.code == 0 and refused_after.code == 1, str(refused_after)
    assert {p.name for p in (tmp_path / "data").iterdir()} >= {
        "sentinelle.db",
        "ledger-signing.key",
    }


def test_read_commands_on_an_empty_store_say_which_store(settings: Settings, work: Path) -> None:
    open_store(settings).close()
    location = (
        redact_url(settings.database_url)
        if settings.database_url
        else str(settings.data_dir / "sentinelle.db")
    )
    env = _env(data_dir=str(settings.data_dir), database_url=settings.database_url or "")
    alerts, as_json, filtered, risk, incidents = _run(
        [
            ("alerts",),
            ("alerts", "--json"),
            ("alerts", "--actor", "nobody"),
            ("risk",),
            ("incident", "list"),
        ],
        env,
        work,
    )
    assert (incidents.code, incidents.out, incidents.err) == (
        0,
        "",
        f"no incidents in {location}\n",
    ), str(incidents)
    for result in (alerts, as_json, risk):
        assert (result.code, result.out, result.err) == (0, "", f"no alerts in {location}\n"), str(
            result
        )
    assert (filtered.code, filtered.out, filtered.err) == (
        0,
        "",
        f"no matching alerts in {location}\n",
    ), str(filtered)


def test_keys_list_on_a_store_without_keys_says_which_store(settings: Settings, work: Path) -> None:
    open_store(settings).close()
    location = (
        redact_url(settings.database_url)
        if settings.database_url
        else str(settings.data_dir / "sentinelle.db")
    )
    env = _env(data_dir=str(settings.data_dir), database_url=settings.database_url or "")
    (listed,) = _run([("keys", "list")], env, work)
    assert (listed.code, listed.out, listed.err) == (0, "", f"no API keys in {location}\n"), str(
        listed
    )


# -- --data-dir -----------------------------------------------------------------------------


def test_data_dir_option_on_the_group_and_on_each_command(tmp_path: Path, work: Path) -> None:
    chosen, from_env = tmp_path / "chosen", tmp_path / "from-env"
    env = _env(data_dir=str(from_env))
    events = str(_events_file(tmp_path))
    (ingest,) = _run([("--data-dir", str(chosen), "ingest", events, "--no-detect")], env, work)
    assert ingest.code == 0, str(ingest)
    ingested = len(Path(events).read_text(encoding="utf-8").splitlines())
    assert (chosen / "sentinelle.db").is_file()
    assert not from_env.exists()  # the option wins over SENTINELLE_DATA_DIR
    group, command, both, env_only = _run(
        [
            ("--data-dir", str(chosen), "ledger", "proof", "x", "--json"),
            ("ledger", "verify", "--data-dir", str(chosen)),
            ("--data-dir", str(from_env), "risk", "--data-dir", str(chosen)),  # the command's wins
            ("risk",),
        ],
        env,
        work,
    )
    assert group.code == 1 and group.err == "error: no event with id 'x'\n", str(group)
    assert command.code == 0 and f"{ingested} leaves" in command.out, str(command)
    assert both.code == 0 and both.err == f"no alerts in {chosen / 'sentinelle.db'}\n", str(both)
    assert env_only.code == 1 and str(from_env) in env_only.err, str(env_only)
    assert not from_env.exists()
    # Groups take it too: `alerts` runs without a subcommand; a subcommand's own wins.
    triage_x = ("triage", "al-x", "--status", "dismissed", "--reason", "r")
    alerts, triage, inner, ledger_key = _run(
        [
            ("alerts", "--data-dir", str(chosen)),
            ("alerts", "--data-dir", str(chosen), *triage_x),
            ("alerts", "--data-dir", str(from_env), *triage_x, "--data-dir", str(chosen)),
            ("ledger", "--data-dir", str(chosen), "key"),
        ],
        env,
        work,
    )
    assert alerts.code == 0 and alerts.err == f"no alerts in {chosen / 'sentinelle.db'}\n", str(
        alerts
    )
    for result in (triage, inner):
        assert (result.code, result.err) == (
            1,
            "error: no alert with id 'al-x'; nothing was recorded\n",
        ), str(result)
    assert ledger_key.code == 0 and ledger_key.out.startswith("sentinelle.local/ledger+"), str(
        ledger_key
    )
    assert not from_env.exists()


def test_a_data_dir_created_by_a_command_is_private(tmp_path: Path, work: Path) -> None:
    data = tmp_path / "new" / "data"
    events = str(_events_file(tmp_path))
    old = os.umask(0o022)  # the usual umask, inherited by the child
    try:
        (ingest,) = _run([("ingest", events, "--no-detect", "--data-dir", str(data))], _env(), work)
    finally:
        os.umask(old)
    assert ingest.code == 0, str(ingest)
    assert _mode(data) == 0o700
    assert {p.name: _mode(p) for p in data.iterdir() if p.name.startswith("sentinelle.db")} == {
        "sentinelle.db": 0o600
    }


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subgroup under ``group``."""
    found: list[tuple[str, ...]] = []
    ctx = click.Context(group)  # the commands as click lists them (loaded when asked for)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


def test_every_command_and_group_documents_data_dir_in_plain_text(work: Path) -> None:
    paths = [(), *_commands(cli_group)]
    assert ("incident", "list") in paths and ("ledger", "verify") in paths
    assert ("alerts",) in paths and ("users", "totp") in paths
    # In this process (a subprocess each took 20 s): the help is click's either way.
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(cli_group, [*path, "--help"], catch_exceptions=False)
        shown = f"sentinelle {' '.join(path)} --help: {result.output}"
        assert result.exit_code == 0, shown
        assert "--data-dir" in result.output, shown
        assert "``" not in result.output, shown  # reStructuredText from a docstring
    # As a command, asking for help creates nothing where it runs.
    [root] = _run([("--help",)], _env(), work)
    assert root.code == 0 and "--data-dir" in root.out, str(root)
    assert list(work.iterdir()) == []


# -- busy, and a bad URL ----------------------------------------------------------------------


def test_a_busy_database_is_a_one_line_error(tmp_path: Path, work: Path) -> None:
    data = tmp_path / "data"
    events = str(_events_file(tmp_path))
    env = _env(data_dir=str(data), busy_timeout="0.2")
    open_store(Settings(_env_file=None, data_dir=data)).close()
    holder = sqlite3.connect(data / "sentinelle.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process's write lock, held throughout
        busy, reading = _run([("ingest", events), ("alerts",)], env, work)
    finally:
        holder.close()
    assert busy.code == 1, str(busy)
    assert busy.out == ""
    assert busy.err == (
        f"error: the database {data / 'sentinelle.db'} is busy: another process held its write "
        "lock for over 0.2 s; try again later\n"
    )
    assert reading.code == 0, str(reading)  # readers never wait for the writer
    (again,) = _run([("ingest", events)], env, work)
    assert again.code == 0, str(again)


def test_a_malformed_postgres_url_never_shows_its_password(work: Path) -> None:
    env = _env(database_url="postgresql://app:hunter2@[::1/sentinelle")
    runs = _run([("ledger", "verify"), ("-v", "ledger", "verify")], env, work)
    quiet, verbose = runs
    assert quiet.code == 1 and len(quiet.err.splitlines()) == 1, str(quiet)
    assert quiet.err.startswith("error: cannot connect to PostgreSQL: "), str(quiet)
    assert "postgresql://app:***@[::1/sentinelle" in quiet.err
    for result in runs:  # --verbose prints the traceback: no password in it either
        assert "hunter2" not in result.err + result.out, str(result)
