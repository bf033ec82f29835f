"""End to end: the installed ``sentinelle`` console script, run as a subprocess on both stores.

Every test drives the real command with ``SENTINELLE_DATA_DIR`` (and, for the ``postgresql``
parameter of the ``settings`` fixture, ``SENTINELLE_DATABASE_URL``) and checks what a user
sees: exit codes, stdout, one-line diagnostics on stderr. Stored state is read back through
the store, or through the commands themselves; proofs and signed checkpoints are verified
with the pure ledger functions and, for signatures, independently with ``cryptography``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from cli_support import Run, run_many
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sentinelle.cli.app import cli_group
from sentinelle.config import Settings
from sentinelle.errors import IntegrityError
from sentinelle.ingest import MAX_PROBLEMS
from sentinelle.ledger.checkpoint import Checkpoint, Verifier
from sentinelle.ledger.merkle import verify_consistency, verify_inclusion
from sentinelle.sim import generate_events
from sentinelle.store import open_store


def _console_script() -> str:
    # The venv's own script first: a `sentinelle` elsewhere on PATH would test another install.
    beside = Path(sys.executable).parent / "sentinelle"
    if beside.exists():
        return str(beside)
    found = shutil.which("sentinelle")
    assert found, "the sentinelle console script is not installed (pip install -e '.[dev]')"
    return found


SENTINELLE = _console_script()
ORIGIN = "sentinelle.local/ledger"  # Settings.log_origin's default
EM_DASH = "\u2014"
TIMEOUT = 60


# -- helpers -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cli:
    """Runs the console script with a fixed environment and working directory."""

    env: dict[str, str]
    cwd: Path

    def run(self, *args: str, stdin: bytes | None = None) -> Run:
        """Run ``sentinelle ARGS`` and return its exit code and decoded output."""
        proc = subprocess.run(
            [SENTINELLE, *args],
            input=stdin if stdin is not None else b"",
            capture_output=True,
            env=self.env,
            cwd=self.cwd,
            timeout=TIMEOUT,
            check=False,
        )
        return Run(args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())

    def many(self, *commands: Sequence[str]) -> list[Run]:
        """Run independent commands side by side (the suite is mostly process start-up)."""
        return [Run(*r) for r in run_many(commands, env=self.env, cwd=self.cwd)]

    def ok(self, *args: str, stdin: bytes | None = None) -> Run:
        """Run and require exit code 0."""
        return _ok(self.run(*args, stdin=stdin))

    def fails(self, *args: str, stdin: bytes | None = None) -> Run:
        """Run and require exit code 1 with a diagnosis on stderr and no traceback."""
        return _fails(self.run(*args, stdin=stdin))

    def ingest_json(self, source: str, *, stdin: bytes | None = None) -> dict[str, Any]:
        """``sentinelle ingest SOURCE --json``, parsed."""
        result: dict[str, Any] = json.loads(self.ok("ingest", source, "--json", stdin=stdin).out)
        return result


def _ok(result: Run) -> Run:
    assert result.code == 0, str(result)
    return result


def _fails(result: Run) -> Run:
    assert result.code == 1, str(result)
    assert result.err.startswith("error: "), str(result)
    assert "Traceback" not in result.err, str(result)
    return result


def _base_env(tmp_path: Path) -> dict[str, str]:
    # The autouse fixture already removed SENTINELLE_* from os.environ; drop them again in
    # case a later fixture set some, and keep PATH, HOME, locale and the like.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    env["SENTINELLE_DATA_DIR"] = str(tmp_path / "data")
    return env


@pytest.fixture
def cli(settings: Settings, tmp_path: Path) -> Cli:
    """The console script pointed at the store of ``settings``."""
    env = _base_env(tmp_path)
    env["SENTINELLE_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["SENTINELLE_DATABASE_URL"] = settings.database_url
    # The working directory is empty: Settings also reads ./.env, which must not leak in.
    work = tmp_path / "cwd"
    work.mkdir()
    return Cli(env=env, cwd=work)


@pytest.fixture
def bare_cli(tmp_path: Path) -> Cli:
    """The console script on an empty SQLite data directory, for tests about the CLI itself."""
    work = tmp_path / "cwd"
    work.mkdir()
    return Cli(env=_base_env(tmp_path), cwd=work)


def _events(count: int, tag: str, *, seed: int = 1) -> list[dict[str, Any]]:
    """Simulated events whose ids carry ``tag``, so batches with different tags never collide."""
    return [{**e, "id": f"{tag}-{e['id']}"} for e in generate_events(events=count, seed=seed)]


def _jsonl(events: Iterable[dict[str, Any] | str]) -> bytes:
    lines = [e if isinstance(e, str) else json.dumps(e) for e in events]
    return ("\n".join(lines) + "\n").encode()


def _write(path: Path, events: Iterable[dict[str, Any] | str], *, gz: bool = False) -> str:
    data = _jsonl(events)
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path)


def _ledger_size(settings: Settings) -> int:
    with open_store(settings) as store:
        return store.ledger_size()


def _checkpoint_count(settings: Settings) -> int:
    with open_store(settings) as store:
        return len(store.checkpoints())


def _stored_ids(settings: Settings, ids: Iterable[str]) -> set[str]:
    with open_store(settings) as store:
        return {i for i in ids if store.event_by_id(i) is not None}


def _execute(settings: Settings, sql: str, params: Sequence[Any] = ()) -> None:
    """Run one statement straight on the database, behind Sentinelle's back."""
    if settings.database_url:
        import psycopg

        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute(sql.replace("?", "%s"), params)
        return
    import sqlite3

    db = sqlite3.connect(settings.data_dir / "sentinelle.db")
    try:
        with db:
            db.execute(sql, params)
    finally:
        db.close()


def _problem_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if re.match(r"line \d+: ", line)]


# -- ingest ------------------------------------------------------------------------------------


def test_ingest_plain_gzip_and_stdin(cli: Cli, settings: Settings, tmp_path: Path) -> None:
    plain, zipped, piped = (
        _events(40, "plain"),
        _events(30, "gz", seed=2),
        _events(20, "in", seed=3),
    )

    result = cli.ok("ingest", _write(tmp_path / "plain.jsonl", plain))
    n = len(plain)
    assert result.out.startswith(f"received {n}, stored {n}, duplicates 0; ledger size {n}\n")
    assert "alerts raised or updated: " in result.out

    # Gzip is told by its magic bytes, not by the file name.
    got = cli.ingest_json(_write(tmp_path / "batch.data", zipped, gz=True))
    assert (got["received"], got["stored"], got["duplicates"]) == (len(zipped),) * 2 + (0,)
    assert got["ledger_size"] == n + len(zipped)

    stream = gzip.compress(_jsonl(piped))
    got = cli.ingest_json("-", stdin=stream)
    total = n + len(zipped) + len(piped)
    assert (got["stored"], got["ledger_size"]) == (len(piped), total)
    assert got["checkpoint"].startswith(f"{ORIGIN}\n{total}\n")

    assert _ledger_size(settings) == total
    every_id = [e["id"] for e in plain + zipped + piped]
    assert _stored_ids(settings, every_id) == set(every_id)
    verified = cli.ok("ledger", "verify")
    assert verified.out.startswith(f"ledger OK: {total} leaves, ")
    assert ", 3 checkpoints;" in verified.out  # one per committed batch


def test_ingest_plain_stdin_with_blank_lines(cli: Cli, settings: Settings) -> None:
    events = _events(12, "blank")
    data = b"\n" + _jsonl(events[:5]) + b"\n   \n" + _jsonl(events[5:])
    result = cli.ok("ingest", "-", stdin=data)
    assert result.out.startswith(f"received {len(events)}, stored {len(events)}, duplicates 0;")
    assert _ledger_size(settings) == len(events)


def _bad_file_lines(events: list[dict[str, Any]]) -> list[dict[str, Any] | str]:
    """Ten lines: line 2 blank, bad lines at 3, 5, 7 and 9 (counted in the file, from 1)."""
    access = [e for e in events if "action" in e]
    assert len(access) >= 8
    lines: list[dict[str, Any] | str] = [access[0], ""]
    lines.append({**access[1], "action": "peek"})  # line 3: not in the enum
    lines.append(access[2])
    lines.append({**access[3], "actor": {**access[3]["actor"], "colour": "red"}})  # 5: unknown
    lines.append(access[4])
    lines.append({k: v for k, v in access[5].items() if k != "merchant"})  # 7: missing field
    lines.append(access[6])
    lines.append('{"id": "broken", "time": ')  # 9: not JSON
    lines.append(access[7])
    return lines


def test_refused_batch_names_each_bad_line_and_stores_nothing(
    cli: Cli, settings: Settings, tmp_path: Path
) -> None:
    before = _events(20, "before")
    cli.ok("ingest", _write(tmp_path / "before.jsonl", before))
    size, checkpoints = _ledger_size(settings), _checkpoint_count(settings)

    events = _events(40, "batch", seed=7)
    lines = _bad_file_lines(events)
    result = cli.fails("ingest", _write(tmp_path / "bad.jsonl", lines))

    assert result.out == ""
    err = result.err.splitlines()
    assert err[0] == "error: batch refused, nothing was written"
    assert err[1] == "line 3: $.action: Invalid enum value 'peek'"
    assert err[2] == "line 5: $.actor: Object contains unknown field `colour`"
    assert err[3] == "line 7: $: Object missing required field `merchant`"
    assert err[4].startswith("line 9: $: not valid JSON")
    assert len(err) == 5

    # Nothing of the batch was written: not the good lines, not the tree, not a checkpoint.
    good_ids = [line["id"] for line in lines if isinstance(line, dict)]
    assert _stored_ids(settings, good_ids) == set()
    assert (_ledger_size(settings), _checkpoint_count(settings)) == (size, checkpoints)
    assert cli.ok("ledger", "verify").out.startswith(f"ledger OK: {size} leaves, ")

    # The same ids, all valid, are new to the store: the refused batch left no trace.
    fixed = [e for e in events if "action" in e][:8]
    got = cli.ingest_json(_write(tmp_path / "fixed.jsonl", fixed))
    assert (got["stored"], got["duplicates"], got["ledger_size"]) == (8, 0, size + 8)


def test_refused_stdin_batch_reports_line_numbers(cli: Cli, settings: Settings) -> None:
    events = _events(6, "stdin")
    data = _jsonl([*events[:3], {**events[3], "time": "2026-11-02T08:00:00"}, *events[4:]])
    result = cli.fails("ingest", "-", stdin=data)
    assert result.err.splitlines()[1:] == [
        "line 4: $.time: time has no UTC offset; RFC 3339 needs one, e.g. 2026-11-23T10:00:00Z"
    ]
    assert _ledger_size(settings) == 0


@pytest.mark.parametrize(("bad", "truncated"), [(MAX_PROBLEMS, False), (35, True)])
def test_at_most_20_problems_are_reported(
    cli: Cli, settings: Settings, tmp_path: Path, bad: int, truncated: bool
) -> None:
    events = [e for e in _events(6 * bad, "many") if "action" in e][: 2 * bad]
    assert len(events) == 2 * bad
    # Every other line is bad: lines 2, 4, 6, ...
    lines = [{**e, "channel": "fax"} if i % 2 else e for i, e in enumerate(events)]
    result = cli.fails("ingest", _write(tmp_path / "many.jsonl", lines))

    problems = _problem_lines(result.err)
    assert problems == [
        f"line {n}: $.channel: Invalid enum value 'fax'" for n in range(2, 2 * MAX_PROBLEMS + 1, 2)
    ]
    note = "(more errors not shown: only the first 20 are reported)"
    assert (result.err.splitlines()[-1] == note) is truncated
    assert result.err.count("line ") == MAX_PROBLEMS
    assert _ledger_size(settings) == 0


def test_unreadable_inputs_are_one_line_errors(
    cli: Cli, settings: Settings, tmp_path: Path
) -> None:
    missing = cli.fails("ingest", str(tmp_path / "nope.jsonl"))
    assert (
        missing.err == f"error: cannot read {tmp_path / 'nope.jsonl'}: No such file or directory\n"
    )

    # A gzip file cut short fails while streaming, after good lines were read: all or nothing.
    events = _events(200, "cut")
    whole = gzip.compress(_jsonl(events))
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    result = cli.fails("ingest", str(cut))
    assert len(result.err.splitlines()) == 1
    assert result.err.startswith(f"error: cannot read {cut}: ")
    piped = cli.fails("ingest", "-", stdin=cut.read_bytes())
    assert piped.err.startswith("error: cannot read standard input: "), piped.err
    assert _ledger_size(settings) == 0
    assert _checkpoint_count(settings) == 0


# -- duplicates --------------------------------------------------------------------------------


def test_same_file_twice_stores_once(cli: Cli, settings: Settings, tmp_path: Path) -> None:
    events = _events(30, "twice")
    path = _write(tmp_path / "twice.jsonl", events)
    n = len(events)
    first = cli.ingest_json(path)
    assert (first["stored"], first["duplicates"], first["ledger_size"]) == (n, 0, n)

    # Re-sending only duplicates writes nothing, so these can run side by side.
    again, again_json, verified = cli.many(
        ("ingest", path), ("ingest", path, "--json"), ("ledger", "verify")
    )
    assert _ok(again).out.startswith(f"received {n}, stored 0, duplicates {n}; ledger size {n}\n")
    assert again.err == ""
    got = json.loads(_ok(again_json).out)
    assert (got["stored"], got["duplicates"], got["ledger_size"]) == (0, n, n)
    assert got["duplicate_ids"] == [e["id"] for e in events]
    assert (got["conflicting_ids"], got["checkpoint"]) == ([], None)
    assert _ok(verified).out.startswith(f"ledger OK: {n} leaves, 1 tiles, 1 checkpoints;")
    assert _ledger_size(settings) == n


def test_id_twice_in_one_file_stores_the_first(
    cli: Cli, settings: Settings, tmp_path: Path
) -> None:
    events = [e for e in _events(20, "dup") if "action" in e][:10]
    same = events[2]
    other = {**events[6], "outcome": "denied" if events[6]["outcome"] == "allowed" else "allowed"}
    lines = [*events, same, other]
    got = cli.ingest_json(_write(tmp_path / "dup.jsonl", lines))
    assert (got["received"], got["stored"], got["duplicates"]) == (12, 10, 2)
    assert got["duplicate_ids"] == [same["id"], other["id"]]
    assert got["conflicting_ids"] == [other["id"]]
    assert _ledger_size(settings) == 10

    # Without --json the conflict is a warning on stderr; the first content is what is kept.
    text, proof_run = cli.many(
        ("ingest", _write(tmp_path / "dup2.jsonl", [other])),
        ("ledger", "proof", other["id"], "--json"),
    )
    assert _ok(text).out.startswith("received 1, stored 0, duplicates 1; ledger size 10\n")
    warning = [line for line in text.err.splitlines() if line.startswith("warning: ")]
    assert warning == [
        "warning: 1 re-sent ids carried other content than stored (kept the stored): " + other["id"]
    ]
    assert json.loads(json.loads(_ok(proof_run).out)["leaf"]) == events[6]


# -- ledger: checkpoint and key ----------------------------------------------------------------


def _parse_verifier_key(text: str) -> tuple[str, bytes, bytes]:
    assert text.endswith("\n") and text.count("\n") == 1
    match = re.fullmatch(r"([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)", text[:-1])
    assert match, text
    raw = base64.b64decode(match[3], validate=True)
    assert base64.b64encode(raw).decode() == match[3]
    assert len(raw) == 33 and raw[0] == 0x01
    return match[1], bytes.fromhex(match[2]), raw[1:]


def _parse_note(note: str) -> tuple[str, int, bytes, list[tuple[str, bytes]]]:
    """Strict C2SP parse: origin, size, base64 root, the merchant map's extension line (C2SP
    tlog-checkpoint allows extension lines), blank line, em dash signature lines."""
    assert note.endswith("\n")
    lines = note[:-1].split("\n")
    assert len(lines) >= 6, note
    origin, size_text, root_text, extension, blank, *signatures = lines
    assert re.fullmatch(r"sentinelle/merchant-map/v1 [A-Za-z0-9+/]{43}=", extension), extension
    assert blank == ""
    assert re.fullmatch(r"0|[1-9][0-9]*", size_text), size_text
    root = base64.b64decode(root_text, validate=True)
    assert len(root) == 32 and base64.b64encode(root).decode() == root_text
    parsed = []
    for line in signatures:
        match = re.fullmatch(EM_DASH + r" (\S+) ([A-Za-z0-9+/]+=*)", line)
        assert match, line
        raw = base64.b64decode(match[2], validate=True)
        parsed.append((match[1], raw))
    return origin, int(size_text), root, parsed


def test_checkpoint_is_a_signed_note_verifiable_with_the_key(
    cli: Cli, settings: Settings, tmp_path: Path
) -> None:
    # A checkpoint of the empty ledger is recorded too: size 0, the empty-tree root (of a
    # store that exists: reading commands never create one).
    open_store(settings).close()
    empty = _parse_note(cli.ok("ledger", "checkpoint").out)
    assert empty[:3] == (ORIGIN, 0, hashlib.sha256(b"").digest())
    assert _checkpoint_count(settings) == 1

    events = _events(25, "cp")
    ingested = cli.ingest_json(_write(tmp_path / "cp.jsonl", events))
    n = len(events)

    # One checkpoint per tree size: at the size ingest left, it prints the same signed note.
    checkpoint_run, key_run = cli.many(("ledger", "checkpoint"), ("ledger", "key"))
    note = _ok(checkpoint_run).out
    assert note == ingested["checkpoint"]
    origin, size, root, signatures = _parse_note(note)
    assert (origin, size) == (ORIGIN, n)
    assert len(signatures) == 1

    key_text = _ok(key_run).out
    name, key_id, public = _parse_verifier_key(key_text)
    assert name == ORIGIN
    # C2SP signed-note key ID: SHA-256(name || "\n" || 0x01 || public key)[:4].
    assert hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4] == key_id

    # The signature, checked independently of sentinelle's verifier...
    sig_name, raw = signatures[0]
    assert sig_name == ORIGIN and raw[:4] == key_id and len(raw) == 4 + 64
    body = note[: note.index("\n\n") + 1]
    Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], body.encode())
    # ... and with it.
    verifier = Verifier.from_verifier_key(key_text)
    extension = note.split("\n")[3]  # the merchant map's line, signed with the body
    assert verifier.verify(note, origin=ORIGIN) == Checkpoint(
        origin=ORIGIN, size=n, root=root, extensions=(extension,)
    )
    tampered = note.replace(f"\n{n}\n", f"\n{n + 1}\n", 1)
    with pytest.raises(IntegrityError):
        verifier.verify(tampered, origin=ORIGIN)

    # Recorded: the store's latest checkpoint is this note, and verify counts it.
    with open_store(settings) as store:
        latest = store.latest_checkpoint()
        assert latest is not None and latest.note == note
    verify_run, key_again = cli.many(("ledger", "verify"), ("ledger", "key"))
    assert ", 2 checkpoints; root " + root.hex() in _ok(verify_run).out  # size 0 and size n
    assert _ok(key_again).out == key_text  # kept in the data directory


def test_verify_accepts_an_external_note_and_refuses_a_forged_one(cli: Cli, tmp_path: Path) -> None:
    text = cli.ingest_json(_write(tmp_path / "ext.jsonl", _events(10, "ext")))["checkpoint"]
    note, forged = tmp_path / "note.txt", tmp_path / "forged.txt"
    note.write_text(text, encoding="utf-8")
    _, _, root, _ = _parse_note(text)
    old, new = base64.b64encode(root).decode(), base64.b64encode(bytes(32)).decode()
    forged.write_text(text.replace(old, new), encoding="utf-8")

    good, bad = cli.many(
        ("ledger", "verify", "--checkpoint", str(note)),
        ("ledger", "verify", "--checkpoint", str(forged)),
    )
    assert ", 2 checkpoints;" in _ok(good).out  # the stored one and the external one
    assert "does not verify" in _fails(bad).err and len(bad.err.splitlines()) == 1


# -- ledger: proofs ----------------------------------------------------------------------------


def _check_proof(proof: dict[str, Any]) -> None:
    assert set(proof) == {
        "event_id",
        "leaf_index",
        "tree_size",
        "leaf",
        "leaf_hash",
        "inclusion_path",
        "root_hash",
    }
    leaf_hash = hashlib.sha256(b"\x00" + proof["leaf"].encode()).digest()
    assert leaf_hash.hex() == proof["leaf_hash"]
    verify_inclusion(
        leaf_hash,
        proof["leaf_index"],
        proof["tree_size"],
        [bytes.fromhex(h) for h in proof["inclusion_path"]],
        bytes.fromhex(proof["root_hash"]),
    )


def test_inclusion_proofs(cli: Cli, settings: Settings, tmp_path: Path) -> None:
    first, second = _events(40, "p1"), _events(30, "p2", seed=5)
    old_note = cli.ingest_json(_write(tmp_path / "p1.jsonl", first))["checkpoint"]
    cli.ok("ingest", _write(tmp_path / "p2.jsonl", second))
    n1, total = len(first), len(first) + len(second)
    _, _, old_root, _ = _parse_note(old_note)
    with open_store(settings) as store:
        latest = store.latest_checkpoint()
        assert latest is not None and latest.size == total

    target, last = first[17], second[-1]
    default, small, text, unknown, late, too_big = cli.many(
        ("ledger", "proof", target["id"], "--json"),
        ("ledger", "proof", target["id"], "--size", str(n1), "--json"),
        ("ledger", "proof", last["id"]),
        ("ledger", "proof", "no-such-event", "--json"),
        ("ledger", "proof", last["id"], "--size", str(n1)),
        ("ledger", "proof", target["id"], "--size", str(total + 1)),
    )

    # Default size: the latest checkpoint's (the second ingest made one).
    proof = json.loads(_ok(default).out)
    _check_proof(proof)
    assert (proof["event_id"], proof["leaf_index"], proof["tree_size"]) == (target["id"], 17, total)
    assert proof["root_hash"] == latest.root.hex()
    assert json.loads(proof["leaf"]) == target  # the leaf is the event, canonicalised

    # A smaller tree: the first checkpoint's.
    small_proof = json.loads(_ok(small).out)
    _check_proof(small_proof)
    assert (small_proof["tree_size"], small_proof["root_hash"]) == (n1, old_root.hex())
    assert small_proof["inclusion_path"] != proof["inclusion_path"]

    # Plain-text form names the leaf and the root.
    lines = _ok(text).out.splitlines()
    assert lines[0] == f"event {last['id']} is leaf {total - 1} of {total}"
    assert lines[1] == f"root {latest.root.hex()}"
    assert len(lines) > 2 and all(re.fullmatch(r"  [0-9a-f]{64}", h) for h in lines[2:])

    # An unknown event, one not yet in the tree of that size, a size beyond the ledger.
    assert _fails(unknown).err == "error: no event with id 'no-such-event'\n"
    assert unknown.out == ""
    assert f"is leaf {total - 1}, not in a tree of size {n1}" in _fails(late).err
    assert f"tree size {total + 1} is not between 1 and the ledger's {total}" in _fails(too_big).err
    assert all(len(r.err.splitlines()) == 1 for r in (unknown, late, too_big))


def test_consistency_between_two_checkpoints(cli: Cli, settings: Settings, tmp_path: Path) -> None:
    cli.ok("ingest", _write(tmp_path / "c1.jsonl", _events(45, "c1")))
    note1 = cli.ok("ledger", "checkpoint").out
    cli.ok("ingest", _write(tmp_path / "c2.jsonl", _events(70, "c2", seed=9)))
    checkpoint_run, key_run = cli.many(("ledger", "checkpoint"), ("ledger", "key"))
    verifier = Verifier.from_verifier_key(_ok(key_run).out)
    cp1 = verifier.verify(note1, origin=ORIGIN)
    cp2 = verifier.verify(_ok(checkpoint_run).out, origin=ORIGIN)
    assert 0 < cp1.size < cp2.size

    explicit, default, from_one, backwards = cli.many(
        ("ledger", "consistency", str(cp1.size), str(cp2.size), "--json"),
        ("ledger", "consistency", str(cp1.size), "--json"),  # NEW: the latest checkpoint
        ("ledger", "consistency", "1", "--json"),
        ("ledger", "consistency", str(cp2.size), str(cp1.size)),
    )
    proof = json.loads(_ok(explicit).out)
    assert set(proof) == {"old_size", "new_size", "old_root", "new_root", "proof"}
    assert (proof["old_size"], proof["new_size"]) == (cp1.size, cp2.size)
    assert (proof["old_root"], proof["new_root"]) == (cp1.root.hex(), cp2.root.hex())
    hashes = [bytes.fromhex(h) for h in proof["proof"]]
    verify_consistency(cp1.size, cp2.size, cp1.root, cp2.root, hashes)
    # The check can fail: another old root does not fit this proof.
    with pytest.raises(IntegrityError):
        verify_consistency(cp1.size, cp2.size, bytes(32), cp2.root, hashes)

    assert json.loads(_ok(default).out) == proof

    # From size 1: the old root is the first leaf's hash, computed here from the stored event.
    with open_store(settings) as store:
        first_body = next(store.iter_events(0, batch=1))[0][-1]
    first_leaf = hashlib.sha256(b"\x00" + first_body.encode()).digest()
    one = json.loads(_ok(from_one).out)
    assert (one["old_size"], one["old_root"]) == (1, first_leaf.hex())
    assert (one["new_size"], one["new_root"]) == (cp2.size, cp2.root.hex())
    verify_consistency(1, cp2.size, first_leaf, cp2.root, [bytes.fromhex(h) for h in one["proof"]])

    assert len(_fails(backwards).err.splitlines()) == 1


# -- ledger: verify ----------------------------------------------------------------------------


def _flip_outcome(body: str) -> str:
    # Still a valid, canonical event with the same indexed columns: only the leaf hash differs.
    flipped = body.replace('"outcome":"allowed"', '"outcome":"denied"')
    assert flipped != body
    return flipped


def test_verify_names_the_first_altered_leaf(cli: Cli, settings: Settings, tmp_path: Path) -> None:
    events = _events(60, "tamper")
    cli.ok("ingest", _write(tmp_path / "t1.jsonl", events[:30]))
    cli.ok("ingest", _write(tmp_path / "t2.jsonl", events[30:]))

    # Alter two allowed access events; verify must name the first of them.
    victims = [i for i, e in enumerate(events) if e.get("outcome") == "allowed"][3:5]
    with open_store(settings) as store:
        bodies = {i: store.event_by_id(events[i]["id"]) for i in victims}
    for i, found in bodies.items():
        assert found is not None and found[0] == i
        _execute(settings, "UPDATE events SET body = ? WHERE seq = ?", (_flip_outcome(found[1]), i))

    result = cli.fails("ledger", "verify")
    first = victims[0]
    assert len(result.err.splitlines()) == 1
    assert f"leaf {first} (event {events[first]['id']!r})" in result.err
    assert result.out == ""


def test_verify_detects_a_removed_event(cli: Cli, settings: Settings, tmp_path: Path) -> None:
    events = _events(20, "gone")
    cli.ok("ingest", _write(tmp_path / "g.jsonl", events))
    _execute(settings, "DELETE FROM events WHERE seq = ?", (len(events) - 1,))
    result = cli.fails("ledger", "verify")
    assert len(result.err.splitlines()) == 1
    assert f"leaf {len(events) - 1}" in result.err


# -- API keys ----------------------------------------------------------------------------------


def test_keys_create_prints_the_key_once_and_stores_a_hash(cli: Cli, settings: Settings) -> None:
    created = cli.ok("keys", "create", "--name", "support-console")
    key = created.out.strip()
    assert created.out == key + "\n"
    assert re.fullmatch(r"snl_[A-Za-z0-9_-]{43}", key), key
    assert key not in created.err and "cannot be shown again" in created.err

    with open_store(settings) as store:
        found = store.find_api_key(hashlib.sha256(key.encode()).hexdigest())
        assert found is not None and found.name == "support-console"
    listed, again = cli.many(("keys", "list"), ("keys", "create", "--name", "support-console"))
    assert _ok(listed).out == "support-console\tingest\tactive\n"  # default role: ingest
    assert _fails(again).err == "error: an API key named 'support-console' already exists\n"
    assert again.out == ""

    assert cli.ok("keys", "revoke", "support-console").out == "revoked support-console\n"
    listed, nobody = cli.many(("keys", "list"), ("keys", "revoke", "nobody"))
    assert _ok(listed).out == "support-console\tingest\trevoked\n"
    assert _fails(nobody).err == "error: no active API key named 'nobody'\n"
    with open_store(settings) as store:
        assert store.find_api_key(hashlib.sha256(key.encode()).hexdigest()) is None


# -- errors and help ---------------------------------------------------------------------------


def test_verbose_shows_the_traceback(cli: Cli, settings: Settings) -> None:
    open_store(settings).close()
    quiet, *louds = cli.many(
        ("ledger", "proof", "nothing-here"),
        ("--verbose", "ledger", "proof", "nothing-here"),
        ("-v", "ledger", "proof", "nothing-here"),
    )
    assert _fails(quiet).err == "error: no event with id 'nothing-here'\n"
    for loud in louds:
        assert loud.code == 1, str(loud)
        assert "Traceback (most recent call last):" in loud.err
        assert loud.err.rstrip().endswith(
            "sentinelle.errors.NotFoundError: no event with id 'nothing-here'"
        )


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    ctx = click.Context(group)  # the commands as click lists them (loaded when asked for)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


COMMANDS = _command_paths(cli_group)


def test_every_command_is_covered_by_the_help_test() -> None:
    # The walk must find the documented commands, or the parametrization below proves little.
    for path in [("ingest",), ("serve",), ("keys", "create"), ("ledger", "consistency")]:
        assert path in COMMANDS
    assert len(COMMANDS) >= 14


def test_help_of_every_command(bare_cli: Cli, tmp_path: Path) -> None:
    # In this process (a subprocess each took 26 s); the console script's own, once.
    runner = CliRunner()
    for path in COMMANDS:
        result = runner.invoke(cli_group, [*path, "--help"], prog_name="sentinelle")
        shown = f"sentinelle {' '.join(path)} --help: {result.output}"
        assert result.exit_code == 0, shown
        assert result.stdout.startswith(f"Usage: {' '.join(('sentinelle', *path))} "), shown
        assert result.stderr == "", shown
    [script] = bare_cli.many(("incident", "list", "--help"))
    _ok(script)
    assert script.out.startswith("Usage: sentinelle incident list "), str(script)
    assert not (tmp_path / "data").exists()  # help opens no store


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://db.example/sentinelle", "error: invalid settings: SENTINELLE_DATABASE_URL: "),
        ("postgresql://app:hunter2@127.0.0.1:{port}/x", "error: cannot connect to PostgreSQL: "),
    ],
    ids=["unknown-scheme", "unreachable"],
)
def test_bad_database_url_is_a_one_line_error(bare_cli: Cli, url: str, expected: str) -> None:
    env = {**bare_cli.env, "SENTINELLE_DATABASE_URL": url.format(port=_closed_port())}
    result = Cli(env=env, cwd=bare_cli.cwd).fails("ledger", "verify")
    assert result.err.startswith(expected), str(result)
    assert len(result.err.splitlines()) == 1
    assert "hunter2" not in result.err  # the password never reaches the terminal


def test_data_dir_that_is_a_file_is_a_one_line_error(bare_cli: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    env = {**bare_cli.env, "SENTINELLE_DATA_DIR": str(blocker)}
    result = Cli(env=env, cwd=bare_cli.cwd).fails("ledger", "verify")
    assert result.err.startswith(f"error: cannot open the SQLite database {blocker}")
    assert len(result.err.splitlines()) == 1
