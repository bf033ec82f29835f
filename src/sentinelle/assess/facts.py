"""Incident facts: the typed form of ``incident-facts.schema.json`` (the assessment's input).

The structs mirror the JSON Schema exactly, like :mod:`sentinelle.events.model`: unknown
fields are refused, enums are closed, optional members may be absent but not ``null``.
Checks the schema states that msgspec cannot (``uniqueItems``, a UTC offset on every
``date-time``) are made in :func:`parse_facts`. Every refusal names the JSON path of the
field at fault, e.g. ``$.cause.intent``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from sentinelle.errors import Problem, ValidationError
from sentinelle.timeutil import MAX_US, MIN_US, TIME_RANGE, to_us

__all__ = [
    "Availability",
    "Cause",
    "Controller",
    "Encryption",
    "Facts",
    "Notified",
    "Period",
    "Subjects",
    "facts_to_dict",
    "parse_facts",
]

BreachType = Literal["confidentiality", "integrity", "availability"]
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
NonNegInt = Annotated[int, Meta(ge=0)]


# Every struct: exactly the schema (unknown fields refused, absent members stay absent).


class Period(Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, frozen=True):
    """When the breach happened, as far as known."""

    start: dt.datetime | UnsetType = UNSET
    end: dt.datetime | UnsetType = UNSET


class Cause(Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, frozen=True):
    """Who or what caused the breach."""

    source: Literal["internal", "external", "processor", "unknown"] | UnsetType = UNSET
    intent: Literal["malicious", "accidental", "unknown"] | UnsetType = UNSET
    kind: (
        Literal[
            "insider_abuse",
            "ransomware",
            "hacking",
            "credential_stuffing",
            "social_engineering",
            "lost_or_stolen_device",
            "misdelivery",
            "misconfiguration",
            "physical_theft",
            "other",
        ]
        | UnsetType
    ) = UNSET


class Controller(Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, frozen=True):
    """The controller: its sector matters to the risk (a pharmacy's customer list)."""

    name: str | UnsetType = UNSET
    sector: str | UnsetType = UNSET
    dpo_contact: str | UnsetType = UNSET


class Subjects(Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, frozen=True):
    """The people concerned."""

    count: NonNegInt | UnsetType = UNSET
    approximate: bool | UnsetType = UNSET
    vulnerable: bool | UnsetType = UNSET
    public_figures: bool | UnsetType = UNSET


class Encryption(Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, frozen=True):
    """Protection of the breached data at the time of the breach."""

    state: Literal["none", "weak", "state_of_the_art"] | UnsetType = UNSET
    key_compromised: bool | UnsetType = UNSET
    hashed_salted: bool | UnsetType = UNSET


class Availability(
    Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, frozen=True
):
    """What the loss of availability meant."""

    backup: bool | UnsetType = UNSET
    restored_within_hours: Annotated[float, Meta(ge=0)] | UnsetType = UNSET
    permanent_loss: bool | UnsetType = UNSET
    impact_on_subjects: Literal["none", "minor", "significant"] | UnsetType = UNSET


class Notified(Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, frozen=True):
    """When notifications were actually made."""

    authority_at: dt.datetime | UnsetType = UNSET
    subjects_at: dt.datetime | UnsetType = UNSET


class Facts(Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True, frozen=True):
    """What the privacy team knows about one personal-data breach."""

    aware_at: dt.datetime
    breach_types: Annotated[list[BreachType], Meta(min_length=1)]
    data_categories: Annotated[list[DataCategory], Meta(min_length=1)]
    title: Annotated[str, Meta(max_length=300)] | UnsetType = UNSET
    summary: Annotated[str, Meta(max_length=5000)] | UnsetType = UNSET
    period: Period | UnsetType = UNSET
    cause: Cause | UnsetType = UNSET
    controller: Controller | UnsetType = UNSET
    credentials_for: Literal["low_value", "financial", "sensitive"] | UnsetType = UNSET
    subjects: Subjects | UnsetType = UNSET
    records: NonNegInt | UnsetType = UNSET
    identifiability: Literal["negligible", "limited", "significant", "maximum"] | UnsetType = UNSET
    data_public_before: bool | UnsetType = UNSET
    encryption: Encryption | UnsetType = UNSET
    exfiltration: Literal["confirmed", "possible", "ruled_out"] | UnsetType = UNSET
    recipients: Literal["none", "trusted", "known", "unknown", "public"] | UnsetType = UNSET
    data_recovered: bool | UnsetType = UNSET
    integrity: Literal["intact", "altered_recoverable", "altered_not_recoverable"] | UnsetType = (
        UNSET
    )
    availability: Availability | UnsetType = UNSET
    mitigations: list[Annotated[str, Meta(max_length=500)]] | UnsetType = UNSET
    subjects_contactable: bool | UnsetType = UNSET
    jurisdictions: list[str] | UnsetType = UNSET
    notified: Notified | UnsetType = UNSET


_UNIQUE = ("breach_types", "data_categories")
_TIMES = (
    ("$.aware_at", ("aware_at",)),
    ("$.period.start", ("period", "start")),
    ("$.period.end", ("period", "end")),
    ("$.notified.authority_at", ("notified", "authority_at")),
    ("$.notified.subjects_at", ("notified", "subjects_at")),
)


def parse_facts(raw: bytes | str | dict[str, Any] | Facts) -> Facts:
    """Validate incident facts (JSON text or an already-decoded object) and return them.

    Date-times are normalised to UTC; one outside :data:`~sentinelle.timeutil.TIME_RANGE`
    (where a deadline from it is still a date) is refused.

    Raises :class:`~sentinelle.errors.ValidationError` with one
    :class:`~sentinelle.errors.Problem` (location 0) naming the JSON path at fault.
    """
    if isinstance(raw, Facts):
        return raw
    try:
        if isinstance(raw, dict):
            facts = msgspec.convert(raw, Facts)
        else:
            facts = msgspec.json.decode(raw, type=Facts)
    except msgspec.ValidationError as exc:
        raise _refuse(*_split(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise _refuse("$", f"not valid JSON ({_split(str(exc))[1]})") from None
    for name in _UNIQUE:
        seen: set[str] = set()
        for i, item in enumerate(getattr(facts, name)):
            if item in seen:
                raise _refuse(f"$.{name}[{i}]", f"duplicate item {item!r} (items must be unique)")
            seen.add(item)
    changes: dict[str, Any] = {}
    for path, (first, *rest) in _TIMES:
        holder: Any = getattr(facts, first)
        value = getattr(holder, rest[0]) if rest and holder is not UNSET else holder
        if value is UNSET:
            continue
        if value.tzinfo is None:
            raise _refuse(
                path, "time has no UTC offset; RFC 3339 needs one, e.g. 2026-02-02T09:00Z"
            )
        if not MIN_US <= to_us(value) < MAX_US:  # so a deadline from it is a date too
            raise _refuse(path, f"out of range: a time must be {TIME_RANGE}")
        utc = value.astimezone(dt.UTC)
        if rest:
            holder = changes.get(first, holder)
            changes[first] = msgspec.structs.replace(holder, **{rest[0]: utc})
        else:
            changes[first] = utc
    return msgspec.structs.replace(facts, **changes) if changes else facts


def facts_to_dict(facts: Facts) -> dict[str, Any]:
    """JSON form of the facts (absent members left out); :func:`parse_facts` reads it back."""
    out: dict[str, Any] = msgspec.to_builtins(facts)
    return out


def _split(message: str) -> tuple[str, str]:
    text, sep, path = message.rpartition(" - at `")
    if not sep:
        return "$", message
    return path.rstrip("`"), text


def _refuse(path: str, message: str) -> ValidationError:
    return ValidationError([Problem(location=0, path=path, message=message)], unit="facts")
