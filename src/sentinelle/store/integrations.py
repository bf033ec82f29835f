"""Storage of the inventory of apps, integrations and services (migration 21).

Which machines read customer data, what they read, where and since when must be answered
without reading the ledger. Ingest keeps two small tables beside ``events``, in the
transaction that stores the events (:func:`machine_uses`, then
:meth:`IntegrationWriterMixin.add_integrations`), so they always describe exactly the stored
access events of machines (``actor.kind`` ``app``, ``integration`` or ``service``) that
were allowed:

* ``integrations``: one row per machine: its kind, its first and latest access, and the data
  categories it ever read (a bit set, :data:`~sentinelle.store.accesses.CATEGORY_BITS`);
* ``integration_merchants``: one row per machine and merchant whose data it read: first and
  latest access there, records exposed there, categories read there. Keyed (actor, merchant),
  indexed (merchant, actor), so "how many merchants" and "which machines read this merchant"
  are key ranges.

A row is upserted per batch chunk (minimum of the first times, maximum of the latest, sum of
the records, union of the categories): a duplicate event is never counted (ingest passes only
the rows it inserted). Records per day come from the actors' daily rollup
(:mod:`sentinelle.store.activity`); alerts from the ``alerts`` table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from sentinelle.events import ACCESS_ACTIONS, AccessEvent
from sentinelle.store.accesses import CATEGORY_BITS, categories_sql
from sentinelle.store.activity import RISK_ALERT_COLUMNS, RiskAlertRow

if TYPE_CHECKING:
    from sentinelle.store.events import FacetedRow

__all__ = [
    "MACHINE_KINDS",
    "IntegrationRow",
    "IntegrationStoreMixin",
    "IntegrationWriterMixin",
    "MachineUses",
    "MerchantIntegrationRow",
    "backfill_sql",
    "categories",
    "machine_uses",
]

MACHINE_KINDS: Final = ("app", "integration", "service")
"""Actor kinds that are machines (``staff`` and ``merchant_user`` are people)."""


def categories(bits: int) -> list[str]:
    """The data categories of a bit set, in the schema's order."""
    return [name for name, bit in CATEGORY_BITS.items() if bits & bit]


class IntegrationRow(NamedTuple):
    """An ``integrations`` row and how many merchants' data the machine read."""

    actor: str
    kind: str
    first_us: int
    last_us: int
    data: int
    merchants: int


class MerchantIntegrationRow(NamedTuple):
    """An ``integration_merchants`` row (one machine at one merchant) with the machine's kind."""

    actor: str
    kind: str
    first_us: int
    last_us: int
    records: int
    data: int


class MachineUses(NamedTuple):
    """What machines' allowed accesses add to the inventory (:func:`machine_uses`), summed up
    as ingest goes: lists, not structs, as ingest updates one per event."""

    actors: dict[str, list[Any]]
    """actor → [kind, first, last, data]"""
    pairs: dict[tuple[str, str], list[int]]
    """(actor, merchant) → [first, last, records, data]"""


def machine_uses(rows: Sequence[FacetedRow], events: Sequence[object]) -> MachineUses:
    """The allowed access events of machines among ``rows`` (``events`` their decoded events,
    in the same order), gathered per machine and per machine and merchant.

    On ingest's hot path: a person's event costs a type and a kind test.
    """
    actors: dict[str, list[Any]] = {}
    pairs: dict[tuple[str, str], list[int]] = {}
    for row, event in zip(rows, events, strict=True):
        if type(event) is not AccessEvent or event.actor.kind not in MACHINE_KINDS:
            continue
        if event.outcome != "allowed":
            continue
        t = row[2]
        data = 0
        for category in event.data:
            data |= CATEGORY_BITS[category]
        count = event.records()
        actor = event.actor.id
        known = actors.get(actor)
        if known is None:
            actors[actor] = [event.actor.kind, t, t, data]
        else:
            known[0] = event.actor.kind
            known[1], known[2], known[3] = min(known[1], t), max(known[2], t), known[3] | data
        pair = pairs.get((actor, event.merchant))
        if pair is None:
            pairs[(actor, event.merchant)] = [t, t, count, data]
        else:
            pair[0], pair[1] = min(pair[0], t), max(pair[1], t)
            pair[2] += count
            pair[3] |= data
    return MachineUses(actors, pairs)


class IntegrationWriterMixin:
    """Inventory writes of one transaction; a base of :class:`~sentinelle.store.base.Writer`."""

    if TYPE_CHECKING:
        _store: Any
        _cur: Any

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def add_integrations(self, uses: MachineUses) -> None:
        """Add to the inventory what :func:`machine_uses` found in access events stored in
        this transaction."""
        actors, pairs = uses
        if not actors:
            return
        self._upsert(
            "integrations",
            ("actor", "kind", "first_us", "last_us", "data"),
            [(a, *v) for a, v in actors.items()],
            ("text", "text", "bigint", "bigint", "bigint"),
            "kind = excluded.kind, ",
        )
        self._upsert(
            "integration_merchants",
            ("actor", "merchant", "first_us", "last_us", "records", "data"),
            [(a, m, *v) for (a, m), v in pairs.items()],
            ("text", "text", "bigint", "bigint", "bigint", "bigint"),
            "records = {t}.records + excluded.records, ",
        )

    def _upsert(
        self,
        table: str,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
        types: tuple[str, ...],
        extra: str,
    ) -> None:
        pg = self._store.dialect == "postgresql"
        least, greatest = ("LEAST", "GREATEST") if pg else ("min", "max")
        key = "actor" if table == "integrations" else "actor, merchant"
        # Only this module's fixed table and column names enter the SQL text.
        update = (
            f"ON CONFLICT ({key}) DO UPDATE SET {extra.format(t=table)}"
            f"first_us = {least}({table}.first_us, excluded.first_us), "
            f"last_us = {greatest}({table}.last_us, excluded.last_us), "
            f"data = {table}.data | excluded.data"
        )
        names = ", ".join(columns)
        if pg:  # one statement, the rows as arrays: executemany is a round trip per row
            arrays = ", ".join(f"?::{t}[]" for t in types)
            self._x(
                f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {update}",  # noqa: S608
                [list(column) for column in zip(*rows, strict=True)],
            )
            return
        marks = ", ".join("?" * len(columns))
        self._cur.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({marks}) {update}",  # noqa: S608
            rows,
        )


class IntegrationStoreMixin:
    """Inventory reads; a base of :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def integrations(self) -> list[IntegrationRow]:
        """Every machine that read customer data, by id, with its merchant count (a range of
        the ``integration_merchants`` key each)."""
        rows = self._x(
            "SELECT i.actor, i.kind, i.first_us, i.last_us, i.data, "
            "(SELECT count(*) FROM integration_merchants m WHERE m.actor = i.actor) "
            "FROM integrations i ORDER BY i.actor"
        )
        return [IntegrationRow(r[0], r[1], *(int(v) for v in r[2:])) for r in rows]

    def merchant_integrations(self, merchant: str) -> list[MerchantIntegrationRow]:
        """The machines that read ``merchant``'s data, by id, with what they did there."""
        rows = self._x(
            "SELECT m.actor, i.kind, m.first_us, m.last_us, m.records, m.data "
            "FROM integration_merchants m JOIN integrations i ON i.actor = m.actor "
            "WHERE m.merchant = ? ORDER BY m.actor",
            (merchant,),
        )
        return [MerchantIntegrationRow(r[0], r[1], *(int(v) for v in r[2:])) for r in rows]

    def records_by_day(
        self, actors: Sequence[str], first_day: int, last_day: int
    ) -> dict[str, dict[int, int]]:
        """Records exposed per UTC day in ``[first_day, last_day]`` by each of ``actors``
        (their days without accesses left out), from the daily rollup."""
        found: dict[str, dict[int, int]] = {}
        for i in range(0, len(actors), 500):
            part = list(actors[i : i + 500])
            # Only placeholders are interpolated; every value is a parameter.
            rows = self._x(
                "SELECT actor, day, records FROM actor_days "  # noqa: S608
                f"WHERE actor IN ({','.join('?' * len(part))}) AND day >= ? AND day <= ?",
                (*part, first_day, last_day),
            )
            for r in rows:
                found.setdefault(r[0], {})[int(r[1])] = int(r[2])
        return found

    def integration_alerts(self, actors: Sequence[str], since_us: int) -> list[RiskAlertRow]:
        """The alerts of ``actors`` triggered at or after ``since_us``, newest first, without
        their events, merchants or reasons (one range of the (actor, time) index each)."""
        found: list[RiskAlertRow] = []
        for i in range(0, len(actors), 500):
            part = list(actors[i : i + 500])
            # Only placeholders are interpolated; every value is a parameter.
            rows = self._x(
                f"SELECT {RISK_ALERT_COLUMNS} FROM alerts "  # noqa: S608
                f"WHERE actor IN ({','.join('?' * len(part))}) AND time_us >= ?",
                (*part, since_us),
            )
            found += [RiskAlertRow.of(r) for r in rows]
        found.sort(key=lambda a: (a.time_us, a.id), reverse=True)
        return found


def backfill_sql(dialect: str) -> str:
    """Migration 21's statements that fill the inventory from the events already stored,
    computing what :meth:`IntegrationWriterMixin.add_integrations` computes (``dialect``:
    sqlite or postgresql). Only this module's constants enter the SQL text."""
    pg = dialect == "postgresql"

    data = categories_sql(dialect)
    kinds = ", ".join(f"'{k}'" for k in MACHINE_KINDS)
    actions = ", ".join(f"'{a}'" for a in ACCESS_ACTIONS)
    if pg:
        kind, outcome = "j -> 'actor' ->> 'kind'", "j ->> 'outcome'"
        count = "coalesce((j -> 'resource' ->> 'count')::bigint, "
        count += "jsonb_array_length(CASE WHEN jsonb_typeof(j -> 'subjects') = 'array' "
        count += "THEN j -> 'subjects' END), 1)"
        source = "events CROSS JOIN LATERAL (SELECT body::jsonb AS j) AS parsed"
        union = "bit_or(data)"
    else:
        kind, outcome = "json_extract(body, '$.actor.kind')", "json_extract(body, '$.outcome')"
        count = "coalesce(json_extract(body, '$.resource.count'), "
        count += "json_array_length(body, '$.subjects'), 1)"
        source = "events"
        # SQLite has no bitwise-or aggregate: the union of the bits, one bit at a time.
        union = " | ".join(f"max(data & {bit})" for bit in CATEGORY_BITS.values())
    machines = (
        f"SELECT actor, merchant, time_us, {kind} AS kind, {count} AS records, {data} AS data "  # noqa: S608
        f"FROM {source} WHERE action IN ({actions}) AND {kind} IN ({kinds}) "
        f"AND {outcome} = 'allowed'"
    )
    return (
        "INSERT INTO integration_merchants (actor, merchant, first_us, last_us, records, data) "  # noqa: S608
        f"SELECT actor, merchant, min(time_us), max(time_us), sum(records), {union} "
        f"FROM ({machines}) AS e GROUP BY actor, merchant;\n"
        "INSERT INTO integrations (actor, kind, first_us, last_us, data) "
        f"SELECT actor, max(kind), min(time_us), max(time_us), {union} "
        f"FROM ({machines}) AS e GROUP BY actor"
    )
