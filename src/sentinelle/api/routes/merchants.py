"""``/v1/merchants/{merchant}/accesses``: a merchant's access events, each with its proof.

Each page proves its events against one signed checkpoint: the latest when the first page was
asked for, carried by the cursor to the next pages, so a merchant checks the checkpoint's
signature once (``/v1/ledger/key``) and every proof of the listing against its root. Events
carry ids and categories only, no personal data.

The response is written as JSON text directly: each ``event`` is the stored event, the RFC 8785
canonical JSON the leaf hash is taken of, copied as it is (it was checked against the
checkpoint's root with its proof, so it is the canonical text ingest wrote). Decoding it and
encoding it again gave the same bytes, at a cost of about a third of the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final

import msgspec
from fastapi import APIRouter, Path, Query, Response

from sentinelle.access import Permission
from sentinelle.api.cursors import MAX_CURSOR, decode_cursor, encode_cursor, invalid_cursor
from sentinelle.api.deps import GuardedRoute, Reader, StateDep, guarded, reading
from sentinelle.api.responses import Rfc3339
from sentinelle.timeutil import to_us

__all__ = ["MAX_LIMIT", "AccessesPage", "accesses_page", "router"]

MAX_LIMIT: Final = 500
_KIND: Final = "accesses"

router = APIRouter(prefix="/v1/merchants", tags=["merchants"], route_class=GuardedRoute)


@dataclass(frozen=True, slots=True)
class AccessesPage:
    """A page of a merchant's accesses: the checkpoint they are proven against (``note``
    ``None`` and ``size`` 0 before the first), each stored event ``(leaf index, canonical
    JSON)`` with its inclusion proof, and the cursor of the next page (``None``: the last)."""

    note: str | None
    size: int
    rows: Sequence[tuple[int, str]]
    proofs: Sequence[Sequence[bytes]]
    next: str | None

    def to_json(self) -> bytes:
        """``{"checkpoint", "size", "items": [{"event", "leaf_index", "proof"}], "next"}`` as
        compact JSON, the bytes FastAPI's encoder gives for the same object (strings escaped
        as RFC 8785 escapes them), with each stored event spliced in as it is."""
        items = []
        for (seq, body), path in zip(self.rows, self.proofs, strict=True):
            proof = '"' + '","'.join([h.hex() for h in path]) + '"' if path else ""
            items.append(
                '{"event":' + body + ',"leaf_index":' + str(seq) + ',"proof":[' + proof + "]}"
            )
        return b"".join(
            (
                b'{"checkpoint":',
                _encode(self.note),
                b',"size":',
                str(self.size).encode(),
                b',"items":[',
                ",".join(items).encode(),
                b'],"next":',
                _encode(self.next),
                b"}",
            )
        )


def accesses_page(
    r: Reader,
    merchant: str,
    *,
    cursor: str | None = None,
    limit: int = 100,
    since_us: int | None = None,
    until_us: int | None = None,
) -> AccessesPage:
    """A page of ``merchant``'s access events, newest first, each with its proof, in ``r``'s
    read transaction (so the proofs match the checkpoint); after ``cursor`` (the ``next`` of
    the previous page: its checkpoint stays). Raises 422 for a cursor that is not one of this
    merchant's or whose checkpoint is not recorded. The API's route and the console's page."""
    if cursor is None:
        cp = r.store.latest_checkpoint()
        if cp is None or cp.size == 0:
            return AccessesPage(None, 0, [], [], None)
        below = cp.size
    else:
        size, below, bound = decode_cursor(cursor, _KIND, (int, int, str))
        if bound != merchant or not 0 < below <= size:
            raise invalid_cursor(cursor)
        cp = r.store.checkpoint_at(size)
        if cp is None:
            raise invalid_cursor(cursor, "its checkpoint is not recorded")
    rows = r.store.merchant_accesses(
        merchant, before_seq=below, limit=limit + 1, since_us=since_us, until_us=until_us
    )
    page = rows[:limit]
    proofs = r.ledger.inclusion_proofs(page, cp.size, cp.root)
    more = len(rows) > limit
    following = encode_cursor(_KIND, cp.size, page[-1][0], merchant) if more else None
    return AccessesPage(cp.note, cp.size, page, proofs, following)


_encode = msgspec.json.Encoder().encode


@router.get(
    "/{merchant}/accesses",
    response_model=dict[str, Any],  # the JSON is written by AccessesPage.to_json
    **guarded(Permission.MERCHANT_ACCESSES),
)
async def merchant_accesses(
    state: StateDep,
    merchant: Annotated[str, Path(min_length=1, max_length=200)],
    since: Annotated[Rfc3339 | None, Query(description="At or after (RFC 3339)")] = None,
    until: Annotated[Rfc3339 | None, Query(description="Before (RFC 3339)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR, description="The `next` of the previous page")
    ] = None,
) -> Response:
    """The merchant's access events (not context events), newest first (by leaf index), each
    with its RFC 9162 inclusion proof against ``checkpoint`` (a signed note of tree ``size``).

    ``next`` continues the list (same filters) against the same checkpoint, ``null`` on the
    last page. A ledger with no checkpoint yet gives ``checkpoint: null``, ``size: 0``.
    """
    page = await reading(
        state,
        lambda r: accesses_page(
            r,
            merchant,
            cursor=cursor,
            limit=limit,
            since_us=to_us(since) if since is not None else None,
            until_us=to_us(until) if until is not None else None,
        ),
    )
    return Response(content=page.to_json(), media_type="application/json")
