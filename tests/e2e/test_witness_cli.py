"""End to end, on both stores: a witness run as `sentinelle witness serve` (its own process,
key and state), the ledger witnessed with `sentinelle ledger witness` (SENTINELLE_WITNESSES),
`ledger verify` against it after the deleted-checkpoints probe, and `ledger publish`.

Tampering is done through the store's own connection, as an insider with database access
would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import console_script, run_script

from sentinelle.config import Settings
from sentinelle.ledger.cosignature import CosignatureVerifier, Cosigner
from sentinelle.sim import generate_events
from sentinelle.store import open_store
from served import not_http


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    env["SENTINELLE_DATA_DIR"] = str(settings.data_dir)
    env["SENTINELLE_DATABASE_URL"] = (
        settings.database_url or f"sqlite:///{settings.data_dir / 'sentinelle.db'}"
    )
    return env


def _sql(settings: Settings, text: str) -> Any:
    url = settings.database_url or f"sqlite:///{settings.data_dir / 'sentinelle.db'}"
    with open_store(Settings(_env_file=None, data_dir=settings.data_dir, database_url=url)) as s:
        cur = s._conn.cursor()
        cur.execute(text)
        if s.dialect == "postgresql":
            s._conn.commit()


def _events(tmp_path: Path, name: str, first: int, last: int) -> str:
    path = tmp_path / name
    evs = list(generate_events(events=last, seed=8))[first:last]
    path.write_text("".join(json.dumps(e) + "\n" for e in evs), encoding="utf-8")
    return str(path)


@pytest.fixture
def witness_process(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """Start nothing yet: yields a free port's URL, the key and state paths."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    yield f"http://127.0.0.1:{port}", tmp_path / "w" / "witness.key", tmp_path / "w" / "state.db"


def _start(env: dict[str, str], url: str, key: Path, state: Path, log: str) -> subprocess.Popen:
    port = url.rsplit(":", 1)[1]
    proc = subprocess.Popen(
        [console_script(), "witness", "serve", "--key", str(key), "--state", str(state)]
        + ["--log", log, "--port", port],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/add-checkpoint", timeout=1)  # noqa: S310 - loopback
        except urllib.error.HTTPError:
            return proc  # it answers (405 to a GET): serving
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the witness did not start"
            time.sleep(0.1)


def test_witness_serve_and_ledger_witness_verify_publish(
    settings: Settings, tmp_path: Path, witness_process: tuple[str, Path, Path]
) -> None:
    url, key_file, state_file = witness_process
    env = _env(settings)
    run_script(env, "ingest", _events(tmp_path, "a.jsonl", 0, 300), "--no-detect")
    log_key = run_script(env, "ledger", "key").stdout.strip()
    witness_key = run_script(
        env, "witness", "key", "--key", str(key_file), "--name", "witness.test/w1"
    ).stdout.strip()
    CosignatureVerifier.from_verifier_key(witness_key)
    # The key keeps its name: no --name needed any more.
    assert run_script(env, "witness", "key", "--key", str(key_file)).stdout.strip() == witness_key

    proc = _start(env, url, key_file, state_file, f"sentinelle.local/ledger={log_key}")
    try:
        env["SENTINELLE_WITNESSES"] = f"{url}={witness_key}"
        done = run_script(env, "ledger", "witness")
        assert done.stdout == (
            f"witness {'+'.join(witness_key.split('+')[:2])} ({url}): cosigned tree size 300 "
            "(first contact)\n"
        )
        run_script(env, "ingest", _events(tmp_path, "b.jsonl", 300, 500), "--no-detect")
        assert (
            "cosigned tree size 500 (from size 300)" in run_script(env, "ledger", "witness").stdout
        )
        ok = run_script(env, "ledger", "verify", "--max-unwitnessed", "0")
        assert ok.stdout.startswith("ledger OK: 500 leaves, ")
        assert ok.stdout.endswith("; witnessed up to 500 by 1 witness key(s)\n")

        # Publication: the checkpoint with its cosignature, and the tiles.
        published = run_script(env, "ledger", "publish", str(tmp_path / "site"), "--tiles")
        assert published.stdout == (
            "published the checkpoint of size 500 with 1 cosignature(s) and 3 new tile(s) to "
            f"{tmp_path / 'site'}\n"
        )
        note = (tmp_path / "site" / "checkpoint").read_text(encoding="utf-8")
        assert (
            CosignatureVerifier.from_verifier_key(witness_key).verify(note).checkpoint.size == 500
        )

        # The probe: every checkpoint row deleted.
        _sql(settings, "DELETE FROM checkpoints")
        failed = run_script(env, "ledger", "verify", code=1)
        assert failed.stderr.startswith(
            "error: the checkpoint of size 300 that witness witness.test/w1+"
        )
        assert "is missing from the checkpoints table: checkpoint rows were deleted" in (
            failed.stderr
        )
        # ... and the witness's own copy, printed by `witness latest`, is kept outside.
        kept = tmp_path / "kept-note"
        latest = run_script(
            env, "witness", "latest", "--state", str(state_file), "sentinelle.local/ledger"
        )
        kept.write_text(latest.stdout, encoding="utf-8")
        _sql(settings, "DELETE FROM cosignatures")
        failed = run_script(env, "ledger", "verify", code=1)
        assert failed.stderr.startswith("error: not verified: no checkpoint cosigned by witness ")
        # Against the kept copy, the untouched events verify (with the warning about the table).
        ok = run_script(env, "ledger", "verify", "--checkpoint", str(kept))
        assert ok.stdout.startswith("ledger OK: 500 leaves, ")
        assert "cover only 0 of 500 leaves" in ok.stderr
    finally:
        proc.terminate()
        proc.wait(30)
        if proc.stderr:
            proc.stderr.close()


def test_a_bad_witness_setting_is_named(settings: Settings, tmp_path: Path) -> None:
    env = _env(settings) | {"SENTINELLE_WITNESSES": "http://w.example=not-a-key"}
    failed = run_script(env, "ledger", "witness", code=1)
    assert "SENTINELLE_WITNESSES: " in failed.stderr
    assert "witness verifier key must be <name>+<key id>+<base64 key>" in failed.stderr
    env = _env(settings)
    failed = run_script(env, "ledger", "verify", "--max-unwitnessed", "0", code=1)
    assert failed.stderr == (
        "error: --max-unwitnessed needs witness keys (--witness-key or SENTINELLE_WITNESSES)\n"
    )
    failed = run_script(env, "ledger", "verify", "--witness-key", "x+00000000+AQ==", code=1)
    assert failed.stderr.startswith("error: ")


def test_ledger_witness_exits_1_when_a_witness_is_unreachable_or_not_http(
    settings: Settings, tmp_path: Path, witness_process: tuple[str, Path, Path]
) -> None:
    """The docs' promise: exit 1 if a witness refused or could not be reached; and a server
    that does not speak HTTP is named, not a traceback."""
    closed, _, _ = witness_process  # nobody listens there
    env = _env(settings)
    run_script(env, "ingest", _events(tmp_path, "a.jsonl", 0, 100), "--no-detect")
    witness_key = Cosigner.generate("witness.test/w1").verifier_key()
    failed = run_script(env, "ledger", "witness", "--witness", f"{closed}={witness_key}", code=1)
    assert "error: witness witness.test/w1+" in failed.stderr
    assert f"({closed}): unreachable (" in failed.stderr
    with not_http() as url:  # answers with an SSH banner
        failed = run_script(env, "ledger", "witness", "--witness", f"{url}={witness_key}", code=1)
    assert f"({url}): unreachable (" in failed.stderr
