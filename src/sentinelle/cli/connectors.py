"""``sentinelle connectors backfill VENDOR FILE``: a help desk's history, from its export
file, as ticket context events (:mod:`sentinelle.connectors`, the same mapping as its
webhooks). ``sentinelle connectors hr-notices FILE``: an HR system's notice dates as
``staff.notice_given`` events (:mod:`sentinelle.connectors.hr`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.connectors import VENDOR_NAMES, Receiver, encode, ticket_history
from sentinelle.connectors.hr import read_notices
from sentinelle.ingest import Ingestor, IngestResult


@cli_group.group()
def connectors() -> None:
    """Connectors (docs/connectors.md): help desks (Zendesk, Freshdesk, Jira Service
    Management, Gorgias; their webhooks come to POST /v1/connectors/VENDOR) and HR notice
    dates. Identity providers provision staff through /scim/v2."""


@connectors.command()
@click.argument("vendor", type=click.Choice(VENDOR_NAMES))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--merchant", help="The merchant of every ticket (a help desk of one shop).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def backfill(app: App, vendor: str, file: Path, merchant: str | None, as_json: bool) -> None:
    """Store the ticket events of VENDOR's export FILE (JSON or JSON lines), mapped as its
    webhooks are (SENTINELLE_CONNECTORS_MAP). Reads: zendesk (incremental ticket export,
    {"tickets": [...]}), jira (issue search with expand=changelog, {"issues": [...]}),
    gorgias (GET /api/tickets, {"data": [...]}; needs --merchant or [gorgias] merchant),
    freshdesk (GET /api/v2/tickets, arrays of tickets; agents and companies by their ids).

    The file is one batch: a ticket that cannot be mapped refuses it all (exit 1, naming the
    ticket and the field). Events already stored (a file read twice) are duplicates. A
    Freshdesk or Gorgias ticket's state is compared with its stored events, as its webhook's
    is: one reopened, or closed again, since they were stored is reopened or closed again.
    Live detection takes the events in with the next batch it runs on.
    """
    receiver = Receiver.from_settings(app.settings)
    with app.keep_only_if_logged():  # a refused first batch leaves no database behind
        stored = app.store
        events = list(
            receiver.backfill(
                vendor, file, merchant=merchant, history=lambda t: ticket_history(stored, t)
            )
        )
        result = Ingestor(stored, app.ledger).ingest(encode(events), unit="index")
    _report(result, as_json)


@connectors.command("hr-notices")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def hr_notices(app: App, file: Path, as_json: bool) -> None:
    """Store the notice dates of an HR export FILE as staff.notice_given events: CSV with a
    header row (FILE ending .csv) or JSON (an array of objects, {"notices": [...]}, or JSON
    lines). Fields: staff (the staff id), notice_date (2026-11-04, or an RFC 3339 time with
    its offset) and, optionally, reason (a category such as resignation); other columns are
    never read.

    The file is one batch: a row that is not right refuses it all (exit 1, naming the row and
    the field). Loading the same file again stores nothing new (duplicates). Live detection
    takes the events in with the next batch it runs on: then an export by someone who gave
    notice raises export_after_notice.
    """
    events = read_notices(file, now=dt.datetime.now(dt.UTC))
    with app.keep_only_if_logged():  # a refused first batch leaves no database behind
        result = Ingestor(app.store, app.ledger).ingest(encode(events), unit="index")
    _report(result, as_json)


def _report(result: IngestResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        click.echo(
            f"received {result.received}, stored {result.stored}, "
            f"duplicates {result.duplicates}; ledger size {result.ledger_size}"
        )
