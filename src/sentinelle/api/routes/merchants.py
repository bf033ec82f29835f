"""``/v1/merchants/{merchant}/accesses`` (JSON pages) and ``…/accesses.csv`` (the export): a
merchant's access events, filtered, each with its proof.

Each page proves its events against one signed checkpoint: the latest when the first page was
asked for, carried by the cursor to the next pages (with the filters), so a merchant checks the
checkpoint's signature once (``/v1/ledger/key``) and every proof of the listing against its
root. Events carry ids and categories only, no personal data of customers.

Who is shown how (:mod:`sentinelle.transparency.accesses`): a merchant's account or key sees
staff pseudonymously unless ``merchant_staff_identity`` is ``named``, and then gets a
pseudonymous row's leaf hash instead of its event text (which names the person); the
platform's roles see every name and text. Each item's ``shown`` object is the row as the
viewer sees it.

The response is written as JSON text directly: each ``event`` is the stored event, the RFC 8785
canonical JSON the leaf hash is taken of, copied as it is. Decoding it and encoding it again
gave the same bytes, at a cost of about a third of the request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl, urlencode

import msgspec
from fastapi import APIRouter, Query, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from sentinelle.access import Permission
from sentinelle.api.cursors import MAX_CURSOR, decode_cursor, encode_cursor, invalid_cursor
from sentinelle.api.deps import (
    CurrentPrincipal,
    GuardedRoute,
    Reader,
    StateDep,
    guarded,
    reading,
)
from sentinelle.api.responses import Rfc3339
from sentinelle.api.staff_view import names_staff, pseudonyms_of
from sentinelle.errors import IntegrityError
from sentinelle.events.model import Action, ActorKind, DataCategory, Outcome
from sentinelle.ledger.merkle import leaf_hash
from sentinelle.store.accesses import (
    ACTION_BITS,
    CATEGORY_BITS,
    JUSTIFIED_BITS,
    KIND_BITS,
    OUTCOME_BITS,
    AccessQuery,
    mask,
)
from sentinelle.store.grants import GrantApproval
from sentinelle.timeutil import to_us
from sentinelle.transparency.accesses import (
    Pseudonyms,
    Shown,
    csv_header,
    csv_line,
    decode_access,
    shown,
)

__all__ = [
    "MAX_LIMIT",
    "NO_FILTERS",
    "AccessFilters",
    "AccessItem",
    "AccessesPage",
    "accesses_page",
    "names_staff",
    "pseudonyms_of",
    "router",
]

MAX_LIMIT: Final = 500
_KIND: Final = "accesses"
_EXPORT_PAGE: Final = 500  # rows per read transaction of the CSV export
_encode: Final = msgspec.json.Encoder().encode

router = APIRouter(prefix="/v1/merchants", tags=["merchants"], route_class=GuardedRoute)


class AccessFilters(BaseModel):
    """Which accesses a page lists: every one by default. Values of one parameter are
    alternatives (``kind=staff&kind=app``: either); different parameters all apply."""

    model_config = ConfigDict(frozen=True)

    since: Rfc3339 | None = Field(None, description="At or after (RFC 3339)")
    until: Rfc3339 | None = Field(None, description="Before (RFC 3339)")
    kind: list[ActorKind] = Field([], description="Actor kind: staff, app, integration, …")
    action: list[Action] = Field([], description="view, search, export, download, …")
    outcome: list[Outcome] = Field([], description="allowed or denied")
    category: list[DataCategory] = Field([], description="Data category exposed (any of)")
    justified: bool | None = Field(
        None, description="true: citing a ticket or grant; false: citing neither"
    )
    customer: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="Only accesses naming this customer id in their subjects",
    )

    @field_validator("until")
    @classmethod
    def _after_since(cls, value: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        since = info.data.get("since")
        if value is not None and since is not None and value <= since:
            raise ValueError("until must be after since")
        return value

    def query(self) -> AccessQuery:
        """The filters in store terms."""
        groups = [
            mask(KIND_BITS, self.kind),
            mask(ACTION_BITS, self.action),
            mask(OUTCOME_BITS, self.outcome),
            mask(CATEGORY_BITS, self.category),
            mask(JUSTIFIED_BITS, [] if self.justified is None else [self.justified]),
        ]
        return AccessQuery(
            masks=tuple(m for m in groups if m),
            since_us=to_us(self.since) if self.since is not None else None,
            until_us=to_us(self.until) if self.until is not None else None,
            customer=self.customer,
        )

    def params(self) -> list[tuple[str, str]]:
        """The filters as query parameters, in one order (links, the cursor, the export)."""
        out: list[tuple[str, str]] = []
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                out.append((name, value.isoformat().replace("+00:00", "Z")))
        for name in ("kind", "action", "outcome", "category"):
            out.extend((name, v) for v in sorted(set(getattr(self, name))))
        if self.justified is not None:
            out.append(("justified", "true" if self.justified else "false"))
        if self.customer is not None:
            out.append(("customer", self.customer))
        return out

    @classmethod
    def from_params(cls, pairs: Sequence[tuple[str, str]]) -> AccessFilters:
        """The filters of query parameters (others ignored). Raises
        :class:`RequestValidationError` (422) naming each parameter at fault."""
        given: dict[str, Any] = {}
        for name, value in pairs:
            if name in ("kind", "action", "outcome", "category"):
                given.setdefault(name, []).append(value)
            elif name in cls.model_fields:
                given[name] = value
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from None

    @property
    def any(self) -> bool:
        """Whether any filter is set."""
        return bool(self.params())


NO_FILTERS: Final = AccessFilters()


@dataclass(frozen=True, slots=True)
class AccessItem:
    """One access of a page: its leaf index, the stored canonical event (``None`` when
    withheld from this viewer), its leaf hash, its inclusion proof and what the viewer sees."""

    leaf_index: int
    text: str | None
    leaf: bytes
    proof: Sequence[bytes]
    shown: Shown


@dataclass(frozen=True, slots=True)
class AccessesPage:
    """A page of a merchant's accesses: the checkpoint they are proven against (``note``
    ``None`` and ``size`` 0 before the first), its items, the cursor of the next page
    (``None``: the last) and the filters. ``problem``: the server's own check of the proofs
    failed (a stored event or tile changed), the rows are served for the viewer to see which."""

    note: str | None
    size: int
    items: Sequence[AccessItem]
    next: str | None
    filters: AccessFilters = NO_FILTERS
    problem: str | None = None

    def to_json(self) -> bytes:
        """``{"checkpoint", "size", "items": [{"event", "leaf_index", "leaf_hash", "proof",
        "shown"}], "next"}`` as compact JSON (strings escaped as RFC 8785 escapes them), with
        each stored event spliced in as it is."""
        items = []
        for item in self.items:
            proof = ",".join([f'"{h.hex()}"' for h in item.proof])
            items.append(
                b"".join(
                    (
                        b'{"event":',
                        item.text.encode() if item.text is not None else b"null",
                        b',"leaf_index":',
                        str(item.leaf_index).encode(),
                        b',"leaf_hash":"',
                        item.leaf.hex().encode(),
                        b'","proof":[',
                        proof.encode(),
                        b'],"shown":',
                        _encode(item.shown),
                        b"}",
                    )
                )
            )
        return b"".join(
            (
                b'{"checkpoint":',
                _encode(self.note),
                b',"size":',
                str(self.size).encode(),
                b',"items":[',
                b",".join(items),
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
    filters: AccessFilters = NO_FILTERS,
    name_staff: bool = True,
    pseudonyms: Pseudonyms,
) -> AccessesPage:
    """A page of ``merchant``'s access events, newest first, that ``filters`` select, each
    with its proof, in ``r``'s read transaction (so the proofs match the checkpoint); after
    ``cursor`` (the ``next`` of the previous page: its checkpoint and filters stay, and the
    request's filters must be none or the same). Staff named when ``name_staff``.

    Raises 422 for a cursor that is not one of this merchant's, was made for other filters,
    or whose checkpoint is not recorded. The API's route, its CSV export and the console's
    page.
    """
    if cursor is None:
        cp = r.store.latest_checkpoint()
        if cp is None or cp.size == 0:
            return AccessesPage(None, 0, [], None, filters)
        below = cp.size
    else:
        size, below, bound, carried = decode_cursor(cursor, _KIND, (int, int, str, str))
        if bound != merchant or not 0 < below <= size:
            raise invalid_cursor(cursor)
        kept = AccessFilters.from_params(parse_qsl(carried, keep_blank_values=True))
        # Compared as query parameters: one order, each value once, as the cursor keeps them.
        if filters.any and filters.params() != kept.params():
            raise invalid_cursor(cursor, "it was made for other filters")
        filters = kept
        cp = r.store.checkpoint_at(size)
        if cp is None:
            raise invalid_cursor(cursor, "its checkpoint is not recorded")
    rows = r.store.merchant_accesses(
        merchant, before_seq=below, limit=limit + 1, query=filters.query()
    )
    page = rows[:limit]
    problem = None
    try:
        proofs: Sequence[Sequence[bytes]] = r.ledger.inclusion_proofs(page, cp.size, cp.root)
    except IntegrityError as exc:
        # Served anyway: the viewer's own check shows which rows fail, where an error page
        # would show nothing.
        problem = exc.diagnostics()
        proofs = r.ledger.reader(cp.size).inclusion_paths([seq for seq, _ in page])
    grants: dict[str, list[GrantApproval] | None] = {}

    def approvals(grant_id: str) -> list[GrantApproval] | None:
        if grant_id not in grants:
            row = r.store.grant(grant_id)
            grants[grant_id] = (
                row.approvals() if row is not None and row.merchant == merchant else None
            )
        return grants[grant_id]

    items = []
    for (seq, body), path in zip(page, proofs, strict=True):
        event = decode_access(body)
        view = shown(
            event,
            merchant=merchant,
            name_staff=name_staff,
            pseudonyms=pseudonyms,
            approvals=approvals,
        )
        items.append(
            AccessItem(
                leaf_index=seq,
                text=body if view.named else None,
                leaf=leaf_hash(body.encode()),
                proof=path,
                shown=view,
            )
        )
    more = len(rows) > limit
    following = (
        encode_cursor(_KIND, cp.size, page[-1][0], merchant, urlencode(filters.params()))
        if more
        else None
    )
    return AccessesPage(cp.note, cp.size, items, following, filters, problem)


FiltersQuery = Annotated[AccessFilters, Query()]
MerchantPath = Annotated[str, PathParam(min_length=1, max_length=200)]
CursorQuery = Annotated[
    str | None, Query(max_length=MAX_CURSOR, description="The `next` of the previous page")
]


@router.get(
    "/{merchant}/accesses",
    response_model=dict[str, Any],  # the JSON is written by AccessesPage.to_json
    **guarded(Permission.MERCHANT_ACCESSES),
)
async def merchant_accesses(
    state: StateDep,
    principal: CurrentPrincipal,
    merchant: MerchantPath,
    filters: FiltersQuery,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: CursorQuery = None,
) -> Response:
    """The merchant's access events (not context events), newest first (by leaf index), each
    with its RFC 9162 inclusion proof against ``checkpoint`` (a signed note of tree ``size``)
    and its ``leaf_hash``; ``event`` is the stored event, or ``null`` for a staff access
    shown pseudonymously (``shown.named`` false); ``shown`` is the row as the caller sees it.

    ``next`` continues the list (same filters, carried by it) against the same checkpoint,
    ``null`` on the last page. A ledger with no checkpoint yet gives ``checkpoint: null``,
    ``size: 0``.
    """
    name_staff = names_staff(principal, state.settings.merchant_staff_identity)
    pseudonyms = pseudonyms_of(state)
    page = await reading(
        state,
        lambda r: accesses_page(
            r,
            merchant,
            cursor=cursor,
            limit=limit,
            filters=filters,
            name_staff=name_staff,
            pseudonyms=pseudonyms,
        ),
    )
    return Response(content=page.to_json(), media_type="application/json")


@router.get(
    "/{merchant}/accesses.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The accesses, as CSV"}},
    **guarded(Permission.MERCHANT_ACCESSES),
)
async def merchant_accesses_csv(
    state: StateDep,
    principal: CurrentPrincipal,
    merchant: MerchantPath,
    filters: FiltersQuery,
) -> StreamingResponse:
    """Every access the filters select, newest first, as CSV (a header row, then one row per
    access with its leaf index, leaf hash, proof, tree size, signed checkpoint and, when
    shown, the canonical event), all proven against the latest checkpoint when the export
    began. Streamed, a read transaction per 500 rows; cells a spreadsheet would read as a
    formula are prefixed with ``'``."""
    name_staff = names_staff(principal, state.settings.merchant_staff_identity)
    pseudonyms = pseudonyms_of(state)

    def work(cursor: str | None) -> Callable[[Reader], AccessesPage]:
        return lambda r: accesses_page(
            r,
            merchant,
            cursor=cursor,
            limit=_EXPORT_PAGE,
            filters=filters if cursor is None else NO_FILTERS,  # the cursor carries them
            name_staff=name_staff,
            pseudonyms=pseudonyms,
        )

    first = await reading(state, work(None))  # errors (422) before the 200 starts

    async def lines() -> AsyncIterator[str]:
        page = first
        yield csv_header()
        while True:
            for item in page.items:
                yield csv_line(
                    item.shown,
                    leaf_index=item.leaf_index,
                    leaf=item.leaf,
                    proof=item.proof,
                    size=page.size,
                    note=page.note or "",
                    text=item.text,
                )
            if page.next is None:
                return
            page = await reading(state, work(page.next))

    # A header is latin-1: the file name keeps ASCII letters, digits, '-' and '_' only.
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in merchant)
    name = f"accesses-{safe}.csv"
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
