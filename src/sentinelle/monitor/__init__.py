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

from sentinelle.monitor.config import CONFIG_FILE, MonitorConfig
from sentinelle.monitor.monitor import Finding, Monitor, Outcome, Reporter, ReportError, Round
from sentinelle.monitor.source import (
    ApiSource,
    LogSource,
    LogUnreachableError,
    PublishedSource,
    source_for,
)
from sentinelle.monitor.state import MonitorState, StateDir

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
