"""Shared helpers of the end-to-end CLI tests: the console script and running it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

TIMEOUT = 60


def console_script() -> str:
    """The installed ``sentinelle`` script (beside this Python first)."""
    beside = Path(sys.executable).parent / "sentinelle"
    if beside.exists():
        return str(beside)
    found = shutil.which("sentinelle")
    assert found, "the sentinelle console script is not installed (pip install -e '.[dev]')"
    return found


def run_many(
    commands: Sequence[Sequence[str]], *, env: dict[str, str], cwd: Path
) -> list[tuple[tuple[str, ...], int, str, str]]:
    """Run independent commands side by side (the suites are mostly process start-up).

    Returns ``(args, exit code, stdout, stderr)`` per command; kills stragglers.
    """
    script = console_script()
    procs = [
        subprocess.Popen(
            [script, *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        for command in commands
    ]
    results = []
    try:
        for command, proc in zip(commands, procs, strict=True):
            out, err = proc.communicate(timeout=TIMEOUT)
            results.append((tuple(command), proc.returncode, out.decode(), err.decode()))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results
