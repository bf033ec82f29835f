"""Response: the incident workflow, once, under every interface.

Start with :class:`ResponseEngine`: open an incident, count its scope from the ledger,
pre-fill and assess its facts (safely: nothing recorded is lost or lowered without a
reason), record what was sent to the authority, send the notices (one run at a time, held by
a :mod:`lease <sentinelle.response.lease>` in the database) and print the report and the
register. The CLI (``sentinelle incident …``) and the API call it (the API sends notices in
the background through :class:`NoticeRuns <sentinelle.response.runs.NoticeRuns>`); it calls
:mod:`sentinelle.incidents`, :mod:`sentinelle.assess` and :mod:`sentinelle.notify`.
"""

from __future__ import annotations

from sentinelle.response.engine import (
    AssessOutcome,
    ConflictError,
    FactsInputError,
    FieldChange,
    NoticeRun,
    NotifyError,
    ResponseEngine,
    ScopeView,
)
from sentinelle.response.lease import LeaseHeldError, hold_lease
from sentinelle.response.runs import DryRun, NoticeRuns, RunState, RunStatus, dry_run

__all__ = [
    "AssessOutcome",
    "ConflictError",
    "DryRun",
    "FactsInputError",
    "FieldChange",
    "LeaseHeldError",
    "NoticeRun",
    "NoticeRuns",
    "NotifyError",
    "ResponseEngine",
    "RunState",
    "RunStatus",
    "ScopeView",
    "dry_run",
    "hold_lease",
]
