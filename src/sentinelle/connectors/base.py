"""What every help-desk connector shares: its errors, its mapping configuration and the
helpers that turn a vendor's payload into ``ticket.opened|assigned|closed`` context events.

A connector module (:mod:`.zendesk`, :mod:`.jira`, :mod:`.freshdesk`, :mod:`.gorgias`) has
``verify(headers, body, secret, now)`` (raises :class:`SignatureError`) and
``map(payload, config, received, history)`` (pure but for ``history``, the ticket's stored
events, which the vendors that send a ticket's state compare it with; raises
:class:`MappingError` naming the field). The events keep identifiers only: ticket, merchant,
assignee and the ticket's state. A requester's name or email, a ticket's subject or body never
leave this package.

Mapping file (``SENTINELLE_CONNECTORS_MAP``), TOML::

    [zendesk]
    merchant_field = "detail.organization_id"   # where the merchant is (this is the default)
    # merchant = "m-1"                          # or: every ticket is this merchant's
    [zendesk.merchants]                         # vendor organization id -> merchant id
    "8447346622462" = "m-1"
    [zendesk.staff]                             # help-desk agent id -> staff id
    "8447388090494" = "s-alice"

or CSV with the header ``vendor,kind,vendor_id,sentinelle_id`` (``kind``: ``merchant`` or
``staff``). An organization not in a non-empty ``merchants`` table is refused (422); an agent
not in ``staff`` is stored as ``<vendor>:<agent id>``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from msgspec import UNSET
from msgspec.structs import replace

from sentinelle.errors import ConfigError, Error, Problem, ValidationError
from sentinelle.events import ContextEvent, decode_event
from sentinelle.timeutil import MAX_US, MIN_US, TIME_RANGE, to_us

if TYPE_CHECKING:
    from sentinelle.store import Store

__all__ = [
    "MAX_BODY_BYTES",
    "SECRET_HEADER",
    "VENDOR_NAMES",
    "History",
    "MappingConfig",
    "MappingError",
    "SignatureError",
    "Ticket",
    "VendorMapping",
    "at",
    "constant_time_equal",
    "hmac_sha256",
    "id_text",
    "no_history",
    "parse_time",
    "per_record",
    "require_header",
    "state_events",
    "ticket_history",
    "verify_shared_secret",
]

VENDOR_NAMES: Final = ("zendesk", "freshdesk", "jira", "gorgias")
#: A webhook body larger than this is refused (413): one ticket change is a few KiB.
MAX_BODY_BYTES: Final = 1024 * 1024
#: The header carrying the shared secret of vendors that sign nothing (Freshdesk, Gorgias).
SECRET_HEADER: Final = "X-Sentinelle-Webhook-Secret"  # noqa: S105 - a header name
_MAX_ID: Final = 128  # the context event schema's bound on ids, tickets, merchants, actors
_MAX_PREFIX: Final = 32  # a ticket_prefix's (the console's own mark before a vendor's ids)

TicketType = Literal["ticket.opened", "ticket.assigned", "ticket.closed"]
#: A ticket's stored ``ticket.*`` events, in time order (then as stored), by ticket id: what
#: the vendors that send a ticket's state, not its changes, compare that state with.
History = Callable[[str], Sequence[ContextEvent]]
_STATES: Final = frozenset({"ticket.opened", "ticket.closed"})
_MICROSECOND: Final = dt.timedelta(microseconds=1)


def no_history(ticket: str) -> Sequence[ContextEvent]:
    """No stored event (an export file read on its own)."""
    del ticket
    return ()


def ticket_history(store: Store, ticket: str) -> list[ContextEvent]:
    """The ``ticket.*`` events ``store`` holds about ``ticket``, in time order (then as stored):
    one range of the events' ``ref`` index, as the guard reads a ticket."""
    found = []
    for _t, _seq, body in store.context_events_cited({ticket}, (), MAX_US):
        event = decode_event(body)
        if isinstance(event, ContextEvent) and event.type.startswith("ticket."):
            found.append(event)
    return found


class SignatureError(Error):
    """A webhook's signature or shared secret is missing, malformed, wrong or stale (401).

    The reason names the header and what is wrong with it, never the secret nor the
    expected value.
    """


class MappingError(ValidationError):
    """A payload that cannot be mapped to ticket events (422): ``path`` names the field
    (``detail.organization_id``), ``message`` what is wrong with it."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__([Problem(0, path, message)], unit="field")

    def diagnostics(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class VendorMapping:
    """How one vendor's tickets map: where the merchant is (``merchant_field``, ``None`` for
    the vendor's default; or one ``merchant`` for every ticket, a help desk of one shop),
    vendor org id -> merchant id, agent id -> staff id, and what precedes the vendor's ticket
    ids in the ids access events cite (``ticket_prefix``: ``ZD-`` when the support console
    cites Zendesk's ticket 123 as ``ZD-123``)."""

    vendor: str
    merchant: str | None = None
    merchant_field: str | None = None
    merchants: Mapping[str, str] = field(default_factory=dict)
    staff: Mapping[str, str] = field(default_factory=dict)
    ticket_prefix: str = ""

    def ticket(self, ticket_id: str, merchant: str, path: str) -> Ticket:
        """The vendor's ticket ``ticket_id`` (read at ``path``) of ``merchant``, named as
        access events cite it. Raises :class:`MappingError` when the prefixed id is too
        long."""
        named = self.ticket_prefix + ticket_id
        if len(named) > _MAX_ID:
            prefix = self.ticket_prefix
            raise MappingError(path, f"longer than {_MAX_ID} characters with the prefix {prefix!r}")
        return Ticket(self.vendor, named, merchant)

    def merchant_of(self, payload: Any, default_field: str) -> str:
        """The merchant of the payload's ticket. Raises :class:`MappingError`."""
        if self.merchant is not None:
            return self.merchant
        path = self.merchant_field or default_field
        value = id_text(at(payload, path), path)
        if not self.merchants:
            return value
        if value not in self.merchants:
            raise MappingError(path, f"organization {value!r} is not in the merchant map")
        return self.merchants[value]

    def actor(self, agent: str) -> str:
        """The staff id of a help-desk agent: mapped, else ``<vendor>:<agent id>``."""
        return self.staff.get(agent) or f"{self.vendor}:{agent}"


@dataclass(frozen=True, slots=True)
class MappingConfig:
    """The mapping of every vendor (from the mapping file; empty without one)."""

    vendors: Mapping[str, VendorMapping] = field(default_factory=dict)

    def of(self, vendor: str) -> VendorMapping:
        """``vendor``'s mapping (defaults if the file does not mention it)."""
        return self.vendors.get(vendor) or VendorMapping(vendor)

    @classmethod
    def from_file(cls, path: Path | None) -> MappingConfig:
        """Read a TOML or CSV mapping file (``None``: no mapping). Raises :class:`ConfigError`."""
        if path is None:
            return cls()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the connectors map {path}: {exc.strerror}") from None
        if path.suffix.lower() == ".csv":
            return cls._from_csv(text, path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        return cls._from_toml(data, path)

    @classmethod
    def _from_toml(cls, data: dict[str, Any], path: Path) -> MappingConfig:
        vendors = {}
        for vendor, table in data.items():
            where = f"{path}: [{vendor}]"
            if vendor not in VENDOR_NAMES:
                raise ConfigError(f"{where}: unknown vendor (one of {', '.join(VENDOR_NAMES)})")
            if not isinstance(table, dict):
                raise ConfigError(f"{where}: must be a table")
            unknown = set(table) - {
                "merchant",
                "merchant_field",
                "merchants",
                "staff",
                "ticket_prefix",
            }
            if unknown:
                raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
            merchant_field = table.get("merchant_field")
            if merchant_field is not None and not isinstance(merchant_field, str):
                raise ConfigError(f"{where}: merchant_field must be a string")
            merchant = table.get("merchant")
            if merchant is not None and not (
                isinstance(merchant, str) and 0 < len(merchant) <= _MAX_ID
            ):
                raise ConfigError(f"{where}: merchant must be an id (1-128 characters)")
            prefix = table.get("ticket_prefix", "")
            if not (
                isinstance(prefix, str)
                and len(prefix) <= _MAX_PREFIX
                and prefix.isprintable()
                and not any(c.isspace() for c in prefix)
            ):
                raise ConfigError(
                    f"{where}: ticket_prefix must be text of at most {_MAX_PREFIX} characters, "
                    "without spaces (ZD- makes ticket 123 ZD-123)"
                )
            vendors[vendor] = VendorMapping(
                vendor,
                merchant=merchant,
                merchant_field=merchant_field or None,
                merchants=_id_table(table.get("merchants", {}), f"{where}.merchants"),
                staff=_id_table(table.get("staff", {}), f"{where}.staff"),
                ticket_prefix=prefix,
            )
        return cls(vendors)

    @classmethod
    def _from_csv(cls, text: str, path: Path) -> MappingConfig:
        tables: dict[str, dict[str, dict[str, str]]] = {}
        rows = csv.DictReader(text.splitlines())
        wanted = ["vendor", "kind", "vendor_id", "sentinelle_id"]
        if rows.fieldnames != wanted:
            raise ConfigError(f"{path}: the header must be {','.join(wanted)}")
        for line, row in enumerate(rows, 2):
            vendor, kind = row["vendor"], row["kind"]
            source, target = row["vendor_id"], row["sentinelle_id"]
            if vendor not in VENDOR_NAMES:
                raise ConfigError(f"{path}:{line}: unknown vendor {vendor!r}")
            if kind not in ("merchant", "staff"):
                raise ConfigError(f"{path}:{line}: kind must be merchant or staff")
            if not source or not target or len(target) > _MAX_ID:
                raise ConfigError(f"{path}:{line}: both ids are needed (at most 128 characters)")
            tables.setdefault(vendor, {}).setdefault(kind, {})[source] = target
        return cls(
            {
                vendor: VendorMapping(
                    vendor, merchants=kinds.get("merchant", {}), staff=kinds.get("staff", {})
                )
                for vendor, kinds in tables.items()
            }
        )


def _id_table(table: object, where: str) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table of id = id")
    for key, value in table.items():
        if not isinstance(value, str) or not value or len(value) > _MAX_ID:
            raise ConfigError(f"{where}: {key!r} must map to an id (1-128 characters)")
    return dict(table)


# -- reading payloads --------------------------------------------------------------------------

_MISSING: Final = object()


def at(payload: Any, path: str) -> Any:
    """The value at a dotted ``path`` (``detail.organization_id``; digits index lists), or
    ``None`` if any step is absent."""
    value = payload
    for step in path.split("."):
        if isinstance(value, dict):
            value = value.get(step, _MISSING)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
        if value is _MISSING:
            return None
    return value


def id_text(value: Any, path: str) -> str:
    """An identifier (a string or an integer, as vendors send both) as text. Raises
    :class:`MappingError` naming ``path`` when it is missing, empty or not an id."""
    if value is None or value == "":
        raise MappingError(path, "missing")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MappingError(path, f"must be an id (a string or an integer), not {value!r}")
    text = str(value)
    if len(text) > _MAX_ID:
        raise MappingError(path, f"longer than {_MAX_ID} characters")
    return text


def parse_time(value: Any, path: str, *, naive_is_utc: bool = False) -> dt.datetime:
    """An RFC 3339 time (any fraction digits; ``+HHMM`` offsets as Jira writes them) or epoch
    milliseconds, in UTC. Without an offset it is refused unless ``naive_is_utc`` (Gorgias
    writes UTC times without one); so is a time out of :data:`~sentinelle.timeutil.TIME_RANGE`.
    Raises :class:`MappingError` naming ``path``."""
    if value is None or value == "":
        raise MappingError(path, "missing")
    if isinstance(value, int) and not isinstance(value, bool):
        if not MIN_US <= value * 1000 < MAX_US:
            raise MappingError(path, f"{value} is out of range: a time must be {TIME_RANGE}")
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    if not isinstance(value, str):
        raise MappingError(path, f"must be an RFC 3339 time, not {value!r}")
    text = value.strip()
    head, dot, rest = text.partition(".")
    if dot:  # Python takes at most 6 fraction digits: Zendesk sends 9
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + rest[: min(digits, 6)] + rest[digits:]
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise MappingError(path, f"not an RFC 3339 time: {value!r}") from None
    if parsed.tzinfo is None:
        if not naive_is_utc:
            raise MappingError(path, f"has no UTC offset: {value!r}")
        parsed = parsed.replace(tzinfo=dt.UTC)
    if not MIN_US <= to_us(parsed) < MAX_US:  # before astimezone, which would overflow
        raise MappingError(path, f"{value!r} is out of range: a time must be {TIME_RANGE}")
    return parsed.astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class Ticket:
    """One vendor's ticket, in one merchant: what each of its events names."""

    vendor: str
    ticket: str
    merchant: str

    def event(
        self,
        key: str,
        kind: TicketType,
        time: dt.datetime,
        actor: str | None = None,
        *,
        by: str | None = None,
    ) -> ContextEvent:
        """A context event whose id is derived from the vendor's own ``key`` (an event or
        delivery id), so a redelivered webhook yields the same id and is stored once. An id
        longer than the schema allows is shortened to a SHA-256 prefix of ``key``. ``by``:
        the staff member who opened it, where known."""
        suffix = kind.removeprefix("ticket.")
        eid = f"{self.vendor}:{key}:{suffix}"
        if len(eid) > _MAX_ID:
            eid = f"{self.vendor}:{hashlib.sha256(key.encode()).hexdigest()[:64]}:{suffix}"
        return ContextEvent(
            id=eid,
            time=time,
            type=kind,
            ticket=self.ticket,
            merchant=self.merchant,
            actor=UNSET if actor is None else actor,
            by=UNSET if by is None else by,
        )


def state_events(
    ticket: Ticket,
    *,
    closed: bool,
    agent: str | None,
    opened_at: dt.datetime | None,
    changed_at: dt.datetime | None,
    received: dt.datetime,
    config: VendorMapping,
    history: Sequence[ContextEvent] = (),
) -> list[ContextEvent]:
    """Events from a ticket's current state, for vendors that send the state, not the change
    (Freshdesk, Gorgias), compared with what is stored of the ticket (``history``, its
    ``ticket.*`` events in time order; its *stored state* is that of its latest opening or
    closing). Each id is a function of the state and of the stored events it follows, so a
    redelivery stores nothing new:

    - opened once per ticket (``<ticket>:opened``), at ``opened_at``;
    - assigned once per assignee (``<ticket>:<agent>:assigned``), at ``changed_at``;
    - closed once per closing: a closed state whose stored state is open adds the closing of
      the opening it closes (``<ticket>:<h>:closed``, ``h`` the first 16 hex digits of the
      SHA-256 of that opening's id); one already closed adds that closing again (a duplicate);
    - reopened once per closing: an open state whose stored state is closed adds a
      ``ticket.opened`` (``<ticket>:<h>:opened``, ``h`` of that closing's id), as a reopening
      of Zendesk or Jira is one.

    A closing or reopening is at ``changed_at``, and at least a microsecond after the stored
    event it follows (the guard and detection read a ticket in time order); a state dated
    before that event is an older one delivered late, and changes nothing. A time the vendor
    does not give (``None``) is when the webhook was ``received``, unless the event is stored
    already: then its stored time, so that a redelivery is the same event, a duplicate, not
    a conflict."""
    tid = ticket.ticket
    stored = {event.id: event.time for event in history}

    def event(
        key: str,
        kind: TicketType,
        at: dt.datetime | None,
        actor: str | None = None,
        after: dt.datetime | None = None,
    ) -> ContextEvent:
        made = ticket.event(key, kind, received if at is None else at, actor)
        if at is None and made.id in stored:
            return replace(made, time=stored[made.id])
        if after is not None and made.time <= after:
            return replace(made, time=after + _MICROSECOND)
        return made

    opened = event(tid, "ticket.opened", opened_at)
    found = [opened]
    if agent is not None:
        found.append(event(f"{tid}:{agent}", "ticket.assigned", changed_at, config.actor(agent)))
    latest = next((e for e in reversed(history) if e.type in _STATES), None)
    if latest is not None and changed_at is not None and changed_at < latest.time:
        return found  # an older state, delivered after a newer one was stored
    if closed:
        if latest is not None and latest.type == "ticket.closed":
            found.append(latest)  # closed already: the same closing, a duplicate
        else:
            opening = latest or opened
            key = f"{tid}:{_digest(opening.id)}"
            found.append(event(key, "ticket.closed", changed_at, after=opening.time))
    elif latest is not None and latest.type == "ticket.closed":
        key = f"{tid}:{_digest(latest.id)}"
        found.append(event(key, "ticket.opened", changed_at, after=latest.time))
    return found


def _digest(event_id: str) -> str:
    return hashlib.sha256(event_id.encode()).hexdigest()[:16]


def per_record(
    records: Iterable[Any], key: str, events_of: Callable[[dict[str, Any]], Iterable[ContextEvent]]
) -> Iterator[ContextEvent]:
    """The events of each record of an export file (``events_of(record)``). A record that is
    not an object, or cannot be mapped, raises :class:`MappingError` naming it by position in
    the page's list ``key`` (``tickets[3]``) and, for the latter, the field as mapped."""
    for n, record in enumerate(records):
        if not isinstance(record, dict):
            raise MappingError(f"{key}[{n}]", "must be a JSON object")
        try:
            yield from events_of(record)
        except MappingError as exc:
            raise MappingError(f"{key}[{n}] (as {exc.path})", exc.message) from None


# -- checking signatures -----------------------------------------------------------------------


def require_header(headers: Mapping[str, str], name: str) -> str:
    """The header ``name`` (``headers`` keyed in lower case). Raises :class:`SignatureError`."""
    value = headers.get(name.lower(), "").strip()
    if not value:
        raise SignatureError(f"missing {name} header")
    return value


def verify_shared_secret(headers: Mapping[str, str], secret: str) -> None:
    """For vendors that sign nothing (Freshdesk, Gorgias): the secret configured on both sides
    must come in :data:`SECRET_HEADER`, compared in constant time. Raises
    :class:`SignatureError`."""
    given = require_header(headers, SECRET_HEADER)
    if not constant_time_equal(given, secret):
        raise SignatureError(f"{SECRET_HEADER} does not match the configured secret")


def hmac_sha256(secret: str, message: bytes) -> bytes:
    """HMAC-SHA256 of ``message`` keyed with ``secret`` (UTF-8)."""
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def constant_time_equal(given: str | bytes, expected: str | bytes) -> bool:
    """Whether two values are equal, in time that does not depend on where they differ."""
    a = given.encode() if isinstance(given, str) else given
    b = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)
