"""Every benchmark under ``benchmarks/`` still runs, at a tiny size.

Benchmarks are not tests: nothing here looks at a timing. But a benchmark that no longer runs
is a README figure nobody can reproduce: three of them had broken silently when the code they
drive moved (``transparency.py``, ``notify.py``, ``triage.py``). Each is run as ``make bench``
runs it, in a process of its own, with arguments that keep it to seconds, and must exit 0 and
print the line its figures are in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# (script, tiny arguments, a piece of the figures' line it prints)
RUNS = [
    ("activity.py", ["--events", "2000", "--repeat", "1"], "risk_list"),
    (
        "api_reads.py",
        ["--events", "2000", "--merchants", "50", "--alerts", "20", "--requests", "5"],
        "accesses + proofs",
    ),
    ("cli_start.py", ["--runs", "1"], "sentinelle ingest --help"),
    ("guard.py", ["--decisions", "200", "--grants", "100"], "decisions/s"),
    ("ingest.py", ["--events", "2000", "--repeat", "1", "--no-postgres"], "`ledger verify`"),
    ("ingest_detect.py", ["--events", "5000", "--rounds", "1"], "alerts, beside vs after"),
    (
        "ledger.py",
        ["--sizes", "1000", "--proofs", "10", "--pages", "1", "--no-postgres"],
        "| SQLite | 1,000 |",
    ),
    ("notify.py", ["--notices", "10"], "Sentinelle deliver / baseline throughput"),
    ("otlp.py", ["--records", "512", "--rounds", "1"], "reading OTLP protobuf alone"),
    ("outbound.py", ["--alerts", "10", "--incidents", "2"], "due-check"),
    ("scope.py", ["--events", "2000", "--repeat", "1", "--no-postgres"], "unjustified only"),
    (
        "transparency.py",
        [
            "--ingest-events",
            "2000",
            "--repeat",
            "1",
            "--no-postgres",
            "--events",
            "2000",
            "--samples",
            "10",
            "--merchants",
            "1000",
            "--scale-batch",
            "500",
        ],  # fmt: skip
        "merchant slice answer",
    ),
    ("verify_slices.py", ["--events", "2000", "--merchants", "100", "--repeat", "1"], "added:"),
    ("witness.py", ["--checkpoints", "5"], "cosignatures/s"),
    (
        "detect.py",
        ["--seeds", "1", "--sizes", "small", "--profiles", "shop", "--workers", "1"],
        "events through detection",
    ),
    (
        "triage.py",
        ["--seeds", "1", "--sizes", "small", "--profiles", "shop", "--workers", "1"],
        "| shop / small | analyst |",
    ),
]


def test_every_benchmark_is_listed() -> None:
    scripts = {p.name for p in (REPO / "benchmarks").glob("*.py") if not p.name.startswith("_")}
    assert scripts == {script for script, _, _ in RUNS}


@pytest.mark.parametrize(("script", "args", "figures"), RUNS, ids=[r[0] for r in RUNS])
def test_benchmark_runs(script: str, args: list[str], figures: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DETECT_BENCH_CACHE"}
    env["TMPDIR"] = str(tmp_path)  # whatever a run leaves behind goes with the test
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert figures in done.stdout, done.stdout[-3000:]
