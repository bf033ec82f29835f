"""Shared helpers of the end-to-end CLI tests: the console script and running it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT = 60


@dataclass(frozen=True, slots=True)
class Run:
    """What one command did."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return (
            f"sentinelle {' '.join(self.args)} -> exit {self.code}\n"
            f"--- stdout\n{self.out}--- stderr\n{self.err}"
        )

    def ok(self) -> Run:
        assert self.code == 0, str(self)
        return self

    def fails(self, code: int = 1) -> Run:
        """Exit ``code`` with a diagnosis on stderr and no traceback."""
        assert self.code == code, str(self)
        assert self.err.strip(), str(self)
        assert "Traceback" not in self.err, str(self)
        return self

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.ok().out.splitlines()]


def console_script() -> str:
    """The installed ``sentinelle`` script (beside this Python first)."""
    beside = Path(sys.executable).parent / "sentinelle"
    if beside.exists():
        return str(beside)
    found = shutil.which("sentinelle")
    assert found, "the sentinelle console script is not installed (pip install -e '.[dev]')"
    return found


#: At most so many commands run at once: each is a Python start-up, and dozens at once on a
#: busy 2-core host made some wait past their timeout.
SIDE_BY_SIDE = 8


def run_many(
    commands: Sequence[Sequence[str]], *, env: dict[str, str], cwd: Path
) -> list[tuple[tuple[str, ...], int, str, str]]:
    """Run independent commands side by side, :data:`SIDE_BY_SIDE` at a time (the suites are
    mostly process start-up).

    Returns ``(args, exit code, stdout, stderr)`` per command; kills stragglers.
    """
    results = []
    for i in range(0, len(commands), SIDE_BY_SIDE):
        results.extend(_side_by_side(commands[i : i + SIDE_BY_SIDE], env=env, cwd=cwd))
    return results


def _side_by_side(
    commands: Sequence[Sequence[str]], *, env: dict[str, str], cwd: Path
) -> list[tuple[tuple[str, ...], int, str, str]]:
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
            proc.communicate()  # reaps it and closes its pipes (else: ResourceWarnings later)
    return results


def run_script(
    env: dict[str, str], *args: str, code: int = 0, timeout: float = TIMEOUT * 3
) -> subprocess.CompletedProcess[str]:
    """Run the console script with ``env``; assert it exits ``code`` without a traceback."""
    proc = subprocess.run(
        [console_script(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc
