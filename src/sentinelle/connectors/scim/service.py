"""The SCIM service provider's engine: a request's resource in, its ``staff.*`` events and the
new SCIM state stored in one transaction, the resource out (the API route is a thin wrapper).

Every write computes the change from the stored state, then stores the events (through
:class:`~sentinelle.ingest.Ingestor`, as ``POST /v1/events`` does) and, in the same
transaction, the new rows, compare-and-set on each row's version: a state changed by another
writer meanwhile rolls everything back and the change is computed again. A request that
changes nothing kept (an e-mail, a name; a retry of a PATCH already applied) writes nothing.

Which events (the staff id, team and role as :mod:`.mapping` says):

* a user created active, or set active again: ``staff.joined``;
* an active user whose team or role changes (its attributes, or, with a group mapping, its
  groups): ``staff.role_changed``;
* an active user set ``active: false``, or deleted: ``staff.left``.

Event ids are ``scim:<user id>:<version>:<joined|role_changed|left>``: a version is written
once, so an id is never reused.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from msgspec import UNSET

from sentinelle.connectors.receiver import encode
from sentinelle.connectors.scim.filter import (
    And,
    Compare,
    Filter,
    FilterError,
    matches,
    parse_filter,
)
from sentinelle.connectors.scim.mapping import ScimMapping
from sentinelle.connectors.scim.resources import (
    GroupDraft,
    ScimError,
    UserDraft,
    group_from_body,
    patch_group,
    patch_user,
    user_from_body,
)
from sentinelle.connectors.scim.schema import (
    CORE_GROUP,
    CORE_USER,
    ENTERPRISE,
    LIST_RESPONSE,
    RESOURCE_TYPE,
    SERVICE_PROVIDER_CONFIG,
    schema_document,
)
from sentinelle.events import ContextEvent
from sentinelle.ingest import Ingestor, IngestResult
from sentinelle.ledger.log import Ledger
from sentinelle.store import Store, Writer
from sentinelle.store.scim import ScimGroupRow, ScimUserRow

__all__ = ["DEFAULT_COUNT", "MAX_COUNT", "ListQuery", "ScimService", "Written", "etag", "project"]

#: Resources per page when the request gives no ``count``, and the most it may ask for.
DEFAULT_COUNT: Final = 100
MAX_COUNT: Final = 1000
_ATTEMPTS: Final = 3  # computations of a change when other writers keep changing its rows
_MAX_ID: Final = 128  # the event schema's bound on an actor id
_MAX_NAME: Final = 64  # and on a team or role

StaffType = Literal["staff.joined", "staff.role_changed", "staff.left"]


def etag(version: int) -> str:
    """The weak ETag of a resource version (also its ``meta.version``)."""
    return f'W/"{version}"'


def _stamp(us: int) -> str:
    when = dt.datetime.fromtimestamp(us / 1_000_000, tz=dt.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A list request's parameters (RFC 7644 §3.4.2): a filter, 1-based ``start`` and
    ``count`` (``None``: :data:`DEFAULT_COUNT`), and the attributes to return or leave out."""

    filter: str | None = None
    start: int = 1
    count: int | None = None
    attributes: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Written:
    """What a write did: the resource as it now is (``None`` after a delete), its version,
    the events stored (none if nothing kept changed) and the ingest's result."""

    resource: dict[str, Any] | None
    version: int | None
    events: list[ContextEvent]
    result: IngestResult | None


class _Stale(Exception):  # noqa: N818 - private signal, never leaves this module
    """A row changed since the change was computed: compute it again."""


@dataclass(slots=True)
class _Plan:
    """The rows a write stores (each compare-and-set on its expected version) and its events."""

    users: list[tuple[ScimUserRow, int | None]] = field(default_factory=list)
    gone_users: list[tuple[str, int]] = field(default_factory=list)
    groups: list[tuple[ScimGroupRow, list[str] | None, int | None]] = field(default_factory=list)
    gone_groups: list[tuple[str, int]] = field(default_factory=list)
    events: list[ContextEvent] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.users or self.gone_users or self.groups or self.gone_groups)

    def store(self, w: Writer, _: IngestResult) -> None:
        """Write the rows in the ingest's transaction; raises :class:`_Stale` if one changed."""
        ok = all(w.put_scim_user(row, expected=v) for row, v in self.users)
        ok = ok and all(w.delete_scim_user(i, expected=v) for i, v in self.gone_users)
        ok = ok and all(w.put_scim_group(r, m, expected=v) for r, m, v in self.groups)
        ok = ok and all(w.delete_scim_group(i, expected=v) for i, v in self.gone_groups)
        if not ok:
            raise _Stale


def _check_version(version: int, if_match: str | None) -> None:
    """Raises 412 unless ``If-Match`` is absent, ``*`` or names ``version``."""
    if if_match is None:
        return
    tags = {t.strip().removeprefix("W/") for t in if_match.split(",")}
    if "*" not in tags and f'"{version}"' not in tags:
        raise ScimError(
            412, f"If-Match {if_match} does not match the resource's ETag {etag(version)}"
        )


class ScimService:
    """The SCIM operations over a store, with the mapping; ``base`` of each call is the
    provider's URL (``https://host/scim/v2``) that ``meta.location`` starts with."""

    def __init__(self, mapping: ScimMapping) -> None:
        self.mapping = mapping

    # -- discovery -------------------------------------------------------------------------

    def service_provider_config(self, base: str) -> dict[str, Any]:
        """``/ServiceProviderConfig`` (RFC 7643 §5)."""
        return {
            "schemas": [SERVICE_PROVIDER_CONFIG],
            "documentationUri": "https://github.com/sentinelle/sentinelle/blob/main/docs/connectors.md",
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": MAX_COUNT},
            "changePassword": {"supported": False},
            "sort": {"supported": False},
            "etag": {"supported": True},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "Bearer token",
                    "description": "A Sentinelle API key of role scim (sentinelle keys create "
                    "--role scim), sent as Authorization: Bearer <key>.",
                    "primary": True,
                }
            ],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": f"{base}/ServiceProviderConfig",
            },
        }

    def resource_types(self, base: str) -> list[dict[str, Any]]:
        """``/ResourceTypes`` (RFC 7643 §6): User (with the enterprise extension) and Group."""
        return [
            {
                "schemas": [RESOURCE_TYPE],
                "id": "User",
                "name": "User",
                "endpoint": "/Users",
                "description": "Staff: joiners, team and role changes, leavers",
                "schema": CORE_USER,
                "schemaExtensions": [{"schema": ENTERPRISE, "required": False}],
                "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"},
            },
            {
                "schemas": [RESOURCE_TYPE],
                "id": "Group",
                "name": "Group",
                "endpoint": "/Groups",
                "description": "Groups: teams or roles, if the mapping says so",
                "schema": CORE_GROUP,
                "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"},
            },
        ]

    def schemas(self, base: str) -> list[dict[str, Any]]:
        """``/Schemas`` (RFC 7643 §7), saying which attributes are kept."""
        found = []
        for urn in (CORE_USER, ENTERPRISE, CORE_GROUP):
            document = schema_document(urn, kept=self.mapping.kept)
            document["meta"]["location"] = f"{base}/Schemas/{urn}"
            found.append(document)
        return found

    # -- reads -----------------------------------------------------------------------------

    def get_user(self, store: Store, user_id: str, base: str) -> tuple[dict[str, Any], int]:
        """The user ``user_id`` and its version. Raises 404."""
        row = store.scim_user(user_id)
        if row is None:
            raise ScimError(404, f"no user {user_id}")
        return self._users(store, [row], base)[0], row.version

    def list_users(self, store: Store, query: ListQuery, base: str) -> dict[str, Any]:
        """A ``ListResponse`` of the users matching the query. Raises 400 ``invalidFilter``."""
        node = _parse(query.filter, "User")
        rows = self._user_candidates(store, node)
        resources = self._users(store, rows, base)
        if node is not None:
            resources = [
                r for r, v in zip(resources, _views(resources), strict=True) if matches(node, v)
            ]
        return _page(resources, query)

    def get_group(self, store: Store, group_id: str, base: str) -> tuple[dict[str, Any], int]:
        """The group ``group_id`` and its version. Raises 404."""
        row = store.scim_group(group_id)
        if row is None:
            raise ScimError(404, f"no group {group_id}")
        return self._groups(store, [row], base)[0], row.version

    def list_groups(self, store: Store, query: ListQuery, base: str) -> dict[str, Any]:
        """A ``ListResponse`` of the groups matching the query."""
        node = _parse(query.filter, "Group")
        key = _indexed(node, {"displayname", "externalid", "id"})
        if key is None:
            rows = store.scim_groups()
        elif key[0] == "id":
            found = store.scim_group(key[1])
            rows = [] if found is None else [found]
        elif key[0] == "displayname":
            rows = store.scim_groups(display_name=key[1])
        else:
            rows = store.scim_groups(external_id=key[1])
        resources = self._groups(store, rows, base)
        if node is not None:
            resources = [
                r for r, v in zip(resources, _views(resources), strict=True) if matches(node, v)
            ]
        return _page(resources, query)

    def _user_candidates(self, store: Store, node: Filter | None) -> list[ScimUserRow]:
        key = _indexed(node, {"username", "externalid", "id"})
        if key is None:
            return store.scim_users()
        if key[0] == "id":
            found = store.scim_user(key[1])
            return [] if found is None else [found]
        if key[0] == "username":
            return store.scim_users(user_name=key[1])
        return store.scim_users(external_id=key[1])

    def _users(self, store: Store, rows: Sequence[ScimUserRow], base: str) -> list[dict[str, Any]]:
        groups_of = store.scim_groups_of(r.id for r in rows) if rows else {}
        names = (
            {
                g.id: g.display_name
                for g in store.scim_groups(ids={g for gs in groups_of.values() for g in gs})
            }
            if groups_of
            else {}
        )
        return [
            self._user(r, [(g, names[g]) for g in groups_of.get(r.id, []) if g in names], base)
            for r in rows
        ]

    def _user(self, row: ScimUserRow, groups: list[tuple[str, str]], base: str) -> dict[str, Any]:
        resource: dict[str, Any] = {"schemas": [CORE_USER], "id": row.id}
        if row.external_id is not None:
            resource["externalId"] = row.external_id
        resource["userName"] = row.user_name
        resource["active"] = row.active
        extension = {}
        for name, value in sorted(row.attrs.items()):
            if name in ("title", "userType"):
                resource[name] = value
            else:
                extension[name] = value
        if extension:
            resource["schemas"].append(ENTERPRISE)
            resource[ENTERPRISE] = extension
        if groups:
            resource["groups"] = [
                {"value": g, "display": n, "$ref": f"{base}/Groups/{g}", "type": "direct"}
                for g, n in groups
            ]
        resource["meta"] = _meta("User", row.id, row.version, row.created_us, row.modified_us, base)
        return resource

    def _groups(
        self, store: Store, rows: Sequence[ScimGroupRow], base: str
    ) -> list[dict[str, Any]]:
        members = store.scim_members(r.id for r in rows) if rows else {}
        ids = {m for ms in members.values() for m in ms}
        names = {u.id: u.user_name for u in store.scim_users(ids=ids)} if ids else {}
        found = []
        for row in rows:
            resource: dict[str, Any] = {"schemas": [CORE_GROUP], "id": row.id}
            if row.external_id is not None:
                resource["externalId"] = row.external_id
            resource["displayName"] = row.display_name
            resource["members"] = [
                {"value": m, "display": names[m], "$ref": f"{base}/Users/{m}", "type": "User"}
                for m in members.get(row.id, [])
                if m in names
            ]
            resource["meta"] = _meta(
                "Group", row.id, row.version, row.created_us, row.modified_us, base
            )
            found.append(resource)
        return found

    # -- user writes -----------------------------------------------------------------------

    def create_user(
        self, store: Store, ledger: Ledger, body: Any, *, by: str, now_us: int, base: str
    ) -> Written:
        """POST /Users. Raises :class:`ScimError` (400, 409 ``uniqueness``)."""
        draft = user_from_body(body, self.mapping, current=None)

        def plan(reader: Store) -> _Plan:
            staff = self._staff(draft)
            self._unique(reader, draft.user_name, staff, None)
            team, role = self._team_role(draft, [])
            row = ScimUserRow(
                secrets.token_hex(16), draft.user_name, draft.external_id, staff, draft.active,
                team, role, dict(draft.attrs), 1, now_us, now_us,
            )  # fmt: skip
            found = _Plan(users=[(row, None)])
            if row.active:
                found.events.append(_event(row, "staff.joined", "scim: created", by, now_us))
            return found

        return self._user_written(store, ledger, plan, base)

    def replace_user(
        self, store: Store, ledger: Ledger, user_id: str, body: Any, *,
        if_match: str | None, by: str, now_us: int, base: str,
    ) -> Written:  # fmt: skip
        """PUT /Users/{id}. Raises :class:`ScimError` (400, 404, 409, 412)."""
        return self._change_user(
            store, ledger, user_id,
            lambda old: user_from_body(body, self.mapping, current=old),
            if_match=if_match, by=by, now_us=now_us, base=base,
        )  # fmt: skip

    def patch_user(
        self, store: Store, ledger: Ledger, user_id: str, body: Any, *,
        if_match: str | None, by: str, now_us: int, base: str,
    ) -> Written:  # fmt: skip
        """PATCH /Users/{id}. Raises :class:`ScimError` (400, 404, 409, 412)."""
        return self._change_user(
            store, ledger, user_id, lambda old: patch_user(old, body, self.mapping),
            if_match=if_match, by=by, now_us=now_us, base=base,
        )  # fmt: skip

    def delete_user(
        self, store: Store, ledger: Ledger, user_id: str, *,
        if_match: str | None, by: str, now_us: int,
    ) -> Written:  # fmt: skip
        """DELETE /Users/{id}: a leaver if the user was active. Raises 404, 412."""

        def plan(reader: Store) -> _Plan:
            old = self._existing_user(reader, user_id, if_match)
            found = _Plan(gone_users=[(old.id, old.version)])
            if old.active:
                gone = old._replace(version=old.version + 1)
                found.events.append(_event(gone, "staff.left", "scim: deleted", by, now_us))
            return found

        planned, result = self._commit(store, ledger, plan)
        return Written(None, None, planned.events, result)

    def _change_user(
        self,
        store: Store,
        ledger: Ledger,
        user_id: str,
        change: Callable[[UserDraft], UserDraft],
        *,
        if_match: str | None,
        by: str,
        now_us: int,
        base: str,
    ) -> Written:
        def plan(reader: Store) -> _Plan:
            old = self._existing_user(reader, user_id, if_match)
            before = UserDraft(old.user_name, old.external_id, old.active, dict(old.attrs))
            after = change(before)
            if after == before:
                return _Plan()
            if after.user_name.casefold() != old.user_name.casefold():
                self._unique(reader, after.user_name, None, old.id)
            groups = self._group_names(reader, old.id)
            team, role = self._team_role(after, groups)
            row = old._replace(
                user_name=after.user_name,
                external_id=after.external_id,
                active=after.active,
                team=team,
                role=role,
                attrs=dict(after.attrs),
                version=old.version + 1,
                modified_us=now_us,
            )
            found = _Plan(users=[(row, old.version)])
            kind, reason = _transition(old, row)
            if kind is not None:
                found.events.append(_event(row, kind, reason, by, now_us))
            return found

        return self._user_written(store, ledger, plan, base, user_id)

    def _user_written(
        self,
        store: Store,
        ledger: Ledger,
        plan: Callable[[Store], _Plan],
        base: str,
        user_id: str | None = None,
    ) -> Written:
        planned, result = self._commit(store, ledger, plan)
        if user_id is None:
            user_id = planned.users[0][0].id
        resource, version = self.get_user(store, user_id, base)
        return Written(resource, version, planned.events, result)

    def _existing_user(self, store: Store, user_id: str, if_match: str | None) -> ScimUserRow:
        old = store.scim_user(user_id)
        if old is None:
            raise ScimError(404, f"no user {user_id}")
        _check_version(old.version, if_match)
        return old

    def _staff(self, draft: UserDraft) -> str:
        source = self.mapping.staff_id
        value = {"userName": draft.user_name, "externalId": draft.external_id}.get(
            source, draft.attrs.get(source)
        )
        where = source if source != "employeeNumber" else f"{ENTERPRISE}:employeeNumber"
        if not value:
            raise ScimError(
                400,
                f"{where}: required: it is the staff id (staff_id = {source!r})",
                "invalidValue",
            )
        staff = self.mapping.staff_of(value)
        if not staff or len(staff) > _MAX_ID:
            raise ScimError(
                400, f"{where}: the staff id must have 1-{_MAX_ID} characters", "invalidValue"
            )
        return staff

    def _unique(self, store: Store, user_name: str, staff: str | None, own: str | None) -> None:
        if any(u.id != own for u in store.scim_users(user_name=user_name)):
            raise ScimError(409, f"userName: {user_name!r} is already a user's", "uniqueness")
        if staff is not None and store.scim_users(staff=staff):
            raise ScimError(
                409,
                f"{self.mapping.staff_id}: the staff id {staff!r} is already another user's",
                "uniqueness",
            )

    def _team_role(self, draft: UserDraft, groups: Iterable[str]) -> tuple[str | None, str | None]:
        groups = list(groups)
        found = []
        for key, value in (
            (self.mapping.team, self.mapping.team_of(draft.attrs, groups)),
            (self.mapping.role, self.mapping.role_of(draft.attrs, groups)),
        ):
            if value is not None and len(value) > _MAX_NAME:
                table = "teams" if key == self.mapping.team else "roles"
                raise ScimError(
                    400,
                    f"{key}: {value[:80]!r} is longer than {_MAX_NAME} characters; map it to "
                    f"a shorter name in [{table}] of the SCIM map",
                    "invalidValue",
                )
            found.append(value)
        return found[0], found[1]

    def _group_names(self, store: Store, user_id: str) -> list[str]:
        if not self.mapping.uses_groups:
            return []
        ids = store.scim_groups_of([user_id]).get(user_id, [])
        return [g.display_name for g in store.scim_groups(ids=ids)] if ids else []

    # -- group writes ----------------------------------------------------------------------

    def create_group(
        self, store: Store, ledger: Ledger, body: Any, *, by: str, now_us: int, base: str
    ) -> Written:
        """POST /Groups. Raises :class:`ScimError` (400)."""
        draft = group_from_body(body)
        group_id = secrets.token_hex(16)

        def plan(reader: Store) -> _Plan:
            row = ScimGroupRow(group_id, draft.display_name, draft.external_id, 1, now_us, now_us)
            return self._group_plan(reader, None, [], row, draft.members, by, now_us)

        return self._group_written(store, ledger, plan, group_id, base)

    def replace_group(
        self, store: Store, ledger: Ledger, group_id: str, body: Any, *,
        if_match: str | None, by: str, now_us: int, base: str,
    ) -> Written:  # fmt: skip
        """PUT /Groups/{id}. Raises :class:`ScimError` (400, 404, 412)."""
        return self._change_group(
            store, ledger, group_id, lambda _: group_from_body(body),
            if_match=if_match, by=by, now_us=now_us, base=base,
        )  # fmt: skip

    def patch_group(
        self, store: Store, ledger: Ledger, group_id: str, body: Any, *,
        if_match: str | None, by: str, now_us: int, base: str,
    ) -> Written:  # fmt: skip
        """PATCH /Groups/{id}: its name, its members. Raises :class:`ScimError`."""
        return self._change_group(
            store, ledger, group_id, lambda old: patch_group(old, body),
            if_match=if_match, by=by, now_us=now_us, base=base,
        )  # fmt: skip

    def delete_group(
        self, store: Store, ledger: Ledger, group_id: str, *,
        if_match: str | None, by: str, now_us: int,
    ) -> Written:  # fmt: skip
        """DELETE /Groups/{id}. Raises 404, 412."""

        def plan(reader: Store) -> _Plan:
            old = self._existing_group(reader, group_id, if_match)
            members = reader.scim_members([old.id]).get(old.id, [])
            found = self._group_plan(reader, old, members, None, [], by, now_us)
            found.gone_groups.append((old.id, old.version))
            return found

        planned, result = self._commit(store, ledger, plan)
        return Written(None, None, planned.events, result)

    def _change_group(
        self,
        store: Store,
        ledger: Ledger,
        group_id: str,
        change: Callable[[GroupDraft], GroupDraft],
        *,
        if_match: str | None,
        by: str,
        now_us: int,
        base: str,
    ) -> Written:
        def plan(reader: Store) -> _Plan:
            old = self._existing_group(reader, group_id, if_match)
            members = reader.scim_members([old.id]).get(old.id, [])
            before = GroupDraft(old.display_name, old.external_id, list(members))
            after = change(before)
            if after == before:
                return _Plan()
            row = old._replace(
                display_name=after.display_name,
                external_id=after.external_id,
                version=old.version + 1,
                modified_us=now_us,
            )
            return self._group_plan(reader, old, members, row, after.members, by, now_us)

        return self._group_written(store, ledger, plan, group_id, base)

    def _group_written(
        self, store: Store, ledger: Ledger, plan: Callable[[Store], _Plan], group_id: str, base: str
    ) -> Written:
        planned, result = self._commit(store, ledger, plan)
        resource, version = self.get_group(store, group_id, base)
        return Written(resource, version, planned.events, result)

    def _existing_group(self, store: Store, group_id: str, if_match: str | None) -> ScimGroupRow:
        old = store.scim_group(group_id)
        if old is None:
            raise ScimError(404, f"no group {group_id}")
        _check_version(old.version, if_match)
        return old

    def _group_plan(
        self,
        store: Store,
        old: ScimGroupRow | None,
        old_members: list[str],
        new: ScimGroupRow | None,
        new_members: list[str],
        by: str,
        now_us: int,
    ) -> _Plan:
        """The rows and events of a group's change from ``old`` to ``new`` (``None``: it did
        not exist, it is deleted): its members' teams and roles, with a group mapping."""
        known = {u.id: u for u in store.scim_users(ids=new_members)} if new_members else {}
        for n, member in enumerate(new_members):
            if member not in known:
                raise ScimError(400, f"members[{n}].value: no user {member}", "invalidValue")
        found = _Plan()
        if new is not None:
            found.groups.append((new, new_members, None if old is None else old.version))
        if not self.mapping.uses_groups:
            return found
        renamed = old is None or new is None or old.display_name != new.display_name
        touched = set(old_members) ^ set(new_members)
        if renamed:
            touched |= set(old_members) | set(new_members)
        if not touched:
            return found
        users = store.scim_users(ids=touched)
        groups_of = store.scim_groups_of(u.id for u in users)
        others = {g for gs in groups_of.values() for g in gs} - {(old or new).id}  # type: ignore[union-attr]
        names = {g.id: g.display_name for g in store.scim_groups(ids=others)} if others else {}
        for user in users:
            groups = [names[g] for g in groups_of.get(user.id, []) if g in names]
            if new is not None and user.id in new_members:
                groups.append(new.display_name)
            draft = UserDraft(user.user_name, user.external_id, user.active, dict(user.attrs))
            team, role = self._team_role(draft, groups)
            if (team, role) == (user.team, user.role):
                continue
            row = user._replace(team=team, role=role, version=user.version + 1, modified_us=now_us)
            found.users.append((row, user.version))
            if user.active:
                found.events.append(
                    _event(row, "staff.role_changed", "scim: group membership changed", by, now_us)
                )
        return found

    # -- the transaction -------------------------------------------------------------------

    def _commit(
        self, store: Store, ledger: Ledger, plan: Callable[[Store], _Plan]
    ) -> tuple[_Plan, IngestResult | None]:
        """Compute the change on ``store``'s committed state and store it (events and rows in
        one transaction), again if a row changed meanwhile. Raises :class:`ScimError`."""
        for _ in range(_ATTEMPTS):
            planned = plan(store)
            if planned.empty:
                return planned, None
            try:
                result = Ingestor(store, ledger).ingest(
                    encode(planned.events), unit="index", also=planned.store
                )
            except _Stale:
                continue
            return planned, result
        raise ScimError(409, "the resource kept changing while this request was applied: retry")


def _transition(old: ScimUserRow, new: ScimUserRow) -> tuple[StaffType | None, str]:
    if old.active and not new.active:
        return "staff.left", "scim: active set to false"
    if new.active and not old.active:
        return "staff.joined", "scim: active set to true"
    if new.active and (old.team, old.role) != (new.team, new.role):
        return "staff.role_changed", "scim: attributes changed"
    return None, ""


def _event(row: ScimUserRow, kind: StaffType, reason: str, by: str, now_us: int) -> ContextEvent:
    return ContextEvent(
        id=f"scim:{row.id}:{row.version}:{kind.removeprefix('staff.')}",
        time=dt.datetime.fromtimestamp(now_us / 1_000_000, tz=dt.UTC),
        type=kind,
        actor=row.staff,
        team=UNSET if row.team is None else row.team,
        role=UNSET if row.role is None else row.role,
        by=by[:_MAX_ID],
        reason=reason,
    )


def _meta(
    kind: str, rid: str, version: int, created: int, modified: int, base: str
) -> dict[str, Any]:
    return {
        "resourceType": kind,
        "created": _stamp(created),
        "lastModified": _stamp(modified),
        "version": etag(version),
        "location": f"{base}/{kind}s/{rid}",
    }


def _parse(text: str | None, resource: str) -> Filter | None:
    if text is None or not text.strip():
        return None
    try:
        return parse_filter(text, resource)
    except FilterError as exc:
        raise ScimError(400, f"filter: {exc.diagnostics()}", "invalidFilter") from None


def _indexed(node: Filter | None, names: set[str]) -> tuple[str, str] | None:
    """A ``name eq "value"`` the filter requires (alone, or in an ``and``), on an indexed
    attribute: the candidates are looked up by it, then filtered whole."""
    if isinstance(node, Compare):
        name = node.path.attribute.name.lower()
        if (
            node.op == "eq"
            and node.path.child is None
            and name in names
            and isinstance(node.value, str)
        ):
            return name, node.value
        return None
    if isinstance(node, And):
        return _indexed(node.left, names) or _indexed(node.right, names)
    return None


def _views(resources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Resources as filters read them: names in lower case, the extension's flattened."""
    found = []
    for resource in resources:
        view = _lowered(resource)
        view.update(_lowered(resource.get(ENTERPRISE, {})))
        found.append(view)
    return found


def _lowered(value: Any) -> Any:
    if isinstance(value, dict):
        return {k.lower(): _lowered(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lowered(v) for v in value]
    return value


def _page(resources: list[dict[str, Any]], query: ListQuery) -> dict[str, Any]:
    start = max(1, query.start)
    count = DEFAULT_COUNT if query.count is None else max(0, min(query.count, MAX_COUNT))
    page = [_project(r, query) for r in resources[start - 1 : start - 1 + count]]
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": len(resources),
        "itemsPerPage": len(page),
        "startIndex": start,
        "Resources": page,
    }


def _project(resource: dict[str, Any], query: ListQuery) -> dict[str, Any]:
    return project(resource, query.attributes, query.excluded)


def project(
    resource: dict[str, Any], attributes: Sequence[str], excluded: Sequence[str]
) -> dict[str, Any]:
    """``resource`` with only ``attributes`` (top-level names; ``id`` and ``schemas`` always)
    or without ``excluded`` (RFC 7644 §3.9)."""
    always = {"id", "schemas"}

    def top(name: str) -> str:
        low = name.lower()
        return ENTERPRISE.lower() if low.startswith(ENTERPRISE.lower()) else low.split(".")[0]

    if attributes:
        wanted = {top(a) for a in attributes} | always
        return {k: v for k, v in resource.items() if k.lower() in wanted}
    if excluded:
        dropped = {top(a) for a in excluded} - always
        return {k: v for k, v in resource.items() if k.lower() not in dropped}
    return resource
