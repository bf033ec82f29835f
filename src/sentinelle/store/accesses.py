"""Storage of the merchants' view of their accesses (migration 22): what the page filters on.

A merchant's page lists its access events newest first and filters them by time, actor kind,
action, outcome, data category, justified or not, and by customer. Reading and decoding every
event of a large merchant to test those would cost in proportion to its whole history, so
ingest keeps, in the transaction that stores the events, so that they always describe exactly
the stored access events:

* ``events.facets``: each access event's bit set (:func:`facets_of`) of its actor kind, action,
  outcome, whether it cites a ticket or grant, and its data categories, in its own row
  (``NULL`` for context events; ingest computes it with the row it inserts, a
  :data:`~sentinelle.store.events.FacetedRow`). A page walks the merchant's range of the
  events' ``(merchant, seq)`` index backwards and tests ``facets & mask <> 0`` per group: no
  JSON is parsed to filter, and no second table repeats that key for every access.
* ``access_subjects``: one row per (merchant, customer, event), keyed in that order
  (:func:`subject_rows`, then :meth:`AccessIndexWriterMixin.index_accesses`), so "every
  access that touched customer X" is one range of the key, whatever the merchant's size. A
  customer is found by the ids the event names in ``subjects``; an access that exposed a
  list without naming its customers cannot be found by customer.

Both are derived data: the ledger's leaves (``events.body``) stay the truth, and the page
proves each row it shows against them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import TYPE_CHECKING, Any, Final

from sentinelle.events import ACCESS_ACTIONS, DATA_CATEGORIES, AccessEvent

if TYPE_CHECKING:
    from sentinelle.store.events import FacetedRow

__all__ = [
    "ACTION_BITS",
    "ACTOR_KINDS",
    "ALL",
    "CATEGORY_BITS",
    "JUSTIFIED_BITS",
    "KIND_BITS",
    "OUTCOMES",
    "OUTCOME_BITS",
    "SubjectRow",
    "AccessIndexStoreMixin",
    "AccessIndexWriterMixin",
    "AccessQuery",
    "backfill_sql",
    "facets_of",
    "mask",
    "subject_rows",
]

ACTOR_KINDS: Final = ("staff", "app", "integration", "service", "merchant_user")
OUTCOMES: Final = ("allowed", "denied")


def _bits(names: Sequence[str], first: int) -> dict[str, int]:
    return {name: 1 << (first + i) for i, name in enumerate(names)}


# One bit per value; the groups never overlap (27 bits in all, a BIGINT holds them). The order
# is part of the stored data: append new values at the end of the last group only.
KIND_BITS: Final = _bits(ACTOR_KINDS, 0)
ACTION_BITS: Final = _bits(ACCESS_ACTIONS, 5)
OUTCOME_BITS: Final = _bits(OUTCOMES, 11)
JUSTIFIED_BITS: Final = {True: 1 << 13, False: 1 << 14}
CATEGORY_BITS: Final = _bits(DATA_CATEGORIES, 15)


def facets_of(event: AccessEvent) -> int:
    """The bit set of ``event``'s actor kind, action, outcome, justification and categories."""
    justification = event.justification
    justified = bool(justification) and (
        bool(justification.ticket) or bool(justification.grant)  # type: ignore[union-attr]
    )
    bits = (
        KIND_BITS[event.actor.kind]
        | ACTION_BITS[event.action]
        | OUTCOME_BITS[event.outcome]
        | JUSTIFIED_BITS[justified]
    )
    for category in event.data:
        bits |= CATEGORY_BITS[category]
    return bits


def mask(bits: Mapping[Any, int], chosen: Collection[Any]) -> int:
    """The bits of the ``chosen`` values of one group (0: the group is not filtered)."""
    found = 0
    for value in chosen:
        found |= bits[value]
    return found


SubjectRow = tuple[str, str, int]
"""An ``access_subjects`` row: ``(merchant, customer, seq)``."""


def subject_rows(rows: Sequence[FacetedRow], events: Sequence[object]) -> list[SubjectRow]:
    """The customers the access events of ``rows`` name (``events`` their decoded events, in
    the same order), as ``access_subjects`` rows; context events are left out."""
    subjects: list[SubjectRow] = []
    for row, event in zip(rows, events, strict=True):
        if type(event) is not AccessEvent:
            continue
        named = event.subjects
        if not named:
            continue
        if len(named) == 1:  # the common case, without the de-duplication below
            subjects.append((event.merchant, named[0], row[0]))
        else:
            # An event may name a customer twice: the key holds each (customer, event) once.
            # A list of customers (an export) is most rows: zipped, not looped in Python.
            subjects += zip(repeat(event.merchant), dict.fromkeys(named), repeat(row[0]))
    return subjects


@dataclass(frozen=True, slots=True)
class AccessQuery:
    """Which of a merchant's access events a page reads, in store terms.

    ``masks``: one non-zero bit mask per filtered group (an event passes a group when it has
    one of its bits: the values of a group are alternatives, the groups all apply);
    ``since_us``/``until_us``: event time in ``[since, until)``; ``customer``: only events
    naming that customer in ``subjects``.
    """

    masks: tuple[int, ...] = ()
    since_us: int | None = None
    until_us: int | None = None
    customer: str | None = None


ALL: Final = AccessQuery()


class AccessIndexWriterMixin:
    """Writes of the facets and the customers; a base of :class:`~sentinelle.store.base.Writer`."""

    if TYPE_CHECKING:
        _store: Any
        _cur: Any

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
        def _load(self, table: str, columns: str, rows: Sequence[tuple[Any, ...]]) -> None: ...

    def index_accesses(self, subjects: Sequence[SubjectRow]) -> None:
        """Index the customers the access events stored in this transaction name: the rows
        :func:`subject_rows` gives for them."""
        self._load("access_subjects", "merchant, subject, seq", subjects)


class AccessIndexStoreMixin:
    """A merchant's access events through their facets and ``access_subjects``; a base of
    :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def merchant_accesses(
        self, merchant: str, *, before_seq: int, limit: int, query: AccessQuery = ALL
    ) -> list[tuple[int, str]]:
        """``(seq, body)`` of up to ``limit`` access events of ``merchant`` with seq below
        ``before_seq`` that ``query`` selects, newest first (by seq).

        A backward walk of the merchant's range of the events' ``(merchant, seq)`` index (or,
        for a customer, of its ``(merchant, customer, seq)`` key in ``access_subjects``),
        each row tested on its bits and time, stopping at ``limit``: a page costs in
        proportion to the rows it skips, never to the merchant's whole history unless the
        filters match almost nothing.
        """
        where = ["e.facets IS NOT NULL"]  # access events (context events have none)
        params: list[object] = []
        if query.customer is not None:
            source = "access_subjects s JOIN events e ON e.seq = s.seq"
            where[:0] = ["s.merchant = ?", "s.subject = ?", "s.seq < ?"]
            params += [merchant, query.customer, before_seq]
            order = "s.seq"
        else:
            source = "events e"
            where[:0] = ["e.merchant = ?", "e.seq < ?"]
            params += [merchant, before_seq]
            order = "e.seq"
        if query.since_us is not None:
            where.append("e.time_us >= ?")
            params.append(query.since_us)
        if query.until_us is not None:
            where.append("e.time_us < ?")
            params.append(query.until_us)
        for bits in query.masks:
            where.append("(e.facets & ?) <> 0")
            params.append(bits)
        params.append(limit)
        # Only fixed condition texts and placeholders are joined; values are parameters.
        rows = self._x(
            f"SELECT {order}, e.body FROM {source} "  # noqa: S608
            f"WHERE {' AND '.join(where)} ORDER BY {order} DESC LIMIT ?",
            params,
        )
        return [(int(r[0]), r[1]) for r in rows]


def sql_case(expr: str, bits: Mapping[str, int]) -> str:
    """SQL giving the bit of ``expr``'s value in ``bits`` (0 for any other value). Only
    constants of this package enter it."""
    whens = " ".join(f"WHEN '{name}' THEN {bit}" for name, bit in bits.items())
    return f"(CASE {expr} {whens} ELSE 0 END)"


def categories_sql(dialect: str) -> str:
    """SQL giving the :data:`CATEGORY_BITS` of a stored event's ``data`` (on PostgreSQL from
    its JSON as ``j``, on SQLite from ``body``): what the migrations' backfills compute."""
    if dialect == "postgresql":
        return (
            "(SELECT coalesce(sum(DISTINCT "  # noqa: S608
            + sql_case("c", CATEGORY_BITS)
            + "), 0) FROM jsonb_array_elements_text(j -> 'data') AS c)::bigint"
        )
    return (
        "(SELECT coalesce(sum(DISTINCT "  # noqa: S608
        + sql_case("value", CATEGORY_BITS)
        + "), 0) FROM json_each(body, '$.data'))"
    )


def backfill_sql(dialect: str) -> str:
    """Migration 22's statements that index the access events already stored, computing the
    same bits as :func:`facets_of` from the stored JSON into ``events.facets`` (``dialect``:
    sqlite or postgresql).

    Only this module's constants (value names, bits, action names) enter the SQL text.
    """
    pg = dialect == "postgresql"

    def field(path: str) -> str:
        if pg:
            parts = path.split(".")
            return "j" + "".join(f" -> '{p}'" for p in parts[:-1]) + f" ->> '{parts[-1]}'"
        return f"json_extract(body, '$.{path}')"

    justified = (
        f"(CASE WHEN {field('justification.ticket')} IS NOT NULL "
        f"OR {field('justification.grant')} IS NOT NULL "
        f"THEN {JUSTIFIED_BITS[True]} ELSE {JUSTIFIED_BITS[False]} END)"
    )
    categories = categories_sql(dialect)
    facets = " | ".join(
        [
            sql_case(field("actor.kind"), KIND_BITS),
            sql_case("action", ACTION_BITS),
            sql_case(field("outcome"), OUTCOME_BITS),
            justified,
            categories,
        ]
    )
    actions = ", ".join(f"'{a}'" for a in ACCESS_ACTIONS)
    if pg:
        facets_sql = (
            f"UPDATE events SET facets = {facets} FROM (SELECT seq AS pseq, body::jsonb AS j "  # noqa: S608
            f"FROM events WHERE action IN ({actions})) AS parsed WHERE seq = parsed.pseq"
        )
        subjects = (
            "INSERT INTO access_subjects (merchant, subject, seq) SELECT DISTINCT merchant, s, "  # noqa: S608
            "seq FROM events CROSS JOIN LATERAL jsonb_array_elements_text("
            "CASE WHEN jsonb_typeof(body::jsonb -> 'subjects') = 'array' "
            "THEN body::jsonb -> 'subjects' ELSE '[]'::jsonb END) AS s "
            f"WHERE action IN ({actions})"
        )
    else:
        facets_sql = f"UPDATE events SET facets = {facets} WHERE action IN ({actions})"  # noqa: S608
        subjects = (
            "INSERT INTO access_subjects (merchant, subject, seq) SELECT DISTINCT merchant, "  # noqa: S608
            "j.value, seq FROM events, json_each(events.body, '$.subjects') AS j "
            f"WHERE action IN ({actions})"
        )
    return f"{facets_sql};\n{subjects}"
