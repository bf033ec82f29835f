"""``sentinelle grants``: the just-in-time grants' housekeeping (docs/guard.md).

``expire`` runs the expiry sweep of :func:`sentinelle.guard.grants.expire`, as the API and the
console run it before their writes and lists: requests nobody answered by their deadline, and
approved grants past their expiry, become ``expired`` with one ``grant.expired`` event each.
Run it from a timer (cron, a systemd timer) so expiry is recorded even when nobody uses the
grants' pages: a decision never uses an expired grant either way (``now ≥ expires``).
"""

from __future__ import annotations

import json

import click

from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.guard import grants as workflow
from sentinelle.timeutil import now_us, parse_time


@cli_group.group()
def grants() -> None:
    """Just-in-time grants: expire what is due."""


@grants.command("expire")
@click.option("--at", "at", help="Take this RFC 3339 time as now (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the grants expired as JSON.")
@pass_app
def expire(app: App, at: str | None, as_json: bool) -> None:
    """Expire unanswered requests past their deadline and approved grants past their expiry:
    each gets one grant.expired event in the ledger and the state expired. Running it again
    expires nothing more."""
    try:
        now = parse_time(at) if at else now_us()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None
    expired: list[str] = []
    while True:  # a sweep takes at most SWEEP_LIMIT grants: run until nothing is due
        batch = workflow.expire(app.reader, app.ledger_reader, now_us=now)
        expired += batch
        if len(batch) < workflow.SWEEP_LIMIT:
            break
    if as_json:
        click.echo(json.dumps({"expired": expired}))
    else:
        click.echo(
            f"{len(expired)} grant(s) expired" + (": " + ", ".join(expired) if expired else "")
        )
