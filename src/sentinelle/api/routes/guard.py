"""``POST /v1/access/decide``: the guard's decision, recorded in the ledger before it is answered.

The request is read and checked (:func:`sentinelle.guard.service.parse_decide`: 422 naming the
field), then, in one read transaction on a read connection: the decision already recorded for
this ``request_id`` (a retry), the cited ticket (its ``ticket.*`` events, by the ``ref`` index),
the actor's grants at the merchant (by the ``(actor, merchant)`` index) and whether the actor
is suspended (:func:`sentinelle.guard.service.assess`, as ``sentinelle policy explain``);
:func:`sentinelle.guard.decide.decide` decides, purely.

Every decision — allow, deny, pending — is then written to the ledger as an access event
(``outcome`` ``allowed`` for an allow, ``denied`` otherwise: a pending request is not served)
and its answer to ``guard_decisions``, and only then answered. Writes are *group-committed*:
decisions that arrive while a write is under way wait for it to end and are written together,
in one transaction and one checkpoint, so under load a decision costs a share of a commit, and
alone it waits for no timer.

A break-glass decision is written with a ``grant.approved`` event of a grant its actor approved
themselves (``bg-<event id>``, the stated emergency as its reason, until the decision expires),
which its access event cites. After each group, live detection and the automatic response run
(:meth:`sentinelle.api.deps.State.after_batch`): before the group is answered when it
holds a break-glass or a refused decision (so the break-glass alert exists, and a probing actor
is suspended, before the answer), otherwise in the background, one run at a time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Sequence
from functools import partial
from typing import Any, Final, NamedTuple

import msgspec
from fastapi import APIRouter, HTTPException, Request, Response

from sentinelle.access import Permission
from sentinelle.api.deps import (
    CurrentPrincipal,
    GuardedRoute,
    State,
    StateDep,
    guarded,
    locked,
)
from sentinelle.api.responses import ErrorBody
from sentinelle.detect.engine import where
from sentinelle.detect.guard_signals import break_glass_grant
from sentinelle.errors import ConfigError
from sentinelle.events import ACCESS_ACTIONS, CHANNELS, DATA_CATEGORIES, ContextEvent
from sentinelle.events.model import AccessEvent
from sentinelle.guard import Policy, RequestError
from sentinelle.guard.recording import access_event
from sentinelle.guard.service import (
    DecideBody,
    assess,
    decision_event_id,
    parse_decide,
    request_hash,
)
from sentinelle.ingest import Ingestor
from sentinelle.store.grants import DecisionRow

__all__ = ["BACKGROUND_EVERY", "DecisionRecorder", "policy_or_503", "router"]

_logger = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 8 * 1024 * 1024  # 100,000 subjects of 64 characters fit
# Seconds between background detection runs, at least. Live detection holds a fresh event in
# its reorder buffer for reorder_minutes (default 5) anyway, so running it more often finds
# nothing sooner; what cannot wait (a break-glass, a refusal it can see now) runs at once.
BACKGROUND_EVERY: Final = 2.0

_event_encoder: Final = msgspec.json.Encoder()

router = APIRouter(prefix="/v1/access", tags=["guard"], route_class=GuardedRoute)


def _body_schema() -> dict[str, Any]:
    """The request's JSON Schema, from the struct itself, with the closed vocabularies."""
    document = msgspec.json.schema(DecideBody)
    defs = document["$defs"]
    schema: dict[str, Any] = dict(defs["DecideBody"])
    props = dict(schema["properties"])
    props["action"] = {"type": "string", "enum": list(ACCESS_ACTIONS)}
    props["channel"] = {"type": "string", "enum": list(CHANNELS)}
    props["data"] = {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "enum": list(DATA_CATEGORIES)},
    }
    source = dict(defs["Source"])
    source["additionalProperties"] = False
    props["source"] = {"anyOf": [source, {"type": "null"}], "default": None}
    schema["properties"] = props
    schema["additionalProperties"] = False
    schema.pop("title", None)
    return schema


_POST = guarded(Permission.ACCESS_DECIDE)
_POST["openapi_extra"] = {
    **_POST["openapi_extra"],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _body_schema()}},
    },
}


def policy_or_503(state: State) -> Policy:
    """The guard policy, or 503 naming the setting (unset) or the file's problems."""
    try:
        return state.guard_policy.get()
    except ConfigError as exc:
        raise HTTPException(503, exc.diagnostics()) from None


@router.post(
    "/decide",
    responses={
        200: {
            "description": "The decision: decision, grant, mask, expires, reasons, "
            "break_glass, approvers and event (docs/guard.md)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        409: {"model": ErrorBody, "description": "request_id already used for another request"},
        413: {"model": ErrorBody, "description": "Body larger than 8 MiB"},
    },
    response_class=Response,
    **_POST,
)
async def decide_access(request: Request, state: StateDep, principal: CurrentPrincipal) -> Response:
    """May this actor do this to this merchant's customer data, now? ``allow``, ``deny`` or
    ``pending`` (waiting for an approval), the categories to mask, until when and why.

    The decision is in the ledger (an access event, ``event``) before it is answered; a retry
    with the same ``request_id`` is recorded once and answered the same. 503 without a valid
    guard policy (``SENTINELLE_GUARD_POLICY``).
    """
    policy = policy_or_503(state)
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise HTTPException(413, f"request larger than {MAX_BODY_BYTES} bytes")
    try:
        body = parse_decide(raw)
    except RequestError as exc:  # names the field: 'action: "exprot" is not an action (…)'
        raise HTTPException(422, str(exc)) from None
    now = state.clock()
    if body.request_id is not None:
        event_id = decision_event_id(principal.label, body.request_id)
    else:
        event_id = "dec-" + secrets.token_hex(20)
    recorder = state.guard_recorder
    if recorder is None:
        recorder = state.guard_recorder = DecisionRecorder(state)
    asked = _Asked(body, event_id, request_hash(body), now, policy)
    done = await recorder.record(asked)
    return _same_request(done, asked.digest)


def _citing(access: AccessEvent, grant: ContextEvent) -> AccessEvent:
    """``access`` with its justification citing ``grant``."""
    just = msgspec.structs.replace(access.justification, grant=grant.grant)  # type: ignore[type-var]
    return msgspec.structs.replace(access, justification=just)


def _same_request(done: DecisionRow, digest: str) -> Response:
    """The stored answer, as stored (no parsing, no re-encoding), or 409 for another request."""
    if done.request_hash != digest:
        raise HTTPException(409, "request_id was already used for another request")
    return Response(done.response, media_type="application/json")


class _Asked(NamedTuple):
    """A decision asked for: the request, the id of the access event that records it, the
    request's hash (a reused ``request_id`` must carry the same request), when, the policy."""

    body: DecideBody
    event_id: str
    digest: str
    now: int
    policy: Policy


class _Decided(NamedTuple):
    """A decision made in a group: its events (JSON: the access event, after a break-glass's
    grant event), its row; ``urgent`` to detect before answering, ``flush`` to process the
    reorder buffer up to now too (a break-glass)."""

    events: Sequence[bytes]
    row: DecisionRow
    urgent: bool
    flush: bool


class _Pending(NamedTuple):
    """A decision waiting for its group: what was asked, its caller."""

    asked: _Asked
    future: asyncio.Future[DecisionRow]


class DecisionRecorder:
    """Decides and writes decisions in groups: those asked while a group is under way are
    decided and written together by the next one, in one thread hop holding the write lock —
    each read (the retried ``request_id``, ticket, grants, suspension) on the store's own
    connection, then their events and answers in one transaction and one checkpoint. A
    decision is thus made on everything committed before it (a suspension or a revocation
    written a moment earlier holds), and :meth:`record` returns once it is committed, with the
    decision stored under its id (the first one, for a retried ``request_id``).

    After each group, live detection and the automatic response run
    (:meth:`~sentinelle.api.deps.State.after_batch`): before the group is answered
    if any of its decisions is ``urgent``, else in the background, one run at a time (a run
    asked for while one is under way makes it run once more after)."""

    def __init__(self, state: State) -> None:
        self._state = state
        self._waiting: list[_Pending] = []
        self._running = False
        self._detecting = False
        self._again = False

    async def record(self, asked: _Asked) -> DecisionRow:
        """Decide ``asked`` and write it; the decision stored under its id."""
        future: asyncio.Future[DecisionRow] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Pending(asked, future))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                try:
                    rows, decided = await locked(self._state, partial(self._write, group))
                except Exception as exc:  # every waiter learns it (a 500 or 503 each)
                    for pending in group:
                        if not pending.future.done():
                            pending.future.set_exception(exc)
                    continue
                # Committed: detection and the response, a separate step after the write.
                if any(d.urgent for d in decided):
                    await self._detect(flush=any(d.flush for d in decided))
                elif decided:
                    self._detect_soon()
                for pending, row in zip(group, rows, strict=True):
                    if not pending.future.done():
                        pending.future.set_result(row)
        finally:
            self._running = False

    async def _detect(self, *, flush: bool = False) -> None:
        """Live detection and the automatic response, now; a failure is logged, never raised
        (the decisions are committed)."""
        try:
            await locked(self._state, partial(self._state.after_batch, flush=flush))
        except Exception as exc:
            _logger.error(
                "live detection after decisions failed (%s at %s); the next run catches up",
                type(exc).__name__,
                where(exc),
            )

    def _detect_soon(self) -> None:
        """Detection in the background: one run at a time, once more if asked meanwhile."""
        if self._detecting:
            self._again = True
            return
        self._detecting = True
        asyncio.get_running_loop().create_task(self._detect_loop())

    async def _detect_loop(self) -> None:
        try:
            self._again = True
            while self._again:
                self._again = False
                await self._detect()
                # Under load, groups arriving meanwhile wait for the next run together: live
                # detection's cost (its state read and written) is paid a few times a second.
                await asyncio.sleep(BACKGROUND_EVERY)
        finally:
            self._detecting = False

    def _write(self, group: Sequence[_Pending]) -> tuple[list[DecisionRow], list[_Decided]]:
        """Decide and record ``group`` (holding the lock): the decision stored for each, in
        order, and the new ones made."""
        state = self._state
        store = state.store
        retried = [p.asked.event_id for p in group if p.asked.body.request_id is not None]
        known = store.decisions(retried) if retried else {}
        rows: list[DecisionRow] = []
        decided: list[_Decided] = []
        for pending in group:
            asked = pending.asked
            done = known.get(asked.event_id)
            if done is None:  # new (a request_id sent twice in one group: its first decision)
                made = _decided(state, asked)
                decided.append(made)
                done = known[asked.event_id] = made.row
            rows.append(done)
        if decided:
            events = list(enumerate(e for d in decided for e in d.events))
            new = [d.row for d in decided]
            Ingestor(store, state.ledger).ingest(
                events, unit="index", also=lambda w, _result: w.record_decisions(new)
            )
        return rows, decided


def _decided(state: State, asked: _Asked) -> _Decided:
    """Decide ``asked`` on what the store holds now: its events, row and detection needs."""
    body, now = asked.body, asked.now
    decision = assess(state.store, asked.policy, body, now).decision
    answer = {**decision.to_dict(), "event": asked.event_id}
    access = access_event(asked.event_id, body, decision, now)
    events = []
    if decision.break_glass and decision.expires_us is not None:
        grant = break_glass_grant(access, body.break_glass or "", decision.expires_us)
        access = _citing(access, grant)
        answer["grant"] = grant.grant
        events.append(_event_encoder.encode(grant))
    events.append(_event_encoder.encode(access))
    row = DecisionRow(asked.event_id, asked.digest, now, json.dumps(answer))
    # Refused decisions wait for detection only when it can see them now: with the default
    # reorder_minutes its buffer holds a fresh event for minutes, so waiting would gain nothing.
    urgent = decision.break_glass or (decision.decision != "allow" and state.detectable(now))
    return _Decided(events, row, urgent, decision.break_glass)
