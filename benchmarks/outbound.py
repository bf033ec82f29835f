"""Outbound delivery throughput: alerts sent exactly once to a JSON webhook, a TCP syslog server
and an SMTP relay, through the product path (``sentinelle.connectors.outbound.deliver_due``).

``--alerts`` high alerts (500 by default) are stored in a fresh SQLite store (temporary data
dir) and queued for the destinations of each run, as live detection queues them; then
``deliver_due`` sends them: each row claimed ``sending`` under the write lock (10 per claim),
sent, and recorded ``delivered`` in its own transaction. The receivers are the tests' real
loopback ones (``tests/outbound_receivers.py``, ``tests/smtpsink.py``) in threads of this
process, so their work is counted in the time too: an HTTP server answering 200 to every POST
(a signed OCSF body each), a syslog server splitting the octet-counted RFC 5424 frames, and
aiosmtpd accepting every message. Each run checks that every message arrived once.

Runs: each destination alone, then all three at once (``--alerts`` × 3 messages). Prints
messages/s per run. ``--incidents N`` times the 72-hour due-check instead
(``outbound.queue_deadlines``, run after every events batch): N incidents assessed, aware
from 0 to 79 hours ago (a fifth notified, a seventh closed), then the best of 7 checks that
find nothing new, the usual case. Run::

    .venv/bin/python benchmarks/outbound.py
    .venv/bin/python benchmarks/outbound.py --alerts 2000
    .venv/bin/python benchmarks/outbound.py --incidents 300
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from outbound_receivers import HttpReceiver, SyslogReceiver  # noqa: E402
from sentinelle.config import Settings  # noqa: E402
from sentinelle.connectors import outbound  # noqa: E402
from sentinelle.detect import Alert, Severity  # noqa: E402
from sentinelle.detect.runner import alert_row  # noqa: E402
from sentinelle.store import open_store  # noqa: E402
from smtpsink import SmtpSink  # noqa: E402

SECRET = "benchmark-outbound-key-0123456789"
T0 = 1_790_000_000 * 10**6


def alerts(n: int) -> list[Alert]:
    return [
        Alert(
            id=f"al-{i:06d}",
            actor=f"agent-{i % 40}",
            detector="unjustified_access",
            time_us=T0 + i * 10**6,
            last_us=T0 + i * 10**6,
            severity=Severity.HIGH,
            score=80.0,
            merchants=[f"m-{i % 7}", f"m-{(i + 3) % 7}"],
            events=[f"e-{i}"],
            reasons=[f"agent-{i % 40} listed customers of 2 merchants without a ticket."],
        )
        for i in range(n)
    ]


def run(name: str, n: int, changes: dict[str, Any], arrived: Callable[[], int]) -> float:
    """Queue ``n`` alerts for the destinations of ``changes`` in a fresh store, deliver them,
    check they arrived, and return messages/s."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            _env_file=None, data_dir=Path(folder), alert_webhook_secret=SECRET, **changes
        )
        names = outbound.Destinations.from_settings(settings).names
        found = alerts(n)
        with open_store(settings) as store:
            with store.writer() as w:
                w.upsert_alerts([alert_row(a) for a in found])
                outbound.queue(w, settings, found, now_us=T0)
            before = arrived()
            start = time.perf_counter()
            done = outbound.deliver_due(store, settings, T0 + 10**6)
            seconds = time.perf_counter() - start
        total = n * len(names)
        if done != outbound.Delivered(delivered=total):
            raise SystemExit(f"{name}: {done} for {total} messages")
        deadline = time.monotonic() + 30
        while arrived() - before < total and time.monotonic() < deadline:
            time.sleep(0.01)
        if arrived() - before != total:
            raise SystemExit(f"{name}: {arrived() - before} of {total} messages arrived")
        rate = total / seconds
        print(f"{name:32} {total:6,} messages in {seconds:6.2f} s: {rate:8,.0f} messages/s")
        return rate


def due_check(n: int) -> None:
    """Time the deadline due-check over ``n`` incidents (see the module docstring)."""
    from sentinelle.response import ResponseEngine
    from sentinelle.timeutil import HOUR, iso

    facts = {
        "breach_types": ["confidentiality"],
        "data_categories": ["contact"],
        "subjects": {"count": 12, "approximate": True},
        "records": 30,
    }
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            _env_file=None, data_dir=Path(folder), alert_syslog="siem=udp://127.0.0.1:9"
        )
        with open_store(settings) as store:
            engine = ResponseEngine(store)
            for i in range(n):
                incident = engine.open(title=f"i{i}", by="dpo", actors=["a"], from_us=0).id
                aware = T0 - (i % 80) * HOUR
                given = {**facts, "aware_at": iso(aware)}
                engine.assess(incident, by="dpo", given=given, now=aware + 1)
                if i % 5 == 0:
                    engine.record_phase(incident, "initial", by="dpo", sent_us=aware + HOUR)
                elif i % 7 == 0:
                    engine.advance(incident, "notifying", by="dpo", reason="benchmark")
                    engine.advance(incident, "closed", by="dpo", reason="benchmark")
            queued = outbound.queue_deadlines(store, settings, now_us=T0)
            best = float("inf")
            for _ in range(7):
                start = time.perf_counter()
                outbound.queue_deadlines(store, settings, now_us=T0)
                best = min(best, time.perf_counter() - start)
    print(f"due-check over {n:,} incidents ({queued} warnings due): best {best * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=500, help="alerts to deliver per run")
    parser.add_argument("--incidents", type=int, help="time the deadline due-check instead")
    args = parser.parse_args()
    if args.incidents is not None:
        due_check(args.incidents)
        return
    n = args.alerts
    hook = HttpReceiver(keep=False).start()
    syslog = SyslogReceiver("tcp").start()
    sink = SmtpSink(keep_data=False, keep_messages=False).start()
    try:
        webhook = {"alert_webhooks": f"soc={hook.url()}"}
        tcp = {"alert_syslog": f"siem={syslog.url}"}
        mail = {
            "alert_emails": "soc-mail=soc@shop.example",
            "notify_from": "alerts@shop.example",
            "smtp": f"127.0.0.1:{sink.port}",
        }
        run("webhook (signed OCSF JSON)", n, webhook, lambda: hook.count)
        run("syslog TCP (RFC 5424, RFC 6587)", n, tcp, lambda: len(syslog.frames))
        run("e-mail (SMTP, one session)", n, mail, lambda: sink.count)
        run(
            "all three",
            n,
            {**webhook, **tcp, **mail},
            lambda: hook.count + len(syslog.frames) + sink.count,
        )
    finally:
        sink.stop()
        syslog.close()
        hook.close()


if __name__ == "__main__":
    main()
