"""``sentinelle ingest FILE|-``."""

from __future__ import annotations

import json

import click

from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.ingest import Ingestor, iter_json_lines, open_input


@cli_group.command()
@click.argument("source", metavar="FILE|-")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def ingest(app: App, source: str, as_json: bool) -> None:
    """Store access and context events from a JSON-lines FILE (plain or gzip; - for stdin).

    The file is one batch: if any line is invalid, nothing is stored and the first 20
    problems are printed with their line numbers. Event ids already stored are skipped and
    counted as duplicates. The ledger gets a new signed checkpoint.
    """
    with open_input(source) as stream:
        result = Ingestor(app.store, app.ledger).ingest(iter_json_lines(stream, name=source))
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    click.echo(
        f"received {result.received}, stored {result.stored}, "
        f"duplicates {result.duplicates}; ledger size {result.ledger_size}"
    )
    if result.conflicting_ids:
        click.echo(
            f"warning: {len(result.conflicting_ids)} re-sent ids carried other content than "
            f"stored (kept the stored): {', '.join(result.conflicting_ids[:5])}",
            err=True,
        )
