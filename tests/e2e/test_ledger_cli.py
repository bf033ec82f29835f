"""End to end: ``sentinelle ledger verify`` and ``rotate-key`` as a user runs them, on both stores.

The console script runs as a subprocess with ``SENTINELLE_DATA_DIR`` (and, for the
``postgresql`` parameter, ``SENTINELLE_DATABASE_URL``); tampering is done through the store's
own connection, as an insider with database access would.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_support import TIMEOUT, console_script, run_script

from sentinelle.config import Settings
from sentinelle.ledger.checkpoint import SigningKey
from sentinelle.sim import generate_events
from sentinelle.store import open_store


def _env(settings: Settings, data_dir: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    env["SENTINELLE_DATA_DIR"] = str(data_dir or settings.data_dir)
    # One database for every data directory: PostgreSQL's, or the first one's SQLite file.
    url = settings.database_url or f"sqlite:///{settings.data_dir / 'sentinelle.db'}"
    env["SENTINELLE_DATABASE_URL"] = url
    return env


def _events_file(tmp_path: Path, name: str, first: int, last: int) -> str:
    evs = list(generate_events(events=last, seed=5))[first:last]
    path = tmp_path / name
    path.write_text("".join(json.dumps(e) + "\n" for e in evs), encoding="utf-8")
    return str(path)


def _sql(settings: Settings, text: str) -> Any:
    url = settings.database_url or f"sqlite:///{settings.data_dir / 'sentinelle.db'}"
    with open_store(Settings(_env_file=None, data_dir=settings.data_dir, database_url=url)) as s:
        cur = s._conn.cursor()
        cur.execute(text)
        result = cur.fetchall() if cur.description else None
        if s.dialect == "postgresql":
            s._conn.commit()
        return result


def _one_line_error(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err[len("error: ") : -1]


def test_verify_fails_when_the_checkpoints_were_deleted(settings: Settings, tmp_path: Path) -> None:
    env = _env(settings)
    run_script(env, "ingest", _events_file(tmp_path, "a.jsonl", 0, 300), "--no-detect")
    note = tmp_path / "saved-note"
    note.write_text(run_script(env, "ledger", "checkpoint").stdout, encoding="utf-8")
    assert run_script(env, "ledger", "verify").stdout.startswith("ledger OK: 300 leaves, ")
    _sql(settings, "DELETE FROM checkpoints")
    failed = run_script(env, "ledger", "verify", code=1)
    assert _one_line_error(failed.stderr).startswith(
        "not verified: the ledger holds 300 leaves but no checkpoint is recorded, so no "
        "signature vouches for leaves 0–299;"
    )
    assert failed.stdout == ""
    # The checkpoint kept outside the database still proves every leaf, with a warning.
    kept = run_script(env, "ledger", "verify", "--checkpoint", str(note))
    assert kept.stdout.startswith("ledger OK: 300 leaves, 3 tiles, 1 checkpoints; root ")
    assert kept.stderr == (
        "warning: the database's own checkpoints cover only 0 of 300 leaves (were checkpoints "
        "deleted?); the checkpoint given covers them all\n"
    )


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_a_checkpoint_file_that_is_not_text_is_named(settings: Settings, tmp_path: Path) -> None:
    env = _env(settings)
    run_script(env, "ingest", _events_file(tmp_path, "a.jsonl", 0, 50), "--no-detect")
    binary = tmp_path / "note.bin"
    binary.write_bytes(b"sentinelle.local/ledger\n50\n\xd9\xff\n")
    failed = run_script(env, "ledger", "verify", "--checkpoint", str(binary), code=1)
    assert _one_line_error(failed.stderr) == f"checkpoint {binary}: the file is not UTF-8 text"


def test_a_second_data_directory_is_refused_and_rotate_key_is_recorded(
    settings: Settings, tmp_path: Path
) -> None:
    first, second = _env(settings), _env(settings, tmp_path / "second")
    run_script(first, "ingest", _events_file(tmp_path, "a.jsonl", 0, 100), "--no-detect")
    old_key = run_script(first, "ledger", "key").stdout.strip()
    old_id = "+".join(old_key.split("+")[:2])

    # Another data directory with a key of its own, on the same database: refused.
    (tmp_path / "second").mkdir()
    stranger = SigningKey.generate("sentinelle.local/ledger")
    stranger.save(tmp_path / "second" / "ledger-signing.key")
    refused = run_script(second, "ledger", "verify", code=1)
    message = _one_line_error(refused.stderr)
    assert message.startswith(
        f"the signing key in {tmp_path / 'second' / 'ledger-signing.key'} is "
        f"sentinelle.local/ledger+{stranger.key_hash.hex()}, but the database's ledger is "
        f"signed by {old_id} (bound "
    )
    assert "PRIVATE" not in refused.stderr

    # Rotation: the new verifier key on stdout, recorded, and old checkpoints still verify.
    rotated = run_script(first, "ledger", "rotate-key", "--reason", "yearly", "--by", "carol")
    new_key = rotated.stdout.strip()
    assert new_key != old_key and new_key.startswith("sentinelle.local/ledger+")
    assert rotated.stderr.startswith("rotated: ")
    assert run_script(first, "ledger", "key").stdout.strip() == new_key
    history = run_script(first, "ledger", "key", "--history").stdout.splitlines()
    assert [line.split("\t")[0] for line in history] == [old_key, new_key]
    assert history[1].split("\t")[1:2] == ["from size 100"]
    assert history[1].endswith("\tcarol\tyearly")
    run_script(first, "ingest", _events_file(tmp_path, "b.jsonl", 100, 160), "--no-detect")
    assert run_script(first, "ledger", "verify").stdout.startswith(
        "ledger OK: 160 leaves, 1 tiles, 2 checkpoints; "
    )
    assert (settings.data_dir / f"ledger-signing.{old_id.split('+')[1]}.retired.key").exists()


def test_ledger_help_texts_name_the_new_behaviour(settings: Settings) -> None:
    env = _env(settings)
    verify_help = run_script(env, "ledger", "verify", "--help").stdout
    assert "does not cover" in verify_help and "every leaf" in verify_help
    rotate_help = run_script(env, "ledger", "rotate-key", "--help").stdout
    assert "--reason" in rotate_help and "retired" in rotate_help
    assert "rotate-key" in run_script(env, "ledger", "--help").stdout


def _run_with_tty_stderr(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run the console script with stderr on a pseudo-terminal; return (code, out, err)."""
    master, slave = pty.openpty()
    with subprocess.Popen(
        [console_script(), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    ) as proc:
        os.close(slave)
        err = b""
        try:
            while True:
                ready, _, _ = select.select([master], [], [], TIMEOUT)
                assert ready, "no output on the terminal"
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                err += chunk
            assert proc.stdout is not None
            out = proc.stdout.read()
            code = proc.wait(timeout=TIMEOUT)
        finally:
            os.close(master)
            if proc.poll() is None:
                proc.kill()
    return code, out.decode(), err.decode()


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_verify_shows_progress_on_a_terminal_only(settings: Settings, tmp_path: Path) -> None:
    env = _env(settings)
    run_script(env, "ingest", _events_file(tmp_path, "a.jsonl", 0, 500), "--no-detect")
    code, out, err = _run_with_tty_stderr(env, "ledger", "verify")
    assert code == 0, err
    assert out.startswith("ledger OK: 500 leaves, ")
    assert "verifying the ledger" in err and "100%" in err
    piped = run_script(env, "ledger", "verify")
    assert piped.stderr == ""
