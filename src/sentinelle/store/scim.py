"""Storage of the SCIM provider's resources (migration 20): ``scim_users``, ``scim_groups``
and ``scim_members`` (:mod:`sentinelle.connectors.scim`).

What is kept of a user is what provisioning needs and nothing more: Sentinelle's id, the
``userName`` (the identity provider finds its users by it) and its case-folded key, the
``externalId``, the staff id the events carry, ``active``, the team and role as mapped, the
raw values of the attributes the mapping reads (``attrs``, JSON), a version (the ETag) and two
times. Of a group: its name, ``externalId``, version, times and its members' ids. No names,
e-mails, phone numbers or addresses: they are dropped where requests are read.

Writes are compare-and-set on ``version``: each returns whether the row was as expected, so a
change computed from a state that another writer has changed since is refused, not merged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    from sentinelle.store.base import Store

__all__ = ["ScimGroupRow", "ScimStoreMixin", "ScimUserRow", "ScimWriterMixin"]


class ScimUserRow(NamedTuple):
    """A ``scim_users`` row; ``attrs`` the mapped attributes' raw values."""

    id: str
    user_name: str
    external_id: str | None
    staff: str
    active: bool
    team: str | None
    role: str | None
    attrs: dict[str, str]
    version: int
    created_us: int
    modified_us: int


class ScimGroupRow(NamedTuple):
    """A ``scim_groups`` row (its members are in ``scim_members``)."""

    id: str
    display_name: str
    external_id: str | None
    version: int
    created_us: int
    modified_us: int


_USER: Final = (
    "id, user_name, external_id, staff, active, team, role, attrs, version, created_us, modified_us"
)
_GROUP: Final = "id, display_name, external_id, version, created_us, modified_us"
_CHUNK: Final = 500  # ids per IN (...) list: under every backend's parameter limit


def _user(row: Sequence[Any]) -> ScimUserRow:
    return ScimUserRow(
        row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], json.loads(row[7]),
        int(row[8]), int(row[9]), int(row[10]),
    )  # fmt: skip


def _group(row: Sequence[Any]) -> ScimGroupRow:
    return ScimGroupRow(row[0], row[1], row[2], int(row[3]), int(row[4]), int(row[5]))


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    items = list(dict.fromkeys(ids))
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


class _ScimReads:
    """The reads, shared by the store (committed state) and a writer (its transaction)."""

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def scim_user(self, user_id: str) -> ScimUserRow | None:
        """The user ``user_id``, if it exists."""
        rows = self._q(f"SELECT {_USER} FROM scim_users WHERE id = ?", (user_id,))  # noqa: S608
        return _user(rows[0]) if rows else None

    def scim_users(
        self,
        *,
        user_name: str | None = None,
        external_id: str | None = None,
        staff: str | None = None,
        ids: Iterable[str] | None = None,
    ) -> list[ScimUserRow]:
        """Users in creation order: all, or those with this ``userName`` (case-insensitive),
        ``externalId``, staff id or id (each an indexed look-up)."""
        if ids is not None:
            found = []
            for chunk in _chunks(ids):
                marks = ", ".join("?" * len(chunk))
                found += self._q(
                    f"SELECT {_USER} FROM scim_users WHERE id IN ({marks})",  # noqa: S608
                    chunk,
                )
            return sorted((_user(r) for r in found), key=lambda u: (u.created_us, u.id))
        where = ""
        params: tuple[str, ...] = ()
        if user_name is not None:
            where, params = "WHERE user_key = ?", (user_name.casefold(),)
        elif external_id is not None:
            where, params = "WHERE external_id = ?", (external_id,)
        elif staff is not None:
            where, params = "WHERE staff = ?", (staff,)
        rows = self._q(
            f"SELECT {_USER} FROM scim_users {where} ORDER BY created_us, id",  # noqa: S608
            params,
        )
        return [_user(r) for r in rows]

    def scim_group(self, group_id: str) -> ScimGroupRow | None:
        """The group ``group_id``, if it exists."""
        rows = self._q(f"SELECT {_GROUP} FROM scim_groups WHERE id = ?", (group_id,))  # noqa: S608
        return _group(rows[0]) if rows else None

    def scim_groups(
        self,
        *,
        display_name: str | None = None,
        external_id: str | None = None,
        ids: Iterable[str] | None = None,
    ) -> list[ScimGroupRow]:
        """Groups in creation order: all, or by name (case-insensitive), ``externalId`` or id."""
        if ids is not None:
            found = []
            for chunk in _chunks(ids):
                marks = ", ".join("?" * len(chunk))
                found += self._q(
                    f"SELECT {_GROUP} FROM scim_groups WHERE id IN ({marks})",  # noqa: S608
                    chunk,
                )
            return sorted((_group(r) for r in found), key=lambda g: (g.created_us, g.id))
        where = ""
        params: tuple[str, ...] = ()
        if display_name is not None:
            where, params = "WHERE display_key = ?", (display_name.casefold(),)
        elif external_id is not None:
            where, params = "WHERE external_id = ?", (external_id,)
        rows = self._q(
            f"SELECT {_GROUP} FROM scim_groups {where} ORDER BY created_us, id",  # noqa: S608
            params,
        )
        return [_group(r) for r in rows]

    def scim_members(self, group_ids: Iterable[str]) -> dict[str, list[str]]:
        """The member user ids of each group (sorted), for ``group_ids``."""
        found: dict[str, list[str]] = {}
        for chunk in _chunks(group_ids):
            marks = ", ".join("?" * len(chunk))
            for group_id, user_id in self._q(
                f"SELECT group_id, user_id FROM scim_members WHERE group_id IN ({marks}) "  # noqa: S608
                "ORDER BY group_id, user_id",
                chunk,
            ):
                found.setdefault(group_id, []).append(user_id)
        return found

    def scim_groups_of(self, user_ids: Iterable[str]) -> dict[str, list[str]]:
        """The group ids each user of ``user_ids`` is a member of (sorted)."""
        found: dict[str, list[str]] = {}
        for chunk in _chunks(user_ids):
            marks = ", ".join("?" * len(chunk))
            for user_id, group_id in self._q(
                f"SELECT user_id, group_id FROM scim_members WHERE user_id IN ({marks}) "  # noqa: S608
                "ORDER BY user_id, group_id",
                chunk,
            ):
                found.setdefault(user_id, []).append(group_id)
        return found


class ScimStoreMixin(_ScimReads):
    """SCIM reads of committed state; a base of :class:`~sentinelle.store.base.Store`."""

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self._x(sql, params))


class ScimWriterMixin(_ScimReads):
    """SCIM writes of one transaction (and its reads); a base of
    :class:`~sentinelle.store.base.Writer`."""

    _store: Store

    if TYPE_CHECKING:

        def _x(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self._x(sql, params).fetchall())

    def put_scim_user(self, row: ScimUserRow, *, expected: int | None) -> bool:
        """Insert ``row`` (``expected`` None: only if the id, userName and staff id are all
        free) or update it (only if its stored version is ``expected``). Whether it was."""
        attrs = json.dumps(row.attrs, sort_keys=True)
        values = (
            row.user_name, row.user_name.casefold(), row.external_id, row.staff,
            int(row.active), row.team, row.role, attrs, row.version, row.modified_us,
        )  # fmt: skip
        if expected is None:
            taken = self._q(
                "SELECT 1 FROM scim_users WHERE id = ? OR user_key = ? OR staff = ?",
                (row.id, row.user_name.casefold(), row.staff),
            )
            if taken:
                return False
            self._x(
                "INSERT INTO scim_users (user_name, user_key, external_id, staff, active, team, "
                "role, attrs, version, modified_us, id, created_us) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*values, row.id, row.created_us),
            )
            return True
        clash = self._q(
            "SELECT 1 FROM scim_users WHERE id <> ? AND (user_key = ? OR staff = ?)",
            (row.id, row.user_name.casefold(), row.staff),
        )
        if clash:
            return False
        done = self._x(
            "UPDATE scim_users SET user_name = ?, user_key = ?, external_id = ?, staff = ?, "
            "active = ?, team = ?, role = ?, attrs = ?, version = ?, modified_us = ? "
            "WHERE id = ? AND version = ? RETURNING id",
            (*values, row.id, expected),
        ).fetchall()
        return bool(done)

    def delete_scim_user(self, user_id: str, *, expected: int) -> bool:
        """Delete the user (and its memberships) if its version is ``expected``."""
        done = self._x(
            "DELETE FROM scim_users WHERE id = ? AND version = ? RETURNING id", (user_id, expected)
        ).fetchall()
        if done:
            self._x("DELETE FROM scim_members WHERE user_id = ?", (user_id,))
        return bool(done)

    def put_scim_group(
        self, row: ScimGroupRow, members: Sequence[str] | None, *, expected: int | None
    ) -> bool:
        """Insert or update (compare-and-set, as :meth:`put_scim_user`) the group, and set
        its members to ``members`` (``None``: leave them)."""
        values = (row.display_name, row.display_name.casefold(), row.external_id, row.version)
        if expected is None:
            if self._q("SELECT 1 FROM scim_groups WHERE id = ?", (row.id,)):
                return False
            self._x(
                "INSERT INTO scim_groups (display_name, display_key, external_id, version, "
                "modified_us, id, created_us) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*values, row.modified_us, row.id, row.created_us),
            )
        elif not self._x(
            "UPDATE scim_groups SET display_name = ?, display_key = ?, external_id = ?, "
            "version = ?, modified_us = ? WHERE id = ? AND version = ? RETURNING id",
            (*values, row.modified_us, row.id, expected),
        ).fetchall():
            return False
        if members is not None:
            self._x("DELETE FROM scim_members WHERE group_id = ?", (row.id,))
            for user_id in dict.fromkeys(members):
                self._x(
                    "INSERT INTO scim_members (group_id, user_id) VALUES (?, ?)", (row.id, user_id)
                )
        return True

    def delete_scim_group(self, group_id: str, *, expected: int) -> bool:
        """Delete the group and its memberships if its version is ``expected``."""
        done = self._x(
            "DELETE FROM scim_groups WHERE id = ? AND version = ? RETURNING id",
            (group_id, expected),
        ).fetchall()
        if done:
            self._x("DELETE FROM scim_members WHERE group_id = ?", (group_id,))
        return bool(done)
