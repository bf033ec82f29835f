"""``sentinelle incident notify`` and ``sentinelle incident notices``: tell merchants, data
subjects and the authority about an incident, by SMTP, each recipient once; and where the
notices stand.

The contacts come from the shop's own directory at send time and are not stored (only a keyed
hash of each address, in ``notices``). The notice content is hashed (``content``); sending a
second time with the same ``--notice-version`` is a resume, refused if the content changed in
between, so nobody gets two different notices under one version. The workflow (one run at a
time per incident and audience, the state change, the log) is
:meth:`~sentinelle.response.ResponseEngine.send_notices`; this module parses and prints.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import click

from sentinelle.cli.app import App, pass_app
from sentinelle.cli.incident import _who, engine, incident
from sentinelle.notify.delivery import DeliveryProgress
from sentinelle.notify.directory import address_key
from sentinelle.notify.model import Audience
from sentinelle.notify.render import NoticePlan
from sentinelle.notify.setup import notice_setup, smtp_config
from sentinelle.response import NoticeRun, NotifyError, ResponseEngine
from sentinelle.response.runs import dry_run as plan_dry_run

__all__ = ["notices", "notify"]


def _missing(count: int, ids: Sequence[tuple[str | None, str]], got: str) -> str:
    """``N ids are not in the directory and got no notice: m-1/c-1, …`` (the first five)."""
    shown = ", ".join(f"{m or '-'}/{p}" for m, p in ids[:5])
    more = "…" if count > 5 else ""
    return f"{count:,} ids are not in the directory and {got} no notice: {shown}{more}"


def _warn_unnamed(shops: list[str], names: Mapping[str, str]) -> None:
    """Say so when customers' notices would name shops by their ids: nobody knows a shop as
    ``m-1004``, and a notice that names an unknown sender looks like phishing."""
    unnamed = [m for m in shops if m not in names]
    if unnamed:
        shown = ", ".join(unnamed[:5]) + ("…" if len(unnamed) > 5 else "")
        click.echo(
            f"warning: {len(unnamed):,} of the {len(shops):,} shops have no name in the merchants' "
            f"directory (--merchant-directory or SENTINELLE_MERCHANT_DIRECTORY): customers' "
            f"notices name them by id ({shown})",
            err=True,
        )


@incident.command()
@click.argument("incident_id")
@click.option(
    "--audience",
    type=click.Choice([a.value for a in Audience]),
    required=True,
    help="Who the notices are for.",
)
@click.option(
    "--directory",
    "directory_spec",
    metavar="SPEC",
    help="Contacts: PATH.csv, PATH.jsonl or sql:URL (columns subject,merchant,email,name,locale)"
    "  [default: SENTINELLE_NOTIFY_DIRECTORY for subjects, SENTINELLE_MERCHANT_DIRECTORY for "
    "merchants]",
)
@click.option(
    "--query",
    help="For an sql: directory, the query taking :subject  [default: SENTINELLE_NOTIFY_QUERY]",
)
@click.option(
    "--merchant-directory",
    metavar="SPEC",
    help="Merchants' contacts, to name the shops in customers' notices"
    "  [default: SENTINELLE_MERCHANT_DIRECTORY]",
)
@click.option("--dry-run", is_flag=True, help="Render samples to a folder; send nothing.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for --dry-run samples  [default: <data dir>/notices/ID/AUDIENCE]",
)
@click.option(
    "--smtp", metavar="HOST:PORT", help="SMTP relay  [default: SENTINELLE_SMTP, localhost:25]"
)
@click.option("--starttls", "tls", flag_value="starttls", help="Upgrade with STARTTLS.")
@click.option("--tls", "tls", flag_value="implicit", help="TLS from the first byte (port 465).")
@click.option(
    "--plain",
    "tls",
    flag_value="none",
    help="No TLS (a relay on this host only)  [default: SENTINELLE_SMTP_TLS, none]",
)
@click.option("--from", "sender", metavar="ADDR", help="Sender  [default: SENTINELLE_NOTIFY_FROM]")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="At most N notices/s.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=16,
    show_default=True,
    help="SMTP connections, each reused; also the most a kill can leave in flight.",
)
@click.option(
    "--notice-version",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="A new version is a new notice to everyone (an update); the same one resumes.",
)
@click.option("--by", help="Who sends them (recorded)  [default: $USER]")
@click.option("--json", "as_json", is_flag=True, help="Print the delivery report as JSON.")
@pass_app
def notify(
    app: App,
    incident_id: str,
    audience: str,
    directory_spec: str | None,
    query: str | None,
    merchant_directory: str | None,
    dry_run: bool,
    out: Path | None,
    smtp: str | None,
    tls: str | None,
    sender: str | None,
    rate: float | None,
    concurrency: int,
    notice_version: int,
    by: str | None,
    as_json: bool,
) -> None:
    """Send INCIDENT_ID's notices to one audience: merchants, subjects or the authority.

    Each recipient gets one notice in their language, even if the command is killed and run
    again (a rerun sends only what is missing). Each option not given comes from its setting
    (SENTINELLE_SMTP, SENTINELLE_SMTP_TLS, SENTINELLE_NOTIFY_DIRECTORY, …; the API sends with
    the settings alone). Without TLS (--starttls, --tls), only a relay on this host is allowed.
    The SMTP login comes from SENTINELLE_SMTP_USERNAME and SENTINELLE_SMTP_PASSWORD; DKIM
    signing from SENTINELLE_DKIM_KEY and SENTINELLE_DKIM_SELECTOR.
    """
    response = engine(app)
    chosen = Audience(audience)
    found = response.get(incident_id)
    if response.voluntary(found, chosen):
        click.echo(
            f"note: the assessment does not require notifying the {chosen.value}; "
            "these notices are voluntary",
            err=True,
        )

    @functools.cache
    def scoped_shops() -> list[str]:  # counted once, when a directory names them or below
        return sorted(response.scope(incident_id).scope.per_merchant)

    setup = notice_setup(
        app.settings,
        chosen,
        shops=scoped_shops,
        directory=directory_spec,
        query=query,
        merchant_directory=merchant_directory,
        sender=sender,
    )
    config = setup.config
    if chosen is Audience.SUBJECTS:
        _warn_unnamed(scoped_shops(), config.merchant_names)
    if dry_run:
        folder = out or app.settings.data_dir / "notices" / incident_id / chosen.value
        written = response.notice_samples(incident_id, chosen, config=config, out=folder)
        click.echo(f"wrote {len(written)} sample files to {folder}")
        planned = plan_dry_run(
            response, app.settings, incident_id, chosen, setup=setup, samples=False
        )
        if planned.recipients is not None:  # the contacts are known: planned and counted
            noun = "notice" if planned.recipients == 1 else "notices"
            click.echo(
                f"would send {planned.recipients:,} {noun} (version {notice_version}, content "
                f"{planned.content}); {planned.missing or 0:,} ids not in the directory"
            )
        if planned.missing:  # as a send would: nobody is dropped silently
            raise NotifyError(_missing(planned.missing, planned.missing_ids, "would get"))
        return
    if chosen is not Audience.AUTHORITY and setup.directory is None:
        setting = "NOTIFY" if chosen is Audience.SUBJECTS else "MERCHANT"
        raise click.UsageError(
            f"notices to {chosen.value} need --directory (or SENTINELLE_{setting}_DIRECTORY)"
        )
    run = _send(
        response,
        incident_id,
        chosen,
        config=config,
        key=address_key(app.settings.data_dir),
        smtp=smtp_config(app.settings, sender=config.sender_address, target=smtp, tls=tls),
        by=_who(by),
        directory=setup.directory,
        query=setup.query,
        version=notice_version,
        rate=rate,
        concurrency=concurrency,
    )
    _print_run(run, chosen, as_json=as_json)


def _send(
    response: ResponseEngine,
    incident_id: str,
    audience: Audience,
    **kwargs: object,
) -> NoticeRun:
    """Send, with a progress bar on a terminal (once the plan knows how many)."""
    if not sys.stderr.isatty():
        return response.send_notices(incident_id, audience, **kwargs)  # type: ignore[arg-type]
    bars: list[object] = []
    done = 0

    def on_plan(plan: NoticePlan) -> None:
        bar = click.progressbar(
            length=plan.recipients, label=f"notices to {audience.value}", file=sys.stderr
        )
        bar.__enter__()
        bars.append(bar)

    def progress(p: DeliveryProgress) -> None:
        nonlocal done
        now = p.sent + p.failed + p.skipped + p.duplicates + p.deferred
        if bars:
            bars[0].update(now - done)  # type: ignore[attr-defined]
        done = now

    try:
        return response.send_notices(
            incident_id,
            audience,
            progress=progress,
            on_plan=on_plan,
            **kwargs,  # type: ignore[arg-type]
        )
    finally:
        for bar in bars:
            bar.__exit__(None, None, None)  # type: ignore[attr-defined]


def _print_run(run: NoticeRun, audience: Audience, *, as_json: bool) -> None:
    report = run.report
    if as_json:
        click.echo(json.dumps(run.to_dict()))
    else:
        click.echo(
            f"{audience.value}: {report.sent:,} sent, {report.failed:,} failed, "
            f"{report.deferred:,} deferred, {report.skipped:,} already done, "
            f"{report.resumed:,} resumed (same Message-ID) in {report.seconds:.1f} s"
        )
    problems = []
    if run.missing:
        problems.append(_missing(len(run.missing), run.missing, "got"))
    if report.failed:
        problems.append(
            f"{report.failed:,} notices were refused by the server "
            "(sentinelle incident notices ID --json)"
        )
    if report.deferred:
        problems.append(f"{report.deferred:,} notices are deferred: run the command again")
    if problems:
        raise NotifyError("; ".join(problems))


@incident.command()
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True, help="Counts and per-recipient status (hashed).")
@pass_app
def notices(app: App, incident_id: str, as_json: bool) -> None:
    """Where INCIDENT_ID's notices stand: sent, failed and pending per audience."""
    status = engine(app).notice_status(incident_id, recipients=as_json)
    if as_json:
        click.echo(json.dumps(status))
        return
    if not status["audiences"]:
        click.echo(f"{incident_id}: no notices sent yet")
    for audience, counts in sorted(status["audiences"].items()):
        click.echo(
            f"{audience}: {counts['sent']:,} sent, {counts['failed']:,} failed, "
            f"{counts['pending']:,} pending"
        )
