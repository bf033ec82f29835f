"""Parse, validate and normalise events; produce their canonical (RFC 8785) bytes.

An event is valid when it matches its JSON Schema exactly (see :mod:`.model`), its times
carry a UTC offset, as RFC 3339 requires, no object repeats a key (JSON decoders would keep
the last silently, and two readers of the same bytes could see different events), no string
holds a NUL character (``\\u0000``: PostgreSQL cannot store it) and nothing is nested deeper
than an event can be. Normalisation converts every time to UTC (``…Z``, microsecond
precision: finer fractions are rounded by the decoder).

The extra checks stay off the hot path: a repeated key is dropped from the decoded event, so
the canonical bytes then hold fewer ``"`` than the input (only a ``\\u0022`` escape, written
``\\"`` in canonical form, could make up for it); only such lines, and lines with
``\\u0000`` or ``\\u0022`` in them, are decoded a second time to name the key or string at
fault.

The canonical form of an event is the RFC 8785 JSON Canonicalization Scheme (JCS) text of
the normalised event: keys sorted, no whitespace, JCS string escaping. Because the structs
declare their fields in sorted order, contain only strings, integers within ±(2**53-1), arrays
and objects, msgspec's encoder already produces JCS for them; a property test checks this
against an independent implementation (the ``rfc8785`` package).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from sentinelle.errors import Error
from sentinelle.events.model import AccessEvent, ContextEvent, Event
from sentinelle.timeutil import EPOCH

__all__ = [
    "EventError",
    "canonical",
    "check_repeated_keys",
    "decode_canonical",
    "decode_event",
    "json_problem",
    "time_us",
]

_access: Final = msgspec.json.Decoder(AccessEvent)
_context: Final = msgspec.json.Decoder(ContextEvent)
_generic: Final = msgspec.json.Decoder()
_ACTION_KEY: Final = b'"action"'
_QUOTE: Final = b'"'
_BACKSLASH: Final = b"\\"  # one byte: a fast search, and most lines have none
_NUL_ESCAPE: Final = b"\\u0000"
_QUOTE_ESCAPE: Final = b"\\u0022"
_MAX_DEPTH: Final = 32  # the slow path's own guard; events are 3 levels deep
_encode: Final = msgspec.json.Encoder().encode

_UTC: Final = dt.UTC
_MICROSECOND: Final = dt.timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class EventError(Error):
    """One event is invalid: ``path`` is the JSON path of the bad field (``$`` for the whole)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def decode_event(raw: bytes | str) -> Event:
    """Decode one JSON event, validate it against its schema and normalise its times to UTC.

    Access events are told from context events by ``action`` versus ``type``.

    Raises :class:`EventError` naming the field at fault.
    """
    return decode_canonical(raw)[0]


def decode_canonical(raw: bytes | str) -> tuple[Event, bytes]:
    """:func:`decode_event` and the event's canonical bytes (computed once, as ingest needs)."""
    if isinstance(raw, str):
        raw = raw.encode()
    try:
        # Most lines say which kind they are; the rare ambiguous ones are sorted out below.
        event: Event = (_access if _ACTION_KEY in raw else _context).decode(raw)
    except msgspec.ValidationError:
        event = _decode_other(raw)
    except msgspec.DecodeError as exc:
        raise EventError("$", json_problem(raw, exc)) from None
    except UnicodeDecodeError as exc:
        raise EventError("$", f"not valid UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise _too_deep() from None
    event = _normalise(event)
    body = _encode(event)
    if raw.count(_QUOTE) != body.count(_QUOTE) or (
        _BACKSLASH in raw and (_NUL_ESCAPE in raw or _QUOTE_ESCAPE in raw)
    ):
        _check_keys_and_strings(raw)
    return event, body


# A \u escape of a UTF-16 surrogate that is not one of a pair (JSON text that names no
# character, which msgspec refuses as "Input data was truncated"): a high one not followed by
# a low one, or a low one not after a high one; each \u preceded by an even run of backslashes.
_LONE_SURROGATE: Final = re.compile(
    rb"(?<!\\)(?:\\\\)*\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})(?<!\\)(?:\\\\)*\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def json_problem(raw: bytes, exc: msgspec.DecodeError) -> str:
    """Why ``raw`` is not JSON, from msgspec's ``exc``: said plainly where msgspec misleads."""
    lone = _LONE_SURROGATE.search(raw)
    if lone is not None:
        escape = lone.group().lstrip(b"\\").decode()
        return (
            f"not valid JSON (byte {lone.end() - 6}: \\{escape} is half of a UTF-16 surrogate "
            "pair, not a character)"
        )
    return f"not valid JSON ({_strip_path(str(exc))[1]})"


def canonical(event: Event) -> bytes:
    """The RFC 8785 canonical JSON bytes of a normalised event: the ledger leaf."""
    return _encode(event)


def time_us(event: Event) -> int:
    """The event time as integer microseconds since the Unix epoch (UTC)."""
    return (event.time - EPOCH) // _MICROSECOND  # timeutil.to_us, inlined: a hot path


def _decode_other(raw: bytes) -> Event:
    # The first guess failed. Decide by the top-level keys which schema the sender meant
    # (context events have "type" and no "action") and report against that one.
    try:
        obj = _generic.decode(raw)
    except RecursionError:
        raise _too_deep() from None
    except msgspec.DecodeError as exc:
        # The typed decoder can refuse a field before it reaches the broken JSON after it.
        raise EventError("$", json_problem(raw, exc)) from None
    meant = _context if isinstance(obj, dict) and "type" in obj and "action" not in obj else _access
    try:
        return meant.decode(raw)
    except msgspec.ValidationError as exc:
        if isinstance(obj, dict):
            _check_keys_and_strings(raw)  # a repeated key can explain a schema error: say so
        raise _event_error(exc) from None


def _normalise(event: Event) -> Event:
    if type(event) is AccessEvent and event.time.tzinfo is _UTC:
        return event  # the common case, kept fast
    changes: dict[str, dt.datetime] = {}
    for name in ("time", "expires"):
        value = getattr(event, name, msgspec.UNSET)
        if value is msgspec.UNSET:
            continue
        if value.tzinfo is None:
            raise EventError(
                f"$.{name}", "time has no UTC offset; RFC 3339 needs one, e.g. 2026-11-23T10:00:00Z"
            )
        if value.tzinfo is not _UTC:
            try:
                changes[name] = value.astimezone(_UTC)
            except OverflowError:  # 9999-12-31T23:00:00-02:00 is in no year of a date
                raise EventError(
                    f"$.{name}", "out of range: in UTC, this time falls outside the years 1-9999"
                ) from None
    return msgspec.structs.replace(event, **changes) if changes else event


def _strip_path(message: str) -> tuple[str, str]:
    text, sep, path = message.rpartition(" - at `")
    if not sep:
        return "$", message
    return path.rstrip("`"), text


def _event_error(exc: msgspec.ValidationError) -> EventError:
    path, message = _strip_path(str(exc))
    if path.endswith(".country") and "regex" in message:
        # The schema's ECMA-262 '$' is Python's '\\Z': show the schema's form to users.
        message = "Expected a country code such as FR (pattern ^[A-Z]{2}$, ISO 3166-1 alpha-2)"
    return EventError(path, message)


def _too_deep() -> EventError:
    return EventError("$", "nested too deeply (an event is at most 3 levels deep)")


class _Object(dict[str, Any]):
    """A decoded JSON object that remembers the first key it saw twice."""

    __slots__ = ("repeated",)
    repeated: str | None


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    obj.repeated = None
    for key, value in pairs:
        if key in obj and obj.repeated is None:
            obj.repeated = key
        obj[key] = value
    return obj


def _check_keys_and_strings(raw: bytes) -> None:
    """Raise :class:`EventError` at the first repeated key, NUL character or deep nesting.

    The slow path: only lines that may hold one of them come here.
    """
    try:
        doc = json.loads(raw, object_pairs_hook=_pairs)
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        return  # not JSON at all: the schema decoder's message says it better
    _walk(doc, "$", 0)


def check_repeated_keys(raw: bytes | str) -> None:
    """Raise :class:`EventError` at the first key that one object of the JSON text ``raw``
    holds twice, named as ingest names it (``$.actor``: duplicate key "actor" …). Only keys:
    no NUL or depth check. JSON it cannot read raises nothing (the caller's decoder says
    better). The slow path of other JSON bodies that must not repeat a key (the guard's
    requests), kept off their hot path as ingest keeps it."""
    try:
        doc = json.loads(raw, object_pairs_hook=_pairs)
    except (RecursionError, ValueError):
        return
    _walk(doc, "$", 0, keys_only=True)


def _repeated_error(path: str, key: str) -> EventError:
    return EventError(
        _member(path, key), f"duplicate key {json.dumps(key)} in one object (each key once)"
    )


def _walk(node: object, path: str, depth: int, *, keys_only: bool = False) -> None:
    """Raise :class:`EventError` at the first repeated key, NUL character or level too deep
    of a decoded document; ``keys_only``: repeated keys only (deeper levels are not read)."""
    if depth > _MAX_DEPTH:
        if keys_only:
            return
        raise _too_deep()
    if isinstance(node, str):
        if "\x00" in node and not keys_only:
            raise EventError(path, "contains a NUL character (\\u0000), which cannot be stored")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _walk(item, f"{path}[{i}]", depth + 1, keys_only=keys_only)
    elif isinstance(node, _Object):
        if node.repeated is not None:
            raise _repeated_error(path, node.repeated)
        for key, value in node.items():
            if "\x00" in key and not keys_only:
                raise EventError(path, "a key contains a NUL character (\\u0000)")
            _walk(value, _member(path, key), depth + 1, keys_only=keys_only)


def _member(path: str, key: str) -> str:
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key)}]"
