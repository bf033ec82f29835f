"""``sentinelle incident``: open incidents, move them through their states, compute their
scope from the stored events, assess them, record the notifications sent to the supervisory
authority (GDPR Art. 33(4)), print the breach register (Art. 33(5)) and the authority report.

Every command parses and prints; the work is :class:`~sentinelle.response.ResponseEngine`'s.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import click

from sentinelle.assess import facts_to_dict
from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.cli.detect import END_TIME, TIME
from sentinelle.errors import Error, Problem
from sentinelle.incidents import (
    ALERT_LOOKBACK_DAYS,
    Change,
    Phase,
    ScopeBasis,
    State,
)
from sentinelle.notify.report import (
    configured_controller,
    render_authority_report_html,
    render_authority_report_text,
)
from sentinelle.response import FactsInputError, ResponseEngine
from sentinelle.store import open_store
from sentinelle.timeutil import iso, to_us

_STATES = click.Choice([s.value for s in State if s is not State.OPEN])
_BY_HELP = "Who makes the change [default: the OS user]."


def engine(app: App, *, create: bool = False) -> ResponseEngine:
    """The response engine over the app's store (a second connection for lease heartbeats).

    Only ``incident open`` may create the database (``create``); every other command works on
    an incident, so on a database that exists: a missing one is an error naming it.
    """
    store = app.store if create else app.reader
    return ResponseEngine(store, reopen=lambda: open_store(app.settings, create=False))


def _basis_option(func: Any) -> Any:
    return click.option(
        "--unjustified-only/--all-accesses",
        "unjustified_only",
        default=None,
        help="Count only accesses without a valid ticket or grant, or all of them "
        "[default: the basis recorded at the last assessment, else unjustified only].",
    )(func)


def _basis(unjustified_only: bool | None) -> ScopeBasis | None:
    if unjustified_only is None:
        return None
    return ScopeBasis.UNJUSTIFIED if unjustified_only else ScopeBasis.ALL


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
@click.option(
    "--to",
    "to_us",
    type=END_TIME,
    help="End of the window (included; a date alone: the whole of that day) [default: now].",
)
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
    created = engine(app, create=True).open(
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
    moved = engine(app).advance(incident_id, state, by=_who(by), reason=reason)
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
    response = engine(app)
    found = response.get(incident_id)
    log = response.log(incident_id)
    clock = response.clock(incident_id, now=now)
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
    if found.scope_basis is not None:
        click.echo(f"  scope: {found.scope_basis.header}")
    click.echo(f"  72-hour clock: {clock.summary()}")
    for phase in clock.phases:
        click.echo(f"    {_phase_text(phase.to_dict())}")
    for entry in log:
        click.echo(f"  {iso(entry.at_us)}  {entry.by}  {_change_text(entry.change, entry.details)}")


@incident.command("list")
@pass_app
def list_(app: App) -> None:
    """List incidents, oldest first."""
    found_any = False
    for found in engine(app).incidents():
        found_any = True
        click.echo(f"{found.id}  {found.state.value:9}  {found.title}")
    if not found_any:
        click.echo(f"no incidents in {app.location}", err=True)


@incident.command("register")
@click.option("--json", "as_json", is_flag=True, help="Print as a JSON array.")
@click.option("--csv", "as_csv", is_flag=True, help="Print as CSV, one row per incident.")
@pass_app
def register_(app: App, as_json: bool, as_csv: bool) -> None:
    """Print the breach register (GDPR Article 33(5)): every incident, its facts, decisions and
    the reasoning."""
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    response = engine(app)
    if as_csv:
        click.echo(response.register_csv(), nl=False)
        return
    entries = response.register()
    if as_json:
        click.echo(json.dumps(entries))
        return
    if not entries:
        click.echo(f"no incidents in {app.location}", err=True)
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
@_basis_option
@click.option(
    "--top",
    type=click.IntRange(min=0),
    help="Show the N merchants with the most data subjects (0: all, by merchant id) "
    "[default: 20 in text, all in JSON].",
)
@click.option("--record", is_flag=True, help="Also record the scope in the incident's log.")
@click.option("--by", help=_BY_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def scope(
    app: App,
    incident_id: str,
    unjustified_only: bool | None,
    top: int | None,
    record: bool,
    by: str | None,
    as_json: bool,
) -> None:
    """Count INCIDENT_ID's scope from the stored events of its actors in its window.

    The basis (unjustified accesses only, or all) is the one the incident was assessed on,
    so the scope printed is the one notified; the header says which.
    """
    view = engine(app).scope(
        incident_id, basis=_basis(unjustified_only), record_by=_who(by) if record else None
    )
    result = view.to_dict()
    merchants = result["per_merchant"]  # by merchant id
    limit = top if top is not None else (0 if as_json else 20)
    if limit:
        merchants = sorted(merchants, key=lambda m: (-m["subjects"], m["merchant"]))
    shown = merchants[:limit] if limit else merchants
    if as_json:
        click.echo(json.dumps({**result, "per_merchant": shown}))
        return
    click.echo(f"scope of {incident_id}: {view.basis.header}")
    click.echo(
        f"{result['merchants']} merchants, {result['subjects']} data subjects, "
        f"{result['records']} records; categories: {', '.join(result['categories']) or 'none'}"
    )
    for m in shown:
        click.echo(
            f"  {m['merchant']}: {m['subjects']} subjects, {m['records']} records, "
            f"{m['justified_events']} justified / {m['unjustified_events']} unjustified, "
            f"{m['first']} – {m['last']}"
        )
    if len(shown) < len(merchants):
        click.echo(f"  … and {len(merchants) - len(shown)} more merchants (--top 0 shows all)")


@incident.command()
@click.argument("incident_id")
@pass_app
def facts(app: App, incident_id: str) -> None:
    """Print INCIDENT_ID's facts as the next assessment would use them (JSON).

    Counted from the ledger, with what people stated before. Edit what only people know
    (summary, encryption, recipients, mitigations…) and pass the file back with
    `sentinelle incident assess ID --facts FILE`; values left as the ledger counts them stay
    counted from the ledger.
    """
    click.echo(json.dumps(facts_to_dict(engine(app).prefilled_facts(incident_id)), indent=2))


@incident.command("assess")
@click.argument("incident_id")
@click.option(
    "--facts",
    "facts_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Facts only people know (JSON, incident-facts schema; see `incident facts`); they "
    "win over the ledger's and are kept for later assessments.",
)
@click.option(
    "--aware-at",
    type=TIME,
    help="When you became aware [default: as recorded, else when the incident was opened].",
)
@_basis_option
@click.option(
    "--reason",
    help="Why: required to move awareness later, narrow the scope or drop a duty to notify.",
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
    unjustified_only: bool | None,
    reason: str | None,
    now: int | None,
    by: str | None,
    as_json: bool,
) -> None:
    """Assess INCIDENT_ID: facts pre-filled from its scope, severity and GDPR duties.

    The facts and the assessment are stored on the incident and in the register, and an open
    incident moves to 'assessed'. Assessing again keeps the awareness time, the scope basis
    and the facts stated before unless this command changes them; every change is logged
    before → after.
    """
    given = _read_facts(facts_file) if facts_file is not None else None
    outcome = engine(app).assess(
        incident_id,
        by=_who(by),
        given=given,
        source=str(facts_file) if facts_file is not None else "facts",
        aware_us=aware_at,
        basis=_basis(unjustified_only),
        reason=reason,
        now=now,
    )
    if as_json:
        click.echo(json.dumps(outcome.to_dict()))
        return
    decision = outcome.assessment
    sev = decision.severity
    click.echo(f"scope: {outcome.scope.basis.header}")
    click.echo(
        f"severity: {sev.level.replace('_', ' ')} (score {sev.score:g}: "
        f"DPC {sev.dpc} × EI {sev.ei:g} + CB {sev.cb:g})"
    )
    for duty, label in (
        (decision.notify_authority, "authority"),
        (decision.notify_subjects, "data subjects"),
    ):
        click.echo(f"{label}: {'notify' if duty.required else 'no notification'}")
        for text in duty.reasons:
            click.echo(f"  - {text}")
    deadline = decision.notify_authority.deadline
    click.echo(f"deadline: {iso(to_us(deadline)) if deadline is not None else 'none'}")
    if outcome.changes:
        click.echo("changed since the last assessment:")
        for change in outcome.changes:
            click.echo(f"  {change}")


def _read_facts(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise Error(f"cannot read facts from {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise FactsInputError(
            [Problem(0, "$", f"not valid JSON ({exc})")], source=str(path)
        ) from None
    if not isinstance(loaded, dict):
        raise FactsInputError([Problem(0, "$", "facts must be a JSON object")], source=str(path))
    return loaded


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
    clock = engine(app).record_phase(
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
    found = engine(app).report(incident_id, now=now, controller=configured_controller(app.settings))
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
    if change == Change.AUTHORITY_NOTIFIED:
        return f"{change}: {_phase_text(details)}"
    reason = details.get("reason")
    return change + (f": {reason}" if reason else "")
