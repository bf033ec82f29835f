"""Access and context events: the typed form of ``access-event.schema.json`` and
``context-event.schema.json`` (the project's public contract, shipped in ``schemas/``).

The structs mirror the JSON Schemas exactly: unknown fields are refused, enums are closed,
optional members may be absent but not ``null``. Fields are declared in sorted order so that
encoding a struct yields RFC 8785 (JCS) canonical JSON directly (see :mod:`.parse`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

__all__ = [
    "ACCESS_ACTIONS",
    "CHANNELS",
    "CONTEXT_TYPES",
    "DATA_CATEGORIES",
    "AccessEvent",
    "Actor",
    "ContextEvent",
    "Event",
    "Justification",
    "Resource",
    "Source",
]

# RFC 8785 serialises numbers as IEEE 754 doubles: larger integers would not round-trip,
# so, like I-JSON (RFC 7493), we refuse them instead of silently changing them.
MAX_SAFE_INTEGER: Final = 2**53 - 1

Id = Annotated[str, Meta(min_length=1, max_length=128)]
Str64 = Annotated[str, Meta(max_length=64)]
Str128 = Annotated[str, Meta(max_length=128)]
Str256 = Annotated[str, Meta(max_length=256)]

ActorKind = Literal["staff", "app", "integration", "service", "merchant_user"]
Action = Literal["view", "search", "export", "download", "update", "delete"]
Channel = Literal["support_console", "admin", "api", "export", "integration"]
Outcome = Literal["allowed", "denied"]
ResourceType = Literal[
    "customer", "order", "transaction", "customer_list", "order_list", "payout", "other"
]
DataCategory = Literal[
    "contact",
    "address",
    "order_details",
    "payment_partial",
    "payment_full",
    "credentials",
    "identity_document",
    "financial",
    "location",
    "behavioral",
    "special",
    "children",
]
ContextType = Literal[
    "ticket.opened",
    "ticket.assigned",
    "ticket.closed",
    "staff.joined",
    "staff.role_changed",
    "staff.notice_given",
    "staff.left",
    "grant.requested",
    "grant.approved",
    "grant.denied",
    "grant.revoked",
    "grant.expired",
]

ACCESS_ACTIONS: Final = Action.__args__  # type: ignore[attr-defined]
CHANNELS: Final = Channel.__args__  # type: ignore[attr-defined]
DATA_CATEGORIES: Final = DataCategory.__args__  # type: ignore[attr-defined]
CONTEXT_TYPES: Final = ContextType.__args__  # type: ignore[attr-defined]


# Every struct: exactly the schema (unknown fields refused, absent members stay absent).


class Actor(
    Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, frozen=True, gc=False
):
    """Who accessed the data."""

    id: Id
    kind: ActorKind
    role: Str64 | UnsetType = UNSET
    team: Str64 | UnsetType = UNSET


class Resource(
    Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, frozen=True, gc=False
):
    """What kind of record was exposed, and how many."""

    count: Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)] | UnsetType = UNSET
    type: ResourceType | UnsetType = UNSET


class Justification(
    Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, frozen=True, gc=False
):
    """Why the actor says it accessed the data."""

    grant: Str128 | UnsetType = UNSET
    reason: Str256 | UnsetType = UNSET
    ticket: Str128 | UnsetType = UNSET


class Source(
    Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, frozen=True, gc=False
):
    """Where the access came from."""

    country: Annotated[str, Meta(pattern=r"^[A-Z]{2}\Z")] | UnsetType = UNSET
    device: Str128 | UnsetType = UNSET
    ip: Str64 | UnsetType = UNSET


class AccessEvent(
    Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, frozen=True, gc=False
):
    """One read or change of customer data by an actor. Fields in sorted (JCS) order."""

    action: Action
    actor: Actor
    channel: Channel
    data: Annotated[list[DataCategory], Meta(min_length=1)]
    id: Id
    justification: Justification | UnsetType = UNSET
    merchant: Id
    outcome: Outcome
    resource: Resource | UnsetType = UNSET
    source: Source | UnsetType = UNSET
    subjects: Annotated[list[Id], Meta(max_length=100_000)] | UnsetType = UNSET
    time: dt.datetime

    def records(self) -> int:
        """How many records the access exposed: ``resource.count``, else the customers it
        names, else 1 (one record, unnamed). The one rule of detection, the actors' daily
        activity and the integrations' inventory."""
        resource = self.resource
        if resource is not UNSET and resource.count is not UNSET:
            return resource.count
        return 1 if self.subjects is UNSET else len(self.subjects)

    def cited_ticket(self) -> str | None:
        """The ticket id the justification cites, if it cites one."""
        just = self.justification
        return just.ticket if just is not UNSET and isinstance(just.ticket, str) else None


class ContextEvent(
    Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, frozen=True, gc=False
):
    """A ticket, staff or grant change that gives access events their meaning."""

    actor: Str128 | UnsetType = UNSET
    by: Str128 | UnsetType = UNSET
    expires: dt.datetime | UnsetType = UNSET
    grant: Str128 | UnsetType = UNSET
    id: Id
    merchant: Str128 | UnsetType = UNSET
    reason: Str256 | UnsetType = UNSET
    role: Str64 | UnsetType = UNSET
    team: Str64 | UnsetType = UNSET
    ticket: Str128 | UnsetType = UNSET
    time: dt.datetime
    type: ContextType


Event = AccessEvent | ContextEvent
