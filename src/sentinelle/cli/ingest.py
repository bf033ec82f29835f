"""``sentinelle ingest FILE|-``."""

from __future__ import annotations

import json

import click

from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.detect import DetectionRunner, Severity
from sentinelle.ingest import Ingestor, iter_json_lines, open_input


@cli_group.command()
@click.argument("source", metavar="FILE|-")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--no-detect", is_flag=True, help="Do not run live detection after storing.")
@pass_app
def ingest(app: App, source: str, as_json: bool, no_detect: bool) -> None:
    """Store access and context events from a JSON-lines FILE (plain or gzip; - for stdin).

    The file is one batch: if any line is invalid, nothing is stored and the first 20
    problems are printed with their line numbers. Event ids already stored are skipped and
    counted as duplicates. The ledger gets a new signed checkpoint.
    """
    config = None if no_detect else app.detect_config  # a bad config is refused before storing
    with open_input(source) as stream:
        result = Ingestor(app.store, app.ledger).ingest(iter_json_lines(stream, name=source))
    # The batch is committed; detection runs after, so a detector problem never loses events.
    found = [] if no_detect else DetectionRunner(app.store, config).catch_up()
    medium = sum(1 for a in found if a.severity >= Severity.MEDIUM)
    if as_json:
        click.echo(
            json.dumps({**result.to_dict(), "alerts": len(found), "alerts_medium_plus": medium})
        )
        return
    click.echo(
        f"received {result.received}, stored {result.stored}, "
        f"duplicates {result.duplicates}; ledger size {result.ledger_size}"
    )
    if not no_detect:
        click.echo(f"alerts raised or updated: {len(found)} ({medium} medium or higher)")
    if result.conflicting_ids:
        click.echo(
            f"warning: {len(result.conflicting_ids)} re-sent ids carried other content than "
            f"stored (kept the stored): {', '.join(result.conflicting_ids[:5])}",
            err=True,
        )
