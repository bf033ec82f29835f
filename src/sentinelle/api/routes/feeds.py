"""``/v1/feeds``: what live detection knows of the help desk's and HR's feeds, and what it
infers where they are silent (permission ``alerts:read``), as ``sentinelle feeds --json``
prints it (:mod:`sentinelle.detect.feeds`). Counts and times only: nothing names a person or
a customer. Times are RFC 3339 in UTC, ``null`` for never.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from sentinelle.access import Permission
from sentinelle.api.deps import GuardedRoute, Reader, StateDep, guarded, reading
from sentinelle.detect.feeds import saved_feeds

__all__ = ["router"]

router = APIRouter(prefix="/v1/feeds", tags=["integrations"], route_class=GuardedRoute)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SentOut(_Out):
    """Whether ticket events sent closings in the last 7 days (``sent``), and the latest."""

    latest: str | None
    sent: bool


class NamedOut(_Out):
    """Whether ticket events named a field (assignee, opener) in the last 7 days, and the
    latest that did."""

    latest: str | None
    named: bool


class CitedOut(_Out):
    """Accesses of the last 7 days citing a ticket while ticket events came, and of them
    those citing one no ticket event names (most of them: the access events and the help
    desk name tickets differently)."""

    accesses: int
    unknown: int


class TicketsOut(_Out):
    """The help desk's feed: its latest ticket event; ``silent`` when none came in the last 7
    days (cited tickets are then taken as stated); the tickets kept, and those naming no
    merchant yet."""

    latest: str | None
    silent: bool
    kept: int
    without_merchant: int
    closings: SentOut
    assignees: NamedOut
    openers: NamedOut
    cited: CitedOut


class StaffOut(_Out):
    """The HR feed: how many actors' notice and joining dates it gave."""

    notices: int
    joined: int


class FeedsOut(_Out):
    """The feeds as live detection saw them, up to ``read_to`` (its newest event's time)."""

    events_read: int
    read_to: str | None
    tickets: TicketsOut
    staff: StaffOut


@router.get("", **guarded(Permission.ALERTS_READ))
async def feeds(state: StateDep) -> FeedsOut:
    """What live detection knows of the feeds it relies on (docs/detection.md, *What counts
    as justified*). 404 before live detection has run."""

    def work(r: Reader) -> FeedsOut:
        return FeedsOut.model_validate(saved_feeds(r.store, "this store").to_dict())

    return await reading(state, work)
