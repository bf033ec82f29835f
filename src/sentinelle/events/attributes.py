"""Access events from flat ``sentinelle.*`` attributes: the form an application's log record
gives them — OpenTelemetry log attributes sent over OTLP (:mod:`sentinelle.connectors.otlp`)
or the ``extra={...}`` of a Python ``logging`` call (:mod:`sentinelle.client.logging`).

One attribute per field of the access event (``access-event.schema.json``), listed in
:data:`ATTRIBUTES` (``docs/connectors.md`` shows the same table). Only these attributes are
read: a log record's message or body and every other attribute are left out, so a log line's
personal data (a customer's name in a message) never reaches an event nor the ledger. The
attributes themselves carry identifiers and data categories only.

Rules, in one place for both senders:

* an unknown ``sentinelle.*`` attribute is refused (a misspelt ``sentinelle.merchnat`` must not
  silently drop the merchant), as an event's unknown field is;
* without ``sentinelle.actor.id`` the app itself is the actor (``app``: OpenTelemetry's
  ``service.name``), of kind ``app`` unless ``sentinelle.actor.kind`` says otherwise; with it,
  the kind defaults to ``staff``;
* the channel defaults to ``api`` for apps and services and to ``integration`` for
  integrations; staff and merchant users must name theirs;
* the outcome defaults to ``allowed``;
* lists (``sentinelle.data``, ``sentinelle.customers``) are arrays, or one string of
  comma-separated values (for senders that only have string attributes);
* ``defaults`` (an OpenTelemetry resource's ``sentinelle.*`` attributes: one shop's app sets
  ``sentinelle.merchant`` once) apply to every record, which may override them.

Every failure is an :class:`AttributeMappingError` naming the attribute.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, Final, Literal, get_args

import msgspec

from sentinelle.errors import Error
from sentinelle.events.model import AccessEvent, ActorKind
from sentinelle.events.parse import canonical

__all__ = [
    "ATTRIBUTES",
    "DERIVED_PREFIX",
    "PREFIX",
    "Attribute",
    "AttributeMappingError",
    "access_event",
]

PREFIX: Final = "sentinelle."
#: The prefix of an id derived from the event's content (:func:`access_event`).
DERIVED_PREFIX: Final = "log-"
_DERIVED_HEX: Final = 40  # 160 bits of SHA-256: no two distinct accesses share one

Kind = Literal["id", "word", "ids", "words", "count"]


@dataclass(frozen=True, slots=True)
class Attribute:
    """One ``sentinelle.*`` attribute: where it goes in the event, what it holds (``id``:
    a string or an integer; ``word``: one of the schema's values; ``ids``/``words``: an array
    or a comma-separated string; ``count``: a non-negative integer), and what it means."""

    name: str
    field: tuple[str, ...]
    kind: Kind
    description: str

    @property
    def path(self) -> str:
        """The field's JSON path in the event (``$.actor.id``)."""
        return "$." + ".".join(self.field)


ATTRIBUTES: Final[tuple[Attribute, ...]] = (
    Attribute(
        "sentinelle.actor.id",
        ("actor", "id"),
        "id",
        "who read the data (a staff id; default: the app, from `service.name`)",
    ),
    Attribute(
        "sentinelle.actor.kind",
        ("actor", "kind"),
        "word",
        "staff, app, integration, service, merchant_user "
        "(default: staff with `sentinelle.actor.id`, else app)",
    ),
    Attribute("sentinelle.actor.role", ("actor", "role"), "id", "the actor's role"),
    Attribute("sentinelle.actor.team", ("actor", "team"), "id", "the actor's team"),
    Attribute("sentinelle.merchant", ("merchant",), "id", "the shop whose customers (required)"),
    Attribute(
        "sentinelle.action",
        ("action",),
        "word",
        "view, search, export, download, update, delete (required)",
    ),
    Attribute(
        "sentinelle.data",
        ("data",),
        "words",
        "the data categories exposed: contact, address, order_details, … (required)",
    ),
    Attribute(
        "sentinelle.channel",
        ("channel",),
        "word",
        "support_console, admin, api, export, integration "
        "(default: api for apps and services, integration for integrations)",
    ),
    Attribute("sentinelle.outcome", ("outcome",), "word", "allowed or denied (default: allowed)"),
    Attribute(
        "sentinelle.resource.type",
        ("resource", "type"),
        "word",
        "customer, order, transaction, customer_list, order_list, payout, other",
    ),
    Attribute(
        "sentinelle.resource.count", ("resource", "count"), "count", "records exposed (integer)"
    ),
    Attribute(
        "sentinelle.customers",
        ("subjects",),
        "ids",
        "ids of the customers whose data was exposed (never names or e-mails)",
    ),
    Attribute("sentinelle.ticket", ("justification", "ticket"), "id", "the ticket worked on"),
    Attribute("sentinelle.grant", ("justification", "grant"), "id", "the grant used"),
    Attribute("sentinelle.source.ip", ("source", "ip"), "id", "the actor's IP address"),
    Attribute(
        "sentinelle.source.country", ("source", "country"), "word", "the actor's country (FR)"
    ),
    Attribute("sentinelle.source.device", ("source", "device"), "id", "the actor's device id"),
    Attribute(
        "sentinelle.event_id",
        ("id",),
        "id",
        "the event's id (default: derived from the record, so a resent record is stored once)",
    ),
)
_BY_NAME: Final = {a.name: a for a in ATTRIBUTES}
_BY_PATH: Final = {a.path: a.name for a in ATTRIBUTES}
_KINDS: Final[tuple[str, ...]] = get_args(ActorKind)
_REQUIRED: Final = ("sentinelle.merchant", "sentinelle.action", "sentinelle.data")
#: The channel an actor of each kind uses unless it says otherwise (none for people: a person
#: works in a console, an admin tool or an export, and only the app knows which).
_DEFAULT_CHANNEL: Final[Mapping[str, str]] = {
    "app": "api",
    "service": "api",
    "integration": "integration",
}


class AttributeMappingError(Error):
    """A record's ``sentinelle.*`` attributes do not make an access event: ``attribute``
    names the one at fault, ``message`` what is wrong with it."""

    def __init__(self, attribute: str, message: str) -> None:
        self.attribute = attribute
        self.message = message
        super().__init__(f"{attribute}: {message}")


def access_event(
    attributes: Mapping[str, object],
    *,
    time: dt.datetime,
    defaults: Mapping[str, object] | None = None,
    app: str | None = None,
    event_id: str | None = None,
    salt: bytes = b"",
) -> AccessEvent:
    """The access event a record's ``sentinelle.*`` ``attributes`` describe, at ``time``
    (aware). ``defaults`` apply where the record says nothing; ``app`` is the actor when it
    names none (see the module's rules).

    The id is ``sentinelle.event_id``, else ``event_id``, else derived from the event's content
    and ``salt`` (what else tells the record apart: its exact time, trace and span):
    :data:`DERIVED_PREFIX` and 40 hex digits of SHA-256, so the same record sent twice (an
    exporter's retry) is the same event, stored once.

    Raises :class:`AttributeMappingError` naming the attribute at fault.
    """
    given = {**defaults, **attributes} if defaults else attributes
    fields: dict[str, Any] = {}
    for name, value in given.items():
        spec = _BY_NAME.get(name)
        if spec is None:
            known = ", ".join(a.name.removeprefix(PREFIX) for a in ATTRIBUTES)
            raise AttributeMappingError(name, f"unknown attribute (sentinelle.* is one of {known})")
        _put(fields, spec.field, _coerce(spec, value))
    for name in _REQUIRED:
        if name not in given:
            raise AttributeMappingError(name, "missing")
    actor: dict[str, Any] = fields.setdefault("actor", {})
    if "id" not in actor:
        if not app:
            raise AttributeMappingError(
                "sentinelle.actor.id", "missing (or name the app: service.name)"
            )
        actor["id"] = app
        actor.setdefault("kind", "app")
    kind = actor.setdefault("kind", "staff")
    if kind not in _KINDS:
        raise AttributeMappingError(
            "sentinelle.actor.kind", f"{kind!r} is not one of {', '.join(_KINDS)}"
        )
    if "channel" not in fields:
        channel = _DEFAULT_CHANNEL.get(actor["kind"])
        if channel is None:
            raise AttributeMappingError(
                "sentinelle.channel", f"missing (an actor of kind {actor['kind']} names it)"
            )
        fields["channel"] = channel
    fields.setdefault("outcome", "allowed")
    fields["time"] = time.astimezone(dt.UTC)
    explicit = fields["id"] if "id" in fields else event_id
    fields["id"] = DERIVED_PREFIX if explicit is None else explicit
    try:
        event = msgspec.convert(fields, AccessEvent)
    except msgspec.ValidationError as exc:
        raise _mapping_error(exc) from None
    if explicit is not None:
        return event
    digest = sha256(canonical(event) + b"\x00" + salt).hexdigest()[:_DERIVED_HEX]
    return msgspec.structs.replace(event, id=DERIVED_PREFIX + digest)


def _put(fields: dict[str, Any], path: tuple[str, ...], value: object) -> None:
    node = fields
    for step in path[:-1]:
        node = node.setdefault(step, {})
    node[path[-1]] = value


def _coerce(spec: Attribute, value: object) -> object:
    """The attribute's value as the event's field takes it. Raises
    :class:`AttributeMappingError`."""
    if spec.kind == "count":
        if isinstance(value, bool) or not isinstance(value, int):
            raise AttributeMappingError(spec.name, f"must be an integer, not {_type(value)}")
        return value
    if spec.kind in ("ids", "words"):
        if isinstance(value, str):
            items: list[object] = [part.strip() for part in value.split(",") if part.strip()]
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise AttributeMappingError(
                spec.name, f"must be an array (or comma-separated text), not {_type(value)}"
            )
        return [_scalar(spec, item, ids=spec.kind == "ids") for item in items]
    return _scalar(spec, value, ids=spec.kind == "id")


def _scalar(spec: Attribute, value: object, *, ids: bool) -> str:
    # An id may come as an integer (customer 1234); a word (an enum's value) is text only.
    if ids and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        expected = "a string or an integer" if ids else "a string"
        raise AttributeMappingError(spec.name, f"must be {expected}, not {_type(value)}")
    if "\x00" in value:  # PostgreSQL cannot store it; the event schema refuses it too
        raise AttributeMappingError(spec.name, "contains a NUL character")
    return value


def _type(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _mapping_error(exc: msgspec.ValidationError) -> AttributeMappingError:
    """msgspec's message names a JSON path of the event (``$.data[1]``): name the attribute."""
    text, _, path = str(exc).rpartition(" - at `")
    path = path.rstrip("`").split("[", 1)[0]
    if path == "$.source.country":  # the schema's pattern, not Python's spelling of it
        text = "Expected a country code such as FR (ISO 3166-1 alpha-2)"
    return AttributeMappingError(_BY_PATH.get(path, path or "$"), text or str(exc))
