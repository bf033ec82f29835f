"""SCIM request bodies (RFC 7643 resources, RFC 7644 PatchOp) read into what Sentinelle keeps
of a user or a group, and the SCIM errors a request can get.

Reading keeps only the kept attributes (:mod:`.schema`): ``userName``, ``externalId``,
``active`` and the attributes the mapping reads of a user, ``displayName``, ``externalId`` and
the member ids of a group; everything else is dropped here. Attribute names are
case-insensitive (RFC 7643 §2.1), PATCH ``op`` too (Entra sends ``Replace``), and a PATCH may
name its target in ``path`` (``emails[type eq "work"].value``, ``members[value eq "…"]``) or
give a map of attributes without one (Okta's ``{"op": "replace", "value": {"active":
false}}``; Entra's ``"name.givenName"`` and ``"urn:…:enterprise:2.0:User:department"`` keys).
A request that cannot be read raises :class:`ScimError` naming the attribute; nothing of it is
applied (every operation works on a copy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from sentinelle.connectors.scim.filter import FilterError, PatchPath, matches, parse_path
from sentinelle.connectors.scim.mapping import SOURCES, ScimMapping
from sentinelle.connectors.scim.schema import CORE_GROUP, CORE_USER, ENTERPRISE, ERROR, PATCH_OP
from sentinelle.errors import Error

__all__ = [
    "MAX_TEXT",
    "GroupDraft",
    "ScimError",
    "UserDraft",
    "group_from_body",
    "patch_group",
    "patch_user",
    "user_from_body",
]

#: The longest userName, externalId or group name kept (longer: 400 invalidValue).
MAX_TEXT: Final = 256
_OPS: Final = ("add", "replace", "remove")
_READ_ONLY: Final = frozenset({"id", "meta", "groups"})


class ScimError(Error):
    """A SCIM error response (RFC 7644 §3.12): ``status``, maybe a ``scim_type``
    (``invalidValue``, ``invalidSyntax``, ``invalidFilter``, ``invalidPath``, ``noTarget``,
    ``mutability``, ``uniqueness``) and a ``detail`` naming the attribute."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        super().__init__(detail)

    def to_dict(self) -> dict[str, Any]:
        """The error's JSON body."""
        found: dict[str, Any] = {"schemas": [ERROR], "status": str(self.status)}
        if self.scim_type:
            found["scimType"] = self.scim_type
        found["detail"] = self.detail
        return found


def _invalid(detail: str, scim_type: str = "invalidValue") -> ScimError:
    return ScimError(400, detail, scim_type)


@dataclass(slots=True)
class UserDraft:
    """What is kept of a user, being read or patched: ``attrs`` holds the raw values of the
    attributes the mapping reads (by attribute name, ``department``)."""

    user_name: str
    external_id: str | None = None
    active: bool = True
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class GroupDraft:
    """What is kept of a group: its name, ``externalId`` and member user ids (in order)."""

    display_name: str
    external_id: str | None = None
    members: list[str] = field(default_factory=list)


# -- values ------------------------------------------------------------------------------------


def _lower(body: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in body.items()}


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _invalid(f"{what} must be a JSON object", "invalidSyntax")
    return body


def _schemas(body: Mapping[str, Any], wanted: str) -> None:
    schemas = _lower(body).get("schemas")
    if not isinstance(schemas, list) or wanted.lower() not in {
        s.lower() for s in schemas if isinstance(s, str)
    }:
        raise _invalid(f"schemas: must be a list holding {wanted!r}")


def _text(value: Any, name: str, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _invalid(f"{name}: required (a non-empty string)")
        return None
    if not isinstance(value, str):
        raise _invalid(f"{name}: must be a string, not {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise _invalid(f"{name}: longer than {MAX_TEXT} characters")
    return value.strip()


def _bool(value: Any, name: str) -> bool:
    # Entra has sent booleans as the strings "True" and "False".
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _invalid(f"{name}: must be true or false, not {value!r}")


def _qualified(name: str) -> str:
    """How an error names a mapped attribute: with its schema unless core."""
    schema = SOURCES.get(name, CORE_USER)
    return name if schema == CORE_USER else f"{schema}:{name}"


# -- users -------------------------------------------------------------------------------------


def user_from_body(body: Any, mapping: ScimMapping, *, current: UserDraft | None) -> UserDraft:
    """The user of a POST (``current`` None) or PUT body (replacing ``current``: kept
    attributes the body leaves out are cleared, but an ``active`` left out stays as it was).
    Raises :class:`ScimError`."""
    body = _object(body, "the body")
    _schemas(body, CORE_USER)
    fields = _lower(body)
    user_name = _text(fields.get("username"), "userName", required=True)
    assert user_name is not None  # noqa: S101 - required
    active = current.active if current is not None else True
    if fields.get("active") is not None:
        active = _bool(fields["active"], "active")
    extension = fields.get(ENTERPRISE.lower())
    if extension is not None and not isinstance(extension, dict):
        raise _invalid(f"{ENTERPRISE}: must be a JSON object")
    extension = _lower(extension or {})
    attrs = {}
    for name in mapping.kept:
        if SOURCES.get(name, ENTERPRISE) == CORE_USER:
            value = fields.get(name.lower())
        else:
            value = extension.get(name.lower(), fields.get(f"{ENTERPRISE}:{name}".lower()))
        text = _text(value, _qualified(name))
        if text is not None:
            attrs[name] = text
    return UserDraft(user_name, _text(fields.get("externalid"), "externalId"), active, attrs)


def patch_user(user: UserDraft, body: Any, mapping: ScimMapping) -> UserDraft:
    """``user`` after the PatchOp ``body`` (a copy; ``user`` is left as it was). Raises
    :class:`ScimError` naming the operation and the attribute."""
    found = replace(user, attrs=dict(user.attrs))
    for n, op, path, value in _operations(body):
        where = f"Operations[{n}]"
        if path is None:
            if op == "remove":
                raise ScimError(400, f"{where}: remove needs a path", "noTarget")
            for key, item in _value_map(value, where):
                _set_user(found, key, op, item, mapping, where)
        else:
            _set_user(found, path, op, value, mapping, where)
    return found


def _operations(body: Any) -> list[tuple[int, str, str | None, Any]]:
    body = _object(body, "the body")
    _schemas(body, PATCH_OP)
    operations = _lower(body).get("operations")
    if not isinstance(operations, list) or not operations:
        raise _invalid("Operations: must be a non-empty list")
    found = []
    for n, operation in enumerate(operations):
        where = f"Operations[{n}]"
        if not isinstance(operation, dict):
            raise _invalid(f"{where}: must be a JSON object")
        fields = _lower(operation)
        op = fields.get("op")
        if not isinstance(op, str) or op.lower() not in _OPS:
            raise _invalid(f"{where}.op: must be add, replace or remove, not {op!r}")
        path = fields.get("path")
        if path is not None and (not isinstance(path, str) or not path.strip()):
            raise _invalid(f"{where}.path: must be a non-empty string", "invalidPath")
        if op.lower() != "remove" and "value" not in fields:
            raise _invalid(f"{where}.value: required for {op.lower()}")
        found.append((n, op.lower(), path.strip() if path else None, fields.get("value")))
    return found


def _value_map(value: Any, where: str) -> list[tuple[str, Any]]:
    """A path-less operation's attributes as ``(path, value)``; an extension's object
    (``{"urn:…:enterprise:2.0:User": {"department": …}}``) gives qualified paths."""
    if not isinstance(value, dict):
        raise _invalid(f"{where}.value: without a path, must be a JSON object of attributes")
    found = []
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise _invalid(f"{where}.value: attribute names must be strings", "invalidPath")
        if key.lower() in (ENTERPRISE.lower(), CORE_USER.lower(), CORE_GROUP.lower()):
            if not isinstance(item, dict):
                raise _invalid(f"{where}.value.{key}: must be a JSON object")
            found += [(f"{key}:{k}", v) for k, v in item.items()]
        elif key.lower() != "schemas":
            found.append((key, item))
    return found


def _path(text: str, resource: str, where: str) -> PatchPath | None:
    """The parsed path; ``None`` for an attribute of a schema Sentinelle does not define (an
    identity provider's own extension: dropped, as its attributes are in a POST)."""
    known = (CORE_USER, CORE_GROUP, ENTERPRISE)
    if text.lower().startswith("urn:") and not any(
        text.lower().startswith(k.lower() + ":") for k in known
    ):
        return None
    try:
        return parse_path(text, resource)
    except FilterError as exc:
        raise ScimError(400, f"{where}.path {text!r}: {exc.diagnostics()}", "invalidPath") from None


def _set_user(
    user: UserDraft, text: str, op: str, value: Any, mapping: ScimMapping, where: str
) -> None:
    path = _path(text, "User", where)
    if path is None:
        return
    name = path.path.attribute.name
    if name in _READ_ONLY:
        raise ScimError(400, f"{where}: {name} is read-only", "mutability")
    if path.filter is not None or path.path.child is not None:
        return  # a part of a multi-valued or complex attribute: none of those is kept
    what = f"{where} {_qualified(name)}"
    if name == "userName":
        if op == "remove":
            raise _invalid(f"{what}: required, cannot be removed")
        text_value = _text(value, what, required=True)
        assert text_value is not None  # noqa: S101 - required
        user.user_name = text_value
    elif name == "externalId":
        user.external_id = None if op == "remove" else _text(value, what)
    elif name == "active":
        if op == "remove":
            raise _invalid(f"{what}: cannot be removed (set it to false)")
        user.active = _bool(value, what)
    elif name in mapping.kept:
        kept = None if op == "remove" else _text(value, what)
        if kept is None:
            user.attrs.pop(name, None)
        else:
            user.attrs[name] = kept


# -- groups ------------------------------------------------------------------------------------


def group_from_body(body: Any) -> GroupDraft:
    """The group of a POST or PUT body. Raises :class:`ScimError`."""
    body = _object(body, "the body")
    _schemas(body, CORE_GROUP)
    fields = _lower(body)
    name = _text(fields.get("displayname"), "displayName", required=True)
    assert name is not None  # noqa: S101 - required
    members = _members(fields.get("members") or [], "members")
    return GroupDraft(name, _text(fields.get("externalid"), "externalId"), members)


def _members(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        value = [value]
    found: list[str] = []
    for n, member in enumerate(value):
        if not isinstance(member, dict):
            raise _invalid(f"{where}[{n}]: must be a JSON object with a value")
        fields = _lower(member)
        kind = fields.get("type")
        if isinstance(kind, str) and kind.lower() == "group":
            raise _invalid(f"{where}[{n}].type: only users can be members (no nested groups)")
        user_id = _text(fields.get("value"), f"{where}[{n}].value", required=True)
        assert user_id is not None  # noqa: S101 - required
        if user_id not in found:
            found.append(user_id)
    return found


def patch_group(group: GroupDraft, body: Any) -> GroupDraft:
    """``group`` after the PatchOp ``body`` (a copy). Raises :class:`ScimError`."""
    found = replace(group, members=list(group.members))
    for n, op, path, value in _operations(body):
        where = f"Operations[{n}]"
        if path is None:
            if op == "remove":
                raise ScimError(400, f"{where}: remove needs a path", "noTarget")
            for key, item in _value_map(value, where):
                _set_group(found, key, op, item, where)
        else:
            _set_group(found, path, op, value, where)
    return found


def _set_group(group: GroupDraft, text: str, op: str, value: Any, where: str) -> None:
    path = _path(text, "Group", where)
    if path is None:
        return
    name = path.path.attribute.name
    if name == "id" and op != "remove" and path.filter is None:
        return  # Okta sends the group's own id in a path-less replace: read-only, ignored
    if name in _READ_ONLY:
        raise ScimError(400, f"{where}: {name} is read-only", "mutability")
    if name == "displayName":
        if op == "remove":
            raise _invalid(f"{where} displayName: required, cannot be removed")
        text_value = _text(value, f"{where} displayName", required=True)
        assert text_value is not None  # noqa: S101 - required
        group.display_name = text_value
    elif name == "externalId":
        group.external_id = None if op == "remove" else _text(value, f"{where} externalId")
    elif name == "members":
        if path.child is not None or path.path.child is not None:
            raise _invalid(
                f"{where}.path: members' sub-attributes cannot be changed", "invalidPath"
            )
        if path.filter is not None:
            if op != "remove":
                raise _invalid(f"{where}.path: a filter on members only removes", "invalidPath")
            group.members = [
                m for m in group.members if not matches(path.filter, {"value": m, "type": "User"})
            ]
        elif op == "remove" and value is None:
            group.members = []
        else:
            given = _members(value, f"{where}.value")
            if op == "add":
                group.members += [m for m in given if m not in group.members]
            elif op == "remove":
                group.members = [m for m in group.members if m not in given]
            else:
                group.members = given
