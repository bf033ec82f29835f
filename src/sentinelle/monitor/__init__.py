"""``sentinelle monitor``: watch a Sentinelle ledger from outside, on your own machine.

A merchant or an auditor runs it to learn, from the log's own signatures, whether the log
shows them one append-only history: it keeps the last checkpoint it verified, and checks each
new one's signature, its witnesses' cosignatures and its consistency with the one it kept.

* :mod:`sentinelle.monitor.checks` — the checks themselves, small and dependency-light
  (hashlib and Ed25519): read this one to know what the monitor trusts;
* :mod:`sentinelle.monitor.source` — reading the log: its API, or a published tlog-tiles copy;
* :mod:`sentinelle.monitor.state` — the state directory (last checkpoint, evidence, lock);
* :mod:`sentinelle.monitor.config` — the pinned keys, the quorum, where the log is;
* :mod:`sentinelle.monitor.monitor` — one round, its findings and their exit codes;
* :mod:`sentinelle.monitor.report` — findings to a signed webhook or by e-mail.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentinelle.monitor.config import CONFIG_FILE, MonitorConfig
    from sentinelle.monitor.monitor import (
        Finding,
        Monitor,
        Outcome,
        Reporter,
        ReportError,
        Round,
    )
    from sentinelle.monitor.source import (
        ApiSource,
        LogSource,
        LogUnreachableError,
        PublishedSource,
        source_for,
    )
    from sentinelle.monitor.state import MonitorState, StateDir

# Imported on first use, so that ``import sentinelle.monitor.checks`` stays light (the
# configuration's pydantic is not needed to read the checks).
_WHERE = {
    "CONFIG_FILE": "config",
    "MonitorConfig": "config",
    "Finding": "monitor",
    "Monitor": "monitor",
    "Outcome": "monitor",
    "Reporter": "monitor",
    "ReportError": "monitor",
    "Round": "monitor",
    "ApiSource": "source",
    "LogSource": "source",
    "LogUnreachableError": "source",
    "PublishedSource": "source",
    "source_for": "source",
    "MonitorState": "state",
    "StateDir": "state",
}

__all__ = [
    "CONFIG_FILE",
    "ApiSource",
    "Finding",
    "LogSource",
    "LogUnreachableError",
    "Monitor",
    "MonitorConfig",
    "MonitorState",
    "Outcome",
    "PublishedSource",
    "ReportError",
    "Reporter",
    "Round",
    "StateDir",
    "source_for",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'sentinelle.monitor' has no attribute {name!r}")
    return getattr(importlib.import_module(f"sentinelle.monitor.{_WHERE[name]}"), name)
