"""The client kit: ask Sentinelle before showing customer data, and report accesses.

Start with :class:`GuardClient` (blocking) or :class:`AsyncGuardClient` (asyncio):
``decide(…)`` before serving, ``record(…)`` for events Sentinelle should hold. For FastAPI and
Starlette, :mod:`sentinelle.client.asgi` wraps a handler: decide before it runs, refuse or
mask its result, and name the decision's event in the answer. ``docs/guard-client.md`` shows
the kit, and the same flow over plain HTTP for other languages.

Needs httpx (``pip install 'sentinelle[client]'``); :mod:`.asgi` needs Starlette (FastAPI's
``[api]`` extra) too.
"""

from __future__ import annotations

from sentinelle.client.errors import ClientError, GuardRequestError, RecordError
from sentinelle.client.guard import OPEN_REASON, AsyncGuardClient, DecideFields, GuardClient
from sentinelle.client.model import Decision
from sentinelle.client.modes import DEFAULT_FAIL_MODES, OPEN_MASK, FailModes
from sentinelle.client.recorder import Recorder

__all__ = [
    "DEFAULT_FAIL_MODES",
    "OPEN_MASK",
    "OPEN_REASON",
    "AsyncGuardClient",
    "ClientError",
    "DecideFields",
    "Decision",
    "FailModes",
    "GuardClient",
    "GuardRequestError",
    "RecordError",
    "Recorder",
]
