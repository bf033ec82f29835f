"""Access and context events: the typed contract, parsing, validation and canonical bytes."""

from __future__ import annotations

from sentinelle.events.model import (
    ACCESS_ACTIONS,
    CHANNELS,
    CONTEXT_TYPES,
    DATA_CATEGORIES,
    AccessEvent,
    Actor,
    ContextEvent,
    Event,
    Justification,
    Resource,
    Source,
)
from sentinelle.events.parse import EventError, canonical, decode_canonical, decode_event, time_us

__all__ = [
    "ACCESS_ACTIONS",
    "CHANNELS",
    "CONTEXT_TYPES",
    "DATA_CATEGORIES",
    "AccessEvent",
    "Actor",
    "ContextEvent",
    "Event",
    "EventError",
    "Justification",
    "Resource",
    "Source",
    "canonical",
    "decode_canonical",
    "decode_event",
    "time_us",
]
