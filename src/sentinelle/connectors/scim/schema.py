"""The SCIM 2.0 schemas Sentinelle serves (RFC 7643): the core User and Group, the enterprise
User extension, and which of their attributes are kept.

Every attribute of these schemas is *defined*: a filter or a PATCH path may name it (an
attribute that is not defined is refused, ``invalidFilter`` or ``invalidPath``). Only a few are
*kept*: ``id``, ``externalId``, ``userName``, ``active``, a group's ``displayName`` and
``members``, and the attributes the mapping reads (:mod:`.mapping`). The others (names,
e-mails, phone numbers, addresses, passwords…) are accepted and dropped: never stored, never
returned (``returned: never`` in ``/Schemas``), and a filter on one matches nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "CORE_GROUP",
    "CORE_USER",
    "ENTERPRISE",
    "ERROR",
    "GROUP_ATTRIBUTES",
    "LIST_RESPONSE",
    "PATCH_OP",
    "RESOURCE_TYPE",
    "SCHEMA",
    "SERVICE_PROVIDER_CONFIG",
    "USER_ATTRIBUTES",
    "Attribute",
    "find",
    "schema_document",
]

CORE_USER: Final = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP: Final = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE: Final = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_RESPONSE: Final = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP: Final = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR: Final = "urn:ietf:params:scim:api:messages:2.0:Error"
SERVICE_PROVIDER_CONFIG: Final = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE: Final = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA: Final = "urn:ietf:params:scim:schemas:core:2.0:Schema"


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute of a schema (RFC 7643 §7), as ``/Schemas`` describes it. ``schema`` is
    the URN it belongs to; ``kept`` says whether Sentinelle stores it (and so returns it)."""

    name: str
    schema: str
    type: str = "string"
    multi: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    required: bool = False
    uniqueness: str = "none"
    kept: bool = False
    sub: tuple[Attribute, ...] = ()
    description: str = ""

    def child(self, name: str) -> Attribute | None:
        """The sub-attribute ``name`` (case-insensitive), if defined."""
        low = name.lower()
        return next((s for s in self.sub if s.name.lower() == low), None)

    def to_dict(self, kept: Iterable[str] = ()) -> dict[str, Any]:
        """The RFC 7643 §7 description; ``kept`` adds the mapped attributes to those kept."""
        stored = self.kept or self.name in kept
        found: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi,
            "description": self.description
            or ("Kept." if stored else "Accepted and not kept: never stored nor returned."),
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": ("always" if self.name == "id" else "default") if stored else "never",
            "uniqueness": self.uniqueness,
        }
        if self.sub:
            found["subAttributes"] = [s.to_dict(kept if stored else ()) for s in self.sub]
        if self.type == "reference":
            found["referenceTypes"] = ["external"] if self.name == "profileUrl" else ["uri"]
        return found


def _subs(schema: str, *names: str, kept: bool = False) -> tuple[Attribute, ...]:
    return tuple(
        Attribute(n, schema, type="boolean" if n == "primary" else "string", kept=kept)
        for n in names
    )


def _multi(schema: str, name: str, *extra: str) -> Attribute:
    """A multi-valued attribute of (value, display, type, primary) like ``emails``."""
    return Attribute(
        name,
        schema,
        type="complex",
        multi=True,
        sub=_subs(schema, "value", "display", "type", "primary", *extra),
    )


_U: Final = CORE_USER
_E: Final = ENTERPRISE
_G: Final = CORE_GROUP

#: Common attributes (RFC 7643 §3.1), of every resource.
_COMMON: Final = (
    Attribute(
        "id",
        "",
        case_exact=True,
        mutability="readOnly",
        uniqueness="server",
        kept=True,
        description="Sentinelle's id of the resource.",
    ),
    Attribute(
        "externalId",
        "",
        case_exact=True,
        kept=True,
        description="The identity provider's id of the resource. Kept.",
    ),
    Attribute(
        "meta",
        "",
        type="complex",
        mutability="readOnly",
        kept=True,
        sub=(
            Attribute("resourceType", "", mutability="readOnly", case_exact=True, kept=True),
            Attribute("created", "", type="dateTime", mutability="readOnly", kept=True),
            Attribute("lastModified", "", type="dateTime", mutability="readOnly", kept=True),
            Attribute("location", "", type="reference", mutability="readOnly", kept=True),
            Attribute("version", "", mutability="readOnly", case_exact=True, kept=True),
        ),
    ),
)

USER_ATTRIBUTES: Final[tuple[Attribute, ...]] = (
    Attribute(
        "userName",
        _U,
        required=True,
        uniqueness="server",
        kept=True,
        description="Unique (case-insensitive). Kept: the identity provider finds its users by it.",
    ),
    Attribute(
        "name",
        _U,
        type="complex",
        sub=_subs(
            _U,
            "formatted",
            "familyName",
            "givenName",
            "middleName",
            "honorificPrefix",
            "honorificSuffix",
        ),
    ),
    Attribute("displayName", _U),
    Attribute("nickName", _U),
    Attribute("profileUrl", _U, type="reference"),
    Attribute("title", _U),
    Attribute("userType", _U),
    Attribute("preferredLanguage", _U),
    Attribute("locale", _U),
    Attribute("timezone", _U),
    Attribute(
        "active",
        _U,
        type="boolean",
        kept=True,
        description="Kept. false (or a DELETE) is a leaver: a staff.left event.",
    ),
    Attribute("password", _U, mutability="writeOnly", case_exact=True),
    _multi(_U, "emails"),
    _multi(_U, "phoneNumbers"),
    _multi(_U, "ims"),
    _multi(_U, "photos"),
    Attribute(
        "addresses",
        _U,
        type="complex",
        multi=True,
        sub=_subs(
            _U,
            "formatted",
            "streetAddress",
            "locality",
            "region",
            "postalCode",
            "country",
            "type",
            "primary",
        ),
    ),
    Attribute(
        "groups",
        _U,
        type="complex",
        multi=True,
        mutability="readOnly",
        kept=True,
        sub=_subs(_U, "value", "$ref", "display", "type", kept=True),
        description="The groups the user is a member of (change them through /Groups). Kept.",
    ),
    _multi(_U, "entitlements"),
    _multi(_U, "roles"),
    _multi(_U, "x509Certificates"),
    Attribute("employeeNumber", _E),
    Attribute("costCenter", _E),
    Attribute("organization", _E),
    Attribute("division", _E),
    Attribute("department", _E),
    Attribute("manager", _E, type="complex", sub=_subs(_E, "value", "$ref", "displayName")),
)

GROUP_ATTRIBUTES: Final[tuple[Attribute, ...]] = (
    Attribute("displayName", _G, required=True, kept=True, description="Kept."),
    Attribute(
        "members",
        _G,
        type="complex",
        multi=True,
        kept=True,
        sub=_subs(_G, "value", "$ref", "display", "type", kept=True),
        description="Users only (nested groups are refused). Kept: their ids.",
    ),
)

_BY_RESOURCE: Final = {"User": (_U, USER_ATTRIBUTES), "Group": (_G, GROUP_ATTRIBUTES)}


def find(resource: str, schema: str | None, name: str) -> Attribute | None:
    """The attribute ``name`` of ``resource`` (``User`` or ``Group``), case-insensitive.
    ``schema`` is the URN the name was qualified with (``None``: the core schema, then the
    extension). Common attributes belong to every schema."""
    core, attributes = _BY_RESOURCE[resource]
    low = name.lower()
    for common in _COMMON:
        if common.name.lower() == low and (schema is None or schema.lower() == core.lower()):
            return common
    wanted = None if schema is None else schema.lower()
    found = [a for a in attributes if a.name.lower() == low]
    if wanted is not None:
        return next((a for a in found if a.schema.lower() == wanted), None)
    return next((a for a in found if a.schema == core), found[0] if found else None)


def schema_document(urn: str, *, kept: Iterable[str] = ()) -> dict[str, Any]:
    """The ``/Schemas`` resource of ``urn`` (RFC 7643 §7); ``kept``: the attributes the
    mapping reads, which are kept too."""
    names = {CORE_USER: "User", CORE_GROUP: "Group", ENTERPRISE: "EnterpriseUser"}
    owned = [
        a
        for a in (*USER_ATTRIBUTES, *GROUP_ATTRIBUTES)
        if a.schema == urn and not (urn == CORE_GROUP and a in USER_ATTRIBUTES)
    ]
    kept = tuple(kept)
    return {
        "schemas": [SCHEMA],
        "id": urn,
        "name": names[urn],
        "description": {
            CORE_USER: "User Account",
            CORE_GROUP: "Group",
            ENTERPRISE: "Enterprise User",
        }[urn],
        "attributes": [a.to_dict(kept) for a in owned],
        "meta": {"resourceType": "Schema", "location": f"/Schemas/{urn}"},
    }
