"""The console's pages, one module per area; :data:`ROUTERS` lists their routers."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from sentinelle.web.pages import actors, alerts, grants, home, incidents, integrations, records

__all__ = ["ROUTERS", "STATIC"]

STATIC: Final = Path(__file__).parent.parent / "static"
ROUTERS: Final = (
    home.router,
    alerts.router,
    actors.router,
    integrations.router,
    incidents.router,
    records.router,
    grants.router,
    grants.links,  # public: an e-mail link's token is its proof (no session)
)
