"""Synthetic e-commerce support activity, as events (for the demo, tests and benchmarks).

* :func:`simulate` — the realistic support operation with optional insider scenarios and
  their ground truth (``sentinelle simulate``; see ``docs/simulator.md``).
* :func:`generate_events` — a small, quick stream for demos and tests.
"""

from __future__ import annotations

from sentinelle.sim.profiles import PROFILES, Profile
from sentinelle.sim.simulator import (
    DEFAULT_START,
    SCENARIO_NAMES,
    Simulation,
    SimulationError,
    Summary,
    parse_scenarios,
    simulate,
)
from sentinelle.sim.stream import generate_events

__all__ = [
    "DEFAULT_START",
    "PROFILES",
    "SCENARIO_NAMES",
    "Profile",
    "Simulation",
    "SimulationError",
    "Summary",
    "generate_events",
    "parse_scenarios",
    "simulate",
]
