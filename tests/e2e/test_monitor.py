"""``sentinelle monitor`` against real parts: the API served by uvicorn on loopback (on both
stores), two real witnesses with their own keys and state, the published tlog-tiles files,
and the monitor's state directory on disk. The monitor runs through the CLI's ``main`` (one
process per round would only add start-up time); one test runs the console script.

The probes are an insider's: alter an event and recompute the tree and re-sign checkpoints
with the log key (rewritten history); another database under the same key serving the
monitor another root (split view); deleted checkpoint rows (smaller tree); a forged or
missing cosignature. An honest log that grows must pass every round.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cli_support import console_script

from outbound_receivers import HttpReceiver
from sentinelle.access import Role
from sentinelle.access.accounts import create_key
from sentinelle.api.main import create_app
from sentinelle.cli import main
from sentinelle.cli.monitor import API_KEY_ENV, WEBHOOK_SECRET_ENV
from sentinelle.config import Settings
from sentinelle.events import ACCESS_ACTIONS
from sentinelle.ingest import Ingestor
from sentinelle.ledger.log import Ledger
from sentinelle.ledger.merkle import leaf_hash
from sentinelle.ledger.publish import publish
from sentinelle.ledger.tiles import TreeBuilder
from sentinelle.ledger.witnessing import parse_witnesses, request_cosignatures
from sentinelle.monitor import Outcome
from sentinelle.sim import generate_events
from sentinelle.store import Store, open_store
from served import served
from smtpsink import SmtpSink
from witness_support import RunningWitness, serve_witnesses

EVENTS = list(generate_events(events=900, seed=21))[:900]


def lines(events: list[dict[str, Any]]) -> list[tuple[int, bytes]]:
    return [(i, json.dumps(e).encode()) for i, e in enumerate(events, 1)]


def sql(store: Store, text: str) -> None:
    cur = store._conn.cursor()
    cur.execute(store.sql(text))
    store._conn.commit()


@dataclass
class Log:
    """A Sentinelle ledger with its API served on loopback and witnesses."""

    settings: Settings
    store: Store
    ledger: Ledger
    witnesses: list[RunningWitness]
    key: str  # a merchant's API key: it may read the checkpoint, and nothing else of the log
    stack: ExitStack
    url: str = ""
    api: ExitStack = field(default_factory=ExitStack)

    def ingest(self, first: int, last: int, events: list[dict[str, Any]] = EVENTS) -> None:
        Ingestor(self.store, self.ledger).ingest(lines(events[first:last]))

    def witness(self, count: int = 2) -> None:
        specs = " ".join(w.spec for w in self.witnesses[:count])
        outcomes = request_cosignatures(self.ledger, parse_witnesses(specs))
        assert all(o.ok for o in outcomes), [o.message for o in outcomes]

    def serve(self) -> None:
        """(Re)start the API on the store, on the same port: as a new process, with empty
        caches."""
        self.api.close()
        self.api = ExitStack()
        port = int(self.url.rsplit(":", 1)[1]) if self.url else 0
        app = create_app(self.settings)
        self.url = self.api.enter_context(served(app, port=port, what="the API"))


@pytest.fixture
def log(settings: Settings, tmp_path: Path) -> Iterator[Log]:
    with ExitStack() as stack:
        store = stack.enter_context(open_store(settings))
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=settings.log_origin)
        (tmp_path / "witnesses").mkdir()
        witnesses = stack.enter_context(
            serve_witnesses(tmp_path / "witnesses", {ledger.origin: [ledger.verifier]})
        )
        key = create_key(store, name="m1", role=Role.MERCHANT, merchant="m-1000", by="tests")
        running = Log(settings, store, ledger, witnesses, key, stack)
        running.serve()
        stack.callback(running.api.close)
        yield running


@dataclass(frozen=True)
class Fork:
    store: Store
    ledger: Ledger


@contextmanager
def forked(log: Log, settings: Settings, events: list[dict[str, Any]]) -> Iterator[Fork]:
    """Another database (SQLite) signed with the log's key and origin, holding ``events``."""
    settings.data_dir.mkdir()
    key_file = "ledger-signing.key"
    shutil.copy(log.settings.data_dir / key_file, settings.data_dir / key_file)
    with open_store(settings) as store:
        ledger = Ledger.open(store, data_dir=settings.data_dir, origin=log.ledger.origin)
        Ingestor(store, ledger).ingest(lines(events))
        yield Fork(store, ledger)


@dataclass
class Monitor:
    """Runs ``sentinelle monitor`` with a state directory and a config pinning the log."""

    state: Path
    capsys: pytest.CaptureFixture[str]

    def configure(self, log: Log, *, quorum: int = 2, **source: str) -> None:
        self.state.mkdir(mode=0o700, exist_ok=True)
        config = {
            "origin": log.ledger.origin,
            "log_keys": [log.ledger.key.verifier_key()],
            "witnesses": [w.key for w in log.witnesses],
            "quorum": quorum,
            **(source or {"url": log.url}),
        }
        text = "".join(f"{k} = {json.dumps(v)}\n" for k, v in config.items())
        (self.state / "monitor.toml").write_text(text, encoding="utf-8")

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(["monitor", "--state", str(self.state), "--once", *args])
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err
        return int(exited.value.code or 0), out, err

    def expect(self, outcome: Outcome, *args: str) -> list[dict[str, Any]]:
        """One round with --json; its exit code must be ``outcome``'s; its findings."""
        code, out, err = self.run("--json", *args)
        assert code == outcome, (out, err)
        result = json.loads(out)
        assert result["outcome"] == outcome.label
        return list(result["findings"])

    def held(self) -> int | None:
        data = json.loads((self.state / "state.json").read_text(encoding="utf-8"))
        return None if data["checkpoint"] is None else int(data["checkpoint"].split("\n")[1])


@pytest.fixture
def monitor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], log: Log, monkeypatch: pytest.MonkeyPatch
) -> Monitor:
    monkeypatch.setenv(API_KEY_ENV, log.key)
    m = Monitor(tmp_path / "monitor", capsys)
    m.configure(log)
    return m


def kinds(findings: list[dict[str, Any]]) -> list[str]:
    return sorted(f["finding"] for f in findings)


def test_an_honest_log_that_grows_is_ok_and_the_state_moves_with_it(
    log: Log, monitor: Monitor
) -> None:
    log.ingest(0, 300)
    log.witness()
    assert monitor.expect(Outcome.OK) == []
    assert monitor.held() == 300
    state = monitor.state / "state.json"
    assert os.stat(monitor.state).st_mode & 0o777 == 0o700
    assert os.stat(state).st_mode & 0o777 == 0o600
    log.ingest(300, 600)
    log.witness()
    log.ingest(600, 700)  # the newest checkpoint is not witnessed yet: fine, and checked
    code, out, _ = monitor.run()
    assert (code, out) == (0, f"ok: {log.url} verified up to tree size 600 (moved)\n")
    # Each round is a new start from the state directory: nothing is lost in between.
    code, out, _ = monitor.run()
    assert (code, out) == (0, f"ok: {log.url} verified up to tree size 600 (unchanged)\n")
    log.witness()
    assert monitor.expect(Outcome.OK) == []
    assert monitor.held() == 700


def test_a_rewritten_history_is_caught(log: Log, monitor: Monitor) -> None:
    log.ingest(0, 300)
    log.ingest(300, 600)
    log.witness()
    assert monitor.expect(Outcome.OK) == []
    log.ingest(600, 700)
    # The insider, holding the database and the signing key: alters leaf 350, recomputes the
    # tiles, replaces every checkpoint with one signed over the new tree.
    sql(log.store, "UPDATE events SET body = replace(body, '\"m-', '\"x-') WHERE seq = 350")
    sql(log.store, "DELETE FROM tiles")
    builder = TreeBuilder()
    for rows in log.store.iter_events():
        builder.extend([leaf_hash(r[-1].encode()) for r in rows])
    with log.store.writer() as w:
        w.put_tiles(builder.take_completed() + builder.partial_tiles())
    sql(log.store, "DELETE FROM checkpoints")
    log.ledger.checkpoint()
    log.serve()
    findings = monitor.expect(Outcome.REWRITTEN_HISTORY)
    # The witnesses cosigned none of the new checkpoints: that is reported too.
    assert kinds(findings) == ["cosignatures", "rewritten_history"]
    rewritten = next(f for f in findings if f["finding"] == "rewritten_history")
    assert rewritten["held_size"] == 600 and rewritten["served_size"] == 700
    assert "first 600 leaves hash to another root" in rewritten["message"]
    evidence = Path(rewritten["evidence"])
    held, served_note = (
        (evidence / "held-checkpoint").read_text(),
        (evidence / "served-checkpoint").read_text(),
    )
    assert log.ledger.verifier.verify(held).size == 600
    assert log.ledger.verifier.verify(served_note).size == 700
    assert json.loads((evidence / "log-tree.json").read_text())["old_root"] != (
        log.ledger.verifier.verify(held).root.hex()
    )
    assert monitor.held() == 600  # the state stays where it was verified
    # Found again on the next round, it is the same finding (reported once).
    again = monitor.expect(Outcome.REWRITTEN_HISTORY)
    assert {f["id"] for f in again} == {f["id"] for f in findings}


def test_a_split_view_is_caught(
    log: Log, monitor: Monitor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log's key also signs another database, which a fresh witness (one the first never
    met) cosigns, and which is served to the monitor: same size, another root."""
    log.ingest(0, 300)
    log.witness(count=1)
    monitor.configure(log, quorum=1)
    assert monitor.expect(Outcome.OK) == []
    fork_settings = Settings(_env_file=None, data_dir=tmp_path / "fork")
    with forked(log, fork_settings, list(generate_events(events=300, seed=5))[:300]) as fork:
        request_cosignatures(fork.ledger, parse_witnesses(log.witnesses[1].spec))
        fork_key = create_key(fork.store, name="m1", role=Role.MERCHANT, merchant="m-1000", by="x")
    monkeypatch.setenv(API_KEY_ENV, fork_key)
    with served(create_app(fork_settings), what="the forked API") as fork_url:
        findings = monitor.expect(Outcome.SPLIT_VIEW, "--url", fork_url)
    (split,) = findings
    assert split["held_size"] == split["served_size"] == 300
    assert "signed over another root for the same size 300" in split["message"]
    evidence = Path(split["evidence"])
    notes = [(evidence / n).read_text() for n in ("held-checkpoint", "served-checkpoint")]
    roots = {log.ledger.verifier.verify(n).root for n in notes}
    assert len(roots) == 2  # two signed roots for one size: the proof
    assert monitor.held() == 300


def test_deleted_checkpoints_are_a_smaller_tree(log: Log, monitor: Monitor) -> None:
    log.ingest(0, 300)
    log.witness()
    log.ingest(300, 600)
    log.witness()
    assert monitor.expect(Outcome.OK) == []
    sql(log.store, "DELETE FROM checkpoints WHERE size > 300")
    findings = monitor.expect(Outcome.SMALLER_TREE)
    smaller = next(f for f in findings if f["finding"] == "smaller_tree")
    assert (smaller["held_size"], smaller["served_size"]) == (600, 300)
    sql(log.store, "DELETE FROM checkpoints")
    findings = monitor.expect(Outcome.SMALLER_TREE)
    assert "serves no checkpoint at all, but the log signed one of size 600" in " ".join(
        f["message"] for f in findings
    )
    assert monitor.held() == 600


def test_missing_cosignatures_are_reported_then_pass(log: Log, monitor: Monitor) -> None:
    log.ingest(0, 300)
    findings = monitor.expect(Outcome.COSIGNATURES)  # nobody cosigned yet
    assert "has no checkpoint cosigned by witnesses (quorum 2)" in findings[0]["message"]
    assert not (monitor.state / "state.json").exists() or monitor.held() is None
    log.witness(count=1)
    (finding,) = monitor.expect(Outcome.COSIGNATURES)
    assert "has 1 valid cosignature(s) of pinned witnesses, the quorum is 2" in (finding["message"])
    assert finding["evidence"] is None  # witnesses late: nothing proven
    log.witness()
    assert monitor.expect(Outcome.OK) == []
    assert monitor.held() == 300


def test_a_forged_cosignature_in_a_published_copy(
    log: Log, monitor: Monitor, tmp_path: Path
) -> None:
    log.ingest(0, 600)
    log.witness()
    site = tmp_path / "site"
    publish(log.store, site, tiles=True)
    monitor.configure(log, published=str(site))
    assert monitor.expect(Outcome.OK) == []
    log.ingest(600, 700)
    log.witness()
    publish(log.store, site, tiles=True)
    note = (site / "checkpoint").read_text()
    w1 = log.witnesses[0].witness.key.name
    signed = [line for line in note.splitlines() if line.startswith(f"— {w1} ")]
    (line,) = signed
    flipped = line[:-6] + ("A" if line[-6] != "A" else "B") + line[-5:]
    (site / "checkpoint").write_text(note.replace(line, flipped))
    (finding,) = monitor.expect(Outcome.COSIGNATURES)
    assert "does not verify: forged or corrupted" in finding["message"]
    assert Path(finding["evidence"], "served-checkpoint").read_text() == note.replace(line, flipped)
    assert monitor.held() == 600
    (site / "checkpoint").write_text(note)
    assert monitor.expect(Outcome.OK) == []
    assert monitor.held() == 700


def test_a_published_copy_rewritten_with_the_log_key(
    log: Log, monitor: Monitor, tmp_path: Path
) -> None:
    """The tiles are the proof: the monitor computes the consistency proof itself."""
    log.ingest(0, 300)
    log.witness()
    site = tmp_path / "site"
    publish(log.store, site, tiles=True)
    monitor.configure(log, quorum=0, published=str(site))
    assert monitor.expect(Outcome.OK) == []
    log.ingest(300, 900)
    publish(log.store, site, tiles=True)
    assert monitor.expect(Outcome.OK) == []
    assert monitor.held() == 900
    # Another history under the same key, of 1000 leaves: published over the first.
    other = list(generate_events(events=1000, seed=6))[:1000]
    with forked(log, Settings(_env_file=None, data_dir=tmp_path / "fork"), other) as fork:
        shutil.rmtree(site)
        publish(fork.store, site, tiles=True)
    (finding,) = monitor.expect(Outcome.REWRITTEN_HISTORY)
    assert (finding["held_size"], finding["served_size"]) == (900, 1000)


def test_an_unreachable_log_is_not_a_misbehaviour(log: Log, monitor: Monitor) -> None:
    log.ingest(0, 300)
    log.witness()
    assert monitor.expect(Outcome.OK) == []
    closed = _closed_port()
    code, out, _ = monitor.run("--url", closed)
    assert code == Outcome.UNREACHABLE
    assert out.startswith(f"unreachable: {closed}/v1/ledger/checkpoint cannot be reached: ")
    assert not (monitor.state / "evidence").exists()
    assert monitor.held() == 300
    # A key the API refuses: reachable, but no usable answer; still no proof of anything.
    os.environ[API_KEY_ENV] = "snl_not_a_key"
    (finding,) = monitor.expect(Outcome.UNREACHABLE)
    assert "answered HTTP 401" in finding["message"]


def test_a_wrong_address_is_unreachable_not_deleted_checkpoints(
    log: Log, monitor: Monitor, tmp_path: Path
) -> None:
    """A URL that is not the API's base (a path prefix too many, another server) answers 404
    for every route, and a directory that does not exist holds no checkpoint: neither says the
    log deleted its checkpoints."""
    log.ingest(0, 300)
    log.witness()
    assert monitor.expect(Outcome.OK) == []
    for wrong in (f"{log.url}/api", log.witnesses[0].url):
        (finding,) = monitor.expect(Outcome.UNREACHABLE, "--url", wrong)
        assert finding["message"].startswith(f"{wrong}/v1/ledger/checkpoint answered HTTP 404")
        assert "the log's API" in finding["message"]
    nowhere = tmp_path / "nowhere"
    (finding,) = monitor.expect(Outcome.UNREACHABLE, "--published", str(nowhere))
    assert finding["message"] == f"{nowhere} is not a directory"
    assert not (monitor.state / "evidence").exists()
    assert monitor.held() == 300


def test_a_corrupt_state_is_refused_and_left_alone(log: Log, monitor: Monitor) -> None:
    log.ingest(0, 300)
    log.witness()
    assert monitor.expect(Outcome.OK) == []
    state = monitor.state / "state.json"
    good = state.read_text()
    for bad in (good[:-20], good.replace('"format": 1', '"format": 2'), "[]"):
        state.write_text(bad)
        code, out, err = monitor.run()
        assert code == 1 and out == ""
        assert err.startswith(f"error: the monitor state {state} is refused: ")
        assert state.read_text() == bad
    # A checkpoint the pinned key did not sign is refused too (someone edited the state).
    data = json.loads(good)
    data["checkpoint"] = data["checkpoint"].replace("\n300\n", "\n301\n")
    state.write_text(json.dumps(data))
    code, _, err = monitor.run()
    assert code == 1 and "its checkpoint does not verify with the pinned log keys" in err


def test_the_console_script_exits_with_the_outcome(
    log: Log, monitor: Monitor, tmp_path: Path
) -> None:
    """One real process: the API key comes from a file, the exit code is the outcome's."""
    log.ingest(0, 300)
    log.witness()
    key_file = tmp_path / "api-key"
    key_file.write_text(log.key + "\n")
    key_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    args = [console_script(), "monitor", "--state", str(monitor.state)]
    done = subprocess.run(
        [*args, "--api-key-file", str(key_file)], env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (
        0,
        f"ok: {log.url} verified up to tree size 300 (moved)\n",
    )
    key_file.chmod(0o644)
    refused = subprocess.run(
        [*args, "--api-key-file", str(key_file)], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 1
    assert "is accessible by group or others" in refused.stderr
    assert log.key not in refused.stderr + refused.stdout


def _closed_port() -> str:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_each_finding_is_reported_once_by_webhook_and_email(
    log: Log, monitor: Monitor, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    log.ingest(0, 300)
    log.witness()
    secret = "monitor-webhook-secret-0123"  # noqa: S105 - a test key
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, secret)
    monkeypatch.setenv("SENTINELLE_SMTP", f"127.0.0.1:{smtp_sink.port}")
    receiver = HttpReceiver(statuses=[503]).start()  # the first POST fails
    try:
        report = ["--webhook", receiver.url(), "--email", "audit@example.org"]
        report += ["--email-from", "Monitor <monitor@example.org>"]
        assert monitor.expect(Outcome.OK, *report) == []
        assert (receiver.count, smtp_sink.count) == (0, 0)
        closed = _closed_port()
        (finding,) = monitor.expect(Outcome.UNREACHABLE, "--url", closed, *report)
        assert (receiver.count, smtp_sink.count) == (1, 1)  # the webhook answered 503
        monitor.expect(Outcome.UNREACHABLE, "--url", closed, *report)
        assert (receiver.count, smtp_sink.count) == (2, 1)  # retried; the e-mail is not resent
        monitor.expect(Outcome.UNREACHABLE, "--url", closed, *report)
        assert (receiver.count, smtp_sink.count) == (2, 1)  # reported everywhere: once
        headers, body = receiver.requests[-1]
        assert headers["x-sentinelle-signature"] == (
            "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        )
        assert headers["x-sentinelle-delivery"] == finding["id"]
        sent = json.loads(body)
        assert (sent["type"], sent["finding"], sent["exit_code"]) == (
            "sentinelle.monitor.finding",
            "unreachable",
            3,
        )
        mail = smtp_sink.received[0]
        assert mail.rcpts == ("audit@example.org",) and mail.mail_from == "monitor@example.org"
        assert b"Subject: [sentinelle monitor] unreachable: sentinelle.local/ledger" in mail.data
        # Back to OK, then down again: a new occurrence, reported again.
        assert monitor.expect(Outcome.OK, *report) == []
        monitor.expect(Outcome.UNREACHABLE, "--url", closed, *report)
        assert (receiver.count, smtp_sink.count) == (3, 2)
    finally:
        receiver.close()


def test_every_loops_and_reports_a_finding_once(log: Log, monitor: Monitor, tmp_path: Path) -> None:
    """The console script with --every: each round prints one JSON line; the finding the
    rounds keep seeing is POSTed once."""
    log.ingest(0, 300)
    log.witness()
    receiver = HttpReceiver().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    env[API_KEY_ENV] = log.key
    env[WEBHOOK_SECRET_ENV] = "monitor-webhook-secret-0123"
    args = [console_script(), "monitor", "--state", str(monitor.state), "--json"]
    args += ["--every", "1", "--webhook", receiver.url(), "--url", _closed_port()]
    try:
        with subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        ) as proc:
            try:
                assert proc.stdout is not None
                rounds = [json.loads(proc.stdout.readline()) for _ in range(3)]
            finally:
                proc.terminate()
    finally:
        receiver.close()
    assert [r["outcome"] for r in rounds] == ["unreachable"] * 3
    assert [len(r["new"]) for r in rounds] == [1, 0, 0]
    assert receiver.count == 1


def _accesses(merchant: str | None, first: int, last: int) -> list[int]:
    """Leaf indexes of the access events among EVENTS[first:last] (of ``merchant``)."""
    return [
        i
        for i in range(first, last)
        if EVENTS[i].get("action") in ACCESS_ACTIONS
        and (merchant is None or EVENTS[i].get("merchant") == merchant)
    ]


def test_a_missing_access_is_caught_with_merchant(
    log: Log, monitor: Monitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An access removed from the database after the checkpoints committed to the merchant's
    slice: the log's tree and checkpoints still verify, only the slice check sees it."""
    counts = Counter(EVENTS[i]["merchant"] for i in _accesses(None, 600, 900))
    merchant = next(m for m, _ in counts.most_common() if _accesses(m, 0, 300))
    own = create_key(log.store, name="own", role=Role.MERCHANT, merchant=merchant, by="tests")
    monkeypatch.setenv(API_KEY_ENV, own)  # a merchant's key reads its own slice only
    log.ingest(0, 300)
    log.witness()
    assert monitor.expect(Outcome.OK, "--merchant", merchant) == []  # its slice from 0
    log.ingest(300, 600)
    log.witness()
    assert monitor.expect(Outcome.OK, "--merchant", merchant) == []
    assert monitor.held() == 600
    log.ingest(600, 900)
    log.witness()
    victim = _accesses(merchant, 600, 900)[0]
    sql(log.store, f"DELETE FROM events WHERE seq = {victim}")  # noqa: S608 - an int
    log.serve()
    (finding,) = monitor.expect(Outcome.MISSING_ACCESS, "--merchant", merchant)
    assert finding["message"].startswith(
        f"merchant {merchant!r}: the log cannot prove its list of accesses complete: slice entry "
    )
    assert "is not the one the merchant's slice committed at that place" in finding["message"]
    assert (finding["held_size"], finding["served_size"]) == (600, 900)
    pages = json.loads(Path(finding["evidence"], "slice-answer.json").read_text())
    assert pages[0]["merchant"] == merchant and pages[0]["from"]["size"] == 600
    assert monitor.held() == 600
    # The whole log's checks alone cannot see it: the tree was not touched.
    assert monitor.expect(Outcome.OK) == []
    assert monitor.held() == 900


def test_merchant_needs_the_api(log: Log, monitor: Monitor, tmp_path: Path) -> None:
    log.ingest(0, 300)
    log.witness()
    publish(log.store, tmp_path / "site", tiles=True)
    code, _, err = monitor.run("--published", str(tmp_path / "site"), "--merchant", "m-1")
    assert code == 1
    assert err == "error: --merchant needs the log's API (url): slices are not published\n"
