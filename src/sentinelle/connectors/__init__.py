"""Help-desk connectors: webhooks and export files of Zendesk, Freshdesk, Jira Service
Management and Gorgias → ``ticket.opened|assigned|closed`` context events (docs/connectors.md).

Start at :class:`Receiver` (checks a request, maps its body; reads export files); each vendor's
module has ``verify`` and ``map``; :mod:`.base` has the mapping file and the errors.
"""

from __future__ import annotations

from sentinelle.connectors.base import (
    MAX_BODY_BYTES,
    SECRET_HEADER,
    VENDOR_NAMES,
    History,
    MappingConfig,
    MappingError,
    SignatureError,
    VendorMapping,
    ticket_history,
)
from sentinelle.connectors.receiver import (
    BACKFILLS,
    VENDORS,
    NotConfiguredError,
    Receiver,
    encode,
    records,
)

__all__ = [
    "BACKFILLS",
    "MAX_BODY_BYTES",
    "SECRET_HEADER",
    "VENDORS",
    "VENDOR_NAMES",
    "History",
    "MappingConfig",
    "MappingError",
    "NotConfiguredError",
    "Receiver",
    "SignatureError",
    "VendorMapping",
    "encode",
    "records",
    "ticket_history",
]
