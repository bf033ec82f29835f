"""SCIM 2.0 service provider (RFC 7643, RFC 7644): identity providers (Okta, Microsoft Entra
ID, …) provision staff, and each joiner, team or role change and leaver becomes a ``staff.*``
context event in the ledger (docs/connectors.md, "Identity").

Start at :class:`ScimService` (the operations); :mod:`.resources` reads request bodies,
:mod:`.filter` parses filters and PATCH paths, :mod:`.mapping` says which attributes give the
staff id, team and role, :mod:`.schema` lists the schemas and what is kept.
"""

from __future__ import annotations

from sentinelle.connectors.scim.filter import FilterError, matches, parse_filter, parse_path
from sentinelle.connectors.scim.mapping import ScimMapping
from sentinelle.connectors.scim.resources import MAX_TEXT, ScimError
from sentinelle.connectors.scim.schema import CORE_GROUP, CORE_USER, ENTERPRISE, ERROR, PATCH_OP
from sentinelle.connectors.scim.service import (
    DEFAULT_COUNT,
    MAX_COUNT,
    ListQuery,
    ScimService,
    Written,
    etag,
    project,
)

__all__ = [
    "CORE_GROUP",
    "CORE_USER",
    "DEFAULT_COUNT",
    "ENTERPRISE",
    "ERROR",
    "MAX_COUNT",
    "MAX_TEXT",
    "PATCH_OP",
    "FilterError",
    "ListQuery",
    "ScimError",
    "ScimMapping",
    "ScimService",
    "Written",
    "etag",
    "matches",
    "parse_filter",
    "parse_path",
    "project",
]
