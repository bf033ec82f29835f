"""``sentinelle outbound deliver|status``: what goes out to the alert destinations (webhooks,
syslog, e-mail; docs/connectors.md, "Alerts out"). ``sentinelle alerts deliver`` is the
former name of ``outbound deliver``, kept as an alias."""

from __future__ import annotations

import json
from typing import Any, Final

import click

from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.connectors import outbound as out
from sentinelle.errors import ConfigError
from sentinelle.store.deliveries import DeliveryRow, DeliveryState
from sentinelle.timeutil import iso, now_us

__all__ = ["deliver_now", "outbound"]

_PROBLEMS: Final = 20  # rows listed under "problems"


@cli_group.group()
def outbound() -> None:
    """Alerts, suspensions and 72-hour deadline warnings to webhooks, syslog and e-mail."""


def deliver_now(app: App, as_json: bool) -> None:
    """Queue the deadline warnings due now, send every delivery due, print the counts."""
    if not out.configured(app.settings):
        raise ConfigError(
            "no alert destinations: set SENTINELLE_ALERT_WEBHOOKS, SENTINELLE_ALERT_SYSLOG or "
            "SENTINELLE_ALERT_EMAILS (NAME=… items)"
        )
    done = out.send_round(app.reader, app.settings, now_us=now_us())
    warned, sent = done.warned, done.sent
    if as_json:
        click.echo(json.dumps(done.to_dict()))
        return
    line = f"delivered {sent.delivered}, to retry {sent.retrying}, failed {sent.failed}"
    if sent.obsolete:
        line += f", obsolete {sent.obsolete}"
    if warned:
        line += f"; deadline warnings queued {warned}"
    click.echo(line)


@outbound.command("deliver")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_app
def deliver(app: App, as_json: bool) -> None:
    """Queue the 72-hour deadline warnings that are due, then send every delivery due now.

    Each message (alert of medium severity or more, suspension, lift, deadline warning) goes
    to each destination once; a failed attempt is retried with backoff by the next run (this
    command, or the API and ingest after a batch) and given up after 10. Run it from cron
    every few minutes: deadline warnings are due whether or not events arrive.
    """
    deliver_now(app, as_json)


@outbound.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_app
def status(app: App, as_json: bool) -> None:
    """Deliveries per destination, kind and state, and the latest problems (failed, or
    waiting for a retry, with their last error)."""
    counts = app.reader.delivery_counts()
    problems = app.reader.delivery_problems(_PROBLEMS)
    configured = set(out.Destinations.from_settings(app.settings).names)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "destinations": sorted(configured),
                    "counts": [
                        {
                            "destination": c.destination,
                            "kind": c.kind,
                            "state": c.state.value,
                            "rows": c.rows,
                            "oldest": iso(c.oldest_us),
                        }
                        for c in counts
                    ],
                    "problems": [_problem(r) for r in problems],
                }
            )
        )
        return
    if not counts:
        click.echo("nothing queued yet", err=True)
    for c in counts:
        unknown = "" if c.destination in configured else "  (not configured any more)"
        due = (
            f", oldest due {iso(c.oldest_us)}"
            if c.state in (DeliveryState.PENDING, DeliveryState.SENDING)
            else ""
        )
        click.echo(f"{c.destination:16} {c.kind:10} {c.state.value:10} {c.rows:>8}{due}{unknown}")
    for p in (_problem(r) for r in problems):
        click.echo(
            f"problem: {p['kind']} {p['message']} to {p['destination']}: {p['state']} after "
            f"{p['attempts']} attempt(s), last error {p['last_error']}"
            + (f", next attempt {p['next']}" if p["next"] else "")
        )


def _problem(row: DeliveryRow) -> dict[str, Any]:
    return {
        "message": row.message,
        "destination": row.destination,
        "kind": row.kind,
        "state": row.state.value,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "next": iso(row.next_at_us) if row.state is DeliveryState.PENDING else None,
    }
