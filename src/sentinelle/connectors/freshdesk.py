"""Freshdesk: webhooks sent by automation rules ("Trigger webhook" action).

Freshdesk signs nothing (https://support.freshdesk.com/support/solutions/articles/132589-using-webhooks-in-automation-rules):
its webhook action can send custom headers or basic auth, so the receiver requires the shared
secret you configure on both sides in ``X-Sentinelle-Webhook-Secret`` (compared in constant
time). The body is the JSON you write in the action with Freshdesk's placeholders
(docs/connectors.md gives it)::

    {"ticket": {"id": "{{ticket.id}}", "status": "{{ticket.status}}",
                "agent": "{{ticket.agent.email}}", "company": "{{ticket.company.name}}"}}

Freshdesk sends the ticket's state, not the change: compared with the ticket's stored events,
the ticket is opened once, assigned once per agent, closed once per closing (``status``
Resolved or Closed) and reopened once per closing, each with an id derived from that state and
the stored events it follows (:func:`sentinelle.connectors.base.state_events`). Times:
``created_at`` and ``updated_at`` if the body carries them, else the time Sentinelle received
the webhook (the stored time, for an event a redelivery sends again).

History comes from the REST API's ticket list (:func:`backfill`), which names the agent and
the company by their numeric ids (``responder_id``, ``company_id``), not by e-mail and name as
the webhook body does: the mapping file maps both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any, Final

from sentinelle.connectors.base import (
    History,
    MappingError,
    VendorMapping,
    at,
    id_text,
    no_history,
    parse_time,
    per_record,
    state_events,
    verify_shared_secret,
)
from sentinelle.events import ContextEvent

__all__ = ["MERCHANT_FIELD", "backfill", "map", "verify"]

MERCHANT_FIELD: Final = "ticket.company"
_CLOSED: Final = frozenset({"resolved", "closed", "4", "5"})  # names, or the API's codes


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: dt.datetime) -> None:
    """Check the shared secret header. Raises :class:`SignatureError`."""
    del body, now
    verify_shared_secret(headers, secret)


def map(
    payload: Any, config: VendorMapping, received: dt.datetime, history: History = no_history
) -> list[ContextEvent]:
    """The ticket events of one webhook body, against the ticket's stored events
    (``history``). Raises :class:`MappingError`."""
    if not isinstance(payload, dict):
        raise MappingError("$", "must be a JSON object")
    ticket = id_text(at(payload, "ticket.id"), "ticket.id")
    status = at(payload, "ticket.status")
    if status in (None, ""):
        raise MappingError("ticket.status", "missing")
    agent = at(payload, "ticket.agent")
    made = config.ticket(ticket, config.merchant_of(payload, MERCHANT_FIELD), "ticket.id")
    return state_events(
        made,
        closed=str(status).strip().lower() in _CLOSED,
        agent=None if agent in (None, "") else id_text(agent, "ticket.agent"),
        opened_at=_time(payload, "ticket.created_at"),
        changed_at=_time(payload, "ticket.updated_at"),
        received=received,
        config=config,
        history=history(made.ticket),
    )


def _time(payload: Any, path: str) -> dt.datetime | None:
    value = at(payload, path)
    return None if value in (None, "") else parse_time(value, path)


def backfill(
    records: Iterator[Any], config: VendorMapping, history: History = no_history
) -> Iterator[ContextEvent]:
    """Events from tickets listed by the REST API (``GET /api/v2/tickets``, each page a JSON
    array of tickets, or ``{"tickets": [...]}``), each ticket's current state as the webhook
    would send it: the agent is ``responder_id``, the merchant ``company_id`` (mapped through
    the mapping file's ``[freshdesk]`` tables, which may hold both the webhook's e-mails and
    names and these ids; or one ``merchant`` for every ticket), the times ``created_at`` and
    ``updated_at``. Each state is compared with the ticket's stored events (``history``), as
    a webhook's is: a ticket reopened or closed again since is reopened or closed again.
    Raises :class:`MappingError` naming the ticket by position and the field."""
    listed = replace(config, merchant_field=None)  # the list's own field, whatever the webhook's
    yield from per_record(records, "tickets", lambda ticket: _listed(ticket, listed, history))


def _listed(ticket: dict[str, Any], config: VendorMapping, history: History) -> list[ContextEvent]:
    fields = {
        "id": ticket.get("id"),
        "status": ticket.get("status"),
        "agent": ticket.get("responder_id"),
        "company": ticket.get("company_id"),
        "created_at": ticket.get("created_at"),
        "updated_at": ticket.get("updated_at"),
    }
    try:
        return map({"ticket": fields}, config, dt.datetime.now(dt.UTC), history)
    except MappingError as exc:  # named as the list names it, not as the webhook body
        raise MappingError(_LISTED.get(exc.path, exc.path), exc.message) from None


_LISTED: Final = {
    "ticket.id": "id",
    "ticket.status": "status",
    "ticket.agent": "responder_id",
    "ticket.company": "company_id",
    "ticket.created_at": "created_at",
    "ticket.updated_at": "updated_at",
}
