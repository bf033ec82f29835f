"""``sentinelle incident``: open incidents, move them through their states, compute their
scope from the stored events, record the notifications sent to the supervisory authority
(GDPR Art. 33(4)), print the breach register (Art. 33(5)) and the authority report."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from pathlib import Path
from typing import Any

import click

from sentinelle.assess import assess
from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.cli.detect import TIME
from sentinelle.detect import DetectionRunner, Severity
from sentinelle.detect.timeutil import iso
from sentinelle.errors import Error
from sentinelle.incidents import (
    ALERT_LOOKBACK_DAYS,
    Clock,
    Incidents,
    Phase,
    State,
    compute_scope,
    register,
    register_csv,
)
from sentinelle.incidents.facts import facts_from_scope
from sentinelle.incidents.model import AUTHORITY_NOTIFIED
from sentinelle.notify.report import (
    authority_report,
    render_authority_report_html,
    render_authority_report_text,
)
from sentinelle.store.base import now_us

_STATES = click.Choice([s.value for s in State if s is not State.OPEN])
_BY_HELP = "Who makes the change [default: the OS user]."


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "unknown"


@cli_group.group()
def incident() -> None:
    """Incidents: records, scope from the stored events, assessment, notices to the authority,
    merchants and customers, and the breach register."""


@incident.command("open")
@click.option("--title", required=True, help="What happened, in a few words.")
@click.option(
    "--from-alert",
    "alert_id",
    help=f"Start from a stored alert: its actor, and a window from {ALERT_LOOKBACK_DAYS} days "
    "before it to now.",
)
@click.option("--actors", default="", help="Actor ids, comma-separated (added to the alert's).")
@click.option("--from", "from_us", type=TIME, help="Start of the window (included).")
@click.option("--to", "to_us", type=TIME, help="End of the window (included) [default: now].")
@click.option("--by", help=_BY_HELP)
@pass_app
def open_(
    app: App,
    title: str,
    alert_id: str | None,
    actors: str,
    from_us: int | None,
    to_us: int | None,
    by: str | None,
) -> None:
    """Record a new incident and print its id."""
    created = Incidents(app.store).open(
        title=title,
        by=_who(by),
        actors=actors.split(","),
        from_us=from_us,
        to_us=to_us,
        alert_id=alert_id,
    )
    click.echo(created.id)


@incident.command()
@click.argument("incident_id")
@click.argument("state", type=_STATES)
@click.option("--reason", required=True, help="Why: the register keeps the reasoning.")
@click.option("--by", help=_BY_HELP)
@pass_app
def advance(app: App, incident_id: str, state: str, reason: str, by: str | None) -> None:
    """Move INCIDENT_ID to its next STATE (open → assessed → notifying → closed)."""
    moved = Incidents(app.store).advance(incident_id, state, by=_who(by), reason=reason)
    click.echo(f"{moved.id} {moved.state.value}")


@incident.command()
@click.argument("incident_id")
@click.option(
    "--json", "as_json", is_flag=True, help="Print as JSON, with the change log and the clock."
)
@click.option("--now", type=TIME, help="Read the 72-hour clock as of this time [default: now].")
@pass_app
def show(app: App, incident_id: str, as_json: bool, now: int | None) -> None:
    """Print an incident, its 72-hour clock and its change log."""
    book = Incidents(app.store)
    found = book.get(incident_id)
    log = book.log(incident_id)
    clock = Clock.of(found, log, now_us=now if now is not None else now_us())
    if as_json:
        click.echo(
            json.dumps(
                {
                    **found.to_dict(),
                    "clock": clock.to_dict(),
                    "decisions": [e.to_dict() for e in log],
                }
            )
        )
        return
    click.echo(f"{found.id}  {found.state.value}  {found.title}")
    click.echo(f"  actors: {', '.join(found.actors)}")
    click.echo(f"  window: {iso(found.from_us)} – {iso(found.to_us)}")
    click.echo(f"  72-hour clock: {clock.summary()}")
    for phase in clock.phases:
        click.echo(f"    {_phase_text(phase.to_dict())}")
    for entry in log:
        click.echo(f"  {iso(entry.at_us)}  {entry.by}  {_change_text(entry.change, entry.details)}")


@incident.command("list")
@pass_app
def list_(app: App) -> None:
    """List incidents, oldest first."""
    for found in Incidents(app.store).all():
        click.echo(f"{found.id}  {found.state.value:9}  {found.title}")


@incident.command("register")
@click.option("--json", "as_json", is_flag=True, help="Print as a JSON array.")
@click.option("--csv", "as_csv", is_flag=True, help="Print as CSV, one row per incident.")
@pass_app
def register_(app: App, as_json: bool, as_csv: bool) -> None:
    """Print the breach register (GDPR Article 33(5)): every incident, its facts, decisions and
    the reasoning."""
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    book = Incidents(app.store)
    if as_csv:
        click.echo(register_csv(book), nl=False)
        return
    entries = register(book)
    if as_json:
        click.echo(json.dumps(entries))
        return
    for entry in entries:
        click.echo(f"{entry['id']}  {entry['state']:9}  {entry['title']}")
        click.echo(f"  72-hour clock: {entry['authority_clock']['summary']}")
        for decision in entry["decisions"]:
            click.echo(
                f"  {decision['at']}  {decision['by']}  "
                + _change_text(decision["change"], decision["details"])
            )


@incident.command()
@click.argument("incident_id")
@click.option(
    "--unjustified-only", is_flag=True, help="Count only accesses without a valid ticket or grant."
)
@click.option("--record", is_flag=True, help="Also record the scope in the incident's log.")
@click.option("--by", help=_BY_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def scope(
    app: App,
    incident_id: str,
    unjustified_only: bool,
    record: bool,
    by: str | None,
    as_json: bool,
) -> None:
    """Compute INCIDENT_ID's scope from the stored events of its actors in its window."""
    book = Incidents(app.store)
    found = compute_scope(
        app.store,
        book.get(incident_id),
        unjustified_only=unjustified_only,
    )
    result = found.to_dict()
    if record:
        book.record_scope(
            incident_id, {**result, "unjustified_only": unjustified_only}, by=_who(by)
        )
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(
        f"{result['merchants']} merchants, {result['subjects']} data subjects, "
        f"{result['records']} records; categories: {', '.join(result['categories']) or 'none'}"
    )
    for m in result["per_merchant"]:
        click.echo(
            f"  {m['merchant']}: {m['subjects']} subjects, {m['records']} records, "
            f"{m['justified_events']} justified / {m['unjustified_events']} unjustified, "
            f"{m['first']} – {m['last']}"
        )


@incident.command("assess")
@click.argument("incident_id")
@click.option(
    "--facts",
    "facts_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Facts only people know (JSON, incident-facts schema); they win over the scope's.",
)
@click.option(
    "--aware-at", type=TIME, help="When you became aware [default: facts, or when opened]."
)
@click.option(
    "--unjustified-only", is_flag=True, help="Scope only accesses without ticket or grant."
)
@click.option("--now", type=TIME, help="Judge lateness as of this time [default: now].")
@click.option("--by", help=_BY_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the assessment as JSON.")
@pass_app
def assess_(
    app: App,
    incident_id: str,
    facts_file: Path | None,
    aware_at: int | None,
    unjustified_only: bool,
    now: int | None,
    by: str | None,
    as_json: bool,
) -> None:
    """Assess INCIDENT_ID: facts pre-filled from its scope, severity and GDPR duties.

    The facts and the assessment are stored on the incident and in the register, and an open
    incident moves to 'assessed'.
    """
    book = Incidents(app.store)
    found = book.get(incident_id)
    given: dict[str, Any] = {}
    if facts_file is not None:
        try:
            loaded = json.loads(facts_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise Error(f"cannot read facts from {facts_file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise Error(f"{facts_file}: facts must be a JSON object")
        given = loaded
    scope_ = compute_scope(app.store, found, unjustified_only=unjustified_only)
    aware = aware_at if aware_at is not None else found.created_us
    alerted = any(
        found.from_us <= a.time_us <= found.to_us
        for actor in found.actors
        for a in DetectionRunner(app.store).alerts(actor=actor, min_severity=Severity.MEDIUM)
    )
    facts = facts_from_scope(found, scope_, aware_us=aware, insider_alerts=alerted, given=given)
    moment = dt.datetime.fromtimestamp(now / 1e6, tz=dt.UTC) if now is not None else None
    decision = assess(facts, now=moment)
    who = _who(by)
    book.record_scope(
        incident_id, {**scope_.to_dict(), "unjustified_only": unjustified_only}, by=who
    )
    book.record_facts(incident_id, facts, by=who, reason="pre-filled from the scope")
    book.record_assessment(incident_id, decision, by=who)
    if found.state is State.OPEN:
        authority = (
            "notify the authority"
            if decision["notify_authority"]["required"]
            else "no authority notification"
        )
        book.advance(incident_id, State.ASSESSED, by=who, reason=f"assessed: {authority}")
    if as_json:
        click.echo(json.dumps({"incident": incident_id, **decision}))
        return
    sev = decision["severity"]
    click.echo(
        f"severity: {sev['level']} (score {sev['score']}: "
        f"DPC {sev['dpc']} × EI {sev['ei']} + CB {sev['cb']})"
    )
    for key, label in (("notify_authority", "authority"), ("notify_subjects", "data subjects")):
        duty = decision[key]
        click.echo(f"{label}: {'notify' if duty['required'] else 'no notification'}")
        for reason in duty["reasons"]:
            click.echo(f"  - {reason}")
    click.echo(f"deadline: {decision['notify_authority']['deadline']}")


@incident.command()
@click.argument("incident_id")
@click.option(
    "--phase",
    type=click.Choice([p.value for p in Phase]),
    required=True,
    help="initial (once, first), complementary (more information, Art. 33(4)) or final.",
)
@click.option("--at", "at_us", type=TIME, help="When it was sent (RFC 3339) [default: now].")
@click.option("--reference", help="The authority's reference, e.g. the CNIL's case number.")
@click.option("--note", help="What it contained, or why it was sent.")
@click.option(
    "--delay-reasons",
    help="Why the initial notification is later than 72 hours after awareness; required then.",
)
@click.option("--by", help=_BY_HELP)
@pass_app
def notified(
    app: App,
    incident_id: str,
    phase: str,
    at_us: int | None,
    reference: str | None,
    note: str | None,
    delay_reasons: str | None,
    by: str | None,
) -> None:
    """Record a notification sent to the supervisory authority about INCIDENT_ID.

    The initial notification moves an assessed incident to 'notifying'. Prints the 72-hour
    clock after it.
    """
    clock = Incidents(app.store).record_notification(
        incident_id,
        phase,
        by=_who(by),
        sent_us=at_us,
        reference=reference,
        note=note,
        delay_reasons=delay_reasons,
    )
    click.echo(f"{incident_id} {phase} notification recorded; {clock.summary()}")


@incident.command("report")
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path, allow_dash=True),
    help="Also write the printable HTML page to this file ('-': standard output).",
)
@click.option("--now", type=TIME, help="Read the 72-hour clock as of this time [default: now].")
@pass_app
def report_(
    app: App, incident_id: str, as_json: bool, html_file: Path | None, now: int | None
) -> None:
    """Print the report for the supervisory authority about INCIDENT_ID (GDPR Art. 33(3)).

    Facts not recorded yet are marked as not known, to be given in a complementary
    notification. Counts only: no data subject is named.
    """
    if as_json and html_file is not None and str(html_file) == "-":
        raise click.UsageError("--json and --html - would both print: choose one")
    book = Incidents(app.store)
    found = authority_report(book.get(incident_id), book.log(incident_id), now_us=now)
    if html_file is not None:
        page = render_authority_report_html(found)
        if str(html_file) == "-":
            click.echo(page, nl=False)
            return
        try:
            html_file.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise Error(f"cannot write {html_file}: {exc}") from None
    if as_json:
        click.echo(json.dumps(found))
    elif html_file is not None:
        click.echo(f"wrote {html_file}")
    else:
        click.echo(render_authority_report_text(found), nl=False)


def _phase_text(phase: dict[str, Any]) -> str:
    text = f"{phase['phase']} notification sent {phase['sent_at']}"
    if phase.get("reference"):
        text += f", reference {phase['reference']}"
    if phase.get("late"):
        text += ", late"
    if phase.get("delay_reasons"):
        text += f"; reasons for the delay: {phase['delay_reasons']}"
    if phase.get("note"):
        text += f"; {phase['note']}"
    return text


def _change_text(change: str, details: dict[str, Any]) -> str:
    """One log entry for people: the change and its reason (or the phase sent)."""
    if change == AUTHORITY_NOTIFIED:
        return f"{change}: {_phase_text(details)}"
    reason = details.get("reason")
    return change + (f": {reason}" if reason else "")
