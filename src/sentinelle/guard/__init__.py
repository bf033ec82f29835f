"""Guard: just-in-time access to customer data, decided from a policy, tickets and grants.

:mod:`.policy` reads and validates the TOML policy; :mod:`.decide` decides one request, purely.
The decision endpoint, grant storage and approvals build on these two.
"""

from __future__ import annotations

from sentinelle.guard.decide import (
    AccessRequest,
    Decision,
    GrantView,
    RequestError,
    TicketView,
    check_request,
    decide,
    parse_request,
)
from sentinelle.guard.policy import Policy, PolicyError, load_policy, parse_policy

__all__ = [
    "AccessRequest",
    "Decision",
    "GrantView",
    "Policy",
    "PolicyError",
    "RequestError",
    "TicketView",
    "check_request",
    "decide",
    "load_policy",
    "parse_policy",
    "parse_request",
]
