"""Gorgias: HTTP integrations (Settings → HTTP integration), triggered on ticket created and
ticket updated, and the tickets of its REST API as JSON.

Gorgias signs nothing (https://developers.gorgias.com/reference/the-integration-object): an
HTTP integration sends the headers and body you configure, so the receiver requires the shared
secret you put in its ``X-Sentinelle-Webhook-Secret`` header (compared in constant time). The
body is a template over the ticket (docs/connectors.md gives it)::

    {"merchant": "m-1",
     "ticket": {"id": "{{ticket.id}}", "status": "{{ticket.status}}",
                "assignee_user_id": "{{ticket.assignee_user.id}}",
                "created_datetime": "{{ticket.created_datetime}}",
                "updated_datetime": "{{ticket.updated_datetime}}"}}

A Gorgias account is one shop's help desk: the merchant is, by default, the ``merchant`` the
integration's body names. Gorgias sends the ticket's state: compared with the ticket's stored
events, opened once, assigned once per agent, closed once per closing and reopened once per
closing (:func:`sentinelle.connectors.base.state_events`). Its times carry no offset: they are
UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
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

MERCHANT_FIELD: Final = "merchant"


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: dt.datetime) -> None:
    """Check the shared secret header. Raises :class:`SignatureError`."""
    del body, now
    verify_shared_secret(headers, secret)


def map(
    payload: Any, config: VendorMapping, received: dt.datetime, history: History = no_history
) -> list[ContextEvent]:
    """The ticket events of one integration call, against the ticket's stored events
    (``history``). Raises :class:`MappingError`."""
    if not isinstance(payload, dict):
        raise MappingError("$", "must be a JSON object")
    ticket = id_text(at(payload, "ticket.id"), "ticket.id")
    status = at(payload, "ticket.status")
    if status not in ("open", "closed"):
        raise MappingError("ticket.status", f"must be open or closed, not {status!r}")
    agent = at(payload, "ticket.assignee_user_id")
    created = parse_time(
        at(payload, "ticket.created_datetime"), "ticket.created_datetime", naive_is_utc=True
    )
    changed_path = "ticket.closed_datetime" if status == "closed" else "ticket.updated_datetime"
    if at(payload, changed_path) in (None, ""):
        changed_path = "ticket.updated_datetime"
    changed = parse_time(at(payload, changed_path), changed_path, naive_is_utc=True)
    made = config.ticket(ticket, config.merchant_of(payload, MERCHANT_FIELD), "ticket.id")
    return state_events(
        made,
        closed=status == "closed",
        agent=None if agent in (None, "") else id_text(agent, "ticket.assignee_user_id"),
        opened_at=created,
        changed_at=changed,
        received=received,  # unused: Gorgias dates the ticket's changes
        config=config,
        history=history(made.ticket),
    )


def backfill(
    records: Iterator[Any], config: VendorMapping, history: History = no_history
) -> Iterator[ContextEvent]:
    """Events from tickets listed by the REST API (``GET /api/tickets``, pages of
    ``{"data": [...]}``), each ticket's current state as a webhook would send it. A ticket of
    the API names no merchant: give it (``[gorgias] merchant`` in the mapping file, or
    ``backfill --merchant``). Each state is compared with the ticket's stored events
    (``history``), as a webhook's is. Raises :class:`MappingError`."""
    if config.merchant is None:
        raise MappingError(
            "merchant", "a Gorgias ticket names no merchant: give --merchant or [gorgias] merchant"
        )
    yield from per_record(records, "data", lambda ticket: _listed(ticket, config, history))


def _listed(ticket: dict[str, Any], config: VendorMapping, history: History) -> list[ContextEvent]:
    user = ticket.get("assignee_user")
    agent = user.get("id") if isinstance(user, dict) else None
    body = {"ticket": {**ticket, "assignee_user_id": agent}}
    return map(body, config, dt.datetime.now(dt.UTC), history)
