"""``sentinelle demo``: the main job end to end on the embedded store, then the console on it.

The demo runs in ``<data dir>/demo``, emptied first: every run starts afresh, with new demo
accounts (one per role, random passwords printed once and kept nowhere but as argon2id
hashes). At a terminal it then serves the console on that folder, with a mail catcher
(:mod:`sentinelle.notify.catcher`) for the notices sent from it, until Ctrl-C; otherwise (or
with ``--no-serve``) it prints the command that does (``sentinelle demo --serve-only``).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import secrets
import shlex
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any, Final

import click

from sentinelle.access import Role
from sentinelle.access.accounts import create_user
from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.config import Settings
from sentinelle.detect import Alert, DetectionRunner, Severity
from sentinelle.errors import ConfigError
from sentinelle.incidents import Incident, Scope, ScopeBasis
from sentinelle.ingest import Ingestor, open_input
from sentinelle.ledger.merkle import verify_inclusion
from sentinelle.notify.directory import address_key, open_directory
from sentinelle.notify.model import Audience
from sentinelle.notify.render import plan_notices, render_samples
from sentinelle.notify.setup import merchant_names, notice_config
from sentinelle.response import ResponseEngine
from sentinelle.sim import Simulation, simulate
from sentinelle.store import sqlite_path
from sentinelle.timeutil import iso, parse_time

# Who the demo's notices come from, for the dry run and for the console's settings.
_SHOP: Final = {
    "shop_name": "Demo Shop",
    "shop_domain": "shop.example",
    "dpo_contact": "dpo@shop.example",
    "notify_from": "Demo Shop privacy team <privacy@shop.example>",
    "authority_email": "breach-notifications@authority.example",
}
# One account per role a person uses; the merchant's is bound to a merchant of the incident.
_ACCOUNTS: Final = (
    ("responder@demo.invalid", Role.RESPONDER, "triages alerts, opens and scopes incidents"),
    ("dpo@demo.invalid", Role.DPO, "also assesses incidents and notifies"),
    ("auditor@demo.invalid", Role.AUDITOR, "reads everything, changes nothing"),
    ("admin@demo.invalid", Role.ADMIN, "everything, including accounts and keys"),
)
_MERCHANT_ACCOUNT: Final = "merchant@demo.invalid"
_DEFAULT_PORT: Final = 8000
_PORT_TRIES: Final = 20


@cli_group.command()
@click.option("--merchants", default=600, show_default=True, type=click.IntRange(20, 100_000))
@click.option("--agents", default=60, show_default=True, type=click.IntRange(20, 10_000))
@click.option("--days", default=30, show_default=True, type=click.IntRange(21, 365))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option(
    "--end",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The simulated days end at midnight UTC of this day, YYYY-MM-DD.  [default: today]",
)
@click.option(
    "--serve/--no-serve",
    default=None,
    help="Then serve the console on the demo (or print how to).  [default: serve when "
    "standard output is a terminal]",
)
@click.option(
    "--serve-only",
    is_flag=True,
    help="Serve the console on the demo an earlier run left in the data dir; run nothing.",
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address the console listens on."
)
@click.option(
    "--port",
    default=_DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help=f"Port of the console; if taken, the next free one of {_PORT_TRIES}. 0: any free port.",
)
@pass_app
def demo(
    app: App,
    merchants: int,
    agents: int,
    days: int,
    seed: int,
    end: dt.datetime | None,
    serve: bool | None,
    serve_only: bool,
    host: str,
    port: int,
) -> None:
    """Simulate a month of support work with two insiders harvesting customer data, ingest it
    with live detection, show the alerts with their reasons, open and assess the incident,
    draft its notices, verify the ledger and prove an event; then serve the console on it.

    The month is the days up to today (00:00 UTC), so the incident is fresh; the same seed
    and --end give the same events. Runs in its own folder, <data dir>/demo, emptied first,
    on SQLite, and creates one console account per role there, with new random passwords
    printed once.

    At a terminal it then serves the console on http://HOST:PORT until Ctrl-C, with a local
    mail catcher that keeps the notices sent from the console in <data dir>/demo/outbox/;
    otherwise it prints the command that does: sentinelle demo --serve-only.
    """
    folder = app.settings.data_dir / "demo"
    program = sys.argv[0] if sys.argv and sys.argv[0].endswith("sentinelle") else "sentinelle"
    if serve_only:
        if serve is False:
            raise click.UsageError("--serve-only serves: not with --no-serve")
        _check_demo(_demo_settings(app, folder))
        _serve(app, folder, host=host, port=port, logins=None)
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, mode=0o700)
    demo_app = App(_demo_settings(app, folder))
    try:
        merchant = _run(
            demo_app,
            folder,
            merchants=merchants,
            agents=agents,
            days=days,
            seed=seed,
            end=end.date() if end is not None else dt.datetime.now(dt.UTC).date(),
            program=program,
        )
        logins = _accounts(demo_app, merchant)
    finally:
        demo_app.close()
    if serve if serve is not None else sys.stdout.isatty():
        _serve(app, folder, host=host, port=port, logins=logins)
        return
    _print_logins(logins)
    command = [program, "demo", "--serve-only", "--data-dir", str(app.settings.data_dir)]
    if host != "127.0.0.1":
        command += ["--host", host]
    if port != _DEFAULT_PORT:
        command += ["--port", str(port)]
    why = "--no-serve" if serve is False else "standard output is not a terminal"
    click.echo(
        f"Not serving the console ({why}). To serve it on this demo, with a mail catcher\n"
        f"keeping its notices in {folder / 'outbox'}/:"
    )
    click.echo(f"   {shlex.join(command)}")
    where = f"{_url(host, port)}/login" if port else "the URL it prints"
    click.echo(f"then open {where} and log in with an account above.")


def _demo_settings(app: App, folder: Path, **more: Any) -> Settings:
    """The demo folder's settings: its notices come from the demo shop (``more`` added)."""
    values: dict[str, Any] = {
        "data_dir": folder,
        "log_origin": app.settings.log_origin,
        **_SHOP,
        **more,
    }
    return Settings(**values)


def _check_demo(settings: Settings) -> None:
    path = sqlite_path(settings)
    directory = settings.data_dir / "directory"
    if (path is not None and not path.exists()) or not directory.is_dir():
        raise ConfigError(
            f"no demo in {settings.data_dir}: run `sentinelle demo` first (with the same "
            "--data-dir)"
        )


def _accounts(app: App, merchant: str | None) -> list[tuple[str, str, str]]:
    """Create the demo's accounts with new random passwords: (e-mail, password, what for)."""
    wanted: list[tuple[str, Role, str | None, str]] = [
        (email, role, None, f"{role.value}: {what}") for email, role, what in _ACCOUNTS
    ]
    if merchant is not None:
        what = f"merchant: {merchant}'s accesses (a merchant in the incident)"
        wanted.append((_MERCHANT_ACCOUNT, Role.MERCHANT, merchant, what))
    logins = []
    for email, role, bound, what in wanted:
        password = secrets.token_urlsafe(16)  # 22 characters, 128 bits
        create_user(app.store, email=email, role=role, password=password, merchant=bound, by="demo")
        logins.append((email, password, what))
    return logins


def _print_logins(logins: list[tuple[str, str, str]] | None) -> None:
    if logins is None:
        click.echo(
            "Log in with the accounts `sentinelle demo` printed when it made this folder\n"
            "(their passwords are kept nowhere: run the demo again for new ones)."
        )
        return
    click.echo(
        "8. console accounts, one per role: demo credentials for this throwaway local store,\n"
        "   shown only now (every run of the demo starts afresh, with new ones):"
    )
    width = max(len(email) for email, _, _ in logins)
    for email, password, what in logins:
        click.echo(f"   {email:<{width}}  {password}  {what}")


def _url(host: str, port: int) -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host`` and ``port``, or the next free port of :data:`_PORT_TRIES`.

    Raises :class:`ConfigError` if none is free or the address is not this host's.
    """
    candidates = [0] if port == 0 else range(port, min(port + _PORT_TRIES, 65536))
    for candidate in candidates:
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                host, candidate, type=socket.SOCK_STREAM
            )[0]
        except socket.gaierror as exc:
            raise ConfigError(f"cannot listen on {host}: {exc.strerror}") from None
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                continue
            raise ConfigError(
                f"cannot listen on {host}:{candidate}: {exc.strerror or exc}"
            ) from None
        # Listening now, before the console's address is printed: a browser (or a test)
        # that connects at once waits in the backlog until the server accepts, rather than
        # being refused while it starts.
        sock.listen(2048)
        return sock
    raise ConfigError(
        f"ports {port} to {candidates[-1]} of {host} are all taken: choose another with --port"
    )


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _serve(
    app: App, folder: Path, *, host: str, port: int, logins: list[tuple[str, str, str]] | None
) -> None:
    """Serve the console on the demo folder, with a mail catcher for its notices, until
    Ctrl-C (or SIGTERM)."""
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the console needs the 'demo' extra: pip install 'sentinelle[demo]' ({exc})"
        ) from None
    from sentinelle.api.main import create_app
    from sentinelle.notify.catcher import MailCatcher

    directory = folder / "directory"
    sock = _listen(host, port)
    catcher = MailCatcher(folder / "outbox")
    try:
        catcher.start()
        settings = _demo_settings(
            app,
            folder,
            smtp=f"127.0.0.1:{catcher.port}",
            smtp_tls="none",
            notify_directory=str(directory / "customers.csv"),
            notify_query=None,
            merchant_directory=str(directory / "merchants.csv"),
        )
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")
        )
        bound = sock.getsockname()[1]
        _print_logins(logins)
        click.echo(
            "Notices sent from the console go to a local mail catcher "
            f"(SMTP on 127.0.0.1:{catcher.port}; nothing\nleaves this machine), "
            f"one .eml file each in {catcher.outbox}/"
        )
        if port not in (0, bound):
            click.echo(f"Port {port} is taken: serving on {bound}.")
        click.echo(f"Console: {_url(host, bound)}/login  (Ctrl-C stops it)")
        # uvicorn stops on SIGINT or SIGTERM, then raises the signal again: both end here.
        terminate = signal.signal(signal.SIGTERM, _interrupt)
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, terminate)
    finally:
        catcher.stop()
        sock.close()
    kept = f"; {catcher.count} message(s) kept in {catcher.outbox}/" if catcher.count else ""
    click.echo(f"Stopped the console and the mail catcher{kept}.")


def _run(
    app: App,
    folder: Path,
    *,
    merchants: int,
    agents: int,
    days: int,
    seed: int,
    end: dt.date,
    program: str,
) -> str | None:
    """The demo's steps 1 to 7; a merchant in the incident's scope, if an incident was opened."""
    events_file, truth_file = folder / "events.jsonl", folder / "truth.json"
    sim = simulate(
        merchants=merchants, agents=agents, days=days, seed=seed, scenarios="pair_harvest", end=end
    )
    summary = sim.write(str(events_file), truth=str(truth_file))
    insiders = sim.truth["scenarios"][0]["actors"]
    click.echo(
        f"1. simulated the {days} days up to {sim.truth['end']} of a support operation "
        f"({merchants} merchants, {agents} agents): {summary.events:,} events → {events_file}"
    )
    click.echo(
        f"   hidden in it (ground truth in {truth_file.name}, never in the events): "
        f"{' and '.join(insiders)} harvest customer data of many merchants"
    )
    started = time.perf_counter()
    with open_input(str(events_file)) as f:  # as `sentinelle ingest --no-detect` stores it
        result = Ingestor(app.store, app.ledger).ingest_file(str(events_file), f)
    ingested = time.perf_counter() - started
    started = time.perf_counter()
    alerts = DetectionRunner(app.store, app.detect_config).catch_up()
    detected = time.perf_counter() - started
    click.echo(
        f"2. ingested {result.stored:,} events in {ingested:.1f} s "
        f"({result.stored / ingested:,.0f}/s) into the ledger, then ran the detectors "
        f"in {detected:.1f} s: {len(alerts)} alerts"
    )
    with open_input(str(events_file)) as f:
        again = Ingestor(app.store, app.ledger).ingest_file(str(events_file), f)
    click.echo(
        f"3. sent the same file again: {again.duplicates:,} duplicates, {again.stored} stored"
    )
    serious = sorted((a for a in alerts if a.severity >= Severity.MEDIUM), key=lambda a: a.time_us)
    flagged = [a for a in serious if a.actor in insiders]
    others = {a.actor for a in serious if a.actor not in insiders}
    click.echo(
        f"4. medium-or-higher alerts: {len(serious)}, {len(flagged)} of them on the two insiders; "
        f"{len(others)} other actor(s) of {agents} got one. The first ones on the insiders:"
    )
    for alert in flagged[:5]:
        click.echo(f"   {iso(alert.time_us)} {str(alert.severity).upper()} {alert.detector}")
        for reason in alert.reasons:
            click.echo(f"     {reason}")
    merchant = None
    if flagged:
        merchant = _incident(app, flagged, sim.truth["end"], sim=sim, folder=folder)
    report = app.ledger.verify()
    click.echo(
        f"5. verified the ledger: {report.leaves:,} leaves recomputed, "
        f"{report.checkpoints} signed checkpoint(s) checked"
    )
    cp = app.store.latest_checkpoint()
    click.echo("6. latest checkpoint (C2SP signed note):")
    click.echo("   " + (cp.note if cp else "").replace("\n", "\n   ").rstrip())
    click.echo(f"   verifier key: {app.ledger.key.verifier_key()}")
    event_id = flagged[0].events[0] if flagged else json.loads(next(iter(sim.lines())))["id"]
    proof = app.ledger.proof(event_id)
    verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        proof["leaf_index"],
        proof["tree_size"],
        [bytes.fromhex(h) for h in proof["inclusion_path"]],
        bytes.fromhex(proof["root_hash"]),
    )
    click.echo(
        f"7. inclusion proof of the alert's event {event_id}: leaf {proof['leaf_index']}, "
        f"{len(proof['inclusion_path'])} hashes, verified against root {proof['root_hash'][:16]}…"
    )
    click.echo(f"Next: SENTINELLE_DATA_DIR={folder} {program} alerts --min-severity medium")
    return merchant


def _incident(
    app: App, flagged: list[Alert], end: str, *, sim: Simulation, folder: Path
) -> str | None:
    """Open the incident a responder would, from the alerts on the insiders, scope and assess;
    then render its notices (a dry run: nothing is sent). The first merchant in its scope."""
    actors = sorted({a.actor for a in flagged})
    response = ResponseEngine(app.store)
    found = response.open(
        title="Support agents opening other merchants' customer lists",
        by="demo",
        actors=actors,
        alert_id=flagged[0].id,
        to_us=parse_time(end),
    )
    # The DPO becomes aware now, opening the incident from the alerts: the clock starts here.
    outcome = response.assess(found.id, by="demo", basis=ScopeBasis.UNJUSTIFIED)
    scope = outcome.scope.scope
    click.echo(
        f"   incident {found.id} for {' and '.join(actors)}, scoped from the ledger "
        f"({outcome.scope.basis.header}): {len(scope.per_merchant)} merchants, "
        f"{len(scope.subject_ids):,} customers, {scope.records:,} records, "
        f"categories {', '.join(scope.categories)}"
    )
    decision = outcome.assessment
    click.echo(
        f"   ENISA severity: {decision.severity.level.replace('_', ' ')} "
        f"(SE {decision.severity.score:g})"
    )
    for duty, label in (
        (decision.notify_authority, "authority"),
        (decision.notify_subjects, "customers"),
    ):
        click.echo(f"   {label}: {'must be notified' if duty.required else 'no notification'}")
        for reason in duty.reasons[:3]:
            click.echo(f"     - {reason}")
    click.echo(f"   72-hour clock for the authority: {response.clock(found.id).summary()}")
    _notices(app, outcome.incident, scope, sim=sim, folder=folder)
    return min(scope.per_merchant, default=None)


def _notices(app: App, found: Incident, scope: Scope, *, sim: Simulation, folder: Path) -> None:
    """Render the incident's notices for review and plan them against the simulated shop's
    contact directory (``simulate --directory``): how many people, in which languages."""
    customers, merchants = sim.write_directory(folder / "directory")
    # The demo folder's settings name the demo shop (_SHOP): the config `incident notify` and
    # the console would make.
    config = notice_config(
        app.settings,
        merchant_names=merchant_names(str(merchants), None, sorted(scope.per_merchant)),
    )
    out = folder / "notices"
    render_samples(config, found, scope, out)
    key = address_key(app.settings.data_dir)
    counts = {}
    for audience, spec in ((Audience.SUBJECTS, customers), (Audience.MERCHANTS, merchants)):
        plan = plan_notices(
            config, found, scope, audience=audience, key=key, directory=open_directory(str(spec))
        )
        counts[audience] = (plan.recipients, len(plan.missing))
    people, missing = counts[Audience.SUBJECTS]
    click.echo(
        f"   notices (dry run, nothing sent): {people:,} customers (one per address: "
        f"{len(scope.subject_ids) - people - missing:,} more accounts belong to people who are "
        "customers of several affected shops), "
        f"{counts[Audience.MERCHANTS][0]:,} merchants and the authority, in English or French "
        f"by each person's locale; samples in {out}"
    )
    click.echo(f"   read one: {out / 'subjects-fr.html'}")
