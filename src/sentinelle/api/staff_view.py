"""How a viewer sees the platform's staff: by id, or pseudonymously (team, role, country and a
day-scoped pseudonym), per ``Settings.merchant_staff_identity``. Below the routes: the
merchant's accesses (``api.routes.merchants``), its grants (``api.routes.grants``) and the
console's pages (``web.pages``) share it, so a merchant user sees a staff member the same way
everywhere; the rules are those of :mod:`sentinelle.transparency.accesses`.

A merchant user, under the ``pseudonymous`` policy (the default), sees of a grant:

* its grantee as the accesses list shows the staff member on the day it was asked (the same
  pseudonym as that day's accesses), with the team, role and country of the newest access
  citing the grant, else the team of the grantee's activity;
* who asked, approved, denied, revoked or opened it: by name when it is the merchant's own
  (its accounts, keys and e-mail links) or one of the platform's services (the guard's,
  ingest and SCIM keys), else not at all (``None``; "platform staff" on a page). Staff are
  never named.

The platform's own roles always see names. :meth:`StaffView.grants` gives both interfaces one
typed answer (:class:`SeenGrant`): the API applies it to its records (:meth:`StaffView.record`),
the console's pages to their templates' views.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec

from sentinelle.access import Principal, Role
from sentinelle.api.deps import State
from sentinelle.guard.grants import SYSTEM
from sentinelle.guard.service import GrantRecord
from sentinelle.store.grants import GrantRow
from sentinelle.transparency.accesses import Pseudonyms

__all__ = ["STAFF", "Grantee", "SeenGrant", "StaffView", "names_staff", "pseudonyms_of"]

#: How a page names someone hidden from the viewer.
STAFF: Final = "platform staff"
# Keys of these roles are services, not people: shown by name, as apps and integrations are.
_SERVICES: Final = frozenset({Role.GUARD.value, Role.INGEST.value, Role.SCIM.value})


def names_staff(principal: Principal, identity: str) -> bool:
    """Whether ``principal`` sees staff by name: the platform's roles always; a merchant's
    account or key when the policy (``merchant_staff_identity``) is ``named``."""
    return principal.role is not Role.MERCHANT or identity == "named"


@functools.cache
def _pseudonyms(data_dir: Path) -> Pseudonyms:
    return Pseudonyms.load_or_create(data_dir)


def pseudonyms_of(state: State) -> Pseudonyms:
    """The pseudonym key of ``state``'s data directory (made on first use)."""
    return _pseudonyms(state.settings.data_dir.absolute())


class Grantee(msgspec.Struct, frozen=True, kw_only=True):
    """A grant's staff member as a viewer may see them (the API's ``actor_shown``): ``actor``
    the id (``named``), or the pseudonym of the day the grant was asked; the team, role and
    country of the newest access citing the grant, else the team of the person's activity."""

    actor: str
    named: bool
    team: str | None
    role: str | None
    country: str | None


class SeenGrant(msgspec.Struct, frozen=True, kw_only=True):
    """Who is around a grant as a viewer may see them: its grantee, who asked and who gave
    each approval (in the grant's order); ``None`` where staff are hidden from the viewer."""

    grantee: Grantee
    requested_by: str | None
    approvals: tuple[str | None, ...]


@dataclass(slots=True)
class StaffView:
    """What ``principal`` sees of the people around ``merchant``'s grants; built per request,
    its lookups read through ``store`` (a read connection or the store)."""

    merchant: str
    named: bool
    pseudonyms: Pseudonyms
    store: Any
    _labels: dict[str, bool] = field(default_factory=dict)
    _keys: dict[str, Any] | None = None

    @classmethod
    def of(cls, state: State, principal: Principal, merchant: str, store: Any) -> StaffView:
        """The view of ``principal`` under ``state``'s policy."""
        named = names_staff(principal, state.settings.merchant_staff_identity)
        return cls(merchant, named, pseudonyms_of(state), store)

    @classmethod
    def of_merchant(cls, state: State, merchant: str, store: Any) -> StaffView:
        """The view of ``merchant`` itself, with no account or key: the page an e-mail link
        opens."""
        named = state.settings.merchant_staff_identity == "named"
        return cls(merchant, named, pseudonyms_of(state), store)

    # -- who did something ---------------------------------------------------------------
    def shows(self, label: str) -> bool:
        """Whether a ``by`` label (``key:NAME``, an account's e-mail, ``merchant:M (e-mail
        link)``) is shown: always when staff are named; else when it is the merchant's own
        or a service."""
        if self.named or not label:
            return True
        known = self._labels.get(label)
        if known is None:
            known = self._labels[label] = self._is_mine_or_service(label)
        return known

    def _is_mine_or_service(self, label: str) -> bool:
        if label == SYSTEM:  # Sentinelle's own steps (a request expiring, a link sent)
            return True
        if label.startswith(f"merchant:{self.merchant} "):
            return True
        if label.startswith("key:"):
            if self._keys is None:
                self._keys = {k.name: k for k in self.store.list_api_keys()}
            key = self._keys.get(label[4:])
            return key is not None and (key.merchant == self.merchant or key.role in _SERVICES)
        user = self.store.user(label)
        return user is not None and user.merchant == self.merchant

    def label(self, label: str) -> str | None:
        """``label`` if shown, else ``None``."""
        return label if self.shows(label) else None

    def name(self, label: str) -> str:
        """``label`` if shown, else :data:`STAFF` (a page's words for someone hidden)."""
        return label if self.shows(label) else STAFF

    def approver(self, as_: str, by: str) -> str | None:
        """Who gave an approval as ``as_``: the merchant's approver always (its own), staff
        per :meth:`shows`."""
        return by if as_ == "merchant" else self.label(by)

    # -- a grant's people -----------------------------------------------------------------
    def grants(
        self, rows: Sequence[GrantRow], *, newest: Sequence[str | None] = ()
    ) -> list[SeenGrant]:
        """What this viewer sees of each of ``rows``. ``newest``: the stored body of each
        row's newest access citing it, where the caller has read it already (else it is
        read here). The teams of grantees without a use are read in one query."""
        used: list[tuple[str | None, str | None, str | None]] = []
        for i, row in enumerate(rows):
            body = newest[i] if i < len(newest) else None
            if body is None:
                found = self.store.grant_accesses(row, limit=1)
                body = found[0][1] if found else None
            used.append(_context(body))
        unknown = sorted({r.actor for r, (t, _, _) in zip(rows, used, strict=True) if t is None})
        teams = self.store.actor_teams(unknown) if unknown else {}
        return [
            SeenGrant(
                grantee=Grantee(
                    actor=row.actor if self.named else self.pseudonyms.of_grantee(row),
                    named=self.named,
                    team=team if team is not None else teams.get(row.actor),
                    role=role,
                    country=country,
                ),
                requested_by=self.label(row.requested_by),
                approvals=tuple(self.approver(a.as_, a.by) for a in row.approvals()),
            )
            for row, (team, role, country) in zip(rows, used, strict=True)
        ]

    def grant(self, row: GrantRow, *, newest: str | None = None) -> SeenGrant:
        """:meth:`grants` of one."""
        return self.grants([row], newest=[newest])[0]

    # -- the API's answers ---------------------------------------------------------------
    def record(self, record: GrantRecord, seen: SeenGrant) -> dict[str, Any]:
        """A grant record of the API (:class:`GrantRecord` or its detail) in its JSON form as
        this viewer may see it (``seen``, of the same grant): ``actor`` per policy and
        ``actor_shown`` (team, role, country), who asked and who approved, the history's
        ``by`` and ``seen_by``, per :meth:`shows`."""
        out = record.to_dict()
        out["actor"] = seen.grantee.actor
        out["actor_shown"] = msgspec.to_builtins(seen.grantee)
        if self.named:
            return out
        out["requested_by"] = seen.requested_by
        out["approvals"] = [
            {**a, "by": by} for a, by in zip(out["approvals"], seen.approvals, strict=True)
        ]
        if "history" in out:
            out["history"] = [{**s, "by": self.label(str(s.get("by", "")))} for s in out["history"]]
        if "seen_by" in out:
            out["seen_by"] = [self.label(str(s)) for s in out["seen_by"]]
        return out

    def records(
        self, records: Sequence[GrantRecord], rows: Sequence[GrantRow]
    ) -> list[dict[str, Any]]:
        """:meth:`record` of each (``rows``: the grants of ``records``, in order)."""
        return [self.record(r, seen) for r, seen in zip(records, self.grants(rows), strict=True)]


def _context(body: str | None) -> tuple[str | None, str | None, str | None]:
    """The team, role and country of a stored access event (``body``), if any."""
    if body is None:
        return None, None, None
    event = json.loads(body)
    actor = event.get("actor") or {}
    return actor.get("team"), actor.get("role"), (event.get("source") or {}).get("country")
