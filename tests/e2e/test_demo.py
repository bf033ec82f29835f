"""`sentinelle demo` runs end to end and finds the insiders it hides."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_demo_finds_the_pair_harvest(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "sentinelle"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLE_")}
    env["SENTINELLE_DATA_DIR"] = str(tmp_path / "data")
    run = subprocess.run(
        [str(exe), "demo", "--merchants", "300", "--agents", "40", "--days", "24"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "Traceback" not in run.stderr
    found = re.search(r"medium-or-higher alerts: (\d+), (\d+) of them on the two insiders", out)
    assert found, out
    assert int(found.group(2)) >= 1
    assert "verified the ledger" in out
    assert re.search(r"inclusion proof of the alert's event evt-\d+: leaf \d+", out)
    assert (tmp_path / "data" / "demo" / "truth.json").is_file()
    assert re.search(r"incident inc-\S+ for agent-\d+ and agent-\d+", out)
    assert "authority: must be notified" in out
    assert "72-hour deadline for the authority: " in out
    notices = re.search(r"notices \(dry run, nothing sent\): ([\d,]+) customers", out)
    assert notices and int(notices.group(1).replace(",", "")) > 0, out
    sample = tmp_path / "data" / "demo" / "notices" / "subjects-fr.html"
    assert f"read one: {sample}" in out
    assert "<html" in sample.read_text(encoding="utf-8")
