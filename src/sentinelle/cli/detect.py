"""``sentinelle detect`` and ``sentinelle alerts``."""

from __future__ import annotations

import getpass
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click

from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.cli.outbound import deliver_now
from sentinelle.detect import DetectConfig, DetectionRunner, Severity, risk_by_actor
from sentinelle.detect.feeds import saved_feeds
from sentinelle.detect.triage import MAX_SUPPRESS_DAYS, Status, triage, triage_json
from sentinelle.response import ResponseEngine
from sentinelle.store import open_store
from sentinelle.timeutil import DAY, HOUR, MINUTE, iso, parse_time

_AGO = re.compile(r"(\d{1,7})\s*([mhdw])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNITS = {"m": MINUTE, "h": HOUR, "d": DAY, "w": 7 * DAY}


def parse_time_or_ago(text: str, *, now_us: int) -> int:
    """An RFC 3339 time, a date (its midnight UTC), or a duration back from ``now_us``:
    ``30m``, ``24h``, ``7d``, ``2w``. Raises ``ValueError`` naming the accepted forms."""
    ago = _AGO.fullmatch(text.strip())
    if ago:
        return now_us - int(ago[1]) * _UNITS[ago[2]]
    try:
        return parse_time(text)
    except ValueError as exc:
        if "out of range" in str(exc):  # a time, but not one Sentinelle can hold: say so
            raise
        raise ValueError(
            f"{text!r} is not a time: use RFC 3339 (2026-11-23T10:00:00Z), a date (2026-11-23) "
            "or a duration back from now (30m, 24h, 7d, 2w)"
        ) from None


class _Time(click.ParamType):  # type: ignore[type-arg]
    """An RFC 3339 time, a date (midnight UTC), or a duration back from now (``7d``); with
    ``end_of_day``, a date alone is the last microsecond of that day (the end of a window
    that includes its last day)."""

    name = "TIME"

    def __init__(self, *, end_of_day: bool = False) -> None:
        self.end_of_day = end_of_day

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        try:
            found = parse_time_or_ago(str(value), now_us=time.time_ns() // 1000)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if self.end_of_day and _DATE.fullmatch(str(value).strip()):
            return found + DAY - 1
        return found


TIME = _Time()
#: A window's included end: a date alone means the whole of that day.
END_TIME = _Time(end_of_day=True)


class _TimeProgress:
    """A progress bar on stderr over event times, from the first event read to ``until`` (or
    now); it appears with the first events."""

    def __init__(self, until_us: int | None) -> None:
        self.end = until_us if until_us is not None else time.time_ns() // 1000
        self.first: int | None = None
        self.done = 0
        self.bar: Any = None

    def __call__(self, time_us: int) -> None:
        if self.first is None:
            self.first = time_us
            length = max(1, (self.end - time_us) // 10**6)
            self.bar = click.progressbar(length=length, label="detecting", file=sys.stderr)
            self.bar.__enter__()
        now = min(max(0, (time_us - self.first) // 10**6), self.bar.length)
        self.bar.update(now - self.done)
        self.done = now

    def __enter__(self) -> _TimeProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.update(self.bar.length - self.done)
            self.bar.__exit__(*exc)


_SEVERITIES = click.Choice(["low", "medium", "high", "critical"])


@cli_group.command()
@click.option(
    "--since",
    type=TIME,
    help="Only alerts from this time: RFC 3339, a date, or a duration back from now "
    "(30m, 24h, 7d, 2w).",
)
@click.option("--until", type=TIME, help="Only events before this time (same forms as --since).")
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Detection thresholds (TOML) [default: SENTINELLE_DETECT_CONFIG or built-in].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
def detect(
    app: App, since: int | None, until: int | None, config: Path | None, as_json: bool
) -> None:
    """Run the detectors over stored history and store their alerts.

    Baselines warm up on the 28 days before --since. Rerunning over the same range replaces
    alerts instead of duplicating them. Live detection after each ingest needs no command;
    run this for events live detection left out (it says so) or after changing thresholds.
    On a terminal, a progress bar on stderr follows the event times read.
    """
    if since is not None and until is not None and since >= until:
        raise click.BadParameter(
            f"--since ({iso(since)}) must be before --until ({iso(until)})", param_hint="--since"
        )
    cfg = DetectConfig.from_toml(config) if config else app.detect_config
    started = time.perf_counter()
    runner = DetectionRunner(app.reader, cfg)  # over stored history: creates no store
    if sys.stderr.isatty():
        with _TimeProgress(until) as progress:
            alerts = runner.replay(since, until, progress=progress)
    else:
        alerts = runner.replay(since, until)
    took = time.perf_counter() - started
    for note in runner.notes:
        click.echo(f"warning: {note}", err=True)
    by_severity = Counter(str(a.severity) for a in alerts)
    by_detector = Counter(a.detector for a in alerts)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "alerts": len(alerts),
                    "by_severity": by_severity,
                    "by_detector": by_detector,
                    "seconds": round(took, 2),
                }
            )
        )
        return
    grades = ", ".join(
        f"{n} {s}" for s, n in sorted(by_severity.items(), key=lambda x: -Severity.parse(x[0]))
    )
    click.echo(f"{len(alerts)} alerts in {took:.1f} s" + (f": {grades}" if grades else ""))
    for name, n in by_detector.most_common():
        click.echo(f"  {name}: {n}")


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "unknown"


_STATUSES = click.Choice([s.value for s in Status])
_DECISIONS = click.Choice([s.value for s in Status if s is not Status.NEW])


@cli_group.group(invoke_without_command=True)
@click.option("--actor", help="Only this actor's alerts.")
@click.option(
    "--since",
    type=TIME,
    help="Only alerts triggered from this time: RFC 3339, a date, or a duration back from "
    "now (30m, 24h, 7d, 2w).",
)
@click.option("--min-severity", type=_SEVERITIES, default="low", show_default=True)
@click.option("--status", type=_STATUSES, help="Only alerts with this triage status.")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per line, with the triage history."
)
@pass_app
def alerts(
    app: App,
    actor: str | None,
    since: int | None,
    min_severity: str,
    status: str | None,
    as_json: bool,
) -> None:
    """List stored alerts, oldest first, with their triage status and reasons; `alerts
    triage` records a decision on one."""
    if click.get_current_context().invoked_subcommand is not None:
        return
    found = DetectionRunner(app.reader).alerts(
        actor=actor,
        since_us=since,
        min_severity=int(Severity.parse(min_severity)),
        status=status,
    )
    if not found:  # a note on stderr: stdout stays the (empty) list
        filtered = (
            actor is not None or since is not None or min_severity != "low" or status is not None
        )
        click.echo(f"no {'matching ' if filtered else ''}alerts in {app.location}", err=True)
    shown = triage_json(app.reader, [a.to_dict() for a in found])
    for alert, data in zip(found, shown, strict=True):
        if as_json:
            click.echo(json.dumps(data))
            continue
        click.echo(
            f"{iso(alert.time_us)}  {str(alert.severity).upper():8} {data['status']:12} "
            f"{alert.actor}  {alert.detector}  [{alert.id}]"
        )
        for reason in alert.reasons:
            click.echo(f"    {reason}")
        if data["triage"]:
            last = data["triage"][-1]
            extra = f", incident {last['incident']}" if last["incident"] else ""
            if last["suppress_until"]:
                extra += f", suppressed until {last['suppress_until']}"
            click.echo(
                f"    {last['status']} by {last['by']} at {last['at']}{extra}: {last['reason']}"
            )


@alerts.command("deliver")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_app
def deliver(app: App, as_json: bool) -> None:
    """Alias of `sentinelle outbound deliver`: queue the 72-hour deadline warnings that are
    due, then send every delivery due now to the alert destinations."""
    deliver_now(app, as_json)


@alerts.command("triage")
@click.argument("alert_id")
@click.option("--status", "status", type=_DECISIONS, required=True, help="The decision.")
@click.option("--reason", required=True, help="Why (kept in the alert's triage history).")
@click.option(
    "--incident",
    help="Escalation: join this incident [default: open a new one from the alert].",
)
@click.option(
    "--suppress-days",
    type=click.IntRange(0, MAX_SUPPRESS_DAYS),
    help="Dismissal: the same actor and detector raise no alert for this many days.",
)
@click.option("--by", help="Who decides [default: your user name].")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@pass_app
def triage_(
    app: App,
    alert_id: str,
    status: str,
    reason: str,
    incident: str | None,
    suppress_days: int | None,
    by: str | None,
    as_json: bool,
) -> None:
    """Record a decision on ALERT_ID: acknowledged, dismissed or escalated (an incident)."""
    store = app.reader
    engine = ResponseEngine(store, reopen=lambda: open_store(app.settings, create=False))
    decided = triage(
        store,
        engine,
        [alert_id],
        status,
        by=_who(by),
        reason=reason,
        incident=incident,
        suppress_days=suppress_days,
    )
    if as_json:
        click.echo(json.dumps(decided.to_dict()))
        return
    row = decided.decisions[0]
    line = f"{alert_id}: {row.status}"
    if decided.incident is not None:
        line += f", incident {decided.incident}" + (" (opened)" if decided.opened else "")
    if row.suppress_until_us is not None:
        line += f"; its actor and detector raise no alert until {iso(row.suppress_until_us)}"
    click.echo(line)


@cli_group.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--top", default=20, show_default=True, type=click.IntRange(min=1))
@pass_app
def risk(app: App, as_json: bool, top: int) -> None:
    """Actors by risk (alerts weighted by severity, halving every 7 days)."""
    found = DetectionRunner(app.reader).alerts()
    if not found:
        click.echo(f"no alerts in {app.location}", err=True)
        return
    now = max(a.last_us for a in found)
    ranked = sorted(risk_by_actor(found, now).items(), key=lambda x: -x[1])[:top]
    for actor, score in ranked:
        if as_json:
            click.echo(json.dumps({"actor": actor, "risk": round(score, 1)}))
        else:
            click.echo(f"{score:5.1f}  {actor}")


@cli_group.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_app
def feeds(app: App, as_json: bool) -> None:
    """What live detection knows of the help desk's and HR's feeds, and what it infers
    where they are silent: tickets taken as stated while no ticket event comes, a ticket's
    first citer as its assignee where none is named, a ticket of one assignee as theirs where
    no opener is named (docs/detection.md). As of the newest event it read."""
    found = saved_feeds(app.reader, app.location)
    if as_json:
        click.echo(json.dumps(found.to_dict()))
        return
    for line in found.lines():
        click.echo(line)
