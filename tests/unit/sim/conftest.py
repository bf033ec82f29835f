"""One small simulation with every scenario, shared by the simulator tests (about two
seconds to generate and decode)."""

from __future__ import annotations

import msgspec
import pytest
from simrun import SMALL, Run

from sentinelle.sim import simulate


@pytest.fixture(scope="session")
def run() -> Run:
    simulation = simulate(**SMALL, scenarios="all")
    lines = list(simulation.lines())
    events = [msgspec.json.decode(line) for line in lines]
    return Run(lines=lines, events=events, truth=simulation.truth)
