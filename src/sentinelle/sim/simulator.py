"""The e-commerce support simulator: a realistic support operation as access and context
events (see ``events/schemas``), with optional insider scenarios and their ground truth.

>>> sim = simulate(merchants=60, agents=12, days=3, seed=7)
>>> first = next(sim.lines())
>>> first.startswith(b'{"id":"')
True

The same arguments always give the same bytes. Events come in time order (UTC), with ids
``evt-NNNNNNNN`` (access) and ``ctx-NNNNNNNN`` (context) numbered in that order.

Ground truth (``Simulation.truth``, written by ``sentinelle simulate --truth``)::

    {
      "seed": 1, "start": "2026-10-19T00:00:00Z", "end": "2026-12-03T00:00:00Z",
      "merchants": 3000, "agents": 250,
      "scenarios": [
        {"name": "pair_harvest", "actors": ["agent-017", "agent-203"],
         "start": <first malicious event time>, "end": <last malicious event time>,
         "merchants": [<sorted merchant ids in the malicious events>],
         "subjects": [<sorted customer ids exposed by the malicious events>],
         "events": [<ids of the malicious access events, in time order>],
         "description": "one sentence"}
      ],
      "high_profile_customers": [<sorted customer ids>],
      "actors": {"agent-001": {"team": "tier1", "role": "agent", "timezone": "Asia/Manila",
                               "joined": "2022-03-14T01:00:00Z", "left": null}, ...}
    }

``merchants`` and ``subjects`` of a scenario are exactly those of its ``events``. Team and
role of an actor are the last ones they held in the window.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import random
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Final

import msgspec

from sentinelle.errors import Error
from sentinelle.sim.calendar import Clock, iso
from sentinelle.sim.emit import Emitter
from sentinelle.sim.profiles import PROFILES
from sentinelle.sim.scenarios import BASELINE_DAYS, SCENARIOS, Scenario
from sentinelle.sim.support import Support, Task
from sentinelle.sim.traffic import Traffic
from sentinelle.sim.world import Agent, World

__all__ = [
    "DEFAULT_START",
    "SCENARIO_NAMES",
    "Simulation",
    "SimulationError",
    "Summary",
    "parse_scenarios",
    "simulate",
]

DEFAULT_START: Final = dt.date(2026, 10, 19)
"""First day when none is given: 45 days from it include the Black Friday week."""

SCENARIO_NAMES: Final = tuple(SCENARIOS)
"""Names accepted by ``scenarios`` (plus ``all``)."""

_MIN_SCENARIO_DAYS: Final = BASELINE_DAYS + 11
_MIN_SCENARIO_MERCHANTS: Final = 20
_CHUNK: Final = 1 << 20


class SimulationError(Error):
    """The simulation was asked for something it cannot do (bad size, unknown scenario)."""


@dataclass(frozen=True, slots=True)
class Summary:
    """What a run wrote."""

    events: int
    access_events: int
    context_events: int


def parse_scenarios(names: Iterable[str]) -> tuple[str, ...]:
    """Scenario names from ``names`` (each may be a comma-separated list; ``all`` means every
    scenario, ``none`` none), deduplicated, in canonical order.

    Raises :class:`SimulationError` naming the valid names if one is unknown.
    """
    wanted: set[str] = set()
    for item in names:
        for raw in item.split(","):
            name = raw.strip()
            if not name or name == "none":
                continue
            if name == "all":
                wanted.update(SCENARIO_NAMES)
            elif name in SCENARIOS:
                wanted.add(name)
            else:
                raise SimulationError(
                    f"unknown scenario {name!r}; valid: all, {', '.join(SCENARIO_NAMES)}"
                )
    return tuple(n for n in SCENARIO_NAMES if n in wanted)


def simulate(
    *,
    merchants: int = 3000,
    agents: int = 250,
    days: int = 45,
    seed: int = 1,
    scenarios: Iterable[str] = (),
    start: dt.date | dt.datetime | None = None,
    end: dt.date | dt.datetime | None = None,
    profile: str = "default",
) -> Simulation:
    """A simulation of ``days`` days of the support operation of a platform with
    ``merchants`` merchants and ``agents`` support staff, with the insider ``scenarios``
    named (see :data:`SCENARIO_NAMES`; ``"all"`` for every one).

    The window is ``days`` whole UTC days. Give its first day as ``start`` (a datetime's UTC
    date), or its end as ``end``: the window then ends at midnight UTC of ``end``'s UTC date
    (a time of day is rounded down, so the window never reaches past ``end``; a naive
    datetime is taken as UTC). ``simulate(end=datetime.now(UTC))`` is the ``days`` days up
    to today, the same all day long. Without either, the first day is
    :data:`DEFAULT_START`. Nothing is generated until events, lines or truth are asked for.
    ``profile`` names the kind of desk (:data:`~sentinelle.sim.profiles.PROFILES`): team mix
    and benign look-alikes of the scenarios; ``default`` is the operation as it always was.

    Raises :class:`SimulationError` for sizes below 1, unknown scenario names, both
    ``start`` and ``end``, or a window or population too small for the scenarios asked for.
    """
    for label, value in (("merchants", merchants), ("agents", agents), ("days", days)):
        if type(value) is not int or value < 1:
            raise SimulationError(f"{label} must be a positive integer, not {value!r}")
    names = parse_scenarios([scenarios] if isinstance(scenarios, str) else scenarios)
    if names and days < _MIN_SCENARIO_DAYS:
        raise SimulationError(
            f"insider scenarios need at least {_MIN_SCENARIO_DAYS} days "
            f"({BASELINE_DAYS} days of normal behaviour first), not {days}"
        )
    if names and merchants < _MIN_SCENARIO_MERCHANTS:
        raise SimulationError(
            f"insider scenarios need at least {_MIN_SCENARIO_MERCHANTS} merchants, not {merchants}"
        )
    if start is not None and end is not None:
        raise SimulationError("give the window's start or its end, not both")
    if profile not in PROFILES:
        raise SimulationError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    if end is not None:
        first = _utc_date(end) - dt.timedelta(days=days)
    elif start is not None:
        first = _utc_date(start)
    else:
        first = DEFAULT_START
    simulation = Simulation(
        merchants=merchants,
        agents=agents,
        days=days,
        seed=seed,
        scenarios=names,
        start=first,
        profile=profile,
    )
    simulation.check()
    return simulation


def _utc_date(value: dt.date | dt.datetime) -> dt.date:
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.UTC) if value.tzinfo else value).date()
    return value


class Simulation:
    """A configured simulation. Each call to :meth:`lines` or :meth:`events` generates the
    whole stream again, identically; :attr:`truth` is known once one pass has finished (it
    runs a pass if needed)."""

    def __init__(
        self,
        *,
        merchants: int,
        agents: int,
        days: int,
        seed: int,
        scenarios: tuple[str, ...],
        start: dt.date,
        profile: str = "default",
    ) -> None:
        self.profile = PROFILES[profile]
        self.rates = self.profile.rates(seed)
        self.merchants = merchants
        self.agents = agents
        self.days = days
        self.seed = seed
        self.scenarios = scenarios
        self.start = start
        self._truth: dict[str, Any] | None = None
        self._summary: Summary | None = None

    @property
    def end(self) -> dt.date:
        """The day after the window: it ends at this date's midnight UTC (``truth["end"]``)."""
        return self.start + dt.timedelta(days=self.days)

    def check(self) -> None:
        """Build the world and plan the scenarios without generating events.

        Raises :class:`SimulationError` if the staff is too small for the scenarios.
        """
        self._setup()

    @property
    def truth(self) -> dict[str, Any]:
        """The ground truth (format in the module docstring)."""
        if self._truth is None:
            for _ in self.lines():
                pass
        if self._truth is None:  # pragma: no cover - set by every finished pass
            raise SimulationError("no ground truth: the simulation did not finish")
        return self._truth

    @property
    def summary(self) -> Summary:
        """Event counts of the last finished pass (runs one if needed)."""
        if self._summary is None:
            _ = self.truth
        if self._summary is None:  # pragma: no cover
            raise SimulationError("no summary: the simulation did not finish")
        return self._summary

    def events(self) -> Iterator[dict[str, Any]]:
        """The events as dicts, in time order."""
        decode = msgspec.json.decode
        for line in self.lines():
            event: dict[str, Any] = decode(line)
            yield event

    def lines(self) -> Iterator[bytes]:
        """The events as JSON lines (UTF-8, each ending with a newline), in time order."""
        world, clock, emitter, support, traffic, scenarios = self._setup()
        by_actor: dict[str, list[Scenario]] = {}
        for scenario in scenarios:
            for actor in scenario.actors:
                by_actor.setdefault(actor.id, []).append(scenario)
        rates = self.rates
        for day in range(self.days):
            support.begin_day(day)
            self._life_events(support, world, clock, day)
            if rates.leave_cover:
                support.begin_cover(day)
            shifts = [
                (*support.shift(agent, day), agent)
                for agent in world.agents
                if support.works(agent, day)
            ]
            shifts.sort(key=lambda s: (s[0], s[2].number))
            for start, end, agent in shifts:
                extras: list[tuple[int, Task]] = []
                for scenario in by_actor.get(agent.id, ()):
                    extras += scenario.tasks(agent, day, start, end)
                support.work_day(agent, day, start, end, extras)
            if rates.oncall:
                for agent in world.agents:
                    if day in agent.oncall:
                        support.oncall_night(agent, day)
            for scenario in scenarios:
                scenario.off_shift(day)
            traffic.day(day)
            yield from emitter.flush(before_day=day)
        yield from emitter.flush()
        self._summary = Summary(
            events=emitter.access_events + emitter.context_events,
            access_events=emitter.access_events,
            context_events=emitter.context_events,
        )
        self._truth = self._make_truth(world, clock, emitter, scenarios)

    def write(
        self,
        out: str | os.PathLike[str],
        truth: str | os.PathLike[str] | None = None,
        *,
        through: Callable[[Iterator[bytes]], Iterable[bytes]] | None = None,
    ) -> Summary:
        """Write the events to ``out`` (``-`` for standard output; gzip if it ends in
        ``.gz``) and the ground truth to ``truth`` if given. ``through`` turns the lines
        (each ending in a newline) into the lines written (``sentinelle simulate --guard``
        passes them through the guard); the summary counts the simulation's own.

        Files are written whole or not at all (a temporary file renamed at the end).
        Raises :class:`SimulationError` if a file cannot be written.
        """
        out = os.fspath(out)
        if out == "-":
            self._write_lines(sys.stdout.buffer.write, through)
            sys.stdout.buffer.flush()
        else:
            with _atomic(out) as raw:
                if out.endswith(".gz"):
                    with gzip.GzipFile(
                        filename="", mode="wb", fileobj=raw, compresslevel=5, mtime=0
                    ) as gz:
                        self._write_lines(gz.write, through)
                else:
                    self._write_lines(raw.write, through)
        if truth is not None:
            text = json.dumps(self.truth, indent=1, ensure_ascii=False).encode() + b"\n"
            with _atomic(os.fspath(truth)) as raw:
                raw.write(text)
        return self.summary

    def write_directory(self, folder: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Write the synthetic contact directory of this simulation's merchants and their
        customers (:mod:`sentinelle.sim.directory`) to ``folder``: ``customers.csv`` and
        ``merchants.csv``, each written whole or not at all. Returns their paths.
        """
        from sentinelle.sim.directory import csv_bytes, customer_rows, merchant_rows

        world = self._world(Clock(start=self.start, days=self.days))
        base = Path(folder)
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SimulationError(f"cannot create {base}: {exc.strerror or exc}") from None
        paths = (base / "customers.csv", base / "merchants.csv")
        for path, rows in zip(
            paths, (customer_rows(world.merchants), merchant_rows(world.merchants)), strict=True
        ):
            with _atomic(str(path)) as raw:
                for chunk in csv_bytes(rows):
                    raw.write(chunk)
        return paths

    def _write_lines(
        self,
        write: Callable[[bytes], object],
        through: Callable[[Iterator[bytes]], Iterable[bytes]] | None = None,
    ) -> None:
        buffer: list[bytes] = []
        size = 0
        for line in self.lines() if through is None else through(self.lines()):
            buffer.append(line)
            size += len(line)
            if size >= _CHUNK:
                write(b"".join(buffer))
                buffer.clear()
                size = 0
        write(b"".join(buffer))

    # Internals ------------------------------------------------------------------------------

    def _rng(self, part: str) -> random.Random:
        return random.Random(f"sentinelle.sim:{self.seed}:{part}")  # noqa: S311  (a simulation)

    def _world(self, clock: Clock) -> World:
        return World(
            clock=clock,
            merchants=self.merchants,
            agents=self.agents,
            rng=self._rng("world"),
            team_share=self.profile.team_share,
            rates=self.rates,
            hard_rng=self._rng("hard-world"),
        )

    def _setup(self) -> tuple[World, Clock, Emitter, Support, Traffic, list[Scenario]]:
        clock = Clock(start=self.start, days=self.days)
        world = self._world(clock)
        emitter = Emitter(
            start_ts=clock.start_ts, end_ts=clock.end_ts, scenarios=len(self.scenarios)
        )
        support = Support(
            world=world,
            clock=clock,
            emitter=emitter,
            rng=self._rng("work"),
            hard_rng=self._rng("hard-negatives"),
        )
        traffic = Traffic(world=world, clock=clock, emitter=emitter, rng=self._rng("traffic"))
        scenarios = self._plan(world, support)
        return world, clock, emitter, support, traffic, scenarios

    def _plan(self, world: World, support: Support) -> list[Scenario]:
        rng = self._rng("scenarios")
        # Insiders are ordinary agents: no lead or QA role, no life event of their own, on the
        # staff for the whole window.
        pool = [a for a in world.agents if a.role == "agent" and not a.special]
        rng.shuffle(pool)
        planned: list[Scenario] = []
        for index, name in enumerate(self.scenarios):
            scenario = SCENARIOS[name](index=index, world=world, support=support, rng=rng)
            candidates = [a for a in pool if scenario.eligible(a)]
            if len(candidates) < scenario.actors_needed:
                raise SimulationError(
                    f"not enough ordinary {'/'.join(scenario.teams)} agents for scenario "
                    f"{name!r} with {self.agents} agents; use more agents "
                    "(about 20 or more for all scenarios)"
                )
            actors = [candidates[0]]
            if scenario.actors_needed > 1:  # accomplices sit in the same office if they can
                same_site = [a for a in candidates[1:] if a.site is actors[0].site]
                others = [a for a in candidates[1:] if a not in same_site]
                actors += (same_site + others)[: scenario.actors_needed - 1]
            for actor in actors:
                pool.remove(actor)
            scenario.plan(actors)
            planned.append(scenario)
        return planned

    @staticmethod
    def _life_events(support: Support, world: World, clock: Clock, day: int) -> None:
        for agent in world.agents:
            if agent.join_day == day:
                support.staff_event(agent, "staff.joined", agent.joined_ts, "new_hire")
            if agent.role_change is not None and agent.role_change[0] == day:
                _, agent.team, agent.role = agent.role_change
                agent.refresh_actor()
                ts = clock.local_ts(day, agent.shift_start - 40, agent.site)
                support.staff_event(agent, "staff.role_changed", ts, "promotion")
            if agent.notice_day == day:
                minute = agent.shift_start + agent.shift_len - support.rng.randint(30, 120)
                ts = clock.local_ts(day, minute, agent.site)
                support.staff_event(agent, "staff.notice_given", ts, "resignation")
            if agent.left_day == day:
                ts = clock.local_ts(day - 1, agent.shift_start + agent.shift_len + 30, agent.site)
                agent.left_ts = ts
                support.staff_event(agent, "staff.left", ts, "resignation")

    def _make_truth(
        self, world: World, clock: Clock, emitter: Emitter, scenarios: list[Scenario]
    ) -> dict[str, Any]:
        entries = []
        for scenario, marked in zip(scenarios, emitter.marked, strict=True):
            entries.append(
                {
                    "name": scenario.name,
                    "actors": [a.id for a in scenario.actors],
                    "start": iso(marked.first) if marked.first is not None else None,
                    "end": iso(marked.last) if marked.last is not None else None,
                    "merchants": sorted(marked.merchants),
                    "subjects": sorted(marked.subjects),
                    "events": marked.events,
                    "description": scenario.description,
                }
            )
        extra: dict[str, Any] = {}
        if self.profile.name != "default":
            extra["profile"] = {"name": self.profile.name, "rates": asdict(self.rates)}
        return {
            "seed": self.seed,
            **extra,
            "start": iso(clock.start_ts),
            "end": iso(clock.end_ts),
            "merchants": self.merchants,
            "agents": self.agents,
            "scenarios": entries,
            "high_profile_customers": sorted(c for _, c in world.vips),
            "actors": {a.id: _actor_truth(a) for a in world.agents},
        }


def _actor_truth(agent: Agent) -> dict[str, Any]:
    return {
        "team": agent.team,
        "role": agent.role,
        "timezone": agent.site.timezone,
        "joined": iso(agent.joined_ts),
        "left": iso(agent.left_ts) if agent.left_ts is not None else None,
    }


@contextmanager
def _atomic(path: str) -> Iterator[IO[bytes]]:
    """Write ``path`` through a temporary file, renamed into place only on success; a path
    that is not a regular file (``/dev/null``, a named pipe) is written to directly: renamed
    over, a device would be replaced by a file (as root, ``/dev/null`` for everyone)."""
    target = Path(path)
    try:
        special = target.exists() and not target.is_file()
    except OSError:
        special = False
    if special:
        try:
            with open(target, "wb") as raw:
                yield raw
        except OSError as exc:
            raise SimulationError(f"cannot write {target}: {exc.strerror or exc}") from None
        return
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as raw:
            yield raw
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SimulationError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
