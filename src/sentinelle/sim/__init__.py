"""Synthetic e-commerce support activity, as events (for the demo, tests and benchmarks)."""

from __future__ import annotations

from sentinelle.sim.stream import generate_events

__all__ = ["generate_events"]
