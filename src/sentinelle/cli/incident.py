"""``sentinelle incident``: open incidents, move them through their states, compute their
scope from the stored events, and print the breach register (GDPR Art. 33(5))."""

from __future__ import annotations

import getpass
import json

import click

from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.cli.detect import TIME
from sentinelle.detect.timeutil import iso
from sentinelle.incidents import (
    ALERT_LOOKBACK_DAYS,
    CONTEXT_DAYS,
    Incidents,
    State,
    compute_scope,
    register,
    register_csv,
)

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
    """Incidents: records, scope from the stored events, the breach register."""


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
@click.option("--json", "as_json", is_flag=True, help="Print as JSON, with the change log.")
@pass_app
def show(app: App, incident_id: str, as_json: bool) -> None:
    """Print an incident and its change log."""
    book = Incidents(app.store)
    found = book.get(incident_id)
    log = book.log(incident_id)
    if as_json:
        click.echo(json.dumps({**found.to_dict(), "decisions": [e.to_dict() for e in log]}))
        return
    click.echo(f"{found.id}  {found.state.value}  {found.title}")
    click.echo(f"  actors: {', '.join(found.actors)}")
    click.echo(f"  window: {iso(found.from_us)} – {iso(found.to_us)}")
    for entry in log:
        reason = entry.details.get("reason")
        click.echo(
            f"  {iso(entry.at_us)}  {entry.by}  {entry.change}" + (f": {reason}" if reason else "")
        )


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
    """Print the breach register (GDPR Art. 33(5)): every incident, its facts, decisions and
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
        for decision in entry["decisions"]:
            reason = decision["details"].get("reason")
            click.echo(
                f"  {decision['at']}  {decision['by']}  {decision['change']}"
                + (f": {reason}" if reason else "")
            )


@incident.command()
@click.argument("incident_id")
@click.option(
    "--unjustified-only", is_flag=True, help="Count only accesses without a valid ticket or grant."
)
@click.option(
    "--context-days",
    type=click.IntRange(min=0),
    default=CONTEXT_DAYS,
    show_default=True,
    help="Tickets and grants are read from this many days before the window.",
)
@click.option("--record", is_flag=True, help="Also record the scope in the incident's log.")
@click.option("--by", help=_BY_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def scope(
    app: App,
    incident_id: str,
    unjustified_only: bool,
    context_days: int,
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
        context_days=context_days,
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
