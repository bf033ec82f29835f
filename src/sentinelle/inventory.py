"""The inventory of apps, integrations and services: which machines read customer data, what
they read, how much, where and since when, and their alerts.

Everything comes from the tables ingest keeps (:mod:`sentinelle.store.integrations` for the
machines, their categories and merchants; the actors' daily rollup,
:mod:`sentinelle.store.activity`, for records per day) and from the alerts, so a listing costs
in proportion to the number of machines, never to the number of stored events.
``/v1/integrations``, ``/v1/merchants/{merchant}/integrations`` and the console's
``/integrations`` page call it.

* **recent**: records exposed per day over the :data:`RECENT_DAYS` UTC days up to and including
  the day of ``now`` (days without accesses count as zero);
* **usual**: the median of the records of the days the machine was active among the
  :data:`USUAL_DAYS` before those, given once it has :data:`USUAL_MIN_DAYS` such days (a
  machine's days off are not zeros, as for staff in :mod:`sentinelle.actors`);
* **alerts**: of the last :data:`ALERT_DAYS` days, newest first (at most :data:`MAX_ALERTS`
  listed; ``open_alerts`` counts those still new or acknowledged).

A merchant's view (:func:`merchant_inventory`) shows only what the machines did with that
merchant's data: categories, first and latest access, records there; never their figures
across other merchants, nor their alerts (a merchant reads no alerts).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Final

from sentinelle.detect import Severity
from sentinelle.store import Store
from sentinelle.store.integrations import categories
from sentinelle.timeutil import DAY

__all__ = [
    "ALERT_DAYS",
    "MAX_ALERTS",
    "RECENT_DAYS",
    "USUAL_DAYS",
    "USUAL_MIN_DAYS",
    "Integration",
    "IntegrationAlert",
    "MerchantIntegration",
    "inventory",
    "merchant_inventory",
]

RECENT_DAYS: Final = 7
USUAL_DAYS: Final = 28
USUAL_MIN_DAYS: Final = 5
ALERT_DAYS: Final = 30
MAX_ALERTS: Final = 5
_OPEN: Final = frozenset({"new", "acknowledged"})


@dataclass(frozen=True, slots=True)
class IntegrationAlert:
    """An alert about the machine, as the inventory lists it (whole at ``/v1/alerts/{id}``)."""

    id: str
    detector: str
    severity: Severity
    status: str
    time_us: int


@dataclass(frozen=True, slots=True)
class Integration:
    """One machine in the inventory (see the module docstring for the figures)."""

    actor: str
    kind: str
    categories: tuple[str, ...]
    merchants: int  # merchants whose data it read, ever
    first_us: int
    last_us: int
    recent: float  # records a day, last RECENT_DAYS days
    usual: float | None  # median records an active day, the USUAL_DAYS before; None: unknown
    alerts: tuple[IntegrationAlert, ...]
    alerts_total: int
    open_alerts: int

    @property
    def ratio(self) -> float | None:
        """Recent over usual (``None`` while the usual is not known or is zero)."""
        return self.recent / self.usual if self.usual else None


@dataclass(frozen=True, slots=True)
class MerchantIntegration:
    """One machine that read a merchant's data, as that merchant sees it."""

    actor: str
    kind: str
    categories: tuple[str, ...]
    first_us: int
    last_us: int
    records: int  # records of this merchant it exposed, since its first access there


def inventory(store: Store, *, now_us: int) -> list[Integration]:
    """Every machine that read customer data, by id, with its figures at ``now_us``."""
    rows = store.integrations()
    if not rows:
        return []
    today = now_us // DAY
    first_recent = today - RECENT_DAYS + 1
    first_usual = first_recent - USUAL_DAYS
    actors = [r.actor for r in rows]
    days = store.records_by_day(actors, first_usual, today)
    alerts: dict[str, list[IntegrationAlert]] = {}
    for a in store.integration_alerts(actors, now_us - ALERT_DAYS * DAY):
        alerts.setdefault(a.actor, []).append(
            IntegrationAlert(a.id, a.detector, Severity(a.severity), a.status, a.time_us)
        )
    found = []
    for r in rows:
        mine = days.get(r.actor, {})
        recent = sum(v for d, v in mine.items() if d >= first_recent) / RECENT_DAYS
        before = [v for d, v in mine.items() if d < first_recent]
        usual = statistics.median(before) if len(before) >= USUAL_MIN_DAYS else None
        listed = alerts.get(r.actor, [])
        found.append(
            Integration(
                actor=r.actor,
                kind=r.kind,
                categories=tuple(categories(r.data)),
                merchants=r.merchants,
                first_us=r.first_us,
                last_us=r.last_us,
                recent=recent,
                usual=None if usual is None else float(usual),
                alerts=tuple(listed[:MAX_ALERTS]),
                alerts_total=len(listed),
                open_alerts=sum(1 for a in listed if a.status in _OPEN),
            )
        )
    return found


def merchant_inventory(store: Store, merchant: str) -> list[MerchantIntegration]:
    """The machines that read ``merchant``'s data, by id, with what they did with it."""
    return [
        MerchantIntegration(
            actor=r.actor,
            kind=r.kind,
            categories=tuple(categories(r.data)),
            first_us=r.first_us,
            last_us=r.last_us,
            records=r.records,
        )
        for r in store.merchant_integrations(merchant)
    ]
