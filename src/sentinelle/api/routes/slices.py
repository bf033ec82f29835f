"""``/v1/merchants/{merchant}/slice``: a merchant's accesses between two checkpoints, with
everything needed to prove that none was left out (issue 12 §2 "Completeness").

The answer (:class:`sentinelle.ledger.slices.SlicePage`) holds both signed checkpoints, the
merchant map's proofs of the merchant's slice at each, the slice's consistency proof, and the
slice entries of the range with their inclusion proofs. Each page repeats the checkpoints and
proofs, so it is checked alone; ``next`` continues with the following entries. A merchant
checks it with :func:`sentinelle.transparency.verify.verify_slice` (docs/ledger.md, "Merchant
slices"); this route checks nothing for it, and serves the store as it is.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Query

from sentinelle.access import Permission
from sentinelle.api.cursors import (
    MAX_CURSOR,
    MAX_INT,
    decode_cursor,
    encode_cursor,
    invalid_cursor,
    invalid_query,
)
from sentinelle.api.deps import GuardedRoute, Reader, StateDep, guarded, reading
from sentinelle.ledger.slices import SlicePage, SliceQueryError, slice_page

__all__ = ["MAX_LIMIT", "router", "slice_answer"]

MAX_LIMIT: Final = 1000
_KIND: Final = "slice"

router = APIRouter(prefix="/v1/merchants", tags=["merchants"], route_class=GuardedRoute)


def slice_answer(
    r: Reader,
    merchant: str,
    *,
    from_size: int,
    to_size: int | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """One page of ``merchant``'s slice answer in ``r``'s read transaction. Raises 422 (naming
    ``from``, ``to`` or ``cursor``) for a size that is not a checkpoint with a merchant map,
    ``from`` after ``to``, or a cursor of another answer."""
    after = None
    if cursor is not None:
        bound, f, t, start, seq = decode_cursor(cursor, _KIND, (str, int, int, int, int))
        if (bound, f) != (merchant, from_size) or (to_size is not None and t != to_size):
            raise invalid_cursor(cursor, "it belongs to another merchant or other sizes")
        to_size, after = t, (start, seq)
    if to_size is None:
        latest = r.store.latest_checkpoint()
        if latest is None or latest.size == 0:
            raise invalid_query("to", to_size, "no checkpoint is recorded yet")
        to_size = int(latest.size)
    try:
        page: SlicePage = slice_page(
            r.store,
            r.ledger.slices,
            merchant,
            from_size=from_size,
            to_size=to_size,
            after=after,
            limit=limit,
        )
    except SliceQueryError as exc:
        if exc.param == "cursor" and cursor is not None:
            raise invalid_cursor(cursor, str(exc)) from None
        raise invalid_query(
            exc.param, from_size if exc.param == "from" else to_size, str(exc)
        ) from None
    following = None
    if page.next is not None:
        following = encode_cursor(_KIND, merchant, from_size, to_size, *page.next)
    return page.to_dict(following)


@router.get("/{merchant}/slice", **guarded(Permission.MERCHANT_ACCESSES))
async def merchant_slice(
    state: StateDep,
    merchant: Annotated[str, Path(min_length=1, max_length=200)],
    from_size: Annotated[
        int,
        Query(
            alias="from",
            ge=0,
            le=MAX_INT,
            description="Tree size of the older checkpoint (0: start)",
        ),
    ] = 0,
    to_size: Annotated[
        int | None,
        Query(
            alias="to", ge=1, le=MAX_INT, description="Tree size of the newer checkpoint [latest]"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 500,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR, description="The `next` of the previous page")
    ] = None,
) -> dict[str, Any]:
    """The merchant's access events logged between the checkpoints of tree sizes ``from`` and
    ``to``, as entries of its slice, with the proofs that they are all of them:
    ``{"merchant", "from": {"size", "checkpoint", "slice": {"size", "root"}, "map_proof"},
    "to": {…}, "consistency": [hex], "start", "entries": [{"slice_index", "leaf_index",
    "event", "proof"}], "next"}``. ``event`` is the stored event's canonical JSON as a string.
    Check it with ``sentinelle.transparency.verify.verify_slice``.
    """
    return await reading(
        state,
        lambda r: slice_answer(
            r, merchant, from_size=from_size, to_size=to_size, limit=limit, cursor=cursor
        ),
    )
