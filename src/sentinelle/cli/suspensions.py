"""``sentinelle suspensions list|lift``: the actors the automatic response suspended, and lifting
a suspension with a reason (:mod:`sentinelle.guard.respond`, as the API and the console)."""

from __future__ import annotations

import getpass
import json

import click

from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.connectors import outbound
from sentinelle.guard.respond import lift, suspension_of
from sentinelle.timeutil import iso, now_us


@cli_group.group()
def suspensions() -> None:
    """Suspended actors: every decision about them is a denial until a responder lifts it
    (docs/guard-response.md)."""


@suspensions.command("list")
@click.option("--all", "everything", is_flag=True, help="Lifted suspensions too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines, one per suspension.")
@pass_app
def list_(app: App, everything: bool, as_json: bool) -> None:
    """The suspensions in force (with --all, the lifted ones too), latest first: since when,
    by whom, on which alert, why."""
    rows = app.reader.suspensions(lifted=everything)
    if not rows:
        click.echo("no actor is suspended" if not everything else "no actor was ever suspended")
        return
    for row in rows:
        if as_json:
            found = suspension_of(app.reader, row.actor)
            click.echo(json.dumps({"actor": row.actor, **(found.to_dict() if found else {})}))
            continue
        state = "in force" if row.lifted_us is None else f"lifted {iso(row.lifted_us)}"
        click.echo(
            f"{row.actor}: suspended {iso(row.since_us)} by {row.suspended_by}"
            + (f" on alert {row.alert}" if row.alert else "")
            + f" ({state}): {row.reason}"
        )
        if row.lifted_us is not None:
            click.echo(f"  lifted by {row.lifted_by}: {row.lift_reason}")


@suspensions.command("lift")
@click.argument("actor")
@click.option("--reason", required=True, help="Why the suspension is lifted (kept in the log).")
@click.option(
    "--by",
    help="Who lifts it, for the log  [default: cli:<your login name>]",
)
@pass_app
def lift_(app: App, actor: str, reason: str, by: str | None) -> None:
    """Lift ACTOR's suspension: their decisions follow the policy again (grants revoked by
    the suspension stay revoked). Exit 1 when ACTOR is not suspended or the reason is empty."""
    who = by or f"cli:{getpass.getuser()}"
    hook = outbound.guard_hook(app.reader, app.settings)  # the lift goes out too
    done = lift(app.reader, actor, by=who, reason=reason, now_us=now_us(), also=hook)
    click.echo(
        f"lifted the suspension of {actor}"
        + (f" (alert {done.alert})" if done.alert else "")
        + f" by {done.by}: {done.reason}"
    )
