"""``/v1/ledger``: the signed checkpoint, the verifier keys and RFC 9162 proofs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict

from sentinelle.access import Permission
from sentinelle.api.cursors import MAX_INT
from sentinelle.api.deps import GuardedRoute, StateDep, guarded, reading
from sentinelle.api.responses import NOT_FOUND
from sentinelle.ledger.checkpoint import (
    NO_CHECKPOINT,
    NO_WITNESSED_CHECKPOINT,
    Checkpoint,
    parse_note,
)
from sentinelle.ledger.keys import load_chain, until_size
from sentinelle.ledger.witnessing import newest_cosigned_note
from sentinelle.timeutil import iso

__all__ = ["router"]

router = APIRouter(prefix="/v1/ledger", tags=["ledger"], route_class=GuardedRoute)


@router.get("/checkpoint", responses=NOT_FOUND, **guarded(Permission.LEDGER_CHECKPOINT))
async def get_checkpoint(
    state: StateDep,
    witnessed: Annotated[
        bool,
        Query(
            description="The newest checkpoint a witness cosigned instead, its note with the "
            "recorded cosignature lines (what `sentinelle monitor` checks)"
        ),
    ] = False,
) -> dict[str, Any]:
    """The latest signed checkpoint (a C2SP signed note): tree size, root hash and the note."""
    if witnessed:
        note = await reading(state, lambda r: newest_cosigned_note(r.store))
        if note is None:
            raise HTTPException(404, NO_WITNESSED_CHECKPOINT)
        head = Checkpoint.from_body(parse_note(note)[0])
        return {"size": head.size, "root_hash": head.root.hex(), "note": note}
    cp = await reading(state, lambda r: r.store.latest_checkpoint())
    if cp is None:
        raise HTTPException(404, NO_CHECKPOINT)
    return {"size": cp.size, "root_hash": cp.root.hex(), "note": cp.note}


@router.get("/key", **guarded(Permission.LEDGER_CHECKPOINT))
async def get_key(state: StateDep) -> dict[str, str]:
    """The current verifier key of the checkpoints' signatures (C2SP signed-note verifier key);
    older checkpoints may be signed by an earlier key: ``GET /v1/ledger/keys``."""
    return {"verifier_key": state.ledger.key.verifier_key()}


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LedgerKeyOut(_Out):
    """A verifier key of the log, the tree sizes it signs and its record as stored (what
    :func:`sentinelle.transparency.verify.verify_key_history` reads)."""

    verifier_key: str
    key_id: str
    seq: int
    from_size: int
    until_size: int | None
    recorded: str | None
    by: str | None
    reason: str
    statement: str | None


class LedgerKeysOut(_Out):
    """Every verifier key of the log, oldest first."""

    origin: str
    keys: list[LedgerKeyOut]


@router.get("/keys", **guarded(Permission.LEDGER_CHECKPOINT))
async def get_keys(state: StateDep) -> LedgerKeysOut:
    """Every verifier key of the log, oldest first, with the tree sizes it signs.

    Key *k* signs the checkpoints of tree sizes ``from_size`` to ``until_size``, both included
    (``until_size`` is the next key's ``from_size``: the checkpoint recorded at a rotation is
    the old key's; ``null`` for the current key). Each record is as the database keeps it:
    when, by whom and why it was recorded, and for a rotation the ``statement``, a signed note
    by the previous key naming the old and new keys, the size, time, who and why (checked
    here before it is served). Public keys only.
    """
    origin = state.ledger.origin
    # IntegrityError (500) naming the bad record, as ledger verify would.
    recorded = await reading(state, lambda r: load_chain(r.store.ledger_keys(), origin))
    keys = recorded or list(state.ledger.keys)
    return LedgerKeysOut(
        origin=origin,
        keys=[
            LedgerKeyOut(
                verifier_key=k.verifier.verifier_key(),
                key_id=k.key_id,
                seq=k.seq,
                from_size=k.from_size,
                until_size=until_size(keys, i),
                recorded=iso(k.added_us) if k.added_us else None,
                by=k.added_by or None,
                reason=k.reason,
                statement=k.statement,
            )
            for i, k in enumerate(keys)
        ],
    )


@router.get("/proof/{event_id}", responses=NOT_FOUND, **guarded(Permission.LEDGER_PROOF))
async def get_proof(
    state: StateDep,
    event_id: str,
    size: Annotated[
        int | None, Query(ge=1, le=MAX_INT, description="Tree size [default: latest]")
    ] = None,
) -> dict[str, Any]:
    """Inclusion proof of a stored event (RFC 9162 §2.1.3)."""
    return await reading(state, lambda r: r.ledger.proof(event_id, size))


@router.get("/consistency", responses=NOT_FOUND, **guarded(Permission.LEDGER_CHECKPOINT))
async def get_consistency(
    state: StateDep,
    old: Annotated[int, Query(ge=1, le=MAX_INT, description="The smaller tree size")],
    new: Annotated[
        int | None, Query(ge=1, le=MAX_INT, description="The larger [default: latest]")
    ] = None,
) -> dict[str, Any]:
    """Consistency proof between two tree sizes (RFC 9162 §2.1.4): the log only grew."""
    return await reading(state, lambda r: r.ledger.consistency(old, new))
