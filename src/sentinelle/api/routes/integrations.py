"""``/v1/integrations``: the inventory of apps, integrations and services (permission
``alerts:read``: the people and tools who read alerts, never a merchant), and
``/v1/merchants/{merchant}/integrations``: the machines that read one merchant's data, as that
merchant may see them (permission ``merchant:accesses``: a merchant key, its own only).

Figures are defined in :mod:`sentinelle.inventory`. Machines are identifiers and data
categories are names; nothing here names a customer. Times are RFC 3339 in UTC.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict

from sentinelle import inventory
from sentinelle.access import Permission
from sentinelle.api.deps import GuardedRoute, Reader, StateDep, guarded, reading
from sentinelle.timeutil import iso

__all__ = ["merchant_router", "router"]

router = APIRouter(prefix="/v1/integrations", tags=["integrations"], route_class=GuardedRoute)
merchant_router = APIRouter(prefix="/v1/merchants", tags=["merchants"], route_class=GuardedRoute)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntegrationAlertOut(_Out):
    """An alert about the machine (the whole alert: ``GET /v1/alerts/{id}``)."""

    id: str
    detector: str
    severity: str
    status: str
    time: str


class IntegrationOut(_Out):
    """A machine: its kind, the data categories it ever read, how many merchants' data, since
    when and until when; ``recent``: records a day over the last 7 days; ``usual``: the median
    records of its active days among the 28 before (``null`` with fewer than 5); its alerts of
    the last 30 days (newest first, at most 5; ``alerts_total`` counts them, ``open_alerts``
    those still new or acknowledged)."""

    actor: str
    kind: str
    categories: list[str]
    merchants: int
    first_seen: str
    last_seen: str
    recent_records_per_day: float
    usual_records_per_day: float | None
    alerts: list[IntegrationAlertOut]
    alerts_total: int
    open_alerts: int


class InventoryOut(_Out):
    """Every machine that read customer data, by id, as of ``as_of``."""

    as_of: str
    items: list[IntegrationOut]


class MerchantIntegrationOut(_Out):
    """A machine that read the merchant's data: the categories it read there, since when and
    until when, and the records of the merchant it exposed."""

    actor: str
    kind: str
    categories: list[str]
    first_seen: str
    last_seen: str
    records: int


class MerchantInventoryOut(_Out):
    """The machines that read the merchant's data, by id."""

    merchant: str
    items: list[MerchantIntegrationOut]


@router.get("", **guarded(Permission.ALERTS_READ))
async def list_integrations(state: StateDep) -> InventoryOut:
    """Every app, integration and service that read customer data: what, how much, since
    when, and its recent alerts. From the inventory tables and the daily rollup: the cost
    follows the number of machines, not of events."""
    now = state.clock()

    def work(r: Reader) -> InventoryOut:
        found = inventory.inventory(r.store, now_us=now)
        return InventoryOut(as_of=iso(now), items=[_out(i) for i in found])

    return await reading(state, work)


@merchant_router.get("/{merchant}/integrations", **guarded(Permission.MERCHANT_ACCESSES))
async def merchant_integrations(
    state: StateDep, merchant: Annotated[str, Path(min_length=1, max_length=200)]
) -> MerchantInventoryOut:
    """The apps, integrations and services that read ``merchant``'s data, and what they did
    with it (not with other merchants' data). A merchant key reaches only its own."""

    def work(r: Reader) -> MerchantInventoryOut:
        return MerchantInventoryOut(
            merchant=merchant,
            items=[
                MerchantIntegrationOut(
                    actor=m.actor,
                    kind=m.kind,
                    categories=list(m.categories),
                    first_seen=iso(m.first_us),
                    last_seen=iso(m.last_us),
                    records=m.records,
                )
                for m in inventory.merchant_inventory(r.store, merchant)
            ],
        )

    return await reading(state, work)


def _out(i: inventory.Integration) -> IntegrationOut:
    return IntegrationOut(
        actor=i.actor,
        kind=i.kind,
        categories=list(i.categories),
        merchants=i.merchants,
        first_seen=iso(i.first_us),
        last_seen=iso(i.last_us),
        recent_records_per_day=round(i.recent, 1),
        usual_records_per_day=None if i.usual is None else round(i.usual, 1),
        alerts=[
            IntegrationAlertOut(
                id=a.id,
                detector=a.detector,
                severity=str(a.severity),
                status=a.status,
                time=iso(a.time_us),
            )
            for a in i.alerts
        ],
        alerts_total=i.alerts_total,
        open_alerts=i.open_alerts,
    )
