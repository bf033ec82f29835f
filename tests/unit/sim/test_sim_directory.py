"""The synthetic contact directory written beside a simulation (``--directory``)."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from sentinelle.cli.app import cli_group
from sentinelle.sim import simulate
from sentinelle.sim.directory import COLUMNS

SIZE = {"merchants": 120, "agents": 20, "days": 22, "seed": 4}


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        return list(reader)


def test_directory_covers_every_subject_of_the_events(tmp_path: Path) -> None:
    sim = simulate(**SIZE, scenarios="pair_harvest")
    customers_file, merchants_file = sim.write_directory(tmp_path)
    customers, merchants = _read(customers_file), _read(merchants_file)

    known = {(r["merchant"], r["subject"]) for r in customers}
    accesses = [e for e in sim.events() if "action" in e]
    seen = {(e["merchant"], s) for e in accesses for s in e.get("subjects", ())}
    assert seen and seen <= known
    assert {e["merchant"] for e in accesses} <= {r["subject"] for r in merchants}
    assert all(r["merchant"] == "" for r in merchants)
    # Reserved domains only (RFC 2606), and several languages.
    assert {r["email"].rsplit("@", 1)[1] for r in customers} == {"example.com"}
    assert {r["email"].rsplit("@", 1)[1] for r in merchants} == {"example.org"}
    assert len({r["locale"] for r in customers}) >= 5
    assert all(r["name"] for r in customers + merchants)


def test_some_people_are_customers_of_several_shops(tmp_path: Path) -> None:
    customers = _read(simulate(**SIZE).write_directory(tmp_path)[0])
    by_address = Counter(r["email"] for r in customers)
    shared = [a for a, n in by_address.items() if n > 1]
    assert shared
    for address in shared[:20]:
        rows = [r for r in customers if r["email"] == address]
        assert len({r["merchant"] for r in rows}) == len(rows)  # one row per shop
        assert len({(r["name"], r["locale"]) for r in rows}) == 1  # one person


def test_writing_the_directory_leaves_the_events_unchanged(tmp_path: Path) -> None:
    before = hashlib.sha256(b"".join(simulate(**SIZE).lines())).hexdigest()
    sim = simulate(**SIZE)
    sim.write_directory(tmp_path / "a")
    assert hashlib.sha256(b"".join(sim.lines())).hexdigest() == before
    sim.write_directory(tmp_path / "b")
    for name in ("customers.csv", "merchants.csv"):  # deterministic
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_cli_writes_the_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli_group,
        [
            "simulate", "--merchants", "30", "--agents", "20", "--days", "3",
            "--out", str(tmp_path / "events.jsonl"), "--directory", str(tmp_path / "dir"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "contact directory" in result.stderr
    assert len(_read(tmp_path / "dir" / "merchants.csv")) == 30
