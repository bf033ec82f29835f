"""``sentinelle ingest FILE|-``."""

from __future__ import annotations

import json
import sys
from typing import IO, TYPE_CHECKING

import click

from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.connectors import outbound
from sentinelle.ingest import (
    Ingestor,
    IngestResult,
    input_size,
    open_input,
)
from sentinelle.store import open_store
from sentinelle.timeutil import now_us

if TYPE_CHECKING:
    from sentinelle.detect import DetectConfig
    from sentinelle.detect.pipelined import Beside
    from sentinelle.live import AfterBatch


@cli_group.command()
@click.argument("source", metavar="FILE|-")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--no-detect", is_flag=True, help="Do not run live detection.")
@pass_app
def ingest(app: App, source: str, as_json: bool, no_detect: bool) -> None:
    """Store access and context events from a JSON-lines FILE (plain or gzip; - for stdin).

    JSON lines: one event per line. A JSON array or pretty-printed JSON is refused with the
    jq command that converts it (jq -c '.[]' events.json > events.jsonl). The file is one
    batch: if any line is invalid, nothing is stored and the first 20 problems are printed
    with their line numbers (exit 1). Event ids already stored are skipped and counted as
    duplicates. The ledger gets a new signed checkpoint. A file with no events writes
    nothing, says so, and exits 0. On a terminal, a progress bar shows on stderr.

    Live detection follows (not with --no-detect). On SQLite with two CPUs or more, a file of
    4096 events or more is detected in a second process while it is being stored; its alerts
    are stored only once the file is (docs/detection.md). Without live detection, a file of
    8 MiB or more is read and decoded in a second process while it is being stored. A first
    load (a file of 50,000 events or more by its size, twice the events stored or more) builds
    the events' indexes once, at its commit (SQLite).

    With a guard policy (SENTINELLE_GUARD_POLICY), the automatic response follows detection:
    an alert at the policy's response.suspend_at suspends its actor, revokes their grants and
    opens an incident (docs/guard-response.md); the actors suspended are printed.

    With alert destinations (SENTINELLE_ALERT_WEBHOOKS, _SYSLOG, _EMAILS), alerts of medium
    severity or more, suspensions and 72-hour deadline warnings are sent to them, once each
    (docs/connectors.md); what was delivered is printed.
    """
    config = None if no_detect else app.detect_config  # a bad config is refused before storing
    # Into a data directory with no database, a refused or empty file leaves none behind.
    with open_input(source) as stream, app.keep_only_if_logged():
        result, after = ingest_stream(app, stream, source, config)
        sent = (
            outbound.deliver_due(app.store, app.settings)
            if outbound.configured(app.settings)
            else None
        )
    found = after.alerts if after else []
    suspended = after.responded.suspended if after else []
    medium = after.medium_plus if after else 0
    if result.received == 0:
        click.echo(f"no events in {_shown(source)}: nothing was written", err=True)
    if as_json:
        if after is None:  # --no-detect: nothing followed the batch
            from sentinelle.live import AfterBatch  # the command imports it lazily

            after = AfterBatch()
        click.echo(
            json.dumps(
                {
                    **result.to_dict(),
                    **after.to_dict(),
                    **({"webhooks": sent.to_dict()} if sent else {}),
                }
            )
        )
    else:
        click.echo(
            f"received {result.received}, stored {result.stored}, "
            f"duplicates {result.duplicates}; ledger size {result.ledger_size}"
        )
        if not no_detect:
            click.echo(f"alerts raised or updated: {len(found)} ({medium} medium or higher)")
        for s in suspended:
            click.echo(
                f"suspended {s.actor} on alert {s.alert} ({s.detector}, {s.severity}): "
                f"{len(s.revoked)} grant(s) revoked"
                + (f", escalated into incident {s.incident}" if s.incident else "")
            )
        if sent:
            click.echo(
                f"sent out: {sent.delivered} delivered, {sent.retrying} to retry, "
                f"{sent.failed} failed"
            )
    if result.conflicting_ids:
        click.echo(
            f"warning: {len(result.conflicting_ids)} re-sent ids carried other content than "
            f"stored (kept the stored): {', '.join(result.conflicting_ids[:5])}",
            err=True,
        )
    for note in after.notes if after else ():
        click.echo(f"warning: {note}", err=True)


def ingest_stream(
    app: App,
    stream: IO[bytes],
    source: str,
    config: DetectConfig | None,
    *,
    beside: bool = True,
) -> tuple[IngestResult, AfterBatch | None]:
    """Store ``stream`` as one batch, then what follows a committed batch with ``config``
    (live detection, the webhooks' queue, the automatic response); without it, nothing
    follows and the second item is None (``--no-detect`` loads none of their modules).

    With ``beside``, on SQLite with two CPUs or more, live detection runs in a child process
    beside the storing of each next chunk (:mod:`sentinelle.detect.pipelined`); its result is
    stored once the batch committed, or detection runs after the commit as without it. A
    rolled-back batch stops the child: it raised no alert.
    """
    if config is None:
        return _ingest(app, stream, source, None), None
    # With what follows the commit, loaded before the batch: the ingest has time to spare
    # while the detection process catches up, none after the commit.
    from sentinelle.detect.pipelined import Beside
    from sentinelle.guard.service import GuardPolicy  # noqa: F401
    from sentinelle.live import after_batch  # noqa: F401
    from sentinelle.response import ResponseEngine  # noqa: F401

    child = Beside.open(app.store, config) if beside else None
    try:
        result = _ingest(app, stream, source, child)
        # The batch is committed; detection, the webhooks' queue and the automatic response
        # follow (as after every batch the API stores), and their failures never fail it.
        after = _after(app, config, child)
    finally:
        if child is not None:
            child.close()
    return result, after


def _after(app: App, config: DetectConfig, beside: Beside | None) -> AfterBatch:
    from sentinelle.guard.service import GuardPolicy
    from sentinelle.live import after_batch
    from sentinelle.response import ResponseEngine

    engine = ResponseEngine(app.store, reopen=lambda: open_store(app.settings, create=False))
    return after_batch(
        app.store,
        app.ledger,
        engine,
        settings=app.settings,
        detect_config=config,
        guard_policy=GuardPolicy(app.settings.guard_policy),
        now_us=now_us(),
        beside=beside,
    )


def _shown(source: str) -> str:
    return "standard input" if source == "-" else source


def _ingest(
    app: App,
    stream: IO[bytes],
    source: str,
    beside: Beside | None,
) -> IngestResult:
    size = input_size(source) if sys.stderr.isatty() else None
    ingestor = Ingestor(app.store, app.ledger)
    written = None if beside is None else beside.written
    sums = None if beside is None else beside.sums
    if not size:
        return ingestor.ingest_file(source, stream, written=written, sums=sums)
    with click.progressbar(length=size, label="ingesting", file=sys.stderr) as bar:
        result = ingestor.ingest_file(
            source, stream, written=written, sums=sums, progress=bar.update
        )
        bar.update(size - bar.pos)
    return result
