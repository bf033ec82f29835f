"""``sentinelle assess FACTS.json``: severity and notification duties for one breach."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from sentinelle.assess import assess as assess_facts
from sentinelle.cli.app import cli_group
from sentinelle.errors import ValidationError


@cli_group.command()
@click.argument(
    "facts_file", metavar="FACTS.json", type=click.Path(dir_okay=False, allow_dash=True)
)
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@click.option(
    "--now",
    "now_text",
    metavar="TIME",
    help="Assess as of this RFC 3339 time (default: the current time); decides lateness.",
)
def assess(facts_file: str, as_json: bool, now_text: str | None) -> None:
    """Assess a personal-data breach from FACTS.json (incident-facts schema; - for stdin).

    Prints the ENISA severity, whether the supervisory authority must be notified (GDPR
    Art. 33) and by when, whether the people concerned must be told (Art. 34), the reasons,
    and the assumptions made for facts not given. Invalid facts are refused with the path
    of the field at fault.
    """
    now = _parse_now(now_text)
    raw = _read(facts_file)
    try:
        result = assess_facts(raw, now=now)
    except ValidationError as exc:
        # One line naming the field, not the batch-oriented multi-line diagnostics.
        problem = exc.problems[0]
        raise click.ClickException(
            f"{facts_file}: facts refused: {problem.path}: {problem.message}"
        ) from None
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    click.echo(_text(result))


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise click.FileError(path, hint=exc.strerror or str(exc)) from None


def _parse_now(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        now = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("not an RFC 3339 time", param_hint="--now") from None
    if now.tzinfo is None:
        raise click.BadParameter("needs a UTC offset, e.g. 2026-02-03T10:00Z", param_hint="--now")
    return now


def _text(r: dict[str, Any]) -> str:
    sev, sa, ds = r["severity"], r["notify_authority"], r["notify_subjects"]
    lines = [
        f"severity: {sev['level'].replace('_', ' ')} (SE = DPC {sev['dpc']} × EI {sev['ei']:g}"
        f" + CB {sev['cb']:g} = {sev['score']:g}, ENISA 2013)",
        "",
        "notify the supervisory authority: "
        + ("YES" if sa["required"] else "no")
        + (f", by {sa['deadline']}" if sa["required"] else "")
        + (" (LATE)" if sa["late"] else ""),
        *[f"  - {reason}" for reason in sa["reasons"]],
        "",
        "tell the people concerned: "
        + ("YES" if ds["required"] else "no")
        + (f" (exemption: {ds['exemption']})" if ds["exemption"] else "")
        + ("; make a public communication instead" if ds["public_communication"] else ""),
        *[f"  - {reason}" for reason in ds["reasons"]],
        "",
        "document the breach in the register: yes (always, Art. 33(5))",
    ]
    if r["assumptions"]:
        lines += ["", "assumptions:"]
        lines += [f"  - {a['field']}: {a['statement']}" for a in r["assumptions"]]
    return "\n".join(lines)
