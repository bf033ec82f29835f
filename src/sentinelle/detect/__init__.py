"""Detection: streaming detectors over access events, alerts with reasons, per-actor risk.

The names below load their module when first used, so a module that needs only
:mod:`sentinelle.detect.base` (an alert's fields, its severity) does not load the engine and
its detectors with it (``sentinelle ingest --no-detect``, the outbound connectors).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from sentinelle.detect.base import Alert, Detector, DetectorConfig, Finding, Severity
    from sentinelle.detect.engine import DETECTORS, DetectConfig, Engine
    from sentinelle.detect.runner import DetectionRunner, risk_by_actor

#: Each public name and the module that defines it.
_WHERE: Final = {
    "Alert": "base",
    "Detector": "base",
    "DetectorConfig": "base",
    "Finding": "base",
    "Severity": "base",
    "DETECTORS": "engine",
    "DetectConfig": "engine",
    "Engine": "engine",
    "DetectionRunner": "runner",
    "risk_by_actor": "runner",
}

__all__ = [
    "DETECTORS",
    "Alert",
    "DetectConfig",
    "DetectionRunner",
    "Detector",
    "DetectorConfig",
    "Engine",
    "Finding",
    "Severity",
    "risk_by_actor",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # loaded once
    return value
