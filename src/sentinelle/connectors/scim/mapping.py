"""How SCIM users become staff: which attribute is the staff id, which gives the team and
which the role (``SENTINELLE_SCIM_MAP``, a TOML file; docs/connectors.md, "Identity").

Defaults, without a file: the staff id is ``userName``; the team is the enterprise
extension's ``department``, the role the core ``title``, each as sent. A file may change each::

    staff_id = "userName"      # or "externalId", "employeeNumber"
    strip_domain = false       # true: the staff id "ana@shop.example" becomes "ana"
    team = "department"        # an attribute (below), "group" or "none"
    role = "title"             # likewise
    [teams]                    # a value of the team attribute (or a group's name) -> team
    "Customer Support - Tier 1" = "tier1"
    [roles]                    # a value of the role attribute (or a group's name) -> role
    "Support Team Lead" = "lead"

With an attribute, a value missing from ``[teams]``/``[roles]`` is used as it is; with
``"group"``, the team is that of the first group in ``[teams]`` the user is a member of (a
group not in the table is not a team), and likewise for roles.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sentinelle.connectors.scim.schema import CORE_USER, ENTERPRISE
from sentinelle.errors import ConfigError

__all__ = ["SOURCES", "STAFF_SOURCES", "ScimMapping"]

#: The attributes a team or role can come from, with their schema.
SOURCES: Final[Mapping[str, str]] = {
    "title": CORE_USER,
    "userType": CORE_USER,
    "department": ENTERPRISE,
    "division": ENTERPRISE,
    "organization": ENTERPRISE,
    "costCenter": ENTERPRISE,
}
#: The attributes the staff id can come from.
STAFF_SOURCES: Final = ("userName", "externalId", "employeeNumber")
_MAX_NAME: Final = 64  # the event schema's bound on a team or role


@dataclass(frozen=True, slots=True)
class ScimMapping:
    """The mapping (see the module's docstring); ``None`` for a team or role: not mapped."""

    staff_id: str = "userName"
    strip_domain: bool = False
    team: str | None = "department"
    role: str | None = "title"
    teams: Mapping[str, str] = field(default_factory=dict)
    roles: Mapping[str, str] = field(default_factory=dict)

    @property
    def kept(self) -> tuple[str, ...]:
        """The source attributes the mapping reads, hence kept (besides the always kept)."""
        found = [a for a in (self.team, self.role) if a is not None and a != "group"]
        if self.staff_id == "employeeNumber":
            found.append("employeeNumber")
        return tuple(dict.fromkeys(found))

    @property
    def uses_groups(self) -> bool:
        """Whether group memberships decide a team or role."""
        return "group" in (self.team, self.role)

    def staff_of(self, value: str) -> str:
        """The staff id from the source attribute's value."""
        if self.strip_domain and "@" in value:
            return value.rsplit("@", 1)[0]
        return value

    def team_of(self, attrs: Mapping[str, str], groups: Iterable[str]) -> str | None:
        """The team from the kept attributes and the names of the user's groups."""
        return self._resolve(self.team, self.teams, attrs, groups)

    def role_of(self, attrs: Mapping[str, str], groups: Iterable[str]) -> str | None:
        """The role likewise."""
        return self._resolve(self.role, self.roles, attrs, groups)

    @staticmethod
    def _resolve(
        source: str | None,
        table: Mapping[str, str],
        attrs: Mapping[str, str],
        groups: Iterable[str],
    ) -> str | None:
        if source is None:
            return None
        if source == "group":
            names = {g.casefold() for g in groups}
            return next((v for k, v in table.items() if k.casefold() in names), None)
        value = attrs.get(source)
        if value is None:
            return None
        return table.get(value, value)

    @classmethod
    def from_file(cls, path: Path | None) -> ScimMapping:
        """Read the TOML mapping file (``None``: the defaults). Raises :class:`ConfigError`
        naming the file and the key."""
        if path is None:
            return cls()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read the SCIM map {path}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        return cls.from_dict(data, where=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "the SCIM map") -> ScimMapping:
        """The mapping from parsed TOML. Raises :class:`ConfigError`."""
        known = {"staff_id", "strip_domain", "team", "role", "teams", "roles"}
        if unknown := set(data) - known:
            raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        staff_id = data.get("staff_id", "userName")
        if staff_id not in STAFF_SOURCES:
            raise ConfigError(f"{where}: staff_id must be one of {', '.join(STAFF_SOURCES)}")
        strip = data.get("strip_domain", False)
        if not isinstance(strip, bool):
            raise ConfigError(f"{where}: strip_domain must be true or false")
        return cls(
            staff_id=staff_id,
            strip_domain=strip,
            team=_source(data.get("team", "department"), "team", where),
            role=_source(data.get("role", "title"), "role", where),
            teams=_table(data.get("teams", {}), "teams", where),
            roles=_table(data.get("roles", {}), "roles", where),
        )


def _source(value: object, key: str, where: str) -> str | None:
    choices = [*SOURCES, "group", "none"]
    if value not in choices:
        raise ConfigError(f"{where}: {key} must be one of {', '.join(choices)}")
    return None if value == "none" else str(value)


def _table(value: object, key: str, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f'{where}: [{key}] must be a table of "value" = "name"')
    for source, name in value.items():
        if not isinstance(name, str) or not 0 < len(name) <= _MAX_NAME:
            raise ConfigError(f"{where}: [{key}] {source!r} must map to a name of 1-64 characters")
    return dict(value)
