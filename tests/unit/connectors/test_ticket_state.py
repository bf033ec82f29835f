"""The vendors that send a ticket's state, not its changes (Freshdesk, Gorgias): the state
compared with the ticket's stored events (:func:`sentinelle.connectors.base.state_events`) —
opened once, assigned once per agent, closed once per closing, reopened once per closing; a
redelivery the same events, whatever time it is received."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

import msgspec

from sentinelle.connectors import freshdesk, gorgias
from sentinelle.connectors.base import VendorMapping
from sentinelle.events import ContextEvent

T0 = dt.datetime(2026, 11, 5, 10, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


class Ledger:
    """Stored events, one id once, as ingest keeps them: what ``history`` reads."""

    def __init__(self) -> None:
        self.events: dict[str, ContextEvent] = {}
        self.conflicts: list[str] = []

    def history(self, ticket: str) -> Sequence[ContextEvent]:
        found = [e for e in self.events.values() if e.ticket == ticket]
        return sorted(found, key=lambda e: e.time)  # stable: then as stored

    def store(self, events: list[ContextEvent]) -> list[str]:
        """The ids stored anew; a re-sent id with other content is a conflict."""
        new = []
        for event in events:
            earlier = self.events.get(event.id)
            if earlier is None:
                self.events[event.id] = event
                new.append(event.id)
            elif msgspec.json.encode(earlier) != msgspec.json.encode(event):
                self.conflicts.append(event.id)
        return new

    def state(self, ticket: str) -> str:
        kinds = [e.type for e in self.history(ticket) if e.type != "ticket.assigned"]
        return "closed" if kinds and kinds[-1] == "ticket.closed" else "open"


def following(event_id: str, kind: str) -> str:
    vendor, ticket = event_id.split(":")[:2]
    return f"{vendor}:{ticket}:{hashlib.sha256(event_id.encode()).hexdigest()[:16]}:{kind}"


def fd(ledger: Ledger, status: str, at: dt.datetime, **more: str) -> list[str]:
    """A Freshdesk webhook with the documented body (no times), received at ``at``."""
    body = {"ticket": {"id": "9", "status": status, "agent": "ana@x", "company": "m-1", **more}}
    return ledger.store(freshdesk.map(body, VendorMapping("freshdesk"), at, ledger.history))


def test_freshdesk_without_times_a_redelivery_is_the_same_events() -> None:
    ledger = Ledger()
    assert fd(ledger, "Open", T0) == ["freshdesk:9:opened", "freshdesk:9:ana@x:assigned"]
    assert fd(ledger, "Open", T0 + MINUTE) == []  # received later: the stored times
    closing = following("freshdesk:9:opened", "closed")
    assert fd(ledger, "Resolved", T0 + 2 * MINUTE) == [closing]
    assert fd(ledger, "Resolved", T0 + 3 * MINUTE) == []
    assert fd(ledger, "Closed", T0 + 4 * MINUTE) == []  # Resolved, then Closed: one closing
    assert ledger.conflicts == []
    assert ledger.events[closing].time == T0 + 2 * MINUTE
    assert ledger.state("9") == "closed"


def test_reopened_once_per_closing_and_closed_again_with_its_own_id() -> None:
    ledger = Ledger()
    fd(ledger, "Open", T0)
    fd(ledger, "Resolved", T0 + MINUTE)
    closing = following("freshdesk:9:opened", "closed")
    reopening = following(closing, "opened")
    assert fd(ledger, "Open", T0 + 2 * MINUTE) == [reopening]
    assert ledger.state("9") == "open"
    assert fd(ledger, "Open", T0 + 3 * MINUTE) == []  # an update: not a new opening
    assert fd(ledger, "Pending", T0 + 4 * MINUTE) == []
    assert fd(ledger, "Closed", T0 + 5 * MINUTE) == [following(reopening, "closed")]
    assert fd(ledger, "Open", T0 + 6 * MINUTE) == [
        following(following(reopening, "closed"), "opened")
    ]
    assert ledger.conflicts == [] and ledger.state("9") == "open"


def test_a_state_change_comes_after_the_stored_event_it_follows() -> None:
    ledger = Ledger()
    at = "2026-11-05T10:05:00Z"
    fd(ledger, "Open", T0, created_at=at, updated_at=at)
    fd(ledger, "Closed", T0, created_at=at, updated_at=at)  # closed as it was opened
    history = ledger.history("9")
    assert [e.type for e in history] == ["ticket.opened", "ticket.assigned", "ticket.closed"]
    assert history[-1].time == T0 + 5 * MINUTE + dt.timedelta(microseconds=1)
    # An older state delivered after a newer one was stored changes nothing.
    assert fd(ledger, "Open", T0, created_at=at, updated_at="2026-11-05T10:04:00Z") == []
    assert ledger.state("9") == "closed"


def gorgias_call(status: str, changed: str) -> dict[str, object]:
    return {
        "merchant": "m-1",
        "ticket": {"id": "5", "status": status, "assignee_user_id": "", "updated_datetime": changed,
                   "created_datetime": "2026-11-05T09:00:00", "closed_datetime": None},
    }  # fmt: skip


def test_gorgias_reopens_at_its_time_and_keeps_a_closing_stored_before() -> None:
    ledger = Ledger()
    config = VendorMapping("gorgias")
    # A closing stored under the id earlier versions derived from its time: not closed twice.
    legacy = ContextEvent(
        id="gorgias:5:20261105T100000000000Z:closed",
        time=T0,
        type="ticket.closed",
        ticket="5",
        merchant="m-1",
    )
    ledger.store([ContextEvent(id="gorgias:5:opened", time=T0 - MINUTE * 60, type="ticket.opened",
                               ticket="5", merchant="m-1"), legacy])  # fmt: skip
    closed = gorgias.map(gorgias_call("closed", "2026-11-05T10:00:00"), config, T0, ledger.history)
    assert ledger.store(closed) == [] and ledger.conflicts == []
    opened = gorgias.map(gorgias_call("open", "2026-11-05T11:00:00"), config, T0, ledger.history)
    assert ledger.store(opened) == [following(legacy.id, "opened")]
    assert ledger.events[following(legacy.id, "opened")].time == T0 + 60 * MINUTE
    assert ledger.state("5") == "open"


def test_an_export_read_alone_derives_the_webhooks_ids() -> None:
    listed = [{"id": 9, "status": 5, "responder_id": 1, "company_id": 7,
               "created_at": "2026-11-05T09:00:00Z",
               "updated_at": "2026-11-05T10:00:00Z"}]  # fmt: skip
    ids = [e.id for e in freshdesk.backfill(iter(listed), VendorMapping("freshdesk"))]
    assert ids == ["freshdesk:9:opened", "freshdesk:9:1:assigned",
                   following("freshdesk:9:opened", "closed")]  # fmt: skip
