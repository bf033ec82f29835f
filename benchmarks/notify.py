"""Notice delivery throughput and memory: the real notice path against plain ``smtplib``.

Sends one personalised breach notice to each of ``--notices`` data subjects (100,000 by
default) through a loopback SMTP server, aiosmtpd in a process of its own
(``tests/smtpsink.py``, which appends one JSON line per message it accepts), two ways:

* **Sentinelle**, the product path end to end: a contact directory CSV is written to a
  temporary folder (``--notices`` people, locales mixed: ``en``, ``en_GB``, ``fr``, ``fr_CA``
  and ``de_DE``/``es_ES``/``it_IT``/``nl_NL``, which fall back to English; names ASCII and
  not, some empty; about 12 % of the people are customers of two or three of the eight
  affected stores, under a different customer id at each, and get one notice naming them
  all). ``open_directory`` checks it, ``plan_notices`` plans the subjects' notices, and
  ``deliver`` sends them into a fresh SQLite store (temporary data dir): every notice
  recorded ``pending``, marked ``sending`` before DATA and ``sent`` after the 250, over
  ``--concurrency`` reused connections. Each message is rendered by ``Outbound.build_bytes``
  when sent; the outbound records are streamed from the directory, so memory must stay flat:
  the resident set (current and peak) is printed at 25, 50, 75 and 100 % of the notices.
* **baseline**: one real notice, rendered once, sent as pre-built bytes to as many
  addresses with ``smtplib`` over one connection, nothing recorded.

The incident and its scope are built directly (``Incident``, ``Scope`` and ``MerchantScope``
objects whose customer ids are the directory's), not computed from simulated access events:
the scope computation is not what is measured here, and its result is all notices need.

The sink's count of messages is checked against what was sent. ``--dkim`` signs every notice
(RSA 2048, dkimpy) in the Sentinelle run. The goal (issue): at least 1,000 notices/s on two
cores, the sink taking one. Run::

    .venv/bin/python benchmarks/notify.py                     # 100,000 notices
    .venv/bin/python benchmarks/notify.py --notices 20000 --concurrency 16
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import resource
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

GOAL_RATE = 1_000  # notices/s
SENDER = "notices@mail.marche-vert.example"
KEY = b"benchmark-contact-key-0123456789"
STORES = {f"m-{i:02d}": name for i, name in enumerate(
    ["Boutique Lune", "Atelier Soleil", "Épicerie Fine", "Café Nord", "Jardin d'Été",
     "Papeterie Rive", "Maison Bleue", "Vélo Sud"], start=1)}  # fmt: skip
LOCALES = ["en", "en_GB", "fr", "fr_CA", "de_DE", "es_ES", "it_IT", "nl_NL"]
FIRST = ["Alex", "Camille", "Zoë", "Łukasz", "Anne-Marie", "José", "Ørjan", "Mei", "Seán",
         "Chloé", "Jürgen", "O'Neil", "Ana", "Noé", "Ines", "Björn", "Priya", "Tomás"]  # fmt: skip
LAST = ["Martin", "Ørsted", "Wiśniewski", "Dubois", "Müller", "García", "Nguyễn", "Smith",
        "Lefèvre", "Kowalski", "Rossi", "de la Cruz", "Bernard", "Søndergaard"]  # fmt: skip
T0 = int(dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC).timestamp()) * 1_000_000
T1 = int(dt.datetime(2026, 11, 23, 17, tzinfo=dt.UTC).timestamp()) * 1_000_000


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


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the data --------------------------------------------------------------------------------


def write_directory(path: Path, n: int, seed: int = 7) -> dict[str, set[str]]:
    """Write ``n`` people's contact rows; return each store's customer ids (the scope)."""
    rng = random.Random(seed)
    stores = list(STORES)
    customers: dict[str, set[str]] = {m: set() for m in stores}
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["subject", "merchant", "email", "name", "locale"])
        for i in range(n):
            roll = rng.random()
            k = 3 if roll < 0.02 else 2 if roll < 0.12 else 1
            name = "" if rng.random() < 0.05 else f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            locale = rng.choice(LOCALES)
            for j, store in enumerate(rng.sample(stores, k)):
                subject = f"c-{i}-{j}"  # a person has a different customer id at each store
                customers[store].add(subject)
                out.writerow([subject, store, f"person{i}@example.org", name, locale])
    return customers


def make_incident(customers: dict[str, set[str]]) -> tuple[Any, Any]:
    """The incident and its scope, built directly (see the module docstring)."""
    from sentinelle.assess import evaluate, parse_facts
    from sentinelle.incidents.model import Incident, State
    from sentinelle.incidents.scope import MerchantScope, Scope

    facts = parse_facts(
        {
            "aware_at": "2026-11-24T09:00:00Z",
            "breach_types": ["confidentiality"],
            "data_categories": ["contact", "order_details", "address"],
            "cause": {"source": "internal", "kind": "insider_abuse", "intent": "malicious"},
            "recipients": "unknown",
            "period": {"start": "2026-11-20T08:00:00Z", "end": "2026-11-23T17:00:00Z"},
            "mitigations": ["The agent's access was revoked on 24 November."],
        }
    )
    incident = Incident(
        id="inc-bench",
        title="An agent browsed customer orders",
        state=State.NOTIFYING,
        actors=("agent-42",),
        from_us=T0,
        to_us=T1,
        created_us=T1,
        created_by="dpo",
        facts=facts,
        # assessed an hour after awareness, as a DPO would (the duties are the notices' input)
        assessment=evaluate(facts, now=facts.aware_at + dt.timedelta(hours=1)),
    )
    scope = Scope(
        incident=incident.id,
        actors=incident.actors,
        from_us=T0,
        to_us=T1,
        unjustified_only=False,
    )
    for i, (store, ids) in enumerate(sorted(customers.items())):
        categories = {"contact", "order_details"} | ({"address"} if i % 2 else set())
        scope.per_merchant[store] = MerchantScope(
            store, set(ids), records=3 * len(ids), categories=categories, first_us=T0, last_us=T1
        )
    return incident, scope


def notice_config() -> Any:
    from sentinelle.notify.render import NoticeConfig

    return NoticeConfig(
        shop_name="Marché Vert",
        shop_domain="marche-vert.example",
        dpo_contact="dpo@marche-vert.example",
        sender=f"Marché Vert <{SENDER}>",
        merchant_names=STORES,
    )


# --- the runs --------------------------------------------------------------------------------


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


def dkim_config(work: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from sentinelle.notify.delivery import DkimConfig

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (work / "dkim.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return DkimConfig(selector="notify", domain="marche-vert.example", key_file=work / "dkim.pem")


def run_sentinelle(
    args: argparse.Namespace, work: Path, port: int, sink_pid: int
) -> dict[str, float]:
    from sentinelle.config import Settings
    from sentinelle.notify.delivery import SmtpConfig, TlsMode, deliver
    from sentinelle.notify.directory import open_directory
    from sentinelle.notify.model import Audience
    from sentinelle.notify.render import plan_notices
    from sentinelle.store import open_store

    n = args.notices
    started = time.perf_counter()
    customers = write_directory(work / "contacts.csv", n)
    incident, scope = make_incident(customers)
    del customers
    rows = sum(len(m.subject_ids) for m in scope.per_merchant.values())
    print(f"  directory: {rows:,} rows for {n:,} people, {len(STORES)} stores "
          f"({time.perf_counter() - started:.1f} s to write)")  # fmt: skip

    cpu0, t0 = _cpu(), time.perf_counter()
    directory = open_directory(str(work / "contacts.csv"))
    t1 = time.perf_counter()
    plan = plan_notices(
        notice_config(), incident, scope, audience=Audience.SUBJECTS, key=KEY, directory=directory
    )
    t2 = time.perf_counter()
    plan_cpu = _cpu() - cpu0
    print(
        f"  open_directory (checks the file) {t1 - t0:.1f} s, plan_notices {t2 - t1:.1f} s: "
        f"{plan.recipients:,} recipients, {len(plan.missing)} missing"
    )

    store = open_store(Settings(_env_file=None, data_dir=work / "data"))
    smtp = SmtpConfig(
        host="127.0.0.1",
        port=port,
        sender=SENDER,
        tls=TlsMode.NONE,
        helo="bench.test",
        dkim=dkim_config(work) if args.dkim else None,
    )
    marks = {plan.recipients * q // 4: q * 25 for q in (1, 2, 3, 4)}
    memory: list[tuple[int, float, float, int]] = []

    def progress(p: Any) -> None:
        done = p.sent + p.failed + p.deferred
        if done in marks and len(memory) < 4 and (not memory or memory[-1][0] != marks[done]):
            memory.append((marks[done], _rss_mb(), _peak_mb(), sys.getallocatedblocks()))

    start_mb, start_blocks = _rss_mb(), sys.getallocatedblocks()
    sink_cpu, cpu, started = _cpu_of(sink_pid), _cpu(), time.perf_counter()
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    report = deliver(
        store,
        incident=incident.id,
        audience=Audience.SUBJECTS.value,
        version=1,
        outbound=plan,
        smtp=smtp,
        rate=None,
        concurrency=args.concurrency,
        progress=progress,
        batch=args.batch,
    )
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    sink_cpu = _cpu_of(sink_pid) - sink_cpu
    if args.profile:
        import pstats

        profiler.disable()
        profiler.dump_stats(args.profile)
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)
    store.close()
    db_mb = sum(p.stat().st_size for p in (work / "data").glob("*.db*")) / (1 << 20)
    print(f"  report: {report.to_dict()}")
    print(f"  RSS before deliver: {start_mb:.1f} MiB; Python objects: {start_blocks:,} blocks")
    for pct, rss, peak, blocks in memory:
        print(
            f"  RSS at {pct:3d} %: {rss:6.1f} MiB (peak {peak:6.1f} MiB); "
            f"Python objects: {blocks:,} blocks"
        )
    print(f"  SQLite database: {db_mb:.1f} MiB")
    return {
        "sent": report.sent,
        "seconds": seconds,
        "cpu": cpu,
        "sink_cpu": sink_cpu,
        "plan_seconds": t2 - t0,
        "plan_cpu": plan_cpu,
    }


def sample_bytes() -> bytes:
    """One real notice (the benchmark's first person), rendered once."""
    from sentinelle.notify.model import Audience
    from sentinelle.notify.render import _Renderer

    customers = {m: {f"c-0-{i}"} for i, m in enumerate(STORES)}
    incident, scope = make_incident(customers)
    renderer = _Renderer(notice_config(), incident, scope)
    return renderer.message_bytes(
        Audience.SUBJECTS,
        "fr",
        shops=("m-01", "m-02"),
        to="base0@example.org",
        name="Zoë Ørsted",
        message_id="<base@marche-vert.example>",
    )


def run_baseline(n: int, port: int, sink_pid: int) -> dict[str, float]:
    data = sample_bytes()
    sink_cpu, cpu, started = _cpu_of(sink_pid), _cpu(), time.perf_counter()
    client = smtplib.SMTP("127.0.0.1", port, local_hostname="bench.test")
    for i in range(n):
        client.sendmail(SENDER, [f"base{i}@example.org"], data)
    client.quit()
    return {
        "sent": n,
        "seconds": time.perf_counter() - started,
        "cpu": _cpu() - cpu,
        "sink_cpu": _cpu_of(sink_pid) - sink_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notices", type=int, default=100_000, help="people (recipients)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--dkim", action="store_true", help="DKIM-sign (RSA 2048)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the deliver call into FILE")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sentinelle-notify-") as tmp:
        work = Path(tmp)
        out = work / "received.jsonl"
        sink, port = start_sink(out)
        try:
            print(
                f"Sentinelle plan_notices + deliver: {args.notices:,} notices, "
                f"concurrency {args.concurrency}{', DKIM' if args.dkim else ''}"
            )
            ours = run_sentinelle(args, work, port, sink.pid)
            got = received(out)
            rate = ours["sent"] / ours["seconds"]
            print(
                f"  deliver: {rate:,.0f} notices/s ({ours['seconds']:.1f} s; CPU "
                f"{ours['cpu']:.1f} s here, {ours['cpu'] / ours['seconds']:.0%} of a core, "
                f"{ours['cpu'] / ours['sent'] * 1e6:.0f} µs a notice; sink "
                f"{ours['sink_cpu']:.1f} s); sink received {got:,}"
            )
            total = ours["seconds"] + ours["plan_seconds"]
            print(
                f"  with open_directory + plan_notices: {ours['sent'] / total:,.0f} notices/s "
                f"({total:.1f} s, CPU {ours['cpu'] + ours['plan_cpu']:.1f} s)"
            )
            if got != ours["sent"]:
                print(f"  MISMATCH: the sink received {got:,}, deliver sent {ours['sent']:,}")
            if not args.no_baseline:
                print(f"baseline smtplib, one connection, pre-built bytes: {args.notices:,}")
                base = run_baseline(args.notices, port, sink.pid)
                got = received(out) - got
                print(
                    f"  {base['sent'] / base['seconds']:,.0f} messages/s "
                    f"({base['seconds']:.1f} s; CPU {base['cpu']:.1f} s here, sink "
                    f"{base['sink_cpu']:.1f} s); sink received {got:,}"
                )
                ratio = (ours["sent"] / ours["seconds"]) / (base["sent"] / base["seconds"])
                print(f"Sentinelle deliver / baseline throughput: {ratio:.2f}")
        finally:
            sink.terminate()
            sink.wait(10)
    verdict = "meets" if rate >= GOAL_RATE else "BELOW"
    print(f"goal {GOAL_RATE:,} notices/s: {verdict} ({rate:,.0f})")


if __name__ == "__main__":
    main()
