"""Start-up of the ``sentinelle`` command: what a cron job or a script pays per run.

Each command's modules are loaded when it is asked for (``sentinelle.cli.app.COMMANDS``).
Measured alternately in fresh interpreters, ``--runs`` times each, median and best: a command
as shipped, and the same command after loading every command module first (what every run
paid before). Commands: ``--version``, ``ingest --help``, and ``ingest --no-detect`` of a file
of 100 simulated events into a fresh SQLite store.

    .venv/bin/python benchmarks/cli_start.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sentinelle.sim import generate_events  # noqa: E402

_RUN = (
    "import sys\n"
    "if sys.argv[1] == 'all':\n"
    "    import importlib, pkgutil, sentinelle.cli\n"
    "    for m in pkgutil.iter_modules(sentinelle.cli.__path__):\n"
    "        importlib.import_module('sentinelle.cli.' + m.name)\n"
    "from sentinelle.cli import main\n"
    "main(sys.argv[2:])\n"
)


def _once(mode: str, args: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", _RUN, mode, *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return (time.perf_counter() - t) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "events.jsonl"
        events.write_text(
            "".join(json.dumps(e) + "\n" for e in list(generate_events(events=100, seed=1))[:100])
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
        env["PYTHONPATH"] = str(REPO / "src")
        cases = {
            "--version": ["--version"],
            "ingest --help": ["ingest", "--help"],
            "ingest --no-detect (100 events, new store)": ["ingest", "--no-detect", str(events)],
        }
        rows = []
        for label, args in cases.items():
            times: dict[str, list[float]] = {"lazy": [], "all": []}
            for i in range(opts.runs):
                for mode in ("lazy", "all"):
                    run_env = dict(env, SENTINELLE_DATA_DIR=str(Path(tmp) / f"d-{mode}-{i}"))
                    times[mode].append(_once(mode, args, run_env))
            lazy, eager = statistics.median(times["lazy"]), statistics.median(times["all"])
            rows.append(
                f"| sentinelle {label} | {lazy:.0f} ms (best {min(times['lazy']):.0f}) | "
                f"{eager:.0f} ms (best {min(times['all']):.0f}) | {eager / lazy:.2f}x |"
            )
    print("| command | as shipped (median) | every command module loaded first | ratio |")
    print("|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
