"""``sentinelle demo``: the main job end to end on the embedded store."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import time
from pathlib import Path

import click

from sentinelle.cli.app import App, cli_group, pass_app
from sentinelle.config import Settings
from sentinelle.detect import Alert, DetectionRunner, Severity
from sentinelle.incidents import Incident, Scope, ScopeBasis
from sentinelle.ingest import Ingestor, iter_json_lines
from sentinelle.ledger.merkle import verify_inclusion
from sentinelle.notify.directory import address_key, open_directory
from sentinelle.notify.model import Audience
from sentinelle.notify.render import NoticeConfig, plan_notices, render_samples
from sentinelle.response import ResponseEngine
from sentinelle.sim import Simulation, simulate
from sentinelle.timeutil import iso, parse_time


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
@pass_app
def demo(
    app: App, merchants: int, agents: int, days: int, seed: int, end: dt.datetime | None
) -> None:
    """Simulate a month of support work with two insiders harvesting customer data, ingest it
    with live detection, show the alerts with their reasons, verify the ledger and prove an event.

    The month is the days up to today (00:00 UTC), so the incident is fresh; the same seed
    and --end give the same events. Runs in its own folder, <data dir>/demo, emptied first,
    on SQLite.
    """
    folder = app.settings.data_dir / "demo"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    demo_app = App(Settings(data_dir=folder, log_origin=app.settings.log_origin))
    try:
        _run(
            demo_app,
            folder,
            merchants=merchants,
            agents=agents,
            days=days,
            seed=seed,
            end=end.date() if end is not None else dt.datetime.now(dt.UTC).date(),
        )
    finally:
        demo_app.close()


def _run(
    app: App, folder: Path, *, merchants: int, agents: int, days: int, seed: int, end: dt.date
) -> None:
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
    with events_file.open("rb") as f:
        result = Ingestor(app.store, app.ledger).ingest(iter_json_lines(f))
    ingested = time.perf_counter() - started
    started = time.perf_counter()
    alerts = DetectionRunner(app.store, app.detect_config).catch_up()
    detected = time.perf_counter() - started
    click.echo(
        f"2. ingested {result.stored:,} events in {ingested:.1f} s "
        f"({result.stored / ingested:,.0f}/s) into the ledger, then ran the detectors "
        f"in {detected:.1f} s: {len(alerts)} alerts"
    )
    with events_file.open("rb") as f:
        again = Ingestor(app.store, app.ledger).ingest(iter_json_lines(f))
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
    if flagged:
        _incident(app, flagged, sim.truth["end"], sim=sim, folder=folder)
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
    program = sys.argv[0] if sys.argv and sys.argv[0].endswith("sentinelle") else "sentinelle"
    click.echo(f"Next: SENTINELLE_DATA_DIR={folder} {program} alerts --min-severity medium")


def _incident(app: App, flagged: list[Alert], end: str, *, sim: Simulation, folder: Path) -> None:
    """Open the incident a responder would, from the alerts on the insiders, scope and assess;
    then render its notices (a dry run: nothing is sent)."""
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


def _notices(app: App, found: Incident, scope: Scope, *, sim: Simulation, folder: Path) -> None:
    """Render the incident's notices for review and plan them against the simulated shop's
    contact directory (``simulate --directory``): how many people, in which languages."""
    customers, merchants = sim.write_directory(folder / "directory")
    names = {
        c.party: c.name
        for c in open_directory(str(merchants)).lookup([(None, m) for m in scope.per_merchant])
        if c.name
    }
    config = NoticeConfig(
        shop_name="Demo Shop",
        shop_domain="shop.example",
        dpo_contact="dpo@shop.example",
        sender="Demo Shop privacy team <privacy@shop.example>",
        merchant_names=names,
        authority_address="breach-notifications@authority.example",
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
