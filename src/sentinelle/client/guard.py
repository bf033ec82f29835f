"""Ask Sentinelle before serving customer data; report accesses. Over HTTP, with httpx.

:class:`GuardClient` (blocking: Django, Flask, jobs) and :class:`AsyncGuardClient` (asyncio:
FastAPI, Starlette; what :mod:`sentinelle.client.asgi` uses) have the same methods:

* ``decide(actor=…, merchant=…, action=…, data=[…], …)`` asks ``POST /v1/access/decide``
  (``docs/guard.md``) and returns a typed :class:`~sentinelle.client.model.Decision`. It always
  sends a ``request_id`` (made here unless given), so a retry after a lost answer is recorded
  once and answered the same. Connection errors, timeouts, 5xx and 429 are retried with capped
  exponential backoff and jitter (``Retry-After`` is honoured) within ``timeout`` seconds in
  all; a 4xx is never retried: :class:`~sentinelle.client.errors.GuardRequestError` carries
  the server's detail, which names the field.
* When Sentinelle cannot be reached within ``timeout``, the action's fail mode answers
  (:class:`~sentinelle.client.modes.FailModes`): ``closed`` denies, ``open`` allows (hiding
  ``open_mask``); both say ``unreachable`` and queue an access event recording what was done
  (``allowed while Sentinelle was unreachable (fail open)``), sent when Sentinelle is back.
* ``record(event)`` / ``record_access(…)`` queue access or context events for
  ``POST /v1/events`` (:class:`~sentinelle.client.recorder.Recorder`: batched, retried, ids
  made once here, bounded, journaled); ``flush()`` sends now, ``close()`` sends what is left.

``api_key`` needs ``access:decide`` and ``events:write`` (role ``guard`` has both); an
``events_key`` (role ``ingest`` or ``guard``) may send the events instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypedDict, Unpack

import msgspec

from sentinelle import __version__
from sentinelle.client.errors import GuardRequestError, RecordError
from sentinelle.client.model import Decision, decode_decision
from sentinelle.client.modes import FailModes
from sentinelle.client.recorder import Recorder, SendError, _backoff
from sentinelle.errors import ConfigError
from sentinelle.events import AccessEvent, ContextEvent, EventError, decode_canonical
from sentinelle.events.model import Justification, Source
from sentinelle.guard.decide import AccessRequest, RequestError, Verdict, check_request
from sentinelle.guard.decide import Decision as GuardDecision
from sentinelle.guard.recording import access_event
from sentinelle.timeutil import from_us, now_us

try:
    import httpx
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ConfigError(
        f"the client kit needs httpx: pip install 'sentinelle[client]' ({exc})"
    ) from None

__all__ = [
    "OPEN_REASON",
    "AsyncGuardClient",
    "DecideFields",
    "GuardClient",
]

_logger = logging.getLogger(__name__)

#: The reason of the access event of a request served while Sentinelle was unreachable.
OPEN_REASON: Final = "allowed while Sentinelle was unreachable (fail open)"
_CLOSED_REASON: Final = "refused while Sentinelle was unreachable (fail closed)"
#: Retried, with every 5xx: the request was right, Sentinelle could not take it now.
_RETRY: Final = frozenset({408, 429})
_FIRST_DELAY: Final = 0.05
_MAX_DELAY: Final = 1.0
_encoder: Final = msgspec.json.Encoder()


class DecideFields(TypedDict, total=False):
    """The optional fields of a request (``docs/guard.md``): ``channel`` (default
    ``support_console``), the actor's ``team`` and ``role``, the cited ``ticket``, the
    customers shown (``subjects``) or how many records (``count``; neither: one customer),
    the ``purpose``, the stated emergency (``break_glass``), the ``source`` and the caller's
    ``request_id`` (made here when absent)."""

    channel: str
    team: str | None
    role: str | None
    ticket: str | None
    subjects: Sequence[str] | None
    count: int | None
    purpose: str | None
    break_glass: str | None
    source: Source | Mapping[str, str] | None
    request_id: str | None


class _Call:
    """One request, checked, with its id and body (the same bytes on every retry)."""

    __slots__ = ("body", "request", "request_id")

    def __init__(self, request: AccessRequest, request_id: str) -> None:
        self.request = request
        self.request_id = request_id
        fields = {k: v for k, v in msgspec.to_builtins(request).items() if v is not None}
        self.body = _encoder.encode({**fields, "request_id": request_id})


class _Deadline:
    """The time a decision may take in all, and the delay before each retry."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.failures = 0

    def remaining(self) -> float:
        return max(self.end - time.monotonic(), 0.001)

    def next_delay(self, response: httpx.Response | None) -> float | None:
        """How long to wait before the next attempt; ``None`` when it would end too late."""
        self.failures += 1
        delay = _backoff(self.failures, _FIRST_DELAY, _MAX_DELAY)
        if response is not None:
            delay = max(delay, _retry_after(response))
        if time.monotonic() + delay >= self.end:
            return None
        return delay


class _Base:
    """What both clients share: configuration, requests, answers, fail modes, the recorder."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        events_key: str | None = None,
        timeout: float = 3.0,
        fail_modes: FailModes | Mapping[str, str] | None = None,
        batch_size: int = 100,
        flush_interval: float = 5.0,
        max_queue: int = 10_000,
        journal: Path | str | None = None,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        events_transport: httpx.BaseTransport | None = None,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(f'base_url: "{base_url}" is not an http(s) URL of Sentinelle')
        if not api_key:
            raise ConfigError("api_key: a key of role guard is needed (sentinelle keys create)")
        if timeout <= 0:
            raise ConfigError(f"timeout: must be above 0 seconds, not {timeout}")
        self.base_url = str(url).rstrip("/")
        self.timeout = timeout
        self.fail_modes = (
            fail_modes if isinstance(fail_modes, FailModes) else FailModes.of(fail_modes)
        )
        agent = f"sentinelle-client/{__version__}"
        self._headers = {"Authorization": f"Bearer {api_key}", "User-Agent": agent}
        if events_transport is None and isinstance(transport, httpx.BaseTransport):
            events_transport = transport
        self._events = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {events_key or api_key}", "User-Agent": agent},
            timeout=timeout,
            transport=events_transport,
        )
        self._recorder = Recorder(
            self._post_events,
            batch_size=batch_size,
            interval=flush_interval,
            max_queue=max_queue,
            journal=Path(journal) if journal is not None else None,
        )
        self._open(transport)

    def _open(self, transport: Any) -> None:
        raise NotImplementedError

    # -- recording -----------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Events queued in memory, not yet sent."""
        return self._recorder.pending

    def record(self, event: AccessEvent | ContextEvent | Mapping[str, Any]) -> str:
        """Queue an access or context event (a struct, or its JSON form as a mapping); its id.

        The event is checked against the event schema here (identifiers and categories only,
        never a customer's personal data). Raises :class:`GuardRequestError` naming the field
        of an invalid event, :class:`RecordError` when it cannot be queued.
        """
        try:
            checked, body = decode_canonical(_encoder.encode(event))
        except (EventError, TypeError) as exc:
            raise GuardRequestError(f"event {exc}") from None
        self._recorder.put(body)
        return checked.id

    def record_access(
        self,
        *,
        actor: str,
        merchant: str,
        action: str,
        data: Sequence[str],
        channel: str = "support_console",
        outcome: str = "allowed",
        reason: str | None = None,
        ticket: str | None = None,
        grant: str | None = None,
        subjects: Sequence[str] | None = None,
        count: int | None = None,
        team: str | None = None,
        role: str | None = None,
        source: Source | Mapping[str, str] | None = None,
        event_id: str | None = None,
        at_us: int | None = None,
    ) -> str:
        """Queue an access event of staff ``actor`` (id made here unless given); its id.

        For accesses no decision recorded (a decision is its own access event: do not record
        it again). Raises as :meth:`record`.
        """
        justification = {
            k: v for k, v in (("reason", reason), ("ticket", ticket), ("grant", grant)) if v
        }
        event: dict[str, Any] = {
            "id": event_id or "acc-" + secrets.token_hex(20),
            "time": from_us(at_us if at_us is not None else now_us()),
            "actor": {"id": actor, "kind": "staff"}
            | ({"team": team} if team else {})
            | ({"role": role} if role else {}),
            "merchant": merchant,
            "action": action,
            "data": list(data),
            "channel": channel,
            "outcome": outcome,
        }
        if justification:
            event["justification"] = justification
        if subjects is not None:
            event["subjects"] = list(subjects)
        if count is not None:
            event["resource"] = {"count": count}
        if source is not None:
            event["source"] = source
        return self.record(event)

    def _post_events(self, batch: list[bytes]) -> None:
        """The recorder's sender: one batch to ``POST /v1/events`` (a JSON array)."""
        try:
            response = self._events.post(
                "/v1/events",
                content=b"[" + b",".join(batch) + b"]",
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise SendError(_describe(exc, self.timeout)) from None
        if response.status_code == 200:
            return
        detail, errors = _detail(response)
        if _transient(response.status_code):
            raise SendError(f"{response.status_code}: {detail}")
        raise GuardRequestError(detail, status=response.status_code, errors=errors)

    # -- deciding ------------------------------------------------------------------------

    def _prepare(
        self, actor: str, merchant: str, action: str, data: Sequence[str], more: DecideFields
    ) -> _Call:
        fields: dict[str, Any] = dict(more)
        request_id = fields.pop("request_id", None) or "req-" + secrets.token_hex(16)
        fields.setdefault("channel", "support_console")
        for name in ("subjects", "source"):
            if fields.get(name) is None:
                fields.pop(name, None)
        try:
            if "subjects" in fields:
                fields["subjects"] = tuple(fields["subjects"])
            if "source" in fields and not isinstance(fields["source"], Source):
                fields["source"] = msgspec.convert(fields["source"], Source)
            # Checked whole, as the server checks it: a request it would refuse must not be
            # served open with an access event the ledger would refuse too.
            request = check_request(
                {"actor": actor, "merchant": merchant, "action": action, "data": tuple(data)}
                | fields
            )
        except (RequestError, msgspec.ValidationError, TypeError) as exc:
            raise GuardRequestError(str(exc)) from None
        return _Call(request, request_id)

    def _answer(self, response: httpx.Response) -> Decision | str:
        """The decision, or why to retry; raises :class:`GuardRequestError` on a 4xx."""
        status = response.status_code
        if status == 200:
            try:
                return decode_decision(response.content)
            except msgspec.DecodeError:
                return "200 without a decision (a proxy's page?)"
        detail, _ = _detail(response)
        if _transient(status):
            return f"{status}: {detail}"
        raise GuardRequestError(detail, status=status)

    def _after(
        self, call: _Call, deadline: _Deadline, response: httpx.Response | httpx.HTTPError
    ) -> Decision | float:
        """After an attempt: the decision to return, or how long to wait before the next.

        Raises :class:`GuardRequestError` on a 4xx answer.
        """
        answered: httpx.Response | None = None
        if isinstance(response, httpx.HTTPError):
            answer: Decision | str = _describe(response, self.timeout)
        else:
            answered, answer = response, self._answer(response)
        if isinstance(answer, Decision):
            return answer
        delay = deadline.next_delay(answered)
        return self._unreachable(call, answer) if delay is None else delay

    def _unreachable(self, call: _Call, why: str) -> Decision:
        """The fail mode's decision, its access event queued."""
        request = call.request
        mode = self.fail_modes.mode(request.action, request.records)
        what = f"{request.action} requests"
        if mode != self.fail_modes.modes[request.action]:  # closed by its size alone
            what = f"bulk lists ({self.fail_modes.bulk_records}+ customers)"
        mask: tuple[str, ...] = ()
        if mode == "open":
            mask = tuple(c for c in request.data if c in self.fail_modes.open_mask)
            reason = (
                f"Sentinelle could not be reached ({why}); {what} fail open: allowed, and "
                "the access is recorded when Sentinelle is back."
            )
        else:
            reason = (
                f"Sentinelle could not be reached ({why}); {what} fail closed: refused until "
                "Sentinelle answers."
            )
        event_id = "unr-" + secrets.token_hex(20)
        verdict: Verdict = "allow" if mode == "open" else "deny"
        # With the mask, as the server records a decision: the event's data is what was shown.
        decided = GuardDecision(decision=verdict, mask=mask, reasons=(reason,))
        event = access_event(event_id, request, decided, now_us())
        said = OPEN_REASON if mode == "open" else _CLOSED_REASON
        justification = event.justification
        if isinstance(justification, Justification):
            event = msgspec.structs.replace(
                event, justification=msgspec.structs.replace(justification, reason=said)
            )
        try:
            self._recorder.put(_encoder.encode(event))
        except RecordError as exc:
            # Served unrecorded would be an access nobody can ever see: refuse instead.
            _logger.error("Sentinelle unreachable and the access cannot be queued: %s", exc)
            return Decision(
                decision="deny",
                reasons=(f"{reason} The access could not be queued for recording ({exc}).",),
                unreachable=True,
            )
        _logger.warning("Sentinelle unreachable (%s): %s fail %s", why, request.action, mode)
        return Decision(
            decision=verdict, mask=mask, reasons=(reason,), event=event_id, unreachable=True
        )


class GuardClient(_Base):
    """The blocking client (see the module docstring). A context manager: leaving it sends
    what is queued (``close``).

    ``transport`` replaces httpx's (tests: ``httpx.MockTransport``); ``journal`` is the
    directory a full queue spills to; ``fail_modes`` a :class:`FailModes` or overrides of
    the defaults (``{"search": "closed"}``).
    """

    def _open(self, transport: Any) -> None:
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=self._headers,
            timeout=self.timeout,
            transport=transport,
        )

    def decide(
        self,
        *,
        actor: str,
        merchant: str,
        action: str,
        data: Sequence[str],
        **more: Unpack[DecideFields],
    ) -> Decision:
        """Ask before serving (see :class:`DecideFields` for the optional fields).

        Raises :class:`GuardRequestError` when the request is wrong (never retried);
        answers with the fail mode when Sentinelle cannot be reached within ``timeout``.
        """
        call = self._prepare(actor, merchant, action, data, more)
        deadline = _Deadline(self.timeout)
        while True:
            response: httpx.Response | httpx.HTTPError
            try:
                response = self._client.post(
                    "/v1/access/decide", content=call.body, timeout=deadline.remaining()
                )
            except httpx.HTTPError as exc:
                response = exc
            step = self._after(call, deadline, response)
            if isinstance(step, Decision):
                return step
            time.sleep(step)

    def flush(self) -> int:
        """Send every queued and journaled event now; how many. Raises :class:`RecordError`
        when Sentinelle cannot be reached (they stay queued)."""
        return self._recorder.flush()

    def close(self) -> None:
        """Send what is left (journal what cannot be sent) and close the connections.
        Raises :class:`RecordError` when events could be neither sent nor journaled."""
        try:
            self._recorder.close()
        finally:
            self._client.close()
            self._events.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncGuardClient(_Base):
    """The asyncio client: ``await decide(…)``, ``await flush()``, ``await aclose()`` (or
    ``async with``); ``record`` only queues, so it is not a coroutine. Events are sent by a
    background thread, off the event loop. ``transport`` is an async httpx transport for the
    decisions, ``events_transport`` a blocking one for the events (``httpx.MockTransport`` is
    both)."""

    def _open(self, transport: Any) -> None:
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=self._headers,
            timeout=self.timeout,
            transport=transport,
        )

    async def decide(
        self,
        *,
        actor: str,
        merchant: str,
        action: str,
        data: Sequence[str],
        **more: Unpack[DecideFields],
    ) -> Decision:
        """As :meth:`GuardClient.decide`, without blocking the event loop."""
        call = self._prepare(actor, merchant, action, data, more)
        deadline = _Deadline(self.timeout)
        while True:
            response: httpx.Response | httpx.HTTPError
            try:
                response = await self._client.post(
                    "/v1/access/decide", content=call.body, timeout=deadline.remaining()
                )
            except httpx.HTTPError as exc:
                response = exc
            step = self._after(call, deadline, response)
            if isinstance(step, Decision):
                return step
            await asyncio.sleep(step)

    async def flush(self) -> int:
        """As :meth:`GuardClient.flush`, in a worker thread."""
        return await asyncio.to_thread(self._recorder.flush)

    async def aclose(self) -> None:
        """As :meth:`GuardClient.close`, in a worker thread."""
        try:
            await asyncio.to_thread(self._recorder.close)
        finally:
            await self._client.aclose()
            self._events.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _describe(exc: httpx.HTTPError, timeout: float) -> str:
    """Why a request got no answer, in words (never the key: httpx's messages omit headers)."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _transient(status: int) -> bool:
    """Whether an error answer is worth retrying (decisions and events alike)."""
    return status in _RETRY or status >= 500


def _detail(response: httpx.Response) -> tuple[str, list[dict[str, object]]]:
    """The ``detail`` of an error answer (as text) and the problems of a refused batch."""
    try:
        answer = json.loads(response.content)
    except ValueError:
        return response.text[:200] or response.reason_phrase, []
    if not isinstance(answer, dict):
        return str(answer)[:200], []
    detail = answer.get("detail", answer)
    errors = answer.get("errors")
    problems = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    return (detail if isinstance(detail, str) else json.dumps(detail)), problems


def _retry_after(response: httpx.Response) -> float:
    """``Retry-After`` in seconds (0 when absent or a date: the backoff decides then)."""
    try:
        return max(float(response.headers.get("Retry-After", "0")), 0.0)
    except ValueError:
        return 0.0
