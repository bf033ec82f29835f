"""``sentinelle simulate``: a realistic support operation as events, with insider scenarios."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import click

from sentinelle.cli.app import cli_group
from sentinelle.sim import PROFILES, SCENARIO_NAMES, Simulation, parse_scenarios, simulate


@cli_group.command("simulate")
@click.option(
    "--merchants",
    default=3000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Merchants on the platform (heavy-tailed customer bases).",
)
@click.option(
    "--agents",
    default=250,
    show_default=True,
    type=click.IntRange(min=1),
    help="Support staff: tier1, tier2, billing, fraud, onboarding, QA and leads.",
)
@click.option(
    "--days",
    default=45,
    show_default=True,
    type=click.IntRange(min=1),
    help="Length of the window, in days.",
)
@click.option("--seed", default=1, show_default=True, type=int, help="Same seed, same bytes.")
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="First day (UTC), YYYY-MM-DD.  [default: 2026-10-19, unless --end is given]",
)
@click.option(
    "--end",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Or the window's end instead of its start: it ends at midnight UTC of this day, "
    "YYYY-MM-DD (today's date: the days up to today).",
)
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    metavar="NAME[,NAME…]",
    help=f"Insider scenarios to add: all, or some of {', '.join(SCENARIO_NAMES)}. "
    "Repeatable. [default: none]",
)
@click.option(
    "--profile",
    default="default",
    show_default=True,
    type=click.Choice(list(PROFILES)),
    help="Kind of desk: team mix and benign look-alikes of the scenarios (docs/simulator.md); "
    "holdout is kept out of tuning.",
)
@click.option(
    "--out",
    default="-",
    show_default=True,
    metavar="FILE|-",
    help="Events as JSON lines; gzip if FILE ends in .gz; - for standard output.",
)
@click.option(
    "--truth",
    default=None,
    metavar="FILE",
    help="Write the ground truth (which events are malicious) as JSON.",
)
@click.option(
    "--directory",
    default=None,
    metavar="FOLDER",
    help="Also write a matching synthetic contact directory (customers.csv, merchants.csv; "
    "addresses under example.com/example.org) for rehearsing notices.",
)
@click.option(
    "--guard",
    "guarded",
    is_flag=True,
    help="Ask the guard before every staff access, as a guarded platform would: each access "
    "becomes its decision's event (allowed or denied); merchants approve honest exports at "
    "once, never an insider's; a few honest refusals are retried as break-glass. Prints what "
    "was decided (docs/simulator.md).",
)
@click.option(
    "--guard-policy",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="The guard policy for --guard.  [default: the simulated operation's own]",
)
def simulate_command(
    merchants: int,
    agents: int,
    days: int,
    seed: int,
    start: dt.datetime | None,
    end: dt.datetime | None,
    scenarios: tuple[str, ...],
    profile: str,
    out: str,
    truth: str | None,
    directory: str | None,
    guarded: bool,
    guard_policy: Path | None,
) -> None:
    """Generate a realistic e-commerce support operation as access and context events.

    Merchants and their customers, support teams in shifts across time zones, tickets and the
    accesses they justify, apps and integrations, and the benign behaviour that makes naive
    rules noisy. Insider scenarios are marked only in the --truth file, never in the events.
    Deterministic per seed. See docs/simulator.md.
    """
    names = parse_scenarios(scenarios)
    simulation = simulate(
        merchants=merchants,
        agents=agents,
        days=days,
        seed=seed,
        scenarios=names,
        start=start.date() if start is not None else None,
        end=end.date() if end is not None else None,
        profile=profile,
    )
    if guard_policy is not None and not guarded:
        raise click.UsageError("--guard-policy is for --guard")
    began = time.perf_counter()
    where = "standard output" if out == "-" else out
    if guarded:
        _guarded(simulation, out, truth, guard_policy)
        took = time.perf_counter() - began
        click.echo(f"wrote the guarded events to {where} in {took:.1f} s", err=True)
    else:
        summary = simulation.write(out, truth)
        took = time.perf_counter() - began
        click.echo(
            f"wrote {summary.events:,} events ({summary.access_events:,} access, "
            f"{summary.context_events:,} context) to {where} in {took:.1f} s"
            + (f"; ground truth ({len(names)} scenarios) to {truth}" if truth else ""),
            err=True,
        )
    if directory is not None:
        customers, merchants_file = simulation.write_directory(directory)
        click.echo(f"wrote the contact directory: {customers}, {merchants_file}", err=True)


def _guarded(simulation: Simulation, out: str, truth: str | None, policy_file: Path | None) -> None:
    """Write the simulation's events as decided by the guard (and its truth, if asked)."""
    from sentinelle.guard.policy import load_policy
    from sentinelle.guard.replay import GuardReplay, sim_policy

    policy = sim_policy() if policy_file is None else load_policy(policy_file)
    malicious = [e for s in simulation.truth["scenarios"] for e in s["events"]]
    replay = GuardReplay(policy, malicious=malicious)

    def decided(lines: Iterator[bytes]) -> Iterator[bytes]:
        return (line + b"\n" for line in replay.lines(lines))

    simulation.write(out, truth, through=decided)
    click.echo(replay.summary.describe(), err=True)
