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
before, or an approved, unexpired, unrevoked grant of the actor for the merchant.

Two reads, so the cost follows the actors' activity, not the platform's: a first pass over the
actors' accesses collects the tickets and grants they cite; then the whole history of those
tickets and grants and the actors' staff events (role changes) up to the end of the window is
read through the ``ref`` and ``actor`` indexes and replayed in time order with a second pass
over the accesses, so a ticket assigned or a grant revoked after an access does not change
its verdict. A ticket or grant with no stored event is unknown: an access citing it counts as
unjustified (the scope errs towards including too much, never too little).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from sentinelle.detect.context import Context
from sentinelle.events import AccessEvent, decode_event
from sentinelle.incidents.model import Incident
from sentinelle.store import Store
from sentinelle.timeutil import iso

__all__ = ["MerchantScope", "Scope", "compute_scope"]

_Row = tuple[int, int, str]  # (time_us, seq, body)


class _Cites(msgspec.Struct):
    """What the first pass reads of an access: the ticket and grant it cites."""

    ticket: str | None = None
    grant: str | None = None


class _Citing(msgspec.Struct):
    justification: _Cites | None = None


_read_cites = msgspec.json.Decoder(_Citing).decode


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
    cited: set[str] = set()
    for _t, _seq, body in _flat(_accesses(store, incident)):
        cites = _read_cites(body).justification
        if cites is not None:
            cited.update(ref for ref in (cites.ticket, cites.grant) if ref is not None)
    # Both streams come in (time, seq) order; merged, they replay history as detection saw it.
    merged = heapq.merge(
        store.context_events_cited(cited, incident.actors, incident.to_us),
        _flat(_accesses(store, incident)),
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


def _accesses(store: Store, incident: Incident) -> Iterator[list[_Row]]:
    return store.access_events_by_actors(incident.actors, incident.from_us, incident.to_us)


def _flat(batches: Iterable[list[_Row]]) -> Iterator[_Row]:
    for batch in batches:
        yield from batch
