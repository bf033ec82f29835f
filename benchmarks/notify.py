"""Notice delivery throughput and memory: ``deliver`` against plain ``smtplib``.

Sends ``--notices`` personalised notices (a text and an HTML part with the recipient's name,
rendered by ``Outbound.build`` when sent) to a loopback SMTP server, aiosmtpd in a process of
its own (``tests/smtpsink.py``, which appends one JSON line per message it accepts), two ways
in this one process:

* **Sentinelle**: ``sentinelle.notify.delivery.deliver`` into a fresh SQLite store (temporary
  data dir): every notice recorded ``pending``, marked ``sending`` before DATA and ``sent``
  after the 250, over ``--concurrency`` reused connections. The outbound records come from a
  generator, so memory must stay flat: the resident set (current and peak) is printed at 25,
  50, 75 and 100 % of the notices.
* **baseline**: the same messages built the same way, sent with ``smtplib`` over one
  connection, nothing recorded.

The sink's count of messages is checked against what was sent. ``--dkim`` signs every notice
(RSA 2048, dkimpy) in the Sentinelle run. Run::

    .venv/bin/python benchmarks/notify.py                     # 100,000 notices
    .venv/bin/python benchmarks/notify.py --notices 20000 --concurrency 16
"""

from __future__ import annotations

import argparse
import email
import email.policy
import functools
import hashlib
import hmac
import os
import resource
import smtplib
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

GOAL_RATE = 1_000  # notices/s
SENDER = "notices@sentinelle.test"
KEY = b"benchmark-contact-key"


def _rss_mb() -> float:
    """Current resident set size in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def _peak_mb() -> float:
    """This process's RSS high-water mark in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def build(addr: str, name: str, message_id: str) -> EmailMessage:
    """One personalised notice."""
    message = EmailMessage()
    message["From"] = f"Sentinelle <{SENDER}>"
    message["To"] = f"{name} <{addr}>"
    message["Subject"] = "Important information about your personal data"
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id
    message.set_content(
        f"Dear {name},\n\nOn 3 March an employee of Example Shop looked up your order history "
        "without a reason. We stopped the access, and we are telling you as the law asks.\n\n"
        "What you can do: nothing is needed; be wary of calls claiming to be from us.\n"
    )
    message.add_alternative(
        f"<html><body><p>Dear {name},</p><p>On 3 March an employee of Example Shop looked up "
        "your order history without a reason. We stopped the access, and we are telling you "
        "as the law asks.</p><p>What you can do: nothing is needed; be wary of calls claiming "
        "to be from us.</p></body></html>",
        subtype="html",
    )
    return message


_TEMPLATE = (
    "From: Sentinelle <{sender}>\r\nTo: {name} <{addr}>\r\n"
    "Subject: Important information about your personal data\r\nDate: {date}\r\n"
    "Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/alternative; boundary="=_notice"\r\n\r\n'
    "--=_notice\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 7bit\r\n\r\n"
    "Dear {name},\r\n\r\nOn 3 March an employee of Example Shop looked up your order history "
    "without a reason.\r\nWe stopped the access, and we are telling you as the law asks.\r\n"
    "\r\n--=_notice\r\nContent-Type: text/html; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 7bit\r\n\r\n"
    "<html><body><p>Dear {name},</p><p>On 3 March an employee of Example Shop looked up your "
    "order history without a reason.</p>\r\n<p>We stopped the access, and we are telling you "
    "as the law asks.</p></body></html>\r\n--=_notice--\r\n"
)


def build_from_template(addr: str, name: str, message_id: str) -> EmailMessage:
    """The same notice, rendered from a MIME text template and parsed back (much cheaper)."""
    raw = _TEMPLATE.format(
        sender=SENDER, name=name, addr=addr, date=formatdate(usegmt=True), message_id=message_id
    )
    message = email.message_from_string(raw, _class=EmailMessage, policy=email.policy.SMTP)
    assert isinstance(message, EmailMessage)
    return message


def build_mime(addr: str, name: str, message_id: str) -> EmailMessage:
    """The same notice with the classic ``email.mime`` API (compat32 policy: no header parsing)."""
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    message = MIMEMultipart("alternative")
    message["From"] = f"Sentinelle <{SENDER}>"
    message["To"] = f"{name} <{addr}>"
    message["Subject"] = "Important information about your personal data"
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id
    message.attach(
        MIMEText(
            f"Dear {name},\n\nOn 3 March an employee of Example Shop looked up your order "
            "history without a reason. We stopped the access, and we are telling you as the "
            "law asks.\n",
            "plain",
            "utf-8",
        )
    )
    message.attach(
        MIMEText(
            f"<html><body><p>Dear {name},</p><p>On 3 March an employee of Example Shop looked "
            "up your order history without a reason. We stopped the access, and we are telling "
            "you as the law asks.</p></body></html>",
            "html",
            "utf-8",
        )
    )
    return message  # type: ignore[return-value]


BUILDERS = {"api": build, "template": build_from_template, "mime": build_mime}


def people(n: int, *, prefix: str = "person"):  # type: ignore[no-untyped-def]
    """``(address, name)`` of ``n`` recipients, generated on the fly."""
    for i in range(n):
        yield f"{prefix}{i}@example.org", f"Person {i}"


def outbound(n: int, builder):  # type: ignore[no-untyped-def]
    from sentinelle.notify.model import Outbound

    for addr, name in people(n):
        recipient = hmac.new(KEY, addr.encode(), hashlib.sha256).hexdigest()
        yield Outbound(recipient, addr, functools.partial(builder, addr, name))


def start_sink(out: Path) -> tuple[subprocess.Popen[str], int]:
    sink = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "smtpsink.py"), "--out", str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None
    return sink, int(sink.stdout.readline().split()[1])


def received(out: Path) -> int:
    with out.open("rb") as f:
        return sum(1 for _ in f)


def run_sentinelle(args: argparse.Namespace, work: Path, port: int) -> dict[str, float]:
    from sentinelle.config import Settings
    from sentinelle.notify.delivery import DkimConfig, SmtpConfig, TlsMode, deliver
    from sentinelle.store import open_store

    dkim = None
    if args.dkim:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (work / "dkim.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        dkim = DkimConfig(selector="notify", domain="sentinelle.test", key_file=work / "dkim.pem")
    store = open_store(Settings(_env_file=None, data_dir=work / "data"))
    smtp = SmtpConfig(
        host="127.0.0.1", port=port, sender=SENDER, tls=TlsMode.NONE, helo="bench.test", dkim=dkim
    )
    n = args.notices
    marks = {n * q // 4: q * 25 for q in (1, 2, 3, 4)}
    memory: list[tuple[int, float, float, int]] = []

    def progress(p) -> None:  # type: ignore[no-untyped-def]
        done = p.sent + p.failed + p.deferred
        if done in marks and len(memory) < 4 and (not memory or memory[-1][0] != marks[done]):
            memory.append((marks[done], _rss_mb(), _peak_mb(), sys.getallocatedblocks()))

    start_mb, start_blocks = _rss_mb(), sys.getallocatedblocks()
    cpu, started = _cpu(), time.perf_counter()
    report = deliver(
        store,
        incident="inc-bench",
        audience="subjects",
        version=1,
        outbound=outbound(n, BUILDERS[args.builder]),
        smtp=smtp,
        rate=None,
        concurrency=args.concurrency,
        progress=progress,
        batch=args.batch,
    )
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    store.close()
    db_mb = sum(p.stat().st_size for p in (work / "data").glob("*.db*")) / (1 << 20)
    print(f"  report: {report.to_dict()}")
    print(f"  RSS before: {start_mb:.1f} MiB; Python objects: {start_blocks:,} blocks")
    for pct, rss, peak, blocks in memory:
        print(
            f"  RSS at {pct:3d} %: {rss:6.1f} MiB (peak {peak:6.1f} MiB); "
            f"Python objects: {blocks:,} blocks"
        )
    print(f"  SQLite database: {db_mb:.1f} MiB (its page cache is capped at 64 MiB)")
    return {"sent": report.sent, "seconds": seconds, "cpu": cpu}


def run_baseline(n: int, port: int, builder) -> dict[str, float]:  # type: ignore[no-untyped-def]
    cpu, started = _cpu(), time.perf_counter()
    client = smtplib.SMTP("127.0.0.1", port, local_hostname="bench.test")
    for i, (addr, name) in enumerate(people(n, prefix="base")):
        message = build(addr, name, f"<base{i}@sentinelle.test>")
        client.sendmail(
            SENDER, [addr], message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        )
    client.quit()
    return {"sent": n, "seconds": time.perf_counter() - started, "cpu": _cpu() - cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notices", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--dkim", action="store_true", help="DKIM-sign (RSA 2048)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--builder",
        choices=sorted(BUILDERS),
        default="template",
        help="template: MIME text formatted and parsed back (default); api: EmailMessage "
        "set_content/add_alternative; mime: email.mime classes (compat32). The email package's "
        "modern API costs ~2 ms a message on its own",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sentinelle-notify-") as tmp:
        work = Path(tmp)
        out = work / "received.jsonl"
        sink, port = start_sink(out)
        try:
            print(
                f"Sentinelle deliver: {args.notices:,} notices, concurrency {args.concurrency}, "
                f"builder {args.builder}{', DKIM' if args.dkim else ''}"
            )
            ours = run_sentinelle(args, work, port)
            got = received(out)
            print(
                f"  {ours['sent'] / ours['seconds']:,.0f} notices/s "
                f"({ours['seconds']:.1f} s, CPU {ours['cpu']:.1f} s); sink received {got:,}"
            )
            if not args.no_baseline:
                print(f"baseline smtplib, one connection, no tracking: {args.notices:,} messages")
                base = run_baseline(args.notices, port, BUILDERS[args.builder])
                got = received(out) - got
                print(
                    f"  {base['sent'] / base['seconds']:,.0f} messages/s "
                    f"({base['seconds']:.1f} s, CPU {base['cpu']:.1f} s); sink received {got:,}"
                )
                ratio = base["seconds"] / ours["seconds"]
                print(f"Sentinelle / baseline throughput: {ratio:.2f}x")
        finally:
            sink.terminate()
            sink.wait(10)
    rate = ours["sent"] / ours["seconds"]
    verdict = "meets" if rate >= GOAL_RATE else "BELOW"
    print(f"goal {GOAL_RATE:,} notices/s: {verdict} ({rate:,.0f})")


if __name__ == "__main__":
    main()
