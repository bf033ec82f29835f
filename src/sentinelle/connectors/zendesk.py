"""Zendesk: event-subscribed webhooks (``zen:event-type:ticket.*``) and the incremental
ticket export.

Signature (https://developer.zendesk.com/documentation/webhooks/verifying/): the
``X-Zendesk-Webhook-Signature`` header is ``base64(HMAC-SHA256(secret, TIMESTAMP + BODY))``,
``TIMESTAMP`` being the ``X-Zendesk-Webhook-Signature-Timestamp`` header as sent. Payloads:
https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/.

``ticket.created`` → ``ticket.opened`` (and ``ticket.assigned`` if it has an assignee);
``ticket.agent_assignment_changed`` → ``ticket.assigned`` (an unassignment: nothing);
``ticket.status_changed`` to solved or closed → ``ticket.closed``, from solved or closed to
another status → ``ticket.opened`` (reopened). Other ticket events, and other domains' events,
are accepted and map to nothing.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any, Final

from sentinelle.connectors.base import (
    History,
    MappingError,
    SignatureError,
    VendorMapping,
    at,
    constant_time_equal,
    hmac_sha256,
    id_text,
    no_history,
    parse_time,
    per_record,
    require_header,
)
from sentinelle.events import ContextEvent

__all__ = [
    "MERCHANT_FIELD",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE",
    "backfill",
    "map",
    "verify",
]

SIGNATURE_HEADER: Final = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER: Final = "X-Zendesk-Webhook-Signature-Timestamp"
#: A signed request older (or newer) than this is refused: a captured one cannot be replayed
#: later. Zendesk retries a failed delivery within minutes, each retry signed anew.
TOLERANCE: Final = dt.timedelta(minutes=5)
MERCHANT_FIELD: Final = "detail.organization_id"
_PREFIX: Final = "zen:event-type:ticket."
_CLOSED: Final = frozenset({"solved", "closed"})


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: dt.datetime) -> None:
    """Check the request's signature and that it was signed less than :data:`TOLERANCE`
    from ``now``. ``headers`` are keyed in lower case. Raises :class:`SignatureError`."""
    signature = require_header(headers, SIGNATURE_HEADER)
    stamp = require_header(headers, TIMESTAMP_HEADER)
    try:
        given = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{SIGNATURE_HEADER} is not base64") from None
    if not constant_time_equal(given, hmac_sha256(secret, stamp.encode() + body)):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body and timestamp")
    try:
        signed = parse_time(stamp, TIMESTAMP_HEADER)
    except MappingError:
        raise SignatureError(f"{TIMESTAMP_HEADER} is not an RFC 3339 time") from None
    if abs(now - signed) > TOLERANCE:
        raise SignatureError(
            f"{TIMESTAMP_HEADER} is {abs(now - signed).total_seconds():.0f} s from now, more "
            f"than {TOLERANCE.total_seconds():.0f} s: refused (a replayed or delayed request)"
        )


def map(
    payload: Any, config: VendorMapping, received: dt.datetime, history: History = no_history
) -> list[ContextEvent]:
    """The ticket events of one webhook payload. Raises :class:`MappingError` naming the
    field that is missing or wrong."""
    del received, history  # Zendesk dates every event, and sends the changes: reopenings too
    if not isinstance(payload, dict):
        raise MappingError("$", "must be a JSON object")
    kind = payload.get("type")
    if not isinstance(kind, str):
        raise MappingError("type", "missing")
    if not kind.startswith(_PREFIX):
        return []
    change = kind.removeprefix(_PREFIX)
    if change not in ("created", "agent_assignment_changed", "status_changed"):
        return []
    key = id_text(payload.get("id"), "id")
    ticket = id_text(at(payload, "detail.id"), "detail.id")
    time = parse_time(payload.get("time"), "time")
    merchant = config.merchant_of(payload, MERCHANT_FIELD)

    made = config.ticket(ticket, merchant, "detail.id")

    if change == "created":
        # Who made it, when that is an agent of the staff table (a customer's id is not
        # kept): what fake_tickets reads of a ticket an agent opened themselves.
        submitter = at(payload, "detail.submitter_id")
        by = None
        if submitter not in (None, ""):
            by = config.staff.get(id_text(submitter, "detail.submitter_id"))
        found = [made.event(key, "ticket.opened", time, by=by)]
        assignee = at(payload, "detail.assignee_id")
        if assignee not in (None, ""):
            agent = id_text(assignee, "detail.assignee_id")
            found.append(made.event(key, "ticket.assigned", time, config.actor(agent)))
        return found
    if change == "agent_assignment_changed":
        current = at(payload, "event.current")
        if current in (None, ""):  # unassigned: no one to name
            return []
        return [
            made.event(
                key, "ticket.assigned", time, config.actor(id_text(current, "event.current"))
            )
        ]
    now = _status(at(payload, "event.current"), "event.current")
    before = _status(at(payload, "event.previous"), "event.previous", required=False)
    if now in _CLOSED:
        return [made.event(key, "ticket.closed", time)]
    if before in _CLOSED:
        return [made.event(key, "ticket.opened", time)]
    return []


def _status(value: Any, path: str, *, required: bool = True) -> str:
    if isinstance(value, dict):  # some examples nest it: {"current": {"status": "open"}}
        value = value.get("status")
    if value in (None, "") and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise MappingError(path, "missing" if value in (None, "") else "must be a status")
    return value.lower()


def backfill(
    records: Iterator[Any], config: VendorMapping, history: History = no_history
) -> Iterator[ContextEvent]:
    """Events from the incremental ticket export (``GET /api/v2/incremental/tickets/cursor``,
    pages of ``{"tickets": [...]}``): each ticket opened at ``created_at``, assigned to its
    current assignee at ``created_at``, and closed at ``updated_at`` if solved or closed (the
    export holds a ticket's state, not its history). Raises :class:`MappingError` naming the
    ticket (by position) and the field as the webhook's (``detail.x`` is the ticket's ``x``)."""
    del history  # its events' ids are the export's own; a reopening comes from the webhook
    return per_record(records, "tickets", lambda ticket: _exported(ticket, config))


def _exported(ticket: dict[str, Any], config: VendorMapping) -> Iterator[ContextEvent]:
    tid = ticket.get("id")
    yield from map(
        {
            "type": _PREFIX + "created",
            "id": f"export-{tid}",
            "time": ticket.get("created_at"),
            "detail": ticket,
        },
        config,
        dt.datetime.now(dt.UTC),
    )
    status = ticket.get("status")
    if isinstance(status, str) and status.lower() in _CLOSED:
        yield from map(
            {
                "type": _PREFIX + "status_changed",
                "id": f"export-{tid}",
                "time": ticket.get("updated_at"),
                "detail": ticket,
                "event": {"current": status},
            },
            config,
            dt.datetime.now(dt.UTC),
        )
