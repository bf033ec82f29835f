"""``sentinelle incident notify`` and ``sentinelle incident notices``: tell merchants, data
subjects and the authority about an incident, by SMTP, each recipient once; and where the
notices stand.

The contacts come from the shop's own directory at send time and are not stored (only a keyed
hash of each address, in ``notices``). The notice content is hashed (``content``); sending a
second time with the same ``--notice-version`` is a resume, refused if the content changed in
between, so nobody gets two different notices under one version.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from sentinelle.cli.app import App, pass_app
from sentinelle.cli.incident import _who, incident
from sentinelle.errors import ConfigError, Error
from sentinelle.incidents import Incidents, Scope, compute_scope
from sentinelle.incidents.model import Incident
from sentinelle.notify.delivery import (
    DeliveryProgress,
    DeliveryReport,
    DkimConfig,
    SmtpConfig,
    TlsMode,
    deliver,
    notice_status,
)
from sentinelle.notify.directory import address_key, open_directory
from sentinelle.notify.model import Audience
from sentinelle.notify.render import NoticeConfig, NoticePlan, plan_notices, render_samples

__all__ = ["notices", "notify"]

_LOOPBACK = ("localhost", "127.0.0.1", "::1")


class NotifyError(Error):
    """A campaign that cannot start, or that left recipients without their notice."""


def _notice_config(app: App, sender: str | None, merchant_names: dict[str, str]) -> NoticeConfig:
    s = app.settings
    missing = [
        f"SENTINELLE_{name.upper()}"
        for name, value in (
            ("shop_name", s.shop_name),
            ("shop_domain", s.shop_domain),
            ("dpo_contact", s.dpo_contact),
        )
        if not value
    ]
    if not (sender or s.notify_from):
        missing.append("SENTINELLE_NOTIFY_FROM (or --from)")
    if missing:
        raise ConfigError(f"notices need {', '.join(missing)}")
    return NoticeConfig(
        shop_name=s.shop_name or "",
        shop_domain=s.shop_domain or "",
        dpo_contact=s.dpo_contact or "",
        sender=sender or s.notify_from or "",
        default_locale=s.notify_locale,
        templates_dir=s.notify_templates,
        merchant_names=merchant_names,
        authority_address=s.authority_email,
    )


def _scope_flag(book: Incidents, incident_id: str) -> bool:
    """Whether the incident's latest recorded scope (the one assessed) was unjustified-only."""
    flag = False
    for entry in book.log(incident_id):
        if entry.change == "scope":
            flag = bool(entry.details.get("scope", {}).get("unjustified_only", False))
    return flag


def _merchant_names(spec: str | None, query: str | None, merchants: list[str]) -> dict[str, str]:
    if spec is None:
        return {}
    directory = open_directory(spec, query=query)
    try:
        return {c.party: c.name for c in directory.lookup([(None, m) for m in merchants]) if c.name}
    finally:
        directory.close()


def _smtp_target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{text!r} is not HOST:PORT", param_hint="--smtp")
    return host.strip("[]"), int(port)


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
    help="Contacts: PATH.csv, PATH.jsonl or sql:URL (columns subject,merchant,email,name,locale).",
)
@click.option("--query", help="For an sql: directory, the query taking :subject.")
@click.option(
    "--merchant-directory",
    metavar="SPEC",
    help="Merchants' contacts, to name the stores in customers' notices.",
)
@click.option("--dry-run", is_flag=True, help="Render samples to a folder; send nothing.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for --dry-run samples  [default: <data dir>/notices/ID/AUDIENCE]",
)
@click.option("--smtp", default="localhost:25", show_default=True, metavar="HOST:PORT")
@click.option("--starttls", "tls", flag_value="starttls", help="Upgrade with STARTTLS.")
@click.option("--tls", "tls", flag_value="implicit", help="TLS from the first byte (port 465).")
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
    smtp: str,
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
    again (a rerun sends only what is missing). Without --starttls or --tls, only a relay on
    this host is allowed. The SMTP login comes from SENTINELLE_SMTP_USERNAME and
    SENTINELLE_SMTP_PASSWORD; DKIM signing from SENTINELLE_DKIM_KEY and SENTINELLE_DKIM_SELECTOR.
    """
    book = Incidents(app.store)
    found = book.get(incident_id)
    chosen = Audience(audience)
    if found.facts is None or found.assessment is None:
        raise NotifyError(f"{incident_id} has no assessment yet: run sentinelle incident assess")
    duty = {Audience.SUBJECTS: "notify_subjects", Audience.AUTHORITY: "notify_authority"}
    if chosen in duty and not found.assessment.get(duty[chosen], {}).get("required", True):
        click.echo(
            f"note: the assessment does not require notifying the {chosen.value}; "
            "these notices are voluntary",
            err=True,
        )
    scope = compute_scope(app.store, found, unjustified_only=_scope_flag(book, incident_id))
    names = _merchant_names(merchant_directory, None, sorted(scope.per_merchant))
    config = _notice_config(app, sender, names)
    if dry_run:
        folder = out or app.settings.data_dir / "notices" / incident_id / chosen.value
        written = render_samples(config, found, scope, folder, audiences=[chosen])
        click.echo(f"wrote {len(written)} sample files to {folder}")
        if directory_spec is not None:
            with _planned(app, config, found, scope, chosen, directory_spec, query) as plan:
                pass
            click.echo(
                f"would send {plan.recipients:,} notices (version {notice_version}, content "
                f"{plan.version}); {len(plan.missing):,} ids not in the directory"
            )
        return
    with _one_run(app.settings.data_dir, incident_id, chosen):
        _send(
            app,
            book,
            found,
            scope=scope,
            config=config,
            audience=chosen,
            directory_spec=directory_spec,
            query=query,
            smtp=_smtp_config(app, smtp, tls, config.sender_address),
            rate=rate,
            concurrency=concurrency,
            version=notice_version,
            by=_who(by),
            as_json=as_json,
        )


@contextlib.contextmanager
def _planned(
    app: App,
    config: NoticeConfig,
    found: Incident,
    scope: Scope,
    audience: Audience,
    directory_spec: str | None,
    query: str | None,
) -> Iterator[NoticePlan]:
    """The audience's notices planned from the directory (checked whole), which stays open
    while the plan is streamed."""
    directory = open_directory(directory_spec, query=query) if directory_spec else None
    try:
        yield plan_notices(
            config,
            found,
            scope,
            audience=audience,
            key=address_key(app.settings.data_dir),
            directory=directory,
        )
    finally:
        if directory is not None:
            directory.close()


@contextlib.contextmanager
def _one_run(data_dir: Path, incident_id: str, audience: Audience) -> Iterator[None]:
    """Hold a lock file for (incident, audience): two runs at once would both take over the
    rows the other has queued."""
    folder = data_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"notify-{incident_id}-{audience.value}.lock").open("w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise NotifyError(
                f"another run is sending {incident_id}'s notices to {audience.value}; "
                "wait for it to end"
            ) from None
        yield


def _smtp_config(app: App, target: str, tls: str | None, sender: str) -> SmtpConfig:
    host, port = _smtp_target(target)
    mode = TlsMode(tls) if tls is not None else TlsMode.NONE
    if mode is TlsMode.NONE and host not in _LOOPBACK:
        raise click.UsageError(
            f"plain SMTP is only allowed to a relay on this host; use --starttls or --tls "
            f"for {host}"
        )
    s = app.settings
    dkim = None
    if s.dkim_key is not None:
        if not s.dkim_selector:
            raise ConfigError("SENTINELLE_DKIM_KEY needs SENTINELLE_DKIM_SELECTOR")
        dkim = DkimConfig(
            selector=s.dkim_selector, domain=sender.rpartition("@")[2], key_file=s.dkim_key
        )
    return SmtpConfig(
        host=host,
        port=port,
        sender=sender,
        tls=mode,
        username=s.smtp_username,
        password=s.smtp_password.get_secret_value() if s.smtp_password is not None else None,
        dkim=dkim,
    )


def _send(
    app: App,
    book: Incidents,
    found: Incident,
    *,
    scope: Scope,
    config: NoticeConfig,
    audience: Audience,
    directory_spec: str | None,
    query: str | None,
    smtp: SmtpConfig,
    rate: float | None,
    concurrency: int,
    version: int,
    by: str,
    as_json: bool,
) -> None:
    if audience is Audience.AUTHORITY:
        directory_spec = None  # one configured address; no directory to read
    elif directory_spec is None:
        raise click.UsageError(f"notices to {audience.value} need --directory")
    with _planned(app, config, found, scope, audience, directory_spec, query) as plan:
        started = book.notices_started(found.id, audience.value, version)
        if started is not None and started != plan.version:
            raise NotifyError(
                f"the {audience.value} notice changed since version {version} was first sent "
                f"(content {started} → {plan.version}): restore the facts and templates to "
                f"finish it, or send the change as --notice-version {version + 1} (everyone "
                "gets the new version)"
            )
        details = {
            "audience": audience.value,
            "version": version,
            "content": plan.version,
            "recipients": plan.recipients,
            "missing": len(plan.missing),
        }
        book.record_notices(found.id, {**details, "event": "started"}, by=by, starting=True)
        report = _deliver(app, found.id, audience, version, plan, smtp, rate, concurrency)
    book.record_notices(
        found.id, {**details, "event": "ran", **report.to_dict()}, by=by, starting=False
    )
    summary = {**report.to_dict(), "missing": len(plan.missing), "content": plan.version}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(
            f"{audience.value}: {report.sent:,} sent, {report.failed:,} failed, "
            f"{report.deferred:,} deferred, {report.skipped:,} already done, "
            f"{report.resumed:,} resumed (same Message-ID) in {report.seconds:.1f} s"
        )
    problems = []
    if plan.missing:
        shown = ", ".join(f"{m or '-'}/{p}" for m, p in plan.missing[:5])
        more = "…" if len(plan.missing) > 5 else ""
        problems.append(
            f"{len(plan.missing):,} ids are not in the directory and got no notice: {shown}{more}"
        )
    if report.failed:
        problems.append(
            f"{report.failed:,} notices were refused by the server "
            "(sentinelle incident notices ID --json)"
        )
    if report.deferred:
        problems.append(f"{report.deferred:,} notices are deferred: run the command again")
    if problems:
        raise NotifyError("; ".join(problems))


def _deliver(
    app: App,
    incident_id: str,
    audience: Audience,
    version: int,
    plan: NoticePlan,
    smtp: SmtpConfig,
    rate: float | None,
    concurrency: int,
) -> DeliveryReport:
    kwargs: dict[str, Any] = {
        "incident": incident_id,
        "audience": audience.value,
        "version": version,
        "outbound": plan,
        "smtp": smtp,
        "rate": rate,
        "concurrency": concurrency,
    }
    if not sys.stderr.isatty():
        return deliver(app.store, **kwargs)
    with click.progressbar(
        length=plan.recipients, label=f"notices to {audience.value}", file=sys.stderr
    ) as bar:
        done = 0

        def progress(p: DeliveryProgress) -> None:
            nonlocal done
            now = p.sent + p.failed + p.skipped + p.duplicates + p.deferred
            bar.update(now - done)
            done = now

        return deliver(app.store, progress=progress, **kwargs)


@incident.command()
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True, help="Counts and per-recipient status (hashed).")
@pass_app
def notices(app: App, incident_id: str, as_json: bool) -> None:
    """Where INCIDENT_ID's notices stand: sent, failed and pending per audience."""
    Incidents(app.store).get(incident_id)  # NotFoundError for an unknown id
    status = notice_status(app.store, incident_id, recipients=as_json)
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
