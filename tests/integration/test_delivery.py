"""Delivery of notices over real SMTP (``smtp_sink``, aiosmtpd) into a real store.

On SQLite and PostgreSQL (``settings``): everything sent once and a rerun sends nothing; 4xx
retried then delivered, or left pending for a rerun; 5xx recorded as failed with its code and
never retried; recipients repeated in the input; dropped connections; and a delivery process
killed with SIGKILL half-way, then rerun: no recipient gets two different notices and none is
missing. Plus DKIM signatures checked with dkimpy, the rate limiter's schedule, and that no
address reaches the store.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from sentinelle.config import Settings
from sentinelle.notify.delivery import (
    DeliveryError,
    DeliveryProgress,
    DkimConfig,
    Retry,
    SmtpConfig,
    TlsMode,
    TokenBucket,
    deliver,
    message_id_for,
    notice_status,
)
from sentinelle.notify.model import Outbound
from sentinelle.store import Store, open_store
from smtpsink import SmtpSink

_logger = logging.getLogger(__name__)

TESTS = Path(__file__).resolve().parents[1]
SENDER = "notices@sentinelle.test"
KEY = b"test-contact-key"
FAST = Retry(attempts=4, base=0.01, cap=0.05)
INCIDENT = "inc-20250101-abcd"


def address(i: int) -> str:
    return f"person{i}@example.org"


def hashed(addr: str) -> str:
    return hmac.new(KEY, addr.lower().encode(), hashlib.sha256).hexdigest()


def build(addr: str, name: str, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Sentinelle <{SENDER}>"
    message["To"] = addr
    message["Subject"] = "Important: your data"
    message["Date"] = formatdate(0, usegmt=True)
    message["Message-ID"] = message_id
    message.set_content(f"Dear {name},\nyour data was exposed.\n")
    message.add_alternative(f"<p>Dear {name},</p><p>your data was exposed.</p>", subtype="html")
    return message


def outbound(addresses: Iterable[str]) -> Iterator[Outbound]:
    for addr in addresses:
        yield Outbound(hashed(addr), addr, functools.partial(build, addr, addr.split("@")[0]))


def config(port: int, **kw: Any) -> SmtpConfig:
    kw.setdefault("tls", TlsMode.NONE)
    return SmtpConfig(host="127.0.0.1", port=port, sender=SENDER, helo="client.test", **kw)


def run(store: Store, port: int, addresses: Iterable[str], **kw: Any) -> Any:
    kw.setdefault("retry", FAST)
    kw.setdefault("concurrency", 4)
    return deliver(
        store,
        incident=INCIDENT,
        audience="subjects",
        version=1,
        outbound=outbound(addresses),
        smtp=config(port, **kw.pop("smtp", {})),
        **kw,
    )


def rows(store: Store) -> dict[str, tuple[Any, ...]]:
    """Notice rows by recipient hash."""
    return {r[2]: r for batch in store.notice_rows(INCIDENT) for r in batch}


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = open_store(settings)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(Settings(_env_file=None, data_dir=tmp_path / "data"))
    try:
        yield s
    finally:
        s.close()


def test_everything_sent_once_and_rerun_sends_nothing(store: Store, smtp_sink: SmtpSink) -> None:
    addresses = [address(i) for i in range(120)]
    seen: list[DeliveryProgress] = []
    report = run(store, smtp_sink.port, addresses, progress=seen.append, batch=50)
    assert (report.read, report.sent, report.failed, report.skipped) == (120, 120, 0, 0)
    assert seen[-1].sent == 120 and seen[-1].queued == 0
    got = smtp_sink.by_recipient()
    assert sorted(got) == sorted(addresses)
    for addr, ids in got.items():
        assert ids == [message_id_for(INCIDENT, "subjects", 1, hashed(addr), "sentinelle.test")]
    # Connections are reused: one per worker, not one per message.
    assert smtp_sink.connections <= 4

    again = run(store, smtp_sink.port, addresses)
    assert (again.sent, again.skipped) == (0, 120)
    assert len(smtp_sink.messages()) == 120

    status = notice_status(store, INCIDENT)
    assert status["audiences"]["subjects"]["sent"] == 120
    assert status["audiences"]["subjects"]["pending"] == 0
    assert {r["status"] for r in status["recipients"]} == {"sent"}
    assert all(r["attempts"] == 1 for r in status["recipients"])


def test_no_address_reaches_the_store(store: Store, smtp_sink: SmtpSink) -> None:
    addresses = [address(i) for i in range(10)]
    smtp_sink.reject(address(3))
    smtp_sink.defer(address(5), times=10)
    run(store, smtp_sink.port, addresses, retry=Retry(attempts=2, base=0.01))
    dump = json.dumps(notice_status(store, INCIDENT)).lower()
    for addr in addresses:
        assert addr not in dump
        assert addr.split("@")[0] not in dump


def test_transient_failure_is_retried_then_delivered(store: Store, smtp_sink: SmtpSink) -> None:
    smtp_sink.defer(address(2), times=2)
    report = run(store, smtp_sink.port, [address(i) for i in range(5)])
    assert (report.sent, report.deferred) == (5, 0)
    assert smtp_sink.refusals[(address(2), 451)] == 2
    assert len(smtp_sink.by_recipient()[address(2)]) == 1
    row = rows(store)[hashed(address(2))]
    assert (row[4], row[5]) == ("sent", 3)  # status, attempts


def test_transient_failure_left_pending_for_a_rerun(store: Store, smtp_sink: SmtpSink) -> None:
    smtp_sink.defer(address(1), times=2)
    first = run(
        store, smtp_sink.port, [address(i) for i in range(3)], retry=Retry(attempts=2, base=0.01)
    )
    assert (first.sent, first.deferred) == (2, 1)
    row = rows(store)[hashed(address(1))]
    assert (row[4], row[7]) == ("pending", 451)
    assert address(1) not in (row[8] or "")
    counts = notice_status(store, INCIDENT, recipients=False)["audiences"]["subjects"]
    assert (counts["sent"], counts["pending"]) == (2, 1)

    second = run(store, smtp_sink.port, [address(i) for i in range(3)])
    assert (second.sent, second.skipped) == (1, 2)
    assert all(len(ids) == 1 for ids in smtp_sink.by_recipient().values())


def test_permanent_failure_is_recorded_and_not_retried(store: Store, smtp_sink: SmtpSink) -> None:
    smtp_sink.reject(address(0))
    report = run(store, smtp_sink.port, [address(i) for i in range(3)])
    assert (report.sent, report.failed) == (2, 1)
    row = rows(store)[hashed(address(0))]
    assert (row[4], row[5], row[7]) == ("failed", 1, 550)
    assert "Recipient address rejected" in row[8] and "@" not in row[8]

    again = run(store, smtp_sink.port, [address(i) for i in range(3)])
    assert (again.sent, again.failed, again.skipped) == (0, 0, 3)
    assert smtp_sink.refusals[(address(0), 550)] == 1
    status = notice_status(store, INCIDENT)["audiences"]["subjects"]
    assert (status["sent"], status["failed"], status["pending"]) == (2, 1, 0)


def test_repeated_recipients_are_sent_once(store: Store, smtp_sink: SmtpSink) -> None:
    # Repeats within one chunk and across chunks (batch=4).
    addresses = [address(i) for i in (0, 1, 0, 2, 3, 4, 1, 5, 6, 0, 7)]
    report = run(store, smtp_sink.port, addresses, batch=4)
    assert (report.read, report.sent, report.duplicates) == (11, 8, 3)
    assert all(len(ids) == 1 for ids in smtp_sink.by_recipient().values())
    assert len(smtp_sink.messages()) == 8


def test_dropped_connections_are_reopened(sqlite_store: Store) -> None:
    with SmtpSink(drop_after=7) as sink:
        report = run(sqlite_store, sink.port, [address(i) for i in range(60)], concurrency=2)
        assert report.sent == 60
        assert sink.connections >= 60 // 7
        assert all(len(ids) == 1 for ids in sink.by_recipient().values())
        assert len(sink.by_recipient()) == 60


def test_unreachable_server_stops_the_run_and_keeps_rows(sqlite_store: Store) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DeliveryError, match="cannot connect") as info:
        run(
            sqlite_store, port, [address(i) for i in range(20)], retry=Retry(attempts=2, base=0.001)
        )
    assert "@example.org" not in info.value.diagnostics()
    counts = notice_status(sqlite_store, INCIDENT, recipients=False)["audiences"]["subjects"]
    assert counts["sent"] == 0 and counts["pending"] == 20


@pytest.mark.parametrize(
    ("smtp", "missing"),
    [
        ({"username": "notices", "password": "hunter2-secret"}, "AUTH"),
        ({"tls": TlsMode.STARTTLS}, "STARTTLS"),
    ],
    ids=["login", "starttls"],
)
def test_server_without_what_the_settings_need_stops_the_run_naming_it(
    sqlite_store: Store, smtp_sink: SmtpSink, smtp: dict[str, Any], missing: str
) -> None:
    # The sink offers neither AUTH nor STARTTLS: no retry or rerun can help, so the run
    # stops at once and says what the server lacks, rather than deferring every notice.
    slow = Retry(attempts=3, base=5.0)
    started = time.monotonic()
    with pytest.raises(DeliveryError, match=missing) as info:
        run(sqlite_store, smtp_sink.port, [address(0)], smtp=smtp, retry=slow, concurrency=1)
    assert time.monotonic() - started < 5.0
    assert "hunter2" not in info.value.diagnostics()
    assert smtp_sink.messages() == []
    counts = notice_status(sqlite_store, INCIDENT, recipients=False)["audiences"]["subjects"]
    assert counts["sent"] == 0 and counts["pending"] == 1


def test_deferred_after_connection_failures_says_why(
    sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with caplog.at_level(logging.WARNING, logger="sentinelle.notify.delivery"):
        report = run(sqlite_store, port, [address(0)], retry=Retry(attempts=2, base=0.001))
    assert report.deferred == 1
    deferred = [r.getMessage() for r in caplog.records if "deferred" in r.getMessage()]
    # The reason itself, not only the exception's type.
    assert deferred and "Connect call failed" in deferred[0], deferred


def test_builder_must_use_the_given_message_id(sqlite_store: Store, smtp_sink: SmtpSink) -> None:
    def wrong(message_id: str) -> EmailMessage:
        return build(address(0), "x", "<other@sentinelle.test>")

    with pytest.raises(DeliveryError, match="Message-ID"):
        deliver(
            sqlite_store,
            incident=INCIDENT,
            audience="subjects",
            version=1,
            outbound=[Outbound(hashed(address(0)), address(0), wrong)],
            smtp=config(smtp_sink.port),
        )
    assert smtp_sink.messages() == []


def test_dkim_signature_verifies(sqlite_store: Store, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    import dkim

    dkim_config, dnsfunc = _dkim(tmp_path, "sentinelle.test")
    report = run(sqlite_store, smtp_sink.port, [address(0), address(1)], smtp={"dkim": dkim_config})
    assert report.sent == 2
    for message in smtp_sink.messages():
        assert message.data.startswith(b"DKIM-Signature:")
        assert dkim.verify(message.data, dnsfunc=dnsfunc)
        tampered = message.data.replace(b"your data was exposed", b"all is fine")
        assert not dkim.verify(tampered, dnsfunc=dnsfunc)


def test_token_bucket_schedule() -> None:
    bucket = TokenBucket(rate=100, burst=1, now=0.0)
    waits = [bucket.reserve(0.0) for _ in range(1000)]
    assert waits[0] == 0
    assert waits[-1] == pytest.approx(9.99)  # 1,000 messages at 100/s: the last one after ~10 s
    assert all(b - a == pytest.approx(0.01) for a, b in zip(waits, waits[1:], strict=False))
    # Time passing pays the debt back; idle time saves up at most ``burst`` tokens.
    assert bucket.reserve(10.0) == pytest.approx(0.0)
    assert bucket.reserve(100.0) == 0.0 and bucket.reserve(100.0) == pytest.approx(0.01)
    burst = TokenBucket(rate=10, burst=5, now=0.0)
    assert [burst.reserve(0.0) for _ in range(6)][-2:] == [0.0, pytest.approx(0.1)]


def test_rate_limit_is_respected(sqlite_store: Store, smtp_sink: SmtpSink) -> None:
    # A lower bound only: sleeping can only last longer than asked, so this cannot flake.
    started = time.monotonic()
    report = run(sqlite_store, smtp_sink.port, [address(i) for i in range(31)], rate=100)
    assert report.sent == 31
    assert time.monotonic() - started >= 0.3 * 0.95


# -- killed half-way, then rerun --------------------------------------------------------------

KILL_NOTICES = 3000
KILL_CONCURRENCY = 4

CHILD = """
import sys
sys.path[:0] = [{integration!r}, {tests!r}]
from test_delivery import child_main
child_main(sys.argv[1:])
"""


def child_main(argv: list[str]) -> None:
    """Run in a subprocess: deliver ``KILL_NOTICES`` notices, print the report as JSON."""
    data_dir, database_url, port = argv[0], argv[1] or None, int(argv[2])
    settings = Settings(_env_file=None, data_dir=Path(data_dir), database_url=database_url)
    with open_store(settings) as store:
        report = run(
            store,
            port,
            [address(i) for i in range(KILL_NOTICES)],
            concurrency=KILL_CONCURRENCY,
            batch=200,
        )
    sys.stdout.write(json.dumps(report.to_dict()) + "\n")


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def test_killed_run_resumes_without_distinct_duplicates(settings: Settings, tmp_path: Path) -> None:
    open_store(settings).close()  # migrate once, before the children start
    received = tmp_path / "received.jsonl"
    sink = subprocess.Popen(
        [sys.executable, str(TESTS / "smtpsink.py"), "--out", str(received)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline().split()[1])
        code = CHILD.format(integration=str(TESTS / "integration"), tests=str(TESTS))
        argv = [
            sys.executable,
            "-c",
            code,
            str(settings.data_dir),
            settings.database_url or "",
            str(port),
        ]
        env = {**os.environ, "PYTHONPATH": str(TESTS.parent / "src")}

        first = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while _lines(received) < KILL_NOTICES // 3 and first.poll() is None:
            assert time.monotonic() < deadline, "the first run did not get going"
            time.sleep(0.005)
        first.send_signal(signal.SIGKILL)
        first.communicate()
        assert first.returncode == -signal.SIGKILL, "the first run ended before it was killed"
        at_kill = _lines(received)
        assert at_kill < KILL_NOTICES

        second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stdout + second.stderr
        report = json.loads(second.stdout.strip().splitlines()[-1])
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.communicate(timeout=10)

    ids: dict[str, list[str]] = {}
    for line in received.read_text().splitlines():
        message = json.loads(line)
        for rcpt in message["rcpts"]:
            ids.setdefault(rcpt, []).append(message["message_id"])
    assert sorted(ids) == sorted(address(i) for i in range(KILL_NOTICES)), "a recipient is missing"
    distinct = {rcpt: set(got) for rcpt, got in ids.items()}
    assert all(len(got) == 1 for got in distinct.values()), "a recipient got two notices"
    for rcpt, got in distinct.items():
        assert got == {message_id_for(INCIDENT, "subjects", 1, hashed(rcpt), "sentinelle.test")}
    # The same message twice is allowed only for those in flight at the kill: at most one per
    # worker, and every one of them was left "sending" and resumed by the rerun.
    resent = sum(len(got) for got in ids.values()) - KILL_NOTICES
    # Reported (pytest --log-cli-level=INFO shows it): how often the same message went twice.
    _logger.info(
        "killed after %d of %d received; rerun resumed %d in flight, %d received twice "
        "(same Message-ID)",
        at_kill,
        KILL_NOTICES,
        report["resumed"],
        resent,
    )
    assert 0 <= resent <= report["resumed"] <= KILL_CONCURRENCY
    assert report["sent"] + report["skipped"] == KILL_NOTICES
    assert report["skipped"] >= at_kill - resent
    with open_store(settings) as store:
        counts = notice_status(store, INCIDENT, recipients=False)["audiences"]["subjects"]
    assert counts["sent"] == KILL_NOTICES


# --- the bytes path (Outbound.build_bytes): the real renderer's messages ----------------------


def real_plan(tmp_path: Path, n: int = 3) -> Any:
    """A real notice plan: the renderer's messages, built as bytes by ``build_bytes``."""
    sys.path.insert(0, str(TESTS / "unit" / "notify"))
    from test_render import config as notice_config
    from test_render import incident, scope, write_csv

    from sentinelle.notify.directory import open_directory
    from sentinelle.notify.model import Audience
    from sentinelle.notify.render import plan_notices

    names = ["Zoë Ørsted", "Łukasz Wiśniewski", "", "Ann"]
    rows = [
        (f"c-{i + 1}", "m-1", address(i), names[i % len(names)], ("fr", "en")[i % 2])
        for i in range(n)
    ]
    return plan_notices(
        notice_config(),
        incident(),
        scope(),
        audience=Audience.SUBJECTS,
        key=KEY,
        directory=open_directory(str(write_csv(tmp_path, rows))),
    )


def test_bytes_path_delivers_the_rendered_notices(
    sqlite_store: Store, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    import email
    import email.policy

    plan = real_plan(tmp_path)
    report = deliver(
        sqlite_store,
        incident=INCIDENT,
        audience="subjects",
        version=1,
        outbound=plan,
        smtp=config(smtp_sink.port),
        retry=FAST,
    )
    assert report.sent == 3
    received = {m.rcpts[0]: m for m in smtp_sink.messages()}
    assert set(received) == {address(0), address(1), address(2)}
    assert {r[4] for r in rows(sqlite_store).values()} == {"sent"}
    zoe = email.message_from_bytes(received[address(0)].data, policy=email.policy.default)
    assert zoe["Message-ID"] == received[address(0)].message_id
    assert zoe["To"].addresses[0].display_name == "Zoë Ørsted"
    text = zoe.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Bonjour Zoë Ørsted," in text and zoe["Content-Language"] == "fr"


def test_dkim_signature_verifies_on_the_bytes_path(
    sqlite_store: Store, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    import dkim

    dkim_config, dnsfunc = _dkim(tmp_path, "shop.example")
    report = deliver(
        sqlite_store,
        incident=INCIDENT,
        audience="subjects",
        version=1,
        outbound=real_plan(tmp_path, n=3),
        smtp=config(smtp_sink.port, dkim=dkim_config),
        retry=FAST,
    )
    assert report.sent == 3
    for message in smtp_sink.messages():
        assert message.data.startswith(b"DKIM-Signature:")
        assert dkim.verify(message.data, dnsfunc=dnsfunc)
        tampered = message.data.replace(b"Boutique Lune", b"Boutique Lure", 1)
        assert tampered != message.data and not dkim.verify(tampered, dnsfunc=dnsfunc)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"From: a@b.example\r\nMessage-ID: <other@x>\r\n\r\nHi\r\n", "Message-ID"),
        (
            b"Message-ID: {mid}\r\nMessage-ID: <other@x>\r\n\r\nHi\r\n",
            "Message-ID",
        ),
        (b"From: a@b.example\nMessage-ID: {mid}\n\nHi\n", "CRLF"),
        (b"From: a@b.example\r\nMessage-ID: {mid}\r\n\r\nHi\r\n", None),
        (b"From: a@b.example\r\nMessage-ID:\r\n {mid}\r\n\r\nHi\r\n", None),  # folded
        (b"From: a@b.example\r\n\r\nHi\r\n", None),  # none: added
    ],
)
def test_bytes_builder_must_use_the_given_message_id(
    sqlite_store: Store, smtp_sink: SmtpSink, raw: bytes, error: str | None
) -> None:
    def builder(message_id: str) -> bytes:
        return raw.replace(b"{mid}", message_id.encode())

    def never(message_id: str) -> EmailMessage:
        raise AssertionError("build_bytes is preferred")

    outbound = [Outbound(hashed(address(0)), address(0), never, build_bytes=builder)]
    kw: dict[str, Any] = {
        "incident": INCIDENT,
        "audience": "subjects",
        "version": 1,
        "outbound": outbound,
        "smtp": config(smtp_sink.port),
    }
    if error is not None:
        with pytest.raises(DeliveryError, match=error):
            deliver(sqlite_store, **kw)
        assert smtp_sink.messages() == []
        return
    assert deliver(sqlite_store, **kw).sent == 1
    (message,) = smtp_sink.messages()
    expected = message_id_for(INCIDENT, "subjects", 1, hashed(address(0)), "sentinelle.test")
    import email

    assert email.message_from_bytes(message.data)["Message-ID"].strip() == expected
    assert message.data.count(b"Message-ID:") == 1


def _dkim(tmp_path: Path, domain: str) -> tuple[DkimConfig, Callable[..., bytes | None]]:
    """A fresh RSA key for ``domain`` (selector ``notify``) and a DNS lookup publishing it."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    name = f"notify._domainkey.{domain}.".encode()

    def dnsfunc(qname: bytes, timeout: int = 5) -> bytes | None:
        return record if qname == name else None

    return DkimConfig(selector="notify", domain=domain, key_file=key_file), dnsfunc
