"""``sentinelle monitor``: check a Sentinelle ledger from outside (docs/ledger.md, "Monitoring
the ledger")."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Final

import click

from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.errors import ConfigError
from sentinelle.monitor import CONFIG_FILE, Monitor, MonitorConfig, Round, StateDir, source_for
from sentinelle.monitor.monitor import Reporter

API_KEY_ENV: Final = "SENTINELLE_MONITOR_API_KEY"
WEBHOOK_SECRET_ENV: Final = "SENTINELLE_MONITOR_WEBHOOK_SECRET"  # noqa: S105 - its name
_MAX_SECRET_BYTES: Final = 4096


def _secret(path: Path | None, env: str, what: str) -> str | None:
    """The secret in ``path`` (refused if group or others can read it), else in ``env``."""
    if path is None:
        return os.environ.get(env) or None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if mode & 0o077:
            raise ConfigError(
                f"the {what} file {path} is accessible by group or others (mode "
                f"{stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
            )
        data = f.read(_MAX_SECRET_BYTES + 1)
    if len(data) > _MAX_SECRET_BYTES:
        raise ConfigError(f"the {what} file {path} is too large")
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"the {what} file {path} is not UTF-8 text") from None
    if not text:
        raise ConfigError(f"the {what} file {path} is empty")
    return text


def _reporters(
    app: App,
    webhook: str | None,
    webhook_secret_file: Path | None,
    email_to: tuple[str, ...],
    email_from: str | None,
) -> list[Reporter]:
    from sentinelle.monitor.report import EmailReporter, WebhookReporter

    reporters: list[Reporter] = []
    if webhook is not None:
        secret = _secret(webhook_secret_file, WEBHOOK_SECRET_ENV, "webhook secret")
        if secret is None:
            raise ConfigError(
                f"--webhook needs its HMAC key: set {WEBHOOK_SECRET_ENV} or pass "
                "--webhook-secret-file"
            )
        reporters.append(WebhookReporter(webhook, secret))
    if email_to:
        from sentinelle.notify.setup import smtp_config

        sender = email_from or app.settings.notify_from
        if not sender:
            raise ConfigError("--email needs a sender: --email-from or SENTINELLE_NOTIFY_FROM")
        address = sender.rpartition("<")[2].rstrip(">").strip()
        reporters.append(EmailReporter(smtp_config(app.settings, sender=address), email_to))
    return reporters


def _print(result: Round, *, where: str, quiet_if_seen: bool, as_json: bool) -> None:
    shown = result.new if quiet_if_seen else result.findings
    if as_json:
        click.echo(
            json.dumps(
                {
                    "outcome": result.outcome.label,
                    "exit_code": int(result.outcome),
                    "size": result.size,
                    "advanced": result.advanced,
                    "seconds": round(result.seconds, 3),
                    "findings": [f.to_dict() for f in result.findings],
                    "new": [f.id for f in result.new],
                }
            )
        )
        return
    if not result.findings:
        if result.advanced or not quiet_if_seen:
            moved = "moved" if result.advanced else "unchanged"
            click.echo(f"ok: {where} verified up to tree size {result.size} ({moved})")
        return
    for f in shown:
        click.echo(f"{f.outcome.label}: {f.message}")
        if f.evidence is not None:
            click.echo(f"  evidence: {f.evidence}")


@cli_group.command()
@click.option(
    "--state",
    "state_path",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("sentinelle-monitor"),
    show_default=True,
    help="The monitor's own directory (mode 0700): its last verified checkpoint, the evidence "
    "it keeps, its config by default. Back it up; never replace it with an older copy.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"The pinned keys, quorum and log address (TOML) [default: STATE/{CONFIG_FILE}].",
)
@click.option("--url", help="Read the log's API at URL (over the config's url/published).")
@click.option(
    "--published",
    metavar="DIR|URL",
    help="Read a copy published by `ledger publish --tiles` (over the config's).",
)
@click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"File holding the API key (mode 0600) [default: ${API_KEY_ENV}].",
)
@click.option("--once", is_flag=True, help="One round, then exit with its code (the default).")
@click.option(
    "--every",
    type=click.IntRange(1, 7 * 86_400),
    metavar="SECONDS",
    help="A round every SECONDS until interrupted; each finding is reported once.",
)
@click.option("--webhook", metavar="URL", help="POST each finding there, HMAC-signed JSON.")
@click.option(
    "--webhook-secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"File holding the webhook's HMAC key (mode 0600) [default: ${WEBHOOK_SECRET_ENV}].",
)
@click.option(
    "--email",
    "email_to",
    multiple=True,
    metavar="ADDRESS",
    help="E-mail each finding there (repeatable), through SENTINELLE_SMTP as notices are.",
)
@click.option("--email-from", help="Sender of those e-mails [default: SENTINELLE_NOTIFY_FROM].")
@click.option(
    "--merchant",
    help="Also check that no access of this merchant was left out: its slice between the "
    "checkpoint held and the new one (API only; over the config's merchant).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per round.")
@pass_app
def monitor(
    app: App,
    state_path: Path,
    config_path: Path | None,
    url: str | None,
    published: str | None,
    api_key_file: Path | None,
    once: bool,
    every: int | None,
    webhook: str | None,
    webhook_secret_file: Path | None,
    email_to: tuple[str, ...],
    email_from: str | None,
    merchant: str | None,
    as_json: bool,
) -> None:
    """Check that a Sentinelle ledger shows one append-only history, from your own machine.

    Each round fetches the log's newest checkpoint and the newest one its witnesses cosigned,
    checks the log's signature (pinned log key), the witnesses' cosignatures (pinned keys, a
    quorum) and the consistency proof from the checkpoint verified last, kept in STATE. The
    state moves forward only after a round with no finding. Exit codes (the most serious
    finding wins):

    \b
      0  ok                 all checks passed
      1  error              bad config or options, refused (corrupt) state, monitor locked
      3  unreachable        the log could not be read: proves nothing
      4  cosignatures       under the quorum of valid cosignatures, or a forged one
      5  bad_checkpoint     not signed by a pinned log key, malformed, other origin
      6  smaller_tree       fewer leaves than signed before: checkpoints deleted, rollback
      7  rewritten_history  the log's tree no longer holds the checkpoint verified last
      8  split_view         two signed roots for one size, or no proof ties them
      9  missing_access     (--merchant) the log cannot prove the merchant's list complete

    Misbehaviours keep the conflicting signed notes in STATE/evidence/. The API key comes
    from $SENTINELLE_MONITOR_API_KEY or --api-key-file, never the command line.
    """
    if once and every is not None:
        raise click.UsageError("--once and --every exclude each other")
    config = MonitorConfig.from_toml(config_path or state_path / CONFIG_FILE)
    if url is not None or published is not None:
        target_url, target_published = url, published
    else:
        target_url, target_published = config.url, config.published
    api_key = _secret(api_key_file, API_KEY_ENV, "API key") if target_url is not None else None
    source = source_for(url=target_url, published=target_published, api_key=api_key)
    slice_check = None
    merchant = merchant or config.merchant
    if merchant is not None:
        from sentinelle.monitor.slices import ApiSliceCheck
        from sentinelle.monitor.source import ApiSource

        if not isinstance(source, ApiSource):
            raise ConfigError("--merchant needs the log's API (url): slices are not published")
        slice_check = ApiSliceCheck(source, merchant, config.origin)
    engine = Monitor(
        config=config,
        source=source,
        state_dir=StateDir(state_path),
        reporters=_reporters(app, webhook, webhook_secret_file, email_to, email_from),
        slice_check=slice_check,
    )
    if every is None:
        result = engine.round()
        _print(result, where=source.where, quiet_if_seen=False, as_json=as_json)
        sys.exit(int(result.outcome))
    while True:
        result = engine.round()
        _print(result, where=source.where, quiet_if_seen=True, as_json=as_json)
        time.sleep(every)
