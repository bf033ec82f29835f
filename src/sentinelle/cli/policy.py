"""``sentinelle policy``: check a guard policy file, and explain the decision it gives a request.

``explain`` decides through the same :func:`~sentinelle.guard.service.assess` as the decision
endpoint (ticket, grants and suspension read from the store, then
:func:`~sentinelle.guard.decide`), so what it prints is what a console would be told, every
reason included.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

import click

from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.errors import ConfigError, StoreNotFoundError
from sentinelle.guard import TicketView, check_request, load_policy
from sentinelle.guard.service import assess
from sentinelle.store import Store
from sentinelle.timeutil import iso, now_us, parse_time

_FILE = click.Path(dir_okay=False, path_type=Path)


@cli_group.group()
def policy() -> None:
    """Guard policies: who may do what to which customer data (docs/guard.md)."""


@policy.command("check")
@click.argument("file", type=_FILE)
def check(file: Path) -> None:
    """Validate the policy FILE: every problem with its key and line, exit 1; or a summary."""
    found = load_policy(file)
    overrides = len(found.merchants)
    click.echo(
        f"{file}: valid guard policy: {len(found.teams)} team(s) ({', '.join(found.teams)}), "
        f"{len(found.purposes)} purposes, {overrides} merchant override(s); grants last "
        f"{found.grant_us / 3.6e9:g} h (at most {found.max_grant_us / 3.6e9:g} h), "
        f"break-glass {found.break_glass.duration_us / 6e7:g} min"
        + ("" if found.break_glass.enabled else " (off)")
    )


@policy.command("explain")
@click.option("--policy", "policy_file", type=_FILE, required=True, help="The policy file.")
@click.option("--actor", required=True, help="Who asks (staff id).")
@click.option("--team", help="The actor's team.")
@click.option("--role", help="The actor's role in the team.")
@click.option("--merchant", required=True, help="Whose customers.")
@click.option("--action", required=True, help="view, search, export, download, update, delete.")
@click.option("--data", required=True, help="Data categories, separated by commas.")
@click.option("--channel", default="support_console", show_default=True)
@click.option("--ticket", help="The ticket cited.")
@click.option(
    "--ticket-state",
    type=click.Choice(["open", "closed"]),
    help="The ticket's state; without it, the ticket is read from the stored context events.",
)
@click.option("--ticket-merchant", help="The ticket's merchant  [default: --merchant]")
@click.option(
    "--ticket-assignee",
    multiple=True,
    help="Who the ticket is assigned to (repeatable)  [default: --actor]",
)
@click.option("--ticket-purpose", help="The ticket's purpose (its reason), if it names one.")
@click.option("--count", type=click.IntRange(min=0), help="Records in a list or export.")
@click.option("--purpose", help="The purpose the request states (a purpose of the policy).")
@click.option("--break-glass", "break_glass", metavar="REASON", help="Ask for break-glass.")
@click.option("--suspended", is_flag=True, help="Decide as if the actor were suspended.")
@click.option("--at", "at", metavar="TIME", help="Decide at this RFC 3339 time  [default: now]")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as one JSON object.")
@pass_app
def explain(
    app: App,
    policy_file: Path,
    actor: str,
    team: str | None,
    role: str | None,
    merchant: str,
    action: str,
    data: str,
    channel: str,
    ticket: str | None,
    ticket_state: str | None,
    ticket_merchant: str | None,
    ticket_assignee: tuple[str, ...],
    ticket_purpose: str | None,
    count: int | None,
    purpose: str | None,
    break_glass: str | None,
    suspended: bool,
    at: str | None,
    as_json: bool,
) -> None:
    """Print the decision POLICY gives a request, and every reason for it.

    The ticket's state comes from the command line (--ticket-state, --ticket-merchant,
    --ticket-assignee) or, without --ticket-state, from the stored ticket.* events. The
    actor's live grants at the merchant and suspension are read from the store when there is
    one, as the decision endpoint reads them (--suspended: decide as if suspended).
    """
    # TODO(guard): read team and role from the staff directory (not in --help: users read it).
    rules = load_policy(policy_file)
    try:
        when = parse_time(at) if at else now_us()
    except ValueError as exc:  # a usage error (exit 2), as `grants expire --at` says it
        raise click.BadParameter(str(exc), param_hint="--at") from None
    request = check_request(  # as the endpoint checks it: an empty --actor is refused too
        {
            "actor": actor,
            "team": team,
            "role": role,
            "merchant": merchant,
            "action": action,
            "data": tuple(c.strip() for c in data.split(",") if c.strip()),
            "channel": channel,
            "ticket": ticket,
            "count": count,
            "purpose": purpose,
            "break_glass": break_glass,
        }
    )
    view: TicketView | None = None
    if ticket is not None and ticket_state is not None:
        view = TicketView(
            id=ticket,
            state="open" if ticket_state == "open" else "closed",
            merchant=ticket_merchant or merchant,
            assignees=frozenset(ticket_assignee or (actor,)),
            purpose=ticket_purpose,
        )
    try:
        store: Store | None = app.reader
    except StoreNotFoundError as exc:
        if ticket is not None and view is None:
            raise ConfigError(
                f"ticket {ticket}: {exc}; or give its state with --ticket-state"
            ) from None
        store = None  # no store: no ticket known, no grants, no suspension
    with store.snapshot() if store is not None else nullcontext():  # one read transaction
        decision = assess(store, rules, request, when, ticket=view, suspended=suspended).decision
    if as_json:
        click.echo(json.dumps(decision.to_dict(), ensure_ascii=False))
        return
    expires = iso(decision.expires_us) if decision.expires_us is not None else "-"
    if decision.decision == "allow" and decision.expires_us is None:
        expires = "when the ticket closes"
    click.echo(f"decision: {decision.decision}")
    click.echo(f"grant: {decision.grant or '-'}")
    click.echo(f"mask: {', '.join(decision.mask) or '-'}")
    click.echo(f"expires: {expires}")
    if decision.break_glass:
        click.echo("break-glass: yes (a high-severity alert must be raised)")
    if decision.approvers:
        click.echo(f"approvers: {', '.join(decision.approvers)}")
    click.echo("reasons:")
    for reason in decision.reasons:
        click.echo(f"  - {reason}")
