"""The scope of an incident, computed from the stored events (not from alerts).

For the incident's actors and window (both ends included), over their *allowed* access
events (a denied access exposed nothing):

* subjects: the union of the events' ``subjects`` ids (a customer seen by two actors, or
  twice, counts once); events that name no subject add records but no subject;
* records: the sum of ``resource.count``, or the number of ``subjects`` when the count is
  absent, or 1 when both are (the rule detection uses);
* categories: the union of the events' ``data`` categories;
* per merchant: the same, first and last access, and how many accesses were justified.

An access is *justified* by the rule detection applies
(:meth:`sentinelle.detect.context.Context.justified`): a ticket of the same merchant
assigned to the actor (or any ticket for a reviewing role), open or closed less than a day
before, or an approved, unexpired, unrevoked grant of the actor for the merchant. The
tickets, grants and staff roles are replayed from the context events of the window and of
:data:`CONTEXT_DAYS` days before it, in time order together with the accesses; a ticket or
grant older than that is unknown, so an access citing it counts as unjustified (the scope
errs towards including too much, never too little).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from sentinelle.detect.context import Context
from sentinelle.detect.timeutil import DAY, iso
from sentinelle.events import AccessEvent, decode_event
from sentinelle.incidents.model import Incident
from sentinelle.store import Store

__all__ = ["CONTEXT_DAYS", "MerchantScope", "Scope", "compute_scope"]

CONTEXT_DAYS: Final = 30

_Row = tuple[int, int, str]  # (time_us, seq, body)


@dataclass(slots=True)
class MerchantScope:
    """What the incident's actors accessed at one merchant."""

    merchant: str
    subject_ids: set[str] = field(default_factory=set)
    records: int = 0
    categories: set[str] = field(default_factory=set)
    first_us: int = 0
    last_us: int = 0
    justified_events: int = 0
    unjustified_events: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``subjects`` is a count; ids are never printed)."""
        return {
            "merchant": self.merchant,
            "subjects": len(self.subject_ids),
            "records": self.records,
            "categories": sorted(self.categories),
            "first": iso(self.first_us),
            "last": iso(self.last_us),
            "justified_events": self.justified_events,
            "unjustified_events": self.unjustified_events,
        }


@dataclass(slots=True)
class Scope:
    """An incident's scope. ``subject_ids`` and ``event_ids`` stay in memory (for notifying
    data subjects and for proofs); :meth:`to_dict` prints counts only."""

    incident: str
    actors: tuple[str, ...]
    from_us: int
    to_us: int
    unjustified_only: bool
    per_merchant: dict[str, MerchantScope] = field(default_factory=dict)
    event_ids: list[str] = field(default_factory=list)
    denied_events: int = 0

    @property
    def subject_ids(self) -> set[str]:
        """Distinct data subjects over all merchants."""
        out: set[str] = set()
        for m in self.per_merchant.values():
            out |= m.subject_ids
        return out

    @property
    def records(self) -> int:
        """Records exposed, summed over the accesses."""
        return sum(m.records for m in self.per_merchant.values())

    @property
    def categories(self) -> list[str]:
        """Data categories exposed, sorted."""
        return sorted({c for m in self.per_merchant.values() for c in m.categories})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of ``sentinelle incident scope --json``."""
        return {
            "incident": self.incident,
            "actors": list(self.actors),
            "window": {"from": iso(self.from_us), "to": iso(self.to_us)},
            "merchants": len(self.per_merchant),
            "subjects": len(self.subject_ids),
            "records": self.records,
            "categories": self.categories,
            "per_merchant": [self.per_merchant[k].to_dict() for k in sorted(self.per_merchant)],
        }


def compute_scope(
    store: Store,
    incident: Incident,
    *,
    unjustified_only: bool = False,
    context_days: int = CONTEXT_DAYS,
) -> Scope:
    """The scope of ``incident`` from the stored events (see the module docstring)."""
    scope = Scope(
        incident=incident.id,
        actors=incident.actors,
        from_us=incident.from_us,
        to_us=incident.to_us,
        unjustified_only=unjustified_only,
    )
    ctx = Context()
    # Both streams come in (time, seq) order; merged, they replay history as detection saw it,
    # so a ticket assigned or a grant revoked after an access does not change its verdict.
    merged = heapq.merge(
        _flat(store.context_events_by_time(incident.from_us - context_days * DAY, incident.to_us)),
        _flat(store.access_events_by_actors(incident.actors, incident.from_us, incident.to_us)),
    )
    for t, _seq, body in merged:
        event = decode_event(body)
        if not isinstance(event, AccessEvent):
            ctx.apply_context(event, t)
            continue
        if isinstance(event.actor.role, str):  # as the engine does: the latest role seen
            ctx.actor(event.actor.id).role = event.actor.role
        if event.outcome != "allowed":
            scope.denied_events += 1
            continue
        justified = ctx.justified(event, t)
        if unjustified_only and justified:
            continue
        m = scope.per_merchant.get(event.merchant)
        if m is None:
            m = scope.per_merchant[event.merchant] = MerchantScope(event.merchant, first_us=t)
        m.last_us = t
        subjects = event.subjects if isinstance(event.subjects, list) else []
        m.subject_ids.update(subjects)
        count = getattr(event.resource, "count", None)
        if isinstance(count, int):
            m.records += count
        else:
            m.records += len(event.subjects) if isinstance(event.subjects, list) else 1
        m.categories.update(event.data)
        if justified:
            m.justified_events += 1
        else:
            m.unjustified_events += 1
        scope.event_ids.append(event.id)
    return scope


def _flat(batches: Iterable[list[_Row]]) -> Iterator[_Row]:
    for batch in batches:
        yield from batch
