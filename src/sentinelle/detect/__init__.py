"""Detection: streaming detectors over access events, alerts with reasons, per-actor risk."""

from __future__ import annotations

from sentinelle.detect.base import Alert, Detector, DetectorConfig, Finding, Severity
from sentinelle.detect.engine import DETECTORS, DetectConfig, Engine
from sentinelle.detect.runner import DetectionRunner, risk_by_actor

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
