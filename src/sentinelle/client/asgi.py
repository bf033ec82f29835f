"""Guard a FastAPI or Starlette handler that returns customer data.

``Guard`` knows how to ask (an :class:`~sentinelle.client.guard.AsyncGuardClient`), how to
read the actor, merchant and ticket of a request, and which fields of the answers hold each
data category. ``@guard.shows(action=…, data=[…])`` on a FastAPI handler then:

1. asks ``decide`` **before** the handler runs (the handler's body never runs otherwise);
2. on ``deny`` answers **403**, on ``pending`` **409** (the request conflicts with the
   current state: no approved grant yet; the same request succeeds once one is approved), and
   when Sentinelle cannot be reached and the action fails closed **503** — each with
   ``{"detail": {"decision", "reasons", "approvers", "event"}}``;
3. on ``allow`` runs the handler and applies the mask to its result: every field (at any
   depth) of a masked category is **replaced by** ``"[masked]"`` (not removed, so a page
   keeps its shape and shows that something is hidden); a result that is a list may not hold
   more records than were decided (``count`` or ``subjects``);
4. answers the masked result as JSON with the headers ``Sentinelle-Event`` (the decision's
   access event: the ledger's record of this access), ``Sentinelle-Decision`` and
   ``Sentinelle-Mask`` (the masked categories), and ``Sentinelle-Unreachable: fail-open``
   when it was served because Sentinelle could not be reached.

The access is recorded by the decision itself (an access event, outcome ``allowed``); a
request served open while Sentinelle was unreachable is recorded by the event the client
queued, sent when Sentinelle is back. A Starlette handler calls :meth:`Guard.check` and
:meth:`Access.response` itself.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import msgspec

from sentinelle.client.errors import GuardRequestError
from sentinelle.client.guard import AsyncGuardClient
from sentinelle.client.model import Decision
from sentinelle.errors import ConfigError
from sentinelle.events.model import DATA_CATEGORIES

try:
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ConfigError(
        f"sentinelle.client.asgi needs Starlette: pip install fastapi ({exc})"
    ) from None

__all__ = [
    "MASKED",
    "Access",
    "Extract",
    "Guard",
    "header",
    "path_param",
    "query_int",
    "query_param",
]

#: What a masked field shows instead of its value.
MASKED: Final = "[masked]"
_STATUS: Final = {"deny": 403, "pending": 409}
_PARAM: Final = "_sentinelle_request"

T = TypeVar("T")
#: Reads one value of the request (``None``: absent).
Extract = Callable[[Request], T | None]
Handler = TypeVar("Handler", bound=Callable[..., Any])


def path_param(name: str) -> Extract[str]:
    """The path parameter ``name`` (``/merchants/{merchant}/…``)."""
    return lambda request: request.path_params.get(name)


def query_param(name: str) -> Extract[str]:
    """The query parameter ``name`` (``?ticket=T-42``)."""
    return lambda request: request.query_params.get(name) or None


def header(name: str) -> Extract[str]:
    """The request header ``name``."""
    return lambda request: request.headers.get(name) or None


def query_int(name: str, default: int) -> Extract[int]:
    """The whole number in the query parameter ``name``, ``default`` without one (a 422
    when it is not a whole number)."""

    def read(request: Request) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise HTTPException(422, f'{name}: "{raw[:40]}" is not a whole number') from None

    return read


@dataclass(frozen=True, slots=True)
class Access:
    """The decision for one request and what follows from it: the fields to mask and the
    most records the answer may hold (``None``: not counted)."""

    decision: Decision
    fields: frozenset[str]
    records: int | None
    marker: Any = MASKED

    def apply(self, result: Any) -> Any:
        """``result`` as JSON values, with every masked field replaced by the marker.

        Raises :class:`ConfigError` when a list holds more records than were decided.
        """
        plain = msgspec.to_builtins(result, enc_hook=_model_dump)
        if self.records is not None and isinstance(plain, list) and len(plain) > self.records:
            raise ConfigError(
                f"the handler returned {len(plain)} records, more than the {self.records} "
                "decided: nothing is served"
            )
        return _mask(plain, self.fields, self.marker) if self.fields else plain

    def headers(self) -> dict[str, str]:
        """The decision's headers (its event, verdict, masked categories)."""
        found = {
            "Sentinelle-Decision": self.decision.decision,
            "Sentinelle-Mask": ",".join(self.decision.mask),
        }
        if self.decision.event:
            found["Sentinelle-Event"] = self.decision.event
        if self.decision.unreachable:
            found["Sentinelle-Unreachable"] = "fail-open"
        return found

    def response(self, result: Any, status_code: int = 200) -> JSONResponse:
        """``result``, masked, as a JSON answer with the decision's headers."""
        return JSONResponse(self.apply(result), status_code, headers=self.headers())


class Guard:
    """How an application asks Sentinelle: its client, how to read a request, and which
    fields hold each data category (``{"contact": ["name", "email", "phone"], …}``).

    ``actor`` (required), ``team``, ``role``, ``merchant`` (default: the path parameter
    ``merchant``), ``ticket`` (default: the query parameter ``ticket``), ``break_glass`` and
    ``purpose`` read the request. An application takes the actor from its own session, never
    from what the browser says (the example console reads headers set by its login proxy).
    """

    def __init__(
        self,
        client: AsyncGuardClient,
        *,
        fields: Mapping[str, Sequence[str]],
        actor: Extract[str],
        team: Extract[str] | None = None,
        role: Extract[str] | None = None,
        merchant: Extract[str] | None = None,
        ticket: Extract[str] | None = None,
        purpose: Extract[str] | None = None,
        break_glass: Extract[str] | None = None,
        channel: str = "support_console",
        marker: Any = MASKED,
    ) -> None:
        unknown = sorted(set(fields) - set(DATA_CATEGORIES))
        if unknown:
            raise ConfigError(f"fields: {', '.join(unknown)}: not data categories")
        self.client = client
        self.fields = {category: frozenset(names) for category, names in fields.items()}
        self.marker = marker
        self.channel = channel
        self._actor = actor
        self._team = team
        self._role = role
        self._merchant = merchant or path_param("merchant")
        self._ticket = ticket or query_param("ticket")
        self._purpose = purpose
        self._break_glass = break_glass

    async def check(
        self,
        request: Request,
        *,
        action: str,
        data: Sequence[str],
        subjects: Extract[Sequence[str]] | None = None,
        count: Extract[int] | None = None,
        channel: str | None = None,
    ) -> Access:
        """Decide ``request``: the :class:`Access` to serve it with, or an
        :class:`~starlette.exceptions.HTTPException` (401 without an actor, 400 without a
        merchant, 403 deny, 409 pending, 503 fail closed)."""
        actor = self._actor(request)
        if not actor:
            raise HTTPException(401, "no staff actor on this request")
        merchant = self._merchant(request)
        if not merchant:
            raise HTTPException(400, "no merchant on this request")
        shown = subjects(request) if subjects is not None else None
        records = count(request) if count is not None else None
        try:
            decision = await self.client.decide(
                actor=actor,
                merchant=merchant,
                action=action,
                data=data,
                channel=channel or self.channel,
                team=_read(self._team, request),
                role=_read(self._role, request),
                ticket=self._ticket(request),
                purpose=_read(self._purpose, request),
                break_glass=_read(self._break_glass, request),
                subjects=shown,
                count=records,
            )
        except GuardRequestError as exc:
            # The request is wrong (a bad limit or ticket: 422), or Sentinelle refused the
            # application itself (a key or configuration problem: 502, nothing served).
            wrong = exc.status in (None, 422)
            raise HTTPException(422 if wrong else 502, exc.diagnostics()) from None
        if not decision.allowed:
            status = 503 if decision.unreachable else _STATUS[decision.decision]
            detail = {
                "decision": decision.decision,
                "reasons": list(decision.reasons),
                "approvers": list(decision.approvers),
                "event": decision.event,
            }
            headers: dict[str, str] = {"Sentinelle-Decision": decision.decision}
            if decision.event:
                headers["Sentinelle-Event"] = decision.event
            raise HTTPException(status, detail, headers=headers)  # type: ignore[arg-type]
        hidden = frozenset().union(*(self.fields.get(c, ()) for c in decision.mask))
        limit = len(shown) if shown is not None else records
        return Access(decision, hidden, limit, self.marker)

    def shows(
        self,
        *,
        action: str,
        data: Sequence[str],
        subjects: Extract[Sequence[str]] | None = None,
        count: Extract[int] | None = None,
        channel: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Decorate a FastAPI handler that shows ``data`` (categories) by ``action``; see the
        module docstring. ``subjects`` or ``count`` read how many customers it shows (a
        list's limit); neither means one.

        Raises :class:`ConfigError` when a category of ``data`` has no fields: what cannot be
        found cannot be masked.
        """
        missing = [c for c in data if c not in self.fields]
        if missing:
            raise ConfigError(
                f"data: no fields are known for {', '.join(missing)}: add them to the "
                "Guard's fields so they can be masked"
            )
        categories = tuple(data)

        def wrap(endpoint: Handler) -> Handler:
            signature = _typed_signature(endpoint)
            is_async = inspect.iscoroutinefunction(endpoint)

            @functools.wraps(endpoint)
            async def guarded(*args: Any, **kwargs: Any) -> JSONResponse:
                request: Request = kwargs.pop(_PARAM)
                access = await self.check(
                    request,
                    action=action,
                    data=categories,
                    subjects=subjects,
                    count=count,
                    channel=channel,
                )
                if is_async:
                    result = await typing.cast(Callable[..., Awaitable[Any]], endpoint)(
                        *args, **kwargs
                    )
                else:
                    result = await run_in_threadpool(endpoint, *args, **kwargs)
                return access.response(result)

            extra = inspect.Parameter(_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=Request)
            params = [*signature.parameters.values(), extra]
            guarded.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
            return typing.cast(Handler, guarded)

        return wrap


def _read(extract: Extract[str] | None, request: Request) -> str | None:
    return extract(request) if extract is not None else None


def _typed_signature(endpoint: Callable[..., Any]) -> inspect.Signature:
    """The handler's signature with its annotations resolved (``from __future__ import
    annotations`` leaves strings FastAPI would resolve in the wrapper's module)."""
    hints = typing.get_type_hints(endpoint, include_extras=True)
    signature = inspect.signature(endpoint)
    params = [
        p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
    ]
    return signature.replace(
        parameters=params, return_annotation=hints.get("return", signature.return_annotation)
    )


def _mask(value: Any, fields: frozenset[str], marker: Any) -> Any:
    if isinstance(value, dict):
        return {k: marker if k in fields else _mask(v, fields, marker) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, fields, marker) for v in value]
    return value


def _model_dump(value: Any) -> Any:
    """Pydantic models (FastAPI's) as their JSON form; anything else msgspec cannot encode is
    refused (a ``TypeError`` naming the type)."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"cannot serve a {type(value).__name__}: return JSON-like data")
