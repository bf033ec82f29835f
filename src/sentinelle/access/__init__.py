"""Who may do what: roles, the permissions each grants, and the one check every interface asks.

A *principal* is whoever makes a request: a person's account or a machine's API key, each with
one :class:`Role` (a merchant's bound to one merchant). Every API route and console page
declares the :class:`Permission` it needs and calls :func:`authorize`; nothing else decides
access. A merchant only ever reaches its own merchant's data: :func:`authorize` refuses any
other merchant, and merchants get no permission over alerts, actors, incidents or the register.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from sentinelle.errors import Error

__all__ = [
    "GRANTS",
    "KEY_ROLES",
    "USER_ROLES",
    "ForbiddenError",
    "Permission",
    "Principal",
    "Role",
    "authorize",
    "roles_with",
]


class Role(enum.StrEnum):
    """What a principal is for.

    ADMIN: everything, including accounts and keys. RESPONDER: triages alerts, opens and scopes
    incidents. DPO: a responder who also assesses incidents and records what was sent to the
    authority. AUDITOR: reads everything, changes nothing. MERCHANT: reads its own merchant's
    accesses, bound to one merchant, and approves grants at it. INGEST (keys only): sends
    events. READER (keys only): reads for tools (SIEM, dashboards), changes nothing. GUARD (keys
    only): the support console, admin tools and export jobs asking ``POST /v1/access/decide``
    before they serve customer data, requesting grants for their actors, and sending the events
    of what they served without a decision (fail open) and of their tickets. SCIM (keys only):
    an identity provider provisioning staff through ``/scim/v2`` (joiners, team and role
    changes, leavers as ``staff.*`` events).
    """

    ADMIN = "admin"
    RESPONDER = "responder"
    DPO = "dpo"
    AUDITOR = "auditor"
    MERCHANT = "merchant"
    INGEST = "ingest"
    READER = "reader"
    GUARD = "guard"
    SCIM = "scim"


KEY_ROLES: Final = tuple(Role)
USER_ROLES: Final = (Role.ADMIN, Role.RESPONDER, Role.DPO, Role.AUDITOR, Role.MERCHANT)


class Permission(enum.StrEnum):
    """One kind of operation a route or page performs."""

    EVENTS_WRITE = "events:write"  # send access and context events
    LEDGER_CHECKPOINT = "ledger:checkpoint"  # the signed checkpoint and the verifier key
    LEDGER_PROOF = "ledger:proof"  # inclusion proofs by event id (names events that exist)
    ALERTS_READ = "alerts:read"
    ALERTS_TRIAGE = "alerts:triage"  # acknowledge, dismiss (and suppress) or escalate alerts
    INCIDENTS_READ = "incidents:read"  # incidents, their scope, report and notices' status
    INCIDENTS_WRITE = "incidents:write"  # open, move, record a scope
    INCIDENTS_DECIDE = "incidents:decide"  # assess, record what was sent to the authority
    REGISTER_READ = "register:read"  # the breach register
    MERCHANT_ACCESSES = "merchant:accesses"  # a merchant's accesses (its own, for a merchant)
    ACTORS_READ = "actors:read"  # staff by risk, one actor's activity per day and alerts
    METRICS_READ = "metrics:read"  # GET /metrics: counts and latencies, no identifiers of people
    ACCESS_DECIDE = "access:decide"  # POST /v1/access/decide: the guard's decision, recorded
    GRANTS_REQUEST = "grants:request"  # ask for a just-in-time grant for an actor
    GRANTS_APPROVE = "grants:approve"  # approve or revoke a grant (a merchant: its own only)
    GRANTS_READ = "grants:read"  # a merchant's grants and their history (a merchant: its own)
    STAFF_PROVISION = "staff:provision"  # /scim/v2: an identity provider's users and groups
    ADMIN = "admin"  # accounts and keys


_READ: Final = frozenset(
    {
        Permission.LEDGER_CHECKPOINT,
        Permission.LEDGER_PROOF,
        Permission.ALERTS_READ,
        Permission.INCIDENTS_READ,
        Permission.REGISTER_READ,
        Permission.MERCHANT_ACCESSES,
        Permission.GRANTS_READ,
    }
)
# A staff member's activity day by day is for the people who investigate (and those who check
# them), not for tools: a reader key (a SIEM, a dashboard) gets alerts and metrics, not
# profiles of people. Metrics are for tools: people see the same in the console.
_PEOPLE: Final = frozenset({Permission.ACTORS_READ})
# Staff who respond to alerts may ask for and approve (as the second staff member) grants.
_GRANTS: Final = frozenset({Permission.GRANTS_REQUEST, Permission.GRANTS_APPROVE})
GRANTS: Final[Mapping[Role, frozenset[Permission]]] = {
    Role.ADMIN: frozenset(Permission),
    Role.DPO: _READ
    | _PEOPLE
    | _GRANTS
    | {Permission.ALERTS_TRIAGE, Permission.INCIDENTS_WRITE, Permission.INCIDENTS_DECIDE},
    Role.RESPONDER: _READ
    | _PEOPLE
    | _GRANTS
    | {Permission.ALERTS_TRIAGE, Permission.INCIDENTS_WRITE},
    Role.AUDITOR: _READ | _PEOPLE,
    Role.READER: _READ | {Permission.METRICS_READ},
    Role.INGEST: frozenset({Permission.EVENTS_WRITE}),
    # The checkpoint lets a merchant verify the proofs of its own accesses; it approves (or
    # revokes) grants over its own customers only.
    Role.MERCHANT: frozenset(
        {
            Permission.MERCHANT_ACCESSES,
            Permission.LEDGER_CHECKPOINT,
            Permission.GRANTS_APPROVE,
            Permission.GRANTS_READ,
        }
    ),
    # The guard asks for decisions and requests grants on behalf of its actors; it approves
    # nothing (a grant's approver is never the one who asked for it).
    # The support console also reports what it served without asking (fail open) and its tickets.
    Role.GUARD: frozenset(
        {Permission.ACCESS_DECIDE, Permission.GRANTS_REQUEST, Permission.EVENTS_WRITE}
    ),
    # An identity provider provisions staff (their staff.* events) and reads back only what it
    # provisioned: nothing of accesses, alerts or people's activity.
    Role.SCIM: frozenset({Permission.STAFF_PROVISION}),
}


# Permissions over one merchant's data: a merchant principal has them for its own only.
_SCOPED: Final = frozenset(
    {Permission.MERCHANT_ACCESSES, Permission.GRANTS_APPROVE, Permission.GRANTS_READ}
)


class ForbiddenError(Error):
    """The principal's role does not allow this, or the data is another merchant's."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request: an account (``kind="user"``, named by e-mail) or an API key
    (``kind="key"``, named by its name); ``merchant`` binds a merchant's principal."""

    kind: str
    name: str
    role: Role
    merchant: str | None = None

    @property
    def label(self) -> str:
        """How changes are attributed in logs: ``key:NAME`` or the account's e-mail."""
        return f"key:{self.name}" if self.kind == "key" else self.name


def authorize(principal: Principal, permission: Permission, *, merchant: str | None = None) -> None:
    """Return if ``principal`` may do ``permission`` (on ``merchant``'s data, if given).

    Raises :class:`ForbiddenError`, naming the role and what it lacks; a merchant asking for
    another merchant's data is refused without saying whether that merchant exists.
    """
    if permission not in GRANTS[principal.role]:
        raise ForbiddenError(f"the {principal.role.value} role may not {_what(permission)}")
    if principal.role is Role.MERCHANT and permission in _SCOPED and merchant != principal.merchant:
        raise ForbiddenError("a merchant reaches only its own merchant's data")


def roles_with(permission: Permission) -> frozenset[Role]:
    """The roles that grant ``permission``."""
    return frozenset(r for r, granted in GRANTS.items() if permission in granted)


def _what(permission: Permission) -> str:
    return {
        Permission.EVENTS_WRITE: "send events",
        Permission.LEDGER_CHECKPOINT: "read the ledger's checkpoint",
        Permission.LEDGER_PROOF: "read inclusion proofs",
        Permission.ALERTS_READ: "read alerts",
        Permission.ALERTS_TRIAGE: "triage alerts",
        Permission.INCIDENTS_READ: "read incidents",
        Permission.INCIDENTS_WRITE: "open or change incidents",
        Permission.INCIDENTS_DECIDE: "assess incidents or record notifications",
        Permission.REGISTER_READ: "read the breach register",
        Permission.MERCHANT_ACCESSES: "read merchants' accesses",
        Permission.ACTORS_READ: "read actors' activity and risk",
        Permission.METRICS_READ: "read the metrics",
        Permission.ACCESS_DECIDE: "ask the guard for access decisions",
        Permission.GRANTS_REQUEST: "request access grants",
        Permission.GRANTS_APPROVE: "approve or revoke access grants",
        Permission.GRANTS_READ: "read access grants",
        Permission.STAFF_PROVISION: "provision staff (SCIM)",
        Permission.ADMIN: "manage accounts and keys",
    }[permission]
